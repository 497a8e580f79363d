/* attention_wgmma.cu: FlashAttention forward for Hopper (sm_90a) on warpgroup MMA
 * (wgmma), for bf16 q/k/v with head dim 64 or 128, no bias, out bf16 or f32 and an
 * optional fp32 lse; the semantics of attention_mma.cu (keys >= nkeys masked, a row
 * with no key gets out 0 and lse -inf, P rounded to bf16 before P V).
 * Two kernels share the per-warpgroup steps: the one described here, where every
 * thread loads tiles, and the warp-specialised one further down (a TMA producer
 * warpgroup, mbarriers, consumer ping-pong), which is the default.
 *
 * Per CTA: BM = 64 * NWG queries of one (head, batch), NWG warpgroups (128 threads
 * each, warps 4w..4w+3), warpgroup w owning query rows 64w..64w+63. Keys go by tiles
 * of BN. All threads load tiles with 16-byte cp.async (rows past Lq / nkeys are
 * zero-filled, nothing outside the tensors is read); no warp specialisation. Per
 * key tile j each warpgroup:
 *   S_j = Q K_j^T      wgmma m64nBNk16, A = Q and B = K from shared memory, D/16 steps
 *   O  += P_{j-1} V_{j-1}  wgmma m64nDk16, A = P from registers, B = V (MN-major)
 * issued back to back, so the tensor cores run P V of the last tile while the
 * warpgroup does the online softmax of S_j (FlashAttention-3's intra-warpgroup
 * overlap); then it waits for P V, rescales O and converts S_j to the next P.
 * Buffers: Q once; K and V two each. Iteration j reads K_j and V_{j-1}; after its
 * barrier (every warpgroup done with iteration j-1) and the issue of S_j the CTA
 * fetches K_{j+1} and V_j into the buffers iteration j-1 read; they land during
 * iteration j. One __syncthreads per key tile.
 * Softmax as attention_mma.cu: base 2, row max over raw logits (scale > 0), the
 * row's 4 lanes reduced by shuffles, l kept per thread and reduced at the end.
 *
 * ---- Shared-memory layout (all tiles 1024-byte aligned)
 * A tile of R rows x D bf16 columns is stored as D/64 "halves", half c holding
 * columns 64c..64c+63: byte offset of (row r, column 64c + 8u + e), u the 16-byte
 * chunk in the 128-byte half-row and e < 8,
 *     c * (R * 128) + r * 128 + ((u ^ (r & 7)) * 16) + 2e.
 * This is the canonical 128-byte-swizzle layout (CUTLASS's Swizzle<3,4,3>, the PTX
 * ISA's "128B swizzling mode"): within each 1024-byte block of 8 rows, address bits
 * 4-6 (the chunk) are XORed with bits 7-9 (the row in the block). The hardware
 * applies that XOR itself to the addresses it generates, so the descriptors below
 * describe the unswizzled layout.
 *   Q [BM][D] and K [BN][D]: K-major operands (the reduction dim D contiguous).
 *   V [BN][D]: for O = P V the reduction dim is the keys, so V as stored is
 *   MN-major (N = D contiguous): the transposed B operand (imm-trans-b = 1).
 *
 * ---- wgmma matrix descriptors (PTX ISA "Matrix Descriptor Format"; CUTLASS
 * GmmaDescriptor), a 64-bit value:
 *   bits  0-13  start address >> 4 (shared-window byte address)
 *   bits 16-29  leading dimension byte offset (LBO) >> 4
 *   bits 32-45  stride dimension byte offset (SBO) >> 4
 *   bits 49-51  base offset: 0, every pattern starts 1024-byte aligned (the start
 *               addresses below add at most 96 to a 1024-aligned block, leaving
 *               address bits 7-9 zero)
 *   bits 62-63  swizzle mode: 1 = 128-byte swizzle
 * K-major (Q as A, K as B), in 16-byte units the canonical ((8, n), 2) : ((8, SBO), 1)
 * (8 rows 128 B apart, groups of 8 rows SBO apart, the k16 step's two 16-byte units
 * contiguous):
 *   SBO = 1024 B: from 8 rows (M or N) to the next 8 rows.
 *   LBO = 16 B (field 1): unused when the swizzle width covers the instruction's K
 *   extent (k16 bf16 = 32 B of a 128-B row), 1 by convention (as CUTLASS sets it).
 *   k16 step kk (columns 16kk..16kk+15) = half kk / 4, bytes 32 * (kk % 4) into the
 *   half-row: start = tile + (kk / 4) * R * 128 + (kk % 4) * 32 (+ 64 * 128 * w for
 *   warpgroup w's Q rows). Advancing the start by 32 B inside the swizzle atom is
 *   how CUTLASS and DeepGEMM step K: the XOR is applied after the offset is added.
 * MN-major (V as B), in 16-byte units the canonical ((8, n), (8, k)) : ((1, LBO), (8, SBO))
 * (64 contiguous channels, blocks of 64 channels LBO apart; 8 keys 128 B apart,
 * groups of 8 keys SBO apart):
 *   LBO = BN * 128 B: from channels 64c.. to 64(c+1).. (the next half); only used
 *   when D = 128 (N = 128 spans two halves).
 *   SBO = 1024 B: from 8 keys (K rows) to the next 8 keys.
 *   k16 step kv (keys 16kv..16kv+15): start = tile + kv * 16 * 128.
 * Descriptors are built once from the tile base and stepped by adding (offset >> 4)
 * to the 64-bit value: every start address is below 256 KB, so the 14-bit field
 * never carries into bit 14.
 *
 * ---- Register fragments (PTX ISA "Register Fragments" for wgmma .m64nNk16;
 * CUTLASS CLayout_64xN and ALayout_64x16, which is CLayout_64x16), warp q of the
 * warpgroup, g = lane / 4, t = lane % 4:
 *   accumulator d[4j + 2r + e] (j < N/8, r, e < 2) = (row 16q + g + 8r, col 8j + 2t + e)
 *   A register a[i] (i < 4) holds the bf16 pair (row 16q + g + 8 (i & 1),
 *   cols 8 (i >> 1) + 2t, +1), low half first.
 * So for P V step kv (keys 16kv..16kv+15 of the tile):
 *   a[i] = bf16x2(s[8kv + 2i], s[8kv + 2i + 1]) (the mma.sync kernel's conversion).
 *
 * ---- Async rules kept here: cp.async writes land in the generic proxy and wgmma
 * reads shared memory through the async proxy, so each thread runs
 * fence.proxy.async.shared::cta after its cp.async.wait_group and before the
 * barrier; wgmma.fence before the first wgmma of a batch (it orders our register
 * writes of S, O and P before the tensor cores use them); accumulators and P are not
 * touched between issue and the wgmma.wait_group that covers them (empty asm
 * "fences" on the registers after each wait keep the compiler from moving reads or
 * reusing the registers earlier). ptxas hoists a wgmma wait above arithmetic that
 * does not depend on it, which would put the wait for P V before the softmax and
 * undo the overlap; a shared-memory store of a dummy word (wg_anchor) right before
 * the wait keeps it after the softmax (checked in the SASS: WARPGROUP.DEPBAR.LE
 * gsb0, 0x1 ... the MUFU.EX2s ... STS ... WARPGROUP.DEPBAR.LE gsb0, 0x0).
 *
 * Built for sm_90a only (the Makefile gives this file sm_80 and sm_90a images and
 * no sm_90 one, so an H100 cannot pick a wgmma-less image); elsewhere the kernel is
 * a trap and the launcher refuses devices other than compute capability 9.0.
 */
