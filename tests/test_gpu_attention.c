/* test_gpu_attention.c: the CUDA attention paths (the tensor-core mma kernel and
 * its tile variants, the Hopper wgmma kernel and its variants, the cuBLAS GEMM path
 * for large head dims) against the CPU oracle, then a benchmark of the full-size
 * Wan shapes. The wgmma cases need a compute capability 9.0 GPU: elsewhere the
 * backend refuses the forced path with a sentence, which the first case prints as
 * a FAIL (and the rest are not run).
 *
 * Runs only under `make test-gpu` (tests/run.sh skips test_gpu_* otherwise); run it
 * directly to see the benchmark lines: build/tests/test_gpu_attention. Every case
 * prints one PASS/FAIL line naming its shape, dtypes and the kernel that ran (the
 * backend's own choice, forced with RL_CUDA_ATTENTION where the line says so), with
 * max|got-ref| / max|ref|. Inputs for bf16 tensors are rounded to bf16 on the host,
 * so both sides see the same values. Tolerances: bf16 inputs 2e-2 (out) and 1e-4
 * (lse); f32 GEMM path 1e-4 (1e-2 into a bf16 out). The benchmark prints ms and
 * TFLOP/s (4 L^2 d H per call) and never fails on time; it does check that the
 * default (wgmma on Hopper) and the mma kernels agree with the fp32 kernel at the 14040-token
 * shape.
 * RL_TEST_ATT_BENCH=0 skips the benchmark. The host helpers repeat test_gpu_ops.c's.
 */
#include "testlib.h"

#ifdef RL_HAVE_CUDA
#include "backend/backend_cuda.h"
#endif

#include <time.h>

static rl_backend *cpu, *gpu;
static int dev_failed;

/* ---------------------------------------------------------------- host and device helpers */

static float *hrand(size_t n, float scale, rl_dtype dt) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        p[i] = tl_randn() * scale;
        if (dt == RL_BF16) p[i] = rl_bf16_to_f32(rl_f32_to_bf16(p[i]));
    }
    return p;
}

static rl_tensor dtensor(const float *host, rl_dtype dt, int nd, const int64_t *shape) {
    rl_tensor t = rl_tensor_make(NULL, dt, RL_DEVICE_CUDA, nd, shape);
    size_t n = (size_t)rl_tensor_numel(&t), bytes = rl_tensor_nbytes(&t);
    t.data = gpu->alloc(gpu, bytes);
    if (!t.data) {
        printf("  allocation of %zu bytes failed: %s\n", bytes, rl_error_message());
        dev_failed = 1;
        return t;
    }
    if (!host) return t;
    void *stage = calloc(bytes ? bytes : 1, 1);
    rl_convert(stage, dt, host, RL_F32, n);
    if (gpu->upload(gpu, t.data, stage, bytes) != 0) {
        printf("  upload failed: %s\n", rl_error_message());
        dev_failed = 1;
    }
    free(stage);
    return t;
}

static void dfree(rl_tensor *t) {
    if (t->data) gpu->free(gpu, t->data, rl_tensor_nbytes(t));
    t->data = NULL;
}

static float *dread(const rl_tensor *t) {
    size_t n = (size_t)rl_tensor_numel(t), bytes = rl_tensor_nbytes(t);
    float *out = calloc(n ? n : 1, sizeof(float));
    void *stage = calloc(bytes ? bytes : 1, 1);
    if (!t->data || gpu->download(gpu, stage, t->data, bytes) != 0) {
        printf("  download failed: %s\n", rl_error_message());
        dev_failed = 1;
    } else {
        rl_convert(out, RL_F32, stage, t->dtype, n);
    }
    free(stage);
    return out;
}

/* Relative error max|got-ref| / max|ref|; matching infinities (lse of a fully
 * masked row) are equal, any other non-finite value is an infinite error. */
static double rel_err(const float *got, const float *ref, size_t n, size_t *worst) {
    double maxdiff = 0, maxref = 0;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf(ref[i]) && got[i] == ref[i]) continue;
        if (!isfinite(got[i]) || !isfinite(ref[i])) {
            *worst = i;
            return INFINITY;
        }
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > maxdiff) maxdiff = d, *worst = i;
        if (fabs((double)ref[i]) > maxref) maxref = fabs((double)ref[i]);
    }
    return maxref > 0 ? maxdiff / maxref : maxdiff;
}

