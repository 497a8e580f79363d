/* eval_dit.c: `raylight-gen eval dit --weights W --inputs IN --out OUT [--backend B]`
 * runs the Wan 2.1 DiT once. IN holds x f32 [in_dim, T, H, W], t f32 [1] (the
 * timestep, 0..1000) and context f32 [L, text_dim] (L <= 512); OUT gets y f32
 * [out_dim, T, H, W]. These names and layouts are an interface used by outside
 * checks: keep them. Errors name the file and tensor at fault. */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/comm_flags.h"
#include "cli/mem_flags.h"
#include "io/safetensors.h"
#include "models/wan_dit.h"
#include "models/wan_dit_slice.h"
#include "parallel/launch.h"
#include "parallel/usp.h"

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

/* The forward under a parallel plan (--ulysses/--ring, or several ranks): this
 * rank's token rows of x, sequence-parallel attention, the rows of every rank
 * gathered into host_y [out_dim, T, H, W] on every rank. */
static int forward_planned(rl_wan_dit *m, rl_backend *be, rl_comm *comm, const rl_plan_request *req,
                           const rl_tensor *x, double t, const rl_tensor *dctx, float *host_y) {
    rl_plan plan;
    rl_usp usp;
    if (rl_plan_make(comm->size, m->cfg.num_heads, 0, req, &plan) != 0)
        return rl_error_wrap("eval dit: parallel plan (one forward, no guidance)");
    char d[96];
    rl_plan_describe(&plan, d, sizeof d);
    rl_log(RL_LOG_VERBOSE, "parallel plan: %s\n", d);
    RL_TRY(rl_usp_init(&usp, comm, &plan, be));
    usp.self_exchange = req->self_exchange;
    const int64_t Ci = x->shape[0], T = x->shape[1], H = x->shape[2], W = x->shape[3], Co = m->cfg.out_dim;
    rl_wan_slice sl = {T, H / 2, W / 2, 0, 0};
    const int64_t N = sl.F * sl.Hp * sl.Wp, sp = plan.ulysses * plan.ring;
    rl_usp_slice(&usp, N, &sl.token0, &sl.n);
    size_t xb = (size_t)(sl.n * Ci * 4) * sizeof(float), yb = (size_t)(sl.n * Co * 4) * sizeof(float);
    float *xr = malloc(xb), *yr = malloc(yb), *all = malloc((size_t)sp * yb);
    void *xd = be->alloc(be, xb), *yd = be->alloc(be, yb);
    int rc = xr && yr && all ? 0 : rl_error_set("out of host memory for the token rows");
    if (rc == 0 && (!xd || !yd)) rc = -1;
    if (rc == 0) {
        wan_latents_to_rows(x->data, Ci, T, H, W, sl.token0, sl.n, xr);
        rc = be->upload(be, xd, xr, xb);
    }
    rl_tensor dx = rl_tensor_make(xd, RL_F32, be->device, 2, (int64_t[]){sl.n, Ci * 4});
    rl_tensor dy = rl_tensor_make(yd, RL_F32, be->device, 2, (int64_t[]){sl.n, Co * 4});
    m->self_attention = rl_usp_attention, m->self_attention_ctx = &usp;
    if (rc == 0) rc = wan_dit_forward_slice(m, &dy, &dx, t, dctx, &sl);
    m->self_attention = NULL, m->self_attention_ctx = NULL;
    if (rc == 0) rc = be->download(be, yr, yd, yb);
    if (rc == 0) rc = rl_usp_gather_rows(&usp, yr, sl.n, Co * 4, all);
    if (rc == 0) wan_rows_to_latents(all, Co, T, H, W, 0, N, host_y);
    if (rc == 0)
        rl_log(RL_LOG_VERBOSE, "exchanges %.4f s, attention %.4f s (rank 0)\n", usp.comm_seconds, usp.attention_seconds);
    if (xd) be->free(be, xd, xb);
    if (yd) be->free(be, yd, yb);
    free(xr), free(yr), free(all);
    rl_usp_free(&usp);
    return rc;
}

