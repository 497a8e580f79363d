/* cmd_render.c: the default command, text to video or image. Holds the one
 * option table of the render path (each flag with its environment twin and
 * default), resolves a named model's files, and hands the request to the
 * pipeline; rank 0 prints the configuration once, the progress and a summary. */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/comm_flags.h"
#include "cli/config.h"
#include "cli/mem_flags.h"
#include "cli/prompts_file.h"
#include "comm/comm.h"
#include "parallel/launch.h"
#include "pipeline/t2v.h"
#include "io/tokenizer.h"
#include "sampler/noise.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *model, *model_dir, *dit, *t5, *vae, *tokenizer;
    const char *prompt, *negative_prompt, *size, *sampler, *output, *save_latents, *backend, *seed;
    const char *text_backend;
    const char *prompts_file;
    int64_t frames, steps, crf, vae_tile;
    double cfg, shift, fps;
    int verbose, quiet, json;
    int64_t ulysses, ring;
    int cfg_parallel;
    int random_weights;
} render_options;

/* A flag the user did not give takes the named model's value. */
static void apply_model_defaults(rl_args *a, render_options *o, const rl_model_config *c) {
    if (!rl_args_find(a, "--steps")->set) o->steps = c->steps;
    if (!rl_args_find(a, "--frames")->set) o->frames = c->frames;
    if (!rl_args_find(a, "--cfg")->set) o->cfg = c->cfg;
    if (!rl_args_find(a, "--shift")->set) o->shift = c->shift;
    if (!rl_args_find(a, "--fps")->set) o->fps = c->fps;
    if (!rl_args_find(a, "--sampler")->set) o->sampler = c->sampler;
    if (!rl_args_find(a, "--size")->set) o->size = c->size;
    if (!o->negative_prompt) o->negative_prompt = c->negative_prompt;
}

static int resolve_files(render_options *o, const rl_model_config *c, char paths[4][4096]) {
    const char **given[4] = {&o->dit, &o->t5, &o->vae, &o->tokenizer};
    const char *dir = o->model_dir ? o->model_dir : ".";
    for (int k = 0; k < 4; k++) {
        if (*given[k]) continue;
        RL_TRY(rl_config_find_file(c, k, dir, paths[k], sizeof paths[k]));
        *given[k] = paths[k];
    }
    return 0;
}

/* --random-weights: "random:SIZE" paths for the three models (t2v.h), the
 * tokenizer from --tokenizer or the model directory when there is one, else a
 * built-in tiny tokenizer written to paths[3] (a temporary file, removed at exit). */
static char random_tokenizer_path[64];
static void remove_random_tokenizer(void) {
    if (random_tokenizer_path[0]) unlink(random_tokenizer_path);
}

static int random_files(render_options *o, const rl_model_config *c, char paths[4][4096]) {
    const char **given[3] = {&o->dit, &o->t5, &o->vae};
    for (int k = 0; k < 3; k++) {
        if (!c->random[k][0])
            return rl_error_set("--random-weights: the model config %s names no random %s size (\"random\": {...})",
                                c->path, rl_component_names[k]);
        snprintf(paths[k], sizeof paths[k], "random:%s", c->random[k]);
        *given[k] = paths[k];
    }
    if (o->tokenizer) return 0;
    if (rl_config_find_file(c, RL_COMPONENT_TOKENIZER, o->model_dir ? o->model_dir : ".", paths[3], sizeof paths[3]) == 0) {
        o->tokenizer = paths[3];
        return 0;
    }
    rl_error_clear();
    snprintf(random_tokenizer_path, sizeof random_tokenizer_path, "/tmp/raylight-tokenizer-XXXXXX.json");
    int fd = mkstemps(random_tokenizer_path, 5), vocab = 0;
    if (fd < 0) return rl_error_set("--random-weights: cannot create a temporary tokenizer file in /tmp");
    close(fd);
    atexit(remove_random_tokenizer);
    RL_TRY(rl_tokenizer_write_tiny(random_tokenizer_path, &vocab));
    snprintf(paths[3], sizeof paths[3], "%s", random_tokenizer_path);
    o->tokenizer = paths[3];
    return 0;
}

static int parse_size(const char *s, int *w, int *h) {
    char x;
    if (!s || sscanf(s, "%d%c%d", w, &x, h) != 3 || (x != 'x' && x != '*' && x != 'X'))
        return rl_error_set("--size '%s' is not WIDTHxHEIGHT (e.g. 832x480)", s ? s : "");
    return 0;
}

