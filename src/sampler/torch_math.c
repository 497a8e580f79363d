/* torch_math.c: fp32 expm1 replaying SLEEF expm1f_u10; log and exp correctly rounded.
 *
 * expm1 follows the SLEEF algorithm step for step as its AVX2 build evaluates
 * it: double-float ("df", a value as an unevaluated sum hi + lo) arithmetic with
 * the FMA forms of the df helpers, polynomial steps as fmaf(), round-to-nearest-
 * even where SLEEF uses cvtps2dq. Infinities, zeros and NaN follow SLEEF's
 * selects. Relies on -std=c11 (no implicit FMA contraction): every other op
 * rounds. See torch_math.h for why log and exp are correctly rounded instead.
 */
#include "sampler/torch_math.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Each fp32 op must round on its own, as the reference's tensor ops do: GCC
 * does not contract under -std=c11; clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

typedef struct { float x, y; } df; /* hi + lo */

static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* 2^q for q in the normal exponent range, built from bits as SLEEF's vpow2i */
static float pow2i(int32_t q) { return float_of((uint32_t)(q + 0x7f) << 23); }
/* d * 2^e in two halves so that e up to ~2*127 stays finite (vldexp2) */
static float ldexp2(float d, int32_t e) { return d * pow2i(e >> 1) * pow2i(e - (e >> 1)); }
/* cvtps2dq under the default rounding mode: nearest, ties to even */
static int32_t rint_i32(float f) { return (int32_t)nearbyintf(f); }

static df df_make(float x, float y) { df r = {x, y}; return r; }

static df df_add2_df_f(df x, float y)
{
    float s = x.x + y, v = s - x.x;
    float t = (x.x - (s - v)) + (y - v);
    return df_make(s, t + x.y);
}

static df df_add2_df_df(df x, df y)
{
    float s = x.x + y.x, v = s - x.x;
    float t = (x.x - (s - v)) + (y.x - v);
    return df_make(s, t + (x.y + y.y));
}

static df df_add_f_df(float x, df y)
{
    float s = x + y.x;
    return df_make(s, ((x - s) + y.x) + y.y);
}

static df df_mul_df_f(df x, float y)
{
    float s = x.x * y;
    return df_make(s, fmaf(x.y, y, fmaf(x.x, y, -s)));
}

static df df_mul_df_df(df x, df y)
{
    float s = x.x * y.x;
    return df_make(s, fmaf(x.x, y.y, fmaf(x.y, y.x, fmaf(x.x, y.x, -s))));
}

static df df_squ(df x)
{
    float s = x.x * x.x;
    return df_make(s, fmaf(x.x + x.x, x.y, fmaf(x.x, x.x, -s)));
}

/* torch's CPU log/exp for float go to MKL VML (vsLn/vsExp, VML_HA) in the x86
 * wheels; its results are proprietary and CPU-dependent (about 4% of inputs are
 * one ulp away from the correctly rounded value on the machine we checked), so
 * we take the correctly rounded value: the closest we can portably be. */
float rl_torch_logf(float x) { return (float)log((double)x); }
float rl_torch_expf(float x) { return (float)exp((double)x); }

#define L2Uf 0.693145751953125f
#define L2Lf 1.428606765330187045e-06f
#define R_LN2f 1.442695040888963407359924681001892137426645954152985934135449406931f

/* SLEEF expk2f: e^d as a df, for d.x in [-104, 89] */
static df expk2(df d)
{
    int32_t q = rint_i32((d.x + d.y) * R_LN2f);
    df s = df_add2_df_f(d, (float)q * -L2Uf);
    s = df_add2_df_f(s, (float)q * -L2Lf);
    float u = +0.1980960224e-3f;
    u = fmaf(u, s.x, +0.1394256484e-2f);
    u = fmaf(u, s.x, +0.8333456703e-2f);
    u = fmaf(u, s.x, +0.4166637361e-1f);
    df t = df_add2_df_f(df_mul_df_f(s, u), +0.166666659414234244790680580464e+0f);
    t = df_add2_df_f(df_mul_df_df(s, t), 0.5f);
    t = df_add2_df_df(s, df_mul_df_df(df_squ(s), t));
    t = df_add_f_df(1.0f, t);
    return df_make(ldexp2(t.x, q), ldexp2(t.y, q));
}

float rl_torch_expm1f(float a)
{
    if (isnan(a)) return a;
    if (a > 88.72283172607421875f) return INFINITY;
    if (a < -16.635532333438687426013570f) return -1.0f;
    if (a == 0.0f && signbit(a)) return -0.0f;
    df d = df_add2_df_f(expk2(df_make(a, 0.0f)), -1.0f);
    return d.x + d.y;
}
