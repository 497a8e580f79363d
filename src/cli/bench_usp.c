/* bench_usp.c: `bench dit` under a parallel plan (see bench_usp.h).
 *
 * One timed step is what a sampling step of the render command does on each
 * rank: upload the rank's latent rows, the DiT forward on its token slice with
 * sequence-parallel self-attention (rl_usp_attention), download the velocity;
 * with --cfg-parallel the two CFG groups each run one pass and swap velocities
 * (rl_cfg_velocity), so a step holds two forwards and the per-forward figures
 * are half a step. Exchange time is rl_usp's: NCCL operations timed by events
 * on the stream, host exchanges by the wall clock. Times and exchange times are
 * the largest over the ranks; rank 0 prints. */
#include "cli/bench_usp.h"

#include "models/wan_dit_slice.h"
#include "parallel/cfg.h"
#include "parallel/usp.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

void rl_bench_usp_rows(rl_bench_usp_flags *f, rl_opt *rows) {
    rl_opt r[5] = {
        {"--ulysses", NULL, "RAYLIGHT_ULYSSES", RL_OPT_INT, &f->ulysses, "0", "N",
         "dit: Ulysses degree; any of these dit flags runs the sliced forward under a plan (0 = automatic)", 0, 4096, 0},
        {"--ring", NULL, "RAYLIGHT_RING", RL_OPT_INT, &f->ring, "0", "N", "dit: ring-attention degree (0 = automatic)",
         0, 4096, 0},
        {"--cfg-parallel", NULL, "RAYLIGHT_CFG_PARALLEL", RL_OPT_FLAG, &f->cfg_parallel, NULL, NULL,
         "dit: time guided steps, the two passes on two rank groups (figures per forward = half a step)", 0, 0, 0},
        {"--json", NULL, NULL, RL_OPT_FLAG, &f->json, NULL, NULL,
         "dit: print the figures as one JSON object (sliced forward under a plan)", 0, 0, 0},
        {"--weights", NULL, NULL, RL_OPT_STR, &f->weights, NULL, "FILE",
         "dit: a Wan DiT .safetensors instead of random weights of --model (small models, tests)", 0, 0, 0},
    };
    memcpy(rows, r, sizeof r);
    rl_comm_flags_rows(&f->comm, rows + 5, 1);
}

int rl_bench_usp_wanted(const rl_bench_usp_flags *f) {
    return f->ulysses || f->ring || f->cfg_parallel || f->json || f->weights || f->comm.self_exchange;
}

typedef struct {
    rl_wan_dit *m;
    rl_backend *be;
    rl_tensor x_dev, y_dev; /* [n, in_dim*4] rows, f32 */
    rl_tensor ctx[2];       /* [512, text_dim] f32: conditional, unconditional */
    rl_wan_slice sl;
} pass;

/* rl_velocity_fn: one forward of this rank's rows with context `which`. */
static int pass_velocity(void *arg, int which, const float *x, float *v) {
    pass *p = arg;
    size_t bytes = rl_tensor_nbytes(&p->x_dev);
    RL_TRY(p->be->upload(p->be, p->x_dev.data, x, bytes));
    RL_TRY(wan_dit_forward_slice(p->m, &p->y_dev, &p->x_dev, 999.0, &p->ctx[which], &p->sl));
    return p->be->download(p->be, v, p->y_dev.data, bytes);
}

static int parse_frame_size(const char *s, int *w, int *h) {
    char x;
    if (!s || sscanf(s, "%d%c%d", w, &x, h) != 3 || (x != 'x' && x != '*') || *w <= 0 || *h <= 0 || *w % 16 ||
        *h % 16)
        return rl_error_set("--size '%s' is not WIDTHxHEIGHT in multiples of 16", s ? s : "");
    return 0;
}

/* The largest of every rank's values v[0..n) (n <= 4), in place. */
static int max_over_ranks(rl_comm *comm, double *v, int n) {
    double *all = malloc(sizeof(double) * 4 * (size_t)comm->size), mine[4] = {0};
    if (!all) return rl_error_set("out of host memory for the benchmark figures");
    memcpy(mine, v, sizeof(double) * (size_t)n);
    int rc = comm->all_gather(comm, mine, all, sizeof mine);
    for (int r = 0; rc == 0 && r < comm->size; r++)
        for (int i = 0; i < n; i++) v[i] = all[4 * r + i] > v[i] ? all[4 * r + i] : v[i];
    free(all);
    return rc;
}

static double dit_flops(const rl_wan_dit_config *c, double L) {
    double D = (double)c->dim, F = (double)c->ffn_dim;
    return (double)c->num_layers *
           (12 * L * D * D + 4 * 512 * D * D + 4 * L * L * D + 4 * L * 512 * D + 4 * L * D * F);
}

typedef struct {
    double ms_step, comm_ms_step, peak;
    int passes;
} figures;

