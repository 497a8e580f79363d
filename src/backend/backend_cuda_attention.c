/* backend_cuda_attention.c: which attention kernel the CUDA backend runs, and the
 * GEMM path for head dims above the flash kernels' 256 (the Wan VAE's middle
 * attention: d = 384, one head, f32).
 *
 * Paths, chosen per call after backend_cuda.c's checks:
 * - mma: the tensor-core flash kernel (kernels/attention_mma.cu) for bf16 q/k/v,
 *   d 64 or 128, no bias, scale > 0, 16-byte aligned tensors;
 * - gemm: S = scale Q K^T (cuBLAS, fp32 accumulate; f32 inputs never on TF32), a
 *   row softmax kernel, O = P V, over chunks of queries so S stays under
 *   ATT_GEMM_BUDGET bytes; q, k and v must share one dtype (cuBLAS's rule);
 * - flash: the fp32 CUDA-core kernel (kernels/attention.cu) for everything else;
 * - wgmma: the Hopper warpgroup-MMA kernel (kernels/attention_wgmma.cu), the mma
 *   path's arguments on a compute capability 9.0 GPU: the automatic choice there.
 * RL_CUDA_ATTENTION=auto|flash|mma|mma:N|wgmma|wgmma:N|gemm forces a path for
 * benchmarks and tests where the arguments fit it (elsewhere the automatic choice
 * stands); mma:N and wgmma:N pick the tile configuration N of
 * cuda_attention_mma_config / cuda_attention_wgmma_config. Forcing wgmma on a GPU
 * other than 9.0 is an error sentence, not a silent fallback. Only built with CUDA.
 */
#ifdef RL_HAVE_CUDA
#include "backend/backend_cuda.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATT_GEMM_BUDGET ((size_t)256 << 20) /* bytes of logits (and probabilities) per chunk */

enum { PATH_FLASH, PATH_MMA, PATH_WGMMA, PATH_GEMM, PATH_BAD_ENV };

static int mma_fits(const cuda_attention_args *a, int variant) {
    int bq, bk, w;
    uintptr_t al = (uintptr_t)a->q | (uintptr_t)a->k | (uintptr_t)a->v | (uintptr_t)a->out;
    return a->qdt == KDT_BF16 && a->kdt == KDT_BF16 && a->vdt == KDT_BF16 && !a->bias && (al & 15) == 0 &&
           a->scale > 0.0f && isfinite(a->scale) && cuda_attention_mma_config(a->d, variant, &bq, &bk, &w) == 0;
}

/* The mma kernel's argument rules (the wgmma kernel has the same ones). */
static int wgmma_fits(const cuda_attention_args *a, int variant) {
    int bq, bk, w;
    return mma_fits(a, 0) && cuda_attention_wgmma_config(a->d, variant, &bq, &bk, &w, NULL, NULL) == 0;
}

static int gemm_fits(const cuda_attention_args *a) { return a->qdt == a->kdt && a->qdt == a->vdt; }

/* "name" or "name:N" (1 <= N <= 64) at env: 1 and *v = N (0 without ":N"), 0 when
 * env is another word, -1 when ":N" is malformed. */
static int env_variant(const char *env, const char *name, int *v) {
    size_t n = strlen(name);
    *v = 0;
    if (strncmp(env, name, n) != 0 || (env[n] != 0 && env[n] != ':')) return 0;
    if (env[n] == 0) return 1;
    char *end;
    long k = strtol(env + n + 1, &end, 10);
    if (end == env + n + 1 || *end || k < 1 || k > 64) return -1;
    *v = (int)k;
    return 1;
}

/* The wgmma kernel runs on compute capability 9.0 only (H100, H200). */
static int device_is_hopper(void) {
    int dev = 0, major = 0, minor = 0;
    return cudaGetDevice(&dev) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
           cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess && major == 9 &&
           minor == 0;
}

/* The path for these arguments; *variant gets the mma / wgmma configuration.
 * auto: wgmma on Hopper (its warp-specialised kernel: 572-607 TFLOP/s at Wan 14B's
 * shapes on an H100), else the mma kernel (345), else the GEMM path for head dims above the flash kernel's,
 * else the fp32 flash kernel (a bias, or f32 inputs). */
static int attention_pick(const cuda_attention_args *a, int *variant) {
    const char *env = getenv("RL_CUDA_ATTENTION");
    int k, v;
    *variant = 0;
    if (env && *env && strcmp(env, "auto") != 0) {
        if (!strcmp(env, "flash")) {
            if (a->d <= CUDA_ATTENTION_MAX_D) return PATH_FLASH;
        } else if (!strcmp(env, "gemm")) {
            if (gemm_fits(a)) return PATH_GEMM;
        } else if ((k = env_variant(env, "mma", &v)) != 0) {
            if (k < 0) return PATH_BAD_ENV;
            if (mma_fits(a, v)) {
                *variant = v;
                return PATH_MMA;
            }
        } else if ((k = env_variant(env, "wgmma", &v)) != 0) {
            if (k < 0) return PATH_BAD_ENV;
            if (wgmma_fits(a, v)) {
                *variant = v;
                return PATH_WGMMA;
            }
        } else {
            return PATH_BAD_ENV;
        }
    }
    if (wgmma_fits(a, 0) && device_is_hopper()) return PATH_WGMMA;
    if (mma_fits(a, 0)) return PATH_MMA;
    return a->d > CUDA_ATTENTION_MAX_D ? PATH_GEMM : PATH_FLASH;
}

