/* attention_merge.cu: ring attention's online-softmax merge on the GPU, so the
 * partial results of the K/V blocks never leave the device.
 *
 * out f32 [B, L, H, d] and lse f32 [B, H, L] hold the running result; a partial
 * attention part [B, L, H, d] (f32 or bf16) with part_lse f32 [B, H, L] is folded
 * in, in fp32, as the CPU oracle does (backend_cpu.c: cpu_attention_merge):
 *   m = max(a, p), wa = exp(a - m) (0 when a = -inf), wp = exp(p - m), s = wa + wp,
 *   out = out * wa/s + part * wp/s (out ignored when wa = 0), lse = m + log(s).
 * One warp per (row, head): its lanes read the two lse values, walk the d values,
 * and lane 0 writes the new lse only after every lane has read the old one.
 */
#include "common.cuh"

__global__ void attention_merge_kernel(float *out, float *lse, const void *part, int pdt, const float *part_lse,
                                       int64_t L, int64_t H, int64_t d, int64_t pairs) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t w = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5); w < pairs; w += warps) {
        const int64_t h = w % H, r = w / H; /* r = b * L + i */
        const int64_t b = r / L, i = r % L, li = (b * H + h) * L + i;
        const float a = lse[li], p = part_lse[li];
        if (p == -INFINITY) continue; /* the part saw no keys (uniform over the warp) */
        const float m = fmaxf(a, p), wa = a == -INFINITY ? 0.0f : expf(a - m), wp = expf(p - m);
        const float s = wa + wp, ca = wa / s, cp = wp / s;
        float *o = out + w * d;
        const int64_t base = w * d;
        if (wa == 0.0f)
            for (int64_t k = lane; k < d; k += 32) o[k] = ldf(part, pdt, base + k) * cp;
        else
            for (int64_t k = lane; k < d; k += 32) o[k] = o[k] * ca + ldf(part, pdt, base + k) * cp;
        __syncwarp();
        if (lane == 0) lse[li] = m + logf(s);
    }
}

extern "C" int cuda_attention_merge(void *stream, float *out, float *lse, const void *part, int pdt,
                                    const float *part_lse, int64_t B, int64_t L, int64_t H, int64_t d) {
    if (pdt != KDT_F32 && pdt != KDT_BF16) return (int)cudaErrorInvalidValue;
    const int64_t pairs = B * L * H;
    if (pairs <= 0 || d <= 0) return 0;
    const int threads = 256; /* 8 (row, head) pairs per block */
    attention_merge_kernel<<<grid_for(pairs, threads / 32), threads, 0, (cudaStream_t)stream>>>(
        out, lse, part, pdt, part_lse, L, H, d, pairs);
    return launch_status();
}
