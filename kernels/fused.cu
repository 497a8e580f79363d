/* fused.cu: the fused norm kernels of the DiT block, one block of threads per row
 * (a token), the row read once and written once:
 *   layer_norm_modulate  y = LN(x) * (1 + scale) + shift      (norm1, norm2 + modulation)
 *   rms_norm_rope        y = rope(RMS(x) * w) over all heads   (q/k norm + RoPE, in place)
 *   residual_layer_norm  x += y * gate, h = LN(x) * w + b      (residual add + norm3, or
 *                        or h = LN(x) * (1 + scale) + shift     + norm2 and modulation)
 *
 * Conventions
 * - x and y are f32, bf16 or f16, as template parameters (16-bit types are raw bits
 *   converted by common.cuh's torch-exact functions); the small vectors (shift,
 *   scale, w, cos/sin) take any of the three at run time. Arithmetic is fp32:
 *   statistics are fp32 warp-shuffle block sums (two-pass mean/variance for
 *   LayerNorm, as norm.cu); the norm's output is rounded to x's dtype (torch's
 *   norm modules return x's dtype), the rest stays fp32 and is rounded once into y.
 * - A thread keeps up to FUSED_NV chunks of C consecutive elements in registers.
 *   C*sizeof(x) is 16 bytes (one vector load) when the row length and the
 *   pointers allow, else C = 1 (LayerNorm) or 2 (a RoPE pair). Rows longer than
 *   1024 * FUSED_NV chunks (D > 16384 in bf16, 8192 in f32) take the *_long
 *   kernels, which read x again per pass.
 * - Each thread writes only the elements it read, so y may be x (same dtype).
 */
#include "common.cuh"

/* Chunks per thread held in registers, and the block size limit: every variant
 * then fits in 64 registers without spilling (ptxas -v: 45..62 on sm_90; with 4
 * chunks of 8 the 16-bit variants spilled or needed 116 registers). */
#define FUSED_NV 2
#define FUSED_MAX_THREADS 1024
#define RLN_NV 8        /* residual_layer_norm: chunks per thread on rows up to RLN_THREADS * RLN_NV chunks */
#define RLN_THREADS 256
#define RNR_NV 4        /* rms_norm_rope: the same for rows of 16-byte chunks (8 bf16) */

/* ---------------------------------------------------------------- element types */

