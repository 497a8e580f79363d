/* test_usp.c: sequence-parallel self-attention (src/parallel/usp.c) and the
 * DiT forward on token slices (src/models/wan_dit_slice.c).
 *
 * Alone (world size 1, as tests/run.sh runs it): the slice forward over the
 * whole grid equals wan_dit_forward on the golden DiT, and the patch-row
 * layout round-trips. Under mpirun (tests/mpi_test.sh):
 *   mpirun -np N test_usp [--ulysses U] [--ring R]
 * every rank holds its slice of random q, k, v (token counts that divide and
 * that do not, garbage in the padding), runs rl_usp_attention, and the rows are
 * compared with one attention over the whole sequence; then the golden DiT runs
 * sliced under the plan and the gathered output is compared with the
 * one-process forward. Rank 0 prints the PASS/FAIL lines (max relative error
 * over all ranks). */
#include "comm/comm.h"
#include "io/safetensors.h"
#include "models/wan_dit_slice.h"
#include "parallel/usp.h"
#include "testlib.h"

#define TOL 1e-5

static rl_comm *world;
static rl_plan plan;
static rl_usp usp;

/* The largest value of every rank's x (errors are reduced by their max). */
static double world_max(double x) {
    double all[64] = {0};
    if (world->size > 64 || world->all_gather(world, &x, all, sizeof x) != 0) return INFINITY;
    double m = 0;
    for (int i = 0; i < world->size; i++) m = all[i] > m || isnan(all[i]) ? all[i] : m;
    return m;
}

static void report(const char *name, double err_local) {
    double e = world_max(err_local);
    char what[160];
    snprintf(what, sizeof what, "%s, ulysses %d x ring %d", name, plan.ulysses, plan.ring);
    if (world->rank == 0) CASE(what, e <= TOL, "max rel err %.3g > %g", e, TOL);
    if (world->rank == 0 && e <= TOL) printf("  %s: max rel err %.3g\n", what, e);
    if (world->rank != 0 && !(e <= TOL)) tl_total_failed++;
}

/* q, k, v of N tokens, H heads, d: the whole sequence on every rank, the
 * reference attention over it, and each rank's sliced result. */
static void attention_case(int64_t N, int64_t H, int64_t d) {
    rl_backend *be = rl_backend_cpu();
    int64_t token0, n;
    rl_usp_slice(&usp, N, &token0, &n);
    size_t row = (size_t)(H * d), full = (size_t)N * row, mine = (size_t)n * row;
    float *q = malloc(full * 4), *k = malloc(full * 4), *v = malloc(full * 4), *ref = malloc(full * 4);
    float *ql = malloc(mine * 4), *kl = malloc(mine * 4), *vl = malloc(mine * 4), *ol = malloc(mine * 4);
    tl_seed((uint64_t)(N * 131 + H));
    tl_fill_randn(q, full, 1.0f);
    tl_fill_randn(k, full, 1.0f);
    tl_fill_randn(v, full, 1.0f);
    rl_tensor Q = rl_tensor_make(q, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, N, H, d});
    rl_tensor K = rl_tensor_make(k, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, N, H, d});
    rl_tensor V = rl_tensor_make(v, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, N, H, d});
    rl_tensor R = rl_tensor_make(ref, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, N, H, d});
    int rc = be->attention(be, &R, &Q, &K, &V, 0, NULL, 1.0f / sqrtf((float)d), NULL);
    /* this rank's rows; the padding holds large garbage that must not leak in */
    for (int64_t i = 0; i < n; i++) {
        int64_t g = token0 + i;
        for (size_t j = 0; j < row; j++) {
            ql[i * row + j] = g < N ? q[g * row + j] : 50.0f;
            kl[i * row + j] = g < N ? k[g * row + j] : 80.0f;
            vl[i * row + j] = g < N ? v[g * row + j] : 1e4f;
        }
    }
    rl_tensor q4 = rl_tensor_make(ql, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, n, H, d});
    rl_tensor k4 = rl_tensor_make(kl, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, n, H, d});
    rl_tensor v4 = rl_tensor_make(vl, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, n, H, d});
    rl_tensor o4 = rl_tensor_make(ol, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, n, H, d});
    if (rc == 0) rc = rl_usp_attention(&usp, be, &o4, &q4, &k4, &v4, N);
    double err = INFINITY;
    if (rc == 0) {
        int64_t real = token0 >= N ? 0 : (N - token0 < n ? N - token0 : n);
        err = real ? tl_rel_err_f(ol, ref + token0 * row, (size_t)real * row) : 0.0;
        /* normalise by the whole reference, not by this rank's rows */
        double mr = 0, ml = 0;
        for (size_t i = 0; i < full; i++) mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
        for (size_t i = 0; i < (size_t)real * row; i++) ml = fabs(ref[token0 * row + i]) > ml ? fabs(ref[token0 * row + i]) : ml;
        if (mr > 0 && real) err = err * ml / mr;
    } else { /* end every rank: the others would wait in the next collective */
        rl_die("rank %d: %s", world->rank, rl_error_message());
    }
    char name[96];
    snprintf(name, sizeof name, "attention over %lld tokens (%lld per rank), %lld heads", (long long)N, (long long)n,
             (long long)H);
    report(name, err);
    free(q), free(k), free(v), free(ref), free(ql), free(kl), free(vl), free(ol);
}

