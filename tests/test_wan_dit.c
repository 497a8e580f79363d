/* test_wan_dit.c: the Wan 2.1 DiT against diffusers' WanTransformer3DModel (fp32)
 * on golden files from scripts/golden/make_wan_dit_golden.py, in every checkpoint
 * layout and storage dtype; layout detection, the diffusers name table, and the
 * errors for bad files and inputs.
 *
 * Also a checker for tests/eval_dit_test.sh:
 *   test_wan_dit --compare OUT.safetensors IO.safetensors
 * prints the relative error of OUT's y against IO's y_ref; exit 0 when <= 1e-4. */
#include "cli/commands.h"
#include "io/weights.h"
#include "models/wan_dit.h"
#include "testlib.h"

#include <unistd.h>

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif
#define TOL 1e-4

static const char *const cases[] = {"official_f32", "comfy_bf16", "comfy_fp8_scaled", "diffusers_f16",
                                    "official_d128_fp8"};

static void golden_path(char *buf, size_t n, const char *name, const char *suffix) {
    snprintf(buf, n, "%s/tests/golden/wan_dit/%s%s", RL_SOURCE_DIR, name, suffix);
}

/* Reads an f32 tensor of a file into malloc'd memory (shape into *t). */
static float *read_f32(const char *path, const char *name, rl_tensor *t) {
    rl_safetensors st;
    if (rl_st_open(&st, path) != 0) return NULL;
    const rl_st_tensor *s = rl_st_find(&st, name);
    float *buf = NULL;
    if (s) {
        *t = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, s->ndim, s->shape);
        buf = malloc((size_t)rl_tensor_numel(t) * sizeof(float) + 4);
        if (buf && rl_st_read_as(&st, s, RL_F32, buf) != 0) {
            free(buf);
            buf = NULL;
        }
        t->data = buf;
    }
    rl_st_close(&st);
    return buf;
}

static double compare_files(const char *out, const char *io) {
    rl_tensor y, r;
    float *a = read_f32(out, "y", &y), *b = read_f32(io, "y_ref", &r);
    double e = INFINITY;
    if (a && b && rl_tensor_same_shape(&y, &r)) e = tl_rel_err_f(a, b, (size_t)rl_tensor_numel(&r));
    free(a);
    free(b);
    return e;
}

/* Runs the model of case `name` on its golden inputs (the eval dit path minus files). */
static double run_case(const char *name, rl_wan_dit *keep_cfg, size_t *peak, size_t *bound) {
    char wpath[512], iopath[512];
    golden_path(wpath, sizeof wpath, name, ".safetensors");
    golden_path(iopath, sizeof iopath, name, ".io.safetensors");
    rl_tensor x, t, ctx, yr;
    float *xd = read_f32(iopath, "x", &x), *td = read_f32(iopath, "t", &t), *cd = read_f32(iopath, "context", &ctx);
    float *rd = read_f32(iopath, "y_ref", &yr);
    double err = INFINITY;
    rl_wan_dit m;
    if (xd && td && cd && rd && wan_dit_load(&m, wpath, rl_backend_cpu()) == 0) {
        float *yd = malloc(rl_tensor_nbytes(&yr));
        rl_tensor y = rl_tensor_make(yd, RL_F32, RL_DEVICE_CPU, 4, yr.shape);
        if (wan_dit_forward(&m, &y, &x, td[0], &ctx) == 0) err = tl_rel_err_f(yd, rd, (size_t)rl_tensor_numel(&yr));
        else printf("  %s: %s\n", name, rl_error_message());
        if (keep_cfg) keep_cfg->cfg = m.cfg;
        if (peak) *peak = m.peak_activation_bytes;
        if (bound) *bound = wan_dit_activation_bytes(&m.cfg, rl_tensor_numel(&x) / x.shape[0] / 4,
                                                     rl_tensor_numel(&x) / x.shape[0] / 4);
        free(yd);
        wan_dit_free(&m);
    } else {
        printf("  %s: %s\n", name, rl_error_message());
    }
    free(xd);
    free(td);
    free(cd);
    free(rd);
    return err;
}

