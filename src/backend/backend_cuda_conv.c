/* backend_cuda_conv.c: conv3d as im2col + GEMM on tensor cores, in bounded
 * chunks of output positions (the column matrix of a whole 480p frame at 96
 * channels would be gigabytes). Row-major y[Cout, P] = W[Cout, K] col[K, P] is
 * the column-major product y^T = col^T W^T, so one cublasGemmEx per chunk writes
 * its columns of y in place. f32 tensors use TF32 tensor cores unless
 * RAYLIGHT_TF32=0 (torch's default for convolutions is TF32 too); bf16 tensors
 * multiply in bf16 with fp32 accumulation. Only built with CUDA. */
#ifdef RL_HAVE_CUDA
#include "backend/backend_cuda.h"

#include <limits.h>

#define CONV_COL_BUDGET ((size_t)256 << 20) /* bytes of column matrix per chunk */

int cuda_conv3d_gemm(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                     const rl_conv3d_params *p, const int64_t out[3]) {
    const char *op = "conv3d";
    cuda_state *st = be->impl;
    cuda_conv3d_args a = {
        .x = x->data, .w = w->data, .b = NULL, .y = y->data, .xdt = x->dtype, .wdt = w->dtype, .ydt = y->dtype,
        .Cin = x->shape[0], .T = x->shape[1], .H = x->shape[2], .W = x->shape[3], .Cout = w->shape[0],
        .kt = w->shape[2], .kh = w->shape[3], .kw = w->shape[4], .To = out[0], .Ho = out[1], .Wo = out[2],
    };
    for (int i = 0; i < 3; i++) a.stride[i] = p->stride[i], a.pad[i] = p->pad_front[i];
    const int64_t K = a.Cin * a.kt * a.kh * a.kw, P = a.To * a.Ho * a.Wo, Cout = a.Cout;
    const rl_dtype ct = x->dtype == RL_BF16 ? RL_BF16 : RL_F32;
    const size_t esz = rl_dtype_size(ct);
    int64_t chunk = (int64_t)(CONV_COL_BUDGET / ((size_t)K * esz));
    if (chunk < 1) chunk = 1;
    if (chunk > P) chunk = P;
    if (K > INT_MAX || Cout > INT_MAX || P > INT_MAX)
        return rl_error_set("%s: the GEMM sizes (K %lld, Cout %lld, P %lld) exceed 32 bits", op, (long long)K,
                            (long long)Cout, (long long)P);
    void *col = NULL;
    RL_TRY(cuda_scratch_alloc(st, op, &col, (size_t)(K * chunk) * esz));
    const cudaDataType_t ab = ct == RL_BF16 ? CUDA_R_16BF : CUDA_R_32F, yt = y->dtype == RL_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t comp =
        (ct == RL_F32 && st->allow_tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const float alpha = 1.0f, beta = 0.0f;
    int rc = 0;
    for (int64_t p0 = 0; rc == 0 && p0 < P; p0 += chunk) {
        int64_t np = P - p0 < chunk ? P - p0 : chunk;
        int k = cuda_im2col3d(st->stream, col, ct, &a, p0, np);
        if (k) {
            rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (im2col)", (cudaError_t)k);
            break;
        }
        char *ybase = (char *)y->data + (size_t)p0 * rl_dtype_size(y->dtype);
        cublasStatus_t s = cublasGemmEx(st->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)np, (int)Cout, (int)K, &alpha, col, ab,
                                        (int)np, w->data, ab, (int)K, &beta, ybase, yt, (int)P, comp,
                                        CUBLAS_GEMM_DEFAULT);
        if (s != CUBLAS_STATUS_SUCCESS) rc = cublas_fail(op, __FILE__, __LINE__, "cublasGemmEx (conv3d)", s);
    }
    cudaFreeAsync(col, st->stream);
    if (rc == 0 && b) {
        int k = cuda_add_row_bias(st->stream, y->data, y->dtype, b->data, b->dtype, Cout, P);
        if (k) rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (bias)", (cudaError_t)k);
    }
    return rc == 0 ? cuda_op_done(st, op) : -1;
}
#endif
