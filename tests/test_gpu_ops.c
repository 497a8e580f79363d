/* test_gpu_ops.c: every op of the CUDA backend against the CPU backend (the fp32
 * oracle) on fresh random inputs, at several shapes including odd ones.
 *
 * Runs only under `make test-gpu` (tests/run.sh skips test_gpu_* otherwise). For
 * each case both sides see the same values: inputs meant for a bf16 GPU tensor are
 * rounded to bf16 on the host first, and the CPU computes in f32 on those. Each
 * case prints one PASS/FAIL line naming the op and all its parameters, with the
 * relative error max|got-ref| / max|ref|; non-finite outputs (where the reference is
 * finite) fail first, naming the index. Tolerances by output dtype: f32 1e-5 (1e-4
 * when inputs are bf16), bf16 1e-2 (attention 2e-2); the fused norm ops round the
 * norm to x's dtype, so theirs is the coarser of x's and y's (f16 4e-3). cast and
 * copy must be bit-exact. RL_CUDA_SYNC=1 is set so a faulting kernel is reported by its own op.
 * Without a usable GPU the program prints one FAIL line saying so.
 */
#include "testlib.h"

#ifdef RL_HAVE_CUDA
#include "backend/backend_cuda.h" /* test_conv3d_tf32 turns TF32 on for its cases */
#endif

#include <stdarg.h>

static rl_backend *cpu, *gpu;

#define I(x) ((int64_t)(x))
#define TOL_F32 1e-5
#define TOL_F32_BF16_IN 1e-4
#define TOL_BF16 1e-2
#define TOL_BF16_ATT 2e-2
#define TOL_F32_ATT_BF16_P 4e-3

static const char *dn(rl_dtype t) { return rl_dtype_name(t); }

/* ---------------------------------------------------------------- host helpers */

static void round_to(float *x, size_t n, rl_dtype dt) {
    if (dt == RL_BF16)
        for (size_t i = 0; i < n; i++) x[i] = rl_bf16_to_f32(rl_f32_to_bf16(x[i]));
    if (dt == RL_F16)
        for (size_t i = 0; i < n; i++) x[i] = rl_f16_to_f32(rl_f32_to_f16(x[i]));
}

/* randn * scale + offset, rounded to what a dt tensor can hold. */
static float *hrand(size_t n, float scale, float offset, rl_dtype dt) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = tl_randn() * scale + offset;
    round_to(p, n, dt);
    return p;
}
static float *hzeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static rl_tensor htensor(float *p, int nd, const int64_t *shape) {
    return rl_tensor_make(p, RL_F32, RL_DEVICE_CPU, nd, shape);
}

/* ---------------------------------------------------------------- device helpers */

static int dev_failed; /* set when an allocation or transfer failed: the case fails */

/* A device tensor of dtype dt holding host f32 values (converted), or zeros. */
static rl_tensor dtensor(const float *host, rl_dtype dt, int nd, const int64_t *shape) {
    rl_tensor t = rl_tensor_make(NULL, dt, RL_DEVICE_CUDA, nd, shape);
    size_t n = (size_t)rl_tensor_numel(&t), bytes = rl_tensor_nbytes(&t);
    t.data = gpu->alloc(gpu, bytes);
    if (!t.data) {
        printf("  allocation of %zu bytes failed: %s\n", bytes, rl_error_message());
        dev_failed = 1;
        return t;
    }
    void *stage = calloc(bytes ? bytes : 1, 1);
    if (host) rl_convert(stage, dt, host, RL_F32, n);
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

/* The device tensor's values as f32 (caller frees). */
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

/* ---------------------------------------------------------------- verdicts */

static void vname(char *buf, size_t n, const char *fmt, va_list ap) { vsnprintf(buf, n, fmt, ap); }

/* An op's return codes; prints a FAIL line and returns 0 when either side failed. */
static int ops_ok(int rc_gpu, int rc_cpu, const char *name) {
    if (rc_gpu == 0) rc_gpu = gpu->synchronize(gpu);
    if (rc_cpu != 0) {
        CASE(name, 0, "the CPU oracle failed: %s", rl_error_message());
        return 0;
    }
    if (rc_gpu != 0 || dev_failed) {
        CASE(name, 0, "the CUDA op failed: %s", dev_failed ? "(device memory, see above)" : rl_error_message());
        return 0;
    }
    return 1;
}

/* got vs ref: non-finite values first, then the relative error against tol. */
static void compare(const float *got, const float *ref, size_t n, double tol, const char *fmt, ...) {
    char name[400], full[480];
    va_list ap;
    va_start(ap, fmt);
    vname(name, sizeof name, fmt, ap);
    va_end(ap);
    if (dev_failed) {
        CASE(name, 0, "device memory or transfer failed (see above)");
        return;
    }
    double maxdiff = 0, maxref = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        int same_special = (isnan(ref[i]) && isnan(got[i])) || (isinf(ref[i]) && got[i] == ref[i]);
        if (same_special) continue;
        if (!isfinite(got[i]) || !isfinite(ref[i])) {
            CASE(name, 0, "non-finite mismatch at index %zu: got %g, reference %g", i, got[i], ref[i]);
            return;
        }
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > maxdiff) maxdiff = d, worst = i;
        if (fabs((double)ref[i]) > maxref) maxref = fabs((double)ref[i]);
    }
    double e = maxref > 0 ? maxdiff / maxref : maxdiff;
    snprintf(full, sizeof full, "%s rel_err=%.2e", name, e);
    CASE(full, e <= tol, "relative error %.3e exceeds %.0e; worst at index %zu: got %.8g, reference %.8g (of %zu)", e,
         tol, worst, n ? got[worst] : 0.0f, n ? ref[worst] : 0.0f, n);
}

static double tol_for(rl_dtype out, int bf16_in, double bf16_tol) {
    if (out == RL_BF16) return bf16_tol;
    return bf16_in ? TOL_F32_BF16_IN : TOL_F32;
}

/* ---------------------------------------------------------------- matmul */

typedef struct {
    rl_dtype x, w, y, b;
} mm_types;

static void matmul_case(int64_t M, int64_t N, int64_t K, mm_types t, int bias, rl_activation act, int lead3,
                        int misalign) {
    dev_failed = 0;
    float *x = hrand((size_t)(M * K), 1.0f, 0.0f, t.x), *w = hrand((size_t)(N * K), 1.0f / sqrtf((float)(K ? K : 1)), 0.0f, t.w);
    float *b = bias ? hrand((size_t)N, 0.5f, 0.0f, t.b) : NULL, *ref = hzeros((size_t)(M * N));
    int nd = lead3 && M % 2 == 0 ? 3 : 2;
    int64_t xs[3] = {M, K}, ys[3] = {M, N}, ws[2] = {N, K}, bs[1] = {N};
    if (nd == 3) xs[0] = ys[0] = 2, xs[1] = M / 2, xs[2] = K, ys[1] = M / 2, ys[2] = N;
    rl_tensor hx = htensor(x, nd, xs), hw = htensor(w, 2, ws), hb = htensor(b, 1, bs), hy = htensor(ref, nd, ys);
    int rc_cpu = cpu->matmul(cpu, &hy, &hx, &hw, bias ? &hb : NULL, act);
    /* misalign: x starts one row into a larger buffer, so its address is only
     * K * elemsize aligned (exercises cuBLASLt's alignment preferences). */
    int64_t xbig[2] = {M + 1, K};
    float *xpad = NULL;
    rl_tensor dxbig = {0}, dx;
    if (misalign) {
        xpad = hzeros((size_t)((M + 1) * K));
        memcpy(xpad + K, x, (size_t)(M * K) * sizeof(float));
        dxbig = dtensor(xpad, t.x, 2, xbig);
        dx = rl_tensor_make((char *)dxbig.data + (size_t)K * rl_dtype_size(t.x), t.x, RL_DEVICE_CUDA, nd, xs);
    } else {
        dx = dtensor(x, t.x, nd, xs);
    }
    rl_tensor dw = dtensor(w, t.w, 2, ws), db = bias ? dtensor(b, t.b, 1, bs) : (rl_tensor){0};
    rl_tensor dy = dtensor(NULL, t.y, nd, ys);
    int rc = dev_failed ? -1 : gpu->matmul(gpu, &dy, &dx, &dw, bias ? &db : NULL, act);
    char name[300];
    snprintf(name, sizeof name, "matmul M=%lld N=%lld K=%lld x=%s%s w=%s y=%s bias=%s act=%s%s", (long long)M,
             (long long)N, (long long)K, dn(t.x), nd == 3 ? "[2,M/2,K]" : "", dn(t.w), dn(t.y),
             bias ? dn(t.b) : "none", act == RL_ACT_GELU_TANH ? "gelu_tanh" : "none", misalign ? " x-misaligned" : "");
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        compare(got, ref, (size_t)(M * N), tol_for(t.y, t.x == RL_BF16 || t.w == RL_BF16 || (bias && t.b == RL_BF16), TOL_BF16), "%s", name);
        free(got);
    }
    if (misalign) dfree(&dxbig);
    else dfree(&dx);
    dfree(&dw), dfree(&db), dfree(&dy);
    free(x), free(w), free(b), free(ref), free(xpad);
}

static void test_matmul(void) {
    static const int64_t shapes[][3] = {{1, 1, 1},    {3, 17, 65},   {17, 65, 3},   {64, 300, 129},
                                        {257, 513, 70}, {6, 1000, 33}, {1030, 384, 256}, {3, 5, 0}};
    static const mm_types types[] = {
        {RL_F32, RL_F32, RL_F32, RL_F32},     {RL_BF16, RL_BF16, RL_BF16, RL_BF16}, {RL_BF16, RL_BF16, RL_F32, RL_F32},
        {RL_BF16, RL_BF16, RL_BF16, RL_F32},  {RL_BF16, RL_F32, RL_F32, RL_F32},    {RL_F32, RL_BF16, RL_BF16, RL_BF16},
        {RL_F32, RL_F32, RL_BF16, RL_F32},
    };
    int ntypes = (int)(sizeof types / sizeof types[0]);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < ntypes; t++)
            for (int v = 0; v < 3; v++) { /* no bias; bias; bias + GELU */
                int lead3 = (s + t + v) % 2, misalign = (s == 1 || s == 5) && v == 1;
                matmul_case(shapes[s][0], shapes[s][1], shapes[s][2], types[t], v >= 1,
                            v == 2 ? RL_ACT_GELU_TANH : RL_ACT_NONE, lead3, misalign);
            }
    /* GELU without bias */
    matmul_case(33, 100, 64, types[0], 0, RL_ACT_GELU_TANH, 0, 0);
    matmul_case(33, 100, 64, types[1], 0, RL_ACT_GELU_TANH, 0, 0);
}

