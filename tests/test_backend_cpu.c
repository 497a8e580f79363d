/* test_backend_cpu.c: every op of the CPU backend against a naive double-precision
 * loop written here, on random inputs at several shapes (odd sizes included).
 * Each case prints its relative error (max|got-ref| / max|ref|) in its PASS/FAIL
 * line; the bound is 1e-5. Also: the Wan RoPE table against a direct float64
 * evaluation of the reference formula and against rows of diffusers'
 * WanRotaryPosEmbed (tests/golden/rope3d.safetensors, scripts/golden/make_rope_golden.py),
 * copy/cast of views, error sentences,
 * backend selection by name and memory accounting. */
#include "io/safetensors.h"
#include "testlib.h"

#include <stdarg.h>

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

#define TOL 1e-5

static rl_backend *be;

/* ---------------------------------------------------------------- helpers */

static float *frand(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    tl_fill_randn(p, n, scale);
    return p;
}
static double *dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }
static float *falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static rl_tensor T(float *p, int nd, ...) {
    int64_t s[RL_MAX_DIMS];
    va_list ap;
    va_start(ap, nd);
    for (int i = 0; i < nd; i++) s[i] = va_arg(ap, int64_t);
    va_end(ap);
    return rl_tensor_make(p, RL_F32, RL_DEVICE_CPU, nd, s);
}
#define I(x) ((int64_t)(x))

/* One case line: "PASS: <name> rel_err=..." when rc==0 and err <= TOL. */
static void check_case(int rc, const float *got, const double *ref, size_t n, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        CASE(name, 0, "op returned %d: %s", rc, rl_error_message());
        return;
    }
    double e = tl_rel_err(got, ref, n);
    char full[320];
    snprintf(full, sizeof full, "%s rel_err=%.2e", name, e);
    CASE(full, e <= TOL, "relative error %.3e exceeds %.0e", e, TOL);
}

static double gelu_tanh_d(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

/* ---------------------------------------------------------------- matmul */

static void test_matmul(void) {
    static const int64_t cases[][3] = {{1, 1, 1}, {3, 17, 65}, {17, 65, 3}, {65, 300, 129}, {257, 513, 70}, {5, 1000, 33}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int mode = 0; mode < 3; mode++) { /* 0 plain, 1 bias, 2 bias + gelu */
            int64_t M = cases[c][0], K = cases[c][1], N = cases[c][2];
            float *x = frand(M * K, 1), *w = frand(N * K, 0.2f), *b = frand(N, 1), *y = falloc(M * N);
            double *ref = dalloc(M * N);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = mode ? b[j] : 0;
                    for (int64_t k = 0; k < K; k++) s += (double)x[i * K + k] * w[j * K + k];
                    ref[i * N + j] = mode == 2 ? gelu_tanh_d(s) : s;
                }
            /* x as [M, 1, K] for odd M (any rank flattens to rows) */
            rl_tensor tx = M % 2 ? T(x, 3, M, I(1), K) : T(x, 2, M, K), tw = T(w, 2, N, K), tb = T(b, 1, N);
            rl_tensor ty = M % 2 ? T(y, 3, M, I(1), N) : T(y, 2, M, N);
            int rc = be->matmul(be, &ty, &tx, &tw, mode ? &tb : NULL, mode == 2 ? RL_ACT_GELU_TANH : RL_ACT_NONE);
            check_case(rc, y, ref, M * N, "matmul M=%lld K=%lld N=%lld%s", (long long)M, (long long)K,
                       (long long)N, mode == 0 ? "" : mode == 1 ? " +bias" : " +bias+gelu_tanh");
            free(x), free(w), free(b), free(y), free(ref);
        }
}

static void test_matmul_speed(void) {
    int64_t M = 512, K = 1536, N = 1536;
    float *x = frand(M * K, 1), *w = frand(N * K, 0.05f), *y = falloc(M * N);
    rl_tensor tx = T(x, 2, M, K), tw = T(w, 2, N, K), ty = T(y, 2, M, N);
    be->matmul(be, &ty, &tx, &tw, NULL, RL_ACT_NONE); /* warm */
    double t0 = rl_time_now();
    int rc = be->matmul(be, &ty, &tx, &tw, NULL, RL_ACT_NONE);
    double dt = rl_time_now() - t0;
    /* spot-check a few outputs so the timing is of a correct result */
    double maxe = 0;
    for (int s = 0; s < 16; s++) {
        int64_t i = (s * 131) % M, j = (s * 977) % N;
        double r = 0;
        for (int64_t k = 0; k < K; k++) r += (double)x[i * K + k] * w[j * K + k];
        double e = fabs(r - y[i * N + j]);
        if (e > maxe) maxe = e;
    }
    printf("info: matmul %lldx%lldx%lld: %.1f ms, %.1f GFLOP/s\n", (long long)M, (long long)K,
           (long long)N, dt * 1e3, 2.0 * M * K * N / dt * 1e-9);
    EXPECT(rc == 0 && maxe < 1e-3, "rc %d, max abs err %g", rc, maxe);
    free(x), free(w), free(y);
}

/* ---------------------------------------------------------------- norms */

static void test_norms(void) {
    static const int64_t cases[][2] = {{1, 1}, {3, 17}, {5, 65}, {65, 1536}, {2, 5120}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int affine = 0; affine < 2; affine++) {
            int64_t R = cases[c][0], D = cases[c][1];
            float *x = frand(R * D, 2), *w = frand(D, 1), *b = frand(D, 1), *y = falloc(R * D);
            for (int64_t i = 0; i < R * D; i++) x[i] += 3.0f; /* an offset mean tests the two-pass variance */
            double *ref = dalloc(R * D), *ref2 = dalloc(R * D);
            const double eps = 1e-6;
            for (int64_t r = 0; r < R; r++) {
                double s = 0, ss = 0, q = 0;
                for (int64_t i = 0; i < D; i++) s += x[r * D + i];
                double mean = s / D;
                for (int64_t i = 0; i < D; i++) {
                    ss += (x[r * D + i] - mean) * (x[r * D + i] - mean);
                    q += (double)x[r * D + i] * x[r * D + i];
                }
                double rstd = 1.0 / sqrt(ss / D + eps), rms = 1.0 / sqrt(q / D + eps);
                for (int64_t i = 0; i < D; i++) {
                    double v = (x[r * D + i] - mean) * rstd;
                    ref[r * D + i] = affine ? v * w[i] + b[i] : v;
                    ref2[r * D + i] = x[r * D + i] * rms * (affine ? w[i] : 1.0);
                }
            }
            rl_tensor tx = T(x, 2, R, D), ty = T(y, 2, R, D), tw = T(w, 1, D), tb = T(b, 1, D);
            int rc = be->layer_norm(be, &ty, &tx, affine ? &tw : NULL, affine ? &tb : NULL, (float)eps);
            check_case(rc, y, ref, R * D, "layer_norm R=%lld D=%lld%s", (long long)R, (long long)D,
                       affine ? " affine" : "");
            rc = be->rms_norm(be, &ty, &tx, affine ? &tw : NULL, (float)eps);
            check_case(rc, y, ref2, R * D, "rms_norm R=%lld D=%lld%s", (long long)R, (long long)D,
                       affine ? " weight" : "");
            free(x), free(w), free(b), free(y), free(ref), free(ref2);
        }
}

/* ---------------------------------------------------------------- elementwise */

