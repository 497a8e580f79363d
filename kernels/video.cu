/* video.cu: the Wan VAE's channel-first ops (RMS norm over channels, per-channel
 * affine), nearest 2x upsampling and clamp. x is [C, N] for the channel ops (dim 0
 * the channels, N = every other dim flattened). One thread per output element (per
 * position for the norm, whose channels are N apart: adjacent threads read adjacent
 * positions, so each channel step is one coalesced load). Order of the arithmetic
 * as the CPU backend's. First versions: simple and correct.
 */
#include "common.cuh"
#include "rl_random.h"

#define VID_THREADS 256

/* y[c,p] = x[c,p] / max(||x[:,p]||, eps) * sqrt(C) * gamma[c]; may run in place. */
__global__ void rms_norm_channels_kernel(void *y, int ydt, const void *x, int xdt, const void *g, int gdt, int64_t C,
                                         int64_t N, float eps, float root_c) {
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < N; p += (int64_t)gridDim.x * blockDim.x) {
        float ss = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            float v = ldf(x, xdt, c * N + p);
            ss = fmaf(v, v, ss);
        }
        float nrm = sqrtf(ss), inv = nrm > eps ? nrm : eps;
        for (int64_t c = 0; c < C; c++) {
            float v = ldf(x, xdt, c * N + p) / inv * root_c;
            if (g) v *= ldf(g, gdt, c);
            stf(y, ydt, c * N + p, v);
        }
    }
}

__global__ void channel_affine_kernel(void *y, int ydt, const void *x, int xdt, const void *s, int sdt, const void *b,
                                      int bdt, int64_t C, int64_t N) {
    int64_t n = C * N;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i / N;
        float v = ldf(x, xdt, i) * ldf(s, sdt, c);
        if (b) v += ldf(b, bdt, c);
        stf(y, ydt, i, v);
    }
}

/* x [P, H, W] -> y [P, 2H, 2W]; not in place. */
__global__ void upsample_nearest2x_kernel(void *y, int ydt, const void *x, int xdt, int64_t P, int64_t H, int64_t W) {
    int64_t n = P * 4 * H * W;
    for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < n; o += (int64_t)gridDim.x * blockDim.x) {
        int64_t w2 = o % (2 * W), h2 = (o / (2 * W)) % (2 * H), pl = o / (4 * H * W);
        stf(y, ydt, o, ldf(x, xdt, (pl * H + h2 / 2) * W + w2 / 2));
    }
}

__global__ void clamp_kernel(void *y, int ydt, const void *x, int xdt, float lo, float hi, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = ldf(x, xdt, i);
        stf(y, ydt, i, v < lo ? lo : (v > hi ? hi : v)); /* NaN fails both tests and passes through */
    }
}

extern "C" int cuda_rms_norm_channels(void *stream, void *y, int ydt, const void *x, int xdt, const void *gamma,
                                      int gdt, int64_t C, int64_t N, float eps) {
    if (C <= 0 || N <= 0) return 0;
    rms_norm_channels_kernel<<<grid_for(N, VID_THREADS), VID_THREADS, 0, (cudaStream_t)stream>>>(
        y, ydt, x, xdt, gamma, gdt, C, N, eps, (float)sqrt((double)C));
    return launch_status();
}

extern "C" int cuda_channel_affine(void *stream, void *y, int ydt, const void *x, int xdt, const void *scale, int sdt,
                                   const void *shift, int bdt, int64_t C, int64_t N) {
    if (C <= 0 || N <= 0) return 0;
    channel_affine_kernel<<<grid_for(C * N, VID_THREADS), VID_THREADS, 0, (cudaStream_t)stream>>>(
        y, ydt, x, xdt, scale, sdt, shift, bdt, C, N);
    return launch_status();
}

extern "C" int cuda_upsample_nearest2x(void *stream, void *y, int ydt, const void *x, int xdt, int64_t P, int64_t H,
                                       int64_t W) {
    if (P <= 0 || H <= 0 || W <= 0) return 0;
    upsample_nearest2x_kernel<<<grid_for(P * 4 * H * W, VID_THREADS), VID_THREADS, 0, (cudaStream_t)stream>>>(
        y, ydt, x, xdt, P, H, W);
    return launch_status();
}

extern "C" int cuda_clamp(void *stream, void *y, int ydt, const void *x, int xdt, float lo, float hi, int64_t n) {
    if (n <= 0) return 0;
    clamp_kernel<<<grid_for(n, VID_THREADS), VID_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, x, xdt, lo, hi, n);
    return launch_status();
}

/* ---- random fill (benchmark weights) */

__global__ void fill_normal_kernel(void *y, int ydt, uint64_t seed, float mean, float std, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        stf(y, ydt, i, mean + std * rl_normal_at(seed, (uint64_t)i));
}

extern "C" int cuda_fill_normal(void *stream, void *y, int ydt, uint64_t seed, float mean, float std, int64_t n) {
    if (n <= 0) return 0;
    fill_normal_kernel<<<grid_for(n, VID_THREADS), VID_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, seed, mean, std, n);
    return launch_status();
}
