/* eval_dit.c: `raylight-gen eval dit --weights W --inputs IN --out OUT [--backend B]`
 * runs the Wan 2.1 DiT once. IN holds x f32 [in_dim, T, H, W], t f32 [1] (the
 * timestep, 0..1000) and context f32 [L, text_dim] (L <= 512); OUT gets y f32
 * [out_dim, T, H, W]. These names and layouts are an interface used by outside
 * checks: keep them. Errors name the file and tensor at fault. */
#include "cli/args.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "models/wan_dit.h"

#include <stdlib.h>
#include <string.h>

#define EVAL_MAX_NUMEL (1LL << 31)

/* Reads tensor `name` of `path` as f32 into a malloc'd buffer, checking its rank. */
static int read_input(rl_safetensors *st, const char *name, int ndim, const char *layout, rl_tensor *out) {
    char s[96];
    const rl_st_tensor *t = rl_st_find(st, name);
    memset(out, 0, sizeof *out);
    if (!t) return rl_error_set("%s: tensor '%s' is missing; eval dit needs '%s' %s", st->path, name, name, layout);
    rl_tensor h = rl_tensor_make(NULL, t->dtype, RL_DEVICE_CPU, t->ndim, t->shape);
    if (t->ndim != ndim)
        return rl_error_set("%s: tensor '%s' is %s (%d dims) but must be %s", st->path, name,
                            rl_shape_str(&h, s, sizeof s), t->ndim, layout);
    if (t->dtype != RL_F32)
        return rl_error_set("%s: tensor '%s' is %s but must be f32 %s", st->path, name, rl_dtype_name(t->dtype),
                            layout);
    int64_t n = rl_tensor_numel(&h);
    if (n > EVAL_MAX_NUMEL) return rl_error_set("%s: tensor '%s' is too large (%lld values)", st->path, name, (long long)n);
    void *buf = malloc((size_t)n * sizeof(float) + 1);
    if (!buf) return rl_error_set("out of host memory reading '%s' from %s", name, st->path);
    if (rl_st_read_as(st, t, RL_F32, buf) != 0) {
        free(buf);
        return -1;
    }
    *out = rl_tensor_make(buf, RL_F32, RL_DEVICE_CPU, t->ndim, t->shape);
    return 0;
}

static int check_inputs(const char *path, const rl_tensor *x, const rl_tensor *t, const rl_tensor *ctx) {
    char s[96];
    if (x->shape[2] % 2 || x->shape[3] % 2)
        return rl_error_set("%s: tensor 'x' is %s: H and W must be even (2x2 patches; image sizes a multiple of 16)",
                            path, rl_shape_str(x, s, sizeof s));
    for (int i = 0; i < 4; i++)
        if (x->shape[i] == 0) return rl_error_set("%s: tensor 'x' is %s: it is empty", path, rl_shape_str(x, s, sizeof s));
    if (rl_tensor_numel(t) != 1)
        return rl_error_set("%s: tensor 't' is %s but must hold one timestep [1]", path, rl_shape_str(t, s, sizeof s));
    float tv = *(const float *)t->data;
    if (!(tv >= 0.0f && tv <= 1000.0f))
        return rl_error_set("%s: tensor 't' holds %g; the timestep must be within 0..1000", path, (double)tv);
    if (ctx->shape[0] > 512)
        return rl_error_set("%s: tensor 'context' has %lld tokens; the text context holds at most 512", path,
                            (long long)ctx->shape[0]);
    return 0;
}

static int to_device(rl_backend *be, const rl_tensor *host, rl_tensor *dev) {
    size_t nb = rl_tensor_nbytes(host);
    void *p = be->alloc(be, nb ? nb : 1);
    if (!p) return -1;
    if (host->data && be->upload(be, p, host->data, nb) != 0) { /* no data: allocate only */
        be->free(be, p, nb ? nb : 1);
        return -1;
    }
    *dev = rl_tensor_make(p, host->dtype, be->device, host->ndim, host->shape);
    return 0;
}

static void free_device(rl_backend *be, rl_tensor *t) {
    if (t->data) {
        size_t nb = rl_tensor_nbytes(t);
        be->free(be, t->data, nb ? nb : 1);
    }
    t->data = NULL;
}

