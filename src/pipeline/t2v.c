/* t2v.c: the text-to-video stages (see t2v.h). Latents live on the host in f32
 * between steps (the sampler is elementwise host code). Under a parallel plan
 * (src/parallel/) each rank holds a slice of the token sequence as patch rows:
 * each step uploads its rows, runs the conditional and the unconditional DiT
 * pass (or one of them, CFG-parallel) with sequence-parallel self-attention,
 * and steps its rows; the rows are gathered at the end. Text is encoded on
 * rank 0 and broadcast; rank 0 decodes and writes. One process is the same
 * path with a plan of one rank. */
#include "pipeline/t2v.h"

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "models/wan_dit.h"
#include "models/wan_dit_offload.h"
#include "models/wan_dit_slice.h"
#include "models/wan_vae.h"
#include "output/output.h"
#include "parallel/cfg.h"
#include "parallel/launch.h"
#include "sampler/noise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const rl_stage_names[RL_STAGE_COUNT] = {"text", "dit", "vae", "output"};

/* Opens each weight file's header (cheap: the data stays unread) so that a wrong,
 * missing or damaged file is reported before minutes of work, naming its flag. */
static int check_weight_file(const char *path, const char *flag, rl_model_kind want) {
    rl_safetensors st;
    rl_ckpt ck;
    if (!path) return rl_error_set("%s: no file given", flag);
    if (rl_st_open(&st, path) != 0) return rl_error_wrap("%s", flag);
    int rc = rl_checkpoint_detect(&st, &ck);
    if (rc == 0 && ck.kind != want)
        rc = rl_error_set("%s %s: this file holds a %s, not a %s", flag, path, rl_model_kind_name(ck.kind),
                          rl_model_kind_name(want));
    else if (rc != 0)
        rl_error_wrap("%s", flag);
    rl_st_close(&st);
    return rc;
}

const char *rl_t2v_random_name(const char *path) {
    return path && !strncmp(path, "random:", 7) ? path + 7 : NULL;
}

static int check_files(const rl_t2v_request *r) {
    if (!rl_t2v_random_name(r->dit_path)) RL_TRY(check_weight_file(r->dit_path, "--dit", RL_MODEL_WAN_DIT));
    if (!rl_t2v_random_name(r->t5_path)) RL_TRY(check_weight_file(r->t5_path, "--t5", RL_MODEL_UMT5));
    if (!rl_t2v_random_name(r->vae_path)) RL_TRY(check_weight_file(r->vae_path, "--vae", RL_MODEL_WAN_VAE));
    if (!r->tokenizer_path || access(r->tokenizer_path, R_OK) != 0)
        return rl_error_set("--tokenizer %s: cannot read the file", r->tokenizer_path ? r->tokenizer_path : "(none)");
    return 0;
}

int rl_t2v_validate_settings(const rl_t2v_request *r) {
    if (r->width <= 0 || r->height <= 0 || r->width % 16 || r->height % 16)
        return rl_error_set("--size %dx%d: width and height must be positive multiples of 16 (e.g. 832x480)",
                            r->width, r->height);
    if (r->frames < 1 || (r->frames - 1) % 4)
        return rl_error_set("--frames %d: the frame count must be 4k+1 (1, 5, 9, ..., 81); %d or %d would work",
                            r->frames, r->frames < 1 ? 1 : (r->frames - 1) / 4 * 4 + 1,
                            r->frames < 1 ? 5 : ((r->frames - 1) / 4 + 1) * 4 + 1);
    if (r->steps < 1) return rl_error_set("--steps %d: at least one step is needed", r->steps);
    if (!r->prompt) return rl_error_set("--prompt is required (what to render)");
    if (r->output) RL_TRY(rl_output_check_path(r->output, r->frames));
    return 0;
}

int rl_t2v_validate(const rl_t2v_request *r) {
    RL_TRY(rl_t2v_validate_settings(r));
    return check_files(r);
}

static void stage_begin(rl_backend *be, double *t0) {
    rl_mem_reset_peak(be->device);
    rl_mem_reset_peak(RL_DEVICE_CPU);
    *t0 = rl_time_now();
}