static void test_elementwise(void) {
    static const int64_t cases[][2] = {{1, 1}, {3, 17}, {17, 65}, {300, 257}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t R = cases[c][0], D = cases[c][1], n = R * D;
        float *a = frand(n, 3), *bf = frand(n, 1), *bv = frand(D, 1), *sh = frand(D, 1), *y = falloc(n);
        double *ref = dalloc(n);
        rl_tensor ta = T(a, 2, R, D), tbf = T(bf, 2, R, D), tbv = T(bv, 1, D), ty = T(y, 2, R, D);
        rl_tensor tbv3 = T(bv, 3, I(1), I(1), D), tsh = T(sh, 1, D);
        for (int kind = 0; kind < 2; kind++)
            for (int bc = 0; bc < 2; bc++) {
                for (int64_t i = 0; i < n; i++) {
                    double bb = bc ? bv[i % D] : bf[i];
                    ref[i] = kind ? (double)a[i] * bb : (double)a[i] + bb;
                }
                int rc = kind ? be->mul(be, &ty, &ta, bc ? &tbv : &tbf) : be->add(be, &ty, &ta, bc ? &tbv : &tbf);
                check_case(rc, y, ref, n, "%s [%lld, %lld] %s", kind ? "mul" : "add", (long long)R,
                           (long long)D, bc ? "row-broadcast" : "same-shape");
            }
        for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] * 0.37f;
        check_case(be->scale(be, &ty, &ta, 0.37f), y, ref, n, "scale [%lld, %lld]", (long long)R, (long long)D);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] * (1.0 + bv[i % D]) + sh[i % D];
        check_case(be->modulate(be, &ty, &ta, &tsh, &tbv3), y, ref, n, "modulate [%lld, %lld]", (long long)R,
                   (long long)D);
        memcpy(y, bf, n * sizeof(float));
        for (int64_t i = 0; i < n; i++) ref[i] = (double)bf[i] + (double)a[i] * bv[i % D];
        check_case(be->gated_add(be, &ty, &ta, &tbv), y, ref, n, "gated_add [%lld, %lld]", (long long)R,
                   (long long)D);
        for (int64_t i = 0; i < n; i++) ref[i] = a[i] / (1.0 + exp(-(double)a[i]));
        check_case(be->silu(be, &ty, &ta), y, ref, n, "silu [%lld, %lld]", (long long)R, (long long)D);
        for (int64_t i = 0; i < n; i++) ref[i] = gelu_tanh_d(a[i]);
        check_case(be->gelu_tanh(be, &ty, &ta), y, ref, n, "gelu_tanh [%lld, %lld]", (long long)R, (long long)D);
        for (int64_t i = 0; i < n; i++) ref[i] = 0.5 * a[i] * (1.0 + erf(a[i] / sqrt(2.0)));
        check_case(be->gelu_erf(be, &ty, &ta), y, ref, n, "gelu_erf [%lld, %lld]", (long long)R, (long long)D);
        /* in place: y aliases a */
        memcpy(y, a, n * sizeof(float));
        for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] + bv[i % D];
        check_case(be->add(be, &ty, &ty, &tbv), y, ref, n, "add in place [%lld, %lld]", (long long)R, (long long)D);
        free(a), free(bf), free(bv), free(sh), free(y), free(ref);
    }
}

/* ---------------------------------------------------------------- attention */

/* Double reference: out [B,Lq,H,d], lse [B,H,Lq]. */
static void attention_ref(double *out, double *lse, const float *q, const float *k, const float *v,
                          const float *bias, int64_t B, int64_t Lq, int64_t Lk, int64_t H, int64_t d,
                          int64_t nk, double scale) {
    double *s = dalloc(Lk);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Lq; i++) {
                double mx = -INFINITY;
                for (int64_t j = 0; j < nk; j++) {
                    double dot = 0;
                    for (int64_t c = 0; c < d; c++)
                        dot += (double)q[((b * Lq + i) * H + h) * d + c] * k[((b * Lk + j) * H + h) * d + c];
                    s[j] = dot * scale + (bias ? bias[(h * Lq + i) * Lk + j] : 0.0);
                    if (s[j] > mx) mx = s[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < nk; j++) sum += exp(s[j] - mx);
                for (int64_t c = 0; c < d; c++) {
                    double o = 0;
                    for (int64_t j = 0; j < nk; j++) o += exp(s[j] - mx) / sum * v[((b * Lk + j) * H + h) * d + c];
                    out[((b * Lq + i) * H + h) * d + c] = o;
                }
                lse[(b * H + h) * Lq + i] = mx + log(sum);
            }
    free(s);
}