#include "common.cuh"

#include <cudaTypedefs.h> /* CUtensorMap and the cuTensorMapEncodeTiled signature */
#include <climits>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_ARCH_OK 1 /* compiling the sm_90a image: wgmma is available */
#endif

template <int D, int BN, int NWG> struct wg_cfg {
    static constexpr int BM = 64 * NWG;                      /* queries per CTA */
    static constexpr int NT = 128 * NWG;                     /* threads */
    static constexpr uint32_t QBYTES = (uint32_t)BM * D * 2; /* the Q tile */
    static constexpr uint32_t TBYTES = (uint32_t)BN * D * 2; /* one K or V tile */
    static constexpr size_t SMEM = QBYTES + 4 * (size_t)TBYTES + 16 + 1024; /* + scratch word, alignment slack */
    static constexpr int SN = BN / 2;                        /* S accumulators per thread */
    static constexpr int ON = D / 2;                         /* O accumulators per thread */
    static constexpr int KQ = D / 16;                        /* k16 steps of Q K^T */
    static constexpr int KV = BN / 16;                       /* k16 steps of P V */
    static_assert(D == 64 || D == 128, "head dim 64 or 128");
    static_assert(BN == 64 || BN == 128, "key tile 64 or 128 (the wgmma wrappers below)");
};

#ifdef WG_ARCH_OK
/* ---------------------------------------------------------------- PTX wrappers */

__device__ __forceinline__ uint32_t wg_saddr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* 16 bytes global -> shared; valid = false writes 16 zero bytes and reads nothing. */
__device__ __forceinline__ void wg_cp16(uint32_t dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0) : "memory");
}
__device__ __forceinline__ void wg_cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
/* This thread's copies have landed and are ordered before later async-proxy (wgmma)
 * reads of shared memory; a barrier must follow before other threads rely on it. */
__device__ __forceinline__ void wg_cp_wait_all() {
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* A shared-memory store (of a dummy word) that ptxas does not move the following
 * wgmma wait above: without it the scheduler hoists the wait for P V over the whole
 * softmax (a wait has no register inputs), which serialises them again. */
__device__ __forceinline__ void wg_anchor(uint32_t scratch, float v) {
    asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(scratch), "f"(v) : "memory");
}
/* Pins a register's value at this point of the program (after a wait). */
__device__ __forceinline__ void wg_pin(float &x) { asm volatile("" : "+f"(x)::"memory"); }
__device__ __forceinline__ void wg_pin(uint32_t &x) { asm volatile("" : "+r"(x)::"memory"); }

/* The descriptor of a 128-byte-swizzled operand at shared address addr (see the
 * header): LBO and SBO in bytes. */
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFFu) << 16) |
           ((uint64_t)((sbo >> 4) & 0x3FFFu) << 32) | (1ull << 62);
}