/* ---------------------------------------------------------------- norms */

static void norm_case(int rms, int64_t R, int64_t D, rl_dtype xt, rl_dtype yt, rl_dtype wt, int affine,
                      int in_place) {
    dev_failed = 0;
    int64_t xs[2] = {R, D}, vs[1] = {D};
    float *x = hrand((size_t)(R * D), 2.0f, 3.0f, xt), *ref = hzeros((size_t)(R * D));
    float *w = affine >= 1 ? hrand((size_t)D, 1.0f, 1.0f, wt) : NULL;
    float *b = affine >= 2 && !rms ? hrand((size_t)D, 1.0f, 0.0f, wt) : NULL;
    const float eps = 1e-6f;
    rl_tensor hx = htensor(x, 2, xs), hy = htensor(ref, 2, xs), hw = htensor(w, 1, vs), hb = htensor(b, 1, vs);
    int rc_cpu = rms ? cpu->rms_norm(cpu, &hy, &hx, w ? &hw : NULL, eps)
                     : cpu->layer_norm(cpu, &hy, &hx, w ? &hw : NULL, b ? &hb : NULL, eps);
    if (in_place) yt = xt;
    rl_tensor dx = dtensor(x, xt, 2, xs), dy = in_place ? dx : dtensor(NULL, yt, 2, xs);
    rl_tensor dw = w ? dtensor(w, wt, 1, vs) : (rl_tensor){0}, db = b ? dtensor(b, wt, 1, vs) : (rl_tensor){0};
    int rc = dev_failed ? -1
             : rms    ? gpu->rms_norm(gpu, &dy, &dx, w ? &dw : NULL, eps)
                      : gpu->layer_norm(gpu, &dy, &dx, w ? &dw : NULL, b ? &db : NULL, eps);
    char name[300];
    snprintf(name, sizeof name, "%s rows=%lld D=%lld x=%s y=%s%s w=%s b=%s", rms ? "rms_norm" : "layer_norm",
             (long long)R, (long long)D, dn(xt), dn(yt), in_place ? " (in place)" : "", w ? dn(wt) : "none",
             b ? dn(wt) : "none");
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        compare(got, ref, (size_t)(R * D), tol_for(yt, xt == RL_BF16 || (w && wt == RL_BF16), TOL_BF16), "%s", name);
        free(got);
    }
    if (!in_place) dfree(&dy);
    dfree(&dx), dfree(&dw), dfree(&db);
    free(x), free(ref), free(w), free(b);
}

static void test_norms(void) {
    static const int64_t shapes[][2] = {{1, 1}, {3, 17}, {7, 1000}, {33, 1536}, {5, 5120}, {1, 3}, {2049, 64}};
    static const rl_dtype types[][3] = {{RL_F32, RL_F32, RL_F32},   {RL_BF16, RL_BF16, RL_BF16},
                                        {RL_F32, RL_BF16, RL_F32},  {RL_BF16, RL_F32, RL_BF16}};
    for (int rms = 0; rms < 2; rms++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++)
                for (int affine = 0; affine < 3; affine++)
                    norm_case(rms, shapes[s][0], shapes[s][1], types[t][0], types[t][1], types[t][2], affine, 0);
    norm_case(1, 40, 5120, RL_F32, RL_F32, RL_F32, 1, 1);
    norm_case(0, 40, 1536, RL_BF16, RL_BF16, RL_F32, 2, 1);
}

/* ---------------------------------------------------------------- elementwise */

enum { EW_ADD, EW_MUL, EW_SCALE, EW_MODULATE, EW_GATED_ADD, EW_SILU, EW_GELU_TANH, EW_GELU_ERF, EW_COUNT };
static const char *ew_names[EW_COUNT] = {"add", "mul", "scale", "modulate", "gated_add", "silu", "gelu_tanh", "gelu_erf"};

/* One elementwise op at x's shape; `row` makes the second operand a [1, D] row. */
static void ew_case(int kind, int nd, const int64_t *shape, rl_dtype xt, rl_dtype yt, rl_dtype ot, int row) {
    dev_failed = 0;
    rl_tensor probe = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, nd, shape);
    int64_t n = rl_tensor_numel(&probe), D = shape[nd - 1], rs[2] = {1, D};
    int64_t on = row ? D : n;
    int ond = row ? 2 : nd;
    const int64_t *os = row ? rs : shape;
    if (kind == EW_MODULATE || kind == EW_GATED_ADD) on = D, ond = 2, os = rs; /* always per-channel */
    float *x = hrand((size_t)n, 1.5f, 0.0f, xt), *o1 = hrand((size_t)on, 1.0f, 0.0f, ot);
    float *o2 = hrand((size_t)(kind == EW_GATED_ADD ? n : on), 0.5f, 0.0f, kind == EW_GATED_ADD ? yt : ot);
    float *ref = hzeros((size_t)n);
    const float s = 0.73f;
    if (kind == EW_GATED_ADD) { /* x is the in-place target: yt = x's dtype, ref starts as x */
        yt = xt;
        memcpy(ref, x, (size_t)n * sizeof(float));
    }
    rl_tensor hx = htensor(x, nd, shape), hy = htensor(ref, nd, shape), h1 = htensor(o1, ond, os);
    rl_tensor h2 = kind == EW_GATED_ADD ? htensor(o2, nd, shape) : htensor(o2, ond, os);
    rl_tensor dx = dtensor(x, xt, nd, shape), d1 = dtensor(o1, ot, ond, os);
    rl_tensor d2 = kind == EW_GATED_ADD ? dtensor(o2, xt == RL_BF16 ? RL_F32 : RL_BF16, nd, shape) : dtensor(o2, ot, ond, os);
    rl_tensor dy = kind == EW_GATED_ADD ? dx : dtensor(NULL, yt, nd, shape);
    if (kind == EW_GATED_ADD) round_to(o2, (size_t)n, d2.dtype); /* the GPU's y has d2's dtype */
    int rc_cpu = 0, rc = dev_failed ? -1 : 0;
    switch (kind) {
    case EW_ADD: rc_cpu = cpu->add(cpu, &hy, &hx, &h1); if (!rc) rc = gpu->add(gpu, &dy, &dx, &d1); break;
    case EW_MUL: rc_cpu = cpu->mul(cpu, &hy, &hx, &h1); if (!rc) rc = gpu->mul(gpu, &dy, &dx, &d1); break;
    case EW_SCALE: rc_cpu = cpu->scale(cpu, &hy, &hx, s); if (!rc) rc = gpu->scale(gpu, &dy, &dx, s); break;
    case EW_MODULATE:
        rc_cpu = cpu->modulate(cpu, &hy, &hx, &h1, &h2);
        if (!rc) rc = gpu->modulate(gpu, &dy, &dx, &d1, &d2);
        break;
    case EW_GATED_ADD:
        rc_cpu = cpu->gated_add(cpu, &hy, &h2, &h1);
        if (!rc) rc = gpu->gated_add(gpu, &dx, &d2, &d1);
        break;
    case EW_SILU: rc_cpu = cpu->silu(cpu, &hy, &hx); if (!rc) rc = gpu->silu(gpu, &dy, &dx); break;
    case EW_GELU_TANH: rc_cpu = cpu->gelu_tanh(cpu, &hy, &hx); if (!rc) rc = gpu->gelu_tanh(gpu, &dy, &dx); break;
    default: rc_cpu = cpu->gelu_erf(cpu, &hy, &hx); if (!rc) rc = gpu->gelu_erf(gpu, &dy, &dx); break;
    }
    char name[300], sh[96];
    snprintf(name, sizeof name, "%s x=%s%s y=%s other=%s%s", ew_names[kind], rl_shape_str(&hx, sh, sizeof sh), dn(xt),
             dn(yt), kind == EW_GATED_ADD ? dn(d2.dtype) : dn(ot), row ? " (row broadcast)" : "");
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        int bf16_in = xt == RL_BF16 || ot == RL_BF16 || d2.dtype == RL_BF16;
        compare(got, ref, (size_t)n, tol_for(yt, bf16_in, TOL_BF16), "%s", name);
        free(got);
    }
    if (kind != EW_GATED_ADD) dfree(&dy);
    dfree(&dx), dfree(&d1), dfree(&d2);
    free(x), free(o1), free(o2), free(ref);
}

static void test_elementwise(void) {
    static const int64_t s1[] = {1}, s2[] = {3, 17}, s3[] = {5, 1001}, s4[] = {2, 77, 1536};
    static const int64_t *shapes[] = {s1, s2, s3, s4};
    static const int nds[] = {1, 2, 2, 3};
    static const rl_dtype types[][3] = {{RL_F32, RL_F32, RL_F32}, {RL_BF16, RL_BF16, RL_BF16},
                                        {RL_BF16, RL_F32, RL_F32}, {RL_F32, RL_BF16, RL_BF16}};
    for (int k = 0; k < EW_COUNT; k++)
        for (int s = 0; s < 4; s++)
            for (int t = 0; t < 4; t++) {
                ew_case(k, nds[s], shapes[s], types[t][0], types[t][1], types[t][2], 0);
                if (k == EW_ADD || k == EW_MUL)
                    ew_case(k, nds[s], shapes[s], types[t][0], types[t][1], types[t][2], 1);
            }
}

/* ---------------------------------------------------------------- rope */

static void rope_case(int64_t B, int64_t L, int64_t H, int64_t d, rl_dtype xt, rl_dtype yt, int in_place) {
    dev_failed = 0;
    int nd = B ? 4 : 3;
    int64_t xs4[4] = {B, L, H, d}, xs3[3] = {L, H, d}, cs[2] = {L, d / 2};
    const int64_t *xs = B ? xs4 : xs3;
    int64_t n = (B ? B : 1) * L * H * d;
    float *x = hrand((size_t)n, 1.0f, 0.0f, xt), *ref = hzeros((size_t)n);
    float *c = malloc((size_t)(L * d / 2 + 1) * sizeof(float)), *s = malloc((size_t)(L * d / 2 + 1) * sizeof(float));
    for (int64_t i = 0; i < L * d / 2; i++) {
        double a = (tl_uniform() - 0.5) * 200.0;
        c[i] = (float)cos(a), s[i] = (float)sin(a);
    }
    if (in_place) yt = xt;
    rl_tensor hx = htensor(x, nd, xs), hy = htensor(ref, nd, xs), hc = htensor(c, 2, cs), hs = htensor(s, 2, cs);
    int rc_cpu = cpu->rope(cpu, &hy, &hx, &hc, &hs);
    rl_tensor dx = dtensor(x, xt, nd, xs), dy = in_place ? dx : dtensor(NULL, yt, nd, xs);
    rl_tensor dc = dtensor(c, RL_F32, 2, cs), ds = dtensor(s, RL_F32, 2, cs);
    int rc = dev_failed ? -1 : gpu->rope(gpu, &dy, &dx, &dc, &ds);
    char name[300], sh[96];
    snprintf(name, sizeof name, "rope x=%s%s y=%s%s cos/sin=f32[%lld, %lld]", rl_shape_str(&hx, sh, sizeof sh), dn(xt),
             dn(yt), in_place ? " (in place)" : "", (long long)L, (long long)(d / 2));
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        compare(got, ref, (size_t)n, tol_for(yt, xt == RL_BF16, TOL_BF16), "%s", name);
        free(got);
    }
    if (!in_place) dfree(&dy);
    dfree(&dx), dfree(&dc), dfree(&ds);
    free(x), free(ref), free(c), free(s);
}