static int read_f32(rl_safetensors *st, const char *name, float **out, rl_tensor *shape) {
    const rl_st_tensor *t = rl_st_find(st, name);
    if (!t) return rl_error_set("%s lacks %s", st->path, name);
    *shape = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, t->ndim, t->shape);
    *out = malloc(rl_tensor_nbytes(shape) + 4);
    return rl_st_read_as(st, t, RL_F32, *out);
}

/* The golden DiT on x [16, T, H, W]: one-process forward vs the sliced one
 * under the plan (world > 1) or over the whole grid (world 1). */
static void dit_case(rl_wan_dit *m, const float *x, int64_t T, int64_t H, int64_t W, const rl_tensor *ctx, double t) {
    const int64_t C = 16, Hp = H / 2, Wp = W / 2, N = T * Hp * Wp, numel = C * T * H * W;
    float *ref = malloc((size_t)numel * 4), *got = malloc((size_t)numel * 4);
    rl_tensor xt = rl_tensor_make((void *)x, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){C, T, H, W});
    rl_tensor yt = rl_tensor_make(ref, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){C, T, H, W});
    m->self_attention = NULL;
    int rc = wan_dit_forward(m, &yt, &xt, t, ctx);
    int64_t token0, n;
    rl_usp_slice(&usp, N, &token0, &n);
    int64_t sp = plan.ulysses * plan.ring;
    float *xr = malloc((size_t)(n * C * 4) * 4), *yr = malloc((size_t)(n * C * 4) * 4);
    float *all = malloc((size_t)(sp * n * C * 4) * 4);
    wan_latents_to_rows(x, C, T, H, W, token0, n, xr);
    rl_tensor xs = rl_tensor_make(xr, RL_F32, RL_DEVICE_CPU, 2, (int64_t[]){n, C * 4});
    rl_tensor ys = rl_tensor_make(yr, RL_F32, RL_DEVICE_CPU, 2, (int64_t[]){n, C * 4});
    rl_wan_slice sl = {T, Hp, Wp, token0, n};
    m->self_attention = rl_usp_attention;
    m->self_attention_ctx = &usp;
    if (rc == 0) rc = wan_dit_forward_slice(m, &ys, &xs, t, ctx, &sl);
    if (rc == 0) rc = rl_usp_gather_rows(&usp, yr, n, C * 4, all);
    if (rc == 0) wan_rows_to_latents(all, C, T, H, W, 0, N, got);
    double err = rc == 0 ? tl_rel_err_f(got, ref, (size_t)numel) : INFINITY;
    if (rc != 0) rl_die("rank %d: %s", world->rank, rl_error_message());
    char name[128];
    snprintf(name, sizeof name, "golden DiT sliced forward, %lld tokens (%lld per rank)", (long long)N, (long long)n);
    report(name, err);
    m->self_attention = NULL;
    free(ref), free(got), free(xr), free(yr), free(all);
}

