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