/* --verbose: every rank's file bytes read, device peak and pinned bytes, printed by rank 0. */
static int report_ranks(const rl_wan_dit *m, rl_backend *be, rl_comm *comm) {
    uint64_t mine[3] = {m->file_bytes_read, rl_mem_peak(be->device), rl_mem_pinned()};
    uint64_t *all = malloc(sizeof mine * (size_t)comm->size);
    if (!all) return rl_error_set("out of host memory for the rank report");
    int rc = comm->all_gather(comm, mine, all, sizeof mine);
    for (int r = 0; rc == 0 && r < comm->size; r++) {
        char b[3][32];
        rl_log(RL_LOG_VERBOSE, "rank %d: read %s of the weight file (%llu bytes), peak %s device, %s pinned host%s\n", r,
               rl_bytes_str(all[3 * r], b[0], 32), (unsigned long long)all[3 * r],
               rl_bytes_str(all[3 * r + 1], b[1], 32), rl_bytes_str(all[3 * r + 2], b[2], 32),
               m->fsdp ? " (--fsdp)" : "");
    }
    free(all);
    return rc;
}

/* Loads, checks against the model, runs, writes (rank 0). Host tensors are owned by the caller. */
static int run_model(const char *weights, const char *inputs, const char *out, rl_backend *be, rl_comm *comm,
                     const rl_plan_request *req, const rl_tensor *x, const rl_tensor *t, const rl_tensor *ctx,
                     const rl_mem_flags *mf) {
    const int planned = comm->size > 1 || req->ulysses || req->ring || req->cfg_parallel || req->self_exchange;
    rl_wan_dit m;
    rl_wan_dit_config cfg;
    rl_wan_dit_options lo;
    RL_TRY(wan_dit_read_config(weights, be, &cfg));
    size_t io_bytes = 2 * rl_tensor_nbytes(x) + rl_tensor_nbytes(ctx); /* x, y (as large), context */
    RL_TRY(rl_mem_flags_apply(mf, be, comm, &cfg, rl_tensor_numel(x) / x->shape[0] / 4, io_bytes, &lo));
    double t0 = rl_time_now();
    RL_TRY(wan_dit_load_opts(&m, weights, be, &lo));
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
        host_y = malloc(rl_tensor_nbytes(&dy));
        if (!host_y) rc = rl_error_set("out of host memory for the output");
    }
    if (rc == 0) {
        t0 = rl_time_now();
        if (planned) rc = forward_planned(&m, be, comm, req, x, (double)*(const float *)t->data, &dctx, host_y);
        else rc = wan_dit_forward(&m, &dy, &dx, (double)*(const float *)t->data, &dctx);
        if (rc != 0) rl_error_wrap("%s", inputs);
        rl_log(RL_LOG_VERBOSE, "forward %.2f s, peak activations %s\n", rl_time_now() - t0,
               rl_bytes_str(m.peak_activation_bytes, b2, sizeof b2));
    }
    if (rc == 0 && !planned) rc = be->download(be, host_y, dy.data, rl_tensor_nbytes(&dy));
    if (rc == 0) rc = report_ranks(&m, be, comm);
    if (rc == 0 && comm->rank == 0) {
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
    int64_t ulysses = 0, ring = 0;
    int cfg_parallel = 0, verbose = 0;
    rl_mem_flags mf;
    rl_comm_flags cf;
    rl_opt opts[8 + RL_MEM_FLAG_ROWS + RL_COMM_BENCH_ROWS] = {
        {"--weights", NULL, NULL, RL_OPT_STR, &weights, NULL, "FILE",
         "Wan 2.1 DiT .safetensors (official, ComfyUI or diffusers layout; f32/bf16/f16/fp8)", 0, 0, 0},
        {"--inputs", NULL, NULL, RL_OPT_STR, &inputs, NULL, "FILE",
         ".safetensors with x f32 [16,T,H,W], t f32 [1], context f32 [L,text_dim], L <= 512", 0, 0, 0},
        {"--out", "-o", NULL, RL_OPT_STR, &out, NULL, "FILE", "output .safetensors (tensor 'y' f32 [16,T,H,W])", 0, 0, 0},
        {"--backend", NULL, "RAYLIGHT_BACKEND", RL_OPT_STR, &backend, "cpu", "NAME", "cpu or cuda", 0, 0, 0},
        {"--ulysses", NULL, "RAYLIGHT_ULYSSES", RL_OPT_INT, &ulysses, "0", "N", "Ulysses degree (0 = automatic plan over the ranks)", 0, 4096, 0},
        {"--ring", NULL, "RAYLIGHT_RING", RL_OPT_INT, &ring, "0", "N", "ring-attention degree (0 = automatic plan)", 0, 4096, 0},
        {"--cfg-parallel", NULL, "RAYLIGHT_CFG_PARALLEL", RL_OPT_FLAG, &cfg_parallel, NULL, NULL, "accepted for symmetry with the render command; refused (one forward has no unconditional pass)", 0, 0, 0},
        {"--verbose", "-v", "RAYLIGHT_VERBOSE", RL_OPT_FLAG, &verbose, NULL, NULL, "the plan, timings, and every rank's file bytes read and device peak", 0, 0, 0},
    };
    rl_mem_flags_rows(&mf, opts + 8);
    rl_comm_flags_rows(&cf, opts + 8 + RL_MEM_FLAG_ROWS, 1); /* --comm, --exchange-self */
    rl_args a = {"eval dit", "eval dit --weights W.safetensors --inputs IN.safetensors --out OUT.safetensors "
                 "[--backend cpu|cuda] [--ulysses N] [--ring N] [--fsdp] [--offload-blocks N] [--vram-limit GiB [--auto-plan]]"
                 "   (under mpirun: rank 0 writes)",
                 "Runs the Wan 2.1 DiT once on x, t and context from a file and writes y.", opts,
                 (int)(sizeof opts / sizeof *opts), 0, 0, NULL, 0, 0};
    rl_world world;
    RL_TRY(rl_world_init(NULL, NULL, &world));
    rl_comm *comm = rl_comm_world_host();
    if (!comm || rl_launch_check_args(comm, argc, argv) != 0) return -1;
    RL_TRY(rl_args_parse(&a, argc, argv));
    free(a.positional);
    if (a.help) return 0;
    if (verbose) rl_log_set_level(RL_LOG_VERBOSE);
    if (!weights) return rl_error_set("eval dit: --weights FILE.safetensors is required");
    if (!inputs) return rl_error_set("eval dit: --inputs FILE.safetensors is required");
    if (!out) return rl_error_set("eval dit: --out FILE.safetensors is required");
    rl_backend *be = rl_cli_backend(&world, backend);
    if (!be || rl_comm_flags_apply(&cf, comm, be) != 0) return -1;
    rl_plan_request req = {(int)ulysses, (int)ring, cfg_parallel, cf.self_exchange};
    rl_safetensors st;
    RL_TRY(rl_st_open(&st, inputs));
    rl_tensor x = {0}, t = {0}, ctx = {0};
    int rc = read_input(&st, "x", 4, "f32 [16, T, H, W]", &x);
    if (rc == 0) rc = read_input(&st, "t", 1, "f32 [1]", &t);
    if (rc == 0) rc = read_input(&st, "context", 2, "f32 [L, text_dim]", &ctx);
    if (rc == 0) rc = check_inputs(inputs, &x, &t, &ctx);
    rl_st_close(&st);
    if (rc == 0) rc = run_model(weights, inputs, out, be, comm, &req, &x, &t, &ctx, &mf);
    free(x.data);
    free(t.data);
    free(ctx.data);
    if (rc != 0) rl_comm_abort_devices(); /* on the way out NCCL waits for no peer */
    comm->destroy(comm);
    if (rc == 0) rl_world_finalize();
    else if (world.size > 1) rl_error_wrap("rank %d", world.rank);
    return rc;
}
