/* conv3d.cu: direct 3-D convolution, x [Cin, T, H, W] * w [Cout, Cin, kt, kh, kw]
 * (+ b) -> y [Cout, To, Ho, Wo], with stride and front zero padding per axis.
 *
 * First version, correct by construction: one thread per output position and
 * CONV_COB output channels (fp32 accumulators in registers). Threads of a warp
 * share the channel group, so their weight loads are one broadcast, and their
 * input loads run along W. Padding is never materialised: taps that fall outside
 * the input are skipped. Implicit GEMM on tensor cores comes in the performance
 * round.
 */
#include "common.cuh"

#define CONV_COB 8
#define CONV_THREADS 128

__global__ void __launch_bounds__(CONV_THREADS) conv3d_kernel(cuda_conv3d_args a) {
    const int64_t npos = a.To * a.Ho * a.Wo, co0 = (int64_t)blockIdx.y * CONV_COB;
    const int64_t wstride_co = a.Cin * a.kt * a.kh * a.kw; /* elements per output channel of w */
    for (int64_t pos = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; pos < npos;
         pos += (int64_t)gridDim.x * blockDim.x) {
        const int64_t wo = pos % a.Wo, ho = (pos / a.Wo) % a.Ho, to = pos / (a.Wo * a.Ho);
        const int64_t t0 = to * a.stride[0] - a.pad[0], h0 = ho * a.stride[1] - a.pad[1],
                      w0 = wo * a.stride[2] - a.pad[2];
        float acc[CONV_COB];
        int64_t wbase[CONV_COB];
#pragma unroll
        for (int c = 0; c < CONV_COB; c++) {
            int64_t co = co0 + c < a.Cout ? co0 + c : a.Cout - 1; /* past Cout: computed, never stored */
            acc[c] = 0.0f;
            wbase[c] = co * wstride_co;
        }
        for (int64_t ci = 0; ci < a.Cin; ci++) {
            for (int64_t ta = 0; ta < a.kt; ta++) {
                const int64_t ti = t0 + ta;
                if (ti < 0 || ti >= a.T) continue;
                for (int64_t ha = 0; ha < a.kh; ha++) {
                    const int64_t hi = h0 + ha;
                    if (hi < 0 || hi >= a.H) continue;
                    const int64_t xrow = ((ci * a.T + ti) * a.H + hi) * a.W;
                    const int64_t wrow = ((ci * a.kt + ta) * a.kh + ha) * a.kw;
                    for (int64_t wa = 0; wa < a.kw; wa++) {
                        const int64_t wi = w0 + wa;
                        if (wi < 0 || wi >= a.W) continue;
                        const float xv = ldf(a.x, a.xdt, xrow + wi);
#pragma unroll
                        for (int c = 0; c < CONV_COB; c++)
                            acc[c] = fmaf(xv, ldf(a.w, a.wdt, wbase[c] + wrow + wa), acc[c]);
                    }
                }
            }
        }
#pragma unroll
        for (int c = 0; c < CONV_COB; c++) {
            const int64_t co = co0 + c;
            if (co >= a.Cout) break;
            float v = acc[c];
            if (a.b) v += ldf(a.b, a.bdt, co);
            stf(a.y, a.ydt, co * npos + pos, v);
        }
    }
}

extern "C" int cuda_conv3d(void *stream, const cuda_conv3d_args *a) {
    const int64_t npos = a->To * a->Ho * a->Wo, groups = (a->Cout + CONV_COB - 1) / CONV_COB;
    if (npos <= 0 || a->Cout <= 0) return 0;
    if (groups > 65535) return (int)cudaErrorInvalidValue;
    dim3 grid(grid_for(npos, CONV_THREADS), (unsigned)groups);
    conv3d_kernel<<<grid, CONV_THREADS, 0, (cudaStream_t)stream>>>(*a);
    return launch_status();
}

/* ---- im2col + GEMM path: the column matrix for a range of output positions */