static void test_golden_cases(void) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t peak = 0, bound = 0;
        double e = run_case(cases[i], NULL, &peak, &bound);
        char name[128];
        snprintf(name, sizeof name, "wan dit %s vs diffusers: rel err %.2e (tol %.0e)", cases[i], e, TOL);
        CASE(name, e <= TOL, "relative error %.3e", e);
        EXPECT(peak > 0 && peak <= bound, "%s: arena peak %zu within the computed bound %zu", cases[i], peak, bound);
    }
}

typedef struct {
    const char *file;
    rl_layout layout;
    const char *prefix;
    int scaled;
    rl_dtype dtype;
    int64_t dim, heads, head_dim, layers;
} layout_expect;

static void test_layout_detection(void) {
    static const layout_expect ex[] = {
        {"official_f32", RL_LAYOUT_OFFICIAL, "", 0, RL_F32, 64, 2, 32, 2},
        {"comfy_bf16", RL_LAYOUT_COMFYUI, "model.diffusion_model.", 0, RL_BF16, 64, 2, 32, 2},
        /* bf16 is the bulk here: in this tiny model the 16-bit non-block tensors outweigh the fp8 blocks */
        {"comfy_fp8_scaled", RL_LAYOUT_COMFYUI, "model.diffusion_model.", 1, RL_BF16, 64, 2, 32, 2},
        {"diffusers_f16", RL_LAYOUT_DIFFUSERS, "", 0, RL_F16, 64, 2, 32, 2},
        {"official_d128_fp8", RL_LAYOUT_OFFICIAL, "", 0, RL_F8_E4M3, 128, 1, 128, 1},
    };
    for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
        char path[512];
        golden_path(path, sizeof path, ex[i].file, ".safetensors");
        rl_weights w;
        if (rl_weights_open(&w, path, rl_backend_cpu(), RL_MODEL_WAN_DIT) != 0) {
            EXPECT(0, "%s opens: %s", ex[i].file, rl_error_message());
            continue;
        }
        rl_wan_dit_config c;
        int rc = wan_dit_detect_config(&w, &c);
        EXPECT(rc == 0, "%s: config: %s", ex[i].file, rl_error_message());
        printf("  %s: %s layout, prefix '%s', %s%s\n", ex[i].file, rl_layout_name(w.ck.layout), w.ck.prefix,
               rl_dtype_name(w.ck.weight_dtype), w.ck.scaled_fp8 ? ", scaled fp8" : "");
        EXPECT(w.ck.layout == ex[i].layout, "%s layout %s", ex[i].file, rl_layout_name(w.ck.layout));
        EXPECT(!strcmp(w.ck.prefix, ex[i].prefix), "%s prefix '%s'", ex[i].file, w.ck.prefix);
        EXPECT(w.ck.scaled_fp8 == ex[i].scaled, "%s scaled_fp8 %d", ex[i].file, w.ck.scaled_fp8);
        EXPECT(w.ck.weight_dtype == ex[i].dtype, "%s bulk dtype %s", ex[i].file, rl_dtype_name(w.ck.weight_dtype));
        EXPECT(rc != 0 || (c.dim == ex[i].dim && c.num_heads == ex[i].heads && c.head_dim == ex[i].head_dim &&
                           c.num_layers == ex[i].layers && c.ffn_dim == 32 && c.text_dim == 16 &&
                           c.freq_dim == 16 && c.in_dim == 16 && c.out_dim == 16 && c.text_len == 512 && !c.i2v),
               "%s config dim %lld heads %lld layers %lld ffn %lld text %lld", ex[i].file, (long long)c.dim,
               (long long)c.num_heads, (long long)c.num_layers, (long long)c.ffn_dim, (long long)c.text_dim);
        rl_weights_close(&w);
    }
}

