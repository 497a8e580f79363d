/* common.cuh: device helpers shared by the kernels: element loads and stores by
 * dtype, the torch-exact scalar conversions, warp/block reductions, launch sizes.
 *
 * bf16/f16/f8 are handled as raw bits (uint16_t/uint8_t) with our own conversion
 * code, a line-for-line port of src/core/dtype.c (torch 2.15's CPU casts), so GPU
 * casts are bit-identical to the CPU's (CUDA's __float2bfloat16 maps NaN to 0x7FFF). The compute ops see
 * only f32 and bf16, loaded as float and stored with round-to-nearest-even.
 * Nothing here may be compiled with --use_fast_math: the f16/f8 subnormal paths
 * rely on IEEE float addition with denormals.
 */
#ifndef RL_KERNELS_COMMON_CUH
#define RL_KERNELS_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "kernels.h"

#define FULL_MASK 0xFFFFFFFFu

/* The conversions are __host__ __device__ so a host program can check them
 * exhaustively against dtype.c; these map the few device intrinsics they use. */
#define CONV_FN __host__ __device__ __forceinline__
#ifdef __CUDA_ARCH__
#define BITS_OF(f) __float_as_uint(f)
#define FLOAT_OF(u) __uint_as_float(u)
#define FADD_RN(a, b) __fadd_rn((a), (b)) /* never contracted into an FMA */
#define CLZ32(x) ((uint32_t)__clz((int)(x)))
#else
#include <string.h>
static inline uint32_t host_bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float host_float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
#define BITS_OF(f) host_bits_of(f)
#define FLOAT_OF(u) host_float_of(u)
#define FADD_RN(a, b) ((a) + (b))
#define CLZ32(x) ((uint32_t)__builtin_clz(x))
#endif

/* ---------------------------------------------------------------- scalar conversions */

CONV_FN float bf16_to_f32(uint16_t h) { return FLOAT_OF((uint32_t)h << 16); }

/* NaN -> 0xFFFF, as torch's (vectorised) f32 -> bf16 cast; the f16/f8 -> bf16
 * casts give 0x7FC0 instead (cast_kernel handles that). */
CONV_FN uint16_t f32_to_bf16(float f) {
    if (isnan(f)) return 0xFFFF;
    uint32_t u = BITS_OF(f);
    uint32_t rounding_bias = ((u >> 16) & 1u) + 0x7FFFu;
    return (uint16_t)((u + rounding_bias) >> 16);
}

CONV_FN float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) /* inf; NaN keeps its payload and is quieted (F16C) */
        return FLOAT_OF(sign | 0x7F800000u | (mant << 13) | (mant ? 0x00400000u : 0u));
    if (exp == 0) {
        if (mant == 0) return FLOAT_OF(sign);
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return FLOAT_OF(sign | ((exp + 112u) << 23) | (mant << 13));
}