struct bf16_t {
    uint16_t bits;
};
struct f16_t {
    uint16_t bits;
};

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16_t v) { return bf16_to_f32(v.bits); }
__device__ __forceinline__ float to_float(f16_t v) { return f16_to_f32(v.bits); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16_t from_float<bf16_t>(float v) {
    bf16_t r;
    r.bits = f32_to_bf16(v);
    return r;
}
template <> __device__ __forceinline__ f16_t from_float<f16_t>(float v) {
    f16_t r;
    r.bits = f32_to_f16(v);
    return r;
}

/* v as a T would hold it (torch's .type_as(x) of the norm's fp32 result). */
template <typename T> __device__ __forceinline__ float round_as(float v) { return to_float(from_float<T>(v)); }

/* C elements loaded or stored as one access: 16-byte alignment at most. */
template <typename T, int C> struct alignas(sizeof(T) * C < 16 ? sizeof(T) * C : 16) pack {
    T v[C];
};

/* A small vector's element i; its dtype (f32, bf16, f16) is uniform over the launch. */
__device__ __forceinline__ float ld_vec(const void *p, int dt, int64_t i) {
    if (dt == KDT_BF16) return bf16_to_f32(((const uint16_t *)p)[i]);
    if (dt == KDT_F16) return f16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

/* ---------------------------------------------------------------- LayerNorm + modulate */

/* One element of the output: the norm rounded to x's type, then the modulation. */
template <typename TX>
__device__ __forceinline__ float lnm_value(float xv, float mean, float rstd, const void *shift, int shdt,
                                           const void *scale, int scdt, int64_t i) {
    float nv = round_as<TX>((xv - mean) * rstd);
    return nv * (1.0f + ld_vec(scale, scdt, i)) + ld_vec(shift, shdt, i);
}

/* LayerNorm statistics (mean, 1 / sqrt(var + eps)) of a row of D values held in
 * registers: v[k] is this thread's chunk k when threadIdx.x + k * blockDim.x < nch,
 * s the sum of those; two block reductions through sh. */
template <int NV, int C>
__device__ __forceinline__ void chunk_row_stats(const float (&v)[NV][C], float s, int nch, int D, float eps, float *sh,
                                                float *mean, float *rstd) {
    const float m = block_sum(s, sh) / (float)D;
    float ss = 0.0f;
#pragma unroll
    for (int k = 0; k < NV; k++)
        if (threadIdx.x + k * blockDim.x < nch)
#pragma unroll
            for (int e = 0; e < C; e++) {
                float dv = v[k][e] - m;
                ss += dv * dv;
            }
    *mean = m;
    *rstd = 1.0f / sqrtf(block_sum(ss, sh) / (float)D + eps);
}

template <typename TX, typename TY, int C>
__global__ void __launch_bounds__(FUSED_MAX_THREADS, 1)
    layer_norm_modulate_kernel(TY *y, const TX *x, const void *shift, int shdt, const void *scale, int scdt,
                               int64_t rows, int D, float eps) {
    __shared__ float sh[33];
    const int nch = D / C;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const TX *xr = x + r * D;
        TY *yr = y + r * D;
        float v[FUSED_NV][C];
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < FUSED_NV; k++) {
            int c = threadIdx.x + k * blockDim.x;
            if (c < nch) {
                pack<TX, C> p = *reinterpret_cast<const pack<TX, C> *>(xr + (int64_t)c * C);
#pragma unroll
                for (int e = 0; e < C; e++) {
                    v[k][e] = to_float(p.v[e]);
                    s += v[k][e];
                }
            }
        }
        float mean, rstd;
        chunk_row_stats(v, s, nch, D, eps, sh, &mean, &rstd);
#pragma unroll
        for (int k = 0; k < FUSED_NV; k++) {
            int c = threadIdx.x + k * blockDim.x;
            if (c < nch) {
                pack<TY, C> o;
#pragma unroll
                for (int e = 0; e < C; e++)
                    o.v[e] = from_float<TY>(
                        lnm_value<TX>(v[k][e], mean, rstd, shift, shdt, scale, scdt, (int64_t)c * C + e));
                *reinterpret_cast<pack<TY, C> *>(yr + (int64_t)c * C) = o;
            }
        }
    }
}

/* Rows too long for the registers: three passes over x. */
template <typename TX, typename TY>
__global__ void __launch_bounds__(FUSED_MAX_THREADS)
    layer_norm_modulate_long_kernel(TY *y, const TX *x, const void *shift, int shdt, const void *scale, int scdt,
                                    int64_t rows, int D, float eps) {
    __shared__ float sh[33];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const TX *xr = x + r * D;
        TY *yr = y + r * D;
        float s = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x) s += to_float(xr[i]);
        const float mean = block_sum(s, sh) / (float)D;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x) {
            float dv = to_float(xr[i]) - mean;
            ss += dv * dv;
        }
        const float rstd = 1.0f / sqrtf(block_sum(ss, sh) / (float)D + eps);
        for (int i = threadIdx.x; i < D; i += blockDim.x)
            yr[i] = from_float<TY>(lnm_value<TX>(to_float(xr[i]), mean, rstd, shift, shdt, scale, scdt, i));
    }
}

/* ---------------------------------------------------------------- RMSNorm + RoPE */

/* One pair (elements i, i+1 of the row, i even) of the output: the normalised
 * values rounded to x's type, times w, rotated by angle j = (i mod d) / 2 of the
 * token's table row `trow` (= l * half). fp32 throughout. */
template <typename TX>
__device__ __forceinline__ void rnr_pair(float x0, float x1, float rs, const void *w, int wdt, const void *cs,
                                         int cdt, const void *sn, int sdt, int64_t trow, int half, int i, float *y0,
                                         float *y1) {
    float a = round_as<TX>(x0 * rs), b = round_as<TX>(x1 * rs);
    if (w) a *= ld_vec(w, wdt, i), b *= ld_vec(w, wdt, i + 1);
    int64_t t = trow + (i % (2 * half)) / 2;
    float c = ld_vec(cs, cdt, t), s = ld_vec(sn, sdt, t);
    *y0 = a * c - b * s;
    *y1 = a * s + b * c;
}