static void test_rope(void) {
    static const int64_t shapes[][4] = {{0, 1, 1, 2}, {0, 17, 3, 128}, {2, 33, 4, 64}, {1, 1000, 2, 128}, {0, 5, 3, 6}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t *s = shapes[i];
        rope_case(s[0], s[1], s[2], s[3], RL_F32, RL_F32, 0);
        rope_case(s[0], s[1], s[2], s[3], RL_BF16, RL_BF16, 0);
        rope_case(s[0], s[1], s[2], s[3], RL_F32, RL_BF16, 0);
        rope_case(s[0], s[1], s[2], s[3], RL_BF16, RL_F32, i % 2);
    }
}

/* ---------------------------------------------------------------- fused norm ops */

#define TOL_F16 4e-3

/* The fused ops round the norm's output to x's dtype: where CPU (double) and GPU
 * (fp32) statistics put a value on either side of a rounding edge, one element
 * differs by an ulp of x's dtype, so the tolerance is the coarser of x's and y's. */
static double tol_fused(rl_dtype xt, rl_dtype yt, int other16) {
    double t = yt == RL_BF16 ? TOL_BF16 : yt == RL_F16 ? TOL_F16 : (other16 ? TOL_F32_BF16_IN : TOL_F32);
    double tx = xt == RL_BF16 ? TOL_BF16 : xt == RL_F16 ? TOL_F16 : 0.0;
    return tx > t ? tx : t;
}

/* A device copy of host values that starts one element into its buffer (so only
 * element-aligned: the kernels' scalar paths); *base is the buffer to free. */
static rl_tensor dtensor_offset(const float *host, rl_dtype dt, int nd, const int64_t *shape, rl_tensor *base) {
    rl_tensor probe = rl_tensor_make(NULL, dt, RL_DEVICE_CPU, nd, shape);
    int64_t n = rl_tensor_numel(&probe), bs[1] = {n + 1};
    float *pad = hzeros((size_t)n + 1);
    memcpy(pad + 1, host, (size_t)n * sizeof(float));
    *base = dtensor(pad, dt, 1, bs);
    free(pad);
    return rl_tensor_make(base->data ? (char *)base->data + rl_dtype_size(dt) : NULL, dt, RL_DEVICE_CUDA, nd, shape);
}

/* layer_norm_modulate vs the CPU: LN (no affine) rounded to x's dtype, then modulate. */
static void lnm_case(int64_t R, int64_t D, rl_dtype xt, rl_dtype yt, rl_dtype vt, int mode) {
    dev_failed = 0;
    int in_place = mode == 1, misalign = mode == 2;
    int64_t xs[2] = {R, D}, vs[1] = {D};
    float *x = hrand((size_t)(R * D), 2.0f, 3.0f, xt), *ref = hzeros((size_t)(R * D));
    float *sh = hrand((size_t)D, 1.0f, 0.0f, vt), *sc = hrand((size_t)D, 0.5f, 0.0f, vt);
    const float eps = 1e-6f;
    rl_tensor hx = htensor(x, 2, xs), hy = htensor(ref, 2, xs), hsh = htensor(sh, 1, vs), hsc = htensor(sc, 1, vs);
    int rc_cpu;
    if (xt == RL_F32) {
        rc_cpu = cpu->layer_norm_modulate(cpu, &hy, &hx, &hsh, &hsc, eps);
    } else {
        rc_cpu = cpu->layer_norm(cpu, &hy, &hx, NULL, NULL, eps);
        round_to(ref, (size_t)(R * D), xt);
        if (rc_cpu == 0) rc_cpu = cpu->modulate(cpu, &hy, &hy, &hsh, &hsc);
    }
    if (in_place) yt = xt;
    rl_tensor xbase = {0}, ybase = {0};
    rl_tensor dx = misalign ? dtensor_offset(x, xt, 2, xs, &xbase) : dtensor(x, xt, 2, xs);
    float *zeros = hzeros((size_t)(R * D));
    rl_tensor dy = in_place ? dx : misalign ? dtensor_offset(zeros, yt, 2, xs, &ybase) : dtensor(NULL, yt, 2, xs);
    free(zeros);
    rl_tensor dsh = dtensor(sh, vt, 1, vs), dsc = dtensor(sc, vt, 1, vs);
    int rc = dev_failed ? -1 : gpu->layer_norm_modulate(gpu, &dy, &dx, &dsh, &dsc, eps);
    char name[300];
    snprintf(name, sizeof name, "layer_norm_modulate rows=%lld D=%lld x=%s y=%s%s shift,scale=%s", (long long)R,
             (long long)D, dn(xt), dn(yt), in_place ? " (in place)" : misalign ? " (element-aligned)" : "", dn(vt));
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        compare(got, ref, (size_t)(R * D), tol_fused(xt, yt, vt != RL_F32), "%s", name);
        free(got);
    }
    if (misalign) dfree(&xbase), dfree(&ybase);
    else {
        if (!in_place) dfree(&dy);
        dfree(&dx);
    }
    dfree(&dsh), dfree(&dsc);
    free(x), free(ref), free(sh), free(sc);
}

static void test_layer_norm_modulate(void) {
    static const int64_t shapes[][2] = {{1, 1}, {3, 17}, {4, 8}, {7, 1000}, {33, 1536}, {5, 5120},
                                        {2, 5121}, {2049, 64}, {3, 20000}};
    static const rl_dtype types[][3] = {{RL_F32, RL_F32, RL_F32}, {RL_F32, RL_BF16, RL_F32}, {RL_BF16, RL_BF16, RL_BF16},
                                        {RL_BF16, RL_F32, RL_F32}, {RL_F16, RL_F16, RL_F32}, {RL_F32, RL_F16, RL_BF16}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 6; t++) lnm_case(shapes[s][0], shapes[s][1], types[t][0], types[t][1], types[t][2], 0);
    lnm_case(40, 5120, RL_F32, RL_F32, RL_F32, 1);
    lnm_case(9, 1536, RL_BF16, RL_BF16, RL_F32, 1);
    lnm_case(6, 1536, RL_F32, RL_BF16, RL_F32, 2);
    lnm_case(6, 64, RL_BF16, RL_BF16, RL_F32, 2);
}

/* rms_norm_rope vs the CPU: for f32 x the CPU's own op; for 16-bit x the chain
 * rms_norm, rounding to x's dtype, times w (mul), rope. */
static void rnr_case(int64_t B, int64_t L, int64_t H, int64_t d, rl_dtype xt, rl_dtype yt, rl_dtype wt, int weighted,
                     int mode) {
    dev_failed = 0;
    int in_place = mode == 1, misalign = mode == 2, nd = B ? 4 : 3;
    int64_t Bn = B ? B : 1, D = H * d, n = Bn * L * D;
    int64_t xs4[4] = {B, L, H, d}, xs3[3] = {L, H, d}, rs[2] = {Bn * L, D}, cs[2] = {L, d / 2}, ws[1] = {D};
    const int64_t *xs = B ? xs4 : xs3;
    float *x = hrand((size_t)n, 2.0f, 0.0f, xt), *ref = hzeros((size_t)n), *w = hrand((size_t)D, 0.3f, 1.0f, wt);
    float *c = malloc((size_t)(L * d / 2 + 1) * sizeof(float)), *s = malloc((size_t)(L * d / 2 + 1) * sizeof(float));
    for (int64_t i = 0; i < L * d / 2; i++) {
        double a = (tl_uniform() - 0.5) * 200.0;
        c[i] = (float)cos(a), s[i] = (float)sin(a);
    }
    const float eps = 1e-6f;
    rl_tensor hx = htensor(x, nd, xs), hy = htensor(ref, nd, xs), hw = htensor(w, 1, ws);
    rl_tensor hc = htensor(c, 2, cs), hs = htensor(s, 2, cs);
    int rc_cpu;
    if (xt == RL_F32) {
        rc_cpu = cpu->rms_norm_rope(cpu, &hy, &hx, weighted ? &hw : NULL, &hc, &hs, eps);
    } else {
        rl_tensor hx2 = htensor(x, 2, rs), hy2 = htensor(ref, 2, rs);
        rc_cpu = cpu->rms_norm(cpu, &hy2, &hx2, NULL, eps);
        round_to(ref, (size_t)n, xt);
        if (rc_cpu == 0 && weighted) rc_cpu = cpu->mul(cpu, &hy2, &hy2, &hw);
        if (rc_cpu == 0) rc_cpu = cpu->rope(cpu, &hy, &hy, &hc, &hs);
    }
    if (in_place) yt = xt;
    rl_tensor xbase = {0}, ybase = {0};
    rl_tensor dx = misalign ? dtensor_offset(x, xt, nd, xs, &xbase) : dtensor(x, xt, nd, xs);
    float *zeros = hzeros((size_t)n);
    rl_tensor dy = in_place ? dx : misalign ? dtensor_offset(zeros, yt, nd, xs, &ybase) : dtensor(NULL, yt, nd, xs);
    free(zeros);
    rl_tensor dw = weighted ? dtensor(w, wt, 1, ws) : (rl_tensor){0};
    rl_tensor dc = dtensor(c, RL_F32, 2, cs), ds = dtensor(s, RL_F32, 2, cs);
    int rc = dev_failed ? -1 : gpu->rms_norm_rope(gpu, &dy, &dx, weighted ? &dw : NULL, &dc, &ds, eps);
    char name[300], sh[96];
    snprintf(name, sizeof name, "rms_norm_rope x=%s%s y=%s%s w=%s cos/sin=f32[%lld, %lld]",
             rl_shape_str(&hx, sh, sizeof sh), dn(xt), dn(yt),
             in_place ? " (in place)" : misalign ? " (element-aligned)" : "", weighted ? dn(wt) : "none", (long long)L,
             (long long)(d / 2));
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        compare(got, ref, (size_t)n, tol_fused(xt, yt, weighted && wt != RL_F32), "%s", name);
        free(got);
    }
    if (misalign) dfree(&xbase), dfree(&ybase);
    else {
        if (!in_place) dfree(&dy);
        dfree(&dx);
    }
    dfree(&dw), dfree(&dc), dfree(&ds);
    free(x), free(ref), free(w), free(c), free(s);
}

