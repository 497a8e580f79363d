/* test_noise.c: rl_randn_torch against torch.randn on the CPU, bit for bit.
 *
 * tests/golden/noise.safetensors (scripts/golden/make_sampler_golden.py) holds
 * torch.randn(n, generator=torch.manual_seed(seed)) for several seeds (64-bit
 * ones included) and sizes covering the scalar double path (n < 16), one exact
 * 16-block, tails (n % 16 != 0) and a latent-shaped [1,16,2,8,8] draw. Each
 * tensor is compared bitwise (mismatch count) and by relative error. Also:
 * the mt19937 stream, seed low-32-bit folding, seed parsing, bad arguments.
 *
 * `test_noise --compare FILE NAME` is the helper of tests/noise_cli_test.sh: it
 * checks that tensor `noise` of FILE (written by `raylight-gen eval noise`) has
 * the bits (and, unless NAME is flat, the shape) of golden tensor NAME; exit 0
 * when it does. */
#include "io/safetensors.h"
#include "sampler/noise.h"
#include "testlib.h"

#include <stdlib.h>

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

static rl_safetensors st;

/* "noise.s<seed>.n<n>" or "noise.s<seed>.latent" -> seed */
static int parse_seed(const char *name, uint64_t *seed)
{
    if (strncmp(name, "noise.s", 7) != 0) return -1;
    char *end = NULL;
    *seed = strtoull(name + 7, &end, 10);
    return (end && *end == '.') ? 0 : -1;
}

static void test_golden_noise(void)
{
    int tensors = 0;
    int64_t total = 0, total_bad = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const rl_st_tensor *t = &st.tensors[i];
        uint64_t seed;
        if (parse_seed(t->name, &seed) != 0) continue;
        EXPECT(t->dtype == RL_F32, "%s is not f32", t->name);
        if (t->dtype != RL_F32) continue;
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
        const float *want = rl_st_data(&st, t);
        float *got = malloc(sizeof(float) * (size_t)n);
        EXPECT(rl_randn_torch(got, n, seed) == 0, "%s: %s", t->name, rl_error_message());
        int64_t bad = 0;
        for (int64_t k = 0; k < n; k++) {
            uint32_t a, b;
            memcpy(&a, &got[k], 4);
            memcpy(&b, &want[k], 4);
            if (a != b) {
                if (bad < 3)
                    printf("  %s[%lld]: got %.9g (0x%08x), torch %.9g (0x%08x)\n", t->name,
                           (long long)k, got[k], a, want[k], b);
                bad++;
            }
        }
        double rel = tl_rel_err_f(got, want, (size_t)n);
        char label[200];
        snprintf(label, sizeof label, "noise %s: %lld values bit-identical to torch (rel err %.2g)",
                 t->name, (long long)n, rel);
        CASE(label, bad == 0 && rel <= 1e-6, "%lld of %lld differ, rel err %.3g", (long long)bad,
             (long long)n, rel);
        total += n;
        total_bad += bad;
        tensors++;
        free(got);
    }
    EXPECT(tensors >= 35, "only %d noise tensors in the golden file", tensors);
    printf("  noise golden: %d tensors, %lld values, %lld mismatching\n", tensors, (long long)total,
           (long long)total_bad);
}

/* torch.manual_seed(0): random() = 2357136044, 2546248239, 3071714933, 3626093760 (std::mt19937) */
static void test_mt19937_stream(void)
{
    rl_mt19937 g;
    rl_mt19937_seed(&g, 0);
    const uint32_t want[4] = {2357136044u, 2546248239u, 3071714933u, 3626093760u};
    for (int i = 0; i < 4; i++) {
        uint32_t r = rl_mt19937_next(&g);
        EXPECT(r == want[i], "draw %d: %u, want %u", i, r, want[i]);
    }
    /* std::mt19937(5489) 10000th output is 4123659995 (C++11 [rand.predef]) */
    rl_mt19937_seed(&g, 5489);
    uint32_t r = 0;
    for (int i = 0; i < 10000; i++) r = rl_mt19937_next(&g);
    EXPECT(r == 4123659995u, "10000th output %u", r);
}

static void test_seed_low_bits(void)
{
    float a[40], b[40], c[5], d[5];
    EXPECT(rl_randn_torch(a, 40, 5) == 0, "%s", rl_error_message());
    EXPECT(rl_randn_torch(b, 40, (1ull << 32) + 5) == 0, "%s", rl_error_message());
    EXPECT(memcmp(a, b, sizeof a) == 0, "seed 2^32+5 differs from 5");
    EXPECT(rl_randn_torch(c, 5, UINT64_MAX) == 0, "%s", rl_error_message());
    EXPECT(rl_randn_torch(d, 5, 0xffffffffull) == 0, "%s", rl_error_message());
    EXPECT(memcmp(c, d, sizeof c) == 0, "seed 2^64-1 differs from 2^32-1");
    /* torch's tail recompute: randn(17)[0] equals randn(16)[0], elements 1..16
     * are redrawn from 16 fresh uniforms */
    float e[17], f[16];
    rl_randn_torch(e, 17, 0);
    rl_randn_torch(f, 16, 0);
    EXPECT(e[0] == f[0] && e[1] != f[1], "randn(17) tail recompute not reproduced");
}

