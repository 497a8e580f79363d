/* backend_cpu.c: the CPU implementation of the rl_backend op table.
 *
 * This is the numerical oracle for the CUDA kernels and the engine for tiny test
 * models, so correctness and clear semantics come first, then speed.
 * Conventions:
 * - Every op computes in fp32 on contiguous f32 tensors (cast and copy take any
 *   dtype; copy also takes strided views). Each op validates device, dtype,
 *   contiguity and shapes first and returns -1 with a sentence naming the op and
 *   the mismatch; nothing is written before the checks pass.
 * - Row statistics (norms) accumulate in double; matmul and conv accumulate in
 *   float through one cache-blocked GEMM core (packed 16-column panels of B, a
 *   4x16 register tile written with GCC vector extensions, cloned for AVX2+FMA).
 * - OpenMP parallelises over independent output tiles; no two threads write the
 *   same element, so results do not depend on the thread count.
 */
#include "raylight.h"
#include "backend/check.h"
#include "rl_random.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hot loops get an AVX2+FMA clone picked at load time (x86-64-v3, with a*b+c
 * contracted to FMA there; -std=c11 turns contraction off elsewhere). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("fp-contract=fast")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CPU_CLONES
#endif

/* ---------------------------------------------------------------- checks */

#define SHAPE(t, buf) rl_shape_str((t), (buf), sizeof(buf))

/* A tensor the op reads or writes: present, on the CPU, f32 (when f32_only),
 * contiguous. */
static int check_tensor(const char *op, const char *role, const rl_tensor *t, int f32_only) {
    char s[96];
    RL_TRY(backend_check_header(op, role, t));
    if (t->device != RL_DEVICE_CPU)
        return rl_error_set("%s: '%s' %s is in GPU memory but this is the CPU backend; download it first",
                            op, role, SHAPE(t, s));
    if (f32_only && t->dtype != RL_F32)
        return rl_error_set("%s: '%s' %s is %s but the CPU backend computes in f32 only; cast it first", op,
                            role, SHAPE(t, s), rl_dtype_name(t->dtype));
    if (!rl_tensor_is_contiguous(t))
        return rl_error_set("%s: '%s' %s is a strided view; this op needs a contiguous tensor (copy it first)",
                            op, role, SHAPE(t, s));
    return backend_check_storage(op, role, t);
}

/* A per-channel vector: [D], or [1, ..., 1, D] (a modulation chunk), D = x's last dim. */
static int check_row_vector(const char *op, const char *role, const rl_tensor *v, const char *xrole,
                            const rl_tensor *x) {
    RL_TRY(check_tensor(op, role, v, 1));
    return backend_check_vector(op, role, v, backend_last_dim(x), "the last dim of", xrole, x);
}

/* ---------------------------------------------------------------- memory */

static void *cpu_alloc(rl_backend *be, size_t bytes) {
    if (rl_mem_check_limit(RL_DEVICE_CPU, bytes) != 0) return NULL;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < bytes) n = bytes; /* overflow: let aligned_alloc fail */
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) {
        char b[32];
        rl_error_set("out of host memory: could not allocate %s for the CPU backend",
                     rl_bytes_str(bytes, b, sizeof b));
        return NULL;
    }
    rl_mem_note_alloc(RL_DEVICE_CPU, bytes);
    return p;
}

static void cpu_free(rl_backend *be, void *p, size_t bytes) {
    if (!p) return;
    free(p);
    rl_mem_note_free(RL_DEVICE_CPU, bytes);
}

static int cpu_upload(rl_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}
static int cpu_download(rl_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}
static int cpu_synchronize(rl_backend *be) { return 0; }

/* Block swap on the CPU: the "pinned" buffer is plain memory (counted as pinned,
 * not against --vram-limit), the copy is a memcpy done at once, ordering is free. */
static void *cpu_host_alloc(rl_backend *be, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        char b[32];
        rl_error_set("out of host memory: could not allocate %s of offloaded weights; offload fewer blocks "
                     "(--offload-blocks)", rl_bytes_str(bytes, b, sizeof b));
        return NULL;
    }
    rl_mem_note_pinned(bytes, 0);
    return p;
}
static void cpu_host_free(rl_backend *be, void *p, size_t bytes) {
    if (!p) return;
    free(p);
    rl_mem_note_pinned(bytes, 1);
}
static int cpu_copy_async(rl_backend *be, void *dst, const void *src, size_t bytes, int slot) {
    if (slot < 0 || slot >= RL_COPY_SLOTS)
        return rl_error_set("copy_async: slot %d is outside 0..%d (a bug)", slot, RL_COPY_SLOTS - 1);
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}
static int cpu_slot_noop(rl_backend *be, int slot) {
    if (slot < 0 || slot >= RL_COPY_SLOTS)
        return rl_error_set("copy slot %d is outside 0..%d (a bug)", slot, RL_COPY_SLOTS - 1);
    return 0;
}

/* Per-thread scratch for the parallel loops; failure is reported after the loop. */
static float *scratch_alloc(size_t floats) {
    size_t n = (floats * sizeof(float) + 63) & ~(size_t)63;
    return aligned_alloc(64, n ? n : 64);
}

/* ---------------------------------------------------------------- GEMM core */

/* C[m][n] (+)= sum_k A[m*lda + k] * B(k, n0 + n) for m < M, n < nc <= GEMM_NC.
 * B is supplied by a packing callback that writes, for k in [k0, k0+kc), panels of
 * GEMM_NR columns: dst[(p*kc + k)*GEMM_NR + j] = B(k0+k, n0 + p*GEMM_NR + j),
 * zero past nc. The register tile is GEMM_MR x GEMM_NR floats. */
#define GEMM_MR 4
#define GEMM_NR 16
#define GEMM_KC 256
#define GEMM_NC 64
#define GEMM_MC 256

typedef void (*pack_b_fn)(const void *ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst);
typedef float v8f __attribute__((vector_size(32)));

/* A macro, not a function: passing AVX vectors by value would change the ABI. */
#define V8_LOAD(v, p) memcpy(&(v), (p), sizeof(v8f))