static void verdict(const char *name, const float *got, const float *ref, size_t n, double tol) {
    size_t w;
    double e = rel_err(got, ref, n, &w);
    char full[600];
    snprintf(full, sizeof full, "%s rel_err=%.2e", name, e);
    CASE(full, e <= tol, "relative error %.3e exceeds %.0e; worst at index %zu: got %.8g, reference %.8g (of %zu)", e,
         tol, w, n ? got[w] : 0.0f, n ? ref[w] : 0.0f, n);
}

/* RL_CUDA_ATTENTION for the next calls (NULL: the automatic choice). */
static void force_path(const char *p) {
    if (p) setenv("RL_CUDA_ATTENTION", p, 1);
    else unsetenv("RL_CUDA_ATTENTION");
}

/* The kernel the backend picks for these tensors, as the backend names it. */
static const char *path_of(char *buf, size_t n, const rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                           const rl_tensor *v, int64_t kv_len, const rl_tensor *bias, float scale, const rl_tensor *lse) {
#ifdef RL_HAVE_CUDA
    cuda_attention_args a = {
        .q = q->data, .k = k->data, .v = v->data, .bias = bias ? bias->data : NULL, .out = out->data,
        .lse = lse ? (float *)lse->data : NULL, .qdt = q->dtype, .kdt = k->dtype, .vdt = v->dtype,
        .bdt = bias ? (int)bias->dtype : 0, .odt = out->dtype, .B = q->shape[0], .Lq = q->shape[1],
        .Lk = k->shape[1], .H = q->shape[2], .d = q->shape[3], .nkeys = k->shape[1], .scale = scale,
    };
    if (kv_len > 0 && kv_len < a.Lk) a.nkeys = kv_len;
    return cuda_attention_path_name(&a, buf, n);
#else
    (void)out, (void)q, (void)k, (void)v, (void)kv_len, (void)bias, (void)scale, (void)lse;
    snprintf(buf, n, "?");
    return buf;
#endif
}

/* ---------------------------------------------------------------- correctness */

typedef struct {
    int64_t B, Lq, Lk, H, d, kv_len;
    int lse, bias;
    float scale; /* 0: 1/sqrt(d) */
} att_case;

/* The forced paths a case runs under, and the path name each must report. */
typedef struct {
    const char *env, *expect;
} att_path;

