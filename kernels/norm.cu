/* norm.cu: LayerNorm and RMSNorm over the last dim, one block per row.
 *
 * Statistics are fp32 and two-pass (mean, then the mean of squared deviations),
 * as torch's biased variance with eps inside the square root; the normalised
 * value is formed in the CPU backend's order ((x - mean) * rstd, then * w, + b).
 * The row is read again from global memory for each pass: simple first; a
 * register-cached single-read version comes with the performance round.
 */
#include "common.cuh"

/* Threads per row: a warp for short rows, more for the model's 1536..5120 dims. */
static int norm_threads(int64_t D) { return D <= 64 ? 32 : (D <= 1024 ? 128 : 256); }

__global__ void layer_norm_kernel(void *y, int ydt, const void *x, int xdt, const void *w, int wdt, const void *b,
                                  int bdt, int64_t rows, int64_t D, float eps) {
    __shared__ float sh[33];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        int64_t base = r * D;
        float s = 0.0f;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += ldf(x, xdt, base + i);
        float mean = block_sum(s, sh) / (float)D;
        float ss = 0.0f;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            float dv = ldf(x, xdt, base + i) - mean;
            ss += dv * dv;
        }
        float var = block_sum(ss, sh) / (float)D;
        float rstd = 1.0f / sqrtf(var + eps);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            float v = (ldf(x, xdt, base + i) - mean) * rstd;
            if (w) v *= ldf(w, wdt, i);
            if (b) v += ldf(b, bdt, i);
            stf(y, ydt, base + i, v);
        }
    }
}

__global__ void rms_norm_kernel(void *y, int ydt, const void *x, int xdt, const void *w, int wdt, int64_t rows,
                                int64_t D, float eps) {
    __shared__ float sh[33];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        int64_t base = r * D;
        float ss = 0.0f;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            float v = ldf(x, xdt, base + i);
            ss += v * v;
        }
        float rs = 1.0f / sqrtf(block_sum(ss, sh) / (float)D + eps);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            float v = ldf(x, xdt, base + i) * rs;
            if (w) v *= ldf(w, wdt, i);
            stf(y, ydt, base + i, v);
        }
    }
}

static unsigned norm_grid(int64_t rows) {
    const int64_t cap = 65535LL * 32;
    return (unsigned)(rows > cap ? cap : rows);
}

extern "C" int cuda_layer_norm(void *stream, void *y, int ydt, const void *x, int xdt, const void *w, int wdt,
                               const void *b, int bdt, int64_t rows, int64_t D, float eps) {
    if (rows <= 0 || D <= 0) return 0;
    layer_norm_kernel<<<norm_grid(rows), norm_threads(D), 0, (cudaStream_t)stream>>>(y, ydt, x, xdt, w, wdt, b, bdt,
                                                                                      rows, D, eps);
    return launch_status();
}

extern "C" int cuda_rms_norm(void *stream, void *y, int ydt, const void *x, int xdt, const void *w, int wdt,
                             int64_t rows, int64_t D, float eps) {
    if (rows <= 0 || D <= 0) return 0;
    rms_norm_kernel<<<norm_grid(rows), norm_threads(D), 0, (cudaStream_t)stream>>>(y, ydt, x, xdt, w, wdt, rows, D,
                                                                                    eps);
    return launch_status();
}