CPU_CLONES
static void gemm_block(float *C, int64_t ldc, const float *A, int64_t lda, int64_t M, int64_t K,
                       int64_t n0, int64_t nc, pack_b_fn pack, const void *ctx, int accumulate, float *bbuf) {
    int64_t npanel = (nc + GEMM_NR - 1) / GEMM_NR;
    for (int64_t k0 = 0; k0 < K; k0 += GEMM_KC) {
        int64_t kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        pack(ctx, k0, kc, n0, nc, bbuf);
        int first = k0 == 0 && !accumulate;
        for (int64_t m0 = 0; m0 < M; m0 += GEMM_MR) {
            int64_t mr = M - m0 < GEMM_MR ? M - m0 : GEMM_MR;
            /* Rows past M repeat the last row: computed, never stored. */
            const float *a0 = A + (m0 + 0) * lda + k0;
            const float *a1 = A + (m0 + (mr > 1 ? 1 : 0)) * lda + k0;
            const float *a2 = A + (m0 + (mr > 2 ? 2 : 0)) * lda + k0;
            const float *a3 = A + (m0 + (mr > 3 ? 3 : 0)) * lda + k0;
            for (int64_t p = 0; p < npanel; p++) {
                const float *b = bbuf + p * kc * GEMM_NR;
                v8f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
                for (int64_t k = 0; k < kc; k++) {
                    v8f b0, b1;
                    V8_LOAD(b0, b + k * GEMM_NR);
                    V8_LOAD(b1, b + k * GEMM_NR + 8);
                    c00 += a0[k] * b0;
                    c01 += a0[k] * b1;
                    c10 += a1[k] * b0;
                    c11 += a1[k] * b1;
                    c20 += a2[k] * b0;
                    c21 += a2[k] * b1;
                    c30 += a3[k] * b0;
                    c31 += a3[k] * b1;
                }
                float t[GEMM_MR][GEMM_NR];
                memcpy(t[0], &c00, 32), memcpy(t[0] + 8, &c01, 32);
                memcpy(t[1], &c10, 32), memcpy(t[1] + 8, &c11, 32);
                memcpy(t[2], &c20, 32), memcpy(t[2] + 8, &c21, 32);
                memcpy(t[3], &c30, 32), memcpy(t[3] + 8, &c31, 32);
                int64_t nr = nc - p * GEMM_NR < GEMM_NR ? nc - p * GEMM_NR : GEMM_NR;
                for (int64_t r = 0; r < mr; r++) {
                    float *c = C + (m0 + r) * ldc + p * GEMM_NR;
                    if (first)
                        for (int64_t j = 0; j < nr; j++) c[j] = t[r][j];
                    else
                        for (int64_t j = 0; j < nr; j++) c[j] += t[r][j];
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- matmul */

/* 0.5x(1 + tanh(u)) written as x / (1 + exp(-2u)): the same function without the
 * cancellation of 1 + tanh(u) for negative x, so the oracle stays accurate in the
 * tails (torch's float formula loses relative precision there). */
static inline float gelu_tanh_f(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    float u = k * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

typedef struct {
    const float *w; /* [N, K] rows, ld apart */
    int64_t ld;
} pack_ctx;

/* B(k, n) = W[n*ld + k]: a transposing copy of a [nc, kc] block of W. */
static void pack_b_nt(const void *vctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst) {
    const pack_ctx *ctx = vctx;
    int64_t npanel = (nc + GEMM_NR - 1) / GEMM_NR;
    for (int64_t p = 0; p < npanel; p++) {
        float *d = dst + p * kc * GEMM_NR;
        for (int64_t j = 0; j < GEMM_NR; j++) {
            int64_t n = p * GEMM_NR + j;
            if (n < nc) {
                const float *src = ctx->w + (n0 + n) * ctx->ld + k0;
                for (int64_t k = 0; k < kc; k++) d[k * GEMM_NR + j] = src[k];
            } else {
                for (int64_t k = 0; k < kc; k++) d[k * GEMM_NR + j] = 0.0f;
            }
        }
    }
}

/* B(k, n) = V[k*ld + n]: rows of V are already n-contiguous; copy 16-wide panels. */
static void pack_b_nn(const void *vctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst) {
    const pack_ctx *ctx = vctx;
    int64_t npanel = (nc + GEMM_NR - 1) / GEMM_NR;
    for (int64_t k = 0; k < kc; k++) {
        const float *src = ctx->w + (k0 + k) * ctx->ld + n0;
        for (int64_t p = 0; p < npanel; p++) {
            float *d = dst + (p * kc + k) * GEMM_NR;
            int64_t nr = nc - p * GEMM_NR < GEMM_NR ? nc - p * GEMM_NR : GEMM_NR;
            memcpy(d, src + p * GEMM_NR, (size_t)nr * sizeof(float));
            for (int64_t j = nr; j < GEMM_NR; j++) d[j] = 0.0f;
        }
    }
}

static int cpu_matmul(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                      const rl_tensor *b, rl_activation act) {
    const char *op = "matmul";
    char sx[96], sw[96], sy[96], sb[96];
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "w", w, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs at least one dim (K)", op);
    if (w->ndim != 2) return rl_error_set("%s: the weight 'w' is %s but must be 2-D [N, K]", op, SHAPE(w, sw));
    int64_t K = backend_last_dim(x), N = w->shape[0], M = K ? rl_tensor_numel(x) / K : 0;
    if (K == 0) M = rl_tensor_numel(y) / (N ? N : 1);
    if (w->shape[1] != K)
        return rl_error_set("%s: x %s has K=%lld but the weight 'w' is %s (expected [N, %lld])", op,
                            SHAPE(x, sx), (long long)K, SHAPE(w, sw), (long long)K);
    int yok = y->ndim == x->ndim && backend_last_dim(y) == N;
    for (int i = 0; yok && i < x->ndim - 1; i++) yok = y->shape[i] == x->shape[i];
    if (!yok)
        return rl_error_set("%s: y is %s but x %s times w^T %s gives x's leading dims with N=%lld", op,
                            SHAPE(y, sy), SHAPE(x, sx), SHAPE(w, sw), (long long)N);
    if (b) {
        RL_TRY(check_tensor(op, "b", b, 1));
        if (b->ndim != 1 || b->shape[0] != N)
            return rl_error_set("%s: the bias 'b' is %s but must be [%lld] (N of the weight %s)", op,
                                SHAPE(b, sb), (long long)N, SHAPE(w, sw));
    }
    if (act != RL_ACT_NONE && act != RL_ACT_GELU_TANH)
        return rl_error_set("%s: unknown activation %d", op, (int)act);
    if (M == 0 || N == 0) return 0;

    float *Y = y->data;
    const float *X = x->data, *B = b ? b->data : NULL;
    pack_ctx ctx = {w->data, K};
    int64_t nb = (N + GEMM_NC - 1) / GEMM_NC, mb = (M + GEMM_MC - 1) / GEMM_MC;
    int failed = 0;
    #pragma omp parallel
    {
        float *buf = scratch_alloc((size_t)GEMM_KC * GEMM_NC);
        if (!buf) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < nb * mb; t++) {
            if (!buf) continue;
            int64_t m0 = (t / nb) * GEMM_MC, n0 = (t % nb) * GEMM_NC;
            int64_t mc = M - m0 < GEMM_MC ? M - m0 : GEMM_MC, nc = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
            float *Yt = Y + m0 * N + n0;
            if (K == 0)
                for (int64_t i = 0; i < mc; i++) memset(Yt + i * N, 0, (size_t)nc * sizeof(float));
            else
                gemm_block(Yt, N, X + m0 * K, K, mc, K, n0, nc, pack_b_nt, &ctx, 0, buf);
            for (int64_t i = 0; i < mc; i++) {
                float *row = Yt + i * N;
                if (B)
                    for (int64_t j = 0; j < nc; j++) row[j] += B[n0 + j];
                if (act == RL_ACT_GELU_TANH)
                    for (int64_t j = 0; j < nc; j++) row[j] = gelu_tanh_f(row[j]);
            }
        }
        free(buf);
    }
    if (failed) return rl_error_set("%s: out of host memory for the packing buffers", op);
    return 0;
}

/* ---------------------------------------------------------------- norms */

static int check_norm_common(const char *op, rl_tensor *y, const rl_tensor *x) {
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs at least one dim to normalise over", op);
    return backend_check_same_shape(op, "y", y, "x", x);
}

/* LayerNorm statistics of one row as torch: mean and 1/sqrt(biased variance + eps),
 * accumulated in double, handed back in fp32. */
static void row_layer_norm_stats(const float *xr, int64_t D, float eps, float *mean, float *rstd) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < D; i++) s += xr[i];
    double m = s / (double)D;
    for (int64_t i = 0; i < D; i++) {
        double dv = xr[i] - m;
        ss += dv * dv;
    }
    *rstd = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
    *mean = (float)m;
}

/* LayerNorm over the last dim as torch: biased variance, eps inside the sqrt. */
static int cpu_layer_norm(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                          const rl_tensor *b, float eps) {
    const char *op = "layer_norm";
    RL_TRY(check_norm_common(op, y, x));
    if (w) RL_TRY(check_row_vector(op, "w", w, "x", x));
    if (b) RL_TRY(check_row_vector(op, "b", b, "x", x));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    const float *X = x->data, *W = w ? w->data : NULL, *B = b ? b->data : NULL;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (R * D > 32768)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = X + r * D;
        float *yr = Y + r * D;
        float mf, rstd;
        row_layer_norm_stats(xr, D, eps, &mf, &rstd);
        for (int64_t i = 0; i < D; i++) {
            float v = (xr[i] - mf) * rstd;
            if (W) v *= W[i];
            if (B) v += B[i];
            yr[i] = v;
        }
    }
    return 0;
}

static int cpu_rms_norm(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, float eps) {
    const char *op = "rms_norm";
    RL_TRY(check_norm_common(op, y, x));
    if (w) RL_TRY(check_row_vector(op, "w", w, "x", x));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    const float *X = x->data, *W = w ? w->data : NULL;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (R * D > 32768)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = X + r * D;
        float *yr = Y + r * D;
        double ss = 0;
        for (int64_t i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float rs = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
        for (int64_t i = 0; i < D; i++) yr[i] = W ? xr[i] * rs * W[i] : xr[i] * rs;
    }
    return 0;
}

/* ---------------------------------------------------------------- elementwise */

enum { EW_ADD, EW_MUL };

/* y = a (op) b with b of a's shape or a row vector over a's last dim. */
static int binary_op(const char *op, int kind, rl_tensor *y, const rl_tensor *a, const rl_tensor *b) {
    char sa[96], sb[96];
    RL_TRY(check_tensor(op, "a", a, 1));
    RL_TRY(check_tensor(op, "b", b, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(backend_check_same_shape(op, "y", y, "a", a));
    int64_t n = rl_tensor_numel(a), D = backend_last_dim(a);
    int full = rl_tensor_same_shape(a, b);
    int row = !full && b->ndim >= 1 && backend_last_dim(b) == D && rl_tensor_numel(b) == D;
    if (!full && !row)
        return rl_error_set("%s: 'b' is %s but must be a's shape %s or [%lld] (a's last dim)", op,
                            SHAPE(b, sb), SHAPE(a, sa), (long long)D);
    const float *A = a->data, *B = b->data;
    float *Y = y->data;
    if (full) {
        #pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) Y[i] = kind == EW_ADD ? A[i] + B[i] : A[i] * B[i];
    } else {
        int64_t R = D ? n / D : 0;
        #pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t r = 0; r < R; r++)
            for (int64_t i = 0; i < D; i++)
                Y[r * D + i] = kind == EW_ADD ? A[r * D + i] + B[i] : A[r * D + i] * B[i];
    }
    return 0;
}

static int cpu_add(rl_backend *be, rl_tensor *y, const rl_tensor *a, const rl_tensor *b) {
    return binary_op("add", EW_ADD, y, a, b);
}
static int cpu_mul(rl_backend *be, rl_tensor *y, const rl_tensor *a, const rl_tensor *b) {
    return binary_op("mul", EW_MUL, y, a, b);
}

static int cpu_scale(rl_backend *be, rl_tensor *y, const rl_tensor *x, float s) {
    const char *op = "scale";
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    int64_t n = rl_tensor_numel(x);
    const float *X = x->data;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) Y[i] = X[i] * s;
    return 0;
}

static int cpu_modulate(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *shift,
                        const rl_tensor *scale) {
    const char *op = "modulate";
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(check_row_vector(op, "shift", shift, "x", x));
    RL_TRY(check_row_vector(op, "scale", scale, "x", x));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    const float *X = x->data, *SH = shift->data, *SC = scale->data;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (R * D > 65536)
    for (int64_t r = 0; r < R; r++)
        for (int64_t i = 0; i < D; i++) Y[r * D + i] = X[r * D + i] * (1.0f + SC[i]) + SH[i];
    return 0;
}

static int cpu_gated_add(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate) {
    const char *op = "gated_add";
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(check_row_vector(op, "gate", gate, "x", x));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    const float *Y = y->data, *G = gate->data;
    float *X = x->data;
    #pragma omp parallel for schedule(static) if (R * D > 65536)
    for (int64_t r = 0; r < R; r++)
        for (int64_t i = 0; i < D; i++) X[r * D + i] += Y[r * D + i] * G[i];
    return 0;
}

enum { ACT_SILU, ACT_GELU_TANH, ACT_GELU_ERF };

static int unary_op(const char *op, int kind, rl_tensor *y, const rl_tensor *x) {
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    int64_t n = rl_tensor_numel(x);
    const float *X = x->data;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) {
        float v = X[i];
        if (kind == ACT_SILU) Y[i] = v / (1.0f + expf(-v));
        else if (kind == ACT_GELU_TANH) Y[i] = gelu_tanh_f(v);
        else Y[i] = 0.5f * v * erfcf(-v * 0.70710678118654752f); /* = 1 + erf(v/sqrt2), no cancellation */
    }
    return 0;
}

static int cpu_silu(rl_backend *be, rl_tensor *y, const rl_tensor *x) { return unary_op("silu", ACT_SILU, y, x); }
static int cpu_gelu_tanh(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    return unary_op("gelu_tanh", ACT_GELU_TANH, y, x);
}
static int cpu_gelu_erf(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    return unary_op("gelu_erf", ACT_GELU_ERF, y, x);
}

/* ---------------------------------------------------------------- attention */

/* Flash-style: per (batch, head, tile of ATT_QT queries) a running max m, sum l
 * and output accumulator O; keys in chunks of ATT_KT. Both products (S = Q K^T and
 * O += P V) go through the GEMM core; the softmax loops run over the constant
 * chunk width (padding logits are -inf) so the compiler vectorises them. */
#define ATT_QT 64
#define ATT_KT 64

typedef struct {
    const float *q, *k, *v, *bias; /* q [B,Lq,H,d]; k, v [B,Lk,H,d]; bias [H,Lq,Lk] or NULL */
    float *out, *lse;              /* out [B,Lq,H,d]; lse [B,H,Lq] or NULL */
    int64_t B, Lq, Lk, H, d, nkeys; /* nkeys: unmasked keys, 0..Lk */
    float scale;
} att_args;

/* s[0..8) = exp(s - sub), to ~2 ulp, written on 8-lane vectors (the compiler does
 * not if-convert the clamps of a scalar version): x = n ln2 + r with |r| <= ln2/2
 * (Cody-Waite), a degree-7 Taylor polynomial for e^r, 2^n built in the exponent
 * bits. x < -87 (and -inf) gives 0: below 1.7e-38, nothing next to the softmax
 * maximum's weight of 1. NaN stays NaN. */
typedef int32_t v8i __attribute__((vector_size(32)));
#define V8_STORE(p, v) memcpy((p), &(v), sizeof(v8f))
#define V8_SET1(c) ((v8f){(c), (c), (c), (c), (c), (c), (c), (c)})

static inline void exp8_shifted(float *s, float sub) {
    v8f x;
    V8_LOAD(x, s);
    x = x - sub;
    v8i tiny = x < -87.0f, big = x > 88.0f;
    v8f lo = V8_SET1(-87.0f), hi = V8_SET1(88.0f);
    v8f xc = (v8f)(((v8i)x & ~(tiny | big)) | ((v8i)lo & tiny) | ((v8i)hi & big));
    v8f n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* + 1.5*2^23 rounds */
    v8f r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    v8f p = r * (1.0f / 5040.0f) + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    v8i e = (__builtin_convertvector(n, v8i) + 127) << 23;
    v8f res = p * (v8f)e;
    res = (v8f)((v8i)res & ~tiny);
    V8_STORE(s, res);
}

static inline float exp_neg(float x) {
    float t[8] = {x, x, x, x, x, x, x, x};
    exp8_shifted(t, 0.0f);
    return t[0];
}

/* One query row's chunk of logits s[ATT_KT] (first kn valid) -> probabilities in
 * place, updating the running max *m and sum *l; returns the factor by which the
 * row's accumulated output must be rescaled (0 when nothing was accumulated). */
static inline float softmax_chunk(float *s, const float *bias, int64_t kn, float scale, float *m, float *l) {
    float bb[ATT_KT], part[8];
    if (bias) memcpy(bb, bias, (size_t)kn * sizeof(float));
    else memset(bb, 0, (size_t)kn * sizeof(float));
    for (int64_t j = 0; j < ATT_KT; j++) s[j] = s[j] * scale + bb[j];
    for (int64_t j = kn; j < ATT_KT; j++) s[j] = -INFINITY;
    for (int u = 0; u < 8; u++) part[u] = -INFINITY;
    for (int64_t j = 0; j < ATT_KT; j += 8)
        for (int u = 0; u < 8; u++) part[u] = s[j + u] > part[u] ? s[j + u] : part[u];
    float mx = part[0];
    for (int u = 1; u < 8; u++) mx = part[u] > mx ? part[u] : mx;
    float mnew = mx > *m ? mx : *m;
    if (mnew == -INFINITY) { /* every logit so far is -inf: no weight yet */
        for (int64_t j = 0; j < ATT_KT; j++) s[j] = 0.0f;
        return 1.0f;
    }
    float corr = *m == -INFINITY ? 0.0f : exp_neg(*m - mnew);
    for (int64_t j = 0; j < ATT_KT; j += 8) exp8_shifted(s + j, mnew);
    for (int u = 0; u < 8; u++) part[u] = 0.0f;
    for (int64_t j = 0; j < ATT_KT; j += 8)
        for (int u = 0; u < 8; u++) part[u] += s[j + u];
    float psum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    *l = *l * corr + psum;
    *m = mnew;
    return corr;
}

/* scratch: Qt [QT*d] + S [QT*KT] + O [QT*d] + a GEMM packing buffer [KC*NC] */
CPU_CLONES
static void attention_tile(const att_args *a, int64_t b, int64_t h, int64_t i0, float *scratch) {
    const int64_t d = a->d, H = a->H, qn = a->Lq - i0 < ATT_QT ? a->Lq - i0 : ATT_QT;
    float *Qt = scratch, *S = Qt + ATT_QT * d, *O = S + ATT_QT * ATT_KT, *pbuf = O + ATT_QT * d;
    float m[ATT_QT], l[ATT_QT];
    for (int64_t i = 0; i < qn; i++) {
        memcpy(Qt + i * d, a->q + ((b * a->Lq + i0 + i) * H + h) * d, (size_t)d * sizeof(float));
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    memset(O, 0, (size_t)(ATT_QT * d) * sizeof(float));
    pack_ctx kctx = {a->k + b * a->Lk * H * d + h * d, H * d}; /* key j at kctx.w + j*H*d */
    pack_ctx vctx = {a->v + b * a->Lk * H * d + h * d, H * d};
    for (int64_t j0 = 0; j0 < a->nkeys; j0 += ATT_KT) {
        int64_t kn = a->nkeys - j0 < ATT_KT ? a->nkeys - j0 : ATT_KT;
        gemm_block(S, ATT_KT, Qt, d, qn, d, j0, kn, pack_b_nt, &kctx, 0, pbuf);
        for (int64_t i = 0; i < qn; i++) {
            const float *bias = a->bias ? a->bias + (h * a->Lq + i0 + i) * a->Lk + j0 : NULL;
            float corr = softmax_chunk(S + i * ATT_KT, bias, kn, a->scale, &m[i], &l[i]);
            if (corr != 1.0f)
                for (int64_t c = 0; c < d; c++) O[i * d + c] *= corr;
        }
        /* O[qn, d] += P[qn, kn] V[j0:j0+kn, d], V rows are keys (n = channel) */
        pack_ctx vchunk = {vctx.w + j0 * H * d, H * d};
        for (int64_t c0 = 0; c0 < d; c0 += GEMM_NC) {
            int64_t nc = d - c0 < GEMM_NC ? d - c0 : GEMM_NC;
            gemm_block(O + c0, d, S, ATT_KT, qn, kn, c0, nc, pack_b_nn, &vchunk, 1, pbuf);
        }
    }
    for (int64_t i = 0; i < qn; i++) {
        float *dst = a->out + ((b * a->Lq + i0 + i) * H + h) * d;
        float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
        for (int64_t c = 0; c < d; c++) dst[c] = O[i * d + c] * inv;
        if (a->lse) a->lse[(b * H + h) * a->Lq + i0 + i] = l[i] > 0.0f ? m[i] + logf(l[i]) : -INFINITY;
    }
}

static int check_attention(const char *op, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                           const rl_tensor *v, const rl_tensor *bias, const rl_tensor *lse) {
    char s1[96], s2[96];
    RL_TRY(check_tensor(op, "q", q, 1));
    RL_TRY(check_tensor(op, "k", k, 1));
    RL_TRY(check_tensor(op, "v", v, 1));
    RL_TRY(check_tensor(op, "out", out, 1));
    if (q->ndim != 4) return rl_error_set("%s: q is %s but must be 4-D [B, Lq, H, d]", op, SHAPE(q, s1));
    if (k->ndim != 4) return rl_error_set("%s: k is %s but must be 4-D [B, Lk, H, d]", op, SHAPE(k, s1));
    RL_TRY(backend_check_same_shape(op, "v", v, "k", k));
    RL_TRY(backend_check_same_shape(op, "out", out, "q", q));
    if (k->shape[0] != q->shape[0] || k->shape[2] != q->shape[2] || k->shape[3] != q->shape[3])
        return rl_error_set("%s: k is %s but q is %s; batch, heads and head dim must match", op,
                            SHAPE(k, s1), SHAPE(q, s2));
    int64_t H = q->shape[2], Lq = q->shape[1], Lk = k->shape[1];
    if (q->shape[3] < 1) return rl_error_set("%s: q %s has head dim 0", op, SHAPE(q, s1));
    if (bias) {
        RL_TRY(check_tensor(op, "bias", bias, 1));
        if (bias->ndim != 3 || bias->shape[0] != H || bias->shape[1] != Lq || bias->shape[2] != Lk)
            return rl_error_set("%s: bias is %s but must be [H, Lq, Lk] = [%lld, %lld, %lld]", op,
                                SHAPE(bias, s1), (long long)H, (long long)Lq, (long long)Lk);
    }
    if (lse) {
        RL_TRY(check_tensor(op, "lse", lse, 1));
        if (lse->ndim != 3 || lse->shape[0] != q->shape[0] || lse->shape[1] != H || lse->shape[2] != Lq)
            return rl_error_set("%s: lse is %s but must be [B, H, Lq] = [%lld, %lld, %lld]", op,
                                SHAPE(lse, s1), (long long)q->shape[0], (long long)H, (long long)Lq);
    }
    return 0;
}

static int cpu_attention(rl_backend *be, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                         const rl_tensor *v, int64_t kv_len, const rl_tensor *bias, float scale,
                         rl_tensor *lse) {
    const char *op = "attention";
    RL_TRY(check_attention(op, out, q, k, v, bias, lse));
    att_args a = {q->data, k->data, v->data, bias ? bias->data : NULL, out->data, lse ? lse->data : NULL,
                  q->shape[0], q->shape[1], k->shape[1], q->shape[2], q->shape[3], k->shape[1], scale};
    if (kv_len > 0 && kv_len < a.Lk) a.nkeys = kv_len;
    int64_t nqt = (a.Lq + ATT_QT - 1) / ATT_QT, ntask = a.B * a.H * nqt;
    size_t nscratch = (size_t)(2 * ATT_QT * a.d + ATT_QT * ATT_KT + GEMM_KC * GEMM_NC);
    int failed = 0;
    #pragma omp parallel if (ntask > 1)
    {
        float *scratch = scratch_alloc(nscratch);
        if (!scratch) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < ntask; t++) {
            if (!scratch) continue;
            int64_t it = t % nqt, bh = t / nqt;
            attention_tile(&a, bh / a.H, bh % a.H, it * ATT_QT, scratch);
        }
        free(scratch);
    }
    if (failed) return rl_error_set("%s: out of host memory for the attention scratch", op);
    return 0;
}

/* ---------------------------------------------------------------- rope */

/* The cos/sin tables (f32) and the geometry of rope and rms_norm_rope: rows = B*L tokens. */
static int check_rope_geometry(const char *op, const rl_tensor *x, const rl_tensor *cos_t, const rl_tensor *sin_t,
                               int64_t *rows, int64_t *L, int64_t *H, int64_t *d) {
    int64_t B;
    RL_TRY(check_tensor(op, "cos", cos_t, 1));
    RL_TRY(check_tensor(op, "sin", sin_t, 1));
    RL_TRY(backend_check_rope_geometry(op, x, cos_t, sin_t, &B, L, H, d));
    *rows = B * *L;
    return 0;
}

/* Rotates the n/2 pairs of one token's row in place by the angles of table row c, s
 * (pair j of each head uses angle j % half). Double, as the reference's complex128
 * product: the products are exact, so the result is one rounding of the exact value. */
static void rotate_row(float *yp, const float *xp, int64_t n, int64_t half, const float *c, const float *s) {
    for (int64_t p = 0; p < n / 2; p++) {
        int64_t j = p % half;
        double x0 = xp[2 * p], x1 = xp[2 * p + 1];
        yp[2 * p] = (float)(x0 * c[j] - x1 * s[j]);
        yp[2 * p + 1] = (float)(x0 * s[j] + x1 * c[j]);
    }
}

static int cpu_rope(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *cos_t,
                    const rl_tensor *sin_t) {
    const char *op = "rope";
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    int64_t rows, L, H, d;
    RL_TRY(check_rope_geometry(op, x, cos_t, sin_t, &rows, &L, &H, &d));
    const float *X = x->data, *C = cos_t->data, *S = sin_t->data;
    float *Y = y->data;
    const int64_t half = d / 2, n = H * d;
    #pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (int64_t r = 0; r < rows; r++)
        rotate_row(Y + r * n, X + r * n, n, half, C + (r % L) * half, S + (r % L) * half);
    return 0;
}

/* ---------------------------------------------------------------- fused norm ops */

/* LayerNorm (no affine) then modulate, one row at a time: the same float
 * expressions as layer_norm followed by modulate, so the result is bit-identical
 * to that chain here (x is f32, so rounding the norm to x's dtype is a no-op). */
static int cpu_layer_norm_modulate(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *shift,
                                   const rl_tensor *scale, float eps) {
    const char *op = "layer_norm_modulate";
    RL_TRY(check_norm_common(op, y, x));
    RL_TRY(check_row_vector(op, "shift", shift, "x", x));
    RL_TRY(check_row_vector(op, "scale", scale, "x", x));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    const float *X = x->data, *SH = shift->data, *SC = scale->data;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (R * D > 32768)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = X + r * D;
        float *yr = Y + r * D;
        float mf, rstd;
        row_layer_norm_stats(xr, D, eps, &mf, &rstd);
        for (int64_t i = 0; i < D; i++) {
            float v = (xr[i] - mf) * rstd;
            yr[i] = v * (1.0f + SC[i]) + SH[i];
        }
    }
    return 0;
}

/* RMSNorm over a token's H*d values, times w, then the rotation: as rms_norm then
 * rope, without the intermediate tensor (bit-identical to that chain in f32). */
static int cpu_rms_norm_rope(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                             const rl_tensor *cos_t, const rl_tensor *sin_t, float eps) {
    const char *op = "rms_norm_rope";
    RL_TRY(check_norm_common(op, y, x));
    int64_t rows, L, H, d;
    RL_TRY(check_rope_geometry(op, x, cos_t, sin_t, &rows, &L, &H, &d));
    const int64_t n = H * d, half = d / 2;
    if (w) {
        RL_TRY(check_tensor(op, "w", w, 1));
        RL_TRY(backend_check_vector(op, "w", w, n, "H*d: the norm spans all heads of", "x", x));
    }
    const float *X = x->data, *W = w ? w->data : NULL, *C = cos_t->data, *S = sin_t->data;
    float *Y = y->data;
    int failed = 0;
    #pragma omp parallel if (rows * n > 32768)
    {
        float *t = scratch_alloc((size_t)n); /* the normalised row, rotated into y */
        if (!t) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            if (!t) continue;
            const float *xr = X + r * n;
            double ss = 0;
            for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
            float rs = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
            for (int64_t i = 0; i < n; i++) t[i] = W ? xr[i] * rs * W[i] : xr[i] * rs;
            rotate_row(Y + r * n, t, n, half, C + (r % L) * half, S + (r % L) * half);
        }
        free(t);
    }
    if (failed) return rl_error_set("%s: out of host memory for a row buffer of %lld floats", op, (long long)n);
    return 0;
}

