/* testlib.h: the tiny test harness every tests/test_*.c uses.
 *
 * A test is a function; RUN(fn) calls it and prints "PASS: fn" or "FAIL: fn"
 * (after the failing EXPECT lines). tests/run.sh counts those lines over all
 * test programs and shell tests and prints the final "N passed, N failed". */
#ifndef RL_TESTLIB_H
#define RL_TESTLIB_H

#include "raylight.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tl_case_failures;
static int tl_total_failed;

#define EXPECT(cond, ...)                                                \
    do {                                                                 \
        if (!(cond)) {                                                   \
            if (tl_case_failures < 20) {                                 \
                printf("  %s:%d: expected %s: ", __FILE__, __LINE__, #cond); \
                printf(__VA_ARGS__);                                     \
                printf("\n");                                            \
            }                                                            \
            tl_case_failures++;                                          \
        }                                                                \
    } while (0)

#define RUN(fn)                                                          \
    do {                                                                 \
        tl_case_failures = 0;                                            \
        rl_error_clear();                                                \
        fn();                                                            \
        if (tl_case_failures) {                                          \
            printf("FAIL: %s (%d failed checks)\n", #fn, tl_case_failures); \
            tl_total_failed++;                                           \
        } else {                                                         \
            printf("PASS: %s\n", #fn);                                   \
        }                                                                \
        fflush(stdout);                                                  \
    } while (0)

#define TL_EXIT() return tl_total_failed ? 1 : 0

/* A named sub-check inside a test function: prints its own PASS/FAIL line. */
#define CASE(name, cond, ...)                                            \
    do {                                                                 \
        if (cond) printf("PASS: %s\n", name);                            \
        else {                                                           \
            printf("FAIL: %s: ", name);                                  \
            printf(__VA_ARGS__);                                         \
            printf("\n");                                                \
            tl_total_failed++;                                           \
        }                                                                \
    } while (0)

/* Deterministic uniform/normal numbers for test inputs. */
static uint64_t tl_rng_state = 0x9E3779B97F4A7C15ull;
static inline void tl_seed(uint64_t s) { tl_rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static inline double tl_uniform(void) { /* [0,1) */
    tl_rng_state ^= tl_rng_state << 13;
    tl_rng_state ^= tl_rng_state >> 7;
    tl_rng_state ^= tl_rng_state << 17;
    return (double)(tl_rng_state >> 11) * 0x1.0p-53;
}
static inline float tl_randn(void) {
    double u1 = tl_uniform(), u2 = tl_uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static inline void tl_fill_randn(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = tl_randn() * scale;
}

/* max|got-ref| / max|ref| (the project's "relative error"); NaN/Inf in got -> INFINITY. */
static inline double tl_rel_err(const float *got, const double *ref, size_t n) {
    double maxdiff = 0, maxref = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        double d = fabs((double)got[i] - ref[i]);
        if (d > maxdiff) maxdiff = d;
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
    }
    return maxref > 0 ? maxdiff / maxref : maxdiff;
}
static inline double tl_rel_err_f(const float *got, const float *ref, size_t n) {
    double maxdiff = 0, maxref = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > maxdiff) maxdiff = d;
        if (fabs((double)ref[i]) > maxref) maxref = fabs((double)ref[i]);
    }
    return maxref > 0 ? maxdiff / maxref : maxdiff;
}

#endif