static void print_summary_json(const rl_t2v_request *r, const rl_t2v_report *rep, const char *backend, int world) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "output", r->output ? r->output : "");
    if (r->save_latents) cJSON_AddStringToObject(j, "latents", r->save_latents);
    cJSON_AddStringToObject(j, "prompt", r->prompt);
    char seed[32], hash[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)rep->latents_hash);
    cJSON_AddRawToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "steps", r->steps);
    cJSON_AddNumberToObject(j, "width", r->width);
    cJSON_AddNumberToObject(j, "height", r->height);
    cJSON_AddNumberToObject(j, "frames", r->frames);
    cJSON_AddStringToObject(j, "sampler", rl_sampler_kind_name(r->sampler));
    cJSON_AddStringToObject(j, "backend", backend);
    cJSON_AddNumberToObject(j, "ranks", world);
    cJSON_AddStringToObject(j, "latents_hash", hash);
    cJSON_AddNumberToObject(j, "seconds_per_step", rep->seconds_per_step);
    cJSON_AddNumberToObject(j, "dit_pass_seconds", rep->forwards ? rep->forward_seconds / rep->forwards : 0.0);
    cJSON_AddNumberToObject(j, "offload_blocks", rep->offload_blocks);
    cJSON_AddNumberToObject(j, "fsdp_ranks", rep->fsdp_ranks);
    cJSON *stages = cJSON_AddObjectToObject(j, "stages");
    for (int s = 0; s < RL_STAGE_COUNT; s++) {
        cJSON *st = cJSON_AddObjectToObject(stages, rl_stage_names[s]);
        cJSON_AddNumberToObject(st, "seconds", rep->seconds[s]);
        cJSON_AddNumberToObject(st, "peak_device_bytes", (double)rep->peak_bytes[s]);
        cJSON_AddNumberToObject(st, "peak_host_bytes", (double)rep->host_peak_bytes[s]);
        cJSON_AddNumberToObject(st, "pinned_host_bytes", (double)rep->pinned_bytes[s]); /* offloaded DiT blocks */
        cJSON_AddNumberToObject(st, "weight_bytes_read", (double)rep->bytes_read[s]); /* rank 0's, from the file */
    }
    char *text = cJSON_Print(j);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(j);
}

static void print_summary(const rl_t2v_request *r, const rl_t2v_report *rep, const char *backend) {
    double total = 0;
    for (int s = 0; s < RL_STAGE_COUNT; s++) total += rep->seconds[s];
    rl_log(RL_LOG_INFO, "done: %s in %.1f s (text %.1f s, dit %.1f s = %.2f s/step, vae %.1f s, write %.1f s) on %s\n",
           r->output ? r->output : r->save_latents, total, rep->seconds[RL_STAGE_TEXT], rep->seconds[RL_STAGE_DIT],
           rep->seconds_per_step, rep->seconds[RL_STAGE_VAE], rep->seconds[RL_STAGE_OUTPUT], backend);
    for (int s = 0; s < RL_STAGE_COUNT; s++) {
        char d[32], h[32], p[32];
        rl_log(RL_LOG_VERBOSE, "  %-6s peak %s device, %s host, %s pinned host\n", rl_stage_names[s],
               rl_bytes_str(rep->peak_bytes[s], d, sizeof d), rl_bytes_str(rep->host_peak_bytes[s], h, sizeof h),
               rl_bytes_str(rep->pinned_bytes[s], p, sizeof p));
    }
    rl_log(RL_LOG_INFO, "seed %llu, latents hash %016llx\n", (unsigned long long)r->seed,
           (unsigned long long)rep->latents_hash);
}

/* --prompts-file: the lines, the requests made from them and their reports. */
typedef struct {
    rl_prompt_line *lines;
    rl_t2v_request *reqs;
    char **names;
    rl_t2v_report *reps;
    int n;
} batch;

static void batch_free(batch *b) {
    rl_prompts_requests_free(b->reqs, b->names, b->n);
    rl_prompts_file_free(b->lines, b->n);
    free(b->reps);
    memset(b, 0, sizeof *b);
}

/* Reads the file and checks every line's request (and the model files once)
 * before anything is loaded. */
static int batch_prepare(batch *b, const char *path, const rl_t2v_request *base, int seed_is_random) {
    RL_TRY(rl_prompts_file_read(path, &b->lines, &b->n));
    RL_TRY(rl_prompts_make_requests(b->lines, b->n, base, seed_is_random, &b->reqs, &b->names));
    if (!(b->reps = calloc((size_t)b->n, sizeof *b->reps))) return rl_error_set("out of memory for %d prompts", b->n);
    for (int i = 0; i < b->n; i++)
        if (rl_t2v_validate_settings(&b->reqs[i]) != 0) return rl_error_wrap("%s", b->reqs[i].label);
    return rl_t2v_validate(&b->reqs[0]);
}