/* x += y * gate (or y), then the LayerNorm of the updated rows: the same float
 * expressions as gated_add (or add) followed by layer_norm or layer_norm_modulate,
 * so the results are bit-identical to those chains. */
static int residual_layer_norm(const char *op, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate, rl_tensor *h,
                               const rl_tensor *va, const rl_tensor *vb, int modulate, float eps) {
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(check_tensor(op, "h", h, 1));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs at least one dim to normalise over", op);
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(backend_check_same_shape(op, "h", h, "x", x));
    if (gate) RL_TRY(check_row_vector(op, "gate", gate, "x", x));
    const char *ra = modulate ? "scale" : "w", *rb = modulate ? "shift" : "b";
    if (va) RL_TRY(check_row_vector(op, ra, va, "x", x));
    if (vb) RL_TRY(check_row_vector(op, rb, vb, "x", x));
    if (h->data == x->data && rl_tensor_numel(x) > 0)
        return rl_error_set("%s: h is x's storage; the residual x and the normalised h must be apart", op);
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    const float *Y = y->data, *G = gate ? gate->data : NULL, *A = va ? va->data : NULL, *B = vb ? vb->data : NULL;
    float *X = x->data, *H = h->data;
    #pragma omp parallel for schedule(static) if (R * D > 32768)
    for (int64_t r = 0; r < R; r++) {
        float *xr = X + r * D, *hr = H + r * D;
        const float *yr = Y + r * D;
        for (int64_t i = 0; i < D; i++) xr[i] += G ? yr[i] * G[i] : yr[i];
        float mf, rstd;
        row_layer_norm_stats(xr, D, eps, &mf, &rstd);
        for (int64_t i = 0; i < D; i++) {
            float v = (xr[i] - mf) * rstd;
            if (modulate) {
                v = v * (1.0f + A[i]) + B[i];
            } else {
                if (A) v *= A[i];
                if (B) v += B[i];
            }
            hr[i] = v;
        }
    }
    return 0;
}

