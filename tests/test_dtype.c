/* test_dtype.c: the dtype conversions of src/core/dtype.c against torch, bit for
 * bit. tests/golden/dtype.safetensors (scripts/golden/make_dtype_golden.py) holds
 * an f32 input vector of special values, rounding midpoints, overflow thresholds
 * and random magnitudes with torch's casts of it, torch's f32 value of every
 * f16/bf16/f8 bit pattern, and float<->int casts. Each check counts mismatches
 * and prints the first few in hex. */
#include "io/safetensors.h"
#include "testlib.h"

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

static rl_safetensors st;
static int st_ok;

/* The named golden tensor's bytes, checking dtype and element count. */
static const void *golden(const char *name, rl_dtype dt, int64_t *numel) {
    const rl_st_tensor *t = rl_st_find(&st, name);
    if (!t) {
        EXPECT(0, "golden tensor %s is missing from dtype.safetensors", name);
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    if (t->dtype != dt) {
        EXPECT(0, "golden tensor %s is %s, expected %s", name, rl_dtype_name(t->dtype), rl_dtype_name(dt));
        return NULL;
    }
    *numel = n;
    return rl_st_data(&st, t);
}

static uint32_t bits32(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Compares n elements of size es; prints up to 5 mismatches with the input bits. */
static int compare_bytes(const char *what, const void *got, const void *want, const void *input,
                         size_t in_es, size_t es, int64_t n) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *g = (const uint8_t *)got + i * es, *w = (const uint8_t *)want + i * es;
        if (memcmp(g, w, es) == 0) continue;
        if (bad < 5) {
            uint64_t gv = 0, wv = 0, iv = 0;
            memcpy(&gv, g, es), memcpy(&wv, w, es);
            if (input) memcpy(&iv, (const uint8_t *)input + i * in_es, in_es);
            printf("  %s: element %lld input 0x%0*llx: got 0x%0*llx, torch 0x%0*llx\n", what, (long long)i,
                   (int)(2 * in_es), (unsigned long long)iv, (int)(2 * es), (unsigned long long)gv, (int)(2 * es),
                   (unsigned long long)wv);
        }
        bad++;
    }
    char name[160];
    snprintf(name, sizeof name, "%s: %lld values bit-identical to torch", what, (long long)n);
    CASE(name, bad == 0, "%d of %lld differ", bad, (long long)n);
    return bad;
}

static void test_from_f32(void) {
    if (!st_ok) return;
    int64_t n, m;
    const float *x = golden("input_f32", RL_F32, &n);
    if (!x) return;
    static const struct {
        const char *name;
        rl_dtype dt;
    } outs[] = {{"to_f16", RL_F16}, {"to_bf16", RL_BF16}, {"to_f8e4m3", RL_F8_E4M3}, {"to_f8e5m2", RL_F8_E5M2}};
    for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
        const void *want = golden(outs[k].name, outs[k].dt, &m);
        if (!want || m != n) continue;
        size_t es = rl_dtype_size(outs[k].dt);
        uint8_t *got = malloc((size_t)n * es);
        for (int64_t i = 0; i < n; i++) {
            switch (outs[k].dt) {
            case RL_F16: ((uint16_t *)got)[i] = rl_f32_to_f16(x[i]); break;
            case RL_BF16: ((uint16_t *)got)[i] = rl_f32_to_bf16(x[i]); break;
            case RL_F8_E4M3: got[i] = rl_f32_to_f8e4m3(x[i]); break;
            default: got[i] = rl_f32_to_f8e5m2(x[i]); break;
            }
        }
        char what[96];
        snprintf(what, sizeof what, "scalar f32 -> %s", rl_dtype_name(outs[k].dt));
        compare_bytes(what, got, want, x, 4, es, n);
        memset(got, 0, (size_t)n * es);
        rl_convert(got, outs[k].dt, x, RL_F32, (size_t)n);
        snprintf(what, sizeof what, "rl_convert f32 -> %s", rl_dtype_name(outs[k].dt));
        compare_bytes(what, got, want, x, 4, es, n);
        free(got);
    }
}

