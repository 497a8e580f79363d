/* test_wan_vae.c: the Wan 2.1 VAE against diffusers' AutoencoderKLWan (golden files
 * from scripts/golden/make_wan_vae_golden.py: a base-width-4 model with the real
 * stage structure, random weights; the official vae.py agreed exactly when they
 * were made). Both directions and every checkpoint layout, the diffusers name map,
 * chunked memory that does not grow with the video length, tiled decode, the random
 * writer, and the errors for bad inputs of `eval vae-decode/encode`. */
#include "cli/commands.h"
#include "io/checkpoint.h"
#include "models/wan_vae.h"
#include "testlib.h"

#include <unistd.h>

#define GOLD RL_SOURCE_DIR "/tests/golden/wan_vae/"

static rl_backend *be;
static char tmpdir[256];

typedef struct {
    float *z_in, *video, *video_in, *z_enc; /* [16,3,4,6], [3,9,32,48], [3,9,32,48], [16,3,4,6] */
} golden_io;
static golden_io gio;

static float *read_f32(rl_safetensors *st, const char *name, int64_t numel) {
    const rl_st_tensor *t = rl_st_find(st, name);
    if (!t || (int64_t)(t->nbytes / rl_dtype_size(t->dtype)) != numel) return NULL;
    float *d = malloc(sizeof(float) * (size_t)numel);
    if (d && rl_st_read_as(st, t, RL_F32, d) != 0) free(d), d = NULL;
    return d;
}

static int load_golden(void) {
    rl_safetensors st;
    if (rl_st_open(&st, GOLD "io.safetensors") != 0) return -1;
    gio.z_in = read_f32(&st, "z_in", 16 * 3 * 4 * 6);
    gio.video = read_f32(&st, "video", 3 * 9 * 32 * 48);
    gio.video_in = read_f32(&st, "video_in", 3 * 9 * 32 * 48);
    gio.z_enc = read_f32(&st, "z_enc", 16 * 3 * 4 * 6);
    rl_st_close(&st);
    return gio.z_in && gio.video && gio.video_in && gio.z_enc ? 0 : -1;
}

static double decode_err(const char *path, const char *label) {
    rl_wan_vae v;
    float *out = calloc(3 * 9 * 32 * 48, sizeof(float));
    double e = INFINITY;
    if (wan_vae_load(&v, path, be, RL_VAE_DECODER) == 0) {
        if (wan_vae_decode(&v, gio.z_in, 3, 4, 6, out, NULL, NULL) == 0) e = tl_rel_err_f(out, gio.video, 3 * 9 * 32 * 48);
        wan_vae_free(&v);
    }
    EXPECT(isfinite(e), "%s: %s", label, rl_error_message());
    printf("  decode %-10s max rel err %.3e (limit 1e-4)\n", label, e);
    free(out);
    return e;
}

static double encode_err(const char *path, const char *label) {
    rl_wan_vae v;
    float *out = calloc(16 * 3 * 4 * 6, sizeof(float));
    double e = INFINITY;
    if (wan_vae_load(&v, path, be, RL_VAE_ENCODER) == 0) {
        if (wan_vae_encode(&v, gio.video_in, 9, 32, 48, out, NULL) == 0) e = tl_rel_err_f(out, gio.z_enc, 16 * 3 * 4 * 6);
        wan_vae_free(&v);
    }
    EXPECT(isfinite(e), "%s: %s", label, rl_error_message());
    printf("  encode %-10s max rel err %.3e (limit 1e-4)\n", label, e);
    free(out);
    return e;
}

/* Copies a safetensors file with every key under `prefix` (a ComfyUI-style container). */
static int write_prefixed(const char *src, const char *dst, const char *prefix) {
    rl_safetensors st;
    RL_TRY(rl_st_open(&st, src));
    rl_st_writer *w = rl_st_writer_new();
    int rc = 0;
    for (int i = 0; rc == 0 && i < st.n_tensors; i++) {
        char name[320];
        snprintf(name, sizeof name, "%s%s", prefix, st.tensors[i].name);
        rc = rl_st_writer_add(w, name, st.tensors[i].dtype, st.tensors[i].ndim, st.tensors[i].shape,
                              rl_st_data(&st, &st.tensors[i]));
    }
    if (rc == 0) rc = rl_st_writer_save(w, dst);
    rl_st_writer_free(w);
    rl_st_close(&st);
    return rc;
}

