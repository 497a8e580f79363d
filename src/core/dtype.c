/* dtype.c: element types and their conversions.
 *
 * The float conversions reproduce PyTorch's CPU casts bit for bit (c10's
 * Half/BFloat16/Float8 code and ATen's AVX2 vector casts, checked against torch
 * 2.15 by tests/test_dtype.c): round to nearest even; f32 -> bf16 maps every NaN
 * to 0xFFFF, as tensor.to(torch.bfloat16) does through ATen's vectorised cast
 * (c10's scalar path, used for 0-d tensors and for f16/f8 -> bf16, gives 0x7FC0,
 * which rl_convert reproduces for those sources); f32 -> f16 keeps
 * the NaN's sign and top payload bits and quiets it (F16C); f16 -> f32 quiets
 * signalling NaNs (sets the quiet bit) and keeps the payload. f8_e4m3fn has no
 * infinity and torch 2.15 (pinned) saturates: finite overflow and +-inf become +-448
 * (0x7E/0xFE), values that would round into the NaN code become 448 too, only NaN
 * becomes NaN (0x7F | sign). f8_e5m2 keeps inf. Conversions between two non-f32
 * float types go through f32, as torch does. Float to integer truncates toward
 * zero; NaN and out-of-range values give the x86 "integer indefinite" (the
 * minimum), as torch on x86 does.
 */
#include "raylight.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name, *st_name;
    size_t size;
} dtype_info[RL_DTYPE_COUNT] = {
    [RL_F32] = {"f32", "F32", 4},          [RL_F16] = {"f16", "F16", 2},
    [RL_BF16] = {"bf16", "BF16", 2},       [RL_F8_E4M3] = {"f8_e4m3fn", "F8_E4M3", 1},
    [RL_F8_E5M2] = {"f8_e5m2", "F8_E5M2", 1}, [RL_I32] = {"i32", "I32", 4},
    [RL_I64] = {"i64", "I64", 8},
};

size_t rl_dtype_size(rl_dtype t) { return (unsigned)t < RL_DTYPE_COUNT ? dtype_info[t].size : 0; }
const char *rl_dtype_name(rl_dtype t) { return (unsigned)t < RL_DTYPE_COUNT ? dtype_info[t].name : "?"; }
const char *rl_dtype_safetensors_name(rl_dtype t) {
    return (unsigned)t < RL_DTYPE_COUNT ? dtype_info[t].st_name : "?";
}

int rl_dtype_from_safetensors_name(const char *s, rl_dtype *out) {
    for (int i = 0; i < RL_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_info[i].st_name) == 0) {
            *out = (rl_dtype)i;
            return 0;
        }
    return -1;
}

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- bf16 */

float rl_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t rl_f32_to_bf16(float f) {
    if (isnan(f)) return 0xFFFF; /* ATen's vector cast: every NaN, either sign */
    uint32_t u = f32_bits(f);
    uint32_t rounding_bias = ((u >> 16) & 1u) + 0x7FFFu;
    return (uint16_t)((u + rounding_bias) >> 16);
}

/* ---- f16 (IEEE binary16) */

float rl_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) /* inf; NaN keeps its payload and is quieted, as F16C's vcvtph2ps */
        return f32_from_bits(sign | 0x7F800000u | (mant << 13) | (mant ? 0x00400000u : 0u));
    if (exp == 0) {
        if (mant == 0) return f32_from_bits(sign);
        float v = (float)mant * 0x1p-24f; /* exact */
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t rl_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu)); /* NaN, quieted */
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {
        /* f16 subnormal or zero: the addition rounds (RNE) at 2^-24 granularity. */
        float v = f32_from_bits(a) + 0.5f; /* 0.5 = 2^-1: aligns the f16 subnormal ulp to f32 bit 0 */
        uint32_t r = f32_bits(v) - 0x3F000000u;
        return (uint16_t)(sign | r);
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += ((uint32_t)(15 - 127) << 23) + 0xFFFu + mant_odd;
    return (uint16_t)(sign | (a >> 13));
}

/* ---- f8 e4m3fn */

float rl_f8e4m3_to_f32(uint8_t v) {
    uint32_t w = (uint32_t)v << 24;
    uint32_t sign = w & 0x80000000u;
    uint32_t nonsign = w & 0x7FFFFFFFu;
    if (nonsign == 0) return f32_from_bits(sign);
    uint32_t renorm = (uint32_t)__builtin_clz(nonsign);
    renorm = renorm > 4 ? renorm - 4 : 0;
    int32_t inf_nan_mask = ((int32_t)(nonsign + 0x01000000u) >> 8) & INT32_C(0x7F800000);
    uint32_t r = sign | ((((nonsign << renorm) >> 4) + ((0x78u - renorm) << 23)) | (uint32_t)inf_nan_mask);
    return f32_from_bits(r);
}