__global__ void im2col3d_kernel(void *col, int coldt, cuda_conv3d_args a, int64_t p0, int64_t np, int64_t K) {
    const int64_t total = K * np, HWo = a.Ho * a.Wo, khw = a.kh * a.kw, kthw = a.kt * khw;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        int64_t k = idx / np, pl = idx - k * np, p = p0 + pl;
        int64_t to = p / HWo, r = p - to * HWo, ho = r / a.Wo, wo = r - ho * a.Wo;
        int64_t ci = k / kthw, kr = k - ci * kthw, dt = kr / khw, kr2 = kr - dt * khw, dh = kr2 / a.kw,
                dw = kr2 - dh * a.kw;
        int64_t ti = to * a.stride[0] - a.pad[0] + dt, hi = ho * a.stride[1] - a.pad[1] + dh,
                wi = wo * a.stride[2] - a.pad[2] + dw;
        float v = 0.0f;
        if (ti >= 0 && ti < a.T && hi >= 0 && hi < a.H && wi >= 0 && wi < a.W)
            v = ldf(a.x, a.xdt, ((ci * a.T + ti) * a.H + hi) * a.W + wi);
        stf(col, coldt, idx, v);
    }
}

extern "C" int cuda_im2col3d(void *stream, void *col, int coldt, const cuda_conv3d_args *a, int64_t p0, int64_t np) {
    int64_t K = a->Cin * a->kt * a->kh * a->kw, n = K * np;
    if (n <= 0) return 0;
    int64_t blocks = (n + 255) / 256;
    if (blocks > 65535 * 8) blocks = 65535 * 8;
    im2col3d_kernel<<<(unsigned)blocks, 256, 0, (cudaStream_t)stream>>>(col, coldt, *a, p0, np, K);
    return (int)cudaGetLastError();
}

/* ---- tap-GEMM path (stride 1): padded input, per-tap weights, cropped output.
 * Each kernel walks rows (blocks) and the contiguous last axis (threads), so the
 * only index divisions are per row. */

#define ROW_THREADS 256
static unsigned row_grid(int64_t rows) { return (unsigned)(rows < (1 << 20) ? rows : (1 << 20)); }

__global__ void __launch_bounds__(ROW_THREADS) conv3d_pad_kernel(void *xq, int xqdt, const void *x, int xdt,
                                                                  int64_t T, int64_t H, int64_t W, int pt, int ph,
                                                                  int pw, int64_t kw, int64_t tp0, int64_t Tc,
                                                                  int64_t Hp, int64_t Wp, int64_t rows) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) { /* r = ((c * kw + sh) * Tc + t) * Hp + h */
        const int64_t cs = r / (Tc * Hp), th = r - cs * Tc * Hp, c = cs / kw, sh = cs - c * kw;
        const int64_t t = tp0 + th / Hp - pt, h = th % Hp - ph;
        const bool in = t >= 0 && t < T && h >= 0 && h < H;
        const int64_t src = ((c * T + t) * H + h) * W;
        for (int64_t j = threadIdx.x; j < Wp; j += blockDim.x) {
            const int64_t wi = j + sh - pw;
            stf(xq, xqdt, r * Wp + j, in && wi >= 0 && wi < W ? ldf(x, xdt, src + wi) : 0.0f);
        }
    }
}

extern "C" int cuda_conv3d_pad(void *stream, void *xq, int xqdt, const void *x, int xdt, int64_t Cin, int64_t T,
                               int64_t H, int64_t W, const int pf[3], int64_t kw, int64_t tp0, int64_t Tc, int64_t Hp,
                               int64_t Wp) {
    const int64_t rows = Cin * kw * Tc * Hp;
    if (rows <= 0 || Wp <= 0) return 0;
    conv3d_pad_kernel<<<row_grid(rows), ROW_THREADS, 0, (cudaStream_t)stream>>>(xq, xqdt, x, xdt, T, H, W, pf[0],
                                                                                  pf[1], pf[2], kw, tp0, Tc, Hp, Wp,
                                                                                  rows);
    return (int)cudaGetLastError();
}