CONV_FN uint16_t f32_to_f16(float f) {
    uint32_t u = BITS_OF(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);
    if (a < 0x38800000u) {
        float v = FADD_RN(FLOAT_OF(a), 0.5f);
        uint32_t r = BITS_OF(v) - 0x3F000000u;
        return (uint16_t)(sign | r);
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += ((uint32_t)(15 - 127) << 23) + 0xFFFu + mant_odd;
    return (uint16_t)(sign | (a >> 13));
}

CONV_FN float f8e4m3_to_f32(uint8_t v) {
    uint32_t w = (uint32_t)v << 24;
    uint32_t sign = w & 0x80000000u;
    uint32_t nonsign = w & 0x7FFFFFFFu;
    if (nonsign == 0) return FLOAT_OF(sign);
    uint32_t renorm = CLZ32(nonsign);
    renorm = renorm > 4 ? renorm - 4 : 0;
    int32_t inf_nan_mask = ((int32_t)(nonsign + 0x01000000u) >> 8) & INT32_C(0x7F800000);
    uint32_t r = sign | ((((nonsign << renorm) >> 4) + ((0x78u - renorm) << 23)) | (uint32_t)inf_nan_mask);
    return FLOAT_OF(r);
}

/* torch 2.15 saturates: finite overflow and +-inf give +-448, only NaN gives NaN. */
CONV_FN uint8_t f32_to_f8e4m3(float f) {
    const uint32_t fp8_max = 1087u << 20; /* 480.0f: first value that rounds past 448 */
    const uint32_t fp32_inf = 255u << 23;
    const uint32_t denorm_mask = 141u << 23;
    uint32_t u = BITS_OF(f);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint8_t r;
    if (u >= fp8_max) {
        r = u > fp32_inf ? 0x7F : 0x7E;
    } else if (u < (121u << 23)) {
        uint32_t s = BITS_OF(FADD_RN(FLOAT_OF(u), FLOAT_OF(denorm_mask)));
        r = (uint8_t)(s - denorm_mask);
    } else {
        uint32_t mant_odd = (u >> 20) & 1u;
        u += ((uint32_t)(7 - 127) << 23) + 0x7FFFFu + mant_odd;
        r = (uint8_t)(u >> 20);
        if (r == 0x7F) r = 0x7E; /* rounding carried into the NaN code: saturate */
    }
    return (uint8_t)(r | (sign >> 24));
}

CONV_FN float f8e5m2_to_f32(uint8_t v) { return f16_to_f32((uint16_t)((uint16_t)v << 8)); }

CONV_FN uint8_t f32_to_f8e5m2(float f) {
    const uint32_t fp32_inf = 255u << 23;
    const uint32_t fp8_max = 143u << 23;
    const uint32_t denorm_mask = 134u << 23;
    uint32_t u = BITS_OF(f);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint8_t r;
    if (u >= fp8_max) {
        r = u > fp32_inf ? 0x7F : 0x7C;
    } else if (u < (113u << 23)) {
        uint32_t s = BITS_OF(FADD_RN(FLOAT_OF(u), FLOAT_OF(denorm_mask)));
        r = (uint8_t)(s - denorm_mask);
    } else {
        uint32_t mant_odd = (u >> 21) & 1u;
        u += ((uint32_t)(15 - 127) << 23) + 0xFFFFFu + mant_odd;
        r = (uint8_t)(u >> 21);
    }
    return (uint8_t)(r | (sign >> 24));
}

/* ---------------------------------------------------------------- loads and stores */

/* The compute ops' tensors: f32 or bf16 (the backend checks). The branch is
 * uniform over the whole launch. */
__device__ __forceinline__ float ldf(const void *p, int dt, int64_t i) {
    return dt == KDT_BF16 ? bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}
__device__ __forceinline__ void stf(void *p, int dt, int64_t i, float v) {
    if (dt == KDT_BF16) ((uint16_t *)p)[i] = f32_to_bf16(v);
    else ((float *)p)[i] = v;
}

/* ---------------------------------------------------------------- reductions */

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32); every thread gets the total.
 * sh: 33 floats of shared memory; safe to call repeatedly. */
__device__ __forceinline__ float block_sum(float v, float *sh) {
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* the previous call's readers of sh are done */
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    if (wid == 0) {
        float t = lane < nw ? sh[lane] : 0.0f;
        t = warp_sum(t);
        if (lane == 0) sh[32] = t;
    }
    __syncthreads();
    return sh[32];
}

/* ---------------------------------------------------------------- launch sizes */

/* Blocks for a grid-stride loop over n items with `threads` per block. */
static inline unsigned grid_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    const int64_t cap = 65535LL * 16;
    return (unsigned)(b < 1 ? 1 : (b > cap ? cap : b));
}

static inline int launch_status(void) { return (int)cudaGetLastError(); }

/* A kernel's tile configurations by head dim: the variant-th entry (1-based; 0 is
 * the first) of those in tab[0..n) whose field d equals d, or NULL. */
template <typename V> static inline const V *variant_of_dim(const V *tab, int n, int64_t d, int variant) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (tab[i].d != d) continue;
        if (++k == (variant < 1 ? 1 : variant)) return &tab[i];
    }
    return NULL;
}

/* The tensor-core attention kernels' argument rules (attention_mma.cu and
 * attention_wgmma.cu): bf16 q, k, v, no bias, an f32 or bf16 out, 16-byte aligned
 * tensors, scale > 0, 0 <= nkeys <= Lk, and a grid that fits (H and B at most 65535,
 * Lq / min_rows query tiles in 31 bits; min_rows: the kernel's smallest tile). */
static inline bool tc_attention_args_ok(const cuda_attention_args *a, int64_t min_rows) {
    const uintptr_t al = (uintptr_t)a->q | (uintptr_t)a->k | (uintptr_t)a->v | (uintptr_t)a->out;
    return a->qdt == KDT_BF16 && a->kdt == KDT_BF16 && a->vdt == KDT_BF16 && !a->bias &&
           (a->odt == KDT_BF16 || a->odt == KDT_F32) && !(al & 15) && a->scale > 0.0f && a->H <= 65535 &&
           a->B <= 65535 && a->Lq / min_rows <= 0x7FFFFFFF && a->nkeys >= 0 && a->nkeys <= a->Lk;
}

#endif