static void stage_end(rl_backend *be, rl_t2v_report *rep, int stage, double t0) {
    rep->seconds[stage] = rl_time_now() - t0;
    rep->peak_bytes[stage] = rl_mem_peak(be->device);
    rep->host_peak_bytes[stage] = rl_mem_peak(RL_DEVICE_CPU);
    rep->pinned_bytes[stage] = rl_mem_pinned();
    char b[32];
    rl_log(RL_LOG_VERBOSE, "%s stage: %.2f s, peak %s on %s\n", rl_stage_names[stage], rep->seconds[stage],
           rl_bytes_str(rep->peak_bytes[stage], b, sizeof b), be->name);
}

/* Which prompt of a batch is running, for the progress prefix (n == 1: none). */
typedef struct {
    int k, n;
} batch_pos;

static void progress_line(batch_pos bp, int step, int n, double elapsed) {
    double per = elapsed / step, eta = per * (n - step);
    char pre[48] = "";
    if (bp.n > 1) snprintf(pre, sizeof pre, "prompt %d/%d: ", bp.k + 1, bp.n);
    if (isatty(2))
        rl_log(RL_LOG_INFO, "\r%sstep %d/%d  %.2f s/it  ETA %.0f s   %s", pre, step, n, per, eta, step == n ? "\n" : "");
    else rl_log(RL_LOG_INFO, "%sstep %d/%d  %.2f s/it  ETA %.0f s\n", pre, step, n, per, eta);
}

/* One DiT pass over this rank's token rows: the sampling loop's callback. */
typedef struct {
    rl_wan_dit *m;
    rl_backend *be;
    rl_tensor x_dev, y_dev; /* [n, 64] f32 patch rows */
    rl_tensor ctx[2];       /* conditional, unconditional text [L, text_dim] f32 */
    rl_wan_slice sl;
    int64_t real_rows;      /* rows inside the sequence; the rest is padding */
    double t;
    double seconds;         /* in the passes so far (the download waits for the device) */
    int passes;
} slice_pass;

static int slice_velocity(void *arg, int which, const float *x, float *v) {
    slice_pass *p = arg;
    size_t bytes = rl_tensor_nbytes(&p->x_dev);
    double t0 = rl_time_now();
    RL_TRY(p->be->upload(p->be, p->x_dev.data, x, bytes));
    RL_TRY(wan_dit_forward_slice(p->m, &p->y_dev, &p->x_dev, p->t, &p->ctx[which], &p->sl));
    RL_TRY(p->be->download(p->be, v, p->y_dev.data, bytes));
    p->seconds += rl_time_now() - t0;
    p->passes++;
    int64_t w = p->x_dev.shape[1]; /* padding rows keep velocity 0, so their latents stay 0 */
    memset(v + p->real_rows * w, 0, (size_t)((p->sl.n - p->real_rows) * w) * sizeof(float));
    return 0;
}

static int upload_context(rl_backend *be, const float *host, int64_t len, int64_t dim, rl_tensor *out) {
    int64_t shape[2] = {len, dim};
    size_t bytes = (size_t)(len * dim) * sizeof(float);
    void *p = be->alloc(be, bytes);
    if (!p) return -1;
    *out = rl_tensor_make(p, RL_F32, be->device, 2, shape);
    return be->upload(be, p, host, bytes);
}

/* The loaded DiT must fit the text encoder's features and the VAE's latents. */
static int dit_check_compatible(const rl_wan_dit *m, const rl_t2v_request *r, int64_t text_dim) {
    if (m->cfg.text_dim != text_dim)
        return rl_error_set("the DiT %s takes text features of width %lld but the text encoder %s gives %lld; the two "
                            "files are from different models", r->dit_path, (long long)m->cfg.text_dim, r->t5_path,
                            (long long)text_dim);
    if (m->cfg.in_dim != 16)
        return rl_error_set("the DiT %s takes %lld latent channels but the Wan 2.1 VAE gives 16 (an image-to-video or "
                            "other model?)", r->dit_path, (long long)m->cfg.in_dim);
    return 0;
}

/* The host-side text features of one request (neg NULL: no guidance). */
typedef struct {
    const float *ctx, *neg; /* [ctx_len, dim], [neg_len, dim] */
    int64_t ctx_len, neg_len, dim;
} text_features;