static void test_bad_args(void)
{
    float x[1];
    EXPECT(rl_randn_torch(x, -1, 0) == -1, "negative n accepted");
    EXPECT(strstr(rl_error_message(), "negative") != NULL, "message: %s", rl_error_message());
    EXPECT(rl_randn_torch(NULL, 4, 0) == -1, "NULL output accepted");
    EXPECT(rl_randn_torch(NULL, 0, 0) == 0, "n = 0 must be a no-op");
}

static void test_seed_parse(void)
{
    uint64_t s = 0;
    int rnd = -1;
    EXPECT(rl_seed_parse("42", &s, &rnd) == 0 && s == 42 && rnd == 0, "42 -> %llu", (unsigned long long)s);
    EXPECT(rl_seed_parse("18446744073709551615", &s, &rnd) == 0 && s == UINT64_MAX, "2^64-1");
    EXPECT(rl_seed_parse("18446744073709551616", &s, &rnd) == -1, "2^64 accepted");
    EXPECT(rl_seed_parse("-2", &s, &rnd) == 0 && s == UINT64_MAX - 1, "-2 -> two's complement");
    EXPECT(rl_seed_parse("-1", &s, &rnd) == 0 && rnd == 1 && s <= 0xffffffffull, "-1 -> random");
    EXPECT(rl_seed_parse("12x", &s, &rnd) == -1, "12x accepted");
    EXPECT(strstr(rl_error_message(), "--seed") != NULL, "message: %s", rl_error_message());
    EXPECT(rl_seed_parse("", &s, &rnd) == -1, "empty accepted");
    EXPECT(rl_seed_parse("-", &s, &rnd) == -1, "'-' accepted");
    /* two random seeds in a row are very unlikely to agree */
    uint64_t r1 = rl_seed_random(), r2 = rl_seed_random();
    EXPECT(r1 <= 0xffffffffull && r2 <= 0xffffffffull && r1 != r2, "random seeds %llu %llu",
           (unsigned long long)r1, (unsigned long long)r2);
}

/* 832x480x81 latent: speed and agreement of a large draw with the flat path */
static void test_large_draw(void)
{
    int64_t n = 16LL * 21 * 60 * 104;
    float *x = malloc(sizeof(float) * (size_t)n);
    double t0 = rl_time_now();
    EXPECT(rl_randn_torch(x, n, 123) == 0, "%s", rl_error_message());
    double dt = rl_time_now() - t0;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i], sq += (double)x[i] * x[i];
    double mean = sum / n, var = sq / n - mean * mean;
    printf("  randn of %lld values: %.3f s, mean %.5f, var %.5f\n", (long long)n, dt, mean, var);
    EXPECT(fabs(mean) < 0.005 && fabs(var - 1.0) < 0.005, "moments off: mean %g var %g", mean, var);
    free(x);
}

static int compare_file(const char *file, const char *name)
{
    rl_safetensors out;
    if (rl_st_open(&out, file) != 0) {
        printf("%s\n", rl_error_message());
        return 1;
    }
    const rl_st_tensor *a = rl_st_find(&out, "noise"), *b = rl_st_find(&st, name);
    /* same shape when the ranks agree; a flat golden also stands for any shape
     * of its numel (randn fills in flat order) */
    int ok = a && b && a->dtype == RL_F32 && b->dtype == RL_F32 && a->nbytes == b->nbytes &&
             (b->ndim == 1 || (a->ndim == b->ndim &&
                               memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0));
    if (!ok) printf("%s: no f32 tensor 'noise' shaped like golden %s\n", file, name);
    int64_t bad = 0;
    if (ok) {
        const uint8_t *x = rl_st_data(&out, a), *y = rl_st_data(&st, b);
        for (uint64_t k = 0; k < a->nbytes; k += 4) bad += memcmp(x + k, y + k, 4) != 0;
        if (bad) printf("%s: %lld of %llu values differ from golden %s\n", file, (long long)bad,
                        (unsigned long long)(a->nbytes / 4), name);
    }
    rl_st_close(&out);
    return ok && bad == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/noise.safetensors", RL_SOURCE_DIR);
    if (rl_st_open(&st, path) != 0) {
        printf("FAIL: open %s: %s\n", path, rl_error_message());
        return 1;
    }
    if (argc == 4 && strcmp(argv[1], "--compare") == 0) {
        int rc = compare_file(argv[2], argv[3]);
        rl_st_close(&st);
        return rc;
    }
    RUN(test_golden_noise);
    RUN(test_mt19937_stream);
    RUN(test_seed_low_bits);
    RUN(test_bad_args);
    RUN(test_seed_parse);
    RUN(test_large_draw);
    rl_st_close(&st);
    TL_EXIT();
}
