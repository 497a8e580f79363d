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