static int cpu_gated_add_layer_norm(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate,
                                    rl_tensor *h, const rl_tensor *w, const rl_tensor *b, float eps) {
    return residual_layer_norm("gated_add_layer_norm", x, y, gate, h, w, b, 0, eps);
}

static int cpu_add_layer_norm_modulate(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate,
                                       rl_tensor *h, const rl_tensor *shift, const rl_tensor *scale, float eps) {
    const char *op = "add_layer_norm_modulate";
    if (!shift || !scale) return rl_error_set("%s: the tensors 'shift' and 'scale' are required", op);
    return residual_layer_norm(op, x, y, gate, h, scale, shift, 1, eps);
}

/* ---------------------------------------------------------------- conv3d */

/* Implicit GEMM: for each output frame t' and chunk of CONV_NP output positions
 * (flattened h', w'), y[co][pos] += Wr[kt][co][(ci,kh,kw)] · X(kt)[(ci,kh,kw)][pos]
 * over the time taps kt whose input frame exists; X(kt) is gathered straight into
 * the packed B panels (zeros for padding), so no im2col buffer exists. */
#define CONV_NP 128

typedef struct {
    const float *x; /* [Cin, T, H, W] */
    int64_t T, H, W, kh, kw, Wo, t_in, p0;
    int sh, sw, ph, pw;
} conv_pack_ctx;

