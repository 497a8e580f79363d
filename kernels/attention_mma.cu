/* attention_mma.cu: FlashAttention-2 style forward attention on tensor cores for
 * bf16 q/k/v with head dim 64 or 128 (no bias), plus the row softmax of the GEMM
 * path that takes head dims above 256 (backend_cuda_attention.c runs its GEMMs).
 *
 * The mma kernel, per block: one tile of BM = 16 * MT * WARPS queries of one
 * (head, batch); each warp owns 16 * MT query rows. Keys go by tiles of BN rows:
 * - shared memory holds Q [BM][D] and two buffers each of K [BN][D] and V [BN][D]
 *   (bf16); tile t + 1 is fetched with 16-byte cp.async while tile t is computed.
 *   Rows are stored with an XOR swizzle of their 16-byte chunks (chunk ^ (row & 7)),
 *   so the 8 row addresses of every ldmatrix phase fall in 8 distinct bank groups;
 * - S = Q K^T with mma.sync m16n8k16 (bf16 in, fp32 accumulate): Q fragments by
 *   ldmatrix (kept in registers when they fit), K fragments by ldmatrix (K rows
 *   are the "col" B operand as stored);
 * - online softmax in fp32 registers in base 2: p = 2^(s * scale * log2e - m'),
 *   the row max m over raw logits (scale > 0, the host checks), reduced over the
 *   4 lanes that share a row; the thread keeps a partial row sum l, reduced at the
 *   end; keys >= nkeys get -inf (only the last tile has any);
 * - O += P V with P converted in registers from the S accumulators to bf16 A
 *   fragments (the C and A fragment layouts line up), V by ldmatrix.trans;
 * - out = O / l (0 when l = 0), lse = m * scale + log(l) (-inf when l = 0).
 * Rows past Lq and keys past nkeys are zero-filled by cp.async (src-size 0), so
 * nothing outside the tensors is read and masked V rows are 0, never NaN.
 * Fragment layouts (PTX ISA, mma.m16n8k16, g = lane / 4, t = lane % 4):
 *   A: a0 (g, 2t..2t+1) a1 (g+8, 2t..) a2 (g, 2t+8..) a3 (g+8, 2t+8..)
 *   B: b0 (k 2t..2t+1, n g) b1 (k 2t+8.., n g); C: c0,c1 (g, 2t..) c2,c3 (g+8, 2t..)
 */
#include "common.cuh"