const char *cuda_attention_path_name(const cuda_attention_args *a, char *buf, size_t n) {
    int v, bq = 0, bk = 0, w = 0;
    switch (attention_pick(a, &v)) {
    case PATH_MMA:
        cuda_attention_mma_config(a->d, v, &bq, &bk, &w);
        snprintf(buf, n, "mma(d%lld q%d k%d w%d%s)", (long long)a->d, bq, bk, w, v ? "" : " default");
        break;
    case PATH_WGMMA: {
        int ws = 0, st = 0;
        char how[32] = "";
        cuda_attention_wgmma_config(a->d, v, &bq, &bk, &w, &ws, &st);
        if (ws) snprintf(how, sizeof how, " ws%s %d stages", ws == 2 ? " pingpong" : "", st);
        snprintf(buf, n, "wgmma(d%lld q%d k%d wg%d%s%s)", (long long)a->d, bq, bk, w, how, v ? "" : " default");
    }
        break;
    case PATH_GEMM: snprintf(buf, n, "gemm(cublas + softmax)"); break;
    case PATH_FLASH: snprintf(buf, n, "flash(fp32 cuda cores)"); break;
    default: snprintf(buf, n, "none (bad RL_CUDA_ATTENTION)"); break;
    }
    return buf;
}

/* The queries per chunk: S (f32) and P (bf16 inputs) and an f32 output staging
 * buffer (f32 inputs into a bf16 out) within the budget. */
static int64_t gemm_chunk(const cuda_attention_args *a, int p_bf16, int stage_out) {
    size_t per = (size_t)(a->H * a->nkeys) * (4 + (p_bf16 ? 2 : 0)) + (stage_out ? (size_t)(a->H * a->d) * 4 : 0);
    int64_t nq = (int64_t)(ATT_GEMM_BUDGET / (per ? per : 1));
    if (nq < 1) nq = 1;
    return nq < a->Lq ? nq : a->Lq;
}

/* No key takes part: out = 0, lse = -inf (the softmax kernel over empty rows). */
static int gemm_no_keys(cuda_state *st, const char *op, const cuda_attention_args *a) {
    size_t osz = a->odt == KDT_BF16 ? 2 : 4;
    CUDA_TRY(op, cudaMemsetAsync(a->out, 0, (size_t)(a->B * a->Lq * a->H * a->d) * osz, st->stream));
    for (int64_t b = 0; a->lse && b < a->B; b++) {
        cuda_attention_softmax_args s = {.S = NULL, .P = NULL, .pdt = KDT_F32, .lse = a->lse + b * a->H * a->Lq,
                                         .H = a->H, .nq = a->Lq, .n = 0, .q0 = 0, .Lq = a->Lq, .bias_ld = a->Lk};
        KERNEL_TRY(op, cuda_attention_softmax(st->stream, &s));
    }
    return 0;
}

typedef struct {
    void *S, *P, *O32; /* scratch: [H, nq, nkeys] f32; [H, nq, nkeys] bf16 or NULL; [nq, H, d] f32 or NULL */
    int64_t nq;
} gemm_scratch;