/* One case: inputs and the CPU reference once, then each path and out dtype. */
static void run_case(att_case c, rl_dtype in, const rl_dtype *outs, int nouts, const att_path *paths, int npaths,
                     double tol_bf16_out, double tol_f32_out) {
    dev_failed = 0;
    int64_t qs[4] = {c.B, c.Lq, c.H, c.d}, ks[4] = {c.B, c.Lk, c.H, c.d}, ls[3] = {c.B, c.H, c.Lq},
            bs[3] = {c.H, c.Lq, c.Lk};
    size_t nq = (size_t)(c.B * c.Lq * c.H * c.d), nk = (size_t)(c.B * c.Lk * c.H * c.d), nl = (size_t)(c.B * c.H * c.Lq),
           nb = (size_t)(c.H * c.Lq * c.Lk);
    float scale = c.scale > 0 ? c.scale : 1.0f / sqrtf((float)c.d);
    float *q = hrand(nq, 1.0f, in), *k = hrand(nk, 1.0f, in), *v = hrand(nk, 1.0f, in);
    float *b = c.bias ? hrand(nb, 1.0f, in) : NULL;
    float *ref = calloc(nq ? nq : 1, sizeof(float)), *lref = calloc(nl ? nl : 1, sizeof(float));
    rl_tensor hq = rl_tensor_make(q, RL_F32, RL_DEVICE_CPU, 4, qs), hk = rl_tensor_make(k, RL_F32, RL_DEVICE_CPU, 4, ks);
    rl_tensor hv = rl_tensor_make(v, RL_F32, RL_DEVICE_CPU, 4, ks), ho = rl_tensor_make(ref, RL_F32, RL_DEVICE_CPU, 4, qs);
    rl_tensor hl = rl_tensor_make(lref, RL_F32, RL_DEVICE_CPU, 3, ls), hb = rl_tensor_make(b, RL_F32, RL_DEVICE_CPU, 3, bs);
    char shape[200];
    snprintf(shape, sizeof shape, "attention B=%lld Lq=%lld Lk=%lld H=%lld d=%lld kv_len=%lld scale=%.4g qkv=%s%s%s",
             (long long)c.B, (long long)c.Lq, (long long)c.Lk, (long long)c.H, (long long)c.d, (long long)c.kv_len,
             scale, rl_dtype_name(in), c.bias ? " bias" : "", c.lse ? " lse" : "");
    if (cpu->attention(cpu, &ho, &hq, &hk, &hv, c.kv_len, b ? &hb : NULL, scale, c.lse ? &hl : NULL) != 0) {
        CASE(shape, 0, "the CPU oracle failed: %s", rl_error_message());
        goto out;
    }
    rl_tensor dq = dtensor(q, in, 4, qs), dk = dtensor(k, in, 4, ks), dv = dtensor(v, in, 4, ks);
    rl_tensor db = b ? dtensor(b, in, 3, bs) : (rl_tensor){0};
    rl_tensor dl = c.lse ? dtensor(NULL, RL_F32, 3, ls) : (rl_tensor){0};
    for (int oi = 0; oi < nouts && !dev_failed; oi++) {
        rl_tensor dout = dtensor(NULL, outs[oi], 4, qs);
        for (int pi = 0; pi < npaths && !dev_failed; pi++) {
            char pname[96], name[400];
            force_path(paths[pi].env);
            path_of(pname, sizeof pname, &dout, &dq, &dk, &dv, c.kv_len, b ? &db : NULL, scale, c.lse ? &dl : NULL);
            snprintf(name, sizeof name, "%s out=%s kernel=%s%s%s", shape, rl_dtype_name(outs[oi]), pname,
                     paths[pi].env ? " forced=" : "", paths[pi].env ? paths[pi].env : "");
            if (strncmp(pname, paths[pi].expect, strlen(paths[pi].expect)) != 0) {
                CASE(name, 0, "the backend picks '%s' but this case expects '%s'", pname, paths[pi].expect);
                continue;
            }
            int rc = gpu->attention(gpu, &dout, &dq, &dk, &dv, c.kv_len, b ? &db : NULL, scale, c.lse ? &dl : NULL);
            if (rc == 0) rc = gpu->synchronize(gpu);
            if (rc != 0) {
                CASE(name, 0, "the CUDA op failed: %s", rl_error_message());
                continue;
            }
            float *got = dread(&dout);
            verdict(name, got, ref, nq, outs[oi] == RL_BF16 ? tol_bf16_out : tol_f32_out);
            free(got);
            if (c.lse) {
                float *gl = dread(&dl);
                strncat(name, " [lse]", sizeof name - strlen(name) - 1);
                verdict(name, gl, lref, nl, 1e-4);
                free(gl);
            }
        }
        dfree(&dout);
    }
    force_path(NULL);
    dfree(&dq), dfree(&dk), dfree(&dv), dfree(&db), dfree(&dl);
out:
    free(q), free(k), free(v), free(b), free(ref), free(lref);
}

static void test_mma(void) {
    static const att_case cases[] = {
        {1, 1, 1, 1, 0, 0, 1, 0, 0},        {2, 17, 17, 3, 0, 0, 1, 0, 0},     {2, 64, 64, 3, 0, 0, 1, 0, 0},
        {1, 65, 65, 3, 0, 0, 1, 0, 0},      {2, 1000, 1000, 3, 0, 0, 1, 0, 0}, {2, 100, 333, 3, 0, 0, 1, 0, 0},
        {1, 333, 100, 3, 0, 0, 0, 0, 0.5f}, {2, 200, 256, 3, 0, 190, 1, 0, 0}, {1, 1000, 1024, 2, 0, 1000, 1, 0, 0},
        {1, 65, 129, 3, 0, 1, 1, 0, 0},     {1, 130, 7, 2, 0, 0, 1, 0, 2.0f},  {1, 4099, 4099, 2, 0, 0, 1, 0, 0},
    };
    static const rl_dtype outs[] = {RL_BF16, RL_F32};
    static const att_path all[] = {{"mma", "mma("}, {"mma:1", "mma("}, {"mma:2", "mma("},
                                   {"mma:3", "mma("}, {"mma:4", "mma("}};
    static const int64_t dims[] = {64, 128};
    for (int di = 0; di < 2; di++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            att_case c = cases[i];
            c.d = dims[di];
            /* every variant on the small and middle shapes; the default alone on 4099 */
            int np = c.Lq * c.Lk > 2000000 ? 1 : 5;
            run_case(c, RL_BF16, outs, 2, all, np, 2e-2, 2e-2);
        }
}