/* ---------------------------------------------------------------- PTX wrappers */

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* 16 bytes global -> shared; valid = false writes 16 zero bytes and reads nothing. */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, bool valid) {
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* c += a b for one 16x8x16 tile. */
__device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Two floats -> bf16x2 (round to nearest even), lo in the low half. */
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

/* 2^x, approximate (rel. error ~2^-22, ample before a bf16 P); 2^-inf = 0. */
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* ---------------------------------------------------------------- the mma kernel */

template <int D, int MT, int BN, int WARPS> struct mma_cfg {
    static constexpr int CH = D / 8;             /* 16-byte chunks per row */
    static constexpr int BM = 16 * MT * WARPS;   /* queries per block */
    static constexpr int NT = 32 * WARPS;        /* threads */
    static constexpr int NB = BN / 8;            /* n8 tiles of S per row block */
    static constexpr int ND = D / 8;             /* n8 tiles of O */
    static constexpr int KD = D / 16;            /* k16 steps of Q K^T */
    static constexpr bool QREG = MT * D <= 128;  /* Q fragments stay in registers (<= 32 of them) */
    static constexpr size_t SMEM = sizeof(uint16_t) * (size_t)(BM + 4 * BN) * D + 1024; /* + alignment slack */
    static constexpr uint32_t ROWB = 2 * D; /* bytes per tile row */
};

/* Element offset of (row, 16-byte chunk) in a swizzled [rows][D] bf16 tile. */
template <int D> __device__ __forceinline__ int swz(int row, int chunk) {
    return row * D + ((chunk ^ (row & 7)) << 3);
}

/* rows [row0, row0 + R) of one head (global rows `stride` elements apart) into a
 * swizzled tile; rows >= limit are zero-filled. Thread x copies chunk x % CH of
 * rows x / CH + k * RS: one pointer and one shared address stepped per pass (RS is
 * a multiple of 8, so a row's swizzle is the same in every pass). */
template <int D, int R, int NT>
__device__ __forceinline__ void load_tile(uint32_t tile, const uint16_t *head, int64_t stride, int64_t row0,
                                          int64_t limit) {
    constexpr int CH = D / 8, RS = NT / CH;
    static_assert(NT % CH == 0 && RS % 8 == 0 && R % RS == 0, "tile rows must split evenly over the threads");
    const int r0 = threadIdx.x / CH, c = threadIdx.x % CH;
    const uint16_t *src = head + (row0 + r0) * stride + c * 8;
    const uint32_t dst = tile + 2u * (uint32_t)swz<D>(r0, c);
#pragma unroll
    for (int k = 0; k < R / RS; k++) {
        const bool valid = row0 + r0 + k * RS < limit;
        cp_async16(dst + (uint32_t)(k * RS * D * 2), valid ? src : head, valid);
        src += RS * stride;
    }
}

template <int D, int MT, int BN, int WARPS>
__global__ void __launch_bounds__(32 * WARPS, WARPS == 4 ? 2 : 1) attention_mma_kernel(cuda_attention_args a) {
    using C = mma_cfg<D, MT, BN, WARPS>;
    extern __shared__ __align__(128) uint16_t att_smem[];
    /* Tiles start 1024-byte aligned, so a row's chunk bits are free and a swizzled
     * fragment address is one lane address XOR (16-byte chunk pair index << 5). */
    const uint32_t Qs = (smem_addr(att_smem) + 1023u) & ~1023u;
    const uint32_t Ks = Qs + C::BM * C::ROWB, Vs = Ks + 2 * BN * C::ROWB; /* K, V: 2 buffers each */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t4 = lane & 3;
    const int64_t b = blockIdx.z, h = blockIdx.y, i0 = (int64_t)blockIdx.x * C::BM;
    const int64_t H = a.H, Lq = a.Lq, Lk = a.Lk, nk = a.nkeys, stride = H * D;
    const uint16_t *qh = (const uint16_t *)a.q + ((b * Lq) * H + h) * D;
    const uint16_t *kh = (const uint16_t *)a.k + ((b * Lk) * H + h) * D;
    const uint16_t *vh = (const uint16_t *)a.v + ((b * Lk) * H + h) * D;
    const int ntiles = (int)((nk + BN - 1) / BN);

    load_tile<D, C::BM, C::NT>(Qs, qh, stride, i0, Lq);
    if (ntiles > 0) {
        load_tile<D, BN, C::NT>(Ks, kh, stride, 0, nk);
        load_tile<D, BN, C::NT>(Vs, vh, stride, 0, nk);
    }
    cp_async_commit();

    const float sl2 = a.scale * 1.4426950408889634f; /* logits to base 2 */
    float o[MT][C::ND][4], m[MT][2], l[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int r = 0; r < 2; r++) m[mt][r] = -INFINITY, l[mt][r] = 0.0f;
#pragma unroll
        for (int j = 0; j < C::ND; j++) o[mt][j][0] = o[mt][j][1] = o[mt][j][2] = o[mt][j][3] = 0.0f;
    }
    const int wrow = warp * 16 * MT; /* the warp's first row in the Q tile */
    /* Per-lane ldmatrix row addresses (chunk pair 0); row & 7 = lane & 7 in all three. */
    const uint32_t qlane = Qs + (wrow + (lane & 15)) * C::ROWB + (((lane >> 4) ^ (lane & 7)) << 4);
    const uint32_t klane = Ks + ((lane & 7) + ((lane >> 4) << 3)) * C::ROWB + ((((lane >> 3) & 1) ^ (lane & 7)) << 4);
    const uint32_t vlane = Vs + ((lane & 7) + (((lane >> 3) & 1) << 3)) * C::ROWB + (((lane >> 4) ^ (lane & 7)) << 4);
    uint32_t qf[C::QREG ? C::KD : 1][MT][4];

    for (int tile = 0; tile < ntiles; tile++) {
        const int buf = tile & 1;
        const int64_t j0 = (int64_t)tile * BN;
        if (tile + 1 < ntiles) { /* the other buffer was released by the last __syncthreads */
            load_tile<D, BN, C::NT>(Ks + (buf ^ 1) * BN * C::ROWB, kh, stride, j0 + BN, nk);
            load_tile<D, BN, C::NT>(Vs + (buf ^ 1) * BN * C::ROWB, vh, stride, j0 + BN, nk);
        }
        cp_async_commit(); /* possibly empty: keeps the group count uniform */
        cp_async_wait<1>(); /* this thread's copies of tile `tile` (and Q) landed */
        __syncthreads();    /* ... and everyone else's */
        const uint32_t kt = klane + buf * BN * C::ROWB, vt = vlane + buf * BN * C::ROWB;
        if (C::QREG && tile == 0) {
#pragma unroll
            for (int kk = 0; kk < (C::QREG ? C::KD : 1); kk++)
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
                    ldmatrix_x4(qf[kk][mt], (qlane + mt * 16 * C::ROWB) ^ (kk << 5));
        }

        /* S = Q K^T for the warp's rows and the tile's BN keys */
        float s[MT][C::NB][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int j = 0; j < C::NB; j++) s[mt][j][0] = s[mt][j][1] = s[mt][j][2] = s[mt][j][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < C::KD; kk++) {
            uint32_t qa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                if constexpr (C::QREG) {
#pragma unroll
                    for (int e = 0; e < 4; e++) qa[mt][e] = qf[C::QREG ? kk : 0][mt][e];
                } else {
                    ldmatrix_x4(qa[mt], (qlane + mt * 16 * C::ROWB) ^ (kk << 5));
                }
            }
#pragma unroll
            for (int nb = 0; nb < BN / 16; nb++) {
                uint32_t kb[4]; /* b0, b1 of keys nb*16 + [0, 8), then of nb*16 + [8, 16) */
                ldmatrix_x4(kb, (kt + nb * 16 * C::ROWB) ^ (kk << 5));
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_bf16(s[mt][2 * nb], qa[mt], kb[0], kb[1]);
                    mma_bf16(s[mt][2 * nb + 1], qa[mt], kb[2], kb[3]);
                }
            }
        }

        if (j0 + BN > nk) { /* the tail tile: keys >= nkeys take no part */
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int j = 0; j < C::NB; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        if (j0 + j * 8 + 2 * t4 + (e & 1) >= nk) s[mt][j][e] = -INFINITY;
        }

        /* online softmax: row r of m-tile mt is g (r = 0) or g + 8 (r = 1) */
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                float mx = -INFINITY;
#pragma unroll
                for (int j = 0; j < C::NB; j++) mx = fmaxf(mx, fmaxf(s[mt][j][2 * r], s[mt][j][2 * r + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, 2));
                const float mnew = fmaxf(m[mt][r], mx);
                const float muse = mnew == -INFINITY ? 0.0f : mnew; /* every logit so far masked */
                const float corr = fast_exp2((m[mt][r] - muse) * sl2);
                const float mb = muse * sl2;
                m[mt][r] = mnew;
                float sum = 0.0f;
#pragma unroll
                for (int j = 0; j < C::NB; j++)
#pragma unroll
                    for (int e = 0; e < 2; e++) {
                        const float p = fast_exp2(fmaf(s[mt][j][2 * r + e], sl2, -mb));
                        s[mt][j][2 * r + e] = p;
                        sum += p;
                    }
                l[mt][r] = l[mt][r] * corr + sum;
#pragma unroll
                for (int j = 0; j < C::ND; j++) o[mt][j][2 * r] *= corr, o[mt][j][2 * r + 1] *= corr;
            }

        /* O += P V: the k16 step kk covers S's n8 tiles 2kk and 2kk+1 */
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
            uint32_t pa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                pa[mt][0] = pack_bf16x2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                pa[mt][1] = pack_bf16x2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                pa[mt][2] = pack_bf16x2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                pa[mt][3] = pack_bf16x2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
            }