static void print_figures(const rl_wan_dit *m, const rl_bench_usp_flags *f, const rl_plan *plan, const char *model,
                          int W, int H, int64_t frames, int64_t N, int64_t n, const char *via, const figures *g,
                          rl_backend *be) {
    const double ms = g->ms_step / g->passes, cms = g->comm_ms_step / g->passes;
    const double tflops = dit_flops(&m->cfg, (double)N) / (ms * 1e-3) / 1e12;
    const char *name = f->weights ? f->weights : model;
    char pd[96], pk[32], wb[32];
    rl_plan_describe(plan, pd, sizeof pd);
    if (!f->json) {
        printf("dit %s %dx%dx%lld (%lld tokens, %lld per rank) on %s, %s, exchanges over %s%s: %.1f ms/forward, "
               "exchanges %.2f ms/forward (%.1f%%), %.1f model TFLOP/s, peak %s (weights %s)%s\n",
               name, W, H, (long long)frames, (long long)N, (long long)n, be->name, pd, via,
               f->comm.self_exchange ? " (self exchange)" : "", ms, cms, ms > 0 ? 100.0 * cms / ms : 0.0, tflops,
               rl_bytes_str((size_t)g->peak, pk, sizeof pk), rl_bytes_str(m->weight_bytes, wb, sizeof wb),
               g->passes == 2 ? " (a guided step = 2 forwards on 2 groups)" : "");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", name);
    cJSON_AddNumberToObject(j, "width", W);
    cJSON_AddNumberToObject(j, "height", H);
    cJSON_AddNumberToObject(j, "frames", (double)frames);
    cJSON_AddNumberToObject(j, "tokens", (double)N);
    cJSON_AddNumberToObject(j, "tokens_per_rank", (double)n);
    cJSON_AddStringToObject(j, "backend", be->name);
    cJSON_AddNumberToObject(j, "ranks", plan->world);
    cJSON_AddNumberToObject(j, "cfg", plan->cfg);
    cJSON_AddNumberToObject(j, "ulysses", plan->ulysses);
    cJSON_AddNumberToObject(j, "ring", plan->ring);
    cJSON_AddStringToObject(j, "comm", via);
    cJSON_AddBoolToObject(j, "self_exchange", f->comm.self_exchange);
    cJSON_AddNumberToObject(j, "ms_per_forward", ms);
    cJSON_AddNumberToObject(j, "comm_ms_per_forward", cms);
    cJSON_AddNumberToObject(j, "forwards_per_step", g->passes);
    cJSON_AddNumberToObject(j, "ms_per_step", g->ms_step);
    cJSON_AddNumberToObject(j, "comm_ms_per_step", g->comm_ms_step);
    cJSON_AddNumberToObject(j, "model_tflops", tflops);
    cJSON_AddNumberToObject(j, "peak_device_bytes", g->peak);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)m->weight_bytes);
    char *text = cJSON_Print(j);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(j);
}

/* Times the steps: warmup, then iters guided (or plain) steps between barriers. */
static int time_steps(rl_usp *u, pass *p, rl_comm *comm, int guidance, int64_t rows, int64_t iters, int64_t warmup,
                      figures *g) {
    rl_backend *be = p->be;
    float *x = malloc((size_t)rows * sizeof(float)), *v = malloc((size_t)rows * sizeof(float));
    float *tmp = malloc((size_t)rows * sizeof(float));
    int rc = x && v && tmp ? 0 : rl_error_set("out of host memory for the latent rows");
    uint32_t s = 12345u + (uint32_t)comm->rank;
    for (int64_t i = 0; rc == 0 && i < rows; i++) s = s * 1664525u + 1013904223u, x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    for (int64_t i = 0; rc == 0 && i < warmup; i++) rc = rl_cfg_velocity(u, pass_velocity, p, guidance, 5.0f, x, v, tmp, rows);
    if (rc == 0) rc = be->synchronize(be);
    if (rc == 0) rc = comm->barrier(comm);
    double c0 = rl_usp_comm_seconds(u);
    rl_mem_reset_peak(be->device);
    double t0 = rl_time_now();
    for (int64_t i = 0; rc == 0 && i < iters; i++) rc = rl_cfg_velocity(u, pass_velocity, p, guidance, 5.0f, x, v, tmp, rows);
    if (rc == 0) rc = be->synchronize(be);
    double fig[3] = {(rl_time_now() - t0) * 1e3 / (double)iters, (rl_usp_comm_seconds(u) - c0) * 1e3 / (double)iters,
                     (double)rl_mem_peak(be->device)};
    if (rc == 0) rc = max_over_ranks(comm, fig, 3);
    g->ms_step = fig[0], g->comm_ms_step = fig[1], g->peak = fig[2], g->passes = guidance ? 2 : 1;
    free(x), free(v), free(tmp);
    return rc;
}

