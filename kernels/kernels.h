/* kernels.h: the C-callable launchers of the CUDA kernels in the kernels/ *.cu files.
 *
 * This header is plain C (host code in src/ is C11 compiled by gcc) and includes
 * no CUDA header: a stream is passed as void * (a cudaStream_t) and every launcher
 * returns the cudaError_t of its launch as an int (0 = success), which the backend
 * turns into a sentence. Launchers enqueue work and never synchronise.
 * Conventions
 * - Pointers are device pointers to contiguous row-major data unless a stride is
 *   given. Sizes are int64_t element counts.
 * - Element types are the KDT_* numbers below, equal to rl_dtype's (the backend
 *   asserts it), so the kernels include nothing of the host layers. The compute ops
 *   take f32 or bf16 per tensor (inputs and outputs may differ) and compute in
 *   fp32; only cast (and copy) take every type.
 * - Outputs may alias an input of the same dtype only where a launcher says so.
 */
#ifndef RL_KERNELS_H
#define RL_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { KDT_F32 = 0, KDT_F16 = 1, KDT_BF16 = 2, KDT_F8_E4M3 = 3, KDT_F8_E5M2 = 4, KDT_I32 = 5, KDT_I64 = 6 };

/* ---- elementwise (all may run in place: y == an input of y's dtype) */

/* y[i] = a[i] + b[i % bn] (bn = n: same shape; bn = D: b broadcast over rows). */
int cuda_add(void *stream, void *y, int ydt, const void *a, int adt, const void *b, int bdt, int64_t n, int64_t bn);
int cuda_mul(void *stream, void *y, int ydt, const void *a, int adt, const void *b, int bdt, int64_t n, int64_t bn);
/* y = x * s */
int cuda_scale(void *stream, void *y, int ydt, const void *x, int xdt, float s, int64_t n);
/* y = x * (1 + scale[i % D]) + shift[i % D] */
int cuda_modulate(void *stream, void *y, int ydt, const void *x, int xdt, const void *shift, int shdt,
                  const void *scale, int scdt, int64_t n, int64_t D);
/* x += y * gate[i % D], in place on x */
int cuda_gated_add(void *stream, void *x, int xdt, const void *y, int ydt, const void *gate, int gdt, int64_t n,
                   int64_t D);
int cuda_silu(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n);
int cuda_gelu_tanh(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n);
int cuda_gelu_erf(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n);
/* The matmul epilogue when cuBLASLt cannot fuse it: y[m][n] = act(y[m][n] + b[n])
 * in place on y [M, N]; b may be NULL; act 0 = none, 1 = GELU (tanh). */
int cuda_bias_act(void *stream, void *y, int ydt, const void *b, int bdt, int64_t M, int64_t N, int act);

/* ---- the Wan VAE's video ops (x [C, N]: dim 0 the channels; y may be x except
 * for the upsample) */

/* y[c,p] = x[c,p] / max(||x[:,p]||_2, eps) * sqrt(C) [* gamma[c]] */
int cuda_rms_norm_channels(void *stream, void *y, int ydt, const void *x, int xdt, const void *gamma, int gdt,
                           int64_t C, int64_t N, float eps);
/* y[c,p] = x[c,p] * scale[c] [+ shift[c]] */
int cuda_channel_affine(void *stream, void *y, int ydt, const void *x, int xdt, const void *scale, int sdt,
                        const void *shift, int bdt, int64_t C, int64_t N);
/* x [P, H, W] -> y [P, 2H, 2W], each pixel duplicated */
int cuda_upsample_nearest2x(void *stream, void *y, int ydt, const void *x, int xdt, int64_t P, int64_t H, int64_t W);
/* y = min(max(x, lo), hi); NaN passes through */
int cuda_clamp(void *stream, void *y, int ydt, const void *x, int xdt, float lo, float hi, int64_t n);
/* y[i] = mean + std * rl_normal_at(seed, i), y f32/bf16/f16. */
int cuda_fill_normal(void *stream, void *y, int ydt, uint64_t seed, float mean, float std, int64_t n);

/* ---- conversions and copies */

/* y = x converted (any two KDT_ types) bit-identically to rl_convert (torch 2.15's
 * CPU casts: float types through f32 with round-to-nearest-even; f32 -> bf16 NaN ->
 * 0xFFFF but f16/f8 -> bf16 NaN -> 0x7FC0; e4m3fn saturates at +-448; float to int
 * truncates, NaN/out of range -> the minimum; int64 -> int32 wraps). */
int cuda_cast(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n);
/* Row gather: y[i, :] = table[ids[i], :] converted as cuda_cast does; table [V, D]
 * of any float type, ids i32 [N], y [N, D]. An id outside [0, V) gives a zero row
 * (never an out-of-bounds read); callers validate ids on the host. */
int cuda_embedding(void *stream, void *y, int ydt, const void *table, int tdt, const int32_t *ids, int64_t N,
                   int64_t V, int64_t D);
/* y[idx] = x[idx] over a shape of up to 5 dims with element strides for each side;
 * elem_size 1, 2, 4 or 8 bytes. */