/* The wgmma kernel forced on test_mma's shapes (its variants per head dim). */
static void test_wgmma(void) {
    static const att_case cases[] = {
        {1, 1, 1, 1, 0, 0, 1, 0, 0},        {2, 17, 17, 3, 0, 0, 1, 0, 0},     {2, 64, 64, 3, 0, 0, 1, 0, 0},
        {1, 65, 65, 3, 0, 0, 1, 0, 0},      {2, 1000, 1000, 3, 0, 0, 1, 0, 0}, {2, 100, 333, 3, 0, 0, 1, 0, 0},
        {1, 333, 100, 3, 0, 0, 0, 0, 0.5f}, {2, 200, 256, 3, 0, 190, 1, 0, 0}, {1, 1000, 1024, 2, 0, 1000, 1, 0, 0},
        {1, 65, 129, 3, 0, 1, 1, 0, 0},     {1, 130, 7, 2, 0, 0, 1, 0, 2.0f},  {1, 4099, 4099, 2, 0, 0, 1, 0, 0},
        {1, 300, 1000, 2, 0, 129, 1, 0, 0}, {3, 257, 385, 2, 0, 0, 1, 0, 0},
    };
    static const rl_dtype outs[] = {RL_BF16, RL_F32};
    /* the automatic choice (NULL) is the wgmma kernel's default on Hopper */
    static const att_path d128[] = {{NULL, "wgmma("},    {"wgmma:2", "wgmma("}, {"wgmma:3", "wgmma("},
                                    {"wgmma:4", "wgmma("}, {"wgmma:5", "wgmma("}, {"wgmma:6", "wgmma("}};
    static const att_path d64[] = {{NULL, "wgmma("}, {"wgmma:2", "wgmma("}, {"wgmma:3", "wgmma("}};
    int hopper = 0;
#ifdef RL_HAVE_CUDA
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) == cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0) == cudaSuccess)
        hopper = major == 9 && minor == 0;
#endif
    if (!hopper) { /* the refusal must be a sentence (a FAIL line here), never a crash */
        static const att_path forced[] = {{"wgmma", "wgmma("}};
        att_case c = cases[1];
        c.d = 128;
        run_case(c, RL_BF16, outs, 1, forced, 1, 2e-2, 2e-2);
        return;
    }
    for (int d = 128; d >= 64; d -= 64)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            att_case c = cases[i];
            c.d = d;
            int np = c.Lq * c.Lk > 2000000 ? 1 : d == 128 ? 6 : 3;
            run_case(c, RL_BF16, outs, 2, d == 128 ? d128 : d64, np, 2e-2, 2e-2);
        }
}

static void test_gemm_path(void) {
    static const rl_dtype f32o[] = {RL_F32}, bf16o[] = {RL_BF16}, both[] = {RL_BF16, RL_F32};
    static const att_path autop[] = {{NULL, "gemm("}}, forced[] = {{"gemm", "gemm("}};
    static const att_case f32cases[] = {
        {1, 1, 1, 1, 384, 0, 1, 0, 0},        {1, 2000, 2000, 1, 384, 0, 1, 0, 0}, {1, 777, 1500, 1, 384, 1200, 1, 0, 0},
        {2, 100, 150, 2, 384, 0, 1, 0, 0},    {1, 50, 70, 2, 300, 0, 1, 1, 0},      {1, 33, 40, 1, 260, 5, 1, 1, 1.0f},
    };
    for (size_t i = 0; i < sizeof f32cases / sizeof f32cases[0]; i++) run_case(f32cases[i], RL_F32, f32o, 1, autop, 1, 1e-2, 1e-4);
    att_case big = {1, 1000, 1200, 1, 384, 0, 1, 0, 0};
    run_case(big, RL_F32, bf16o, 1, autop, 1, 1e-2, 1e-4);   /* f32 inputs into a bf16 out (staged) */
    run_case(big, RL_BF16, both, 2, autop, 1, 2e-2, 2e-2);   /* bf16 GEMMs, bf16 probabilities */
    att_case d128 = {2, 300, 257, 3, 128, 250, 1, 0, 0};
    run_case(d128, RL_F32, f32o, 1, forced, 1, 1e-2, 1e-4);  /* forced at a small head dim */
    att_case bias = {2, 77, 77, 3, 64, 50, 1, 1, 0};
    run_case(bias, RL_F32, f32o, 1, forced, 1, 1e-2, 1e-4);
}