template <typename TX, typename TY, int C, int NV>
__global__ void __launch_bounds__(NV == FUSED_NV ? FUSED_MAX_THREADS : RLN_THREADS, NV == FUSED_NV ? 1 : 4)
    rms_norm_rope_kernel(TY *y, const TX *x, const void *w, int wdt, const void *cs, int cdt, const void *sn,
                         int sdt, int64_t rows, int64_t L, int D, int half, float eps) {
    __shared__ float sh[33];
    const int nch = D / C;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const TX *xr = x + r * D;
        TY *yr = y + r * D;
        const int64_t trow = (r % L) * half;
        float v[NV][C];
        float ss = 0.0f;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int c = threadIdx.x + k * blockDim.x;
            if (c < nch) {
                pack<TX, C> p = *reinterpret_cast<const pack<TX, C> *>(xr + (int64_t)c * C);
#pragma unroll
                for (int e = 0; e < C; e++) {
                    v[k][e] = to_float(p.v[e]);
                    ss += v[k][e] * v[k][e];
                }
            }
        }
        const float rs = 1.0f / sqrtf(block_sum(ss, sh) / (float)D + eps);
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int c = threadIdx.x + k * blockDim.x;
            if (c < nch) {
                pack<TY, C> o;
#pragma unroll
                for (int e = 0; e < C; e += 2) {
                    float y0, y1;
                    rnr_pair<TX>(v[k][e], v[k][e + 1], rs, w, wdt, cs, cdt, sn, sdt, trow, half, c * C + e, &y0, &y1);
                    o.v[e] = from_float<TY>(y0);
                    o.v[e + 1] = from_float<TY>(y1);
                }
                *reinterpret_cast<pack<TY, C> *>(yr + (int64_t)c * C) = o;
            }
        }
    }
}

/* Rows too long for the registers (or misaligned pairs): two passes over x. */
template <typename TX, typename TY>
__global__ void __launch_bounds__(FUSED_MAX_THREADS)
    rms_norm_rope_long_kernel(TY *y, const TX *x, const void *w, int wdt, const void *cs, int cdt, const void *sn,
                              int sdt, int64_t rows, int64_t L, int D, int half, float eps) {
    __shared__ float sh[33];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const TX *xr = x + r * D;
        TY *yr = y + r * D;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x) {
            float xv = to_float(xr[i]);
            ss += xv * xv;
        }
        const float rs = 1.0f / sqrtf(block_sum(ss, sh) / (float)D + eps);
        for (int i = 2 * threadIdx.x; i < D; i += 2 * blockDim.x) {
            float y0, y1;
            rnr_pair<TX>(to_float(xr[i]), to_float(xr[i + 1]), rs, w, wdt, cs, cdt, sn, sdt, (r % L) * half, half, i,
                         &y0, &y1);
            yr[i] = from_float<TY>(y0);
            yr[i + 1] = from_float<TY>(y1);
        }
    }
}

/* ---------------------------------------------------------------- residual add + LayerNorm */

/* The residual x is f32 (the stream the reference keeps in fp32), so the norm needs
 * no rounding to x's dtype; y and h are templated, C = 4 (16 bytes of x). */

/* h's value from the normalised n: n * (1 + a) + b (modulate), else n * a + b with
 * a, b optional (LayerNorm's affine). */
__device__ __forceinline__ float rln_value(float nv, const void *va, int adt, const void *vb, int bdt, int modulate,
                                           int64_t i) {
    if (modulate) return nv * (1.0f + ld_vec(va, adt, i)) + ld_vec(vb, bdt, i);
    if (va) nv *= ld_vec(va, adt, i);
    if (vb) nv += ld_vec(vb, bdt, i);
    return nv;
}

/* x + y * gate (gate may be NULL: x + y exactly). */
__device__ __forceinline__ float residual(float xv, float yv, const void *gate, int gdt, int64_t i) {
    return gate ? xv + yv * ld_vec(gate, gdt, i) : xv + yv;
}

/* C consecutive values of a per-channel vector from i (f32 16-byte aligned: one
 * vector load; otherwise element by element); absent (NULL): `none`. */
template <int C>
__device__ __forceinline__ void ld_chunk(const void *p, int dt, int64_t i, float none, float *o) {
    if (!p) {
#pragma unroll
        for (int e = 0; e < C; e++) o[e] = none;
    } else if (C == 4 && dt == KDT_F32 && ((uintptr_t)p & 15) == 0) {
        const float4 v = *reinterpret_cast<const float4 *>((const float *)p + i);
        o[0] = v.x, o[1] = v.y, o[2] = v.z, o[3] = v.w;
    } else {
#pragma unroll
        for (int e = 0; e < C; e++) o[e] = ld_vec(p, dt, i + e);
    }
}