#pragma unroll
            for (int db = 0; db < D / 16; db++) {
                uint32_t vb[4]; /* b0, b1 of channels db*16 + [0, 8), then of db*16 + [8, 16) */
                ldmatrix_x4_trans(vb, (vt + kk * 16 * C::ROWB) ^ (db << 5));
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_bf16(o[mt][2 * db], pa[mt], vb[0], vb[1]);
                    mma_bf16(o[mt][2 * db + 1], pa[mt], vb[2], vb[3]);
                }
            }
        }
        __syncthreads(); /* every warp is done with this buffer before it is refilled */
    }
    cp_async_wait<0>();

    /* out = O / l, lse = m * scale + log(l) */
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float lt = l[mt][r];
            lt += __shfl_xor_sync(FULL_MASK, lt, 1);
            lt += __shfl_xor_sync(FULL_MASK, lt, 2);
            const int64_t i = i0 + wrow + mt * 16 + g + 8 * r;
            if (i >= Lq) continue;
            const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
            const int64_t base = ((b * Lq + i) * H + h) * D + 2 * t4;
#pragma unroll
            for (int j = 0; j < C::ND; j++) {
                const float x0 = o[mt][j][2 * r] * inv, x1 = o[mt][j][2 * r + 1] * inv;
                if (a.odt == KDT_BF16) {
                    const uint32_t w = (uint32_t)f32_to_bf16(x0) | ((uint32_t)f32_to_bf16(x1) << 16);
                    *(uint32_t *)((uint16_t *)a.out + base + j * 8) = w;
                } else {
                    *(float2 *)((float *)a.out + base + j * 8) = make_float2(x0, x1);
                }
            }
            if (a.lse && t4 == 0) a.lse[(b * H + h) * Lq + i] = lt > 0.0f ? m[mt][r] * a.scale + logf(lt) : -INFINITY;
        }
}