static void test_decode_golden(void) {
    EXPECT(decode_err(GOLD "tiny_official.safetensors", "official") <= 1e-4, "official decode");
    EXPECT(decode_err(GOLD "tiny_diffusers.safetensors", "diffusers") <= 1e-4, "diffusers decode");
    char p[300];
    snprintf(p, sizeof p, "%s/comfy.safetensors", tmpdir);
    EXPECT(write_prefixed(GOLD "tiny_official.safetensors", p, "first_stage_model.") == 0, "%s", rl_error_message());
    EXPECT(decode_err(p, "prefixed") <= 1e-4, "prefixed decode");
}

static void test_encode_golden(void) {
    EXPECT(encode_err(GOLD "tiny_official.safetensors", "official") <= 1e-4, "official encode");
    EXPECT(encode_err(GOLD "tiny_diffusers.safetensors", "diffusers") <= 1e-4, "diffusers encode");
}

/* Detection, and the diffusers map is a bijection between the two golden files. */
static void test_layouts(void) {
    rl_safetensors off, dif;
    rl_ckpt ck;
    EXPECT(rl_st_open(&off, GOLD "tiny_official.safetensors") == 0, "%s", rl_error_message());
    EXPECT(rl_st_open(&dif, GOLD "tiny_diffusers.safetensors") == 0, "%s", rl_error_message());
    EXPECT(rl_checkpoint_detect(&off, &ck) == 0 && ck.kind == RL_MODEL_WAN_VAE && ck.layout == RL_LAYOUT_OFFICIAL,
           "official file detected as %s / %s", rl_model_kind_name(ck.kind), rl_layout_name(ck.layout));
    EXPECT(rl_checkpoint_detect(&dif, &ck) == 0 && ck.kind == RL_MODEL_WAN_VAE && ck.layout == RL_LAYOUT_DIFFUSERS,
           "diffusers file detected as %s / %s", rl_model_kind_name(ck.kind), rl_layout_name(ck.layout));
    int mapped = 0;
    for (int i = 0; i < off.n_tensors; i++) {
        char name[256];
        const char *c = off.tensors[i].name;
        int ok = rl_wan_vae_name(RL_LAYOUT_DIFFUSERS, c, name, sizeof name) == 0 && rl_st_find(&dif, name);
        EXPECT(ok, "official '%s' has no diffusers twin (mapped to '%s')", c, name);
        mapped += ok;
    }
    EXPECT(mapped == dif.n_tensors, "%d of %d diffusers tensors reached", mapped, dif.n_tensors);
    char name[256];
    rl_wan_vae_name(RL_LAYOUT_DIFFUSERS, "decoder.upsamples.7.time_conv.weight", name, sizeof name);
    EXPECT(!strcmp(name, "decoder.up_blocks.1.upsamplers.0.time_conv.weight"), "got %s", name);
    rl_wan_vae_name(RL_LAYOUT_DIFFUSERS, "decoder.upsamples.4.shortcut.bias", name, sizeof name);
    EXPECT(!strcmp(name, "decoder.up_blocks.1.resnets.0.conv_shortcut.bias"), "got %s", name);
    EXPECT(rl_wan_vae_name(RL_LAYOUT_DIFFUSERS, "decoder.middle.3.residual.0.gamma", name, sizeof name) == -1,
           "middle.3 mapped to %s", name);
    rl_st_close(&off);
    rl_st_close(&dif);
}

/* Memory does not grow with the video: the activation arenas and caches are the
 * same for 3 and 6 latent frames (9 and 21 output frames). */
