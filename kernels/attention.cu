/* attention.cu: softmax attention, flash style (online softmax; no Lq x Lk matrix
 * is ever stored).
 *
 * First version, written to be obviously correct; tensor-core (mma.sync) tiles
 * come in the performance round. Layout of the work:
 * - one block per (tile of ATT_QT = 32 queries, head, batch): 4 warps, each owning
 *   ATT_QPW = 8 queries whose running max m, sum l and fp32 output accumulator
 *   live in registers (lane c holds output channels c, c+32, ...: DCH of them);
 * - keys go through shared memory in tiles of 32 (K and V stored as fp32, the K
 *   rows padded to d+1 floats so that lane j reading key j's column is free of
 *   bank conflicts); lane j computes the logit of key j, the warp reduces the
 *   tile's max and sum with shuffles, and each lane accumulates sum_j p_j V[j][c]
 *   for its channels, p_j broadcast by shuffle;
 * - the update is the CPU oracle's: logits s = q.k * scale + bias, keys at or past
 *   nkeys get -inf; m' = max(m, max s); a query whose logits are all -inf so far
 *   gets no weight; corr = exp(m - m'); l = l * corr + sum exp(s - m');
 *   finally out = o / l (0 when l = 0) and lse = m + log(l) (-inf when l = 0).
 */
#include "common.cuh"

#define ATT_WARPS 4
#define ATT_QPW 8
#define ATT_QT (ATT_WARPS * ATT_QPW)
#define ATT_KT 32

template <int DCH>
__global__ void __launch_bounds__(ATT_WARPS * 32) attention_kernel(cuda_attention_args a) {
    extern __shared__ float smem[];
    const int d = (int)a.d, ds = d + 1;
    float *Qs = smem;               /* [ATT_QT][d] */
    float *Ks = Qs + ATT_QT * d;    /* [ATT_KT][d + 1] */
    float *Vs = Ks + ATT_KT * ds;   /* [ATT_KT][d] */
    const int64_t b = blockIdx.z, h = blockIdx.y, i0 = (int64_t)blockIdx.x * ATT_QT;
    const int64_t H = a.H, Lq = a.Lq, Lk = a.Lk;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

    for (int idx = threadIdx.x; idx < ATT_QT * d; idx += blockDim.x) {
        int qi = idx / d, c = idx % d;
        int64_t i = i0 + qi;
        Qs[idx] = i < Lq ? ldf(a.q, a.qdt, ((b * Lq + i) * H + h) * d + c) : 0.0f;
    }

    float o[ATT_QPW][DCH], m[ATT_QPW], l[ATT_QPW];
#pragma unroll
    for (int qq = 0; qq < ATT_QPW; qq++) {
        m[qq] = -INFINITY;
        l[qq] = 0.0f;
#pragma unroll
        for (int t = 0; t < DCH; t++) o[qq][t] = 0.0f;
    }

    for (int64_t j0 = 0; j0 < a.nkeys; j0 += ATT_KT) {
        __syncthreads(); /* the previous tile is consumed (and Q is stored) */
        for (int idx = threadIdx.x; idx < ATT_KT * d; idx += blockDim.x) {
            int kj = idx / d, c = idx % d;
            int64_t j = j0 + kj;
            float kv = 0.0f, vv = 0.0f;
            if (j < a.nkeys) {
                int64_t off = ((b * Lk + j) * H + h) * d + c;
                kv = ldf(a.k, a.kdt, off);
                vv = ldf(a.v, a.vdt, off);
            }
            Ks[kj * ds + c] = kv;
            Vs[kj * d + c] = vv;
        }
        __syncthreads();

        const int64_t j = j0 + lane;
        const bool valid = j < a.nkeys;
#pragma unroll
        for (int qq = 0; qq < ATT_QPW; qq++) {
            const int qi = warp * ATT_QPW + qq;
            const int64_t i = i0 + qi;
            if (i >= Lq) break; /* uniform over the warp */
            const float *qr = Qs + qi * d, *kr = Ks + lane * ds;
            float s = 0.0f;
            for (int c = 0; c < d; c++) s = fmaf(qr[c], kr[c], s);
            s *= a.scale;
            if (valid && a.bias) s += ldf(a.bias, a.bdt, (h * Lq + i) * Lk + j);
            if (!valid) s = -INFINITY;
            const float mnew = fmaxf(m[qq], warp_max(s));
            if (mnew == -INFINITY) continue; /* uniform: every logit so far is -inf */
            const float corr = m[qq] == -INFINITY ? 0.0f : expf(m[qq] - mnew);
            const float p = s == -INFINITY ? 0.0f : expf(s - mnew);
            l[qq] = l[qq] * corr + warp_sum(p);
            m[qq] = mnew;
#pragma unroll
            for (int t = 0; t < DCH; t++) o[qq][t] *= corr;
            for (int kj = 0; kj < ATT_KT; kj++) {
                const float pj = __shfl_sync(FULL_MASK, p, kj); /* 0 for keys past nkeys */
                const float *vr = Vs + kj * d;
#pragma unroll
                for (int t = 0; t < DCH; t++) {
                    const int c = lane + 32 * t;
                    if (c < d) o[qq][t] = fmaf(pj, vr[c], o[qq][t]);
                }
            }
        }
    }

#pragma unroll
    for (int qq = 0; qq < ATT_QPW; qq++) {
        const int64_t i = i0 + warp * ATT_QPW + qq;
        if (i >= Lq) break;
        const float inv = l[qq] > 0.0f ? 1.0f / l[qq] : 0.0f;
        const int64_t base = ((b * Lq + i) * H + h) * d;
#pragma unroll
        for (int t = 0; t < DCH; t++) {
            const int c = lane + 32 * t;
            if (c < d) stf(a.out, a.odt, base + c, o[qq][t] * inv);
        }
        if (a.lse && lane == 0) a.lse[(b * H + h) * Lq + i] = l[qq] > 0.0f ? m[qq] + logf(l[qq]) : -INFINITY;
    }
}

template <int DCH>
static int launch_attention(cudaStream_t stream, const cuda_attention_args *a) {
    size_t smem = sizeof(float) * (size_t)(ATT_QT * a->d + ATT_KT * (a->d + 1) + ATT_KT * a->d);
    if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute(attention_kernel<DCH>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)smem);
        if (e != cudaSuccess) return (int)e;
    }
    dim3 grid((unsigned)((a->Lq + ATT_QT - 1) / ATT_QT), (unsigned)a->H, (unsigned)a->B);
    attention_kernel<DCH><<<grid, ATT_WARPS * 32, smem, stream>>>(*a);
    return launch_status();
}

extern "C" int cuda_attention(void *stream, const cuda_attention_args *a) {
    if (a->d < 1 || a->d > CUDA_ATTENTION_MAX_D || a->H > 65535 || a->B > 65535 ||
        (a->Lq + ATT_QT - 1) / ATT_QT > 0x7FFFFFFF)
        return (int)cudaErrorInvalidValue;
    if (a->Lq <= 0 || a->H <= 0 || a->B <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    if (a->d <= 32) return launch_attention<1>(s, a);
    if (a->d <= 64) return launch_attention<2>(s, a);
    if (a->d <= 128) return launch_attention<4>(s, a);
    return launch_attention<8>(s, a);
}
