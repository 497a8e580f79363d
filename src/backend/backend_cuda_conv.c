/* backend_cuda_conv.c: conv3d as GEMMs on tensor cores.
 *
 * f32 under TF32 (the default; RAYLIGHT_TF32=0 turns it off), stride 1, kh = kw = 1
 * or 3, Cin % 8 == 0 (every large conv of the Wan VAE): the implicit GEMM of
 * kernels/conv3d_igemm.cu, which reads the input (and a causal conv's cached prefix
 * frames) where it lies.
 * The paths below serve the rest.
 *
 * Stride 1 (every conv of the Wan VAE decoder): one GEMM per kernel tap over a
 * zero-padded copy of the input. With the input padded to [Cin, Tp, Hp, Wp] and
 * the product laid out on the padded grid (column n = to*Hp*Wp + ho*Wp + wo, the
 * columns with ho >= Ho or wo >= Wo computed and dropped), tap (dt, dh, dw) reads
 * the padded input shifted by dt*Hp*Wp + dh*Wp + dw: a plain matrix with row
 * stride Tp*Hp*Wp. The kw shifts along W are stacked as kw copies of the padded
 * input (K = Cin*kw), so each of the kt*kh GEMMs starts 16-byte aligned (Wp is
 * rounded up to 16 bytes) and gets cuBLAS's vectorised kernels: y = sum over
 * (dt, dh) of W_tap [Cout, Cin*kw] x_shift [Cin*kw, N], accumulated in fp32
 * (beta = 1), then cropped with the bias added. No column matrix and no index
 * arithmetic per element; frames go in bounded chunks.
 *
 * Other strides (the encoder's downsampling): im2col + GEMM in bounded chunks of
 * output positions (the column matrix of a whole 480p frame at 96 channels would
 * be gigabytes). Row-major y[Cout, P] = W[Cout, K] col[K, P] is
 * the column-major product y^T = col^T W^T, so one cublasGemmEx per chunk writes
 * its columns of y in place. f32 tensors use TF32 tensor cores unless
 * RAYLIGHT_TF32=0 (torch's default for convolutions is TF32 too); bf16 tensors
 * multiply in bf16 with fp32 accumulation. Only built with CUDA. */
#ifdef RL_HAVE_CUDA
#include "backend/backend_cuda.h"
#include "backend/check.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CONV_COL_BUDGET ((size_t)256 << 20) /* bytes of column matrix per chunk */
#define CONV_TAP_BUDGET ((size_t)768 << 20) /* bytes of padded input + fp32 product per frame chunk */

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

static int conv3d_taps(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                       const rl_conv3d_params *p, const int64_t out[3]) {
    const char *op = "conv3d";
    cuda_state *st = be->impl;
    const int64_t Cin = x->shape[0], T = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t Cout = w->shape[0], kt = w->shape[2], kh = w->shape[3], kw = w->shape[4], K = Cin * kw;
    const int64_t To = out[0], Ho = out[1], Wo = out[2];
    const rl_dtype ct = x->dtype == RL_BF16 && w->dtype == RL_BF16 ? RL_BF16 : RL_F32;
    const size_t esz = rl_dtype_size(ct);
    const int64_t al = 16 / (int64_t)esz; /* padded rows and leading dims in 16-byte units: aligned GEMM tiles */
    const int64_t Hp = H + p->pad_front[1] + p->pad_back[1];
    const int64_t Wp = round_up(W + p->pad_front[2] + p->pad_back[2], al), Sp = Hp * Wp;
    int64_t tc = (int64_t)(CONV_TAP_BUDGET / ((size_t)Sp * ((size_t)Cout * sizeof(float) + (size_t)K * esz)));
    if (tc < 1) tc = 1;
    if (tc > To) tc = To;
    const int64_t Cs = (tc + kt - 1) * Sp;                             /* row stride of xq per chunk */
    const int64_t Nmax = round_up((tc - 1) * Sp + (Ho - 1) * Wp + Wo, 4); /* row stride of yp */
    if (Cs > INT_MAX || Nmax > INT_MAX || K > INT_MAX || Cout > INT_MAX)
        return rl_error_set("%s: the GEMM sizes (K %lld, Cout %lld, %lld padded positions) exceed 32 bits", op,
                            (long long)K, (long long)Cout, (long long)Cs);
    void *xq = NULL, *wt = NULL, *yp = NULL;
    int rc = cuda_scratch_alloc(st, op, &xq, (size_t)(K * Cs) * esz), k = 0;
    if (rc == 0) rc = cuda_scratch_alloc(st, op, &wt, (size_t)(kt * kh * Cout * K) * esz);
    if (rc == 0) rc = cuda_scratch_alloc(st, op, &yp, (size_t)(Cout * Nmax) * sizeof(float));
    if (rc == 0 && (k = cuda_conv3d_tap_weights(st->stream, wt, ct, w->data, w->dtype, Cout, Cin, kt, kh, kw)) != 0)
        rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (tap weights)", (cudaError_t)k);
    const cudaDataType_t ab = ct == RL_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t comp =
        (ct == RL_F32 && st->allow_tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const float alpha = 1.0f, zero = 0.0f, one = 1.0f;
    for (int64_t t0 = 0; rc == 0 && t0 < To; t0 += tc) {
        const int64_t n = To - t0 < tc ? To - t0 : tc, Nc = (n - 1) * Sp + (Ho - 1) * Wp + Wo;
        if ((k = cuda_conv3d_pad(st->stream, xq, ct, x->data, x->dtype, Cin, T, H, W, p->pad_front, kw, t0,
                                 n + kt - 1, Hp, Wp)) != 0) {
            rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (padding)", (cudaError_t)k);
            break;
        }
        /* Row stride of this chunk's xq: the kernel packs n + kt - 1 frames per row. */
        const int64_t ld = (n + kt - 1) * Sp;
        for (int64_t tap = 0; rc == 0 && tap < kt * kh; tap++) {
            const int64_t dt = tap / kh, dh = tap % kh;
            const char *A = (const char *)xq + (size_t)(dt * Sp + dh * Wp) * esz;
            const char *B = (const char *)wt + (size_t)(tap * Cout * K) * esz;
            /* column-major: yp^T [Nc, Cout] (+)= xq_shift^T [Nc, Cin*kw] (ld ld) W_tap^T [Cin*kw, Cout] */
            cublasStatus_t s = cublasGemmEx(st->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)Nc, (int)Cout, (int)K, &alpha, A,
                                            ab, (int)ld, B, ab, (int)K, tap ? &one : &zero, yp, CUDA_R_32F,
                                            (int)Nmax, comp, CUBLAS_GEMM_DEFAULT);
            if (s != CUBLAS_STATUS_SUCCESS) rc = cublas_fail(op, __FILE__, __LINE__, "cublasGemmEx (conv3d tap)", s);
        }
        if (rc == 0 && (k = cuda_conv3d_crop(st->stream, y->data, y->dtype, (const float *)yp, b ? b->data : NULL,
                                             b ? (int)b->dtype : 0, Cout, To, Ho, Wo, t0, n, Nmax, Sp, Wp)) != 0)
            rc = cuda_fail(op, __FILE__, __LINE__, "a kernel launch (crop and bias)", (cudaError_t)k);
    }
    if (xq) cudaFreeAsync(xq, st->stream);
    if (wt) cudaFreeAsync(wt, st->stream);
    if (yp) cudaFreeAsync(yp, st->stream);
    return rc == 0 ? cuda_op_done(st, op) : -1;
}