static int batch_render(batch *b, rl_backend *be, rl_comm *comm, int json, int world) {
    double t0 = rl_time_now();
    RL_TRY(rl_t2v_render_batch(b->reqs, b->n, be, comm, b->reps));
    if (comm->rank != 0) return 0;
    if (json) printf("[\n");
    for (int i = 0; i < b->n; i++) {
        if (json) print_summary_json(&b->reqs[i], &b->reps[i], be->name, world);
        else print_summary(&b->reqs[i], &b->reps[i], be->name);
        if (json && i + 1 < b->n) printf(",\n");
    }
    if (json) printf("]\n");
    rl_log(RL_LOG_INFO, "%d prompts in %.1f s\n", b->n, rl_time_now() - t0);
    return 0;
}

int cmd_render(int argc, char **argv) {
    render_options o;
    rl_mem_flags mf;
    rl_comm_flags cf;
    rl_opt opts[30 + RL_MEM_FLAG_ROWS + RL_COMM_FLAG_ROWS] = {
        {"--model", NULL, "RAYLIGHT_MODEL", RL_OPT_STR, &o.model, NULL, "NAME", "named model from configs/ (wan1.3b, wan14b, tiny)", 0, 0, 0},
        {"--model-dir", NULL, "RAYLIGHT_MODELS", RL_OPT_STR, &o.model_dir, NULL, "DIR", "where named models' files are looked for (default .)", 0, 0, 0},
        {"--dit", NULL, NULL, RL_OPT_STR, &o.dit, NULL, "FILE", "DiT weights (.safetensors or .index.json)", 0, 0, 0},
        {"--t5", NULL, NULL, RL_OPT_STR, &o.t5, NULL, "FILE", "umT5 text-encoder weights", 0, 0, 0},
        {"--vae", NULL, NULL, RL_OPT_STR, &o.vae, NULL, "FILE", "VAE weights", 0, 0, 0},
        {"--tokenizer", NULL, NULL, RL_OPT_STR, &o.tokenizer, NULL, "FILE", "tokenizer.json or spiece.model", 0, 0, 0},
        {"--random-weights", NULL, NULL, RL_OPT_FLAG, &o.random_weights, NULL, NULL, "no weight files: full-size random weights of --model's sizes made on the device (benchmarks; renders noise); the tokenizer is used if found, else a built-in tiny one", 0, 0, 0},
        {"--prompt", "-p", NULL, RL_OPT_STR, &o.prompt, NULL, "TEXT", "what to render", 0, 0, 0},
        {"--prompts-file", NULL, NULL, RL_OPT_STR, &o.prompts_file, NULL, "FILE", "many renders, each model loaded once: one prompt a line, or JSON lines {\"prompt\", \"negative_prompt\", \"seed\", \"size\", \"frames\", \"steps\", \"output\"} ('#' lines skipped); outputs default to -o numbered (out_0001.mp4, dir/0001/); a line without a seed takes --seed (with -1: one random seed, +1 per line)", 0, 0, 0},
        {"--negative-prompt", NULL, NULL, RL_OPT_STR, &o.negative_prompt, NULL, "TEXT", "what to avoid (the model's default when unset)", 0, 0, 0},
        {"--size", NULL, NULL, RL_OPT_STR, &o.size, "832x480", "WxH", "width x height, multiples of 16", 0, 0, 0},
        {"--frames", NULL, NULL, RL_OPT_INT, &o.frames, "81", "N", "frame count, 4k+1 (1 = image)", 1, 1001, 0},
        {"--steps", NULL, "RAYLIGHT_STEPS", RL_OPT_INT, &o.steps, "50", "N", "sampling steps", 1, 1000, 0},
        {"--cfg", NULL, NULL, RL_OPT_FLOAT, &o.cfg, "5.0", "X", "classifier-free guidance scale (1 = off)", 0, 100, 0},
        {"--shift", NULL, NULL, RL_OPT_FLOAT, &o.shift, "5.0", "X", "sigma schedule shift", 0.01, 100, 0},
        {"--sampler", NULL, NULL, RL_OPT_STR, &o.sampler, "unipc", "NAME", "unipc, euler or dpm++", 0, 0, 0},
        {"--seed", NULL, "RAYLIGHT_SEED", RL_OPT_STR, &o.seed, "-1", "N", "noise seed (-1 = random, printed)", 0, 0, 0},
        {"--output", "-o", NULL, RL_OPT_STR, &o.output, "out.mp4", "FILE", "out.mp4, out.png (1 frame), or dir/ for PNG frames", 0, 0, 0},
        {"--fps", NULL, NULL, RL_OPT_FLOAT, &o.fps, "16", "X", "frames per second of the MP4", 1, 240, 0},
        {"--crf", NULL, NULL, RL_OPT_INT, &o.crf, "18", "N", "H.264 quality (0 best .. 51 worst)", 0, 51, 0},
        {"--save-latents", NULL, NULL, RL_OPT_STR, &o.save_latents, NULL, "FILE", "also write the final latents (.safetensors)", 0, 0, 0},
        {"--vae-tile", NULL, NULL, RL_OPT_INT, &o.vae_tile, "0", "N", "decode in spatial tiles of N latent pixels (0 = whole frame)", 0, 4096, 0},
        {"--backend", NULL, "RAYLIGHT_BACKEND", RL_OPT_STR, &o.backend, "auto", "NAME", "cpu, cuda, or auto (cuda when a GPU is usable)", 0, 0, 0},
        {"--text-backend", NULL, "RAYLIGHT_TEXT_BACKEND", RL_OPT_STR, &o.text_backend, "auto", "NAME", "where the umT5 text encoder runs: auto (the --backend, or the CPU when --vram-limit cannot hold its weights), cpu (fp32 layers: ~20 GiB of host memory for umT5-XXL), or the --backend's name", 0, 0, 0},
        {"--verbose", "-v", "RAYLIGHT_VERBOSE", RL_OPT_FLAG, &o.verbose, NULL, NULL, "per-stage timings and peak memory", 0, 0, 0},
        {"--quiet", "-q", NULL, RL_OPT_FLAG, &o.quiet, NULL, NULL, "no progress or summary (errors only)", 0, 0, 0},
        {"--json", NULL, NULL, RL_OPT_FLAG, &o.json, NULL, NULL, "print the closing summary as JSON on stdout (an array of them with --prompts-file)", 0, 0, 0},
        {"--ulysses", NULL, "RAYLIGHT_ULYSSES", RL_OPT_INT, &o.ulysses, "0", "N", "Ulysses degree (all-to-all of heads; divides the heads; 0 = automatic plan)", 0, 4096, 0},
        {"--ring", NULL, "RAYLIGHT_RING", RL_OPT_INT, &o.ring, "0", "N", "ring-attention degree (0 = automatic plan)", 0, 4096, 0},
        {"--cfg-parallel", NULL, "RAYLIGHT_CFG_PARALLEL", RL_OPT_FLAG, &o.cfg_parallel, NULL, NULL, "conditional and unconditional passes on two rank groups (cfg x ulysses x ring = ranks)", 0, 0, 0},
    };
    rl_mem_flags_rows(&mf, opts + 30); /* --offload-blocks, --vram-limit, --auto-plan */
    rl_comm_flags_rows(&cf, opts + 30 + RL_MEM_FLAG_ROWS, 0); /* --comm */
    rl_args a = {"", "[options] --prompt TEXT [-o OUT]",
                 "Renders a video (MP4) or image (PNG) from a text prompt with a Wan 2.1 text-to-video model.\n"
                 "Commands: info, eval, tokenize, make-tiny, version (raylight-gen COMMAND --help).\n"
                 "Exit status: 0 done, 1 any error, bad flags and bad --prompts-file lines included (one line names\n"
                 "the flag, file, line or rank at fault; with --prompts-file nothing is rendered unless every line is valid).",
                 opts, (int)(sizeof opts / sizeof *opts), 0, 0, NULL, 0, 0};
    /* the world first: every later error then ends every rank (MPI_Abort) */
    rl_world world;
    RL_TRY(rl_world_init(NULL, NULL, &world));
    rl_comm *comm = rl_comm_world_host();
    if (!comm || rl_launch_check_args(comm, argc, argv) != 0) return -1;
    int rc = rl_args_parse(&a, argc, argv);
    free(a.positional);
    if (rc != 0 || a.help) return rc;
    rl_log_set_level(o.quiet ? RL_LOG_QUIET : o.verbose ? RL_LOG_VERBOSE : RL_LOG_INFO);
    if (!o.prompt == !o.prompts_file)
        return rl_error_set(o.prompt ? "give --prompt or --prompts-file, not both"
                                     : "--prompt is required (what to render), or --prompts-file FILE; see raylight-gen --help");

    rl_model_config cfg;
    int have_cfg = 0;
    batch b = {0};
    char paths[4][4096];
    if (o.model) {
        RL_TRY(rl_config_load(o.model, &cfg));
        have_cfg = 1;
        apply_model_defaults(&a, &o, &cfg);
        if (o.random_weights ? random_files(&o, &cfg, paths) : resolve_files(&o, &cfg, paths)) goto fail;
    } else if (o.random_weights) {
        return rl_error_set("--random-weights needs --model NAME (the sizes to make: wan14b, wan1.3b or tiny)");
    } else if (!o.dit || !o.t5 || !o.vae || !o.tokenizer) {
        return rl_error_set("give --model NAME (with --model-dir DIR), or all of --dit, --t5, --vae and --tokenizer");
    }
    rl_t2v_request r = {0};
    r.dit_path = o.dit, r.t5_path = o.t5, r.vae_path = o.vae, r.tokenizer_path = o.tokenizer;
    r.model_name = have_cfg ? cfg.name : NULL;
    r.prompt = o.prompt, r.negative_prompt = o.negative_prompt;
    r.frames = (int)o.frames, r.steps = (int)o.steps, r.cfg = o.cfg, r.shift = o.shift, r.fps = o.fps;
    r.crf = (int)o.crf, r.vae_tile = (int)o.vae_tile, r.save_latents = o.save_latents, r.output = o.output;
    r.progress = !o.quiet;
    r.parallel = (rl_plan_request){(int)o.ulysses, (int)o.ring, o.cfg_parallel, 0};
    r.offload_blocks = (int)mf.offload_blocks, r.auto_plan = mf.auto_plan, r.fsdp = mf.fsdp;
    r.text_backend = o.text_backend;
    int is_random = 0;
    if (parse_size(o.size, &r.width, &r.height) != 0 || rl_sampler_kind_parse(o.sampler, &r.sampler) != 0 ||
        rl_seed_parse(o.seed, &r.seed, &is_random) != 0)
        goto fail;
    if (is_random && comm->broadcast(comm, &r.seed, sizeof r.seed, 0) != 0) goto fail; /* rank 0's draw */
    if (o.prompts_file ? batch_prepare(&b, o.prompts_file, &r, is_random) : rl_t2v_validate(&r)) goto fail;

    const char *bname = o.backend;
    if (!strcmp(bname, "auto")) {
        rl_backend *probe = rl_cli_backend(&world, "cuda"); /* this rank's GPU, not GPU 0 on every rank */
        bname = probe ? "cuda" : "cpu";
        rl_error_clear();
    }
    rl_backend *be = rl_cli_backend(&world, bname);
    if (!be) {
        rl_error_wrap("--backend %s", o.backend);
        goto fail;
    }
    if (rl_comm_flags_apply(&cf, comm, be) != 0) goto fail;
    if (rl_mem_flags_check(&mf, be, 0) != 0) goto fail; /* the limit holds from the text stage on */
    if (rl_text_backend_check(o.text_backend, be) != 0) goto fail;
    rl_log(RL_LOG_INFO, "raylight-gen %s: %s, %dx%d, %d frames, %d steps, cfg %g, shift %g, %s, seed %llu%s, %s x %d\n",
           RL_VERSION, have_cfg ? cfg.name : r.dit_path, r.width, r.height, r.frames, r.steps, r.cfg, r.shift,
           rl_sampler_kind_name(r.sampler), (unsigned long long)r.seed, is_random ? " (random)" : "", be->name,
           world.size);
    if (o.prompts_file) rl_log(RL_LOG_INFO, "%d prompts from %s (line settings over these)\n", b.n, o.prompts_file);
    rl_t2v_report rep;
    if (o.prompts_file) {
        rc = batch_render(&b, be, comm, o.json, world.size);
        batch_free(&b);
    } else
        rc = rl_t2v_render(&r, be, comm, &rep);
    if (rc == 0 && comm->rank == 0 && !o.prompts_file) {
        if (o.json) print_summary_json(&r, &rep, be->name, world.size);
        else print_summary(&r, &rep, be->name);
    }
    if (rc != 0) rl_comm_abort_devices(); /* on the way out NCCL waits for no peer */
    comm->destroy(comm);
    if (have_cfg) rl_config_free(&cfg);
    if (rc == 0) rl_world_finalize();
    else if (world.size > 1) rl_error_wrap("rank %d", world.rank);
    return rc;
fail:
    batch_free(&b);
    if (have_cfg) rl_config_free(&cfg);
    if (world.size > 1) rl_error_wrap("rank %d", world.rank);
    return -1;
}