int cuda_copy_strided(void *stream, void *y, const void *x, int elem_size, int ndim, const int64_t *shape,
                      const int64_t *y_stride, const int64_t *x_stride);

/* ---- norms (one block per row of D; fp32 statistics; y may be x) */

/* y = (x - mean) / sqrt(var + eps) [* w] [+ b]; w, b may be NULL. */
int cuda_layer_norm(void *stream, void *y, int ydt, const void *x, int xdt, const void *w, int wdt, const void *b,
                    int bdt, int64_t rows, int64_t D, float eps);
/* y = x / sqrt(mean(x^2) + eps) [* w]; w may be NULL. */
int cuda_rms_norm(void *stream, void *y, int ydt, const void *x, int xdt, const void *w, int wdt, int64_t rows,
                  int64_t D, float eps);

/* ---- rope: x, y [B, L, H, d]; cos, sin [L, d/2]; pairs (2j, 2j+1); y may be x */
int cuda_rope(void *stream, void *y, int ydt, const void *x, int xdt, const void *cos_t, int cdt, const void *sin_t,
              int sdt, int64_t B, int64_t L, int64_t H, int64_t d);

/* ---- fused norms (fused.cu): one block per row; x, y f32, bf16 or f16; the small
 * vectors f32, bf16 or f16; the norm's output rounded to x's dtype, the rest fp32,
 * one rounding into y; y may be x (same dtype). cudaErrorInvalidValue for other
 * dtypes, a row over INT32_MAX elements or an odd d. */
/* y = LN(x) * (1 + scale[D]) + shift[D] over rows of D (no affine). */
int cuda_layer_norm_modulate(void *stream, void *y, int ydt, const void *x, int xdt, const void *shift, int shdt,
                             const void *scale, int scdt, int64_t rows, int64_t D, float eps);
/* x, y [B, L, H, d]: per token the RMS over all H*d values, times w [H*d] (or NULL),
 * then rope's rotation by cos, sin [L, d/2]. */
int cuda_rms_norm_rope(void *stream, void *y, int ydt, const void *x, int xdt, const void *w, int wdt,
                       const void *cos_t, int cdt, const void *sin_t, int sdt, int64_t B, int64_t L, int64_t H,
                       int64_t d, float eps);
/* The residual add and the next LayerNorm: x (f32, in place) += y * gate[D] (gate
 * NULL: x += y); then h = LN(x) * (1 + va) + vb when modulate (va = scale, vb =
 * shift, both required), else LN(x) [* va] [+ vb]. y and h f32, bf16 or f16; h must
 * not overlap x. */
int cuda_residual_layer_norm(void *stream, float *x, const void *y, int ydt, const void *gate, int gdt, void *h,
                             int hdt, const void *va, int adt, const void *vb, int bdt, int modulate, int64_t rows,
                             int64_t D, float eps);

/* ---- attention */

typedef struct {
    const void *q, *k, *v; /* q [B, Lq, H, d]; k, v [B, Lk, H, d] */
    const void *bias;      /* [H, Lq, Lk] added to the scaled logits, or NULL */
    void *out;             /* [B, Lq, H, d] */
    float *lse;            /* f32 [B, H, Lq] log-sum-exp of the logits, or NULL */
    int qdt, kdt, vdt, bdt, odt;
    int64_t B, Lq, Lk, H, d;
    int64_t nkeys;         /* keys [0, nkeys) take part; the rest are masked out */
    float scale;
} cuda_attention_args;

/* Largest head dim the attention kernel takes. */
#define CUDA_ATTENTION_MAX_D 256
/* Flash-style attention (online softmax, no Lq x Lk matrix). Needs d <= 256,
 * H and B <= 65535. A query with no unmasked key gets out = 0 and lse = -inf. */
int cuda_attention(void *stream, const cuda_attention_args *a);

/* Tensor-core (mma.sync) flash attention, attention_mma.cu: bf16 q, k, v with d 64
 * or 128, no bias, scale > 0, q/k/v/out 16-byte aligned, out bf16 or f32.
 * variant 0 picks the default tile configuration for d; 1, 2, ... pick the
 * configurations cuda_attention_mma_config describes (for benchmarks). Returns
 * cudaErrorInvalidValue when the arguments do not fit. */
int cuda_attention_mma(void *stream, const cuda_attention_args *a, int variant);
/* Tile sizes of a variant (0 when it exists, -1 when not). */
int cuda_attention_mma_config(int64_t d, int variant, int *block_q, int *block_k, int *warps);
/* Hopper warpgroup-MMA flash attention, attention_wgmma.cu: the same arguments and
 * semantics as cuda_attention_mma, for a compute capability 9.0 GPU only (H100,
 * H200; wgmma is sm_90a); elsewhere cudaErrorNoKernelImageForDevice. variant as
 * cuda_attention_mma's; cuda_attention_wgmma_config gives a variant's tiles. */
int cuda_attention_wgmma(void *stream, const cuda_attention_args *a, int variant);
/* *specialised (NULL: not wanted): 0 for the all-threads-load kernel, 1 for the
 * warp-specialised one (a TMA producer warpgroup + consumers), 2 for that with the
 * consumers' ping-pong; *stages its K/V ring depth; *warpgroups counts the producer. */