/* The implicit GEMM (stride 1, f32 under TF32): no padded copies. */
static int conv3d_igemm(cuda_state *st, const cuda_conv3d_args *a) {
    const char *op = "conv3d";
    void *wt = NULL;
    RL_TRY(cuda_scratch_alloc(st, op, &wt, cuda_conv3d_igemm_weight_bytes(a)));
    int k = cuda_conv3d_igemm(st->stream, a, (float *)wt);
    cudaFreeAsync(wt, st->stream);
    if (k) return cuda_fail(op, __FILE__, __LINE__, "a kernel launch (implicit-GEMM conv3d)", (cudaError_t)k);
    return cuda_op_done(st, op);
}

/* The kernels' arguments, bias and prefix frames included. */
static cuda_conv3d_args conv_args(const rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                                  const rl_conv3d_params *p) {
    cuda_conv3d_args a = {
        .x = x->data, .w = w->data, .b = b ? b->data : NULL, .y = y->data, .xdt = x->dtype, .wdt = w->dtype,
        .bdt = b ? (int)b->dtype : 0, .ydt = y->dtype, .Cin = x->shape[0], .T = x->shape[1], .H = x->shape[2],
        .W = x->shape[3], .Cout = w->shape[0], .kt = w->shape[2], .kh = w->shape[3], .kw = w->shape[4],
        .To = y->shape[1], .Ho = y->shape[2], .Wo = y->shape[3],
    };
    for (int i = 0; i < 3; i++) a.stride[i] = p->stride[i], a.pad[i] = p->pad_front[i];
    if (p->prefix) a.xp = p->prefix->data, a.Tp = p->prefix->shape[1], a.xp_cstride = p->prefix->stride[0];
    return a;
}

/* RL_CUDA_CONV=auto|taps|im2col: the path for benchmarks and tests (auto,
 * and any path the arguments do not suit: igemm where it fits, else taps for stride
 * 1, else im2col). */
static int igemm_chosen(const cuda_state *st, const cuda_conv3d_args *a) {
    const char *force = getenv("RL_CUDA_CONV");
    if (force && (!strcmp(force, "taps") || !strcmp(force, "im2col"))) return 0;
    return st->allow_tf32 && a->xdt == a->wdt && cuda_conv3d_igemm_fits(a);
}

int cuda_conv3d_run(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                    const rl_conv3d_params *p, const int64_t out[3]) {
    const char *op = "conv3d";
    cuda_state *st = be->impl;
    const cuda_conv3d_args a = conv_args(y, x, w, b, p);
    /* the direct fp32 kernel when the dtypes do not pair up for a GEMM (or Cin is 0) */
    const int direct = x->dtype != w->dtype || w->shape[1] == 0;
    if (!direct && igemm_chosen(st, &a)) return conv3d_igemm(st, &a);
    if (p->prefix) { /* the other paths read one tensor: concatenated in stream-ordered scratch */
        void *buf = NULL;
        RL_TRY(cuda_scratch_alloc(st, op, &buf, backend_conv3d_concat_bytes(x, p->prefix)));
        int rc = backend_conv3d_concat(be, y, x, w, b, p, buf);
        cudaFreeAsync(buf, st->stream);
        return rc;
    }
    if (direct) {
        KERNEL_TRY(op, cuda_conv3d(st->stream, &a));
        return cuda_op_done(st, op);
    }
    const char *force = getenv("RL_CUDA_CONV");
    const int want_im2col = force && !strcmp(force, "im2col");
    const int stride1 = p->stride[0] == 1 && p->stride[1] == 1 && p->stride[2] == 1;
    if (stride1 && !want_im2col) return conv3d_taps(be, y, x, w, b, p, out);
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
