/* noise.c: torch.randn on the CPU (float32), reproduced bit for bit.
 *
 * What torch does (ATen: core/MT19937RNGEngine.h, CPUGeneratorImpl.cpp,
 * core/DistributionsHelper.h, native/cpu/DistributionTemplates.h, avx_mathfun.h):
 * - manual_seed(s) seeds at::mt19937 with s & 0xffffffff and clears the cached
 *   normal; random() is one tempered MT output, random64() is two (first = high).
 * - n >= 16 (contiguous): every element first gets a float uniform
 *   (random() & 0xffffff) * 2^-24; each block of 16 is then Box-Muller'd in
 *   place (u1 = 1 - d[j], u2 = d[j+8]); when n % 16 != 0 the last 16 slots get 16
 *   fresh uniforms and are transformed again. On x86-64 the block transform is
 *   the AVX2 one (log256_ps / sincos256_ps of avx_mathfun.h) as compiled into
 *   torch, i.e. with some mul+add pairs contracted to FMA: we replay that exact
 *   sequence in scalar code with fmaf() so the bits agree (checked against torch
 *   by scripts/golden/make_sampler_golden.py and tests/test_noise.c).
 * - n < 16: at::normal_distribution<double> per element: two 53-bit uniforms
 *   from random64(), r = sqrt(-2 log1p(-u2)), theta = 2 pi u1, return r cos,
 *   cache r sin for the next element; cast to float.
 * Build note: this file relies on the project's -std=c11 (no implicit FMA
 * contraction) and explicit fmaf() where torch's build fused.
 */
#include "sampler/noise.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Each fp32 op must round on its own, as the reference's tensor ops do: GCC
 * does not contract under -std=c11; clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ---------------------------------------------------------------- mt19937 */

#define MT_N 624
#define MT_M 397

void rl_mt19937_seed(rl_mt19937 *g, uint64_t seed)
{
    g->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (uint32_t j = 1; j < MT_N; j++) {
        uint32_t p = g->state[j - 1];
        g->state[j] = 1812433253u * (p ^ (p >> 30)) + j;
    }
    g->left = 1;
    g->next = 0;
}

static uint32_t mt_twist(uint32_t u, uint32_t v)
{
    uint32_t mixed = (u & 0x80000000u) | (v & 0x7fffffffu);
    return (mixed >> 1) ^ ((v & 1u) ? 0x9908b0dfu : 0u);
}

static void mt_next_state(rl_mt19937 *g)
{
    uint32_t *s = g->state;
    int k = 0;
    for (; k < MT_N - MT_M; k++) s[k] = s[k + MT_M] ^ mt_twist(s[k], s[k + 1]);
    for (; k < MT_N - 1; k++) s[k] = s[k + MT_M - MT_N] ^ mt_twist(s[k], s[k + 1]);
    s[MT_N - 1] = s[MT_M - 1] ^ mt_twist(s[MT_N - 1], s[0]);
    g->left = MT_N;
    g->next = 0;
}