/* NV chunks per thread: the launcher picks RLN_NV (fewer threads per row, several
 * rows resident per SM: more loads in flight) when the row fits, else FUSED_NV. */
template <typename TY, typename TH, int C, int NV>
__global__ void __launch_bounds__(NV == FUSED_NV ? FUSED_MAX_THREADS : RLN_THREADS, NV == FUSED_NV ? 1 : 4)
    residual_layer_norm_kernel(float *x, const TY *y, const void *gate, int gdt, TH *h, const void *va, int adt,
                               const void *vb, int bdt, int modulate, int64_t rows, int D, float eps) {
    __shared__ float sh[33];
    const int nch = D / C;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        float *xr = x + r * D;
        const TY *yr = y + r * D;
        TH *hr = h + r * D;
        float v[NV][C];
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int c = threadIdx.x + k * blockDim.x;
            if (c < nch) {
                pack<float, C> px = *reinterpret_cast<const pack<float, C> *>(xr + (int64_t)c * C);
                pack<TY, C> py = *reinterpret_cast<const pack<TY, C> *>(yr + (int64_t)c * C);
                float g[C];
                ld_chunk<C>(gate, gdt, (int64_t)c * C, 1.0f, g);
#pragma unroll
                for (int e = 0; e < C; e++) {
                    /* as residual(): x + y * gate, or x + y exactly without a gate */
                    v[k][e] = gate ? px.v[e] + to_float(py.v[e]) * g[e] : px.v[e] + to_float(py.v[e]);
                    px.v[e] = v[k][e];
                    s += v[k][e];
                }
                *reinterpret_cast<pack<float, C> *>(xr + (int64_t)c * C) = px;
            }
        }
        float mean, rstd;
        chunk_row_stats(v, s, nch, D, eps, sh, &mean, &rstd);
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int c = threadIdx.x + k * blockDim.x;
            if (c < nch) {
                pack<TH, C> o;
                float fa[C], fb[C];
                ld_chunk<C>(va, adt, (int64_t)c * C, 0.0f, fa);
                ld_chunk<C>(vb, bdt, (int64_t)c * C, 0.0f, fb);
#pragma unroll
                for (int e = 0; e < C; e++) { /* as rln_value() */
                    float nv = (v[k][e] - mean) * rstd;
                    if (modulate) nv = nv * (1.0f + fa[e]) + fb[e];
                    else {
                        if (va) nv *= fa[e];
                        if (vb) nv += fb[e];
                    }
                    o.v[e] = from_float<TH>(nv);
                }
                *reinterpret_cast<pack<TH, C> *>(hr + (int64_t)c * C) = o;
            }
        }
    }
}

/* Rows too long for the registers or not 16-byte aligned: three passes, each thread
 * on the same elements in every pass (so it reads back its own updated x). */
template <typename TY, typename TH>
__global__ void __launch_bounds__(FUSED_MAX_THREADS)
    residual_layer_norm_long_kernel(float *x, const TY *y, const void *gate, int gdt, TH *h, const void *va, int adt,
                                    const void *vb, int bdt, int modulate, int64_t rows, int D, float eps) {
    __shared__ float sh[33];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        float *xr = x + r * D;
        const TY *yr = y + r * D;
        TH *hr = h + r * D;
        float s = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x) {
            float xv = residual(xr[i], to_float(yr[i]), gate, gdt, i);
            xr[i] = xv;
            s += xv;
        }
        const float mean = block_sum(s, sh) / (float)D;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x) {
            float dv = xr[i] - mean;
            ss += dv * dv;
        }
        const float rstd = 1.0f / sqrtf(block_sum(ss, sh) / (float)D + eps);
        for (int i = threadIdx.x; i < D; i += blockDim.x)
            hr[i] = from_float<TH>(rln_value((xr[i] - mean) * rstd, va, adt, vb, bdt, modulate, i));
    }
}

/* ---------------------------------------------------------------- launch geometry */

/* FUSED_NV chunks per thread (the last warp partly idle), at most FUSED_MAX_THREADS. */
static int fused_threads(int64_t nchunks) {
    int64_t t = (nchunks + FUSED_NV - 1) / FUSED_NV;
    t = (t + 31) / 32 * 32;
    return (int)(t < 32 ? 32 : (t > FUSED_MAX_THREADS ? FUSED_MAX_THREADS : t));
}