static void test_attention(void) {
    static const int64_t cases[][7] = {
        /* B, Lq, Lk, H, d, kv_len, bias */
        {1, 1, 1, 1, 64, 0, 0},   {2, 17, 33, 3, 64, 20, 0}, {1, 65, 130, 2, 128, 0, 1},
        {2, 5, 3, 2, 7, 2, 1},    {1, 40, 17, 4, 128, 0, 0}, {1, 33, 70, 1, 64, 65, 1},
        {3, 3, 200, 2, 33, 150, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t B = cases[c][0], Lq = cases[c][1], Lk = cases[c][2], H = cases[c][3], d = cases[c][4];
        int64_t kv = cases[c][5], has_bias = cases[c][6], nk = kv > 0 && kv < Lk ? kv : Lk;
        float *q = frand(B * Lq * H * d, 1), *k = frand(B * Lk * H * d, 1), *v = frand(B * Lk * H * d, 1);
        float *bias = frand(H * Lq * Lk, 1), *out = falloc(B * Lq * H * d), *lse = falloc(B * H * Lq);
        double *ref = dalloc(B * Lq * H * d), *rlse = dalloc(B * H * Lq);
        double scale = 1.0 / sqrt((double)d);
        attention_ref(ref, rlse, q, k, v, has_bias ? bias : NULL, B, Lq, Lk, H, d, nk, (float)scale);
        rl_tensor tq = T(q, 4, B, Lq, H, d), tk = T(k, 4, B, Lk, H, d), tv = T(v, 4, B, Lk, H, d);
        rl_tensor tb = T(bias, 3, H, Lq, Lk), to = T(out, 4, B, Lq, H, d), tl = T(lse, 3, B, H, Lq);
        int rc = be->attention(be, &to, &tq, &tk, &tv, kv, has_bias ? &tb : NULL, (float)scale, &tl);
        char desc[160];
        snprintf(desc, sizeof desc, "attention B=%lld Lq=%lld Lk=%lld H=%lld d=%lld kv_len=%lld%s", (long long)B,
                 (long long)Lq, (long long)Lk, (long long)H, (long long)d, (long long)kv, has_bias ? " +bias" : "");
        check_case(rc, out, ref, B * Lq * H * d, "%s out", desc);
        check_case(rc, lse, rlse, B * H * Lq, "%s lse", desc);
        /* the same without an lse output */
        memset(out, 0, B * Lq * H * d * sizeof(float));
        rc = be->attention(be, &to, &tq, &tk, &tv, kv, has_bias ? &tb : NULL, (float)scale, NULL);
        check_case(rc, out, ref, B * Lq * H * d, "%s no-lse", desc);
        free(q), free(k), free(v), free(bias), free(out), free(lse), free(ref), free(rlse);
    }
}

/* Two halves of the keys merged through their lse equal attention over all keys
 * (the ring-attention use), and a row whose bias is all -inf gives zeros, not NaN. */
static void test_attention_merge(void) {
    int64_t Lq = 9, Lk = 50, H = 2, d = 64, L1 = 23;
    float *q = frand(Lq * H * d, 1), *k = frand(Lk * H * d, 1), *v = frand(Lk * H * d, 1);
    float *o1 = falloc(Lq * H * d), *o2 = falloc(Lq * H * d), *l1 = falloc(H * Lq), *l2 = falloc(H * Lq);
    float *merged = falloc(Lq * H * d);
    double *ref = dalloc(Lq * H * d), *rl = dalloc(H * Lq);
    float sc = 0.125f;
    attention_ref(ref, rl, q, k, v, NULL, 1, Lq, Lk, H, d, Lk, sc);
    rl_tensor tq = T(q, 4, I(1), Lq, H, d), tk = T(k, 4, I(1), Lk, H, d), tv = T(v, 4, I(1), Lk, H, d);
    rl_tensor k1 = rl_tensor_slice(&tk, 1, 0, L1), v1 = rl_tensor_slice(&tv, 1, 0, L1);
    rl_tensor k2 = rl_tensor_slice(&tk, 1, L1, Lk - L1), v2 = rl_tensor_slice(&tv, 1, L1, Lk - L1);
    rl_tensor to1 = T(o1, 4, I(1), Lq, H, d), to2 = T(o2, 4, I(1), Lq, H, d);
    rl_tensor tl1 = T(l1, 3, I(1), H, Lq), tl2 = T(l2, 3, I(1), H, Lq);
    int rc = be->attention(be, &to1, &tq, &k1, &v1, 0, NULL, sc, &tl1);
    rc |= be->attention(be, &to2, &tq, &k2, &v2, 0, NULL, sc, &tl2);
    for (int64_t i = 0; i < Lq; i++)
        for (int64_t h = 0; h < H; h++) {
            double a = l1[h * Lq + i], b = l2[h * Lq + i], m = a > b ? a : b;
            double wa = exp(a - m), wb = exp(b - m);
            for (int64_t c = 0; c < d; c++) {
                int64_t idx = (i * H + h) * d + c;
                merged[idx] = (float)((wa * o1[idx] + wb * o2[idx]) / (wa + wb));
            }
        }
    check_case(rc, merged, ref, Lq * H * d, "attention two-part lse merge equals full attention");

    /* bias rows of -inf: query 0 of head 0 sees no key at all, query 1 sees only key 3 */
    float *bias = falloc(H * Lq * Lk), *out = falloc(Lq * H * d), *lse = falloc(H * Lq);
    for (int64_t j = 0; j < Lk; j++) bias[j] = -INFINITY, bias[Lk + j] = j == 3 ? 0.0f : -INFINITY;
    rl_tensor tb = T(bias, 3, H, Lq, Lk), to = T(out, 4, I(1), Lq, H, d), tl = T(lse, 3, I(1), H, Lq);
    rc = be->attention(be, &to, &tq, &tk, &tv, 0, &tb, sc, &tl);
    int ok = rc == 0 && lse[0] == -INFINITY;
    for (int64_t c = 0; c < d; c++) {
        ok = ok && out[c] == 0.0f;                          /* query 0, head 0 */
        ok = ok && fabsf(out[H * d + c] - v[(3 * H) * d + c]) < 1e-6f; /* query 1, head 0 = v[3] */
    }
    CASE("attention all -inf bias row gives zeros and lse -inf; one open key gives its value", ok,
         "rc %d lse[0] %g out[0] %g", rc, lse[0], out[0]);
    free(q), free(k), free(v), free(o1), free(o2), free(l1), free(l2), free(merged), free(ref), free(rl);
    free(bias), free(out), free(lse);
}

/* ---------------------------------------------------------------- rope */

static void test_rope(void) {
    static const int64_t cases[][4] = {{0, 1, 1, 2}, {0, 7, 3, 128}, {2, 17, 2, 64}, {1, 65, 5, 10}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t B = cases[c][0], L = cases[c][1], H = cases[c][2], d = cases[c][3], Bn = B ? B : 1;
        int64_t n = Bn * L * H * d;
        float *x = frand(n, 1), *y = falloc(n), *co = falloc(L * d / 2), *si = falloc(L * d / 2);
        double *ref = dalloc(n);
        for (int64_t i = 0; i < L * d / 2; i++) {
            double ang = tl_uniform() * 20.0 - 10.0;
            co[i] = (float)cos(ang), si[i] = (float)sin(ang);
        }
        for (int64_t b = 0; b < Bn; b++)
            for (int64_t l = 0; l < L; l++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t j = 0; j < d / 2; j++) {
                        int64_t o = ((b * L + l) * H + h) * d + 2 * j;
                        double cj = co[l * d / 2 + j], sj = si[l * d / 2 + j];
                        ref[o] = x[o] * cj - x[o + 1] * sj;
                        ref[o + 1] = x[o] * sj + x[o + 1] * cj;
                    }
        rl_tensor tx = B ? T(x, 4, B, L, H, d) : T(x, 3, L, H, d), ty = B ? T(y, 4, B, L, H, d) : T(y, 3, L, H, d);
        rl_tensor tc = T(co, 2, L, d / 2), ts = T(si, 2, L, d / 2);
        check_case(be->rope(be, &ty, &tx, &tc, &ts), y, ref, n, "rope %s L=%lld H=%lld d=%lld",
                   B ? "[B,L,H,d]" : "[L,H,d]", (long long)L, (long long)H, (long long)d);
        check_case(be->rope(be, &tx, &tx, &tc, &ts), x, ref, n, "rope in place L=%lld H=%lld d=%lld",
                   (long long)L, (long long)H, (long long)d);
        free(x), free(y), free(co), free(si), free(ref);
    }
}

/* ---------------------------------------------------------------- fused norm ops */

/* Random angles in [-10, 10): cos/sin tables of n values. */
static void rand_angles(float *co, float *si, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double ang = tl_uniform() * 20.0 - 10.0;
        co[i] = (float)cos(ang), si[i] = (float)sin(ang);
    }
}

/* layer_norm_modulate against a double loop, in place, and bit for bit against the
 * unfused layer_norm + modulate chain it replaces in the Wan block. */
static void test_layer_norm_modulate(void) {
    static const int64_t cases[][2] = {{1, 1}, {3, 17}, {5, 65}, {7, 1}, {65, 1536}, {2, 5120}, {4, 1001}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t R = cases[c][0], D = cases[c][1], n = R * D;
        float *x = frand(n, 2), *sh = frand(D, 1), *sc = frand(D, 0.5f), *y = falloc(n), *y2 = falloc(n);
        for (int64_t i = 0; i < n; i++) x[i] += 3.0f; /* an offset mean tests the two-pass variance */
        double *ref = dalloc(n);
        for (int64_t r = 0; r < R; r++) {
            double s = 0, ss = 0;
            for (int64_t i = 0; i < D; i++) s += x[r * D + i];
            double mean = s / D;
            for (int64_t i = 0; i < D; i++) ss += (x[r * D + i] - mean) * (x[r * D + i] - mean);
            double rstd = 1.0 / sqrt(ss / D + 1e-6);
            for (int64_t i = 0; i < D; i++) ref[r * D + i] = (x[r * D + i] - mean) * rstd * (1.0 + sc[i]) + sh[i];
        }
        /* scale as a [1, 1, D] modulation chunk, shift as [D] */
        rl_tensor tx = T(x, 2, R, D), ty = T(y, 2, R, D), tsh = T(sh, 1, D), tsc = T(sc, 3, I(1), I(1), D);
        check_case(be->layer_norm_modulate(be, &ty, &tx, &tsh, &tsc, 1e-6f), y, ref, n,
                   "layer_norm_modulate R=%lld D=%lld", (long long)R, (long long)D);
        rl_tensor t2 = T(y2, 2, R, D);
        int rc = be->layer_norm(be, &t2, &tx, NULL, NULL, 1e-6f);
        if (rc == 0) rc = be->modulate(be, &t2, &t2, &tsh, &tsc);
        EXPECT(rc == 0 && !memcmp(y, y2, n * 4), "layer_norm_modulate R=%lld D=%lld differs from layer_norm then "
               "modulate (rc %d)", (long long)R, (long long)D, rc);
        check_case(be->layer_norm_modulate(be, &tx, &tx, &tsh, &tsc, 1e-6f), x, ref, n,
                   "layer_norm_modulate in place R=%lld D=%lld", (long long)R, (long long)D);
        free(x), free(sh), free(sc), free(y), free(y2), free(ref);
    }
}