/* Casts between two narrow float types (torch goes through f32 as well). */
static void test_narrow_to_narrow(void) {
    if (!st_ok) return;
    static const struct {
        const char *src, *dst;
        rl_dtype st, dt;
    } c[] = {{"to_bf16", "bf16_to_f16", RL_BF16, RL_F16},
             {"to_f16", "f16_to_bf16", RL_F16, RL_BF16},
             {"to_bf16", "bf16_to_f8e4m3", RL_BF16, RL_F8_E4M3},
             {"to_f16", "f16_to_f8e5m2", RL_F16, RL_F8_E5M2}};
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        int64_t n, m;
        const void *src = golden(c[k].src, c[k].st, &n), *want = golden(c[k].dst, c[k].dt, &m);
        if (!src || !want || n != m) continue;
        size_t es = rl_dtype_size(c[k].dt);
        void *got = calloc((size_t)n, es);
        rl_convert(got, c[k].dt, src, c[k].st, (size_t)n);
        char what[96];
        snprintf(what, sizeof what, "rl_convert %s -> %s", rl_dtype_name(c[k].st), rl_dtype_name(c[k].dt));
        compare_bytes(what, got, want, src, rl_dtype_size(c[k].st), es, n);
        free(got);
    }
}

/* Every bit pattern of f16 and bf16 (positive half stored; torch is sign-symmetric,
 * which the golden script asserts), and of both f8 formats. */
static void test_to_f32_all_patterns(void) {
    if (!st_ok) return;
    int64_t n;
    uint32_t *want = malloc(65536 * 4), *got = malloc(65536 * 4), *conv = malloc(65536 * 4);
    uint16_t *pat = malloc(65536 * 2);
    for (uint32_t h = 0; h < 65536; h++) pat[h] = (uint16_t)h;
    const uint32_t *f16pos = golden("f16_pos_to_f32", RL_F32, &n);
    if (f16pos && n == 32768) {
        for (uint32_t h = 0; h < 65536; h++) {
            want[h] = h < 32768 ? f16pos[h] : f16pos[h - 32768] | 0x80000000u;
            got[h] = bits32(rl_f16_to_f32((uint16_t)h));
        }
        rl_convert(conv, RL_F32, pat, RL_F16, 65536);
        compare_bytes("scalar f16 -> f32 (all patterns)", got, want, pat, 2, 4, 65536);
        compare_bytes("rl_convert f16 -> f32 (all patterns)", conv, want, pat, 2, 4, 65536);
    }
    const uint16_t *bfhi = golden("bf16_pos_to_f32_hi", RL_BF16, &n);
    if (bfhi && n == 32768) {
        for (uint32_t h = 0; h < 65536; h++) {
            want[h] = (uint32_t)(h < 32768 ? bfhi[h] : bfhi[h - 32768] | 0x8000u) << 16;
            got[h] = bits32(rl_bf16_to_f32((uint16_t)h));
        }
        rl_convert(conv, RL_F32, pat, RL_BF16, 65536);
        compare_bytes("scalar bf16 -> f32 (all patterns)", got, want, pat, 2, 4, 65536);
        compare_bytes("rl_convert bf16 -> f32 (all patterns)", conv, want, pat, 2, 4, 65536);
    }
    uint8_t b8[256];
    for (int i = 0; i < 256; i++) b8[i] = (uint8_t)i;
    const void *w43 = golden("f8e4m3_to_f32", RL_F32, &n);
    if (w43 && n == 256) {
        for (int i = 0; i < 256; i++) got[i] = bits32(rl_f8e4m3_to_f32((uint8_t)i));
        compare_bytes("scalar f8_e4m3fn -> f32 (all patterns)", got, w43, b8, 1, 4, 256);
        rl_convert(conv, RL_F32, b8, RL_F8_E4M3, 256);
        compare_bytes("rl_convert f8_e4m3fn -> f32 (all patterns)", conv, w43, b8, 1, 4, 256);
    }
    const void *w52 = golden("f8e5m2_to_f32", RL_F32, &n);
    if (w52 && n == 256) {
        for (int i = 0; i < 256; i++) got[i] = bits32(rl_f8e5m2_to_f32((uint8_t)i));
        compare_bytes("scalar f8_e5m2 -> f32 (all patterns)", got, w52, b8, 1, 4, 256);
        rl_convert(conv, RL_F32, b8, RL_F8_E5M2, 256);
        compare_bytes("rl_convert f8_e5m2 -> f32 (all patterns)", conv, w52, b8, 1, 4, 256);
    }
    /* every f8 pattern cast to the other narrow types */
    static const struct {
        const char *name;
        rl_dtype st, dt;
    } c[] = {{"f8e4m3_all_to_bf16", RL_F8_E4M3, RL_BF16}, {"f8e4m3_all_to_f16", RL_F8_E4M3, RL_F16},
             {"f8e4m3_all_to_f8e5m2", RL_F8_E4M3, RL_F8_E5M2}, {"f8e5m2_all_to_bf16", RL_F8_E5M2, RL_BF16},
             {"f8e5m2_all_to_f16", RL_F8_E5M2, RL_F16}, {"f8e5m2_all_to_f8e4m3", RL_F8_E5M2, RL_F8_E4M3}};
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        const void *w = golden(c[k].name, c[k].dt, &n);
        if (!w || n != 256) continue;
        rl_convert(conv, c[k].dt, b8, c[k].st, 256);
        char what[96];
        snprintf(what, sizeof what, "rl_convert %s -> %s (all patterns)", rl_dtype_name(c[k].st), rl_dtype_name(c[k].dt));
        compare_bytes(what, conv, w, b8, 1, rl_dtype_size(c[k].dt), 256);
    }
    free(want), free(got), free(conv), free(pat);
}