/* ---------------------------------------------------------------- mma launcher */

/* The configurations, by head dim; a d's first entry is its default (variant 0 or
 * 1). Registers per thread from ptxas (sm_80 / sm_90; CUDA 13.0):
 *   d128 q128 k32 w4: 240 / 240, no spill      d128 q64 k64 w4: 202 / 198
 *   d128 q128 k64 w4: 255, 8 / 72 bytes spilled d128 q128 k64 w8 (1 row tile/warp): 202 / 198
 *   d64 q128 k64 w4: 241 / 237                 d64 q64 k64 w4: 143 / 142
 *   d64 q128 k128 w8: 199 / 206                d64 q128 k128 w4: 255, 80 / 72 bytes spilled
 * Two m16 row tiles per warp (q128 with 4 warps) reuse each K/V fragment twice,
 * halving shared-memory reads per mma. Measured on an H100 (test_gpu_attention,
 * [1, L, 40, 128] bf16): q128 k64 w4 343 / 351 TFLOP/s at L 14040 / 32760, q128 k32
 * w4 335 / 341, q64 k64 w4 318 / 295, q128 k64 w8 285 / 312; d64 (L 14040, 12 heads):
 * q128 k64 w4 336, q128 k128 w4 313, q64 k64 w4 268, q128 k128 w8 265. The fastest
 * is each d's default. */
typedef struct {
    int d, mt, bn, warps;
} mma_variant;
static const mma_variant mma_variants[] = {
    {128, 2, 64, 4}, {128, 1, 64, 4}, {128, 2, 32, 4}, {128, 1, 64, 8},
    {64, 2, 64, 4},  {64, 1, 64, 4},  {64, 1, 128, 8}, {64, 2, 128, 4},
};
#define MMA_NVARIANTS ((int)(sizeof mma_variants / sizeof mma_variants[0]))

static const mma_variant *mma_find(int64_t d, int variant) { return variant_of_dim(mma_variants, MMA_NVARIANTS, d, variant); }

extern "C" int cuda_attention_mma_config(int64_t d, int variant, int *block_q, int *block_k, int *warps) {
    const mma_variant *v = mma_find(d, variant);
    if (!v) return -1;
    *block_q = 16 * v->mt * v->warps, *block_k = v->bn, *warps = v->warps;
    return 0;
}

