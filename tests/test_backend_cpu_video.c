/* test_backend_cpu_video.c: the video (VAE) ops of the CPU backend against naive
 * double-precision loops: rms_norm_channels, channel_affine, upsample_nearest2x,
 * clamp; plus their shape checks. Relative error = max|diff| / max|ref|. */
#include "testlib.h"

static rl_backend *be;

static rl_tensor make(float *d, int nd, int64_t a, int64_t b, int64_t c, int64_t e) {
    int64_t s[4] = {a, b, c, e};
    return rl_tensor_make(d, RL_F32, RL_DEVICE_CPU, nd, s);
}

static void test_rms_norm_channels(void) {
    /* shapes: small, one over the position-chunk size, and a single channel */
    const int64_t shapes[][4] = {{8, 3, 5, 7}, {96, 2, 19, 23}, {1, 1, 4, 4}};
    for (int si = 0; si < 3; si++) {
        int64_t C = shapes[si][0], N = shapes[si][1] * shapes[si][2] * shapes[si][3];
        float *x = malloc(sizeof(float) * C * N), *y = malloc(sizeof(float) * C * N), *g = malloc(sizeof(float) * C);
        double *ref = malloc(sizeof(double) * C * N);
        tl_seed(11 + si);
        tl_fill_randn(x, C * N, 2.0f);
        tl_fill_randn(g, C, 1.0f);
        for (int64_t j = 0; j < 3 && j < N; j++) /* an all-zero position: eps keeps it finite (0) */
            for (int64_t c = 0; c < C; c++) x[c * N + j * 2] = 0;
        for (int64_t p = 0; p < N; p++) {
            double ss = 0;
            for (int64_t c = 0; c < C; c++) ss += (double)x[c * N + p] * x[c * N + p];
            double d = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
            for (int64_t c = 0; c < C; c++) ref[c * N + p] = x[c * N + p] / d * sqrt((double)C) * g[c];
        }
        rl_tensor tx = make(x, 4, C, shapes[si][1], shapes[si][2], shapes[si][3]), ty = tx, tg = make(g, 1, C, 0, 0, 0);
        ty.data = y;
        EXPECT(be->rms_norm_channels(be, &ty, &tx, &tg, 1e-12f) == 0, "%s", rl_error_message());
        double e = tl_rel_err(y, ref, C * N);
        printf("  rms_norm_channels [%lld,%lld,%lld,%lld]: rel err %.2e\n", (long long)C, (long long)shapes[si][1],
               (long long)shapes[si][2], (long long)shapes[si][3], e);
        EXPECT(e < 1e-6, "rel err %g", e);
        /* in place gives the same answer */
        EXPECT(be->rms_norm_channels(be, &tx, &tx, &tg, 1e-12f) == 0, "%s", rl_error_message());
        EXPECT(memcmp(x, y, sizeof(float) * C * N) == 0, "in-place result differs");
        /* a gamma of the wrong length is refused, naming it */
        rl_tensor bad = make(g, 1, C + 1, 0, 0, 0);
        EXPECT(be->rms_norm_channels(be, &ty, &tx, &bad, 1e-12f) == -1 && strstr(rl_error_message(), "gamma"),
               "bad gamma accepted: %s", rl_error_message());
        free(x), free(y), free(g), free(ref);
    }
}

static void test_channel_affine(void) {
    int64_t C = 16, N = 3 * 5 * 6;
    float x[16 * 90], y[16 * 90], s[16], b[16];
    double ref[16 * 90];
    tl_seed(5);
    tl_fill_randn(x, C * N, 3.0f);
    tl_fill_randn(s, C, 1.0f);
    tl_fill_randn(b, C, 1.0f);
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < N; j++) ref[c * N + j] = (double)x[c * N + j] * s[c] + b[c];
    rl_tensor tx = make(x, 4, C, 3, 5, 6), ty = make(y, 4, C, 3, 5, 6), ts = make(s, 1, C, 0, 0, 0),
              tb = make(b, 1, C, 0, 0, 0);
    EXPECT(be->channel_affine(be, &ty, &tx, &ts, &tb) == 0, "%s", rl_error_message());
    double e = tl_rel_err(y, ref, C * N);
    printf("  channel_affine [16,3,5,6]: rel err %.2e\n", e);
    EXPECT(e < 1e-6, "rel err %g", e);
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < N; j++) ref[c * N + j] = (double)x[c * N + j] * s[c];
    EXPECT(be->channel_affine(be, &ty, &tx, &ts, NULL) == 0, "%s", rl_error_message());
    EXPECT(tl_rel_err(y, ref, C * N) < 1e-6, "no-shift rel err %g", tl_rel_err(y, ref, C * N));
    rl_tensor bad = make(s, 1, 15, 0, 0, 0);
    EXPECT(be->channel_affine(be, &ty, &tx, &bad, NULL) == -1 && strstr(rl_error_message(), "scale"),
           "short scale accepted");
}

static void test_upsample_nearest2x(void) {
    int64_t C = 3, T = 2, H = 5, W = 7;
    float x[3 * 2 * 5 * 7], y[3 * 2 * 10 * 14];
    double ref[3 * 2 * 10 * 14];
    tl_seed(9);
    tl_fill_randn(x, C * T * H * W, 1.0f);
    for (int64_t p = 0; p < C * T; p++)
        for (int64_t i = 0; i < 2 * H; i++)
            for (int64_t j = 0; j < 2 * W; j++) ref[(p * 2 * H + i) * 2 * W + j] = x[(p * H + i / 2) * W + j / 2];
    rl_tensor tx = make(x, 4, C, T, H, W), ty = make(y, 4, C, T, 2 * H, 2 * W);
    EXPECT(be->upsample_nearest2x(be, &ty, &tx) == 0, "%s", rl_error_message());
    EXPECT(tl_rel_err(y, ref, C * T * 4 * H * W) == 0, "not exact");
    rl_tensor bad = make(y, 4, C, T, 2 * H, W);
    EXPECT(be->upsample_nearest2x(be, &bad, &tx) == -1 && strstr(rl_error_message(), "doubled"),
           "wrong output shape accepted: %s", rl_error_message());
}

static void test_clamp(void) {
    float x[1000], y[1000];
    double ref[1000];
    tl_seed(3);
    tl_fill_randn(x, 1000, 2.0f);
    for (int i = 0; i < 1000; i++) ref[i] = x[i] < -1 ? -1 : (x[i] > 1 ? 1 : x[i]);
    rl_tensor tx = make(x, 1, 1000, 0, 0, 0), ty = make(y, 1, 1000, 0, 0, 0);
    EXPECT(be->clamp(be, &ty, &tx, -1.0f, 1.0f) == 0, "%s", rl_error_message());
    EXPECT(tl_rel_err(y, ref, 1000) == 0, "not exact");
    x[0] = NAN;
    EXPECT(be->clamp(be, &ty, &tx, -1.0f, 1.0f) == 0 && isnan(y[0]), "NaN was not kept");
    EXPECT(be->clamp(be, &ty, &tx, 1.0f, -1.0f) == -1, "empty bounds accepted");
}

int main(void) {
    be = rl_backend_cpu();
    RUN(test_rms_norm_channels);
    RUN(test_channel_affine);
    RUN(test_upsample_nearest2x);
    RUN(test_clamp);
    TL_EXIT();
}