/* Samples one request with the loaded DiT m on this rank's token slice: noise
 * from the seed (the whole tensor, so it does not depend on the ranks), then the
 * sampler loop with classifier-free guidance; latents [16,T,h,w] on the host of
 * every rank at the end. */
static int sample_one(rl_wan_dit *m, rl_usp *usp, const rl_t2v_request *r, rl_backend *be, const text_features *tf,
                      float *latents, rl_t2v_report *rep, batch_pos bp) {
    const int64_t *ls = rep->latent_shape;
    const int64_t C = ls[0], T = ls[1], H = ls[2], W = ls[3], numel = C * T * H * W, N = T * (H / 2) * (W / 2);
    const int guidance = r->cfg != 1.0 && tf->neg;
    slice_pass p = {.m = m, .be = be, .sl = {T, H / 2, W / 2, 0, 0}};
    rl_usp_slice(usp, N, &p.sl.token0, &p.sl.n);
    const int64_t n = p.sl.n, rows = n * C * 4, sp = usp->plan.ulysses * usp->plan.ring;
    p.real_rows = N - p.sl.token0 < 0 ? 0 : N - p.sl.token0 > n ? n : N - p.sl.token0;
    const size_t bytes = (size_t)rows * sizeof(float);
    int rc = -1, sampler_ok = 0;
    rl_sampler s;
    float *x = malloc(bytes), *v = malloc(bytes), *tmp = malloc(bytes), *all = malloc((size_t)sp * bytes);
    void *xd = be->alloc(be, bytes), *yd = be->alloc(be, bytes);
    if (!x || !v || !tmp || !all || !xd || !yd) {
        if (!xd || !yd) rl_error_wrap("allocating the latents");
        else rl_error_set("out of host memory for the latents");
        goto done;
    }
    p.x_dev = rl_tensor_make(xd, RL_F32, be->device, 2, (int64_t[]){n, C * 4});
    p.y_dev = rl_tensor_make(yd, RL_F32, be->device, 2, (int64_t[]){n, C * 4});
    if (upload_context(be, tf->ctx, tf->ctx_len, tf->dim, &p.ctx[0]) != 0) goto done;
    if (guidance && upload_context(be, tf->neg, tf->neg_len, tf->dim, &p.ctx[1]) != 0) goto done;
    if (rl_randn_torch(latents, numel, r->seed) != 0) goto done;
    wan_latents_to_rows(latents, C, T, H, W, p.sl.token0, n, x);
    if (rl_sampler_init(&s, r->sampler, r->steps, r->shift, rows) != 0) goto done;
    sampler_ok = 1;
    double t0 = rl_time_now(), comm0 = usp->comm_seconds;
    for (int i = 0; i < s.sched.n; i++) {
        p.t = rl_sampler_timestep(&s, i);
        if (rl_cfg_velocity(usp, slice_velocity, &p, guidance, (float)r->cfg, x, v, tmp, rows) != 0) goto done;
        if (rl_sampler_step(&s, v, x) != 0) goto done;
        if (r->progress) progress_line(bp, i + 1, s.sched.n, rl_time_now() - t0);
    }
    rep->seconds_per_step = (rl_time_now() - t0) / s.sched.n;
    rep->forward_seconds = p.seconds, rep->forwards = p.passes;
    if (rl_usp_gather_rows(usp, x, n, C * 4, all) != 0) goto done;
    wan_rows_to_latents(all, C, T, H, W, 0, N, latents);
    rep->comm_seconds = usp->comm_seconds - comm0;
    rc = 0;
done:
    if (sampler_ok) rl_sampler_free(&s);
    if (xd) be->free(be, xd, bytes);
    if (yd) be->free(be, yd, bytes);
    for (int k = 0; k < 2; k++)
        if (p.ctx[k].data) be->free(be, p.ctx[k].data, rl_tensor_nbytes(&p.ctx[k]));
    free(x), free(v), free(tmp), free(all);
    return rc;
}

static int save_latents(const char *path, const float *latents, const int64_t *shape) {
    rl_st_writer *w = rl_st_writer_new();
    if (!w) return rl_error_set("out of memory writing %s", path);
    int rc = rl_st_writer_add(w, "latents", RL_F32, 4, shape, latents);
    if (rc == 0) rc = rl_st_writer_save(w, path);
    rl_st_writer_free(w);
    return rc == 0 ? 0 : rl_error_wrap("--save-latents %s", path);
}