static void pack_b_conv(const void *vctx, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst) {
    const conv_pack_ctx *c = vctx;
    int64_t npanel = (nc + GEMM_NR - 1) / GEMM_NR, hb[CONV_NP], wb[CONV_NP];
    int run[CONV_NP / GEMM_NR]; /* panel p: 16 positions on one output row, unit input stride */
    for (int64_t n = 0; n < npanel * GEMM_NR; n++) {
        int64_t pos = c->p0 + n0 + n;
        hb[n] = n < nc ? (pos / c->Wo) * c->sh - c->ph : INT64_MIN / 4; /* past nc: always padding */
        wb[n] = n < nc ? (pos % c->Wo) * c->sw - c->pw : 0;
    }
    for (int64_t p = 0; p < npanel; p++) {
        int64_t f = p * GEMM_NR, l = f + GEMM_NR - 1;
        run[p] = c->sw == 1 && l < nc && hb[f] == hb[l] && wb[l] - wb[f] == GEMM_NR - 1;
    }
    int64_t khw = c->kh * c->kw;
    for (int64_t k = 0; k < kc; k++) {
        int64_t kk = k0 + k, ci = kk / khw, khi = (kk % khw) / c->kw, kwi = kk % c->kw;
        const float *xp = c->x + (ci * c->T + c->t_in) * c->H * c->W;
        for (int64_t p = 0; p < npanel; p++) {
            float *d = dst + (p * kc + k) * GEMM_NR;
            const int64_t *hp = hb + p * GEMM_NR, *wp = wb + p * GEMM_NR;
            if (run[p]) { /* the common case: a contiguous input run, or a whole padding row */
                int64_t hi = hp[0] + khi, wi = wp[0] + kwi;
                if (hi < 0 || hi >= c->H) {
                    memset(d, 0, GEMM_NR * sizeof(float));
                    continue;
                }
                if (wi >= 0 && wi + GEMM_NR <= c->W) {
                    memcpy(d, xp + hi * c->W + wi, GEMM_NR * sizeof(float));
                    continue;
                }
            }
            for (int64_t j = 0; j < GEMM_NR; j++) {
                int64_t hi = hp[j] + khi, wi = wp[j] + kwi;
                d[j] = (hi >= 0 && hi < c->H && wi >= 0 && wi < c->W) ? xp[hi * c->W + wi] : 0.0f;
            }
        }
    }
}