/* The fused op against the unfused bf16 chain it replaces in the Wan block (which
 * rounds to bf16 after the norm's weight as well): equal within bf16's tolerance. */
static void rnr_vs_chain_case(int64_t L, int64_t H, int64_t d) {
    dev_failed = 0;
    int64_t D = H * d, n = L * D, xs[3] = {L, H, d}, rs[2] = {L, D}, cs[2] = {L, d / 2}, ws[1] = {D};
    float *x = hrand((size_t)n, 2.0f, 0.0f, RL_BF16), *w = hrand((size_t)D, 0.3f, 1.0f, RL_F32);
    float *c = malloc((size_t)(L * d / 2) * sizeof(float)), *s = malloc((size_t)(L * d / 2) * sizeof(float));
    for (int64_t i = 0; i < L * d / 2; i++) {
        double a = (tl_uniform() - 0.5) * 200.0;
        c[i] = (float)cos(a), s[i] = (float)sin(a);
    }
    rl_tensor dx = dtensor(x, RL_BF16, 3, xs), dt = dtensor(x, RL_BF16, 3, xs), dw = dtensor(w, RL_F32, 1, ws);
    rl_tensor dc = dtensor(c, RL_F32, 2, cs), ds = dtensor(s, RL_F32, 2, cs);
    rl_tensor dt2 = rl_tensor_reshape(&dt, 2, rs);
    int rc = dev_failed ? -1 : gpu->rms_norm_rope(gpu, &dx, &dx, &dw, &dc, &ds, 1e-6f);
    int rc2 = dev_failed ? -1 : gpu->rms_norm(gpu, &dt2, &dt2, &dw, 1e-6f);
    if (rc2 == 0) rc2 = gpu->rope(gpu, &dt, &dt, &dc, &ds);
    char name[200];
    snprintf(name, sizeof name, "rms_norm_rope bf16 [%lld, %lld, %lld] in place vs the rms_norm + rope bf16 chain",
             (long long)L, (long long)H, (long long)d);
    if (ops_ok(rc, rc2, name)) {
        float *got = dread(&dx), *chain = dread(&dt);
        compare(got, chain, (size_t)n, TOL_BF16, "%s", name);
        free(got), free(chain);
    }
    dfree(&dx), dfree(&dt), dfree(&dw), dfree(&dc), dfree(&ds);
    free(x), free(w), free(c), free(s);
}

static void test_rms_norm_rope(void) {
    static const int64_t shapes[][4] = {{0, 1, 1, 2},  {0, 17, 3, 128}, {2, 33, 4, 64},   {1, 1000, 2, 128},
                                        {0, 5, 3, 6},  {0, 9, 40, 128}, {0, 4, 12, 128},  {0, 3, 80, 128},
                                        {0, 2, 300, 128}, {0, 7, 5, 10}};
    static const rl_dtype types[][3] = {{RL_F32, RL_F32, RL_F32}, {RL_BF16, RL_BF16, RL_F32}, {RL_F32, RL_BF16, RL_F32},
                                        {RL_BF16, RL_F32, RL_BF16}, {RL_F16, RL_F16, RL_F32}, {RL_F16, RL_BF16, RL_F16}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = 0; t < 6; t++) {
            const int64_t *sh = shapes[i];
            rnr_case(sh[0], sh[1], sh[2], sh[3], types[t][0], types[t][1], types[t][2], (int)((i + t) % 4 != 0), 0);
        }
    rnr_case(1, 257, 12, 128, RL_BF16, RL_BF16, RL_F32, 1, 1); /* the model's call: bf16 q in place */
    rnr_case(0, 40, 40, 128, RL_F32, RL_F32, RL_F32, 1, 1);
    rnr_case(0, 6, 3, 6, RL_BF16, RL_BF16, RL_F32, 1, 2);
    rnr_case(0, 6, 12, 128, RL_F32, RL_BF16, RL_F32, 1, 2);
    rnr_vs_chain_case(257, 12, 128);
    rnr_vs_chain_case(33, 40, 128);
}

/* gated_add_layer_norm / add_layer_norm_modulate vs the CPU: the f32 residual x
 * after the add and h. mode: 0 gate + affine, 1 plain add and norm, 2 modulate,
 * 3 gate + modulate; misalign starts x one element into its buffer (the
 * re-reading kernel). */
static void rln_case(int64_t R, int64_t D, rl_dtype yt, rl_dtype ht, rl_dtype vt, int mode, int misalign) {
    dev_failed = 0;
    int modulate = mode >= 2, gated = mode == 0 || mode == 3, affine = mode == 0;
    int64_t xs[2] = {R, D}, vs[1] = {D};
    size_t n = (size_t)(R * D);
    float *x = hrand(n, 2.0f, 3.0f, RL_F32), *y = hrand(n, 1.0f, 0.0f, yt), *g = hrand((size_t)D, 1.0f, 0.0f, vt);
    float *va = hrand((size_t)D, 0.5f, modulate ? 0.0f : 1.0f, vt), *vb = hrand((size_t)D, 1.0f, 0.0f, vt);
    float *rx = malloc(n * sizeof(float) + 4), *rh = hzeros(n);
    memcpy(rx, x, n * sizeof(float));
    const float eps = 1e-6f;
    rl_tensor hx = htensor(rx, 2, xs), hy = htensor(y, 2, xs), hh = htensor(rh, 2, xs), hg = htensor(g, 1, vs);
    rl_tensor ha = htensor(va, 1, vs), hb = htensor(vb, 1, vs);
    const char *op = modulate ? "add_layer_norm_modulate" : "gated_add_layer_norm";
    int rc_cpu = modulate ? cpu->add_layer_norm_modulate(cpu, &hx, &hy, gated ? &hg : NULL, &hh, &hb, &ha, eps)
                          : cpu->gated_add_layer_norm(cpu, &hx, &hy, gated ? &hg : NULL, &hh, affine ? &ha : NULL,
                                                      affine ? &hb : NULL, eps);
    rl_tensor xbase = {0};
    rl_tensor dx = misalign ? dtensor_offset(x, RL_F32, 2, xs, &xbase) : dtensor(x, RL_F32, 2, xs);
    rl_tensor dy = dtensor(y, yt, 2, xs), dh = dtensor(NULL, ht, 2, xs);
    rl_tensor dg = dtensor(g, vt, 1, vs), da = dtensor(va, vt, 1, vs), db = dtensor(vb, vt, 1, vs);
    int rc = dev_failed ? -1
             : modulate ? gpu->add_layer_norm_modulate(gpu, &dx, &dy, gated ? &dg : NULL, &dh, &db, &da, eps)
                        : gpu->gated_add_layer_norm(gpu, &dx, &dy, gated ? &dg : NULL, &dh, affine ? &da : NULL,
                                                    affine ? &db : NULL, eps);
    char name[300];
    snprintf(name, sizeof name, "%s rows=%lld D=%lld x=f32%s y=%s h=%s gate=%s %s=%s", op, (long long)R, (long long)D,
             misalign ? " (element-aligned)" : "", dn(yt), dn(ht), gated ? dn(vt) : "none",
             modulate ? "shift,scale" : "w,b", modulate || affine ? dn(vt) : "none");
    if (ops_ok(rc, rc_cpu, name)) {
        float *gx = dread(&dx), *gh = dread(&dh);
        int other16 = yt != RL_F32 || vt != RL_F32;
        compare(gx, rx, n, other16 ? TOL_F32_BF16_IN : TOL_F32, "%s: x", name);
        compare(gh, rh, n, tol_fused(RL_F32, ht, other16), "%s: h", name);
        free(gx), free(gh);
    }
    if (misalign) dfree(&xbase);
    else dfree(&dx);
    dfree(&dy), dfree(&dh), dfree(&dg), dfree(&da), dfree(&db);
    free(x), free(y), free(g), free(va), free(vb), free(rx), free(rh);
}

static void test_residual_layer_norm(void) {
    static const int64_t shapes[][2] = {{1, 1}, {3, 17}, {4, 8}, {7, 1000}, {33, 1536}, {5, 5120}, {2, 5121},
                                        {2049, 64}, {3, 20000}};
    static const rl_dtype types[][3] = {{RL_F32, RL_F32, RL_F32}, {RL_BF16, RL_BF16, RL_F32}, {RL_BF16, RL_F32, RL_BF16},
                                        {RL_F16, RL_F16, RL_F32}, {RL_F32, RL_BF16, RL_F16}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 5; t++)
            for (int mode = 0; mode < 4; mode++)
                rln_case(shapes[s][0], shapes[s][1], types[t][0], types[t][1], types[t][2], mode, 0);
    rln_case(6, 1536, RL_BF16, RL_BF16, RL_F32, 0, 1);
    rln_case(6, 1536, RL_BF16, RL_BF16, RL_F32, 3, 1);
}

