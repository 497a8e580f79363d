/* t2v.c: the text-to-video stages (see t2v.h). Latents live on the host in f32
 * between steps (the sampler is elementwise host code); each step uploads x,
 * runs the conditional and the unconditional DiT pass and downloads both. */
#include "pipeline/t2v.h"

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"
#include "output/output.h"
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

static int check_files(const rl_t2v_request *r) {
    RL_TRY(check_weight_file(r->dit_path, "--dit", RL_MODEL_WAN_DIT));
    RL_TRY(check_weight_file(r->t5_path, "--t5", RL_MODEL_UMT5));
    RL_TRY(check_weight_file(r->vae_path, "--vae", RL_MODEL_WAN_VAE));
    if (!r->tokenizer_path || access(r->tokenizer_path, R_OK) != 0)
        return rl_error_set("--tokenizer %s: cannot read the file", r->tokenizer_path ? r->tokenizer_path : "(none)");
    return 0;
}

int rl_t2v_validate(const rl_t2v_request *r) {
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
    char b[32];
    rl_log(RL_LOG_VERBOSE, "%s stage: %.2f s, peak %s on %s\n", rl_stage_names[stage], rep->seconds[stage],
           rl_bytes_str(rep->peak_bytes[stage], b, sizeof b), be->name);
}

static void progress_line(int step, int n, double elapsed) {
    double per = elapsed / step, eta = per * (n - step);
    if (isatty(2)) rl_log(RL_LOG_INFO, "\rstep %d/%d  %.2f s/it  ETA %.0f s   %s", step, n, per, eta, step == n ? "\n" : "");
    else rl_log(RL_LOG_INFO, "step %d/%d  %.2f s/it  ETA %.0f s\n", step, n, per, eta);
}

/* One DiT call on host latents: upload x, forward, download v. */
static int dit_velocity(rl_wan_dit *m, rl_backend *be, rl_tensor *x_dev, rl_tensor *y_dev, const rl_tensor *ctx,
                        double t, float *v_host) {
    RL_TRY(wan_dit_forward(m, y_dev, x_dev, t, ctx));
    return be->download(be, v_host, y_dev->data, rl_tensor_nbytes(y_dev));
}

static int upload_context(rl_backend *be, const float *host, int64_t len, int64_t dim, rl_tensor *out) {
    int64_t shape[2] = {len, dim};
    size_t bytes = (size_t)(len * dim) * sizeof(float);
    void *p = be->alloc(be, bytes);
    if (!p) return -1;
    *out = rl_tensor_make(p, RL_F32, be->device, 2, shape);
    return be->upload(be, p, host, bytes);
}

