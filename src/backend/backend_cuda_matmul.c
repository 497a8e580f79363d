/* backend_cuda_matmul.c: the CUDA backend's matmul, y[M,N] = act(x[M,K] W[N,K]^T + b)
 * through cuBLASLt.
 *
 * Row-major y = x W^T is, in cuBLAS's column-major terms, y^T (N x M, ld N) =
 * op(W) x^T with W read as a K x N column-major matrix transposed (ld K) and x as
 * K x M (ld K). Compute is fp32 (CUBLAS_COMPUTE_32F, never TF32), so the f32 path
 * can be checked tightly against the CPU oracle. Supported dtypes, per tensor:
 * - x, w both bf16 -> y bf16 or f32; both f32 -> y f32 (cuBLASLt's own types);
 * - x and w of different dtypes: the bf16 one is widened to f32 (exact) first;
 * - f32 inputs into a bf16 y: computed into an f32 temporary, then rounded.
 * Bias and GELU(tanh) are fused into cuBLASLt's epilogue (BIAS, GELU, GELU_BIAS;
 * cuBLASLt's GELU is the tanh form) when the bias has the output's dtype (an f32
 * bias into a bf16 y is rounded to bf16 first) and is 16-byte aligned; otherwise (or when cuBLASLt offers no algorithm
 * with that epilogue) a separate kernel applies them. When cuBLASLt offers
 * no algorithm (odd alignments), cublasGemmEx computes the product instead.
 * Only built with CUDA (the #if below; the Makefile compiles every src file).
 */
#ifdef RL_HAVE_CUDA
#include "backend/backend_cuda.h"

#include <limits.h>
#include <string.h>

#define SHAPE(t, buf) rl_shape_str((t), (buf), sizeof(buf))

static cudaDataType_t blas_type(rl_dtype t) { return t == RL_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

/* The largest power of two (<= 256) dividing the address: cuBLASLt's heuristic
 * assumes 256-byte aligned buffers unless told otherwise. */
static uint32_t ptr_alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && (a & (al - 1))) al >>= 1;
    return al;
}

typedef struct {
    void *D;          /* [M, N] row-major, dtype dt */
    rl_dtype dt;
    const void *W;    /* [N, K], dtype ab */
    const void *X;    /* [M, K], dtype ab */
    rl_dtype ab;
    int64_t M, N, K;
    const void *bias; /* [N] of dtype dt, or NULL */
    cublasLtEpilogue_t epilogue;
} gemm_desc;

#define LT_CHECK(call)                                                       \
    do {                                                                     \
        cublasStatus_t s_ = (call);                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                   \
            rc = cublas_fail(op, __FILE__, __LINE__, #call, s_);             \
            goto done;                                                       \
        }                                                                    \
    } while (0)

static int set_alignment(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const void *p) {
    uint32_t al = ptr_alignment(p);
    return cublasLtMatmulPreferenceSetAttribute(pref, attr, &al, sizeof al) == CUBLAS_STATUS_SUCCESS ? 0 : -1;
}

/* One cuBLASLt matmul. *no_algo = 1 (and nothing run) when cuBLASLt offers no
 * algorithm for this combination or refuses the one it offered. */
static int lt_gemm(cuda_state *st, const char *op, const gemm_desc *g, int *no_algo) {
    int rc = 0;
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cudaDataType_t abt = blas_type(g->ab), dtt = blas_type(g->dt);
    uint64_t ws = st->workspace_bytes;
    *no_algo = 0;
    LT_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LT_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    LT_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &g->epilogue, sizeof g->epilogue));
    if (g->bias)
        LT_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias));
    LT_CHECK(cublasLtMatrixLayoutCreate(&la, abt, (uint64_t)g->K, (uint64_t)g->N, g->K));
    LT_CHECK(cublasLtMatrixLayoutCreate(&lb, abt, (uint64_t)g->K, (uint64_t)g->M, g->K));
    LT_CHECK(cublasLtMatrixLayoutCreate(&ld, dtt, (uint64_t)g->N, (uint64_t)g->M, g->N));
    LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    if (set_alignment(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, g->W) ||
        set_alignment(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, g->X) ||
        set_alignment(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, g->D) ||
        set_alignment(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, g->D)) {
        rc = rl_error_set("%s: cuBLASLt refused an alignment preference (a bug)", op);
        goto done;
    }
    cublasLtMatmulHeuristicResult_t res;
    int nres = 0;
    memset(&res, 0, sizeof res);
    cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(st->lt, desc, la, lb, ld, ld, pref, 1, &res, &nres);
    if (hs == CUBLAS_STATUS_NOT_SUPPORTED || (hs == CUBLAS_STATUS_SUCCESS && nres == 0)) {
        *no_algo = 1;
        goto done;
    }
    LT_CHECK(hs);
    const float alpha = 1.0f, beta = 0.0f;
    cublasStatus_t ms = cublasLtMatmul(st->lt, desc, &alpha, g->W, la, g->X, lb, &beta, g->D, ld, g->D, ld, &res.algo,
                                       st->workspace, st->workspace_bytes, st->stream);
    if (ms == CUBLAS_STATUS_NOT_SUPPORTED) *no_algo = 1; /* refused before launching: use the fallback */
    else LT_CHECK(ms);
done:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
    return rc;
}

/* The fallback: classic cuBLAS, no epilogue. */
static int blas_gemm(cuda_state *st, const char *op, const gemm_desc *g) {
    if (g->M > INT_MAX || g->N > INT_MAX || g->K > INT_MAX)
        return rl_error_set("%s: M=%lld, N=%lld, K=%lld exceed the fallback GEMM's 32-bit sizes", op,
                            (long long)g->M, (long long)g->N, (long long)g->K);
    const float alpha = 1.0f, beta = 0.0f;
    CUBLAS_TRY(op, cublasGemmEx(st->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)g->N, (int)g->M, (int)g->K, &alpha, g->W,
                                blas_type(g->ab), (int)g->K, g->X, blas_type(g->ab), (int)g->K, &beta, g->D,
                                blas_type(g->dt), (int)g->N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}

static cublasLtEpilogue_t epilogue_for(int bias, rl_activation act) {
    if (act == RL_ACT_GELU_TANH) return bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    return bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

/* Stream-ordered scratch (freed on the stream after its last use). */
int cuda_scratch_alloc(cuda_state *st, const char *op, void **p, size_t bytes) {
    cudaError_t e = cudaMallocAsync(p, bytes ? bytes : 256, st->stream);
    if (e == cudaErrorMemoryAllocation) {
        char b[32];
        (void)cudaGetLastError();
        *p = NULL;
        return rl_error_set("%s: out of GPU memory for a %s temporary; lower the resolution or the number of "
                            "frames, or use the offload options (see raylight-gen --help)", op,
                            rl_bytes_str(bytes, b, sizeof b));
    }
    if (e != cudaSuccess) {
        *p = NULL;
        return cuda_fail(op, __FILE__, __LINE__, "cudaMallocAsync", e);
    }
    return 0;
}

/* The product, the epilogue and the conversions, after the checks. */
static int matmul_run(cuda_state *st, const char *op, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                      const rl_tensor *b, rl_activation act, int64_t M, int64_t N, int64_t K) {
    int rc = 0, no_algo = 0;
    void *wide = NULL, *y32 = NULL, *b16 = NULL;
    gemm_desc g = {y->data, y->dtype, w->data, x->data, x->dtype, M, N, K, NULL, CUBLASLT_EPILOGUE_DEFAULT};
    if (x->dtype != w->dtype) { /* widen the bf16 operand: exact */
        const rl_tensor *lo = x->dtype == RL_BF16 ? x : w;
        int64_t n = rl_tensor_numel(lo);
        if ((rc = cuda_scratch_alloc(st, op, &wide, (size_t)n * sizeof(float))) != 0) goto done;
        int k = cuda_cast(st->stream, wide, RL_F32, lo->data, RL_BF16, n);
        if (k) {
            rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (widening to f32)", (cudaError_t)k);
            goto done;
        }
        if (lo == x) g.X = wide;
        else g.W = wide;
        g.ab = RL_F32;
    }
    if (g.ab == RL_F32 && y->dtype == RL_BF16) { /* cuBLASLt writes f32 inputs to f32 only */
        if ((rc = cuda_scratch_alloc(st, op, &y32, (size_t)(M * N) * sizeof(float))) != 0) goto done;
        g.D = y32;
        g.dt = RL_F32;
    }
    /* An f32 bias into a bf16 product (the DiT keeps biases in f32) is rounded to
     * bf16 first, as torch's bf16 Linear holds it, so that cuBLASLt's epilogue
     * (which takes a bias of D's type here) adds it: a separate pass over y costs
     * a tenth of a 14B forward. */
    const void *bias = b ? b->data : NULL;
    if (b && b->dtype == RL_F32 && g.dt == RL_BF16) {
        if ((rc = cuda_scratch_alloc(st, op, &b16, (size_t)N * 2)) != 0) goto done;
        int k = cuda_cast(st->stream, b16, RL_BF16, b->data, RL_F32, N);
        if (k) {
            rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (bias to bf16)", (cudaError_t)k);
            goto done;
        }
        bias = b16;
    }
    int fuse = !b || ((b->dtype == g.dt || bias == b16) && ptr_alignment(bias) >= 16);
    if (fuse) {
        g.bias = bias;
        g.epilogue = epilogue_for(b != NULL, act);
    }
    if ((rc = lt_gemm(st, op, &g, &no_algo)) != 0) goto done;
    if (no_algo && fuse && (b || act != RL_ACT_NONE)) { /* no algorithm with that epilogue: the plain product */
        fuse = 0;
        g.bias = NULL;
        g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
        if ((rc = lt_gemm(st, op, &g, &no_algo)) != 0) goto done;
    }
    if (no_algo) {
        fuse = 0;
        if ((rc = blas_gemm(st, op, &g)) != 0) goto done;
    }
    if (!fuse) {
        int k = cuda_bias_act(st->stream, g.D, g.dt, b ? b->data : NULL, b ? (int)b->dtype : 0, M, N,
                              act == RL_ACT_GELU_TANH);
        if (k) {
            rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (bias/GELU epilogue)", (cudaError_t)k);
            goto done;
        }
    }
    if (y32) {
        int k = cuda_cast(st->stream, y->data, RL_BF16, y32, RL_F32, M * N);
        if (k) rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (rounding to bf16)", (cudaError_t)k);
    }
done:
    if (wide) cudaFreeAsync(wide, st->stream);
    if (y32) cudaFreeAsync(y32, st->stream);
    if (b16) cudaFreeAsync(b16, st->stream);
    return rc;
}

static int check_matmul(const char *op, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                        rl_activation act) {
    char sx[96], sw[96], sy[96], sb[96];
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "w", w, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs at least one dim (K)", op);
    if (w->ndim != 2) return rl_error_set("%s: the weight 'w' is %s but must be 2-D [N, K]", op, SHAPE(w, sw));
    int64_t K = x->shape[x->ndim - 1], N = w->shape[0];
    if (w->shape[1] != K)
        return rl_error_set("%s: x %s has K=%lld but the weight 'w' is %s (expected [N, %lld])", op, SHAPE(x, sx),
                            (long long)K, SHAPE(w, sw), (long long)K);
    int yok = y->ndim == x->ndim && y->shape[y->ndim - 1] == N;
    for (int i = 0; yok && i < x->ndim - 1; i++) yok = y->shape[i] == x->shape[i];
    if (!yok)
        return rl_error_set("%s: y is %s but x %s times w^T %s gives x's leading dims with N=%lld", op,
                            SHAPE(y, sy), SHAPE(x, sx), SHAPE(w, sw), (long long)N);
    if (b) {
        RL_TRY(cuda_check_tensor(op, "b", b, CK_FLOAT));
        if (b->ndim != 1 || b->shape[0] != N)
            return rl_error_set("%s: the bias 'b' is %s but must be [%lld] (N of the weight %s)", op, SHAPE(b, sb),
                                (long long)N, SHAPE(w, sw));
    }
    if (act != RL_ACT_NONE && act != RL_ACT_GELU_TANH) return rl_error_set("%s: unknown activation %d", op, (int)act);
    return 0;
}

int cuda_matmul_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                   rl_activation act) {
    const char *op = "matmul";
    RL_TRY(check_matmul(op, y, x, w, b, act));
    cuda_state *st = be->impl;
    int64_t N = w->shape[0], K = w->shape[1], M = rl_tensor_numel(y) / (N ? N : 1);
    if (M == 0 || N == 0) return 0;
    RL_TRY(cuda_enter(be, op));
    if (K == 0) { /* an empty sum: y = act(0 + b) */
        CUDA_TRY(op, cudaMemsetAsync(y->data, 0, rl_tensor_nbytes(y), st->stream));
        KERNEL_TRY(op, cuda_bias_act(st->stream, y->data, y->dtype, b ? b->data : NULL, b ? (int)b->dtype : 0, M, N,
                                     act == RL_ACT_GELU_TANH));
    } else {
        RL_TRY(matmul_run(st, op, y, x, w, b, act, M, N, K));
    }
    return cuda_op_done(st, op);
}
#else
typedef int backend_cuda_matmul_needs_cuda; /* keeps the translation unit non-empty */
#endif