template <int D, int MT, int BN, int WARPS> static int launch_mma(cudaStream_t stream, const cuda_attention_args *a) {
    using C = mma_cfg<D, MT, BN, WARPS>;
    auto kern = attention_mma_kernel<D, MT, BN, WARPS>;
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM);
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)((a->Lq + C::BM - 1) / C::BM), (unsigned)a->H, (unsigned)a->B);
    kern<<<grid, C::NT, C::SMEM, stream>>>(*a);
    return launch_status();
}

extern "C" int cuda_attention_mma(void *stream, const cuda_attention_args *a, int variant) {
    const mma_variant *v = mma_find(a->d, variant);
    if (!v || !tc_attention_args_ok(a, 16)) return (int)cudaErrorInvalidValue;
    if (a->Lq <= 0 || a->H <= 0 || a->B <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
#define MMA_CASE(D_, MT_, BN_, W_) \
    if (v->d == D_ && v->mt == MT_ && v->bn == BN_ && v->warps == W_) return launch_mma<D_, MT_, BN_, W_>(s, a)
    MMA_CASE(128, 2, 64, 4);
    MMA_CASE(128, 1, 64, 4);
    MMA_CASE(128, 1, 64, 8);
    MMA_CASE(128, 2, 32, 4);
    MMA_CASE(64, 2, 64, 4);
    MMA_CASE(64, 2, 128, 4);
    MMA_CASE(64, 1, 64, 4);
    MMA_CASE(64, 1, 128, 8);
#undef MMA_CASE
    return (int)cudaErrorInvalidValue; /* a table entry without a case: a bug */
}

/* ---------------------------------------------------------------- GEMM path: row softmax */

#define SOFTMAX_THREADS 256

/* One block per row of S (rows = H * nq, row r = head r / nq, query q0 + r % nq):
 * s = S[r][j] (+ bias[h][q0 + r % nq][j]), p = exp(s - max) / sum written to P (f32
 * in place over S, or bf16), lse = max + log(sum); a row with every logit -inf gets
 * p = 0 and lse = -inf, as the CPU oracle. */
__global__ void __launch_bounds__(SOFTMAX_THREADS) attention_softmax_kernel(cuda_attention_softmax_args a) {
    __shared__ float red[33];
    const int64_t r = blockIdx.x, hh = r / a.nq, qi = a.q0 + r % a.nq;
    float *srow = a.S + r * a.n;
    const bool has_bias = a.bias != NULL;
    const int64_t boff = (hh * a.Lq + qi) * a.bias_ld;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < a.n; j += blockDim.x) {
        float s = srow[j];
        if (has_bias) s += ldf(a.bias, a.bdt, boff + j), srow[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = warp_max(mx);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) mx = fmaxf(mx, red[w]);
    float sum = 0.0f;
    if (mx != -INFINITY)
        for (int64_t j = threadIdx.x; j < a.n; j += blockDim.x) sum += expf(srow[j] - mx);
    sum = block_sum(sum, red);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t j = threadIdx.x; j < a.n; j += blockDim.x) {
        const float p = mx == -INFINITY ? 0.0f : expf(srow[j] - mx) * inv;
        if (a.pdt == KDT_BF16) ((uint16_t *)a.P)[r * a.n + j] = f32_to_bf16(p);
        else ((float *)a.P)[r * a.n + j] = p;
    }
    if (a.lse && threadIdx.x == 0) a.lse[hh * a.Lq + qi] = sum > 0.0f ? mx + logf(sum) : -INFINITY;
}

extern "C" int cuda_attention_softmax(void *stream, const cuda_attention_softmax_args *a) {
    const int64_t rows = a->H * a->nq;
    if (rows <= 0) return 0;
    if (rows > 0x7FFFFFFF || a->nq <= 0) return (int)cudaErrorInvalidValue;
    attention_softmax_kernel<<<(unsigned)rows, SOFTMAX_THREADS, 0, (cudaStream_t)stream>>>(*a);
    return launch_status();
}