/* Bad arguments are sentences naming the fused op and the tensor. */
static void test_fused_errors(void) {
    int64_t s[3] = {4, 2, 8}, t4[2] = {4, 4}, t3[2] = {3, 4}, v15[1] = {15};
    void *p = gpu->alloc(gpu, 4096);
    rl_tensor x = rl_tensor_make(p, RL_BF16, RL_DEVICE_CUDA, 3, s), xf = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 3, s);
    rl_tensor c4 = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 2, t4), c3 = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 2, t3);
    rl_tensor w15 = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 1, v15);
    EXPECT(gpu->rms_norm_rope(gpu, &x, &x, &w15, &c4, &c4, 1e-6f) != 0 && strstr(rl_error_message(), "rms_norm_rope") &&
               strstr(rl_error_message(), "'w'"),
           "a 15-value weight for 16 channels: got '%s'", rl_error_message());
    EXPECT(gpu->rms_norm_rope(gpu, &x, &x, NULL, &c3, &c3, 1e-6f) != 0 && strstr(rl_error_message(), "[3, 4]"),
           "a 3-row table for 4 tokens: got '%s'", rl_error_message());
    EXPECT(gpu->rms_norm_rope(gpu, &xf, &x, NULL, &c4, &c4, 1e-6f) != 0 && strstr(rl_error_message(), "in place"),
           "y aliasing x in another dtype: got '%s'", rl_error_message());
    rl_tensor xi = x;
    xi.dtype = RL_I32;
    EXPECT(gpu->layer_norm_modulate(gpu, &x, &xi, &w15, &w15, 1e-6f) != 0 &&
               strstr(rl_error_message(), "layer_norm_modulate") && strstr(rl_error_message(), "f16"),
           "an i32 x: got '%s'", rl_error_message());
    EXPECT(gpu->layer_norm_modulate(gpu, &x, &x, &w15, &w15, 1e-6f) != 0 && strstr(rl_error_message(), "'shift'"),
           "a 15-value shift for rows of 8: got '%s'", rl_error_message());
    rl_tensor r = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 3, s), v8 = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 1, (int64_t[]){8});
    EXPECT(gpu->gated_add_layer_norm(gpu, &x, &x, NULL, &r, NULL, NULL, 1e-6f) != 0 &&
               strstr(rl_error_message(), "gated_add_layer_norm") && strstr(rl_error_message(), "must be f32"),
           "a bf16 residual: got '%s'", rl_error_message());
    EXPECT(gpu->gated_add_layer_norm(gpu, &r, &x, &v8, &r, NULL, NULL, 1e-6f) != 0 && strstr(rl_error_message(), "apart"),
           "h aliasing x: got '%s'", rl_error_message());
    EXPECT(gpu->add_layer_norm_modulate(gpu, &r, &x, NULL, &x, &v8, NULL, 1e-6f) != 0 &&
               strstr(rl_error_message(), "required"),
           "no scale: got '%s'", rl_error_message());
    gpu->free(gpu, p, 4096);
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    int64_t B, Lq, Lk, H, d, kv_len;
    int bias, lse;   /* bias: 1 random, 2 random with -inf entries (one query fully masked) */
    float scale;     /* 0: 1/sqrt(d) */
} att_case;

static void attention_case(att_case c, rl_dtype qt, rl_dtype ot, rl_dtype bt) {
    dev_failed = 0;
    int64_t qs[4] = {c.B, c.Lq, c.H, c.d}, ks[4] = {c.B, c.Lk, c.H, c.d}, bs[3] = {c.H, c.Lq, c.Lk},
            ls[3] = {c.B, c.H, c.Lq};
    size_t nq = (size_t)(c.B * c.Lq * c.H * c.d), nk = (size_t)(c.B * c.Lk * c.H * c.d), nb = (size_t)(c.H * c.Lq * c.Lk),
           nl = (size_t)(c.B * c.H * c.Lq);
    float scale = c.scale > 0 ? c.scale : 1.0f / sqrtf((float)c.d);
    float *q = hrand(nq, 1.0f, 0.0f, qt), *k = hrand(nk, 1.0f, 0.0f, qt), *v = hrand(nk, 1.0f, 0.0f, qt);
    float *b = c.bias ? hrand(nb, 1.0f, 0.0f, bt) : NULL;
    if (c.bias == 2) {
        for (size_t i = 0; i < nb; i++)
            if (i % 5 == 3) b[i] = -INFINITY;
        for (int64_t j = 0; j < c.Lk; j++) b[j] = -INFINITY; /* head 0, query 0: no key left */
    }
    float *ref = hzeros(nq), *lref = hzeros(nl);
    rl_tensor hq = htensor(q, 4, qs), hk = htensor(k, 4, ks), hv = htensor(v, 4, ks), hb = htensor(b, 3, bs);
    rl_tensor ho = htensor(ref, 4, qs), hl = htensor(lref, 3, ls);
    int rc_cpu = cpu->attention(cpu, &ho, &hq, &hk, &hv, c.kv_len, b ? &hb : NULL, scale, c.lse ? &hl : NULL);
    rl_tensor dq = dtensor(q, qt, 4, qs), dk = dtensor(k, qt, 4, ks), dv = dtensor(v, qt, 4, ks);
    rl_tensor db = b ? dtensor(b, bt, 3, bs) : (rl_tensor){0}, dout = dtensor(NULL, ot, 4, qs);
    rl_tensor dl = c.lse ? dtensor(NULL, RL_F32, 3, ls) : (rl_tensor){0};
    int rc = dev_failed ? -1
                        : gpu->attention(gpu, &dout, &dq, &dk, &dv, c.kv_len, b ? &db : NULL, scale, c.lse ? &dl : NULL);
    char name[300];
    snprintf(name, sizeof name,
             "attention B=%lld Lq=%lld Lk=%lld H=%lld d=%lld kv_len=%lld scale=%.4g qkv=%s out=%s bias=%s%s%s",
             (long long)c.B, (long long)c.Lq, (long long)c.Lk, (long long)c.H, (long long)c.d, (long long)c.kv_len,
             scale, dn(qt), dn(ot), c.bias ? dn(bt) : "none", c.bias == 2 ? "(with -inf)" : "", c.lse ? " lse" : "");
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dout);
        /* bf16 q/k/v: the tensor-core kernels round the probabilities P to bf16
         * before P V (as FlashAttention and torch's SDPA do), so an f32 output
         * carries bf16-level error; the lse stays fp32-exact. */
        compare(got, ref, nq, ot == RL_BF16 ? TOL_BF16_ATT : qt == RL_BF16 ? TOL_F32_ATT_BF16_P : tol_for(ot, b && bt == RL_BF16, TOL_BF16_ATT), "%s", name);
        free(got);
        if (c.lse) {
            float *gl = dread(&dl);
            compare(gl, lref, nl, qt == RL_BF16 || (b && bt == RL_BF16) ? TOL_F32_BF16_IN : TOL_F32, "%s [lse]", name);
            free(gl);
        }
    }
    dfree(&dq), dfree(&dk), dfree(&dv), dfree(&db), dfree(&dout), dfree(&dl);
    free(q), free(k), free(v), free(b), free(ref), free(lref);
}

static void test_attention(void) {
    static const att_case cases[] = {
        {1, 1, 1, 1, 64, 0, 0, 0, 0},         {2, 77, 77, 3, 64, 50, 1, 1, 0},     {1, 1000, 1000, 2, 128, 0, 0, 1, 0},
        {1, 300, 512, 2, 128, 300, 0, 1, 0},  {2, 33, 100, 4, 40, 0, 2, 1, 0},     {1, 129, 17, 2, 256, 0, 0, 1, 0},
        {1, 5, 7, 1, 3, 0, 1, 1, 0},          {1, 200, 64, 3, 64, 20, 2, 1, 1.0f}, {3, 31, 1025, 2, 128, 1000, 0, 1, 0},
        {1, 64, 33, 5, 96, 0, 1, 0, 0.5f},    {1, 17, 3, 2, 130, 0, 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        attention_case(cases[i], RL_F32, RL_F32, RL_F32);
        attention_case(cases[i], RL_BF16, RL_BF16, RL_BF16);
        attention_case(cases[i], RL_BF16, RL_F32, RL_F32);
    }
}

/* ---------------------------------------------------------------- conv3d */

typedef struct {
    int64_t Cin, T, H, W, Cout, kt, kh, kw;
    int stride[3], pf[3], pb[3], bias;
} conv_case;

/* tol 0: the dtype's tolerance; `how` names the path in the case line (or NULL). */
static void conv3d_case_tol(conv_case c, rl_dtype xt, rl_dtype yt, double tol, const char *how) {
    dev_failed = 0;
    rl_conv3d_params p;
    memset(&p, 0, sizeof p);
    int64_t o[3], in[3] = {c.T, c.H, c.W}, k[3] = {c.kt, c.kh, c.kw};
    for (int i = 0; i < 3; i++) {
        p.stride[i] = c.stride[i], p.pad_front[i] = c.pf[i], p.pad_back[i] = c.pb[i];
        o[i] = (in[i] + c.pf[i] + c.pb[i] - k[i]) / c.stride[i] + 1;
    }
    int64_t xs[4] = {c.Cin, c.T, c.H, c.W}, ws[5] = {c.Cout, c.Cin, c.kt, c.kh, c.kw}, ys[4] = {c.Cout, o[0], o[1], o[2]},
            bs[1] = {c.Cout};
    size_t nx = (size_t)(c.Cin * c.T * c.H * c.W), nw = (size_t)(c.Cout * c.Cin * c.kt * c.kh * c.kw),
           ny = (size_t)(c.Cout * o[0] * o[1] * o[2]);
    float *x = hrand(nx, 1.0f, 0.0f, xt), *w = hrand(nw, 1.0f / sqrtf((float)(c.Cin * c.kt * c.kh * c.kw)), 0.0f, xt);
    float *b = c.bias ? hrand((size_t)c.Cout, 0.5f, 0.0f, xt) : NULL, *ref = hzeros(ny);
    rl_tensor hx = htensor(x, 4, xs), hw = htensor(w, 5, ws), hb = htensor(b, 1, bs), hy = htensor(ref, 4, ys);
    int rc_cpu = cpu->conv3d(cpu, &hy, &hx, &hw, b ? &hb : NULL, &p);
    rl_tensor dx = dtensor(x, xt, 4, xs), dw = dtensor(w, xt, 5, ws), dy = dtensor(NULL, yt, 4, ys);
    rl_tensor db = b ? dtensor(b, xt, 1, bs) : (rl_tensor){0};
    int rc = dev_failed ? -1 : gpu->conv3d(gpu, &dy, &dx, &dw, b ? &db : NULL, &p);
    char name[300];
    snprintf(name, sizeof name,
             "conv3d x=[%lld, %lld, %lld, %lld]%s w=[%lld, %lld, %lld, %lld, %lld] y=%s stride=%d,%d,%d "
             "pad_front=%d,%d,%d pad_back=%d,%d,%d bias=%s%s%s",
             (long long)c.Cin, (long long)c.T, (long long)c.H, (long long)c.W, dn(xt), (long long)c.Cout,
             (long long)c.Cin, (long long)c.kt, (long long)c.kh, (long long)c.kw, dn(yt), c.stride[0], c.stride[1],
             c.stride[2], c.pf[0], c.pf[1], c.pf[2], c.pb[0], c.pb[1], c.pb[2], b ? "yes" : "no", how ? " " : "",
             how ? how : "");
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        compare(got, ref, ny, tol > 0 ? tol : tol_for(yt, xt == RL_BF16, TOL_BF16), "%s", name);
        free(got);
    }
    dfree(&dx), dfree(&dw), dfree(&dy), dfree(&db);
    free(x), free(w), free(b), free(ref);
}