static int write_frames(const rl_t2v_request *r, const float *video, int64_t F, int64_t H, int64_t W) {
    char seed[32], steps[16], cfg[32], shift[32], size[32], frames[16];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    snprintf(steps, sizeof steps, "%d", r->steps);
    snprintf(cfg, sizeof cfg, "%g", r->cfg);
    snprintf(shift, sizeof shift, "%g", r->shift);
    snprintf(size, sizeof size, "%dx%d", r->width, r->height);
    snprintf(frames, sizeof frames, "%d", r->frames);
    rl_meta_kv meta[] = {
        {"prompt", r->prompt},
        {"negative_prompt", r->negative_prompt ? r->negative_prompt : ""},
        {"seed", seed},
        {"steps", steps},
        {"cfg", cfg},
        {"shift", shift},
        {"sampler", rl_sampler_kind_name(r->sampler)},
        {"size", size},
        {"frames", frames},
        {"model", r->model_name ? r->model_name : r->dit_path},
        {"software", "raylight-gen " RL_VERSION},
    };
    rl_frames fr = {video, (int)F, (int)H, (int)W, r->fps, r->crf, meta, (int)(sizeof meta / sizeof *meta)};
    return rl_write_output(r->output, &fr);
}

/* Decodes one request's latents with the loaded VAE and writes its output. */
static int decode_and_write(rl_wan_vae *vae, const rl_t2v_request *r, rl_backend *be, const float *latents,
                            rl_t2v_report *rep, double vae_t0) {
    const int64_t *ls = rep->latent_shape;
    int64_t F = 4 * (ls[1] - 1) + 1, H = ls[2] * 8, W = ls[3] * 8;
    float *video = malloc((size_t)(3 * F * H * W) * sizeof(float));
    if (!video)
        return rl_error_set("out of host memory for %lld frames of %lldx%lld", (long long)F, (long long)W, (long long)H);
    rl_vae_tiling tiling = {r->vae_tile, r->vae_tile ? r->vae_tile / 4 : 0};
    int rc = wan_vae_decode(vae, latents, ls[1], ls[2], ls[3], video, r->vae_tile ? &tiling : NULL, NULL);
    stage_end(be, rep, RL_STAGE_VAE, vae_t0);
    if (rc == 0 && r->output) {
        double t0;
        stage_begin(be, &t0);
        rc = write_frames(r, video, F, H, W);
        stage_end(be, rep, RL_STAGE_OUTPUT, t0);
    }
    free(video);
    return rc;
}

/* Encodes each distinct prompt and negative prompt once; pi[i] and ni[i] index
 * request i's texts in the returned arrays (ni[i] = -1: no guidance). */
static int batch_text(const rl_t2v_request *reqs, int n, rl_backend *be, rl_comm *comm, rl_t2v_report *reps,
                      const char **texts, int *pi, int *ni, float **ctx, int64_t *lens, int64_t *dim) {
    int nt = 0;
    for (int i = 0; i < n; i++) {
        const char *want[2] = {reqs[i].prompt,
                               reqs[i].cfg != 1.0 ? (reqs[i].negative_prompt ? reqs[i].negative_prompt : "") : NULL};
        int *slot[2] = {&pi[i], &ni[i]};
        for (int w = 0; w < 2; w++) {
            *slot[w] = -1;
            if (!want[w]) continue;
            for (int j = 0; j < nt && *slot[w] < 0; j++)
                if (!strcmp(texts[j], want[w])) *slot[w] = j;
            if (*slot[w] < 0) texts[nt] = want[w], *slot[w] = nt++;
        }
    }
    double t0;
    stage_begin(be, &t0);
    /* once, on rank 0; the other ranks wait in the broadcast. --fsdp: every rank
     * encodes with its shard of each layer (the gathers are collectives), so each
     * has the contexts and nothing is broadcast. */
    const int sharded = reqs[0].fsdp && comm->size > 1;
    uint64_t bytes = 0;
    if (sharded || comm->rank == 0) {
        rl_backend *tbe = rl_text_backend(reqs[0].text_backend, be, reqs[0].t5_path);
        if (!tbe) return -1;
        RL_TRY(rl_text_encode_many(reqs[0].tokenizer_path, reqs[0].t5_path, tbe, texts, nt, ctx, lens, dim,
                                   sharded ? comm : NULL, &bytes));
    }
    if (!sharded) RL_TRY(rl_launch_broadcast_texts(comm, ctx, lens, nt, dim));
    for (int i = 0; i < n; i++) {
        stage_end(be, &reps[i], RL_STAGE_TEXT, t0);
        reps[i].bytes_read[RL_STAGE_TEXT] = i == 0 ? bytes : 0;
        if (i > 0) reps[i].seconds[RL_STAGE_TEXT] = reps[0].seconds[RL_STAGE_TEXT] / n;
        reps[i].prompt_tokens = (int)lens[pi[i]];
        reps[i].negative_tokens = ni[i] >= 0 ? (int)lens[ni[i]] : 0;
    }
    if (n > 1) reps[0].seconds[RL_STAGE_TEXT] /= n;
    return nt;
}