static void test_int_conversions(void) {
    if (!st_ok) return;
    int64_t n, m;
    const float *xi = golden("int_input_f32", RL_F32, &n);
    const void *w32 = golden("int_to_i32", RL_I32, &m);
    if (xi && w32 && m == n) {
        int32_t *g = calloc((size_t)n, 4);
        rl_convert(g, RL_I32, xi, RL_F32, (size_t)n);
        compare_bytes("rl_convert f32 -> i32 (in range)", g, w32, xi, 4, 4, n);
        free(g);
    }
    const void *w64 = golden("int_to_i64", RL_I64, &m);
    if (xi && w64 && m == n) {
        int64_t *g = calloc((size_t)n, 8);
        rl_convert(g, RL_I64, xi, RL_F32, (size_t)n);
        compare_bytes("rl_convert f32 -> i64 (in range)", g, w64, xi, 4, 8, n);
        free(g);
    }
    const int64_t *iv = golden("i64_input", RL_I64, &n);
    static const struct {
        const char *name;
        rl_dtype dt;
    } outs[] = {{"i64_to_f32", RL_F32}, {"i64_to_bf16", RL_BF16}, {"i64_to_f16", RL_F16}};
    for (size_t k = 0; iv && k < sizeof outs / sizeof outs[0]; k++) {
        const void *want = golden(outs[k].name, outs[k].dt, &m);
        if (!want || m != n) continue;
        size_t es = rl_dtype_size(outs[k].dt);
        void *g = calloc((size_t)n, es);
        rl_convert(g, outs[k].dt, iv, RL_I64, (size_t)n);
        char what[64];
        snprintf(what, sizeof what, "rl_convert i64 -> %s", rl_dtype_name(outs[k].dt));
        compare_bytes(what, g, want, iv, 8, es, n);
        free(g);
    }
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/dtype.safetensors", RL_SOURCE_DIR);
    st_ok = rl_st_open(&st, path) == 0;
    CASE("open tests/golden/dtype.safetensors", st_ok, "%s", rl_error_message());
    RUN(test_from_f32);
    RUN(test_narrow_to_narrow);
    RUN(test_to_f32_all_patterns);
    RUN(test_int_conversions);
    if (st_ok) rl_st_close(&st);
    TL_EXIT();
}