static void conv3d_case(conv_case c, rl_dtype xt, rl_dtype yt) { conv3d_case_tol(c, xt, yt, 0, NULL); }

static void test_conv3d(void) {
    static const conv_case cases[] = {
        {3, 5, 9, 11, 4, 3, 3, 3, {1, 1, 1}, {2, 1, 1}, {0, 1, 1}, 1},    /* causal, as the Wan VAE */
        {16, 1, 17, 13, 8, 1, 3, 3, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, 1},  /* 2-D 3x3 */
        {5, 4, 8, 8, 7, 1, 1, 1, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 0},     /* 1x1x1 */
        {4, 9, 6, 5, 6, 3, 1, 1, {2, 1, 1}, {0, 0, 0}, {0, 0, 0}, 1},     /* time downsample */
        {12, 3, 20, 18, 9, 1, 3, 3, {1, 2, 2}, {0, 0, 0}, {0, 1, 1}, 1},  /* spatial downsample, ZeroPad(0,1,0,1) */
        {32, 3, 30, 52, 40, 3, 3, 3, {1, 1, 1}, {2, 1, 1}, {0, 1, 1}, 1}, /* larger causal */
        {1, 1, 1, 1, 1, 1, 1, 1, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 1},     /* all ones */
        {3, 2, 7, 9, 17, 2, 2, 3, {1, 3, 2}, {1, 0, 2}, {2, 1, 0}, 1},    /* odd everything */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conv3d_case(cases[i], RL_F32, RL_F32);
        conv3d_case(cases[i], RL_BF16, RL_BF16);
        conv3d_case(cases[i], RL_BF16, RL_F32);
    }
}

/* A causal conv with n cached frames as its prefix (rl_conv3d_params.prefix): the
 * GPU reads frames [2 - n, 2) of a [Cin, 2, H, W] cache (a channel-strided view for n
 * = 1) in front of x [Cin, T, H, W]; the CPU oracle convolves the concatenation. */
static void conv3d_prefix_case(conv_case c, int n, rl_dtype yt, double tol, const char *how) {
    dev_failed = 0;
    rl_conv3d_params p;
    memset(&p, 0, sizeof p);
    const int64_t Tf = n + c.T;
    int64_t o[3], in[3] = {Tf, c.H, c.W}, k[3] = {c.kt, c.kh, c.kw};
    for (int i = 0; i < 3; i++) {
        p.stride[i] = 1, p.pad_front[i] = c.pf[i], p.pad_back[i] = c.pb[i];
        o[i] = in[i] + c.pf[i] + c.pb[i] - k[i] + 1;
    }
    const int64_t plane = c.H * c.W;
    int64_t fs[4] = {c.Cin, Tf, c.H, c.W}, xs[4] = {c.Cin, c.T, c.H, c.W}, cs[4] = {c.Cin, 2, c.H, c.W},
            ws[5] = {c.Cout, c.Cin, c.kt, c.kh, c.kw}, ys[4] = {c.Cout, o[0], o[1], o[2]}, bs[1] = {c.Cout};
    size_t nf = (size_t)(c.Cin * Tf * plane), nw = (size_t)(c.Cout * c.Cin * c.kt * c.kh * c.kw),
           ny = (size_t)(c.Cout * o[0] * o[1] * o[2]);
    float *full = hrand(nf, 1.0f, 0.0f, RL_F32), *w = hrand(nw, 1.0f / sqrtf((float)(c.Cin * c.kt * c.kh * c.kw)), 0.0f, RL_F32);
    float *b = hrand((size_t)c.Cout, 0.5f, 0.0f, RL_F32), *ref = hzeros(ny);
    float *xh = malloc((size_t)(c.Cin * c.T * plane) * sizeof(float)), *ch = calloc((size_t)(c.Cin * 2 * plane), sizeof(float));
    for (int64_t ci = 0; ci < c.Cin; ci++) { /* full = cat(cache frames [2 - n, 2), x) per channel */
        memcpy(ch + (ci * 2 + 2 - n) * plane, full + ci * Tf * plane, (size_t)(n * plane) * sizeof(float));
        memcpy(xh + ci * c.T * plane, full + (ci * Tf + n) * plane, (size_t)(c.T * plane) * sizeof(float));
    }
    rl_tensor hf = htensor(full, 4, fs), hw = htensor(w, 5, ws), hb = htensor(b, 1, bs), hy = htensor(ref, 4, ys);
    int rc_cpu = cpu->conv3d(cpu, &hy, &hf, &hw, &hb, &p);
    rl_tensor dx = dtensor(xh, RL_F32, 4, xs), dc = dtensor(ch, RL_F32, 4, cs), dw = dtensor(w, RL_F32, 5, ws);
    rl_tensor db = dtensor(b, RL_F32, 1, bs), dy = dtensor(NULL, yt, 4, ys);
    rl_tensor pre = rl_tensor_slice(&dc, 1, 2 - n, n);
    p.prefix = &pre;
    int rc = dev_failed ? -1 : gpu->conv3d(gpu, &dy, &dx, &dw, &db, &p);
    char name[300];
    snprintf(name, sizeof name, "conv3d with %d prefix frames x=[%lld, %lld, %lld, %lld] w=[%lld, %lld, %lld, %lld, %lld] "
             "y=%s pad_front=%d,%d,%d %s", n, (long long)c.Cin, (long long)c.T, (long long)c.H, (long long)c.W,
             (long long)c.Cout, (long long)c.Cin, (long long)c.kt, (long long)c.kh, (long long)c.kw, dn(yt), c.pf[0],
             c.pf[1], c.pf[2], how);
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        compare(got, ref, ny, tol, "%s", name);
        free(got);
    }
    dfree(&dx), dfree(&dc), dfree(&dw), dfree(&db), dfree(&dy);
    free(full), free(w), free(b), free(ref), free(xh), free(ch);
}

/* f32 convs on TF32 tensor cores (RAYLIGHT_TF32's default, off for the rest of this
 * program): the implicit GEMM where it fits (auto) and the tap GEMMs (RL_CUDA_CONV=
 * taps), both against the fp32 CPU oracle at TF32's tolerance (10-bit mantissas:
 * 2e-3 of max|ref| for sums of up to 10368 products). Shapes of the Wan VAE: a
 * cached causal conv (2 history frames, no time padding), the first chunk's front
 * padding, conv_in's 16 -> 384 channels, 1x1x1 and 2-D 3x3, channel counts that are
 * and are not multiples of the 96-channel tile, tile edges (odd H, W), and one conv
 * the implicit GEMM refuses (Cin 3). */
static void test_conv3d_tf32(void) {
#ifdef RL_HAVE_CUDA
    static const conv_case cases[] = {
        {96, 6, 20, 37, 96, 3, 3, 3, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, 1},   /* cached: T = 2 + 4 */
        {96, 1, 9, 13, 96, 3, 3, 3, {1, 1, 1}, {2, 1, 1}, {0, 1, 1}, 1},    /* first chunk: causal front pad */
        {16, 2, 17, 26, 384, 3, 3, 3, {1, 1, 1}, {2, 1, 1}, {0, 1, 1}, 1},  /* conv_in */
        {32, 3, 30, 52, 40, 3, 3, 3, {1, 1, 1}, {2, 1, 1}, {0, 1, 1}, 0},   /* 128-channel tile, Cout 40 */
        {192, 4, 11, 23, 96, 1, 3, 3, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, 1},  /* 2-D 3x3 */
        {64, 2, 17, 19, 68, 1, 1, 1, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 1},   /* 1x1x1 shortcut */
        {384, 3, 5, 7, 384, 3, 3, 3, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, 1},   /* the middle's width */
        {3, 5, 9, 11, 8, 3, 3, 3, {1, 1, 1}, {2, 1, 1}, {0, 1, 1}, 1},      /* not the implicit GEMM's */
    };
    cuda_state *st = gpu->impl;
    const int old = st->allow_tf32;
    st->allow_tf32 = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conv3d_case_tol(cases[i], RL_F32, RL_F32, 2e-3, "tf32 auto");
        conv3d_case_tol(cases[i], RL_F32, RL_BF16, 1e-2, "tf32 auto");
        setenv("RL_CUDA_CONV", "taps", 1);
        conv3d_case_tol(cases[i], RL_F32, RL_F32, 2e-3, "tf32 taps");
        unsetenv("RL_CUDA_CONV");
    }
    /* cached causal convs: 2 or 1 history frames read in place (auto), or concatenated
     * first (taps); 3 output channels (the VAE's last conv, a 32-channel tile) */
    static const conv_case pcases[] = {
        {96, 4, 20, 37, 96, 3, 3, 3, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, 1},
        {16, 2, 9, 13, 40, 3, 3, 3, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, 1},
        {96, 4, 11, 29, 3, 3, 3, 3, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}, 1},
    };
    for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++)
        for (int n = 1; n <= 2; n++) {
            conv3d_prefix_case(pcases[i], n, RL_F32, 2e-3, "tf32 auto");
            setenv("RL_CUDA_CONV", "taps", 1);
            conv3d_prefix_case(pcases[i], n, RL_F32, 2e-3, "tf32 taps");
            unsetenv("RL_CUDA_CONV");
        }
    st->allow_tf32 = old;
    conv3d_prefix_case(pcases[1], 1, RL_F32, TOL_F32, "fp32 (no TF32)"); /* the concatenating fallback, exact */
#endif
}

/* ---------------------------------------------------------------- video ops, embedding */

enum { VID_RMS_CH, VID_AFFINE, VID_UPSAMPLE, VID_CLAMP, VID_COUNT };
static const char *vid_names[VID_COUNT] = {"rms_norm_channels", "channel_affine", "upsample_nearest2x", "clamp"};