/* The plan for this world and model: any request with guidance makes CFG
 * parallel possible (a request without guidance then runs its one pass on both
 * groups). */
static int dit_plan(const rl_t2v_request *reqs, int n, const rl_wan_dit *m, rl_comm *comm, rl_plan *plan) {
    int guidance = 0;
    for (int i = 0; i < n; i++) guidance |= reqs[i].cfg != 1.0;
    if (rl_plan_make(comm->size, m->cfg.num_heads, guidance, &reqs[0].parallel, plan) != 0)
        return rl_error_wrap("parallel plan for the DiT %s", reqs[0].dit_path);
    char d[96];
    rl_plan_describe(plan, d, sizeof d);
    if (comm->size > 1) rl_log(RL_LOG_INFO, "parallel plan: %s\n", d);
    return 0;
}

/* --offload-blocks and --fsdp as given, or with --auto-plan the least
 * offloading whose predicted peak fits the device limit (the largest request's
 * tokens, both text contexts and a few latent-sized buffers of the sampler):
 * none, fsdp over every rank (several ranks), fsdp + offload N. */
static int dit_options(const rl_t2v_request *reqs, int n, rl_backend *be, rl_comm *comm, rl_wan_dit_options *o) {
    memset(o, 0, sizeof *o);
    o->offload_blocks = reqs[0].offload_blocks;
    o->fsdp = reqs[0].fsdp && comm->size > 1 ? comm : NULL;
    if (!reqs[0].auto_plan) return 0;
    rl_wan_dit_config cfg;
    const char *rnd = rl_t2v_random_name(reqs[0].dit_path);
    RL_TRY(rnd ? wan_dit_config_named(rnd, &cfg) : wan_dit_read_config(reqs[0].dit_path, be, &cfg));
    int64_t tokens = 0, latent = 0;
    for (int i = 0; i < n; i++) {
        int64_t T = (reqs[i].frames - 1) / 4 + 1, h = reqs[i].height / 8, w = reqs[i].width / 8;
        if (T * (h / 2) * (w / 2) > tokens) tokens = T * (h / 2) * (w / 2), latent = 16 * T * h * w;
    }
    size_t extra = (size_t)(2 * cfg.text_len * cfg.text_dim + 6 * latent) * sizeof(float);
    size_t limit = rl_mem_limit(be->device), cur = rl_mem_current(be->device);
    rl_wan_mem_plan p;
    if (wan_mem_auto_plan(&cfg, be->weight_dtype, tokens, extra, limit > cur ? limit - cur : 0, comm->size,
                          reqs[0].fsdp, &p) != 0)
        return -1;
    char d[512];
    wan_offload_describe_plan(&p, cfg.num_layers, d, sizeof d);
    rl_log(RL_LOG_INFO, "auto-plan: %s\n", d);
    o->offload_blocks = p.offload_blocks;
    o->fsdp = p.fsdp > 1 ? comm : NULL;
    return 0;
}