static void test_chunked_memory(void) {
    rl_wan_vae v;
    EXPECT(wan_vae_load(&v, GOLD "tiny_official.safetensors", be, RL_VAE_DECODER) == 0, "%s", rl_error_message());
    float *z = malloc(sizeof(float) * 16 * 6 * 4 * 6), *out = malloc(sizeof(float) * 3 * 21 * 32 * 48);
    tl_seed(77);
    tl_fill_randn(z, 16 * 6 * 4 * 6, 1.0f);
    rl_vae_stats s2, s6;
    EXPECT(wan_vae_decode(&v, z, 3, 4, 6, out, NULL, &s2) == 0, "%s", rl_error_message());
    EXPECT(wan_vae_decode(&v, z, 6, 4, 6, out, NULL, &s6) == 0, "%s", rl_error_message());
    printf("  activations %zu / %zu bytes, caches %zu / %zu bytes for T = 3 / 6\n", s2.act_peak, s6.act_peak,
           s2.cache_bytes, s6.cache_bytes);
    EXPECT(s2.act_peak == s6.act_peak && s2.cache_bytes == s6.cache_bytes && s6.act_peak > 0, "memory grew with T");
    rl_vae_stats plan;
    EXPECT(wan_vae_decode_plan(&v, 6, 4, 6, NULL, &plan) == 0, "%s", rl_error_message());
    EXPECT(plan.act_peak == s6.act_peak && plan.cache_bytes == s6.cache_bytes && plan.fixed_bytes == s6.fixed_bytes,
           "plan %zu/%zu/%zu differs from the decode's %zu/%zu/%zu", plan.act_peak, plan.cache_bytes, plan.fixed_bytes,
           s6.act_peak, s6.cache_bytes, s6.fixed_bytes);
    int in_range = 1;
    for (int i = 0; i < 3 * 21 * 32 * 48; i++) in_range &= out[i] >= -1.0f && out[i] <= 1.0f;
    EXPECT(in_range, "decoded values outside [-1, 1]");
    /* a single latent frame decodes to a single frame */
    EXPECT(wan_vae_decode(&v, z, 1, 4, 6, out, NULL, NULL) == 0, "%s", rl_error_message());
    free(z), free(out);
    wan_vae_free(&v);
}

static double mean_abs_diff(const float *a, const float *b, int64_t n, double *maxd) {
    double sum = 0;
    *maxd = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        *maxd = d > *maxd ? d : *maxd;
        sum += d;
    }
    return sum / (double)n;
}

/* Tiled decode: one tile covering everything is the untiled decode bit for bit;
 * real tiles need less memory and stay close, closer with a wider overlap (the
 * random tiny model's global per-frame attention makes any tiling inexact; the
 * figures are in docs/vae.md). */
static void test_tiled_decode(void) {
    rl_wan_vae v;
    EXPECT(wan_vae_load(&v, GOLD "tiny_official.safetensors", be, RL_VAE_DECODER) == 0, "%s", rl_error_message());
    const int64_t T = 2, h = 24, w = 20, n = 3 * 5 * 8 * h * 8 * w;
    float *z = malloc(sizeof(float) * 16 * T * h * w), *ref = malloc(sizeof(float) * n), *til = malloc(sizeof(float) * n);
    tl_seed(5);
    tl_fill_randn(z, 16 * T * h * w, 1.0f);
    rl_vae_tiling whole = {32, 8}, narrow = {14, 2}, wide = {14, 6};
    rl_vae_stats st, su;
    EXPECT(wan_vae_decode(&v, z, T, h, w, ref, NULL, &su) == 0, "%s", rl_error_message());
    EXPECT(wan_vae_decode(&v, z, T, h, w, til, &whole, NULL) == 0, "%s", rl_error_message());
    EXPECT(memcmp(ref, til, sizeof(float) * n) == 0, "a tile covering everything differs from untiled");
    double max_n, max_w, mean_n, mean_w;
    EXPECT(wan_vae_decode(&v, z, T, h, w, til, &narrow, NULL) == 0, "%s", rl_error_message());
    mean_n = mean_abs_diff(til, ref, n, &max_n);
    EXPECT(wan_vae_decode(&v, z, T, h, w, til, &wide, &st) == 0, "%s", rl_error_message());
    mean_w = mean_abs_diff(til, ref, n, &max_w);
    int in_range = 1;
    for (int64_t i = 0; i < n; i++) in_range &= til[i] >= -1.0f && til[i] <= 1.0f;
    printf("  tiled %dx%d latents, tile 14: %d tiles; overlap 2: max abs diff %.3g, mean %.3g; overlap 6: max %.3g, "
           "mean %.3g; activations %zu vs %zu bytes untiled\n", (int)h, (int)w, st.tiles, max_n, mean_n, max_w, mean_w,
           st.act_peak, su.act_peak);
    EXPECT(st.tiles == 6, "%d tiles (expected 3 rows x 2 columns)", st.tiles);
    rl_vae_stats plan;
    EXPECT(wan_vae_decode_plan(&v, T, h, w, &wide, &plan) == 0 && plan.tiles == 6 && plan.act_peak == st.act_peak,
           "tiled plan: %d tiles, %zu bytes vs %zu", plan.tiles, plan.act_peak, st.act_peak);
    EXPECT(in_range, "blended values outside [-1, 1]");
    EXPECT(st.act_peak < su.act_peak, "tiling did not reduce the activation memory");
    EXPECT(mean_w < mean_n && max_w < max_n, "a wider overlap did not reduce the seam error");
    EXPECT(mean_w < 0.03, "tiled decode too far from untiled: mean abs diff %g", mean_w);
    free(z), free(ref), free(til);
    wan_vae_free(&v);
}