uint32_t rl_mt19937_next(rl_mt19937 *g)
{
    if (--g->left == 0) mt_next_state(g);
    uint32_t y = g->state[g->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static float uniform_f32(rl_mt19937 *g)
{
    return (float)(rl_mt19937_next(g) & 0xffffffu) * 0x1.0p-24f;
}

static double uniform_f64(rl_mt19937 *g)
{
    uint64_t hi = rl_mt19937_next(g);
    uint64_t lo = rl_mt19937_next(g);
    uint64_t r = (hi << 32) | lo;
    return (double)(r & ((1ull << 53) - 1)) * 0x1.0p-53;
}

/* ------------------------------------------- avx_mathfun replay (one lane) */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* log256_ps for one positive lane (the only inputs Box-Muller gives it). */
static float log_avx2(float x)
{
    x = fmaxf(x, u2f(0x00800000u)); /* flush subnormals, as the original */
    int32_t imm0 = (int32_t)(f2u(x) >> 23);
    x = u2f((f2u(x) & ~0x7f800000u) | f2u(0.5f));
    float e = (float)(imm0 - 0x7f) + 1.0f;
    int small = x < 0.707106781186547524f;
    float tmp = small ? x : 0.0f;
    x = x - 1.0f;
    e = e - (small ? 1.0f : 0.0f);
    x = x + tmp;
    float z = x * x;
    float y = 7.0376836292E-2f;
    y = fmaf(y, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, 1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, 2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, 3.3333331174E-1f);
    y = y * x;
    y = fmaf(y, z, e * -2.12194440e-4f);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    return fmaf(e, 0.693359375f, x);
}

/* sincos256_ps for one lane with x >= 0 (theta = 2 pi u2). */
static void sincos_avx2(float x, float *s, float *c)
{
    float y = x * 1.27323954473516f; /* 4/pi */
    int32_t j = (int32_t)y;          /* cvttps: truncation */
    j = (j + 1) & ~1;
    y = (float)j;
    int sin_neg = (j & 4) != 0;
    int cos_neg = (~(j - 2) & 4) != 0;
    int poly_sin = (j & 2) == 0;
    /* extended-precision range reduction: x - y*pi/4 in three parts */
    x = fmaf(y, -0.78515625f, x);
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    float z = x * x;
    float yc = fmaf(2.443315711809948E-005f, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = fmaf(-1.9515295891E-4f, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    float sv = poly_sin ? ys : yc;
    float cv = poly_sin ? yc : ys;
    *s = sin_neg ? -sv : sv;
    *c = cos_neg ? -cv : cv;
}

/* NormalFill16<float> (AVX2) on d[0..16): uniforms in, normals out. */
static void normal_fill_16(float *d)
{
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * log_avx2(u1));
        float s, c;
        sincos_avx2(two_pi * u2, &s, &c);
        /* torch stores fma(n, std, mean) with std 1, mean 0 */
        d[j] = fmaf(radius * c, 1.0f, 0.0f);
        d[j + 8] = fmaf(radius * s, 1.0f, 0.0f);
    }
}

/* ---------------------------------------------------------------- randn */

static void randn_scalar(float *out, int64_t n, rl_mt19937 *g)
{
    int have_cached = 0;
    double cached = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (have_cached) {
            out[i] = (float)cached;
            have_cached = 0;
            continue;
        }
        double u1 = uniform_f64(g);
        double u2 = uniform_f64(g);
        double r = sqrt(-2.0 * log1p(-u2));
        double theta = 2.0 * 3.14159265358979323846 * u1;
        cached = r * sin(theta);
        have_cached = 1;
        out[i] = (float)(r * cos(theta));
    }
}

int rl_randn_torch(float *out, int64_t n, uint64_t seed)
{
    if (n < 0) return rl_error_set("randn: element count %lld is negative", (long long)n);
    if (n == 0) return 0;
    if (!out) return rl_error_set("randn: no output buffer for %lld elements", (long long)n);
    rl_mt19937 g;
    rl_mt19937_seed(&g, seed);
    if (n < 16) {
        randn_scalar(out, n, &g);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) out[i] = uniform_f32(&g);
    for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int k = 0; k < 16; k++) tail[k] = uniform_f32(&g);
        normal_fill_16(tail);
    }
    return 0;
}

/* ---------------------------------------------------------------- seeds */

uint64_t rl_seed_random(void)
{
    uint32_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    int ok = 0;
    if (fd >= 0) {
        ok = read(fd, &v, sizeof v) == (ssize_t)sizeof v;
        close(fd);
    }
    if (!ok) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
                       ((uint64_t)getpid() << 20);
        mix ^= mix >> 33;
        mix *= 0xff51afd7ed558ccdull;
        mix ^= mix >> 33;
        v = (uint32_t)mix;
    }
    return v;
}

int rl_seed_parse(const char *text, uint64_t *seed, int *is_random)
{
    if (is_random) *is_random = 0;
    if (!text || !*text) return rl_error_set("--seed: empty value; give an integer, or -1 for a random seed");
    const char *p = text;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    if (*p < '0' || *p > '9')
        return rl_error_set("--seed '%s' is not an integer; give 0..18446744073709551615, or -1 for random", text);
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(p, &end, 10);
    if (*end != '\0')
        return rl_error_set("--seed '%s' is not an integer; give 0..18446744073709551615, or -1 for random", text);
    if (errno == ERANGE || (neg && v > 9223372036854775808ull))
        return rl_error_set("--seed '%s' is out of range; give 0..18446744073709551615, or -1 for random", text);
    if (neg && v == 1) {
        *seed = rl_seed_random();
        if (is_random) *is_random = 1;
        return 0;
    }
    *seed = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; /* torch: two's complement */
    return 0;
}