__device__ __forceinline__ uint32_t wg_pack_bf16x2(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
/* 2^x, approximate (rel. error ~2^-22); 2^-inf = 0. */
__device__ __forceinline__ float wg_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* wgmma.mma_async, m64nNk16, bf16 in, fp32 accumulators; acc = 0 overwrites d.
 * wg_mma_ss: A and B by descriptor, both K-major (imm-trans 0, 0).
 * wg_mma_rs: A in registers, B by descriptor, MN-major (imm-trans-b 1). */
/* d[32] (+)= A (shared, K-major) B (shared, K-major): m64n64k16. */
__device__ __forceinline__ void wg_mma_ss(float (&d)[32], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
                 "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 :
                 "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                 "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                 "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(acc));
}

/* d[32] (+)= A (registers, bf16 pairs) B (shared, MN-major): m64n64k16. */
__device__ __forceinline__ void wg_mma_rs(float (&d)[32], const uint32_t (&a)[4], uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
                 "}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                 :
                 "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                 "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                 "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}

/* d[64] (+)= A (shared, K-major) B (shared, K-major): m64n128k16. */
__device__ __forceinline__ void wg_mma_ss(float (&d)[64], uint64_t da, uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
                 "{"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
                 "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 :
                 "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                 "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                 "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                 "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                 "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                 "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                 "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(acc));
}

/* d[64] (+)= A (registers, bf16 pairs) B (shared, MN-major): m64n128k16. */
__device__ __forceinline__ void wg_mma_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db, int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
                 "{"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
                 "}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                 :
                 "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                 "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                 "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
                 "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
                 "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                 "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
                 "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}

/* ---------------------------------------------------------------- tiles */

/* Rows [row0, row0 + R) of one head (global rows `stride` elements apart) into the
 * swizzled half layout at `tile`; rows >= limit are zero-filled. Thread x copies
 * 16-byte chunk x % (D/8) of rows x / (D/8) + k * RS: RS is a multiple of 8, so a
 * thread's swizzle is the same in every pass; a row's D/8 chunks are 16 neighbouring
 * threads' (coalesced), each half-row's 8 chunks land in 8 distinct bank groups. */
template <int D, int R, int NT>
__device__ __forceinline__ void wg_load_tile(uint32_t tile, const uint16_t *head, int64_t stride, int64_t row0,
                                             int64_t limit) {
    constexpr int CH = D / 8, RS = NT / CH, PASSES = (R + RS - 1) / RS;
    static_assert(NT % CH == 0 && RS % 8 == 0, "tile rows must split evenly over the threads");
    const int r0 = threadIdx.x / CH, c16 = threadIdx.x % CH, half = c16 >> 3, u = c16 & 7;
    const uint32_t dst = tile + (uint32_t)(half * R * 128 + r0 * 128 + ((u ^ (r0 & 7)) << 4));
#pragma unroll
    for (int k = 0; k < PASSES; k++) {
        const int r = r0 + k * RS;
        if (R % RS != 0 && r >= R) break;
        const bool valid = row0 + r < limit;
        const uint16_t *src = valid ? head + (row0 + r) * stride + c16 * 8 : head;
        wg_cp16(dst + (uint32_t)(k * RS * 128), src, valid);
    }
}

/* ---------------------------------------------------------------- per-warpgroup steps */

/* Issue S = Q K^T (D/16 wgmmas; the first overwrites S). */
template <int D, int BN, int NWG>
__device__ __forceinline__ void wg_issue_s(float (&s)[BN / 2], uint64_t qd, uint64_t kd) {
    using C = wg_cfg<D, BN, NWG>;
#pragma unroll
    for (int kk = 0; kk < C::KQ; kk++) {
        const uint32_t qo = (uint32_t)((kk >> 2) * C::BM * 128 + (kk & 3) * 32);
        const uint32_t ko = (uint32_t)((kk >> 2) * BN * 128 + (kk & 3) * 32);
        wg_mma_ss(s, qd + (qo >> 4), kd + (ko >> 4), kk > 0);
    }
}

/* Issue O += P V (BN/16 wgmmas). */
template <int D, int BN>
__device__ __forceinline__ void wg_issue_pv(float (&o)[D / 2], const uint32_t (&p)[BN / 16][4], uint64_t vd) {
#pragma unroll
    for (int kv = 0; kv < BN / 16; kv++) wg_mma_rs(o, p[kv], vd + (uint64_t)((kv * 16 * 128) >> 4), 1);
}

/* Online softmax of one S tile (keys j0..j0+BN-1) in place: keys >= nk get -inf,
 * s becomes p = 2^(s*sl2 - m'), m and l are updated, corr gets the factor O must be
 * scaled by. Row r of this thread is g + 8r of its warp's 16. */
template <int SN>
__device__ __forceinline__ void wg_softmax(float (&s)[SN], float (&m)[2], float (&l)[2], float (&corr)[2],
                                           int64_t j0, int64_t nk, float sl2, int t4) {
    if (j0 + 2 * SN > nk) { /* the tail tile: keys >= nkeys take no part */
#pragma unroll
        for (int j = 0; j < SN / 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                if (j0 + j * 8 + 2 * t4 + (e & 1) >= nk) s[4 * j + e] = -INFINITY;
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < SN / 4; j++) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, 2));
        const float mnew = fmaxf(m[r], mx);
        const float muse = mnew == -INFINITY ? 0.0f : mnew; /* every logit so far masked */
        corr[r] = wg_exp2((m[r] - muse) * sl2);
        const float mb = muse * sl2;
        m[r] = mnew;
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < SN / 4; j++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const float p = wg_exp2(fmaf(s[4 * j + 2 * r + e], sl2, -mb));
                s[4 * j + 2 * r + e] = p;
                sum += p;
            }
        l[r] = l[r] * corr[r] + sum;
    }
}

/* O *= corr per row (O not in flight). */
template <int ON> __device__ __forceinline__ void wg_rescale(float (&o)[ON], const float (&corr)[2]) {
#pragma unroll
    for (int j = 0; j < ON / 4; j++) {
        o[4 * j] *= corr[0], o[4 * j + 1] *= corr[0];
        o[4 * j + 2] *= corr[1], o[4 * j + 3] *= corr[1];
    }
}