static void test_write_random(void) {
    char p[300], desc[256];
    snprintf(p, sizeof p, "%s/random.safetensors", tmpdir);
    EXPECT(wan_vae_write_random(p, 6, 42) == 0, "%s", rl_error_message());
    rl_wan_vae v;
    EXPECT(wan_vae_load(&v, p, be, RL_VAE_DECODER | RL_VAE_ENCODER) == 0, "%s", rl_error_message());
    wan_vae_describe(&v, desc, sizeof desc);
    printf("  %s\n", desc);
    EXPECT(v.dim == 6 && v.n_stages == 4 && v.dim_mult[0] == 1 && v.dim_mult[1] == 2 && v.dim_mult[2] == 4 &&
           v.dim_mult[3] == 4, "detected %s", desc);
    float z[16 * 2 * 2 * 2], video[3 * 5 * 16 * 16], z2[16 * 2 * 2 * 2];
    tl_seed(1);
    tl_fill_randn(z, 16 * 8, 1.0f);
    EXPECT(wan_vae_decode(&v, z, 2, 2, 2, video, NULL, NULL) == 0, "%s", rl_error_message());
    EXPECT(wan_vae_encode(&v, video, 5, 16, 16, z2, NULL) == 0, "%s", rl_error_message());
    int finite = 1, spread = 0;
    for (int i = 0; i < 3 * 5 * 256; i++) finite &= isfinite(video[i]), spread += fabsf(video[i]) > 0.01f;
    for (int i = 0; i < 16 * 8; i++) finite &= isfinite(z2[i]);
    EXPECT(finite && spread > 100, "random model output degenerate (%d values away from 0)", spread);
    wan_vae_free(&v);
    EXPECT(wan_vae_write_random(p, 3, 1) == -1, "odd base width accepted");
}

/* Copies the official golden file with tensor `victim` given another shape (or dropped when shape is NULL). */
static int write_damaged(const char *dst, const char *victim, int nd, const int64_t *shape) {
    rl_safetensors st;
    RL_TRY(rl_st_open(&st, GOLD "tiny_official.safetensors"));
    rl_st_writer *w = rl_st_writer_new();
    int rc = 0;
    float zeros[4096] = {0};
    for (int i = 0; rc == 0 && i < st.n_tensors; i++) {
        const rl_st_tensor *t = &st.tensors[i];
        if (strcmp(t->name, victim)) rc = rl_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, rl_st_data(&st, t));
        else if (shape) rc = rl_st_writer_add(w, t->name, RL_F32, nd, shape, zeros);
    }
    if (rc == 0) rc = rl_st_writer_save(w, dst);
    rl_st_writer_free(w);
    rl_st_close(&st);
    return rc;
}