/* x [C, T, H, W]; `vec` = 0: no gamma/shift, 1: with. */
static void video_case(int kind, const int64_t *xs, rl_dtype xt, rl_dtype yt, rl_dtype vt, int vec) {
    dev_failed = 0;
    int64_t C = xs[0], ys[4] = {xs[0], xs[1], xs[2], xs[3]}, cs[1] = {C};
    if (kind == VID_UPSAMPLE) ys[2] *= 2, ys[3] *= 2;
    size_t nx = (size_t)(xs[0] * xs[1] * xs[2] * xs[3]), ny = (size_t)(ys[0] * ys[1] * ys[2] * ys[3]);
    float *x = hrand(nx, 2.0f, 0.5f, xt), *ref = hzeros(ny);
    if (kind == VID_CLAMP && nx > 3 && xt == RL_F32) x[3] = NAN; /* NaN passes through clamp */
    float *v1 = hrand((size_t)C, 1.0f, 1.0f, vt), *v2 = hrand((size_t)C, 1.0f, 0.0f, vt);
    rl_tensor hx = htensor(x, 4, xs), hy = htensor(ref, 4, ys), h1 = htensor(v1, 1, cs), h2 = htensor(v2, 1, cs);
    rl_tensor dx = dtensor(x, xt, 4, xs), dy = dtensor(NULL, yt, 4, ys), d1 = dtensor(v1, vt, 1, cs),
              d2 = dtensor(v2, vt, 1, cs);
    int rc_cpu, rc = dev_failed ? -1 : 0;
    switch (kind) {
    case VID_RMS_CH:
        rc_cpu = cpu->rms_norm_channels(cpu, &hy, &hx, vec ? &h1 : NULL, 1e-12f);
        if (!rc) rc = gpu->rms_norm_channels(gpu, &dy, &dx, vec ? &d1 : NULL, 1e-12f);
        break;
    case VID_AFFINE:
        rc_cpu = cpu->channel_affine(cpu, &hy, &hx, &h1, vec ? &h2 : NULL);
        if (!rc) rc = gpu->channel_affine(gpu, &dy, &dx, &d1, vec ? &d2 : NULL);
        break;
    case VID_UPSAMPLE:
        rc_cpu = cpu->upsample_nearest2x(cpu, &hy, &hx);
        if (!rc) rc = gpu->upsample_nearest2x(gpu, &dy, &dx);
        break;
    default:
        rc_cpu = cpu->clamp(cpu, &hy, &hx, -1.0f, 1.5f);
        if (!rc) rc = gpu->clamp(gpu, &dy, &dx, -1.0f, 1.5f);
        break;
    }
    char name[300], sh[96];
    snprintf(name, sizeof name, "%s x=%s%s y=%s%s%s", vid_names[kind], rl_shape_str(&hx, sh, sizeof sh), dn(xt), dn(yt),
             kind == VID_RMS_CH ? (vec ? " gamma=" : " gamma=none") : (kind == VID_AFFINE ? (vec ? " scale,shift=" : " scale=") : ""),
             (kind == VID_RMS_CH && vec) || kind == VID_AFFINE ? dn(vt) : "");
    if (ops_ok(rc, rc_cpu, name)) {
        float *got = dread(&dy);
        int bf16_in = xt == RL_BF16 || ((kind == VID_RMS_CH || kind == VID_AFFINE) && vt == RL_BF16);
        compare(got, ref, ny, tol_for(yt, bf16_in, TOL_BF16), "%s", name);
        free(got);
    }
    dfree(&dx), dfree(&dy), dfree(&d1), dfree(&d2);
    free(x), free(ref), free(v1), free(v2);
}

static void test_video_ops(void) {
    static const int64_t shapes[][4] = {{1, 1, 1, 1}, {16, 2, 5, 7}, {96, 1, 17, 33}, {384, 3, 4, 4}, {3, 1, 60, 104}};
    static const rl_dtype types[][3] = {{RL_F32, RL_F32, RL_F32}, {RL_BF16, RL_BF16, RL_BF16}, {RL_BF16, RL_F32, RL_F32},
                                        {RL_F32, RL_BF16, RL_BF16}};
    for (int k = 0; k < VID_COUNT; k++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++)
                for (int vec = 0; vec < 2; vec++) {
                    if (vec && (k == VID_UPSAMPLE || k == VID_CLAMP)) continue; /* no vectors to vary */
                    video_case(k, shapes[s], types[t][0], types[t][1], types[t][2], vec);
                }
}

/* Gathers rows by i32 ids; conversion as cast, so the result must be bit-exact. */
static void embedding_case(int64_t V, int64_t D, int64_t N, rl_dtype tt, rl_dtype yt) {
    dev_failed = 0;
    int64_t ts[2] = {V, D}, is[1] = {N}, ys[2] = {N, D};
    size_t tb = (size_t)(V * D) * rl_dtype_size(tt), yb = (size_t)(N * D) * rl_dtype_size(yt);
    float *tf = hrand((size_t)(V * D), 1.0f, 0.0f, RL_F32);
    if (V * D > 5) tf[5] = NAN;
    uint8_t *table = malloc(tb ? tb : 1), *ref = calloc(yb ? yb : 1, 1), *got = calloc(yb ? yb : 1, 1);
    rl_convert(table, tt, tf, RL_F32, (size_t)(V * D));
    int32_t *ids = malloc((size_t)(N ? N : 1) * sizeof(int32_t));
    for (int64_t i = 0; i < N; i++) ids[i] = (int32_t)(tl_uniform() * (double)V);
    if (N > 1) ids[0] = 0, ids[N - 1] = (int32_t)(V - 1);
    rl_tensor ht = rl_tensor_make(table, tt, RL_DEVICE_CPU, 2, ts), hi = rl_tensor_make(ids, RL_I32, RL_DEVICE_CPU, 1, is);
    rl_tensor hy = rl_tensor_make(ref, yt, RL_DEVICE_CPU, 2, ys);
    int rc_cpu = cpu->embedding(cpu, &hy, &ht, &hi);
    rl_tensor dt = rl_tensor_make(gpu->alloc(gpu, tb), tt, RL_DEVICE_CUDA, 2, ts);
    rl_tensor di = rl_tensor_make(gpu->alloc(gpu, (size_t)N * 4), RL_I32, RL_DEVICE_CUDA, 1, is);
    rl_tensor dy = rl_tensor_make(gpu->alloc(gpu, yb), yt, RL_DEVICE_CUDA, 2, ys);
    if (!dt.data || !di.data || !dy.data || gpu->upload(gpu, dt.data, table, tb) ||
        gpu->upload(gpu, di.data, ids, (size_t)N * 4))
        dev_failed = 1;
    int rc = dev_failed ? -1 : gpu->embedding(gpu, &dy, &dt, &di);
    char name[200];
    snprintf(name, sizeof name, "embedding table=%s[%lld, %lld] ids=i32[%lld] y=%s (bit-exact)", dn(tt), (long long)V,
             (long long)D, (long long)N, dn(yt));
    if (ops_ok(rc, rc_cpu, name)) {
        if (gpu->download(gpu, got, dy.data, yb)) dev_failed = 1;
        CASE(name, !dev_failed && memcmp(got, ref, yb) == 0, "the gathered rows differ from the CPU's bits");
    }
    if (dt.data) gpu->free(gpu, dt.data, tb);
    if (di.data) gpu->free(gpu, di.data, (size_t)N * 4);
    if (dy.data) gpu->free(gpu, dy.data, yb);
    free(tf), free(table), free(ref), free(got), free(ids);
}

static void test_embedding(void) {
    static const rl_dtype tts[] = {RL_F32, RL_BF16, RL_F16}, yts[] = {RL_F32, RL_BF16, RL_F16};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            embedding_case(1, 1, 1, tts[a], yts[b]);
            embedding_case(1000, 64, 77, tts[a], yts[b]);
            embedding_case(32, 4096, 3, tts[a], yts[b]);
        }
}

/* ---------------------------------------------------------------- cast and copy */

#define CAST_N 4096

/* Source values of dtype t, specials first (NaN payloads, infinities, rounding
 * midpoints, each format's overflow edge, subnormals), then random magnitudes. */
static void cast_source(void *dst, rl_dtype t) {
    static const uint32_t f32_bits[] = {0x00000000, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000,
                                        0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7F800001, 0x00000001, 0x807FFFFF,
                                        0x3F808000, 0x3F818000, 0x3F800001, 0x7F7FFFFF, 0x477FF000, 0x477FEFFF,
                                        0x43E00000, 0x43E80000, 0x43F00000, 0x43EFFFFF, 0x47600000, 0x47700000,
                                        0x3A800000, 0x33800000, 0x33000000, 0x3B000000, 0x4F000000, 0xCF000000,
                                        0x5F000000, 0xDF000001, 0x4B800001, 0x3C000000, 0x37800000, 0x38800000};
    size_t ns = sizeof f32_bits / sizeof f32_bits[0];
    if (t == RL_I32 || t == RL_I64) {
        int64_t sp[] = {0, 1, -1, INT32_MIN, INT32_MAX, 16777217, -16777217, INT64_MIN, INT64_MAX,
                        (INT64_C(1) << 53) + 1, INT64_C(1) << 40, -(INT64_C(1) << 33) - 7};
        for (size_t i = 0; i < CAST_N; i++) {
            int64_t v;
            if (i < sizeof sp / sizeof sp[0]) v = sp[i];
            else if (i % 3 == 0) v = (int64_t)(tl_uniform() * 2e6) - 1000000;
            else if (i % 3 == 1) v = (int64_t)((tl_uniform() - 0.5) * 9e18);
            else v = (int64_t)((tl_uniform() - 0.5) * 4e9);
            if (t == RL_I32) ((int32_t *)dst)[i] = (int32_t)v;
            else ((int64_t *)dst)[i] = v;
        }
        return;
    }
    float *f = malloc(CAST_N * sizeof(float));
    for (size_t i = 0; i < CAST_N; i++) {
        if (i < ns) memcpy(&f[i], &f32_bits[i], 4);
        else f[i] = tl_randn() * powf(10.0f, (float)((int)(i % 17) - 8)); /* 1e-8 .. 1e8 */
    }
    rl_convert(dst, t, f, RL_F32, CAST_N);
    free(f);
}