/* The choice of path: bias, f32, odd head dims and misalignment keep the fp32 kernel. */
static void test_dispatch(void) {
    static const att_path flash[] = {{NULL, "flash("}};
    static const rl_dtype bf16o[] = {RL_BF16};
    att_case withbias = {1, 40, 50, 2, 128, 0, 1, 1, 0}, d96 = {1, 40, 50, 2, 96, 0, 1, 0, 0};
    run_case(withbias, RL_BF16, bf16o, 1, flash, 1, 2e-2, 2e-2);
    run_case(d96, RL_BF16, bf16o, 1, flash, 1, 2e-2, 2e-2);
    att_case f32in = {1, 40, 50, 2, 128, 0, 1, 0, 0};
    static const rl_dtype f32o[] = {RL_F32};
    run_case(f32in, RL_F32, f32o, 1, flash, 1, 2e-2, 1e-5);
    /* a bad RL_CUDA_ATTENTION is a sentence, not a crash */
    int64_t s[4] = {1, 16, 1, 64};
    dev_failed = 0;
    rl_tensor t = dtensor(NULL, RL_BF16, 4, s);
    force_path("fastest");
    int rc = dev_failed ? 0 : gpu->attention(gpu, &t, &t, &t, &t, 0, NULL, 0.125f, NULL);
    force_path(NULL);
    EXPECT(rc != 0 && strstr(rl_error_message(), "RL_CUDA_ATTENTION"), "RL_CUDA_ATTENTION=fastest: got '%s'",
           rc ? rl_error_message() : "success");
    dfree(&t);
}

/* ---------------------------------------------------------------- benchmark */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean seconds per call (one warm-up; then until 0.5 s or 20 calls), or < 0. */
static double time_attention(rl_tensor *o, rl_tensor *q, rl_tensor *k, rl_tensor *v, float scale, int max_reps) {
    if (gpu->attention(gpu, o, q, k, v, 0, NULL, scale, NULL) != 0 || gpu->synchronize(gpu) != 0) return -1;
    int reps = 0;
    double t0 = now_s(), t = 0;
    while (reps < max_reps && (t = now_s() - t0) < 0.5) {
        if (gpu->attention(gpu, o, q, k, v, 0, NULL, scale, NULL) != 0 || gpu->synchronize(gpu) != 0) return -1;
        reps++;
    }
    t = now_s() - t0;
    return reps ? t / reps : -1;
}

/* The output of forced path `p` (NULL: the default) over o, against ref (flash's). */
static void check_full_size(const char *shape, const char *p, rl_tensor *o, rl_tensor *q, rl_tensor *k, rl_tensor *v,
                            float scale, const float *ref) {
    char pname[96], name[300];
    force_path(p);
    path_of(pname, sizeof pname, o, q, k, v, 0, NULL, scale, NULL);
    int rc = gpu->attention(gpu, o, q, k, v, 0, NULL, scale, NULL);
    if (rc == 0) rc = gpu->synchronize(gpu);
    force_path(NULL);
    snprintf(name, sizeof name, "attention %s kernel=%s%s%s vs flash(fp32) at full size", shape, pname,
             p ? " forced=" : "", p ? p : "");
    if (rc != 0) {
        CASE(name, 0, "a run failed: %s", rl_error_message());
        return;
    }
    float *got = dread(o);
    verdict(name, got, ref, (size_t)rl_tensor_numel(o), 2e-2);
    free(got);
}