static unsigned fused_grid(int64_t rows) {
    const int64_t cap = 65535LL * 32;
    return (unsigned)(rows > cap ? cap : rows);
}

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

/* Chunks of C elements fit the registers and every row's chunks are aligned. */
template <typename TX, typename TY, int C>
static bool chunks_fit(const void *y, const void *x, int64_t D) {
    const size_t ax = sizeof(TX) * C < 16 ? sizeof(TX) * C : 16, ay = sizeof(TY) * C < 16 ? sizeof(TY) * C : 16;
    if (D % C) return false;
    if (D / C > (int64_t)FUSED_MAX_THREADS * FUSED_NV) return false;
    return aligned_to(x, ax) && aligned_to(y, ay);
}

/* ---------------------------------------------------------------- launchers */

template <typename TX, typename TY>
static int launch_lnm(void *stream, void *y, const void *x, const void *shift, int shdt, const void *scale, int scdt,
                      int64_t rows, int64_t D, float eps) {
    constexpr int CV = 16 / sizeof(TX);
    cudaStream_t s = (cudaStream_t)stream;
    TY *yp = (TY *)y;
    const TX *xp = (const TX *)x;
    if (chunks_fit<TX, TY, CV>(y, x, D))
        layer_norm_modulate_kernel<TX, TY, CV><<<fused_grid(rows), fused_threads(D / CV), 0, s>>>(
            yp, xp, shift, shdt, scale, scdt, rows, (int)D, eps);
    else if (chunks_fit<TX, TY, 1>(y, x, D))
        layer_norm_modulate_kernel<TX, TY, 1><<<fused_grid(rows), fused_threads(D), 0, s>>>(yp, xp, shift, shdt, scale,
                                                                                              scdt, rows, (int)D, eps);
    else
        layer_norm_modulate_long_kernel<TX, TY><<<fused_grid(rows), FUSED_MAX_THREADS, 0, s>>>(
            yp, xp, shift, shdt, scale, scdt, rows, (int)D, eps);
    return launch_status();
}

template <typename TX, typename TY>
static int launch_rnr(void *stream, void *y, const void *x, const void *w, int wdt, const void *cs, int cdt,
                      const void *sn, int sdt, int64_t rows, int64_t L, int64_t D, int64_t half, float eps) {
    constexpr int CV = 16 / sizeof(TX);
    cudaStream_t s = (cudaStream_t)stream;
    TY *yp = (TY *)y;
    const TX *xp = (const TX *)x;
    if (chunks_fit<TX, TY, CV>(y, x, D) && D / CV <= RLN_THREADS * RNR_NV) { /* D 5120 bf16: 160 threads a row */
        int t = (int)((D / CV + RNR_NV - 1) / RNR_NV);
        t = (t + 31) / 32 * 32;
        rms_norm_rope_kernel<TX, TY, CV, RNR_NV><<<fused_grid(rows), t, 0, s>>>(
            yp, xp, w, wdt, cs, cdt, sn, sdt, rows, L, (int)D, (int)half, eps);
    } else if (chunks_fit<TX, TY, CV>(y, x, D))
        rms_norm_rope_kernel<TX, TY, CV, FUSED_NV><<<fused_grid(rows), fused_threads(D / CV), 0, s>>>(
            yp, xp, w, wdt, cs, cdt, sn, sdt, rows, L, (int)D, (int)half, eps);
    else if (chunks_fit<TX, TY, 2>(y, x, D))
        rms_norm_rope_kernel<TX, TY, 2, FUSED_NV><<<fused_grid(rows), fused_threads(D / 2), 0, s>>>(
            yp, xp, w, wdt, cs, cdt, sn, sdt, rows, L, (int)D, (int)half, eps);
    else
        rms_norm_rope_long_kernel<TX, TY><<<fused_grid(rows), FUSED_MAX_THREADS, 0, s>>>(
            yp, xp, w, wdt, cs, cdt, sn, sdt, rows, L, (int)D, (int)half, eps);
    return launch_status();
}