/* Model, plan, slice buffers, contexts; then time_steps and the figures. */
static int run_planned(rl_wan_dit *m, rl_backend *be, rl_comm *comm, const rl_plan *plan, const rl_bench_usp_flags *f,
                       const char *model, int W, int H, int64_t frames, int64_t iters, int64_t warmup) {
    rl_usp u;
    RL_TRY(rl_usp_init(&u, comm, plan, be));
    u.self_exchange = f->comm.self_exchange;
    const int64_t T = (frames - 1) / 4 + 1, Hp = H / 16, Wp = W / 16, N = T * Hp * Wp, C = m->cfg.in_dim;
    pass p = {.m = m, .be = be, .sl = {T, Hp, Wp, 0, 0}};
    rl_usp_slice(&u, N, &p.sl.token0, &p.sl.n);
    const int64_t rows = p.sl.n * C * 4;
    const size_t bytes = (size_t)rows * sizeof(float);
    int rc = 0;
    void *xd = be->alloc(be, bytes), *yd = xd ? be->alloc(be, bytes) : NULL;
    if (!xd || !yd) rc = rl_error_wrap("bench dit: the latent rows");
    p.x_dev = rl_tensor_make(xd, RL_F32, be->device, 2, (int64_t[]){p.sl.n, C * 4});
    p.y_dev = rl_tensor_make(yd, RL_F32, be->device, 2, (int64_t[]){p.sl.n, C * 4});
    for (int k = 0; k < 2 && rc == 0; k++) {
        p.ctx[k] = rl_tensor_make(NULL, RL_F32, be->device, 2, (int64_t[]){512, m->cfg.text_dim});
        if (!(p.ctx[k].data = be->alloc(be, rl_tensor_nbytes(&p.ctx[k])))) rc = -1;
        else rc = be->fill_normal(be, &p.ctx[k], 4 + (uint64_t)k, 0.0f, 1.0f);
    }
    m->self_attention = rl_usp_attention, m->self_attention_ctx = &u;
    figures g;
    if (rc == 0) rc = time_steps(&u, &p, comm, plan->cfg == 2, rows, iters, warmup, &g);
    m->self_attention = NULL, m->self_attention_ctx = NULL;
    const char *via = u.dev_ring ? u.dev_ring->kind : comm->kind;
    if (rc == 0 && comm->rank == 0)
        print_figures(m, f, plan, model, W, H, frames, N, p.sl.n, via, &g, be);
    for (int k = 0; k < 2; k++)
        if (p.ctx[k].data) be->free(be, p.ctx[k].data, rl_tensor_nbytes(&p.ctx[k]));
    if (xd) be->free(be, xd, bytes);
    if (yd) be->free(be, yd, bytes);
    rl_usp_free(&u);
    return rc;
}

int rl_bench_dit_usp(rl_backend *be, rl_comm *comm, const char *model, const char *size, int64_t frames,
                     int64_t iters, int64_t warmup, const rl_mem_flags *mf, const rl_bench_usp_flags *f) {
    rl_wan_dit_config cfg;
    int W, H;
    if (f->weights) RL_TRY(wan_dit_read_config(f->weights, be, &cfg));
    else RL_TRY(wan_dit_config_named(model, &cfg));
    RL_TRY(parse_frame_size(size, &W, &H));
    if ((frames - 1) % 4) return rl_error_set("--frames %lld: the frame count must be 4k+1 (1, 5, ..., 81)", (long long)frames);
    if (cfg.in_dim != cfg.out_dim)
        return rl_error_set("bench dit: the DiT takes %lld channels and gives %lld; the benchmark needs a text-to-video "
                            "DiT (equal counts)", (long long)cfg.in_dim, (long long)cfg.out_dim);
    rl_plan_request req = {(int)f->ulysses, (int)f->ring, f->cfg_parallel, f->comm.self_exchange};
    rl_plan plan;
    if (rl_plan_make(comm->size, cfg.num_heads, f->cfg_parallel, &req, &plan) != 0)
        return rl_error_wrap("bench dit: parallel plan");
    const int64_t N = ((frames - 1) / 4 + 1) * (H / 16) * (W / 16);
    size_t io_bytes = (size_t)(2 * 512 * cfg.text_dim + 2 * N * cfg.in_dim * 4) * sizeof(float);
    rl_wan_dit m;
    rl_wan_dit_options lo;
    RL_TRY(rl_mem_flags_apply(mf, be, comm, &cfg, N, io_bytes, &lo));
    double t0 = rl_time_now();
    RL_TRY(f->weights ? wan_dit_load_opts(&m, f->weights, be, &lo) : wan_dit_init_random_opts(&m, &cfg, be, 1, &lo));
    int rc = be->synchronize(be);
    char wb[32];
    if (rc == 0 && comm->rank == 0 && !f->json)
        printf("dit %s: %s of %s %s weights made in %.1f s\n", f->weights ? f->weights : model,
               rl_bytes_str(m.weight_bytes, wb, sizeof wb), f->weights ? "loaded" : "random",
               rl_dtype_name(be->weight_dtype), rl_time_now() - t0);
    if (rc == 0) rc = run_planned(&m, be, comm, &plan, f, model, W, H, frames, iters, warmup);
    wan_dit_free(&m);
    return rc;
}