static void bench_shape(int64_t L, int64_t H, int64_t d, rl_dtype dt, const char *const *paths, int npaths,
                        int check_vs_flash) {
    int64_t s[4] = {1, L, H, d};
    dev_failed = 0;
    rl_tensor q = dtensor(NULL, dt, 4, s), k = dtensor(NULL, dt, 4, s), v = dtensor(NULL, dt, 4, s);
    rl_tensor o = dtensor(NULL, dt, 4, s), o2 = check_vs_flash ? dtensor(NULL, dt, 4, s) : (rl_tensor){0};
    char shape[96];
    snprintf(shape, sizeof shape, "[1, %lld, %lld, %lld] %s", (long long)L, (long long)H, (long long)d, rl_dtype_name(dt));
    if (dev_failed || gpu->fill_normal(gpu, &q, 1, 0.0f, 1.0f) || gpu->fill_normal(gpu, &k, 2, 0.0f, 1.0f) ||
        gpu->fill_normal(gpu, &v, 3, 0.0f, 1.0f)) {
        printf("FAIL: bench attention %s: inputs could not be made: %s\n", shape, rl_error_message());
        tl_total_failed++;
        goto done;
    }
    const float scale = 1.0f / sqrtf((float)d);
    const double flops = 4.0 * (double)L * (double)L * (double)d * (double)H;
    for (int i = 0; i < npaths; i++) {
        char pname[96];
        force_path(paths[i]);
        path_of(pname, sizeof pname, &o, &q, &k, &v, 0, NULL, scale, NULL);
        if (paths[i] && !strncmp(paths[i], "mma:", 4) && strncmp(pname, "mma(", 4) != 0) continue; /* no such variant */
        if (paths[i] && !strncmp(paths[i], "wgmma:", 6) && strncmp(pname, "wgmma(", 6) != 0) continue;
        double t = time_attention(&o, &q, &k, &v, scale, !strcmp(paths[i] ? paths[i] : "", "flash") ? 1 : 20);
        if (t < 0) {
            printf("FAIL: bench attention %s kernel=%s: %s\n", shape, pname, rl_error_message());
            tl_total_failed++;
            continue;
        }
        printf("BENCH attention %s kernel=%s%s%s: %.3f ms, %.1f TFLOP/s\n", shape, pname, paths[i] ? " forced=" : "",
               paths[i] ? paths[i] : "", t * 1e3, flops / t * 1e-12);
        fflush(stdout);
    }
    if (check_vs_flash) { /* the default and the wgmma kernels against the fp32 one, at full size */
        force_path("flash");
        int rc = gpu->attention(gpu, &o2, &q, &k, &v, 0, NULL, scale, NULL);
        if (rc == 0) rc = gpu->synchronize(gpu);
        force_path(NULL);
        if (rc != 0) {
            printf("FAIL: attention %s flash(fp32) reference: %s\n", shape, rl_error_message());
            tl_total_failed++;
        } else {
            float *ref = dread(&o2);
            check_full_size(shape, NULL, &o, &q, &k, &v, scale, ref);
            check_full_size(shape, "mma", &o, &q, &k, &v, scale, ref);
            check_full_size(shape, "wgmma:2", &o, &q, &k, &v, scale, ref); /* warp-specialised, no ping-pong */
            check_full_size(shape, "wgmma:3", &o, &q, &k, &v, scale, ref); /* ping-pong, 2 stages */
            check_full_size(shape, "wgmma:4", &o, &q, &k, &v, scale, ref); /* all threads load */
            free(ref);
        }
    }
done:
    force_path(NULL);
    dfree(&q), dfree(&k), dfree(&v), dfree(&o), dfree(&o2);
}

static void bench(void) {
    static const char *const d128[] = {NULL,      "mma",     "mma:2",   "mma:3",   "mma:4",
                                       "wgmma:2", "wgmma:3", "wgmma:4", "wgmma:5", "wgmma:6", "flash"};
    static const char *const gemm[] = {NULL};
    bench_shape(14040, 40, 128, RL_BF16, d128, 11, 1);
    bench_shape(32760, 40, 128, RL_BF16, d128, 10, 0); /* all but flash */
    bench_shape(32760, 12, 128, RL_BF16, d128, 10, 0);
    bench_shape(14040, 12, 64, RL_BF16,
                (const char *const[]){NULL, "mma", "mma:2", "mma:3", "mma:4", "wgmma:2", "wgmma:3"}, 7, 0);
    bench_shape(6240, 1, 384, RL_F32, gemm, 1, 0);  /* the Wan VAE's middle attention at 480p */
    bench_shape(14400, 1, 384, RL_F32, gemm, 1, 0); /* ... and at 720p */
}

int main(void) {
    setenv("RL_CUDA_SYNC", "1", 0); /* a faulting kernel is then reported by its own op */
    cpu = rl_backend_cpu();
    gpu = rl_backend_cuda(0);
    if (!gpu) {
        printf("FAIL: test_gpu_attention needs a usable GPU: %s\n", rl_error_message());
        return 1;
    }
    tl_seed(20250101);
    RUN(test_dispatch);
    test_mma();
    test_wgmma();
    test_gemm_path();
    const char *b = getenv("RL_TEST_ATT_BENCH");
    if (!b || strcmp(b, "0") != 0) bench(); /* each timed call is synchronised anyway, so RL_CUDA_SYNC costs nothing */
    TL_EXIT();
}