/* P = bf16(S) as A fragments (the P V that read the old P has completed). */
template <int BN>
__device__ __forceinline__ void wg_pack(uint32_t (&p)[BN / 16][4], const float (&s)[BN / 2]) {
#pragma unroll
    for (int kv = 0; kv < BN / 16; kv++)
#pragma unroll
        for (int i = 0; i < 4; i++) p[kv][i] = wg_pack_bf16x2(s[8 * kv + 2 * i], s[8 * kv + 2 * i + 1]);
}

template <int N> __device__ __forceinline__ void wg_pin_all(float (&x)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) wg_pin(x[i]);
}
template <int N> __device__ __forceinline__ void wg_pin_all(uint32_t (&x)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) wg_pin(x[i][e]);
}

/* ---- for the warp-specialised kernel: mbarriers, TMA, register reallocation,
 * named barriers (PTX ISA: mbarrier, cp.async.bulk.tensor, setmaxnreg, bar). */
__device__ __forceinline__ void mb_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
/* The producer's arrival, announcing `bytes` of TMA writes the phase also waits for. */
__device__ __forceinline__ void mb_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mb_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* Spins until the phase of parity `parity` has completed (a fresh barrier is in
 * phase 0, so waiting for parity 1 passes at once). The labels are local to the
 * braces, so the wrapper can be inlined many times. */
__device__ __forceinline__ void mb_wait(uint32_t bar, uint32_t parity) {
    asm volatile("{\n.reg .pred done;\nMB_WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra MB_WAIT;\n}\n" ::"r"(bar),
                 "r"(parity)
                 : "memory");
}
/* Box (c0.., c1.., c2, c3) of a 4-D tensor map into shared memory at dst (1024-byte
 * aligned for the 128-byte swizzle); completion counts bytes on mbarrier bar. */
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const CUtensorMap *map, uint32_t bar, int c0, int c1,
                                            int c2, int c3) {
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
                 "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
                 : "memory");
}
template <int N> __device__ __forceinline__ void regs_shrink() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N> __device__ __forceinline__ void regs_grow() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
/* Named barriers 1 and 2 (0 is __syncthreads): `n` threads in all, some arriving
 * (not waiting) and the rest waiting. */
__device__ __forceinline__ void nb_sync(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
__device__ __forceinline__ void nb_arrive(int id, int n) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
#endif /* WG_ARCH_OK */

/* ---------------------------------------------------------------- the kernel */

template <int D, int BN, int NWG>
__global__ void __launch_bounds__(128 * NWG, 1) attention_wgmma_kernel(cuda_attention_args a) {
#ifdef WG_ARCH_OK
    using C = wg_cfg<D, BN, NWG>;
    extern __shared__ __align__(1024) uint8_t wg_smem[];
    const uint32_t Qs = (wg_saddr(wg_smem) + 1023u) & ~1023u;
    const uint32_t Ks = Qs + C::QBYTES, Vs = Ks + 2 * C::TBYTES; /* K, V: 2 buffers each */
    const uint32_t scratch = Vs + 2 * C::TBYTES;                 /* wg_anchor's word */
    const int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
    const int g = lane >> 2, t4 = lane & 3;
    const int64_t b = blockIdx.z, h = blockIdx.y, i0 = (int64_t)blockIdx.x * C::BM;
    const int64_t H = a.H, Lq = a.Lq, Lk = a.Lk, nk = a.nkeys, stride = H * D;
    const uint16_t *qh = (const uint16_t *)a.q + ((b * Lq) * H + h) * D;
    const uint16_t *kh = (const uint16_t *)a.k + ((b * Lk) * H + h) * D;
    const uint16_t *vh = (const uint16_t *)a.v + ((b * Lk) * H + h) * D;
    const int ntiles = (int)((nk + BN - 1) / BN);
    /* descriptors of buffer 0 (see the header for the values) */
    const uint64_t qd = wg_desc(Qs + (uint32_t)wg * 64 * 128, 16, 1024);
    const uint64_t kd = wg_desc(Ks, 16, 1024);
    const uint64_t vd = wg_desc(Vs, BN * 128, 1024);
    constexpr uint64_t TSTEP = C::TBYTES >> 4; /* descriptor step to the other buffer */

    wg_load_tile<D, C::BM, C::NT>(Qs, qh, stride, i0, Lq);
    if (ntiles > 0) wg_load_tile<D, BN, C::NT>(Ks, kh, stride, 0, nk);
    wg_cp_commit();

    const float sl2 = a.scale * 1.4426950408889634f; /* logits to base 2 */
    float o[C::ON], s[C::SN], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, corr[2];
    uint32_t p[C::KV][4];
#pragma unroll
    for (int i = 0; i < C::ON; i++) o[i] = 0.0f;

    /* Top of iteration j: K_j and V_{j-1} landed (fetched in iteration j-1) and every
     * warpgroup is done with iteration j-1's buffers ... */
    auto tile_ready = [&]() {
        wg_cp_wait_all();
        __syncthreads();
    };
    /* ... so K_{j+1} and V_j go into the buffers iteration j-1 read (K_{j-1}, V_{j-2});
     * issued after S_j, so the copies' address arithmetic runs under the wgmma. */
    auto fetch = [&](int j) {
        if (j + 1 < ntiles)
            wg_load_tile<D, BN, C::NT>(Ks + ((j + 1) & 1) * C::TBYTES, kh, stride, (int64_t)(j + 1) * BN, nk);
        if (j < ntiles) wg_load_tile<D, BN, C::NT>(Vs + (j & 1) * C::TBYTES, vh, stride, (int64_t)j * BN, nk);
        wg_cp_commit();
    };

    if (ntiles > 0) { /* tile 0: S only */
        tile_ready();
        wg_fence();
        wg_issue_s<D, BN, NWG>(s, qd, kd);
        wg_commit();
        fetch(0);
        wg_wait<0>();
        wg_pin_all(s);
        wg_softmax(s, m, l, corr, 0, nk, sl2, t4); /* corr = 0 scales the zero O: no-op */
        wg_pack<BN>(p, s);
    }
    for (int j = 1; j < ntiles; j++) {
        tile_ready();
        wg_fence();
        wg_issue_s<D, BN, NWG>(s, qd, kd + (j & 1) * TSTEP);
        wg_commit();
        fetch(j);
        wg_rescale(o, corr); /* by tile j-1's max, while S_j runs */
        wg_fence();          /* orders those writes of O before the wgmmas below */
        wg_issue_pv<D, BN>(o, p, vd + ((j - 1) & 1) * TSTEP);
        wg_commit();
        wg_wait<1>(); /* S_j done; P_{j-1} V_{j-1} may still run */
        wg_pin_all(s);
        wg_softmax(s, m, l, corr, (int64_t)j * BN, nk, sl2, t4);
        wg_pin_all(s); /* the softmax is done before the wait, not moved after it */
        wg_anchor(scratch, l[1]);
        wg_wait<0>();
        wg_pin_all(o);
        wg_pin_all(p);
        wg_pack<BN>(p, s);
    }
    if (ntiles > 0) { /* the last P V */
        tile_ready();
        wg_rescale(o, corr);
        wg_fence();
        wg_issue_pv<D, BN>(o, p, vd + ((ntiles - 1) & 1) * TSTEP);
        wg_commit();
        wg_wait<0>();
        wg_pin_all(o);
        wg_pin_all(p);
    } else {
        wg_cp_wait_all();
    }

    /* out = O / l, lse = m * scale + log(l) */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float lt = l[r];
        lt += __shfl_xor_sync(FULL_MASK, lt, 1);
        lt += __shfl_xor_sync(FULL_MASK, lt, 2);
        const int64_t i = i0 + wg * 64 + warp * 16 + g + 8 * r;
        if (i >= Lq) continue;
        const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
        const int64_t base = ((b * Lq + i) * H + h) * D + 2 * t4;
#pragma unroll
        for (int j = 0; j < D / 8; j++) {
            const float x0 = o[4 * j + 2 * r] * inv, x1 = o[4 * j + 2 * r + 1] * inv;
            if (a.odt == KDT_BF16) {
                const uint32_t w = (uint32_t)f32_to_bf16(x0) | ((uint32_t)f32_to_bf16(x1) << 16);
                *(uint32_t *)((uint16_t *)a.out + base + j * 8) = w;
            } else {
                *(float2 *)((float *)a.out + base + j * 8) = make_float2(x0, x1);
            }
        }
        if (a.lse && t4 == 0) a.lse[(b * H + h) * Lq + i] = lt > 0.0f ? m[r] * a.scale + logf(lt) : -INFINITY;
    }
#else
    __trap(); /* not the sm_90a image: the launcher refuses such devices, so never reached */
#endif
}