static int batch_dit(const rl_t2v_request *reqs, int n, rl_backend *be, rl_comm *comm, rl_t2v_report *reps,
                     const int *pi, const int *ni, float *const *ctx, const int64_t *lens, int64_t dim,
                     float **latents) {
    rl_wan_dit m;
    rl_plan plan;
    rl_usp usp;
    double t0;
    stage_begin(be, &t0);
    if (rl_launch_test_fail(comm->rank))
        return rl_error_set("--dit %s: cannot open the file (simulated on this rank by RAYLIGHT_TEST_FAIL_RANK, a "
                            "test hook)", reqs[0].dit_path);
    rl_wan_dit_options lo;
    RL_TRY(dit_options(reqs, n, be, comm, &lo));
    const char *rnd = rl_t2v_random_name(reqs[0].dit_path);
    if (rnd) {
        rl_wan_dit_config dc;
        RL_TRY(wan_dit_config_named(rnd, &dc));
        RL_TRY(wan_dit_init_random_opts(&m, &dc, be, RL_RANDOM_WEIGHTS_SEED, &lo));
    } else {
        RL_TRY(wan_dit_load_opts(&m, reqs[0].dit_path, be, &lo));
    }
    for (int i = 0; i < n; i++) {
        reps[i].offload_blocks = lo.offload_blocks;
        reps[i].fsdp_ranks = lo.fsdp ? lo.fsdp->size : 1;
        reps[i].bytes_read[RL_STAGE_DIT] = i == 0 ? m.file_bytes_read : 0;
    }
    int rc = dit_check_compatible(&m, &reqs[0], dim);
    if (rc == 0) rc = dit_plan(reqs, n, &m, comm, &plan);
    if (rc == 0) rc = rl_usp_init(&usp, comm, &plan, be);
    if (rc != 0) {
        wan_dit_free(&m);
        return -1;
    }
    m.self_attention = rl_usp_attention, m.self_attention_ctx = &usp;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (i > 0) stage_begin(be, &t0);
        const int64_t *ls = reps[i].latent_shape;
        size_t numel = (size_t)(ls[0] * ls[1] * ls[2] * ls[3]);
        text_features tf = {ctx[pi[i]], ni[i] >= 0 ? ctx[ni[i]] : NULL, lens[pi[i]], ni[i] >= 0 ? lens[ni[i]] : 0, dim};
        latents[i] = malloc(numel * sizeof(float));
        if (!latents[i]) rc = rl_error_set("out of host memory for the latents");
        if (rc == 0) rc = sample_one(&m, &usp, &reqs[i], be, &tf, latents[i], &reps[i], (batch_pos){i, n});
        if (rc != 0 && reqs[i].label) rl_error_wrap("%s", reqs[i].label);
        if (rc != 0) break;
        stage_end(be, &reps[i], RL_STAGE_DIT, t0);
        reps[i].latents_hash = rl_hash64(latents[i], numel * sizeof(float));
        rl_plan_describe(&plan, reps[i].plan, sizeof reps[i].plan);
        rl_log(RL_LOG_VERBOSE,
               "dit: %.3f s of exchanges in %.3f s of sampling, %d DiT passes of %.1f ms (rank 0, %s)\n",
               reps[i].comm_seconds, reps[i].seconds_per_step * reqs[i].steps, reps[i].forwards,
               reps[i].forwards ? reps[i].forward_seconds * 1e3 / reps[i].forwards : 0.0, reps[i].plan);
    }
    rl_usp_free(&usp);
    wan_dit_free(&m);
    return rc;
}

/* The VAE of a "random:BASE" path: written with random weights to a temporary
 * file (a few hundred MB at base 96), loaded, and the file removed. */
static int vae_load(rl_wan_vae *vae, const char *path, rl_backend *be) {
    const char *rnd = rl_t2v_random_name(path);
    if (!rnd) return wan_vae_load(vae, path, be, RL_VAE_DECODER);
    char tmp[] = "/tmp/raylight-random-vae-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return rl_error_set("--random-weights: cannot create a temporary VAE file in /tmp");
    close(fd);
    int rc = wan_vae_write_random(tmp, atoi(rnd), RL_RANDOM_WEIGHTS_SEED);
    if (rc == 0) rc = wan_vae_load(vae, tmp, be, RL_VAE_DECODER);
    unlink(tmp);
    return rc;
}

/* Rank 0: saves latents where asked, then loads the VAE once and decodes and
 * writes every request that wants frames. */