static void test_dit(void) {
    const char *dir = RL_SOURCE_DIR "/tests/golden/wan_dit/";
    rl_wan_dit m;
    rl_safetensors st;
    float *x = NULL, *tv = NULL, *cv = NULL;
    rl_tensor xs, ts, cs;
    if (wan_dit_load(&m, RL_SOURCE_DIR "/tests/golden/wan_dit/official_f32.safetensors", rl_backend_cpu()) != 0 ||
        rl_st_open(&st, RL_SOURCE_DIR "/tests/golden/wan_dit/official_f32.io.safetensors") != 0) {
        EXPECT(0, "golden DiT in %s: %s", dir, rl_error_message());
        return;
    }
    int rc = read_f32(&st, "x", &x, &xs);
    if (rc == 0) rc = read_f32(&st, "t", &tv, &ts);
    if (rc == 0) rc = read_f32(&st, "context", &cv, &cs);
    rl_st_close(&st);
    EXPECT(rc == 0, "%s", rl_error_message());
    if (rc == 0 && m.cfg.num_heads % plan.ulysses == 0) {
        rl_tensor ctx = rl_tensor_make(cv, RL_F32, RL_DEVICE_CPU, 2, cs.shape);
        dit_case(&m, x, xs.shape[1], xs.shape[2], xs.shape[3], &ctx, tv[0]);
        /* a grid of 1x1x5 = 5 tokens: no world size above 1 divides it */
        float x5[16 * 1 * 2 * 10];
        tl_seed(77);
        tl_fill_randn(x5, sizeof x5 / sizeof *x5, 1.0f);
        dit_case(&m, x5, 1, 2, 10, &ctx, 500.0);
    } else if (rc == 0 && world->rank == 0) {
        printf("  (the golden DiT has %lld heads: no DiT case for Ulysses %d)\n", (long long)m.cfg.num_heads,
               plan.ulysses);
    }
    free(x), free(tv), free(cv);
    wan_dit_free(&m);
}

static void test_rows_roundtrip(void) {
    const int64_t C = 3, T = 2, H = 4, W = 6, numel = C * T * H * W, N = T * 2 * 3;
    float x[3 * 2 * 4 * 6], back[3 * 2 * 4 * 6], rows[(12 + 3) * 12];
    for (int64_t i = 0; i < numel; i++) x[i] = (float)i;
    wan_latents_to_rows(x, C, T, H, W, 0, N + 3, rows);
    /* token (f=1, h=1, w=2) = row 1*6 + 1*3 + 2 = 11, column c*4+q*2+r: x[c, 1, 2+q, 4+r] */
    EXPECT(rows[11 * 12 + 2 * 4 + 1 * 2 + 1] == x[((2 * T + 1) * H + 3) * W + 5], "row layout");
    EXPECT(rows[(N + 2) * 12 + 5] == 0.0f, "padding rows are zero");
    memset(back, 0, sizeof back);
    wan_rows_to_latents(rows, C, T, H, W, 0, N, back);
    EXPECT(!memcmp(back, x, sizeof x), "round trip");
}

static int parse_plan(int argc, char **argv) {
    rl_plan_request req = {0, 0, 0, 0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ulysses")) req.ulysses = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ring")) req.ring = atoi(argv[i + 1]);
    }
    return rl_plan_make(world->size, 4, 0, &req, &plan);
}

int main(int argc, char **argv) {
    rl_world w;
    if (rl_world_init(&argc, &argv, &w) != 0 || !(world = rl_comm_world_host()) || parse_plan(argc, argv) != 0 ||
        rl_usp_init(&usp, world, &plan, rl_backend_cpu()) != 0) {
        printf("FAIL: test_usp setup: %s\n", rl_error_message());
        return 1;
    }
    if (world->size == 1) RUN(test_rows_roundtrip);
    static const int64_t counts[] = {12, 13, 7, 5, 64, 1};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) attention_case(counts[i], 4, 16);
    attention_case(37, 4, 128);
    test_dit();
    rl_usp_free(&usp);
    world->destroy(world);
    rl_world_finalize();
    return tl_total_failed ? 1 : 0;
}