/* rms_norm_rope against a double loop (the RMS spans all heads of a token), with
 * and without a weight, in place, and bit for bit against rms_norm then rope. */
static void test_rms_norm_rope(void) {
    static const int64_t cases[][4] = {{0, 1, 1, 2}, {0, 7, 3, 128}, {2, 17, 2, 64}, {1, 65, 5, 10}, {0, 3, 40, 6},
                                       {0, 33, 12, 128}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int weighted = 0; weighted < 2; weighted++) {
            int64_t B = cases[c][0], L = cases[c][1], H = cases[c][2], d = cases[c][3], Bn = B ? B : 1;
            int64_t D = H * d, half = d / 2, n = Bn * L * D;
            float *x = frand(n, 2), *w = frand(D, 1), *y = falloc(n), *y2 = falloc(n);
            float *co = falloc(L * half), *si = falloc(L * half);
            rand_angles(co, si, L * half);
            double *ref = dalloc(n), *t = dalloc(D);
            for (int64_t r = 0; r < Bn * L; r++) {
                const float *xr = x + r * D;
                double q = 0;
                for (int64_t i = 0; i < D; i++) q += (double)xr[i] * xr[i];
                double rs = 1.0 / sqrt(q / D + 1e-6);
                for (int64_t i = 0; i < D; i++) t[i] = xr[i] * rs * (weighted ? w[i] : 1.0);
                for (int64_t i = 0; i < D; i += 2) {
                    int64_t j = (i % d) / 2;
                    double cj = co[(r % L) * half + j], sj = si[(r % L) * half + j];
                    ref[r * D + i] = t[i] * cj - t[i + 1] * sj;
                    ref[r * D + i + 1] = t[i] * sj + t[i + 1] * cj;
                }
            }
            rl_tensor tx = B ? T(x, 4, B, L, H, d) : T(x, 3, L, H, d), ty = B ? T(y, 4, B, L, H, d) : T(y, 3, L, H, d);
            rl_tensor t2 = B ? T(y2, 4, B, L, H, d) : T(y2, 3, L, H, d);
            rl_tensor tw = T(w, 1, D), tc = T(co, 2, L, half), ts = T(si, 2, L, half);
            const rl_tensor *pw = weighted ? &tw : NULL;
            check_case(be->rms_norm_rope(be, &ty, &tx, pw, &tc, &ts, 1e-6f), y, ref, n,
                       "rms_norm_rope %s L=%lld H=%lld d=%lld%s", B ? "[B,L,H,d]" : "[L,H,d]", (long long)L,
                       (long long)H, (long long)d, weighted ? " weight" : "");
            /* the chain: rms_norm over rows of D, then rope on the head view */
            rl_tensor x2 = T(x, 2, Bn * L, D), y2v = T(y2, 2, Bn * L, D);
            int rc = be->rms_norm(be, &y2v, &x2, pw, 1e-6f);
            if (rc == 0) rc = be->rope(be, &t2, &t2, &tc, &ts);
            EXPECT(rc == 0 && !memcmp(y, y2, n * 4), "rms_norm_rope L=%lld H=%lld d=%lld differs from rms_norm then "
                   "rope (rc %d)", (long long)L, (long long)H, (long long)d, rc);
            check_case(be->rms_norm_rope(be, &tx, &tx, pw, &tc, &ts, 1e-6f), x, ref, n,
                       "rms_norm_rope in place L=%lld H=%lld d=%lld%s", (long long)L, (long long)H, (long long)d,
                       weighted ? " weight" : "");
            free(x), free(w), free(y), free(y2), free(co), free(si), free(ref), free(t);
        }
}

/* gated_add_layer_norm and add_layer_norm_modulate against a double loop (both x and
 * h), with and without gate and affine, and bit for bit against the chains they
 * replace in the Wan block (gated_add + layer_norm, add + layer_norm_modulate). */
static void test_add_layer_norm(void) {
    static const int64_t cases[][2] = {{1, 1}, {3, 17}, {5, 65}, {7, 1}, {65, 1536}, {2, 5120}, {4, 1001}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int mode = 0; mode < 4; mode++) { /* 0 affine + gate, 1 no affine, no gate, 2 modulate, 3 modulate + gate */
            int64_t R = cases[c][0], D = cases[c][1], n = R * D;
            int modulate = mode >= 2, gated = mode == 0 || mode == 3, affine = mode == 0;
            float *x = frand(n, 2), *y = frand(n, 1), *g = frand(D, 1), *va = frand(D, 0.5f), *vb = frand(D, 1);
            float *h = falloc(n), *x2 = falloc(n), *h2 = falloc(n);
            for (int64_t i = 0; i < n; i++) x[i] += 3.0f;
            memcpy(x2, x, n * sizeof(float));
            double *rx = dalloc(n), *rh = dalloc(n);
            for (int64_t r = 0; r < R; r++) {
                double s = 0, ss = 0;
                for (int64_t i = 0; i < D; i++) {
                    rx[r * D + i] = (double)x[r * D + i] + (double)y[r * D + i] * (gated ? g[i] : 1.0);
                    s += rx[r * D + i];
                }
                double mean = s / D;
                for (int64_t i = 0; i < D; i++) ss += (rx[r * D + i] - mean) * (rx[r * D + i] - mean);
                double rstd = 1.0 / sqrt(ss / D + 1e-6);
                for (int64_t i = 0; i < D; i++) {
                    double v = (rx[r * D + i] - mean) * rstd;
                    rh[r * D + i] = modulate ? v * (1.0 + va[i]) + vb[i] : affine ? v * va[i] + vb[i] : v;
                }
            }
            rl_tensor tx = T(x, 2, R, D), ty = T(y, 2, R, D), th = T(h, 2, R, D), tg = T(g, 1, D);
            rl_tensor ta = T(va, 3, I(1), I(1), D), tb = T(vb, 1, D);
            const rl_tensor *pg = gated ? &tg : NULL;
            const char *name = modulate ? "add_layer_norm_modulate" : "gated_add_layer_norm";
            int rc = modulate ? be->add_layer_norm_modulate(be, &tx, &ty, pg, &th, &tb, &ta, 1e-6f)
                              : be->gated_add_layer_norm(be, &tx, &ty, pg, &th, affine ? &ta : NULL,
                                                         affine ? &tb : NULL, 1e-6f);
            const char *what = mode == 0 ? " gate affine" : mode == 1 ? "" : mode == 2 ? "" : " gate";
            check_case(rc, x, rx, n, "%s R=%lld D=%lld%s: x", name, (long long)R, (long long)D, what);
            check_case(rc, h, rh, n, "%s R=%lld D=%lld%s: h", name, (long long)R, (long long)D, what);
            /* the chain on a copy of the input */
            rl_tensor tx2 = T(x2, 2, R, D), th2 = T(h2, 2, R, D);
            int rc2 = gated ? be->gated_add(be, &tx2, &ty, &tg) : be->add(be, &tx2, &tx2, &ty);
            if (rc2 == 0)
                rc2 = modulate ? be->layer_norm_modulate(be, &th2, &tx2, &tb, &ta, 1e-6f)
                               : be->layer_norm(be, &th2, &tx2, affine ? &ta : NULL, affine ? &tb : NULL, 1e-6f);
            EXPECT(rc2 == 0 && !memcmp(x, x2, n * 4) && !memcmp(h, h2, n * 4),
                   "%s R=%lld D=%lld mode %d differs from the unfused chain (rc %d)", name, (long long)R, (long long)D,
                   mode, rc2);
            free(x), free(y), free(g), free(va), free(vb), free(h), free(x2), free(h2), free(rx), free(rh);
        }
}