__global__ void conv3d_tap_weights_kernel(void *wt, int wtdt, const void *w, int wdt, int64_t Cout, int64_t Cin,
                                          int64_t kt, int64_t kh, int64_t kw) {
    const int64_t n = Cout * Cin * kt * kh * kw, K = Cin * kw;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i; /* i walks w [co][ci][dt][dh][dw] */
        const int64_t dw = r % kw; r /= kw;
        const int64_t dh = r % kh; r /= kh;
        const int64_t dt = r % kt; r /= kt;
        const int64_t ci = r % Cin, co = r / Cin;
        stf(wt, wtdt, ((dt * kh + dh) * Cout + co) * K + ci * kw + dw, ldf(w, wdt, i));
    }
}

extern "C" int cuda_conv3d_tap_weights(void *stream, void *wt, int wtdt, const void *w, int wdt, int64_t Cout,
                                       int64_t Cin, int64_t kt, int64_t kh, int64_t kw) {
    const int64_t n = Cout * Cin * kt * kh * kw;
    if (n <= 0) return 0;
    int64_t blocks = (n + 255) / 256;
    if (blocks > 65535 * 8) blocks = 65535 * 8;
    conv3d_tap_weights_kernel<<<(unsigned)blocks, 256, 0, (cudaStream_t)stream>>>(wt, wtdt, w, wdt, Cout, Cin, kt,
                                                                                   kh, kw);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(ROW_THREADS) conv3d_crop_kernel(void *y, int ydt, const float *yp, const void *b,
                                                                   int bdt, int64_t Cout, int64_t To, int64_t Ho,
                                                                   int64_t Wo, int64_t t0, int64_t Tc, int64_t Nc,
                                                                   int64_t Sp, int64_t Wp) {
    const int64_t rows = Cout * Tc * Ho;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const int64_t co = r / (Tc * Ho), th = r - co * Tc * Ho, tt = th / Ho, ho = th - tt * Ho;
        const float bias = b ? ldf(b, bdt, co) : 0.0f;
        const float *src = yp + co * Nc + tt * Sp + ho * Wp;
        const int64_t dst = ((co * To + t0 + tt) * Ho + ho) * Wo;
        for (int64_t j = threadIdx.x; j < Wo; j += blockDim.x) stf(y, ydt, dst + j, src[j] + bias);
    }
}

extern "C" int cuda_conv3d_crop(void *stream, void *y, int ydt, const float *yp, const void *b, int bdt, int64_t Cout,
                                int64_t To, int64_t Ho, int64_t Wo, int64_t t0, int64_t Tc, int64_t Nc, int64_t Sp,
                                int64_t Wp) {
    const int64_t rows = Cout * Tc * Ho;
    if (rows <= 0 || Wo <= 0) return 0;
    conv3d_crop_kernel<<<row_grid(rows), ROW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, yp, b, bdt, Cout, To, Ho, Wo,
                                                                                  t0, Tc, Nc, Sp, Wp);
    return (int)cudaGetLastError();
}

__global__ void add_row_bias_kernel(void *y, int ydt, const void *b, int bdt, int64_t C, int64_t N) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < C * N; i += (int64_t)gridDim.x * blockDim.x)
        stf(y, ydt, i, ldf(y, ydt, i) + ldf(b, bdt, i / N));
}

extern "C" int cuda_add_row_bias(void *stream, void *y, int ydt, const void *b, int bdt, int64_t C, int64_t N) {
    if (C * N <= 0) return 0;
    int64_t blocks = (C * N + 255) / 256;
    if (blocks > 65535 * 8) blocks = 65535 * 8;
    add_row_bias_kernel<<<(unsigned)blocks, 256, 0, (cudaStream_t)stream>>>(y, ydt, b, bdt, C, N);
    return (int)cudaGetLastError();
}