/* ---------------------------------------------------------------- the warp-specialised kernel
 *
 * FlashAttention-3's structure on the same per-warpgroup steps: 3 warpgroups per
 * CTA. Warpgroup 0 is the producer: after shrinking its registers to 24 (setmaxnreg;
 * the consumers grow to 240), one thread loads Q once and then K_j, V_j through TMA
 * (cp.async.bulk.tensor, 128-byte swizzle: the tile layout of the header) into a
 * ring of ST stages, each stage a "full" mbarrier (the TMA bytes landed) and an
 * "empty" one (every consumer warp is done reading it). Warpgroups 1 and 2 are the
 * consumers, 64 query rows each (BM = 128), running the loop of the kernel above (S_j
 * and P_{j-1} V_{j-1} issued back to back, the softmax of S_j under P V) without a
 * CTA-wide barrier. With PP ("ping-pong") the two consumers take turns issuing their
 * wgmmas through named barriers 1 and 2, so one's softmax runs while the other's
 * matrix products fill the tensor cores. Tensor maps are 4-D (d, row, head, batch)
 * over q, k, v; rows past Lq (q) or nkeys (k, v) are outside the map, so TMA fills
 * them with zeros and reads nothing beyond the tensors.
 * Turn accounting: consumer c waits on barrier 1 + c before each of its ntiles + 1
 * issue phases and arrives on the other's barrier after it; consumer 1 arrives once
 * up front (consumer 0 goes first) and skips its last arrival, so every barrier
 * sees as many arrivals as waits. */
template <int D, int BN, int NST> struct ws_cfg {
    static constexpr int ST = NST;                           /* ring stages of K and of V */
    static constexpr int BM = 128;                           /* 2 consumer warpgroups x 64 rows */
    static constexpr uint32_t QBYTES = (uint32_t)BM * D * 2;
    static constexpr uint32_t TBYTES = (uint32_t)BN * D * 2;
    static constexpr uint32_t BARS = QBYTES + 2 * ST * TBYTES;  /* mbarriers after the tiles */
    static constexpr size_t SMEM = BARS + 8 * (1 + 4 * ST) + 16 + 1024;
};