/* The official formula, written as wan/modules/model.py builds it: three
 * rope_params tables of dims d-4*(d//6), 2*(d//6), 2*(d//6) (theta^(-arange(0,dim,2)/dim)),
 * split per head into c-2*(c//3), c//3, c//3 complex pairs. */
static void rope_official(double *cosd, double *sind, int64_t F, int64_t Hp, int64_t Wp, int d) {
    int c = d / 2, dims[3] = {d - 4 * (d / 6), 2 * (d / 6), 2 * (d / 6)}, split[3] = {c - 2 * (c / 3), c / 3, c / 3};
    for (int64_t f = 0; f < F; f++)
        for (int64_t h = 0; h < Hp; h++)
            for (int64_t w = 0; w < Wp; w++) {
                int64_t tok = (f * Hp + h) * Wp + w, pos[3] = {f, h, w};
                int col = 0;
                for (int a = 0; a < 3; a++)
                    for (int j = 0; j < split[a]; j++, col++) {
                        double freq = 1.0 / pow(10000.0, (double)(2 * j) / (double)dims[a]);
                        cosd[tok * c + col] = cos((double)pos[a] * freq);
                        sind[tok * c + col] = sin((double)pos[a] * freq);
                    }
            }
}

static void test_rope3d_table(void) {
    static const int dims[] = {128, 64, 12, 6};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int d = dims[di], c = d / 2;
        int64_t F = 3, Hp = 4, Wp = 5, L = F * Hp * Wp;
        double *cd = dalloc(L * c), *sd = dalloc(L * c);
        float *cf = falloc((L + 7) * c), *sf = falloc((L + 7) * c), *cs = falloc(30 * c), *ss = falloc(30 * c);
        rope_official(cd, sd, F, Hp, Wp, d);
        rl_rope3d_table(cf, sf, 0, L + 7, F, Hp, Wp, d); /* 7 padding tokens past the grid */
        int bad = 0;
        for (int64_t i = 0; i < L * c; i++)
            if (cf[i] != (float)cd[i] || sf[i] != (float)sd[i]) bad++;
        for (int64_t i = L * c; i < (L + 7) * c; i++)
            if (cf[i] != 1.0f || sf[i] != 0.0f) bad++;
        char name[128];
        snprintf(name, sizeof name, "rope3d table d=%d grid 3x4x5 equals the official float64 formula (+ identity padding)", d);
        CASE(name, bad == 0, "%d of %lld entries differ", bad, (long long)((L + 7) * c * 2));
        /* a sequence-parallel rank's slice [token0, token0+30) equals the full table's rows */
        rl_rope3d_table(cs, ss, 17, 30, F, Hp, Wp, d);
        int same = memcmp(cs, cf + 17 * c, 30 * c * sizeof(float)) == 0 && memcmp(ss, sf + 17 * c, 30 * c * sizeof(float)) == 0;
        snprintf(name, sizeof name, "rope3d table d=%d rows from token0=17 equal the full table's slice", d);
        CASE(name, same, "the sliced table differs from the full one");
        free(cd), free(sd), free(cf), free(sf), free(cs), free(ss);
    }
    /* d = 128: the split is 22/21/21 with denominators 44 and 42 (spot values) */
    float co[64], si[64];
    rl_rope3d_table(co, si, 1 * 4 * 5 + 1 * 5 + 1, 1, 3, 4, 5, 128); /* token (1,1,1) */
    double t1 = 1.0 / pow(10000.0, 2.0 / 44.0), h1 = 1.0 / pow(10000.0, 2.0 / 42.0);
    int ok = co[0] == (float)cos(1.0) && co[1] == (float)cos(t1) && co[22] == (float)cos(1.0) &&
             co[23] == (float)cos(h1) && co[43] == (float)cos(1.0) && co[44] == (float)cos(h1);
    CASE("rope3d table d=128 splits 22/21/21 with theta denominators 44 and 42", ok, "co[1]=%g co[23]=%g", co[1], co[23]);
}

/* Rows of diffusers' table for the 480x832x81 grid (21 x 60 x 104 tokens, d = 128):
 * both round the same float64 angles to f32, so a row may differ by at most one
 * f32 rounding of a float64 ulp difference between libms; exact in practice. */
static void test_rope3d_golden(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/rope3d.safetensors", RL_SOURCE_DIR);
    rl_safetensors st;
    if (rl_st_open(&st, path) != 0) {
        CASE("rope3d golden opens", 0, "%s", rl_error_message());
        return;
    }
    const rl_st_tensor *tt = rl_st_find(&st, "tokens"), *tc = rl_st_find(&st, "cos"), *ts = rl_st_find(&st, "sin");
    const rl_st_tensor *tg = rl_st_find(&st, "grid");
    int ok = tt && tc && ts && tg && tt->dtype == RL_I64 && tc->dtype == RL_F32 && ts->dtype == RL_F32 &&
             tg->dtype == RL_I64 && tc->ndim == 2 && tc->shape[1] == 64 && tt->shape[0] == tc->shape[0] &&
             ts->shape[0] == tc->shape[0] && ts->shape[1] == 64;
    CASE("rope3d golden has tokens, cos, sin, grid", ok, "unexpected tensors in %s", path);
    if (!ok) {
        rl_st_close(&st);
        return;
    }
    const int64_t *tok = rl_st_data(&st, tt), *grid = rl_st_data(&st, tg);
    const float *gc = rl_st_data(&st, tc), *gs = rl_st_data(&st, ts);
    int64_t R = tt->shape[0];
    int exact = 0, near = 0;
    double maxd = 0;
    for (int64_t r = 0; r < R; r++) {
        float co[64], si[64];
        rl_rope3d_table(co, si, tok[r], 1, grid[0], grid[1], grid[2], (int)grid[3]);
        for (int j = 0; j < 64; j++) {
            double dc = fabs((double)co[j] - gc[r * 64 + j]), ds = fabs((double)si[j] - gs[r * 64 + j]);
            if (dc == 0 && ds == 0) exact++;
            else if (dc <= 1.2e-7 && ds <= 1.2e-7) near++;
            if (dc > maxd) maxd = dc;
            if (ds > maxd) maxd = ds;
        }
    }
    char name[200];
    snprintf(name, sizeof name, "rope3d table equals diffusers WanRotaryPosEmbed on a 21x60x104 grid: %d/%lld pairs exact, %d within one f32 ulp",
             exact, (long long)(R * 64), near);
    CASE(name, exact + near == R * 64, "max abs difference %.3g", maxd);
    rl_st_close(&st);
}