uint8_t rl_f32_to_f8e4m3(float f) {
    const uint32_t fp8_max = 1087u << 20;     /* 480.0f: first value that rounds past 448 */
    const uint32_t fp32_inf = 255u << 23;
    const uint32_t denorm_mask = 141u << 23;
    uint32_t u = f32_bits(f);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint8_t r;
    if (u >= fp8_max) {
        r = u > fp32_inf ? 0x7F : 0x7E; /* NaN stays NaN; overflow and inf saturate to 448 */
    } else if (u < (121u << 23)) { /* below 2^-6: subnormal, rounded by the float addition */
        uint32_t s = f32_bits(f32_from_bits(u) + f32_from_bits(denorm_mask));
        r = (uint8_t)(s - denorm_mask);
    } else {
        uint32_t mant_odd = (u >> 20) & 1u;
        u += ((uint32_t)(7 - 127) << 23) + 0x7FFFFu + mant_odd;
        r = (uint8_t)(u >> 20);
        if (r == 0x7F) r = 0x7E; /* rounding carried into the NaN code: saturate */
    }
    return (uint8_t)(r | (sign >> 24));
}

/* ---- f8 e5m2 (the top byte of an f16) */

float rl_f8e5m2_to_f32(uint8_t v) { return rl_f16_to_f32((uint16_t)((uint16_t)v << 8)); }

uint8_t rl_f32_to_f8e5m2(float f) {
    const uint32_t fp32_inf = 255u << 23;
    const uint32_t fp8_max = 143u << 23;
    const uint32_t denorm_mask = 134u << 23;
    uint32_t u = f32_bits(f);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint8_t r;
    if (u >= fp8_max) {
        r = u > fp32_inf ? 0x7F : 0x7C;
    } else if (u < (113u << 23)) {
        uint32_t s = f32_bits(f32_from_bits(u) + f32_from_bits(denorm_mask));
        r = (uint8_t)(s - denorm_mask);
    } else {
        uint32_t mant_odd = (u >> 21) & 1u;
        u += ((uint32_t)(15 - 127) << 23) + 0xFFFFFu + mant_odd;
        r = (uint8_t)(u >> 21);
    }
    return (uint8_t)(r | (sign >> 24));
}

/* ---- bulk conversion */

static int32_t f32_to_i32(float f) {
    if (!(f > -2147483904.0f && f < 2147483648.0f)) return INT32_MIN;
    return (int32_t)f;
}
static int64_t f32_to_i64(float f) {
    if (!(f > -9223373136366403584.0f && f < 9223372036854775808.0f)) return INT64_MIN;
    return (int64_t)f;
}

static float load_float(const void *src, rl_dtype t, size_t i) {
    switch (t) {
    case RL_F32: return ((const float *)src)[i];
    case RL_F16: return rl_f16_to_f32(((const uint16_t *)src)[i]);
    case RL_BF16: return rl_bf16_to_f32(((const uint16_t *)src)[i]);
    case RL_F8_E4M3: return rl_f8e4m3_to_f32(((const uint8_t *)src)[i]);
    case RL_F8_E5M2: return rl_f8e5m2_to_f32(((const uint8_t *)src)[i]);
    case RL_I32: return (float)((const int32_t *)src)[i];
    case RL_I64: return (float)((const int64_t *)src)[i];
    default: return 0.0f;
    }
}

static void store_float(void *dst, rl_dtype t, size_t i, float f) {
    switch (t) {
    case RL_F32: ((float *)dst)[i] = f; break;
    case RL_F16: ((uint16_t *)dst)[i] = rl_f32_to_f16(f); break;
    case RL_BF16: ((uint16_t *)dst)[i] = rl_f32_to_bf16(f); break;
    case RL_F8_E4M3: ((uint8_t *)dst)[i] = rl_f32_to_f8e4m3(f); break;
    case RL_F8_E5M2: ((uint8_t *)dst)[i] = rl_f32_to_f8e5m2(f); break;
    case RL_I32: ((int32_t *)dst)[i] = f32_to_i32(f); break;
    case RL_I64: ((int64_t *)dst)[i] = f32_to_i64(f); break;
    default: break;
    }
}

void rl_convert(void *dst, rl_dtype dst_t, const void *src, rl_dtype src_t, size_t n) {
    if (dst_t == src_t) {
        memmove(dst, src, n * rl_dtype_size(src_t));
        return;
    }
    int src_int = src_t == RL_I32 || src_t == RL_I64;
    if (src_int && (dst_t == RL_I32 || dst_t == RL_I64)) {
        for (size_t i = 0; i < n; i++) {
            int64_t v = src_t == RL_I32 ? ((const int32_t *)src)[i] : ((const int64_t *)src)[i];
            if (dst_t == RL_I32) ((int32_t *)dst)[i] = (int32_t)(uint32_t)(uint64_t)v;
            else ((int64_t *)dst)[i] = v;
        }
        return;
    }
    if (dst_t == RL_BF16 && (src_t == RL_F16 || src_t == RL_F8_E4M3 || src_t == RL_F8_E5M2)) {
        /* torch casts these element by element through c10's BFloat16(float), whose
         * NaN is 0x7FC0 (only the f32 -> bf16 vector cast gives 0xFFFF). */
        #pragma omp parallel for if (n > 65536) schedule(static)
        for (size_t i = 0; i < n; i++) {
            float f = load_float(src, src_t, i);
            ((uint16_t *)dst)[i] = isnan(f) ? 0x7FC0 : rl_f32_to_bf16(f);
        }
        return;
    }
    #pragma omp parallel for if (n > 65536) schedule(static)
    for (size_t i = 0; i < n; i++) store_float(dst, dst_t, i, load_float(src, src_t, i));
}