template <int D, int BN, bool PP, int NST>
__global__ void __launch_bounds__(384, 1)
    attention_wgmma_ws_kernel(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
                              const __grid_constant__ CUtensorMap tv, cuda_attention_args a) {
#ifdef WG_ARCH_OK
    using C = wg_cfg<D, BN, 2>; /* the consumers' step sizes (BM 128) */
    using W = ws_cfg<D, BN, NST>;
    constexpr int ST = W::ST;
    extern __shared__ __align__(1024) uint8_t wg_smem[];
    const uint32_t Qs = (wg_saddr(wg_smem) + 1023u) & ~1023u;
    const uint32_t Ks = Qs + W::QBYTES, Vs = Ks + ST * W::TBYTES;
    const uint32_t q_full = Qs + W::BARS, k_full = q_full + 8, k_empty = k_full + 8 * ST, v_full = k_empty + 8 * ST,
                   v_empty = v_full + 8 * ST, scratch = v_empty + 8 * ST;
    const int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
    const int64_t b = blockIdx.z, h = blockIdx.y, i0 = (int64_t)blockIdx.x * W::BM;
    const int64_t nk = a.nkeys;
    const int ntiles = (int)((nk + BN - 1) / BN);
    if (threadIdx.x == 0) {
        mb_init(q_full, 1);
        for (int s = 0; s < ST; s++) {
            mb_init(k_full + 8 * s, 1), mb_init(v_full + 8 * s, 1); /* the producer's expect_tx */
            mb_init(k_empty + 8 * s, 8), mb_init(v_empty + 8 * s, 8); /* one arrival per consumer warp */
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) { /* the producer */
        regs_shrink<24>();
        if (threadIdx.x == 0) {
            mb_expect_tx(q_full, W::QBYTES);
#pragma unroll
            for (int c = 0; c < D / 64; c++)
                tma_load_4d(Qs + c * W::BM * 128, &tq, q_full, 64 * c, (int)i0, (int)h, (int)b);
            for (int j = 0; j < ntiles; j++) {
                const int s = j % ST;
                const uint32_t ph = (uint32_t)(j / ST) & 1;
                mb_wait(k_empty + 8 * s, ph ^ 1);
                mb_expect_tx(k_full + 8 * s, W::TBYTES);
#pragma unroll
                for (int c = 0; c < D / 64; c++)
                    tma_load_4d(Ks + s * W::TBYTES + c * BN * 128, &tk, k_full + 8 * s, 64 * c, j * BN, (int)h, (int)b);
                mb_wait(v_empty + 8 * s, ph ^ 1);
                mb_expect_tx(v_full + 8 * s, W::TBYTES);
#pragma unroll
                for (int c = 0; c < D / 64; c++)
                    tma_load_4d(Vs + s * W::TBYTES + c * BN * 128, &tv, v_full + 8 * s, 64 * c, j * BN, (int)h, (int)b);
            }
        }
        return;
    }

    regs_grow<240>();
    const int cw = wg - 1; /* consumer 0 or 1: query rows 64 cw .. 64 cw + 63 */
    const int g = lane >> 2, t4 = lane & 3;
    const uint64_t qd = wg_desc(Qs + (uint32_t)cw * 64 * 128, 16, 1024);
    const uint64_t kd = wg_desc(Ks, 16, 1024);
    const uint64_t vd = wg_desc(Vs, BN * 128, 1024);
    constexpr uint64_t TSTEP = W::TBYTES >> 4;
    const float sl2 = a.scale * 1.4426950408889634f;
    float o[C::ON], s[C::SN], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, corr[2];
    uint32_t p[C::KV][4];
#pragma unroll
    for (int i = 0; i < C::ON; i++) o[i] = 0.0f;
    auto my_turn = [&]() {
        if (PP) nb_sync(1 + cw, 256);
    };
    auto your_turn = [&]() {
        if (PP) nb_arrive(2 - cw, 256);
    };
    auto release = [&](uint32_t bar) {
        if (lane == 0) mb_arrive(bar);
    };

    if (PP && cw == 1 && ntiles > 0) nb_arrive(1, 256); /* consumer 0 goes first */
    mb_wait(q_full, 0);
    if (ntiles > 0) { /* tile 0: S only */
        mb_wait(k_full, 0);
        my_turn();
        wg_fence();
        wg_issue_s<D, BN, 2>(s, qd, kd);
        wg_commit();
        your_turn();
        wg_wait<0>();
        wg_pin_all(s);
        release(k_empty);
        wg_softmax(s, m, l, corr, 0, nk, sl2, t4);
        wg_pack<BN>(p, s);
    }
    for (int j = 1; j < ntiles; j++) {
        const int sk = j % ST, sv = (j - 1) % ST;
        wg_rescale(o, corr); /* by tile j-1's max; O is not in flight */
        mb_wait(k_full + 8 * sk, (uint32_t)(j / ST) & 1);
        my_turn();
        wg_fence();
        wg_issue_s<D, BN, 2>(s, qd, kd + sk * TSTEP);
        wg_commit();
        mb_wait(v_full + 8 * sv, (uint32_t)((j - 1) / ST) & 1);
        wg_fence(); /* the rescale above may be scheduled down to here */
        wg_issue_pv<D, BN>(o, p, vd + sv * TSTEP);
        wg_commit();
        your_turn();
        wg_wait<1>(); /* S_j done; P_{j-1} V_{j-1} may still run */
        wg_pin_all(s);
        release(k_empty + 8 * sk);
        wg_softmax(s, m, l, corr, (int64_t)j * BN, nk, sl2, t4);
        wg_pin_all(s);
        wg_anchor(scratch + 4 * cw, l[1]);
        wg_wait<0>();
        wg_pin_all(o);
        wg_pin_all(p);
        release(v_empty + 8 * sv);
        wg_pack<BN>(p, s);
    }
    if (ntiles > 0) { /* the last P V */
        const int sv = (ntiles - 1) % ST;
        wg_rescale(o, corr);
        mb_wait(v_full + 8 * sv, (uint32_t)((ntiles - 1) / ST) & 1);
        my_turn();
        wg_fence();
        wg_issue_pv<D, BN>(o, p, vd + sv * TSTEP);
        wg_commit();
        if (cw == 0) your_turn(); /* consumer 1's last arrival would find no waiter */
        wg_wait<0>();
        wg_pin_all(o);
        wg_pin_all(p);
    }

    /* out = O / l, lse = m * scale + log(l) */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float lt = l[r];
        lt += __shfl_xor_sync(FULL_MASK, lt, 1);
        lt += __shfl_xor_sync(FULL_MASK, lt, 2);
        const int64_t i = i0 + cw * 64 + warp * 16 + g + 8 * r;
        if (i >= a.Lq) continue;
        const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
        const int64_t base = ((b * a.Lq + i) * a.H + h) * D + 2 * t4;
#pragma unroll
        for (int j = 0; j < D / 8; j++) {
            const float x0 = o[4 * j + 2 * r] * inv, x1 = o[4 * j + 2 * r + 1] * inv;
            if (a.odt == KDT_BF16) {
                const uint32_t w = (uint32_t)f32_to_bf16(x0) | ((uint32_t)f32_to_bf16(x1) << 16);
                *(uint32_t *)((uint16_t *)a.out + base + j * 8) = w;
            } else {
                *(float2 *)((float *)a.out + base + j * 8) = make_float2(x0, x1);
            }
        }
        if (a.lse && t4 == 0) a.lse[(b * a.H + h) * a.Lq + i] = lt > 0.0f ? m[r] * a.scale + logf(lt) : -INFINITY;
    }
#else
    __trap();
#endif
}