static int run_dit(const rl_t2v_request *r, rl_backend *be, const float *ctx, int64_t ctx_len, const float *neg,
                   int64_t neg_len, int64_t text_dim, float *latents, rl_t2v_report *rep) {
    rl_wan_dit m;
    RL_TRY(wan_dit_load(&m, r->dit_path, be));
    int rc = -1;
    rl_sampler s;
    int sampler_ok = 0;
    rl_tensor x_dev = {0}, y_dev = {0}, c_dev = {0}, n_dev = {0};
    float *vc = NULL, *vu = NULL;
    const int64_t *ls = rep->latent_shape;
    int64_t numel = ls[0] * ls[1] * ls[2] * ls[3];
    size_t bytes = (size_t)numel * sizeof(float);
    int guidance = r->cfg != 1.0 && neg;
    if (m.cfg.text_dim != text_dim) {
        rl_error_set("the DiT %s takes text features of width %lld but the text encoder %s gives %lld; the two files "
                     "are from different models", r->dit_path, (long long)m.cfg.text_dim, r->t5_path,
                     (long long)text_dim);
        goto done;
    }
    if (m.cfg.in_dim != ls[0]) {
        rl_error_set("the DiT %s takes %lld latent channels but the Wan 2.1 VAE gives 16 (an image-to-video or other "
                     "model?)", r->dit_path, (long long)m.cfg.in_dim);
        goto done;
    }
    x_dev.data = be->alloc(be, bytes);
    y_dev.data = be->alloc(be, bytes);
    vc = malloc(bytes);
    vu = malloc(bytes);
    if (!x_dev.data || !y_dev.data || !vc || !vu) {
        if (vc && vu) rl_error_wrap("allocating the latents");
        else rl_error_set("out of host memory for the latents");
        goto done;
    }
    x_dev = rl_tensor_make(x_dev.data, RL_F32, be->device, 4, ls);
    y_dev = rl_tensor_make(y_dev.data, RL_F32, be->device, 4, ls);
    if (upload_context(be, ctx, ctx_len, text_dim, &c_dev) != 0) goto done;
    if (guidance && upload_context(be, neg, neg_len, text_dim, &n_dev) != 0) goto done;
    if (rl_randn_torch(latents, numel, r->seed) != 0) goto done;
    if (rl_sampler_init(&s, r->sampler, r->steps, r->shift, numel) != 0) goto done;
    sampler_ok = 1;
    double t0 = rl_time_now();
    for (int i = 0; i < s.sched.n; i++) {
        double t = rl_sampler_timestep(&s, i);
        if (be->upload(be, x_dev.data, latents, bytes) != 0) goto done;
        if (dit_velocity(&m, be, &x_dev, &y_dev, &c_dev, t, vc) != 0) goto done;
        if (guidance) {
            if (dit_velocity(&m, be, &x_dev, &y_dev, &n_dev, t, vu) != 0) goto done;
            rl_cfg_combine(vc, vc, vu, (float)r->cfg, numel);
        }
        if (rl_sampler_step(&s, vc, latents) != 0) goto done;
        if (r->progress) progress_line(i + 1, s.sched.n, rl_time_now() - t0);
    }
    rep->seconds_per_step = (rl_time_now() - t0) / s.sched.n;
    rc = 0;
done:
    if (sampler_ok) rl_sampler_free(&s);
    if (x_dev.data) be->free(be, x_dev.data, bytes);
    if (y_dev.data) be->free(be, y_dev.data, bytes);
    if (c_dev.data) be->free(be, c_dev.data, rl_tensor_nbytes(&c_dev));
    if (n_dev.data) be->free(be, n_dev.data, rl_tensor_nbytes(&n_dev));
    free(vc);
    free(vu);
    wan_dit_free(&m);
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

static int run_vae_and_write(const rl_t2v_request *r, rl_backend *be, const float *latents, rl_t2v_report *rep) {
    const int64_t *ls = rep->latent_shape;
    rl_wan_vae vae;
    RL_TRY(wan_vae_load(&vae, r->vae_path, be, RL_VAE_DECODER));
    int64_t F = 4 * (ls[1] - 1) + 1, H = ls[2] * 8, W = ls[3] * 8;
    float *video = malloc((size_t)(3 * F * H * W) * sizeof(float));
    if (!video) {
        wan_vae_free(&vae);
        return rl_error_set("out of host memory for %lld frames of %lldx%lld", (long long)F, (long long)W, (long long)H);
    }
    rl_vae_tiling tiling = {r->vae_tile, r->vae_tile ? r->vae_tile / 4 : 0};
    double t0;
    stage_begin(be, &t0);
    int rc = wan_vae_decode(&vae, latents, ls[1], ls[2], ls[3], video, r->vae_tile ? &tiling : NULL, NULL);
    wan_vae_free(&vae);
    stage_end(be, rep, RL_STAGE_VAE, t0);
    if (rc == 0 && r->output) {
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
        stage_begin(be, &t0);
        rc = rl_write_output(r->output, &fr);
        stage_end(be, rep, RL_STAGE_OUTPUT, t0);
    }
    free(video);
    return rc;
}

int rl_t2v_render(const rl_t2v_request *r, rl_backend *be, rl_comm *comm, rl_t2v_report *rep) {
    memset(rep, 0, sizeof *rep);
    RL_TRY(rl_t2v_validate(r));
    int64_t *ls = rep->latent_shape;
    ls[0] = 16, ls[1] = (r->frames - 1) / 4 + 1, ls[2] = r->height / 8, ls[3] = r->width / 8;
    float *ctx = NULL, *neg = NULL, *latents = NULL;
    int64_t ctx_len = 0, neg_len = 0, dim = 0;
    double t0;
    int rc = -1;
    int guidance = r->cfg != 1.0;

    stage_begin(be, &t0);
    if (rl_text_encode(r->tokenizer_path, r->t5_path, be, r->prompt,
                       guidance ? (r->negative_prompt ? r->negative_prompt : "") : NULL, &ctx, &ctx_len,
                       guidance ? &neg : NULL, &neg_len, &dim) != 0)
        goto done;
    stage_end(be, rep, RL_STAGE_TEXT, t0);
    rep->prompt_tokens = (int)ctx_len;
    rep->negative_tokens = (int)neg_len;

    latents = malloc((size_t)(ls[0] * ls[1] * ls[2] * ls[3]) * sizeof(float));
    if (!latents) {
        rl_error_set("out of host memory for the latents");
        goto done;
    }
    stage_begin(be, &t0);
    if (run_dit(r, be, ctx, ctx_len, neg, neg_len, dim, latents, rep) != 0) goto done;
    stage_end(be, rep, RL_STAGE_DIT, t0);
    rep->latents_hash = rl_hash64(latents, (size_t)(ls[0] * ls[1] * ls[2] * ls[3]) * sizeof(float));

    if (comm->rank == 0) {
        if (r->save_latents && save_latents(r->save_latents, latents, ls) != 0) goto done;
        if ((r->output || !r->save_latents) && run_vae_and_write(r, be, latents, rep) != 0) goto done;
    }
    rc = 0;
done:
    free(ctx);
    free(neg);
    free(latents);
    return rc;
}