template <typename TY, typename TH>
static int launch_rln(void *stream, float *x, const void *y, const void *gate, int gdt, void *h, const void *va,
                      int adt, const void *vb, int bdt, int modulate, int64_t rows, int64_t D, float eps) {
    cudaStream_t s = (cudaStream_t)stream;
    const TY *yp = (const TY *)y;
    TH *hp = (TH *)h;
    /* x's chunks are 16 bytes; y's and h's are 4 elements (8 or 16 bytes) */
    const bool fit = chunks_fit<float, TY, 4>(y, x, D) && chunks_fit<float, TH, 4>(h, x, D);
    if (fit && D / 4 <= RLN_THREADS * RLN_NV) { /* Wan's D 1536 and 5120: 48 / 160 threads a row */
        int t = (int)((D / 4 + RLN_NV - 1) / RLN_NV);
        t = (t + 31) / 32 * 32;
        residual_layer_norm_kernel<TY, TH, 4, RLN_NV><<<fused_grid(rows), t, 0, s>>>(
            x, yp, gate, gdt, hp, va, adt, vb, bdt, modulate, rows, (int)D, eps);
    } else if (fit)
        residual_layer_norm_kernel<TY, TH, 4, FUSED_NV><<<fused_grid(rows), fused_threads(D / 4), 0, s>>>(
            x, yp, gate, gdt, hp, va, adt, vb, bdt, modulate, rows, (int)D, eps);
    else
        residual_layer_norm_long_kernel<TY, TH><<<fused_grid(rows), FUSED_MAX_THREADS, 0, s>>>(
            x, yp, gate, gdt, hp, va, adt, vb, bdt, modulate, rows, (int)D, eps);
    return launch_status();
}

/* Calls F<TX, TY>(args...) for the run-time dtypes; cudaErrorInvalidValue for others. */
#define FUSED_DISPATCH_Y(F, TX, ydt, ...)                                              \
    switch (ydt) {                                                                     \
    case KDT_F32: return F<TX, float>(__VA_ARGS__);                                    \
    case KDT_BF16: return F<TX, bf16_t>(__VA_ARGS__);                                  \
    case KDT_F16: return F<TX, f16_t>(__VA_ARGS__);                                    \
    default: return (int)cudaErrorInvalidValue;                                        \
    }
#define FUSED_DISPATCH(F, xdt, ydt, ...)                                               \
    switch (xdt) {                                                                     \
    case KDT_F32: FUSED_DISPATCH_Y(F, float, ydt, __VA_ARGS__)                         \
    case KDT_BF16: FUSED_DISPATCH_Y(F, bf16_t, ydt, __VA_ARGS__)                       \
    case KDT_F16: FUSED_DISPATCH_Y(F, f16_t, ydt, __VA_ARGS__)                         \
    default: return (int)cudaErrorInvalidValue;                                        \
    }

extern "C" int cuda_layer_norm_modulate(void *stream, void *y, int ydt, const void *x, int xdt, const void *shift,
                                        int shdt, const void *scale, int scdt, int64_t rows, int64_t D, float eps) {
    if (rows <= 0 || D <= 0) return 0;
    if (D > INT32_MAX) return (int)cudaErrorInvalidValue;
    FUSED_DISPATCH(launch_lnm, xdt, ydt, stream, y, x, shift, shdt, scale, scdt, rows, D, eps)
}

extern "C" int cuda_rms_norm_rope(void *stream, void *y, int ydt, const void *x, int xdt, const void *w, int wdt,
                                  const void *cos_t, int cdt, const void *sin_t, int sdt, int64_t B, int64_t L,
                                  int64_t H, int64_t d, float eps) {
    int64_t rows = B * L, D = H * d;
    if (rows <= 0 || D <= 0) return 0;
    if (D > INT32_MAX || d % 2) return (int)cudaErrorInvalidValue;
    FUSED_DISPATCH(launch_rnr, xdt, ydt, stream, y, x, w, wdt, cos_t, cdt, sin_t, sdt, rows, L, D, d / 2, eps)
}

extern "C" int cuda_residual_layer_norm(void *stream, float *x, const void *y, int ydt, const void *gate, int gdt,
                                        void *h, int hdt, const void *va, int adt, const void *vb, int bdt,
                                        int modulate, int64_t rows, int64_t D, float eps) {
    if (rows <= 0 || D <= 0) return 0;
    if (D > INT32_MAX || (modulate && (!va || !vb))) return (int)cudaErrorInvalidValue;
    FUSED_DISPATCH(launch_rln, ydt, hdt, stream, x, y, gate, gdt, h, va, adt, vb, bdt, modulate, rows, D, eps)
}