int cuda_attention_wgmma_config(int64_t d, int variant, int *block_q, int *block_k, int *warpgroups,
                                int *specialised, int *stages);

/* The row softmax of the GEMM attention path (any head dim; the GEMMs run in the
 * backend), for queries q0 .. q0+nq-1 of one batch element. */
typedef struct {
    float *S;           /* [H, nq, n] f32 scaled logits; bias added in place */
    void *P;            /* [H, nq, n] softmax of dtype pdt (f32: may be S) */
    int pdt;
    const void *bias;   /* [H, Lq, bias_ld] (its columns [0, n) used), or NULL */
    int bdt;
    float *lse;         /* [H, Lq] f32 (this batch element's), or NULL */
    int64_t H, nq, n, q0, Lq, bias_ld;
} cuda_attention_softmax_args;
int cuda_attention_softmax(void *stream, const cuda_attention_softmax_args *a);

/* Ring attention's merge (attention_merge.cu), in place on the running result out
 * f32 [B, L, H, d] and lse f32 [B, H, L] (-inf: nothing yet, out ignored there):
 * folds in part [B, L, H, d] (f32 or bf16) with part_lse f32 [B, H, L]. */
int cuda_attention_merge(void *stream, float *out, float *lse, const void *part, int pdt, const float *part_lse,
                         int64_t B, int64_t L, int64_t H, int64_t d);

/* ---- conv3d */

typedef struct {
    const void *x;    /* [Cin, T, H, W] */
    const void *w;    /* [Cout, Cin, kt, kh, kw] */
    const void *b;    /* [Cout] or NULL */
    void *y;          /* [Cout, To, Ho, Wo] */
    int xdt, wdt, bdt, ydt;
    int64_t Cin, T, H, W, Cout, kt, kh, kw, To, Ho, Wo;
    int stride[3], pad[3]; /* pad: zeros in front along t, h, w (the back padding only shapes To, Ho, Wo) */
    /* implicit GEMM only: frames [0, Tp) of the input come from xp (channel c's at
     * xp + c * xp_cstride, frames contiguous), frames [Tp, Tp + T) from x */
    const void *xp;
    int64_t Tp, xp_cstride;
} cuda_conv3d_args;

int cuda_conv3d(void *stream, const cuda_conv3d_args *a);
/* Columns [p0, p0+np) of the im2col matrix col [K, np] (K = Cin*kt*kh*kw, column p
 * = output position (to, ho, wo) flattened), in coldt (f32 or bf16). */
int cuda_im2col3d(void *stream, void *col, int coldt, const cuda_conv3d_args *a, int64_t p0, int64_t np);
/* The tap-GEMM path (stride 1): xq [Cin, kw, Tc, Hp, Wp] = padded frames [tp0,
 * tp0 + Tc) of x zero-padded by pf in front (and whatever lies behind), copy s
 * shifted left by s columns (xq[c][s][t][h][j] = padded x[c][t][h][j + s]), in xqdt. */
int cuda_conv3d_pad(void *stream, void *xq, int xqdt, const void *x, int xdt, int64_t Cin, int64_t T, int64_t H,
                    int64_t W, const int pf[3], int64_t kw, int64_t tp0, int64_t Tc, int64_t Hp, int64_t Wp);
/* wt [kt*kh][Cout][Cin*kw] = w [Cout][Cin][kt][kh][kw], in wtdt. */
int cuda_conv3d_tap_weights(void *stream, void *wt, int wtdt, const void *w, int wdt, int64_t Cout, int64_t Cin,
                            int64_t kt, int64_t kh, int64_t kw);
/* y [Cout, To, Ho, Wo] frames [t0, t0 + Tc) = yp [Cout, Nc] (f32, column tt*Sp +
 * ho*Wp + wo of frame t0 + tt) + b [Cout] (b may be NULL). */
int cuda_conv3d_crop(void *stream, void *y, int ydt, const float *yp, const void *b, int bdt, int64_t Cout,
                     int64_t To, int64_t Ho, int64_t Wo, int64_t t0, int64_t Tc, int64_t Nc, int64_t Sp, int64_t Wp);
/* y [C, N] += b [C] (per row). */
int cuda_add_row_bias(void *stream, void *y, int ydt, const void *b, int bdt, int64_t C, int64_t N);
/* The implicit-GEMM path (conv3d_igemm.cu): stride 1, kh = kw = 1 or 3, f32 x,
 * TF32 tensor cores. fits: 1 when the arguments suit it (Cin % 8 == 0).
 * wt: scratch of cuda_conv3d_igemm_weight_bytes, for the rearranged TF32 weights. */
int cuda_conv3d_igemm_fits(const cuda_conv3d_args *a);
size_t cuda_conv3d_igemm_weight_bytes(const cuda_conv3d_args *a);
int cuda_conv3d_igemm(void *stream, const cuda_conv3d_args *a, float *wt);

#ifdef __cplusplus
}
#endif
#endif