/* ---------------------------------------------------------------- conv3d */

static void expect_error(const char *what, int rc, const char *must1, const char *must2);

static void test_conv3d(void) {
    static const int cases[][15] = {
        /* Cin Cout T H W kt kh kw  st sh sw  pt_front pt_back ph pw  (front=back for h, w) */
        {3, 5, 4, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {3, 5, 5, 8, 9, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1},   /* stride 2 */
        {4, 6, 5, 6, 7, 3, 3, 3, 1, 1, 1, 2, 0, 1, 1},   /* causal time padding */
        {17, 3, 3, 5, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},  /* 1x1x1 */
        {2, 1, 1, 4, 4, 1, 3, 3, 1, 1, 1, 0, 0, 1, 1},   /* kt=1, one output channel */
        {5, 4, 6, 9, 11, 3, 1, 1, 2, 1, 1, 2, 0, 0, 0},  /* time-only kernel, stride 2, causal */
        {3, 7, 3, 9, 10, 1, 3, 3, 1, 2, 2, 0, 0, 0, 1},  /* spatial downsample with pad (0,1) style */
        {32, 40, 3, 20, 33, 3, 3, 3, 1, 1, 1, 2, 0, 1, 1}, /* K = 288 > one kc block, > 128 positions */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *p = cases[ci];
        int64_t Cin = p[0], Cout = p[1], Ti = p[2], Hi = p[3], Wi = p[4], kt = p[5], kh = p[6], kw = p[7];
        rl_conv3d_params cp = {{p[8], p[9], p[10]}, {p[11], p[13], ci == 6 ? 0 : p[14]}, {p[12], p[13], p[14]}, NULL};
        int64_t To = (Ti + cp.pad_front[0] + cp.pad_back[0] - kt) / cp.stride[0] + 1;
        int64_t Ho = (Hi + cp.pad_front[1] + cp.pad_back[1] - kh) / cp.stride[1] + 1;
        int64_t Wo = (Wi + cp.pad_front[2] + cp.pad_back[2] - kw) / cp.stride[2] + 1;
        float *x = frand(Cin * Ti * Hi * Wi, 1), *w = frand(Cout * Cin * kt * kh * kw, 0.3f), *b = frand(Cout, 1);
        int64_t ny = Cout * To * Ho * Wo;
        float *y = falloc(ny);
        double *ref = dalloc(ny);
        for (int64_t co = 0; co < Cout; co++)
            for (int64_t t = 0; t < To; t++)
                for (int64_t h = 0; h < Ho; h++)
                    for (int64_t wo = 0; wo < Wo; wo++) {
                        double s = b[co];
                        for (int64_t c = 0; c < Cin; c++)
                            for (int64_t a = 0; a < kt; a++)
                                for (int64_t e = 0; e < kh; e++)
                                    for (int64_t f = 0; f < kw; f++) {
                                        int64_t ti = t * cp.stride[0] + a - cp.pad_front[0];
                                        int64_t hi = h * cp.stride[1] + e - cp.pad_front[1];
                                        int64_t wi = wo * cp.stride[2] + f - cp.pad_front[2];
                                        if (ti < 0 || ti >= Ti || hi < 0 || hi >= Hi || wi < 0 || wi >= Wi) continue;
                                        s += (double)w[(((co * Cin + c) * kt + a) * kh + e) * kw + f] *
                                             x[((c * Ti + ti) * Hi + hi) * Wi + wi];
                                    }
                        ref[((co * To + t) * Ho + h) * Wo + wo] = s;
                    }
        rl_tensor tx = T(x, 4, Cin, Ti, Hi, Wi), tw = T(w, 5, Cout, Cin, kt, kh, kw), tb = T(b, 1, Cout);
        rl_tensor ty = T(y, 4, Cout, To, Ho, Wo);
        int rc = be->conv3d(be, &ty, &tx, &tw, &tb, &cp);
        check_case(rc, y, ref, ny,
                   "conv3d x[%lld,%lld,%lld,%lld] k%lldx%lldx%lld Cout=%lld stride %d,%d,%d pad front %d,%d,%d back %d,%d,%d",
                   (long long)Cin, (long long)Ti, (long long)Hi, (long long)Wi, (long long)kt, (long long)kh,
                   (long long)kw, (long long)Cout, cp.stride[0], cp.stride[1], cp.stride[2], cp.pad_front[0],
                   cp.pad_front[1], cp.pad_front[2], cp.pad_back[0], cp.pad_back[1], cp.pad_back[2]);
        /* the same conv with x's first n frames handed over as prefix frames (frames
         * [2 - n, 2) of a [Cin, 2, H, W] cache: a channel-strided view for n = 1) gives
         * the same bits */
        const int64_t plane = Hi * Wi;
        for (int n = 1; cp.stride[0] == 1 && n <= 2 && n < Ti; n++) {
            float *cache = falloc(Cin * 2 * plane), *rest = falloc(Cin * (Ti - n) * plane), *y2 = falloc(ny);
            for (int64_t c = 0; c < Cin; c++) {
                memcpy(cache + (c * 2 + 2 - n) * plane, x + c * Ti * plane, (size_t)(n * plane) * sizeof(float));
                memcpy(rest + c * (Ti - n) * plane, x + (c * Ti + n) * plane, (size_t)((Ti - n) * plane) * sizeof(float));
            }
            rl_tensor tc = T(cache, 4, Cin, (int64_t)2, Hi, Wi), tr = T(rest, 4, Cin, Ti - n, Hi, Wi);
            rl_tensor pre = rl_tensor_slice(&tc, 1, 2 - n, n), ty2 = T(y2, 4, Cout, To, Ho, Wo);
            rl_conv3d_params cq = cp;
            cq.prefix = &pre;
            int rc2 = be->conv3d(be, &ty2, &tr, &tw, &tb, &cq);
            CASE("conv3d with prefix frames", rc2 == 0 && rc == 0 && !memcmp(y, y2, (size_t)ny * sizeof(float)),
                 "x[%lld,%lld,%lld,%lld] with its first %d frames as a prefix: rc %d, %s", (long long)Cin,
                 (long long)Ti, (long long)Hi, (long long)Wi, n, rc2, rc2 ? rl_error_message() : "different values");
            free(cache), free(rest), free(y2);
        }
        free(x), free(w), free(b), free(y), free(ref);
    }
    /* a prefix that does not match x is refused with a sentence */
    float *px = falloc(2 * 3 * 4 * 4), *pw = falloc(2 * 2 * 27), *py = falloc(2 * 3 * 4 * 4);
    rl_tensor tx = T(px, 4, (int64_t)2, (int64_t)3, (int64_t)4, (int64_t)4);
    rl_tensor tbad = T(px, 4, (int64_t)2, (int64_t)1, (int64_t)4, (int64_t)3);
    rl_tensor tw = T(pw, 5, (int64_t)2, (int64_t)2, (int64_t)3, (int64_t)3, (int64_t)3);
    rl_tensor ty = T(py, 4, (int64_t)2, (int64_t)3, (int64_t)4, (int64_t)4);
    rl_conv3d_params bad = {{1, 1, 1}, {1, 1, 1}, {0, 1, 1}, &tbad};
    expect_error("conv3d prefix of another width", be->conv3d(be, &ty, &tx, &tw, NULL, &bad), "conv3d", "prefix");
    free(px), free(pw), free(py);
}

/* ---------------------------------------------------------------- cast, copy */

static void test_cast_copy(void) {
    int64_t n = 1000;
    float *x = frand(n, 100);
    x[0] = NAN, x[1] = INFINITY, x[2] = -0.0f, x[3] = 1e-30f, x[4] = 70000.0f;
    uint16_t *h = malloc(n * 2), *bh = malloc(n * 2);
    uint8_t *f8 = malloc(n);
    float *back = falloc(n);
    rl_tensor tx = T(x, 2, I(10), I(100));
    rl_tensor th = rl_tensor_make(h, RL_BF16, RL_DEVICE_CPU, 2, tx.shape);
    rl_tensor t8 = rl_tensor_make(f8, RL_F8_E4M3, RL_DEVICE_CPU, 2, tx.shape);
    rl_tensor tb = T(back, 2, I(10), I(100));
    int rc = be->cast(be, &th, &tx) | be->cast(be, &t8, &tx) | be->cast(be, &tb, &th);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        bh[i] = rl_f32_to_bf16(x[i]);
        if (h[i] != bh[i] || f8[i] != rl_f32_to_f8e4m3(x[i])) bad++;
        float r = rl_bf16_to_f32(h[i]);
        if (memcmp(&r, &back[i], 4) != 0) bad++;
    }
    CASE("cast f32 -> bf16, f8_e4m3fn and bf16 -> f32 match the scalar conversions", rc == 0 && bad == 0,
         "rc %d, %d mismatches", rc, bad);

    /* copy of a permuted view of rank 5 into a contiguous tensor, for 4- and 2-byte dtypes */
    int64_t s5[5] = {2, 3, 4, 5, 3};
    float *src = frand(360, 1), *dst = falloc(360);
    rl_tensor a = rl_tensor_make(src, RL_F32, RL_DEVICE_CPU, 5, s5);
    int perm[5] = {4, 2, 0, 3, 1};
    rl_tensor pv = rl_tensor_permute(&a, perm);
    rl_tensor d = rl_tensor_make(dst, RL_F32, RL_DEVICE_CPU, 5, pv.shape);
    rc = be->copy(be, &d, &pv);
    bad = 0;
    int64_t ix[5];
    for (ix[0] = 0; ix[0] < pv.shape[0]; ix[0]++)
        for (ix[1] = 0; ix[1] < pv.shape[1]; ix[1]++)
            for (ix[2] = 0; ix[2] < pv.shape[2]; ix[2]++)
                for (ix[3] = 0; ix[3] < pv.shape[3]; ix[3]++)
                    for (ix[4] = 0; ix[4] < pv.shape[4]; ix[4]++) {
                        int64_t so = 0, dof = 0;
                        for (int k = 0; k < 5; k++) so += ix[k] * pv.stride[k], dof += ix[k] * d.stride[k];
                        if (src[so] != dst[dof]) bad++;
                    }
    CASE("copy of a rank-5 permuted f32 view equals element-wise indexing", rc == 0 && bad == 0,
         "rc %d, %d mismatches", rc, bad);
    /* copy a [4, 6] bf16 block into a column slice of a [4, 10] tensor (strided destination) */
    uint16_t big[40] = {0}, blk[24];
    for (int i = 0; i < 24; i++) blk[i] = (uint16_t)(1000 + i);
    int64_t sb[2] = {4, 10}, sk[2] = {4, 6};
    rl_tensor tbig = rl_tensor_make(big, RL_BF16, RL_DEVICE_CPU, 2, sb), tblk = rl_tensor_make(blk, RL_BF16, RL_DEVICE_CPU, 2, sk);
    rl_tensor col = rl_tensor_slice(&tbig, 1, 3, 6);
    rc = be->copy(be, &col, &tblk);
    bad = 0;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 10; c++) {
            uint16_t want = c >= 3 && c < 9 ? (uint16_t)(1000 + r * 6 + c - 3) : 0;
            if (big[r * 10 + c] != want) bad++;
        }
    CASE("copy into a strided bf16 column slice writes exactly that slice", rc == 0 && bad == 0,
         "rc %d, %d wrong elements", rc, bad);
    free(x), free(h), free(bh), free(f8), free(back), free(src), free(dst);
}