static int check_conv3d(const char *op, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                        const rl_tensor *b, const rl_conv3d_params *p, int64_t out[3]) {
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "w", w, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    if (b) RL_TRY(check_tensor(op, "b", b, 1));
    return backend_check_conv3d_shapes(op, y, x, w, b, p, out);
}

static int cpu_conv3d(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                      const rl_tensor *b, const rl_conv3d_params *p) {
    const char *op = "conv3d";
    int64_t o[3];
    RL_TRY(check_conv3d(op, y, x, w, b, p, o));
    if (p->prefix) {
        size_t bytes = backend_conv3d_concat_bytes(x, p->prefix);
        void *buf = be->alloc(be, bytes ? bytes : 1);
        if (!buf) return rl_error_wrap("conv3d: the input with its prefix frames");
        int rc = backend_conv3d_concat(be, y, x, w, b, p, buf);
        be->free(be, buf, bytes ? bytes : 1);
        return rc;
    }
    int64_t Cout = w->shape[0], Cin = w->shape[1], kt = w->shape[2], kh = w->shape[3], kw = w->shape[4];
    int64_t T = x->shape[1], Kk = Cin * kh * kw, HWo = o[1] * o[2], nout = o[0] * HWo;
    if (nout == 0 || Cout == 0) return 0;
    /* Wr[kt][co][ci][kh][kw]: each time tap is a row-major [Cout, Cin*kh*kw] matrix. */
    float *Wr = scratch_alloc((size_t)(kt * Cout * Kk));
    if (!Wr) return rl_error_set("%s: out of host memory for the repacked weight %lld floats", op,
                                 (long long)(kt * Cout * Kk));
    const float *Wsrc = w->data;
    for (int64_t co = 0; co < Cout; co++)
        for (int64_t ci = 0; ci < Cin; ci++)
            for (int64_t a = 0; a < kt; a++)
                memcpy(Wr + (a * Cout + co) * Kk + ci * kh * kw, Wsrc + ((co * Cin + ci) * kt + a) * kh * kw,
                       (size_t)(kh * kw) * sizeof(float));
    const float *Bias = b ? b->data : NULL;
    float *Y = y->data;
    int64_t nchunk = (HWo + CONV_NP - 1) / CONV_NP, ntask = o[0] * nchunk;
    int failed = 0;
    #pragma omp parallel if (ntask > 1)
    {
        float *buf = scratch_alloc((size_t)GEMM_KC * CONV_NP);
        if (!buf) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < ntask; t++) {
            if (!buf) continue;
            int64_t to = t / nchunk, p0 = (t % nchunk) * CONV_NP;
            int64_t np = HWo - p0 < CONV_NP ? HWo - p0 : CONV_NP;
            float *C = Y + to * HWo + p0;
            conv_pack_ctx ctx = {x->data, T, x->shape[2], x->shape[3], kh, kw, o[2], 0, p0,
                                 p->stride[1], p->stride[2], p->pad_front[1], p->pad_front[2]};
            int any = 0;
            for (int64_t a = 0; a < kt; a++) {
                ctx.t_in = to * p->stride[0] + a - p->pad_front[0];
                if (ctx.t_in < 0 || ctx.t_in >= T || Kk == 0) continue; /* a padding frame: zeros */
                gemm_block(C, nout, Wr + a * Cout * Kk, Kk, Cout, Kk, 0, np, pack_b_conv, &ctx, any, buf);
                any = 1;
            }
            for (int64_t co = 0; co < Cout; co++) {
                float *row = C + co * nout, bv = Bias ? Bias[co] : 0.0f;
                if (!any)
                    for (int64_t j = 0; j < np; j++) row[j] = bv;
                else if (Bias)
                    for (int64_t j = 0; j < np; j++) row[j] += bv;
            }
        }
        free(buf);
    }
    free(Wr);
    if (failed) return rl_error_set("%s: out of host memory for the packing buffers", op);
    return 0;
}