/* Loads, checks against the model, runs, writes. Host tensors are owned by the caller. */
static int run_model(const char *weights, const char *inputs, const char *out, rl_backend *be, const rl_tensor *x,
                     const rl_tensor *t, const rl_tensor *ctx) {
    rl_wan_dit m;
    double t0 = rl_time_now();
    RL_TRY(wan_dit_load(&m, weights, be));
    char desc[256], b1[32], b2[32];
    wan_dit_describe(&m.cfg, desc, sizeof desc);
    rl_log(RL_LOG_VERBOSE, "%s (%s of weights, loaded in %.2f s)\n", desc, rl_bytes_str(m.weight_bytes, b1, sizeof b1),
           rl_time_now() - t0);
    int rc = 0;
    if (x->shape[0] != m.cfg.in_dim)
        rc = rl_error_set("%s: tensor 'x' has %lld channels but the model in %s takes %lld", inputs,
                          (long long)x->shape[0], weights, (long long)m.cfg.in_dim);
    else if (ctx->shape[1] != m.cfg.text_dim)
        rc = rl_error_set("%s: tensor 'context' is %lld wide but the model in %s takes text_dim %lld", inputs,
                          (long long)ctx->shape[1], weights, (long long)m.cfg.text_dim);
    rl_tensor dx = {0}, dctx = {0}, dy = {0};
    int64_t ys[4] = {m.cfg.out_dim, x->shape[1], x->shape[2], x->shape[3]};
    rl_tensor hy = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 4, ys);
    float *host_y = NULL;
    if (rc == 0) rc = to_device(be, x, &dx);
    if (rc == 0) rc = to_device(be, ctx, &dctx);
    if (rc == 0) rc = to_device(be, &hy, &dy);
    if (rc == 0) {
        t0 = rl_time_now();
        rc = wan_dit_forward(&m, &dy, &dx, (double)*(const float *)t->data, &dctx);
        if (rc != 0) rl_error_wrap("%s", inputs);
        rl_log(RL_LOG_VERBOSE, "forward %.2f s, peak activations %s\n", rl_time_now() - t0,
               rl_bytes_str(m.peak_activation_bytes, b2, sizeof b2));
    }
    if (rc == 0) {
        host_y = malloc(rl_tensor_nbytes(&dy));
        if (!host_y) rc = rl_error_set("out of host memory for the output");
    }
    if (rc == 0) rc = be->download(be, host_y, dy.data, rl_tensor_nbytes(&dy));
    if (rc == 0) {
        rl_st_writer *w = rl_st_writer_new();
        if (!w) rc = rl_error_set("out of memory for the writer");
        if (rc == 0) rc = rl_st_writer_add(w, "y", RL_F32, 4, ys, host_y);
        if (rc == 0) rc = rl_st_writer_meta(w, "model", desc);
        if (rc == 0) rc = rl_st_writer_save(w, out);
        if (w) rl_st_writer_free(w);
    }
    free(host_y);
    free_device(be, &dx);
    free_device(be, &dctx);
    free_device(be, &dy);
    wan_dit_free(&m);
    return rc;
}

int eval_dit(int argc, char **argv) {
    const char *weights = NULL, *inputs = NULL, *out = NULL, *backend = NULL;
    rl_opt opts[] = {
        {"--weights", NULL, NULL, RL_OPT_STR, &weights, NULL, "FILE",
         "Wan 2.1 DiT .safetensors (official, ComfyUI or diffusers layout; f32/bf16/f16/fp8)", 0, 0, 0},
        {"--inputs", NULL, NULL, RL_OPT_STR, &inputs, NULL, "FILE",
         ".safetensors with x f32 [16,T,H,W], t f32 [1], context f32 [L,text_dim], L <= 512", 0, 0, 0},
        {"--out", "-o", NULL, RL_OPT_STR, &out, NULL, "FILE", "output .safetensors (tensor 'y' f32 [16,T,H,W])", 0, 0, 0},
        {"--backend", NULL, "RAYLIGHT_BACKEND", RL_OPT_STR, &backend, "cpu", "NAME", "cpu or cuda", 0, 0, 0},
    };
    rl_args a = {"eval dit", "eval dit --weights W.safetensors --inputs IN.safetensors --out OUT.safetensors "
                 "[--backend cpu|cuda]",
                 "Runs the Wan 2.1 DiT once on x, t and context from a file and writes y.", opts, 4, 0, 0, NULL, 0, 0};
    RL_TRY(rl_args_parse(&a, argc, argv));
    free(a.positional);
    if (a.help) return 0;
    if (!weights) return rl_error_set("eval dit: --weights FILE.safetensors is required");
    if (!inputs) return rl_error_set("eval dit: --inputs FILE.safetensors is required");
    if (!out) return rl_error_set("eval dit: --out FILE.safetensors is required");
    rl_backend *be = rl_backend_by_name(backend);
    if (!be) return -1;
    rl_safetensors st;
    RL_TRY(rl_st_open(&st, inputs));
    rl_tensor x = {0}, t = {0}, ctx = {0};
    int rc = read_input(&st, "x", 4, "f32 [16, T, H, W]", &x);
    if (rc == 0) rc = read_input(&st, "t", 1, "f32 [1]", &t);
    if (rc == 0) rc = read_input(&st, "context", 2, "f32 [L, text_dim]", &ctx);
    if (rc == 0) rc = check_inputs(inputs, &x, &t, &ctx);
    rl_st_close(&st);
    if (rc == 0) rc = run_model(weights, inputs, out, be, &x, &t, &ctx);
    free(x.data);
    free(t.data);
    free(ctx.data);
    return rc;
}