/* ---------------------------------------------------------------- errors */

static void expect_error(const char *what, int rc, const char *must1, const char *must2) {
    const char *m = rl_error_message();
    int ok = rc == -1 && strstr(m, must1) && (!must2 || strstr(m, must2));
    char name[200];
    snprintf(name, sizeof name, "error: %s", what);
    CASE(name, ok, "rc %d, message \"%s\" should contain \"%s\"%s%s", rc, m, must1, must2 ? " and " : "",
         must2 ? must2 : "");
    if (ok) printf("    (%s)\n", m);
    rl_error_clear();
}

static void test_errors(void) {
    float *buf = falloc(4096), *out = falloc(4096);
    rl_tensor x = T(buf, 2, I(4), I(64)), w = T(buf, 2, I(128), I(32)), y = T(out, 2, I(4), I(128));
    expect_error("matmul K mismatch", be->matmul(be, &y, &x, &w, NULL, RL_ACT_NONE), "matmul", "[128, 32]");
    rl_tensor w2 = T(buf, 2, I(128), I(64)), yb = T(out, 2, I(4), I(127));
    expect_error("matmul output shape", be->matmul(be, &yb, &x, &w2, NULL, RL_ACT_NONE), "matmul", "[4, 127]");
    rl_tensor bb = T(buf, 1, I(64));
    expect_error("matmul bias length", be->matmul(be, &y, &x, &w2, &bb, RL_ACT_NONE), "matmul", "bias");
    rl_tensor xh = rl_tensor_make(buf, RL_BF16, RL_DEVICE_CPU, 2, x.shape);
    expect_error("matmul bf16 input", be->matmul(be, &y, &xh, &w2, NULL, RL_ACT_NONE), "matmul", "bf16");
    rl_tensor big = T(buf, 2, I(8), I(64)), strided = rl_tensor_slice(&big, 1, 0, 32);
    rl_tensor y32 = T(out, 2, I(8), I(32));
    expect_error("silu of a strided view", be->silu(be, &y32, &strided), "silu", "strided");
    rl_tensor xg = x;
    xg.device = RL_DEVICE_CUDA;
    expect_error("layer_norm of a GPU tensor", be->layer_norm(be, &x, &xg, NULL, NULL, 1e-6f), "layer_norm", "GPU");
    rl_tensor a = T(buf, 2, I(4), I(64)), b = T(buf, 2, I(4), I(63)), ya = T(out, 2, I(4), I(64));
    expect_error("add shape mismatch", be->add(be, &ya, &a, &b), "add", "[4, 63]");
    rl_tensor sh = T(buf, 1, I(32));
    expect_error("modulate shift length", be->modulate(be, &ya, &a, &sh, &sh), "modulate", "shift");
    rl_tensor q = T(buf, 4, I(1), I(4), I(2), I(8)), k = T(buf, 4, I(1), I(5), I(2), I(16)), o = T(out, 4, I(1), I(4), I(2), I(8));
    expect_error("attention head dim mismatch", be->attention(be, &o, &q, &k, &k, 0, NULL, 1.0f, NULL), "attention", "[1, 5, 2, 16]");
    rl_tensor k2 = T(buf, 4, I(1), I(5), I(2), I(8)), bias = T(buf, 3, I(2), I(4), I(4));
    expect_error("attention bias shape", be->attention(be, &o, &q, &k2, &k2, 0, &bias, 1.0f, NULL), "attention", "bias");
    rl_tensor cs = T(buf, 2, I(3), I(4));
    expect_error("rope table rows", be->rope(be, &o, &q, &cs, &cs), "rope", "[3, 4]");
    rl_tensor cs4 = T(buf, 2, I(4), I(4)), w15 = T(buf, 1, I(15));
    expect_error("rms_norm_rope weight spans all heads", be->rms_norm_rope(be, &o, &q, &w15, &cs4, &cs4, 1e-6f),
                 "rms_norm_rope", "'w'");
    expect_error("rms_norm_rope table rows", be->rms_norm_rope(be, &o, &q, NULL, &cs, &cs, 1e-6f), "rms_norm_rope",
                 "[3, 4]");
    rl_tensor q3 = T(buf, 3, I(4), I(2), I(7));
    expect_error("rms_norm_rope odd head dim", be->rms_norm_rope(be, &q3, &q3, NULL, &cs4, &cs4, 1e-6f),
                 "rms_norm_rope", "odd head dim");
    expect_error("layer_norm_modulate scale length", be->layer_norm_modulate(be, &ya, &a, &sh, &sh, 1e-6f),
                 "layer_norm_modulate", "shift");
    expect_error("layer_norm_modulate output shape", be->layer_norm_modulate(be, &y, &a, &sh, &sh, 1e-6f),
                 "layer_norm_modulate", "[4, 128]");
    expect_error("gated_add_layer_norm h aliasing x", be->gated_add_layer_norm(be, &ya, &a, NULL, &ya, NULL, NULL, 1e-6f),
                 "gated_add_layer_norm", "apart");
    expect_error("gated_add_layer_norm gate length", be->gated_add_layer_norm(be, &ya, &a, &sh, &a, NULL, NULL, 1e-6f),
                 "gated_add_layer_norm", "'gate'");
    expect_error("add_layer_norm_modulate y shape", be->add_layer_norm_modulate(be, &ya, &b, NULL, &a, &bb, &bb, 1e-6f),
                 "add_layer_norm_modulate", "[4, 63]");
    expect_error("add_layer_norm_modulate without scale",
                 be->add_layer_norm_modulate(be, &ya, &a, NULL, &a, &bb, NULL, 1e-6f), "add_layer_norm_modulate",
                 "required");
    rl_tensor cx = T(buf, 4, I(3), I(2), I(4), I(4)), cw = T(buf, 5, I(2), I(4), I(1), I(1), I(1));
    rl_tensor cy = T(out, 4, I(2), I(2), I(4), I(4));
    rl_conv3d_params cp = {{1, 1, 1}, {0, 0, 0}, {0, 0, 0}, NULL};
    expect_error("conv3d Cin mismatch", be->conv3d(be, &cy, &cx, &cw, NULL, &cp), "conv3d", "Cin=3");
    rl_tensor cw3 = T(buf, 5, I(2), I(3), I(3), I(3), I(3));
    expect_error("conv3d kernel larger than the input", be->conv3d(be, &cy, &cx, &cw3, NULL, &cp), "conv3d", "larger");
    rl_tensor cw1 = T(buf, 5, I(2), I(3), I(1), I(1), I(1)), cy2 = T(out, 4, I(2), I(2), I(4), I(3));
    expect_error("conv3d output shape", be->conv3d(be, &cy2, &cx, &cw1, NULL, &cp), "conv3d", "[2, 2, 4, 4]");
    rl_tensor q0 = T(buf, 4, I(1), I(4), I(2), I(0));
    expect_error("attention head dim 0", be->attention(be, &q0, &q0, &q0, &q0, 0, NULL, 1.0f, NULL), "attention", "head dim 0");
    /* Cin = 0: the output is the bias alone */
    float bias2[2] = {1.5f, -2.0f};
    rl_tensor x0 = T(buf, 4, I(0), I(2), I(2), I(2)), w0 = T(buf, 5, I(2), I(0), I(1), I(1), I(1)), b0 = T(bias2, 1, I(2));
    rl_tensor y0 = T(out, 4, I(2), I(2), I(2), I(2));
    int rc0 = be->conv3d(be, &y0, &x0, &w0, &b0, &cp);
    CASE("conv3d with Cin=0 writes the bias", rc0 == 0 && out[0] == 1.5f && out[15] == -2.0f, "rc %d out %g %g", rc0, out[0], out[15]);
    rl_tensor cc = T(out, 2, I(4), I(63));
    expect_error("cast shape mismatch", be->cast(be, &cc, &a), "cast", "[4, 63]");
    expect_error("copy dtype mismatch", be->copy(be, &xh, &a), "copy", "cast");
    free(buf), free(out);
}