static void test_cast(void) {
    for (int s = 0; s < RL_DTYPE_COUNT; s++)
        for (int d = 0; d < RL_DTYPE_COUNT; d++) {
            dev_failed = 0;
            rl_dtype st = (rl_dtype)s, dt = (rl_dtype)d;
            size_t ss = rl_dtype_size(st), ds = rl_dtype_size(dt);
            uint8_t *src = malloc(CAST_N * ss), *ref = calloc(CAST_N, ds), *got = calloc(CAST_N, ds);
            cast_source(src, st);
            int64_t shape[1] = {CAST_N};
            rl_tensor hx = rl_tensor_make(src, st, RL_DEVICE_CPU, 1, shape), hy = rl_tensor_make(ref, dt, RL_DEVICE_CPU, 1, shape);
            int rc_cpu = cpu->cast(cpu, &hy, &hx);
            rl_tensor dx = rl_tensor_make(gpu->alloc(gpu, CAST_N * ss), st, RL_DEVICE_CUDA, 1, shape);
            rl_tensor dy = rl_tensor_make(gpu->alloc(gpu, CAST_N * ds), dt, RL_DEVICE_CUDA, 1, shape);
            if (!dx.data || !dy.data || gpu->upload(gpu, dx.data, src, CAST_N * ss)) dev_failed = 1;
            int rc = dev_failed ? -1 : gpu->cast(gpu, &dy, &dx);
            char name[160];
            snprintf(name, sizeof name, "cast %s -> %s (%d values incl. NaN/inf/rounding edges)", dn(st), dn(dt), CAST_N);
            if (ops_ok(rc, rc_cpu, name)) {
                if (gpu->download(gpu, got, dy.data, CAST_N * ds)) dev_failed = 1;
                size_t bad = CAST_N;
                for (size_t i = 0; i < CAST_N && !dev_failed; i++)
                    if (memcmp(got + i * ds, ref + i * ds, ds)) {
                        bad = i;
                        break;
                    }
                uint64_t gb = 0, rb = 0, sb = 0;
                if (bad < CAST_N) {
                    memcpy(&gb, got + bad * ds, ds), memcpy(&rb, ref + bad * ds, ds), memcpy(&sb, src + bad * ss, ss);
                }
                CASE(name, !dev_failed && bad == CAST_N,
                     "first mismatch at index %zu: source bits 0x%llx, got bits 0x%llx, reference bits 0x%llx", bad,
                     (unsigned long long)sb, (unsigned long long)gb, (unsigned long long)rb);
            }
            if (dx.data) gpu->free(gpu, dx.data, CAST_N * ss);
            if (dy.data) gpu->free(gpu, dy.data, CAST_N * ds);
            free(src), free(ref), free(got);
        }
}

/* Copies the view (shape, x strides at x offset) into the view (y strides at y
 * offset) on both backends, over buffers of random bytes; compares whole buffers. */
static void copy_case(rl_dtype t, int nd, const int64_t *shape, const int64_t *xstr, int64_t xoff, const int64_t *ystr,
                      int64_t yoff, size_t xcap, size_t ycap, const char *what) {
    dev_failed = 0;
    size_t es = rl_dtype_size(t);
    uint8_t *hx = malloc(xcap * es), *hy = malloc(ycap * es), *got = malloc(ycap * es);
    for (size_t i = 0; i < xcap * es; i++) hx[i] = (uint8_t)(tl_uniform() * 256);
    for (size_t i = 0; i < ycap * es; i++) hy[i] = (uint8_t)(tl_uniform() * 256);
    uint8_t *dxb = gpu->alloc(gpu, xcap * es), *dyb = gpu->alloc(gpu, ycap * es);
    if (!dxb || !dyb || gpu->upload(gpu, dxb, hx, xcap * es) || gpu->upload(gpu, dyb, hy, ycap * es)) dev_failed = 1;
    rl_tensor vx = rl_tensor_make(hx + xoff * es, t, RL_DEVICE_CPU, nd, shape), vy = rl_tensor_make(hy + yoff * es, t, RL_DEVICE_CPU, nd, shape);
    for (int i = 0; i < nd; i++) vx.stride[i] = xstr[i], vy.stride[i] = ystr[i];
    rl_tensor gx = vx, gy = vy;
    gx.device = gy.device = RL_DEVICE_CUDA;
    gx.data = dxb ? dxb + xoff * es : NULL, gy.data = dyb ? dyb + yoff * es : NULL;
    int rc_cpu = cpu->copy(cpu, &vy, &vx);
    int rc = dev_failed ? -1 : gpu->copy(gpu, &gy, &gx);
    char name[200];
    snprintf(name, sizeof name, "copy %s %s (%d-D)", dn(t), what, nd);
    if (ops_ok(rc, rc_cpu, name)) {
        if (gpu->download(gpu, got, dyb, ycap * es)) dev_failed = 1;
        size_t bad = ycap;
        for (size_t i = 0; i < ycap && !dev_failed; i++)
            if (memcmp(got + i * es, hy + i * es, es)) {
                bad = i;
                break;
            }
        CASE(name, !dev_failed && bad == ycap, "destination buffer differs from the CPU's first at element %zu", bad);
    }
    if (dxb) gpu->free(gpu, dxb, xcap * es);
    if (dyb) gpu->free(gpu, dyb, ycap * es);
    free(hx), free(hy), free(got);
}

static void test_copy(void) {
    static const rl_dtype types[] = {RL_F32, RL_BF16, RL_F8_E4M3, RL_I64};
    for (int t = 0; t < 4; t++) {
        rl_dtype dt = types[t];
        /* permute [3,4,5,6] by (2,0,3,1): x strides of the permuted contiguous buffer */
        int64_t s4[4] = {5, 3, 6, 4}, x4[4] = {6, 120, 1, 30}, y4[4] = {72, 24, 4, 1};
        copy_case(dt, 4, s4, x4, 0, y4, 0, 360, 360, "permuted view -> contiguous");
        /* slice rows 3..8 of dim 1 of [4, 10, 6] */
        int64_t s3[3] = {4, 5, 6}, x3[3] = {60, 6, 1}, y3[3] = {30, 6, 1};
        copy_case(dt, 3, s3, x3, 18, y3, 0, 240, 120, "slice -> contiguous");
        /* contiguous -> transposed destination view inside a bigger buffer */
        int64_t s2[2] = {7, 13}, x2[2] = {13, 1}, y2[2] = {1, 9};
        copy_case(dt, 2, s2, x2, 0, y2, 5, 91, 9 * 13 + 5, "contiguous -> strided destination");
        /* 5-D permuted with a broadcast-like stride-0 dim in the source */
        int64_t s5[5] = {2, 3, 1, 4, 5}, x5[5] = {1, 0, 7, 10, 2}, y5[5] = {60, 20, 20, 5, 1};
        copy_case(dt, 5, s5, x5, 0, y5, 0, 50, 120, "5-D strided with a stride-0 dim");
        int64_t s1[1] = {1000}, x1[1] = {1}, y1[1] = {1};
        copy_case(dt, 1, s1, x1, 3, y1, 1, 1003, 1001, "contiguous -> contiguous");
    }
}

/* ---------------------------------------------------------------- errors and memory */

static void test_errors_and_memory(void) {
    int64_t s[2] = {4, 8}, big[1] = {300};
    float host[32] = {0};
    rl_tensor h = rl_tensor_make(host, RL_F32, RL_DEVICE_CPU, 2, s);
    size_t before = rl_mem_current(RL_DEVICE_CUDA);
    void *p = gpu->alloc(gpu, 1000);
    EXPECT(p != NULL, "alloc of 1000 bytes failed: %s", rl_error_message());
    EXPECT(rl_mem_current(RL_DEVICE_CUDA) == before + 1000, "device memory accounting did not grow by 1000 bytes");
    rl_tensor d = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 2, s);
    EXPECT(gpu->add(gpu, &d, &d, &h) != 0 && strstr(rl_error_message(), "add") &&
               strstr(rl_error_message(), "host memory"),
           "a host tensor in add: got '%s'", rl_error_message());
    rl_tensor d16 = d;
    d16.dtype = RL_F16;
    EXPECT(gpu->silu(gpu, &d, &d16) != 0 && strstr(rl_error_message(), "silu") &&
               strstr(rl_error_message(), "f32 or bf16"),
           "an f16 tensor in silu: got '%s'", rl_error_message());
    rl_tensor w = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 1, big);
    EXPECT(gpu->matmul(gpu, &d, &d, &w, NULL, RL_ACT_NONE) != 0 && strstr(rl_error_message(), "matmul"),
           "a 1-D weight in matmul: got '%s'", rl_error_message());
    int64_t q3[3] = {1, 1, 250}; /* head dims above 256 are taken (GEMM path); a 3-D q is not */
    rl_tensor q = rl_tensor_make(p, RL_F32, RL_DEVICE_CUDA, 3, q3);
    EXPECT(gpu->attention(gpu, &q, &q, &q, &q, 0, NULL, 1.0f, NULL) != 0 && strstr(rl_error_message(), "4-D"),
           "a 3-D q in attention: got '%s'", rl_error_message());
    gpu->free(gpu, p, 1000);
    EXPECT(rl_mem_current(RL_DEVICE_CUDA) == before, "device memory accounting did not shrink back");
    void *huge = gpu->alloc(gpu, (size_t)1 << 52);
    EXPECT(huge == NULL && strstr(rl_error_message(), "out of GPU memory") && strstr(rl_error_message(), "free of"),
           "a 4 PiB allocation: got '%s'", huge ? "success" : rl_error_message());
    if (huge) gpu->free(gpu, huge, (size_t)1 << 52);
    /* the backend still works after the failed allocation */
    void *again = gpu->alloc(gpu, 64);
    rl_tensor t1 = rl_tensor_make(again, RL_F32, RL_DEVICE_CUDA, 1, (int64_t[]){16});
    EXPECT(again && gpu->scale(gpu, &t1, &t1, 2.0f) == 0 && gpu->synchronize(gpu) == 0,
           "an op after a failed allocation: %s", rl_error_message());
    if (again) gpu->free(gpu, again, 64);
    EXPECT(gpu->weight_dtype == RL_BF16 && gpu->act_dtype == RL_BF16, "the CUDA backend should advertise bf16/bf16");
}

int main(void) {
    setenv("RL_CUDA_SYNC", "1", 0); /* a faulting kernel is then reported by its own op */
    setenv("RAYLIGHT_TF32", "0", 1); /* f32 conv3d exact to 1e-5 here; TF32 is checked by gpu_eval_test.sh */
    cpu = rl_backend_cpu();
    gpu = rl_backend_cuda(0);
    if (!gpu) {
        printf("FAIL: test_gpu_ops needs a usable GPU: %s\n", rl_error_message());
        return 1;
    }
    tl_seed(20240611);
    RUN(test_errors_and_memory);
    test_cast();
    test_copy();
    test_elementwise();
    test_norms();
    test_rope();
    /* an op missing from the CUDA table is one FAIL, not a crash */
    const int fused = gpu->layer_norm_modulate && gpu->rms_norm_rope && gpu->gated_add_layer_norm &&
                      gpu->add_layer_norm_modulate;
    CASE("the CUDA backend has the fused norm ops", fused, "an op table entry is NULL");
    if (fused) {
        test_layer_norm_modulate();
        test_rms_norm_rope();
        test_residual_layer_norm();
        RUN(test_fused_errors);
    }
    test_matmul();
    test_attention();
    test_conv3d();
    test_conv3d_tf32();
    test_video_ops();
    test_embedding();
    TL_EXIT();
}