/* Queries [q0, q0 + nq) of batch element b. */
static int gemm_chunk_run(cuda_state *st, const char *op, const cuda_attention_args *a, const gemm_scratch *w,
                          int64_t b, int64_t q0, int64_t nq) {
    const int bf = a->qdt == KDT_BF16;
    const size_t esz = bf ? 2 : 4, osz = a->odt == KDT_BF16 ? 2 : 4;
    const cudaDataType_t abt = bf ? CUDA_R_16BF : CUDA_R_32F;
    const int64_t H = a->H, d = a->d, nk = a->nkeys, hd = H * d;
    const char *qb = (const char *)a->q + (size_t)((b * a->Lq + q0) * hd) * esz;
    const char *kb = (const char *)a->k + (size_t)(b * a->Lk * hd) * esz;
    const char *vb = (const char *)a->v + (size_t)(b * a->Lk * hd) * esz;
    char *ob = (char *)a->out + (size_t)((b * a->Lq + q0) * hd) * osz;
    const float one = 1.0f, zero = 0.0f;
    /* column-major: S^T [nk x nq] = K_h (read transposed) Q_h^T, per head h */
    CUBLAS_TRY(op, cublasGemmStridedBatchedEx(st->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nk, (int)nq, (int)d, &a->scale,
                                              kb, abt, (int)hd, d, qb, abt, (int)hd, d, &zero, w->S, CUDA_R_32F,
                                              (int)nk, nq * nk, (int)H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    cuda_attention_softmax_args s = {
        .S = w->S, .P = bf ? w->P : w->S, .pdt = bf ? KDT_BF16 : KDT_F32, .bias = a->bias, .bdt = a->bdt,
        .lse = a->lse ? a->lse + b * H * a->Lq : NULL, .H = H, .nq = nq, .n = nk, .q0 = q0, .Lq = a->Lq,
        .bias_ld = a->Lk,
    };
    KERNEL_TRY(op, cuda_attention_softmax(st->stream, &s));
    /* O^T [d x nq] (ld H*d) = V_h^T P^T, written in place into out's rows */
    void *C = w->O32 ? w->O32 : ob;
    cudaDataType_t ct = w->O32 ? CUDA_R_32F : (a->odt == KDT_BF16 ? CUDA_R_16BF : CUDA_R_32F);
    CUBLAS_TRY(op, cublasGemmStridedBatchedEx(st->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)d, (int)nq, (int)nk, &one, vb,
                                              abt, (int)hd, d, s.P, abt, (int)nk, nq * nk, &zero, C, ct, (int)hd, d,
                                              (int)H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (w->O32) KERNEL_TRY(op, cuda_cast(st->stream, ob, KDT_BF16, w->O32, KDT_F32, nq * hd));
    return 0;
}

static int attention_gemm(cuda_state *st, const char *op, const cuda_attention_args *a) {
    if (!gemm_fits(a))
        return rl_error_set("%s: head dim %lld runs on cuBLAS GEMMs, which need q, k and v of one dtype, but they "
                            "are %s, %s, %s; cast them to one dtype first", op, (long long)a->d,
                            rl_dtype_name((rl_dtype)a->qdt), rl_dtype_name((rl_dtype)a->kdt),
                            rl_dtype_name((rl_dtype)a->vdt));
    if (a->nkeys == 0) return gemm_no_keys(st, op, a);
    const int bf = a->qdt == KDT_BF16, stage = !bf && a->odt == KDT_BF16;
    const int64_t nq = gemm_chunk(a, bf, stage), H = a->H, nk = a->nkeys;
    if (nk > INT_MAX || a->d > INT_MAX || H * a->d > INT_MAX || H > INT_MAX)
        return rl_error_set("%s: %lld keys, %lld heads of dim %lld exceed cuBLAS's 32-bit sizes", op, (long long)nk,
                            (long long)H, (long long)a->d);
    gemm_scratch w = {NULL, NULL, NULL, nq};
    int rc = cuda_scratch_alloc(st, op, &w.S, (size_t)(H * nq * nk) * 4);
    if (rc == 0 && bf) rc = cuda_scratch_alloc(st, op, &w.P, (size_t)(H * nq * nk) * 2);
    if (rc == 0 && stage) rc = cuda_scratch_alloc(st, op, &w.O32, (size_t)(nq * H * a->d) * 4);
    for (int64_t b = 0; rc == 0 && b < a->B; b++)
        for (int64_t q0 = 0; rc == 0 && q0 < a->Lq; q0 += nq)
            rc = gemm_chunk_run(st, op, a, &w, b, q0, a->Lq - q0 < nq ? a->Lq - q0 : nq);
    if (w.S) cudaFreeAsync(w.S, st->stream);
    if (w.P) cudaFreeAsync(w.P, st->stream);
    if (w.O32) cudaFreeAsync(w.O32, st->stream);
    return rc;
}

int cuda_attention_run(cuda_state *st, const char *op, const cuda_attention_args *a) {
    int variant;
    switch (attention_pick(a, &variant)) {
    case PATH_MMA: KERNEL_TRY(op, cuda_attention_mma(st->stream, a, variant)); return 0;
    case PATH_WGMMA:
        if (st->prop.major != 9 || st->prop.minor != 0)
            return rl_error_set("%s: RL_CUDA_ATTENTION=%s asks for the Hopper wgmma attention kernel, which runs only "
                                "on compute capability 9.0 (H100, H200), but cuda:%d is %s (%d.%d); use "
                                "RL_CUDA_ATTENTION=mma or auto on this GPU",
                                op, getenv("RL_CUDA_ATTENTION"), st->device, st->prop.name, st->prop.major,
                                st->prop.minor);
        KERNEL_TRY(op, cuda_attention_wgmma(st->stream, a, variant));
        return 0;
    case PATH_GEMM: return attention_gemm(st, op, a);
    case PATH_FLASH: KERNEL_TRY(op, cuda_attention(st->stream, a)); return 0;
    default:
        return rl_error_set("%s: RL_CUDA_ATTENTION='%s' is not one of auto, flash, mma, mma:N, wgmma, wgmma:N "
                            "(1 <= N <= 64), gemm", op, getenv("RL_CUDA_ATTENTION"));
    }
}
#else
typedef int backend_cuda_attention_needs_cuda; /* keeps the translation unit non-empty */
#endif