/* ---------------------------------------------------------------- selection, memory */

static void test_by_name_and_memory(void) {
    CASE("backend by name: cpu", rl_backend_by_name("cpu") == be && be->device == RL_DEVICE_CPU, "wrong backend");
    rl_backend *t = rl_backend_by_name("tpu");
    expect_error("unknown backend name lists the choices", t ? 0 : -1, "'tpu'", "cpu, cuda");
#ifndef RL_HAVE_CUDA
    t = rl_backend_by_name("cuda");
    expect_error("cuda backend in a CPU-only build", t ? 0 : -1, "'cuda'", "without CUDA");
#endif
    size_t before = rl_mem_current(RL_DEVICE_CPU);
    void *p = be->alloc(be, 1000), *p2 = be->alloc(be, 3);
    size_t mid = rl_mem_current(RL_DEVICE_CPU);
    int ok = p && p2 && ((uintptr_t)p % 64) == 0 && ((uintptr_t)p2 % 64) == 0 && mid == before + 1003;
    char hostbuf[1000];
    memset(hostbuf, 7, sizeof hostbuf);
    ok = ok && be->upload(be, p, hostbuf, 1000) == 0;
    memset(hostbuf, 0, sizeof hostbuf);
    ok = ok && be->download(be, hostbuf, p, 1000) == 0 && hostbuf[999] == 7 && be->synchronize(be) == 0;
    be->free(be, p, 1000);
    be->free(be, p2, 3);
    ok = ok && rl_mem_current(RL_DEVICE_CPU) == before && rl_mem_peak(RL_DEVICE_CPU) >= mid;
    CASE("cpu alloc is 64-byte aligned, counted in rl_mem and released; upload/download copy", ok,
         "before %zu mid %zu after %zu", before, mid, rl_mem_current(RL_DEVICE_CPU));
}

int main(void) {
    be = rl_backend_cpu();
    tl_seed(20250101);
    RUN(test_matmul);
    RUN(test_matmul_speed);
    RUN(test_norms);
    RUN(test_elementwise);
    RUN(test_attention);
    RUN(test_attention_merge);
    RUN(test_rope);
    RUN(test_layer_norm_modulate);
    RUN(test_rms_norm_rope);
    RUN(test_add_layer_norm);
    RUN(test_rope3d_table);
    RUN(test_rope3d_golden);
    RUN(test_conv3d);
    RUN(test_cast_copy);
    RUN(test_errors);
    RUN(test_by_name_and_memory);
    TL_EXIT();
}