static void test_not_a_vae(void) {
    rl_wan_vae v;
    EXPECT(wan_vae_load(&v, GOLD "io.safetensors", be, RL_VAE_DECODER) == -1, "io file loaded as a VAE");
    EXPECT(strstr(rl_error_message(), "io.safetensors") != NULL, "error does not name the file: %s", rl_error_message());
    printf("  %s\n", rl_error_message());
    /* a tensor of the wrong width, and a missing one, are named */
    char p[300];
    int64_t bad[5] = {3, 5, 3, 3, 3};
    snprintf(p, sizeof p, "%s/damaged.safetensors", tmpdir);
    EXPECT(write_damaged(p, "decoder.head.2.weight", 5, bad) == 0, "%s", rl_error_message());
    EXPECT(wan_vae_load(&v, p, be, RL_VAE_DECODER) == -1 && strstr(rl_error_message(), "decoder.head.2.weight"),
           "a head of the wrong width was not named: %s", rl_error_message());
    printf("  %s\n", rl_error_message());
    EXPECT(write_damaged(p, "decoder.upsamples.7.time_conv.bias", 0, NULL) == 0, "%s", rl_error_message());
    EXPECT(wan_vae_load(&v, p, be, RL_VAE_DECODER) == -1 &&
           strstr(rl_error_message(), "decoder.upsamples.7.time_conv.bias"),
           "a missing tensor was not named: %s", rl_error_message());
    printf("  %s\n", rl_error_message());
    /* without its time conv the second upsampler is 2-D: one temporal resample too few */
    EXPECT(write_damaged(p, "decoder.upsamples.7.time_conv.weight", 0, NULL) == 0, "%s", rl_error_message());
    EXPECT(wan_vae_load(&v, p, be, RL_VAE_DECODER) == -1 && strstr(rl_error_message(), "in time"),
           "a VAE with one temporal upsampler was accepted: %s", rl_error_message());
    printf("  %s\n", rl_error_message());
    /* a backend without one of the VAE's ops is refused by name, before anything runs */
    rl_backend partial = *be;
    partial.upsample_nearest2x = NULL;
    EXPECT(wan_vae_load(&v, GOLD "tiny_official.safetensors", &partial, RL_VAE_DECODER) == -1 &&
           strstr(rl_error_message(), "upsample_nearest2x"), "missing op not named: %s", rl_error_message());
    /* the encoder alone loads from the damaged file when only the encoder is asked for */
    EXPECT(wan_vae_load(&v, p, be, RL_VAE_ENCODER) == 0, "%s", rl_error_message());
    wan_vae_free(&v);
}

/* ---------------------------------------------------------------- CLI inputs */

static int write_tensor(const char *path, const char *name, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t s[4] = {a, b, c, d};
    float *x = calloc((size_t)(a * b * c * d), sizeof(float));
    rl_st_writer *w = rl_st_writer_new();
    int rc = rl_st_writer_add(w, name, RL_F32, 4, s, x);
    if (rc == 0) rc = rl_st_writer_save(w, path);
    rl_st_writer_free(w);
    free(x);
    return rc;
}

/* Runs an eval target; returns its status and leaves the error in rl_error_message. */
static int run_eval(int (*fn)(int, char **), const char *in, const char *out) {
    char *argv[] = {"--weights", GOLD "tiny_official.safetensors", "--inputs", (char *)in, "--out", (char *)out};
    rl_error_clear();
    return fn(6, argv);
}

static void expect_error(int (*fn)(int, char **), const char *what, const char *in, const char *need1,
                         const char *need2) {
    char out[300];
    snprintf(out, sizeof out, "%s/out.safetensors", tmpdir);
    int rc = run_eval(fn, in, out);
    const char *m = rl_error_message();
    int ok = rc == -1 && strstr(m, in) && strstr(m, need1) && (!need2 || strstr(m, need2));
    CASE(what, ok, "rc %d, error '%s'", rc, m);
    if (ok) printf("  %s\n", m);
}