/* ---------------------------------------------------------------- video (VAE) ops */

/* A vector of exactly n values (any shape), for per-channel parameters. */
static int check_channel_vector(const char *op, const char *role, const rl_tensor *v, int64_t n) {
    char s[96];
    RL_TRY(check_tensor(op, role, v, 1));
    if (rl_tensor_numel(v) != n)
        return rl_error_set("%s: '%s' is %s but must hold %lld values (one per channel of x)", op, role,
                            SHAPE(v, s), (long long)n);
    return 0;
}

#define CF_CHUNK 256 /* positions per task: the per-position sums stay in a small stack array */

/* Channels are dim 0, so a position's channels are N apart: walk channels in the
 * outer loop over a block of positions, accumulating the squares in double. */
static int cpu_rms_norm_channels(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *gamma,
                                 float eps) {
    const char *op = "rms_norm_channels";
    RL_TRY(check_norm_common(op, y, x));
    int64_t C = x->shape[0], N = C ? rl_tensor_numel(x) / C : 0;
    if (gamma) RL_TRY(check_channel_vector(op, "gamma", gamma, C));
    const float *X = x->data, *G = gamma ? gamma->data : NULL;
    float *Y = y->data, root_c = (float)sqrt((double)C);
    int64_t nchunk = (N + CF_CHUNK - 1) / CF_CHUNK;
    #pragma omp parallel for schedule(static) if (C * N > 32768)
    for (int64_t k = 0; k < nchunk; k++) {
        int64_t p0 = k * CF_CHUNK, np = N - p0 < CF_CHUNK ? N - p0 : CF_CHUNK;
        double ss[CF_CHUNK];
        float inv[CF_CHUNK];
        for (int64_t j = 0; j < np; j++) ss[j] = 0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < np; j++) ss[j] += (double)X[c * N + p0 + j] * X[c * N + p0 + j];
        for (int64_t j = 0; j < np; j++) {
            double nrm = sqrt(ss[j]);
            inv[j] = (float)(nrm > (double)eps ? nrm : (double)eps);
        }
        for (int64_t c = 0; c < C; c++) {
            float g = G ? G[c] : 1.0f;
            for (int64_t j = 0; j < np; j++) Y[c * N + p0 + j] = X[c * N + p0 + j] / inv[j] * root_c * g;
        }
    }
    return 0;
}

static int cpu_channel_affine(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *scale,
                              const rl_tensor *shift) {
    const char *op = "channel_affine";
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs a channel dim", op);
    int64_t C = x->shape[0], N = C ? rl_tensor_numel(x) / C : 0;
    RL_TRY(check_channel_vector(op, "scale", scale, C));
    if (shift) RL_TRY(check_channel_vector(op, "shift", shift, C));
    const float *X = x->data, *S = scale->data, *B = shift ? shift->data : NULL;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (C * N > 65536)
    for (int64_t c = 0; c < C; c++) {
        float s = S[c], b = B ? B[c] : 0.0f;
        for (int64_t j = 0; j < N; j++) Y[c * N + j] = X[c * N + j] * s + b;
    }
    return 0;
}

static int cpu_upsample_nearest2x(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    const char *op = "upsample_nearest2x";
    char sx[96], sy[96];
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    int nd = x->ndim, ok = nd >= 2 && y->ndim == nd;
    for (int i = 0; ok && i < nd - 2; i++) ok = y->shape[i] == x->shape[i];
    if (ok) ok = y->shape[nd - 2] == 2 * x->shape[nd - 2] && y->shape[nd - 1] == 2 * x->shape[nd - 1];
    if (!ok)
        return rl_error_set("%s: x is %s and y is %s; y must be x's shape with the last two dims doubled", op,
                            SHAPE(x, sx), SHAPE(y, sy));
    int64_t H = x->shape[nd - 2], W = x->shape[nd - 1], P = (H > 0 && W > 0) ? rl_tensor_numel(x) / (H * W) : 0;
    const float *X = x->data;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (P * H * W > 16384)
    for (int64_t r = 0; r < P * H; r++) {
        const float *xr = X + r * W;
        float *y0 = Y + r * 4 * W, *y1 = y0 + 2 * W; /* output rows 2h and 2h+1 */
        for (int64_t w = 0; w < W; w++) y0[2 * w] = y0[2 * w + 1] = xr[w];
        memcpy(y1, y0, (size_t)(2 * W) * sizeof(float));
    }
    return 0;
}

static int cpu_clamp(rl_backend *be, rl_tensor *y, const rl_tensor *x, float lo, float hi) {
    const char *op = "clamp";
    RL_TRY(check_tensor(op, "x", x, 1));
    RL_TRY(check_tensor(op, "y", y, 1));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    if (!(lo <= hi)) return rl_error_set("%s: the bounds [%g, %g] are empty", op, (double)lo, (double)hi);
    int64_t n = rl_tensor_numel(x);
    const float *X = x->data;
    float *Y = y->data;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = X[i];
        Y[i] = v < lo ? lo : (v > hi ? hi : v); /* NaN fails both tests and passes through */
    }
    return 0;
}

static int cpu_fill_normal(rl_backend *be, rl_tensor *y, uint64_t seed, float mean, float std) {
    const char *op = "fill_normal";
    if (!y || !y->data) return rl_error_set("%s: the tensor 'y' is missing", op);
    if (y->device != RL_DEVICE_CPU) return rl_error_set("%s: 'y' is not in host memory", op);
    if (!rl_tensor_is_contiguous(y)) return rl_error_set("%s: 'y' must be contiguous", op);
    if (y->dtype != RL_F32 && y->dtype != RL_BF16 && y->dtype != RL_F16)
        return rl_error_set("%s: 'y' is %s; it must be f32, bf16 or f16", op, rl_dtype_name(y->dtype));
    int64_t n = rl_tensor_numel(y);
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = mean + std * rl_normal_at(seed, (uint64_t)i);
        rl_convert((char *)y->data + (size_t)i * rl_dtype_size(y->dtype), y->dtype, &v, RL_F32, 1);
    }
    return 0;
}

/* ---------------------------------------------------------------- cast, copy */

static int check_any(const char *op, const char *role, const rl_tensor *t) {
    RL_TRY(backend_check_header(op, role, t));
    if (t->device != RL_DEVICE_CPU)
        return rl_error_set("%s: '%s' is in GPU memory but this is the CPU backend", op, role);
    return backend_check_storage(op, role, t);
}

static int cpu_cast(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    const char *op = "cast";
    RL_TRY(check_tensor(op, "x", x, 0));
    RL_TRY(check_tensor(op, "y", y, 0));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    rl_convert(y->data, y->dtype, x->data, x->dtype, (size_t)rl_tensor_numel(x));
    return 0;
}

/* Strided copy of any rank: the last dim is the inner loop, the others are walked
 * by an index counter per outer row (so rows can be split across threads). */
