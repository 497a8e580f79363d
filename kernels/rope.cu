/* rope.cu: rotary embedding on interleaved pairs (x[2j], x[2j+1]) of each head,
 * with angles given as cos/sin tables [L, d/2] shared by every batch and head.
 * Arithmetic in double, as the CPU backend. One thread per pair; it reads both
 * elements before writing, so y may be x.
 */
#include "common.cuh"

__global__ void rope_kernel(void *y, int ydt, const void *x, int xdt, const void *cos_t, int cdt, const void *sin_t,
                            int sdt, int64_t L, int64_t H, int64_t half, int64_t npairs) {
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < npairs;
         p += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = p % half, row = p / (half * H); /* row = b * L + l */
        int64_t t = (row % L) * half + j;
        float c = ldf(cos_t, cdt, t), s = ldf(sin_t, sdt, t);
        /* double, as the CPU oracle (and the reference's complex128 product): the
         * products are exact, so the result is one rounding of the exact value. */
        double x0 = ldf(x, xdt, 2 * p), x1 = ldf(x, xdt, 2 * p + 1);
        stf(y, ydt, 2 * p, (float)(x0 * c - x1 * s));
        stf(y, ydt, 2 * p + 1, (float)(x0 * s + x1 * c));
    }
}

extern "C" int cuda_rope(void *stream, void *y, int ydt, const void *x, int xdt, const void *cos_t, int cdt,
                         const void *sin_t, int sdt, int64_t B, int64_t L, int64_t H, int64_t d) {
    int64_t half = d / 2, npairs = B * L * H * half;
    if (npairs <= 0) return 0;
    rope_kernel<<<grid_for(npairs, 256), 256, 0, (cudaStream_t)stream>>>(y, ydt, x, xdt, cos_t, cdt, sin_t, sdt, L, H,
                                                                          half, npairs);
    return launch_status();
}