/* ---------------------------------------------------------------- launcher */

/* The configurations, by head dim; a d's first entry is its default (variant 0 or
 * 1). Registers per thread (ptxas, CUDA 13.0, sm_90a; no spills) and dynamic shared
 * memory, all at one CTA per SM:
 *   warp-specialised d128 q128 k128: producer 24 regs, consumers up to 240 (168 at
 *   launch, setmaxnreg), 161 KB with 2 stages, 225 KB with 3; d64 q128 k128: 81 KB
 *   d128 q128 k128 wg2: 246 regs, 161 KB    d128 q128 k64 wg2: 168 regs, 97 KB
 *   d128 q192 k64 wg3:  150 regs, 113 KB    d64 q128 k128 wg2: 182 regs, 81 KB
 *   d64 q192 k128 wg3:  157 regs, 89 KB
 * Timed on an H100 (raylight-gen bench attention, bf16 [40 heads, L 14040 / 32760,
 * 128], TFLOP/s): warp-specialised with ping-pong, 3 stages 671 / 629, 2 stages 660 /
 * 622; without ping-pong, 2 stages 681 / 636, 3 stages 679 / 628: the same within
 * noise. In Wan 14B's forward at 832x480x33 the first is the fastest (827.2 ms
 * against 832.2 and 835.1), so it is the default. Through test_gpu_attention (each
 * call synchronised; [L 14040 / 32760, 40] and [32760, 12]): ping-pong 2 stages
 * 572 / 607 / 595, without 545 / 615 / 609; q192 k64 wg3 426 / 446 / 426; q128 k128 wg2 432 / 433 / 422; q128 k64 wg2 383 /
 * 380 / 376. d64 [14040, 12]: warp-specialised ping-pong 437, q192 k128 wg3 294, q128
 * k128 wg2 293 (the mma kernel: 347 / 324 / 328 and 338). */
typedef struct {
    int d, bn, nwg;
    int ws; /* 0: the kernel above; 1: warp-specialised (nwg = its 2 consumers); 2: that with ping-pong */
    int st; /* warp-specialised: ring stages */
} wg_variant;
static const wg_variant wg_variants[] = {
    {128, 128, 2, 2, 3}, {128, 128, 2, 1, 2}, {128, 128, 2, 2, 2}, {128, 64, 3, 0, 0}, {128, 128, 2, 0, 0},
    {128, 64, 2, 0, 0},  {64, 128, 2, 2, 2},  {64, 128, 3, 0, 0},  {64, 128, 2, 0, 0},
};
#define WG_NVARIANTS ((int)(sizeof wg_variants / sizeof wg_variants[0]))

static const wg_variant *wg_find(int64_t d, int variant) { return variant_of_dim(wg_variants, WG_NVARIANTS, d, variant); }

extern "C" int cuda_attention_wgmma_config(int64_t d, int variant, int *block_q, int *block_k, int *warpgroups,
                                           int *specialised, int *stages) {
    const wg_variant *v = wg_find(d, variant);
    if (!v) return -1;
    *block_q = 64 * v->nwg, *block_k = v->bn, *warpgroups = v->nwg + (v->ws ? 1 : 0);
    if (specialised) *specialised = v->ws;
    if (stages) *stages = v->st;
    return 0;
}

template <int D, int BN, int NWG> static int launch_wgmma(cudaStream_t stream, const cuda_attention_args *a) {
    using C = wg_cfg<D, BN, NWG>;
    auto kern = attention_wgmma_kernel<D, BN, NWG>;
    /* A build without the sm_90a image would run the trap body; that body needs a
     * handful of registers where the real one needs over a hundred (64 or more fp32
     * accumulators), so the image the driver loaded is checked once. */
    static int image_ok = 0;
    if (!image_ok) {
        cudaFuncAttributes fa;
        cudaError_t e = cudaFuncGetAttributes(&fa, kern);
        if (e != cudaSuccess) return (int)e;
        if (fa.numRegs < 64) return (int)cudaErrorNoKernelImageForDevice;
        image_ok = 1;
    }
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM);
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)((a->Lq + C::BM - 1) / C::BM), (unsigned)a->H, (unsigned)a->B);
    kern<<<grid, C::NT, C::SMEM, stream>>>(*a);
    return launch_status();
}