static int batch_vae(const rl_t2v_request *reqs, int n, rl_backend *be, rl_t2v_report *reps, float *const *latents) {
    int need_vae = 0;
    for (int i = 0; i < n; i++) {
        if (reqs[i].save_latents && save_latents(reqs[i].save_latents, latents[i], reps[i].latent_shape) != 0)
            return reqs[i].label ? rl_error_wrap("%s", reqs[i].label) : -1;
        need_vae |= reqs[i].output || !reqs[i].save_latents;
    }
    if (!need_vae) return 0;
    rl_wan_vae vae;
    double t0;
    stage_begin(be, &t0);
    RL_TRY(vae_load(&vae, reqs[0].vae_path, be));
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!reqs[i].output && reqs[i].save_latents) continue;
        if (i > 0) stage_begin(be, &t0);
        rc = decode_and_write(&vae, &reqs[i], be, latents[i], &reps[i], t0);
        if (rc != 0 && reqs[i].label) rl_error_wrap("%s", reqs[i].label);
    }
    wan_vae_free(&vae);
    return rc;
}

static int batch_check(const rl_t2v_request *reqs, int n) {
    if (n < 1) return rl_error_set("no prompts to render");
    for (int i = 0; i < n; i++) {
        const rl_t2v_request *r = &reqs[i], *a = &reqs[0];
        if (rl_t2v_validate_settings(r) != 0) return r->label ? rl_error_wrap("%s", r->label) : -1;
        if (strcmp(r->dit_path, a->dit_path) || strcmp(r->t5_path, a->t5_path) || strcmp(r->vae_path, a->vae_path) ||
            strcmp(r->tokenizer_path, a->tokenizer_path))
            return rl_error_set("%s: every prompt of a batch must use the same model files",
                                r->label ? r->label : "a request");
        for (int j = 0; j < i && r->output; j++)
            if (reqs[j].output && !strcmp(reqs[j].output, r->output))
                return rl_error_set("%s: output %s is also the output of %s; give each prompt its own output",
                                    r->label ? r->label : "a request", r->output,
                                    reqs[j].label ? reqs[j].label : "an earlier prompt");
    }
    return check_files(&reqs[0]);
}

int rl_t2v_render_batch(const rl_t2v_request *reqs, int n, rl_backend *be, rl_comm *comm, rl_t2v_report *reps) {
    RL_TRY(batch_check(reqs, n));
    const char **texts = calloc((size_t)(2 * n), sizeof *texts);
    int *pi = calloc((size_t)(2 * n), sizeof *pi), *ni = pi ? pi + n : NULL;
    float **ctx = calloc((size_t)(2 * n), sizeof *ctx), **latents = calloc((size_t)n, sizeof *latents);
    int64_t *lens = calloc((size_t)(2 * n), sizeof *lens), dim = 0;
    int rc = -1, nt = 0;
    if (!texts || !pi || !ctx || !latents || !lens) {
        rl_error_set("out of host memory for %d prompts", n);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        memset(&reps[i], 0, sizeof reps[i]);
        int64_t *ls = reps[i].latent_shape;
        ls[0] = 16, ls[1] = (reqs[i].frames - 1) / 4 + 1, ls[2] = reqs[i].height / 8, ls[3] = reqs[i].width / 8;
    }
    nt = batch_text(reqs, n, be, comm, reps, texts, pi, ni, ctx, lens, &dim);
    if (nt < 0) goto done;
    if (batch_dit(reqs, n, be, comm, reps, pi, ni, ctx, lens, dim, latents) != 0) goto done;
    for (int j = 0; j < nt; j++) free(ctx[j]), ctx[j] = NULL; /* contexts are done before the VAE loads */
    if (comm->rank == 0 && batch_vae(reqs, n, be, reps, latents) != 0) goto done;
    rc = 0;
done:
    if (ctx)
        for (int j = 0; j < nt; j++) free(ctx[j]);
    if (latents)
        for (int i = 0; i < n; i++) free(latents[i]);
    free(texts);
    free(pi);
    free(ctx);
    free(latents);
    free(lens);
    return rc;
}

int rl_t2v_render(const rl_t2v_request *r, rl_backend *be, rl_comm *comm, rl_t2v_report *rep) {
    return rl_t2v_render_batch(r, 1, be, comm, rep);
}