static void test_cli(void) {
    char in[300], out[300];
    snprintf(in, sizeof in, "%s/z_bad.safetensors", tmpdir);
    write_tensor(in, "z", 8, 2, 4, 4);
    expect_error(eval_vae_decode, "decode rejects 8 latent channels", in, "'z'", "16");
    snprintf(in, sizeof in, "%s/v_frames.safetensors", tmpdir);
    write_tensor(in, "video", 3, 8, 16, 16);
    expect_error(eval_vae_encode, "encode rejects 8 frames", in, "'video'", "4k+1");
    snprintf(in, sizeof in, "%s/v_size.safetensors", tmpdir);
    write_tensor(in, "video", 3, 5, 20, 16);
    expect_error(eval_vae_encode, "encode rejects height 20", in, "'video'", "multiples of 8");
    snprintf(in, sizeof in, "%s/wrong_name.safetensors", tmpdir);
    write_tensor(in, "latents", 16, 2, 4, 4);
    expect_error(eval_vae_decode, "decode names the missing tensor", in, "'z'", "missing");
    /* and a good run through the CLI writes 'video' [3, 5, 32, 32] */
    snprintf(in, sizeof in, "%s/z_ok.safetensors", tmpdir);
    snprintf(out, sizeof out, "%s/video.safetensors", tmpdir);
    write_tensor(in, "z", 16, 2, 4, 4);
    int rc = run_eval(eval_vae_decode, in, out);
    rl_safetensors st;
    const rl_st_tensor *t = NULL;
    if (rc == 0 && rl_st_open(&st, out) == 0) {
        t = rl_st_find(&st, "video");
        CASE("decode writes video [3,5,32,32]", t && t->ndim == 4 && t->shape[0] == 3 && t->shape[1] == 5 &&
             t->shape[2] == 32 && t->shape[3] == 32 && t->dtype == RL_F32, "tensor %s", t ? "has the wrong shape" : "missing");
        rl_st_close(&st);
    } else {
        CASE("decode writes video [3,5,32,32]", 0, "%s", rl_error_message());
    }
}

/* Helpers for tests/vae_cli_test.sh:
 *   --write-inputs DIR      DIR/z.safetensors ('z' = golden z_in), DIR/video.safetensors ('video' = video_in)
 *   --compare FILE NAME REF tensor NAME of FILE against golden REF (video or z_enc): max rel err <= 1e-4 */
static int write_one(const char *dir, const char *file, const char *name, const float *d, int64_t a, int64_t b,
                     int64_t c, int64_t e) {
    char p[512];
    int64_t s[4] = {a, b, c, e};
    snprintf(p, sizeof p, "%s/%s", dir, file);
    rl_st_writer *w = rl_st_writer_new();
    int rc = rl_st_writer_add(w, name, RL_F32, 4, s, d);
    if (rc == 0) rc = rl_st_writer_save(w, p);
    rl_st_writer_free(w);
    return rc;
}

static int helper_main(int argc, char **argv) {
    if (load_golden() != 0) return printf("cannot read the golden file: %s\n", rl_error_message()), 1;
    if (argc == 3 && !strcmp(argv[1], "--write-inputs")) {
        int rc = write_one(argv[2], "z.safetensors", "z", gio.z_in, 16, 3, 4, 6);
        if (rc == 0) rc = write_one(argv[2], "video.safetensors", "video", gio.video_in, 3, 9, 32, 48);
        if (rc) printf("%s\n", rl_error_message());
        return rc ? 1 : 0;
    }
    if (argc == 5 && !strcmp(argv[1], "--compare")) {
        int vid = !strcmp(argv[4], "video");
        int64_t n = vid ? 3 * 9 * 32 * 48 : 16 * 3 * 4 * 6;
        rl_safetensors st;
        if (rl_st_open(&st, argv[2]) != 0) return printf("%s\n", rl_error_message()), 1;
        float *got = read_f32(&st, argv[3], n);
        rl_st_close(&st);
        if (!got) return printf("%s: no tensor '%s' of %lld values\n", argv[2], argv[3], (long long)n), 1;
        double e = tl_rel_err_f(got, vid ? gio.video : gio.z_enc, n);
        printf("max rel err %.3e (limit 1e-4)\n", e);
        free(got);
        return e <= 1e-4 ? 0 : 1;
    }
    printf("usage: test_wan_vae [--write-inputs DIR | --compare FILE NAME video|z_enc]\n");
    return 1;
}

int main(int argc, char **argv) {
    be = rl_backend_cpu();
    if (argc > 1) return helper_main(argc, argv);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rl_test_wan_vae.XXXXXX");
    if (!mkdtemp(tmpdir) || load_golden() != 0) {
        printf("FAIL: setup: %s\n", rl_error_message());
        return 1;
    }
    RUN(test_decode_golden);
    RUN(test_encode_golden);
    RUN(test_layouts);
    RUN(test_chunked_memory);
    RUN(test_tiled_decode);
    RUN(test_write_random);
    RUN(test_not_a_vae);
    RUN(test_cli);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("  could not remove %s\n", tmpdir);
    free(gio.z_in), free(gio.video), free(gio.video_in), free(gio.z_enc);
    TL_EXIT();
}