static int cpu_copy(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    const char *op = "copy";
    char sx[96], sy[96];
    RL_TRY(check_any(op, "x", x));
    RL_TRY(check_any(op, "y", y));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    if (x->dtype != y->dtype)
        return rl_error_set("%s: y %s is %s but x is %s; copy keeps the dtype (use cast)", op, SHAPE(y, sy),
                            rl_dtype_name(y->dtype), rl_dtype_name(x->dtype));
    int64_t n = rl_tensor_numel(x);
    size_t es = rl_dtype_size(x->dtype);
    if (n == 0) return 0;
    if (rl_tensor_is_contiguous(x) && rl_tensor_is_contiguous(y)) {
        memmove(y->data, x->data, (size_t)n * es);
        return 0;
    }
    (void)sx;
    int nd = x->ndim;
    int64_t inner = x->shape[nd - 1], xs = x->stride[nd - 1], ys = y->stride[nd - 1], outer = n / inner;
    const uint8_t *X = x->data;
    uint8_t *Y = y->data;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, xo = 0, yo = 0;
        for (int i = nd - 2; i >= 0; i--) {
            int64_t idx = rem % x->shape[i];
            rem /= x->shape[i];
            xo += idx * x->stride[i];
            yo += idx * y->stride[i];
        }
        const uint8_t *src = X + xo * (int64_t)es;
        uint8_t *dst = Y + yo * (int64_t)es;
        switch (es) {
        case 4:
            for (int64_t j = 0; j < inner; j++) ((uint32_t *)dst)[j * ys] = ((const uint32_t *)src)[j * xs];
            break;
        case 2:
            for (int64_t j = 0; j < inner; j++) ((uint16_t *)dst)[j * ys] = ((const uint16_t *)src)[j * xs];
            break;
        default:
            for (int64_t j = 0; j < inner; j++) memcpy(dst + j * ys * (int64_t)es, src + j * xs * (int64_t)es, es);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- embedding */

/* Rows of a f32/bf16/f16 table gathered by i32 ids. Every id is checked before
 * anything is written, so a bad id leaves y untouched. */
static int cpu_embedding(rl_backend *be, rl_tensor *y, const rl_tensor *table, const rl_tensor *ids) {
    const char *op = "embedding";
    RL_TRY(check_tensor(op, "table", table, 0));
    RL_TRY(check_tensor(op, "ids", ids, 0));
    RL_TRY(check_tensor(op, "y", y, 0));
    RL_TRY(backend_check_embedding_shapes(op, y, table, ids));
    const int64_t V = table->shape[0], D = table->shape[1], N = ids->shape[0];
    const int32_t *I = ids->data;
    for (int64_t i = 0; i < N; i++)
        if (I[i] < 0 || I[i] >= V)
            return rl_error_set("%s: ids[%lld] = %d is outside the table's %lld rows", op, (long long)i, (int)I[i],
                                (long long)V);
    size_t ts = rl_dtype_size(table->dtype), ys = rl_dtype_size(y->dtype);
    const uint8_t *T = table->data;
    uint8_t *Y = y->data;
    #pragma omp parallel for schedule(static) if (N * D > 65536)
    for (int64_t i = 0; i < N; i++)
        rl_convert(Y + (size_t)(i * D) * ys, y->dtype, T + (size_t)((int64_t)I[i] * D) * ts, table->dtype, (size_t)D);
    return 0;
}

/* ---------------------------------------------------------------- attention merge */

/* Ring attention's merge (see raylight.h): per (row, head), in place on out/lse.
 * Where lse is -inf the running out is ignored (it may be uninitialised). */
static int cpu_attention_merge(rl_backend *be, rl_tensor *out, rl_tensor *lse, const rl_tensor *part,
                               const rl_tensor *part_lse) {
    const char *op = "attention_merge";
    char s1[96];
    RL_TRY(check_tensor(op, "out", out, 1));
    RL_TRY(check_tensor(op, "lse", lse, 1));
    RL_TRY(check_tensor(op, "part_out", part, 1));
    RL_TRY(check_tensor(op, "part_lse", part_lse, 1));
    if (out->ndim != 4) return rl_error_set("%s: 'out' is %s but must be 4-D [B, L, H, d]", op, SHAPE(out, s1));
    RL_TRY(backend_check_same_shape(op, "part_out", part, "out", out));
    const int64_t B = out->shape[0], L = out->shape[1], H = out->shape[2], d = out->shape[3];
    if (lse->ndim != 3 || lse->shape[0] != B || lse->shape[1] != H || lse->shape[2] != L)
        return rl_error_set("%s: 'lse' is %s but must be [B, H, L] = [%lld, %lld, %lld]", op, SHAPE(lse, s1),
                            (long long)B, (long long)H, (long long)L);
    RL_TRY(backend_check_same_shape(op, "part_lse", part_lse, "lse", lse));
    float *O = out->data, *S = lse->data;
    const float *P = part->data, *PS = part_lse->data;
    #pragma omp parallel for schedule(static) if (B * L * H * d > 65536)
    for (int64_t r = 0; r < B * L; r++) {
        const int64_t b = r / L, i = r % L;
        for (int64_t h = 0; h < H; h++) {
            float *sa = &S[(b * H + h) * L + i];
            const float a = *sa, p = PS[(b * H + h) * L + i];
            if (p == -INFINITY) continue; /* the part saw no keys */
            const float m = a > p ? a : p, wa = a == -INFINITY ? 0.0f : expf(a - m), wp = expf(p - m);
            const float sum = wa + wp, ca = wa / sum, cp = wp / sum;
            float *o = O + (r * H + h) * d;
            const float *x = P + (r * H + h) * d;
            if (wa == 0.0f)
                for (int64_t k = 0; k < d; k++) o[k] = x[k] * cp;
            else
                for (int64_t k = 0; k < d; k++) o[k] = o[k] * ca + x[k] * cp;
            *sa = m + logf(sum);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- the table */

static rl_backend cpu_backend = {
    .name = "cpu",
    .device = RL_DEVICE_CPU,
    .weight_dtype = RL_F32,
    .act_dtype = RL_F32,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .synchronize = cpu_synchronize,
    .matmul = cpu_matmul,
    .layer_norm = cpu_layer_norm,
    .rms_norm = cpu_rms_norm,
    .add = cpu_add,
    .mul = cpu_mul,
    .scale = cpu_scale,
    .modulate = cpu_modulate,
    .gated_add = cpu_gated_add,
    .silu = cpu_silu,
    .gelu_tanh = cpu_gelu_tanh,
    .gelu_erf = cpu_gelu_erf,
    .attention = cpu_attention,
    .attention_merge = cpu_attention_merge,
    .rope = cpu_rope,
    .layer_norm_modulate = cpu_layer_norm_modulate,
    .rms_norm_rope = cpu_rms_norm_rope,
    .gated_add_layer_norm = cpu_gated_add_layer_norm,
    .add_layer_norm_modulate = cpu_add_layer_norm_modulate,
    .conv3d = cpu_conv3d,
    .rms_norm_channels = cpu_rms_norm_channels,
    .channel_affine = cpu_channel_affine,
    .upsample_nearest2x = cpu_upsample_nearest2x,
    .clamp = cpu_clamp,
    .cast = cpu_cast,
    .copy = cpu_copy,
    .embedding = cpu_embedding,
    .fill_normal = cpu_fill_normal,
    .host_alloc = cpu_host_alloc,
    .host_free = cpu_host_free,
    .copy_async = cpu_copy_async,
    .wait_copy = cpu_slot_noop,
    .release_slot = cpu_slot_noop,
    .impl = NULL,
};

rl_backend *rl_backend_cpu(void) { return &cpu_backend; }