static void test_diffusers_names(void) {
    static const char *const pairs[][2] = {
        {"patch_embedding.weight", "patch_embedding.weight"},
        {"time_embedding.0.weight", "condition_embedder.time_embedder.linear_1.weight"},
        {"time_embedding.2.bias", "condition_embedder.time_embedder.linear_2.bias"},
        {"time_projection.1.weight", "condition_embedder.time_proj.weight"},
        {"text_embedding.0.bias", "condition_embedder.text_embedder.linear_1.bias"},
        {"text_embedding.2.weight", "condition_embedder.text_embedder.linear_2.weight"},
        {"head.modulation", "scale_shift_table"},
        {"head.head.weight", "proj_out.weight"},
        {"blocks.0.modulation", "blocks.0.scale_shift_table"},
        {"blocks.12.self_attn.q.weight", "blocks.12.attn1.to_q.weight"},
        {"blocks.3.self_attn.o.bias", "blocks.3.attn1.to_out.0.bias"},
        {"blocks.3.self_attn.norm_k.weight", "blocks.3.attn1.norm_k.weight"},
        {"blocks.39.cross_attn.v.weight", "blocks.39.attn2.to_v.weight"},
        {"blocks.1.cross_attn.norm_q.weight", "blocks.1.attn2.norm_q.weight"},
        {"blocks.1.cross_attn.k_img.weight", "blocks.1.attn2.add_k_proj.weight"},
        {"blocks.1.cross_attn.norm_k_img.weight", "blocks.1.attn2.norm_added_k.weight"},
        {"blocks.7.norm3.weight", "blocks.7.norm2.weight"},
        {"blocks.7.ffn.0.weight", "blocks.7.ffn.net.0.proj.weight"},
        {"blocks.7.ffn.2.bias", "blocks.7.ffn.net.2.bias"},
        {"img_emb.proj.1.weight", "condition_embedder.image_embedder.ff.net.0.proj.weight"},
        {"img_emb.proj.4.bias", "condition_embedder.image_embedder.norm2.bias"},
        {"img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        int rc = rl_wan_dit_name(RL_LAYOUT_DIFFUSERS, pairs[i][0], buf, sizeof buf);
        EXPECT(rc == 0 && !strcmp(buf, pairs[i][1]), "%s -> '%s' (want %s)", pairs[i][0], rc ? "(none)" : buf,
               pairs[i][1]);
    }
    static const char *const none[] = {"blocks.0.norm2.weight", "blocks.x.modulation", "blocks.0.self_attn.qq.weight",
                                       "head", "headless.weight"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        EXPECT(rl_wan_dit_name(RL_LAYOUT_DIFFUSERS, none[i], buf, sizeof buf) != 0, "%s has no diffusers name",
               none[i]);
    /* Every tensor of the official golden maps onto a tensor of the diffusers golden, one to one. */
    char p1[512], p2[512];
    golden_path(p1, sizeof p1, "official_f32", ".safetensors");
    golden_path(p2, sizeof p2, "diffusers_f16", ".safetensors");
    rl_safetensors a, b;
    if (rl_st_open(&a, p1) != 0 || rl_st_open(&b, p2) != 0) {
        EXPECT(0, "golden files open: %s", rl_error_message());
        return;
    }
    int mapped = 0;
    for (int i = 0; i < a.n_tensors; i++) {
        int rc = rl_wan_dit_name(RL_LAYOUT_DIFFUSERS, a.tensors[i].name, buf, sizeof buf);
        const rl_st_tensor *t = rc == 0 ? rl_st_find(&b, buf) : NULL;
        EXPECT(t != NULL, "official '%s' -> diffusers '%s' is in the diffusers file", a.tensors[i].name,
               rc ? "(none)" : buf);
        mapped += t != NULL;
    }
    EXPECT(mapped == a.n_tensors && a.n_tensors == b.n_tensors, "%d of %d mapped, %d in the diffusers file", mapped,
           a.n_tensors, b.n_tensors);
    rl_st_close(&a);
    rl_st_close(&b);
}

static void test_describe(void) {
    rl_wan_dit_config c = {.dim = 1536, .ffn_dim = 8960, .num_layers = 30, .num_heads = 12, .head_dim = 128,
                           .in_dim = 16, .out_dim = 16, .text_dim = 4096, .freq_dim = 256, .text_len = 512};
    char buf[256];
    wan_dit_describe(&c, buf, sizeof buf);
    printf("  %s\n", buf);
    EXPECT(strstr(buf, "Wan 2.1 DiT t2v 1.3B: dim 1536, 30 blocks, 12 heads") && strstr(buf, "ffn 8960"), "%s", buf);
    c.dim = 5120, c.num_layers = 40, c.num_heads = 40, c.ffn_dim = 13824, c.in_dim = 36, c.i2v = 1;
    wan_dit_describe(&c, buf, sizeof buf);
    EXPECT(strstr(buf, "i2v 14B: dim 5120, 40 blocks, 40 heads"), "%s", buf);
    char path[512];
    golden_path(path, sizeof path, "diffusers_f16", ".safetensors");
    rl_safetensors st;
    if (rl_st_open(&st, path) != 0) return;
    int rc = wan_dit_describe_file(&st, buf, sizeof buf);
    printf("  diffusers_f16: %s\n", rc == 0 ? buf : "(none)");
    EXPECT(rc == 0 && strstr(buf, "custom size: dim 64, 2 blocks, 2 heads of 32, ffn 32"), "%s",
           rc == 0 ? buf : rl_error_message());
    rl_st_close(&st);
}

/* ---------------------------------------------------------------- bad files */

/* Writes a copy of the official golden with tensor `drop` left out and tensor
 * `add` (shape [rows, cols], zeros) added; NULL = none. */
static int write_variant(const char *out, const char *drop, const char *add, int64_t rows, int64_t cols) {
    char src[512];
    golden_path(src, sizeof src, "official_f32", ".safetensors");
    rl_safetensors st;
    if (rl_st_open(&st, src) != 0) return -1;
    rl_st_writer *w = rl_st_writer_new();
    int rc = 0;
    for (int i = 0; rc == 0 && i < st.n_tensors; i++) {
        const rl_st_tensor *t = &st.tensors[i];
        if ((drop && !strcmp(t->name, drop)) || (add && !strcmp(t->name, add))) continue;
        rc = rl_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, rl_st_data(&st, t));
    }
    if (rc == 0 && add) {
        float *z = calloc((size_t)(rows * cols), sizeof(float));
        int64_t s[2] = {rows, cols};
        rc = rl_st_writer_add(w, add, RL_F32, 2, s, z);
        free(z);
    }
    if (rc == 0 && st.metadata_json) rc = rl_st_writer_meta(w, "raylight_head_dim", "32");
    if (rc == 0) rc = rl_st_writer_save(w, out);
    rl_st_writer_free(w);
    rl_st_close(&st);
    return rc;
}

static int load_fails_with(const char *path, const char *want1, const char *want2) {
    rl_wan_dit m;
    if (wan_dit_load(&m, path, rl_backend_cpu()) == 0) {
        wan_dit_free(&m);
        printf("  %s loaded but should not\n", path);
        return 0;
    }
    const char *msg = rl_error_message();
    printf("  error: %s\n", msg);
    return strstr(msg, want1) && (!want2 || strstr(msg, want2));
}

static void test_bad_weight_files(void) {
    char dir[] = "/tmp/test_wan_dit_XXXXXX", p[600];
    if (!mkdtemp(dir)) return;
    /* a VAE given as the DiT */
    snprintf(p, sizeof p, "%s/vae.safetensors", dir);
    rl_st_writer *w = rl_st_writer_new();
    float z[16] = {0};
    int64_t s1[1] = {4};
    rl_st_writer_add(w, "decoder.conv1.weight", RL_F32, 1, s1, z);
    rl_st_writer_add(w, "conv2.weight", RL_F32, 1, s1, z);
    rl_st_writer_save(w, p);
    rl_st_writer_free(w);
    EXPECT(load_fails_with(p, "Wan 2.1 VAE", "DiT"), "a VAE file is refused, naming what it holds");
    /* a file of no known model */
    snprintf(p, sizeof p, "%s/other.safetensors", dir);
    w = rl_st_writer_new();
    rl_st_writer_add(w, "foo.bar", RL_F32, 1, s1, z);
    rl_st_writer_save(w, p);
    rl_st_writer_free(w);
    EXPECT(load_fails_with(p, "foo.bar", "not a checkpoint"), "an unknown file is refused, naming a tensor");
    /* a tensor missing, a wrong shape, two layouts */
    snprintf(p, sizeof p, "%s/missing.safetensors", dir);
    EXPECT(write_variant(p, "blocks.1.ffn.2.bias", NULL, 0, 0) == 0 && load_fails_with(p, "blocks.1.ffn.2.bias", "lacks"),
           "a missing tensor is named");
    snprintf(p, sizeof p, "%s/shape.safetensors", dir);
    EXPECT(write_variant(p, NULL, "blocks.0.self_attn.q.weight", 64, 32) == 0 &&
               load_fails_with(p, "blocks.0.self_attn.q.weight", "[64, 32]"),
           "a wrong shape is named");
    snprintf(p, sizeof p, "%s/mixed.safetensors", dir);
    EXPECT(write_variant(p, NULL, "blocks.0.attn1.to_q.weight", 64, 64) == 0 &&
               load_fails_with(p, "blocks.0.attn1.to_q.weight", "mixes"),
           "keys of two layouts are refused");
    snprintf(p, sizeof p, "rm -rf '%s'", dir);
    if (system(p) != 0) printf("  could not remove %s\n", dir);
}

/* ---------------------------------------------------------------- bad inputs, eval path */

static int write_inputs(const char *path, int with_x, int64_t C, int64_t H, int64_t W, int64_t L, int64_t tdim) {
    rl_st_writer *w = rl_st_writer_new();
    int64_t xs[4] = {C, 2, H, W}, ts[1] = {1}, cs[2] = {L, tdim};
    size_t nx = (size_t)(C * 2 * H * W), nc = (size_t)(L * tdim);
    float *x = malloc(nx * sizeof(float) + 4), *c = malloc(nc * sizeof(float) + 4), t = 500.0f;
    tl_fill_randn(x, nx, 1.0f);
    tl_fill_randn(c, nc, 1.0f);
    int rc = 0;
    if (with_x) rc = rl_st_writer_add(w, "x", RL_F32, 4, xs, x);
    if (rc == 0) rc = rl_st_writer_add(w, "t", RL_F32, 1, ts, &t);
    if (rc == 0) rc = rl_st_writer_add(w, "context", RL_F32, 2, cs, c);
    if (rc == 0) rc = rl_st_writer_save(w, path);
    rl_st_writer_free(w);
    free(x);
    free(c);
    return rc;
}

static int eval_fails_with(const char *inputs, const char *out, const char *want1, const char *want2) {
    char wpath[512];
    golden_path(wpath, sizeof wpath, "official_f32", ".safetensors");
    char *argv[] = {"--weights", wpath, "--inputs", (char *)inputs, "--out", (char *)out, NULL};
    if (eval_dit(6, argv) == 0) {
        printf("  eval dit accepted %s\n", inputs);
        return 0;
    }
    const char *msg = rl_error_message();
    printf("  error: %s\n", msg);
    return strstr(msg, want1) && (!want2 || strstr(msg, want2)) && strstr(msg, inputs);
}

static void test_eval_inputs(void) {
    char dir[] = "/tmp/test_wan_dit_XXXXXX", in[600], out[600];
    if (!mkdtemp(dir)) return;
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    EXPECT(write_inputs(in, 1, 16, 5, 6, 7, 16) == 0 && eval_fails_with(in, out, "'x'", "even"), "odd H is refused");
    EXPECT(write_inputs(in, 1, 16, 4, 3, 7, 16) == 0 && eval_fails_with(in, out, "'x'", "even"), "odd W is refused");
    EXPECT(write_inputs(in, 1, 16, 4, 4, 513, 16) == 0 && eval_fails_with(in, out, "'context'", "512"),
           "L > 512 is refused");
    EXPECT(write_inputs(in, 1, 16, 4, 4, 7, 20) == 0 && eval_fails_with(in, out, "'context'", "text_dim 16"),
           "a context width other than text_dim is refused");
    EXPECT(write_inputs(in, 1, 12, 4, 4, 7, 16) == 0 && eval_fails_with(in, out, "'x'", "12 channels"),
           "a channel count other than in_dim is refused");
    EXPECT(write_inputs(in, 0, 16, 4, 4, 7, 16) == 0 && eval_fails_with(in, out, "'x'", "missing"),
           "a missing x is refused");
    EXPECT(access(out, F_OK) != 0, "no output file is written on errors");
    /* the CLI path on a golden case */
    char wpath[512], io[512];
    golden_path(wpath, sizeof wpath, "comfy_bf16", ".safetensors");
    golden_path(io, sizeof io, "comfy_bf16", ".io.safetensors");
    char *argv[] = {"--weights", wpath, "--inputs", io, "--out", out, "--backend", "cpu", NULL};
    int rc = eval_dit(8, argv);
    EXPECT(rc == 0, "eval dit runs: %s", rl_error_message());
    double e = rc == 0 ? compare_files(out, io) : INFINITY;
    printf("  eval dit comfy_bf16: rel err %.2e\n", e);
    EXPECT(e <= TOL, "eval dit output matches y_ref: %.3e", e);
    snprintf(in, sizeof in, "rm -rf '%s'", dir);
    if (system(in) != 0) printf("  could not remove %s\n", dir);
}

/* ---------------------------------------------------------------- properties */

static int hook_calls;
static int counting_attention(void *ctx, rl_backend *be, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                              const rl_tensor *v, int64_t kv_len) {
    hook_calls++;
    return wan_self_attention_local(ctx, be, out, q, k, v, kv_len);
}

/* Explicit zero rows up to 512 give the same result as the short context (the
 * model pads), and an installed self-attention hook is what runs. */
static void test_padding_and_hook(void) {
    char wpath[512], io[512];
    golden_path(wpath, sizeof wpath, "official_f32", ".safetensors");
    golden_path(io, sizeof io, "official_f32", ".io.safetensors");
    rl_tensor x, t, ctx, yr;
    float *xd = read_f32(io, "x", &x), *td = read_f32(io, "t", &t), *cd = read_f32(io, "context", &ctx);
    float *rd = read_f32(io, "y_ref", &yr);
    rl_wan_dit m;
    if (!xd || !td || !cd || !rd || wan_dit_load(&m, wpath, rl_backend_cpu()) != 0) {
        EXPECT(0, "setup: %s", rl_error_message());
        return;
    }
    int64_t L = ctx.shape[0], D = ctx.shape[1], full[2] = {512, D};
    float *pad = calloc((size_t)(512 * D), sizeof(float));
    memcpy(pad, cd, (size_t)(L * D) * sizeof(float));
    rl_tensor cfull = rl_tensor_make(pad, RL_F32, RL_DEVICE_CPU, 2, full);
    size_t ny = (size_t)rl_tensor_numel(&yr);
    float *y1 = malloc(ny * sizeof(float)), *y2 = malloc(ny * sizeof(float));
    rl_tensor t1 = rl_tensor_make(y1, RL_F32, RL_DEVICE_CPU, 4, yr.shape), t2 = t1;
    t2.data = y2;
    m.self_attention = counting_attention;
    hook_calls = 0;
    int rc1 = wan_dit_forward(&m, &t1, &x, td[0], &ctx), rc2 = wan_dit_forward(&m, &t2, &x, td[0], &cfull);
    EXPECT(rc1 == 0 && rc2 == 0, "forwards run: %s", rl_error_message());
    EXPECT(hook_calls == 2 * m.cfg.num_layers, "the self-attention hook ran %d times", hook_calls);
    EXPECT(rc1 == 0 && rc2 == 0 && memcmp(y1, y2, ny * sizeof(float)) == 0,
           "a context zero-padded by the caller gives the identical output");
    double e = tl_rel_err_f(y1, rd, ny);
    EXPECT(e <= TOL, "with the hook: rel err %.3e", e);
    free(pad);
    free(y1);
    free(y2);
    free(xd);
    free(td);
    free(cd);
    free(rd);
    wan_dit_free(&m);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--compare")) {
        double e = compare_files(argv[2], argv[3]);
        printf("%s vs %s: rel err %.3e (tol %.0e)\n", argv[2], argv[3], e, TOL);
        return e <= TOL ? 0 : 1;
    }
    RUN(test_golden_cases);
    RUN(test_layout_detection);
    RUN(test_diffusers_names);
    RUN(test_describe);
    RUN(test_bad_weight_files);
    RUN(test_eval_inputs);
    RUN(test_padding_and_hook);
    TL_EXIT();
}