/* cuTensorMapEncodeTiled, from the driver through the runtime (no -lcuda). */
static PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder(void) {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = NULL;
    if (!fn) {
        void *p = NULL;
        cudaDriverEntryPointQueryResult q;
#if CUDART_VERSION >= 12050
        cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q);
#else /* CUDA 12.0-12.4: the by-version lookup does not exist yet */
        cudaError_t e = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &p, cudaEnableDefault, &q);
#endif
        if (e == cudaSuccess && q == cudaDriverEntryPointSuccess)
            fn = (PFN_cuTensorMapEncodeTiled_v12000)p;
        else
            (void)cudaGetLastError();
    }
    return fn;
}

/* The 4-D map (d, row, head, batch) of a [B, L, H, D] bf16 tensor whose rows
 * [rows, L) read as zeros, in boxes of 64 channels x box_rows rows. */
static int tensor_map(CUtensorMap *map, const void *base, int64_t D, int64_t rows, int64_t L, int64_t H, int64_t B,
                      uint32_t box_rows) {
    PFN_cuTensorMapEncodeTiled_v12000 enc = tensor_map_encoder();
    if (!enc) return (int)cudaErrorNotSupported;
    const cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)(rows > 0 ? rows : 1), (cuuint64_t)H, (cuuint64_t)B};
    const cuuint64_t strides[3] = {(cuuint64_t)(H * D * 2), (cuuint64_t)(D * 2), (cuuint64_t)(L * H * D * 2)};
    const cuuint32_t box[4] = {64, box_rows, 1, 1}, one[4] = {1, 1, 1, 1};
    CUresult r = enc(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, (void *)base, dims, strides, box, one,
                     CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS ? 0 : (int)cudaErrorInvalidValue;
}

template <int D, int BN, bool PP, int NST>
static int launch_wgmma_ws(cudaStream_t stream, const cuda_attention_args *a) {
    using W = ws_cfg<D, BN, NST>;
    auto kern = attention_wgmma_ws_kernel<D, BN, PP, NST>;
    static int image_ok = 0;
    if (!image_ok) { /* as launch_wgmma */
        cudaFuncAttributes fa;
        cudaError_t e = cudaFuncGetAttributes(&fa, kern);
        if (e != cudaSuccess) return (int)e;
        if (fa.numRegs < 24) return (int)cudaErrorNoKernelImageForDevice;
        image_ok = 1;
    }
    /* per launch: the limit belongs to the current device's context */
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)W::SMEM);
    if (e != cudaSuccess) return (int)e;
    if (a->Lq > INT_MAX - W::BM || a->nkeys > INT_MAX - BN) return (int)cudaErrorInvalidValue; /* int32 TMA coordinates */
    CUtensorMap tq, tk, tv;
    int rc = tensor_map(&tq, a->q, D, a->Lq, a->Lq, a->H, a->B, W::BM);
    if (rc == 0) rc = tensor_map(&tk, a->k, D, a->nkeys, a->Lk, a->H, a->B, BN);
    if (rc == 0) rc = tensor_map(&tv, a->v, D, a->nkeys, a->Lk, a->H, a->B, BN);
    if (rc != 0) return rc;
    dim3 grid((unsigned)((a->Lq + W::BM - 1) / W::BM), (unsigned)a->H, (unsigned)a->B);
    kern<<<grid, 384, W::SMEM, stream>>>(tq, tk, tv, *a);
    return launch_status();
}

extern "C" int cuda_attention_wgmma(void *stream, const cuda_attention_args *a, int variant) {
    const wg_variant *v = wg_find(a->d, variant);
    if (!v || !tc_attention_args_ok(a, 64)) return (int)cudaErrorInvalidValue;
    if (a->Lq <= 0 || a->H <= 0 || a->B <= 0) return 0;
    int dev = 0, major = 0, minor = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    if (e != cudaSuccess) return (int)e;
    if (major != 9 || minor != 0) return (int)cudaErrorNoKernelImageForDevice; /* wgmma is sm_90a only */
    cudaStream_t s = (cudaStream_t)stream;
#define WS_CASE(D_, BN_, PP_, ST_) \
    if (v->d == D_ && v->bn == BN_ && v->ws == (PP_ ? 2 : 1) && v->st == ST_) \
        return launch_wgmma_ws<D_, BN_, PP_, ST_>(s, a)
    WS_CASE(128, 128, true, 2);
    WS_CASE(128, 128, false, 2);
    WS_CASE(128, 128, true, 3);
    WS_CASE(64, 128, true, 2);
#undef WS_CASE
#define WG_CASE(D_, BN_, NWG_) \
    if (v->d == D_ && v->bn == BN_ && v->nwg == NWG_ && !v->ws) return launch_wgmma<D_, BN_, NWG_>(s, a)
    WG_CASE(128, 128, 2);
    WG_CASE(128, 64, 2);
    WG_CASE(128, 64, 3);
    WG_CASE(64, 128, 2);
    WG_CASE(64, 128, 3);
#undef WG_CASE
    return (int)cudaErrorInvalidValue; /* a table entry without a case: a bug */
}
