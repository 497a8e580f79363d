/* test_offload.c: block swap (--offload-blocks) and the VRAM budget on the CPU
 * backend: the forward with 0, some and all blocks offloaded is bit-identical on
 * the golden DiT models, on a 5-block tiny model (several slot counts) and on
 * random weights; the planner's prediction equals what the allocator counts; the
 * auto-plan picks none / the smallest N / an error with numbers; --vram-limit
 * refuses an allocation with a sentence, and offload makes a model fit a limit
 * the resident model does not. */
#include "io/safetensors.h"
#include "models/wan_dit.h"
#include "models/wan_dit_offload.h"
#include "testlib.h"

#include <unistd.h>

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

static const char *const goldens[] = {"official_f32", "comfy_bf16", "comfy_fp8_scaled", "diffusers_f16",
                                      "official_d128_fp8"};

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

typedef struct {
    rl_tensor x, ctx;
    double t;
    int64_t tokens;
} inputs;

/* y (malloc'd) of the model at path loaded with n_off offloaded blocks, NULL on failure.
 * *m_out (when given) keeps the loaded model's figures before it is freed. */
static float *forward_file(const char *path, const inputs *in, int n_off, int slots, rl_wan_dit *m_out,
                           size_t *ny) {
    rl_wan_dit m;
    rl_wan_dit_options o = {n_off, slots, NULL};
    if (wan_dit_load_opts(&m, path, rl_backend_cpu(), &o) != 0) return NULL;
    int64_t ys[4] = {m.cfg.out_dim, in->x.shape[1], in->x.shape[2], in->x.shape[3]};
    rl_tensor y = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 4, ys);
    *ny = (size_t)rl_tensor_numel(&y);
    y.data = malloc(rl_tensor_nbytes(&y));
    /* twice: the second forward reuses the slots after the first one's releases */
    int rc = y.data ? wan_dit_forward(&m, &y, &in->x, in->t, &in->ctx) : -1;
    if (rc == 0) rc = wan_dit_forward(&m, &y, &in->x, in->t, &in->ctx);
    if (m_out) *m_out = m;
    else wan_dit_free(&m);
    if (rc != 0) {
        free(y.data);
        return NULL;
    }
    return y.data;
}

static void test_golden_models(void) {
    for (size_t g = 0; g < sizeof goldens / sizeof *goldens; g++) {
        char wpath[512], iopath[512];
        snprintf(wpath, sizeof wpath, "%s/tests/golden/wan_dit/%s.safetensors", RL_SOURCE_DIR, goldens[g]);
        snprintf(iopath, sizeof iopath, "%s/tests/golden/wan_dit/%s.io.safetensors", RL_SOURCE_DIR, goldens[g]);
        inputs in;
        rl_tensor tt, yr;
        float *xd = read_f32(iopath, "x", &in.x), *cd = read_f32(iopath, "context", &in.ctx);
        float *td = read_f32(iopath, "t", &tt), *rd = read_f32(iopath, "y_ref", &yr);
        if (!xd || !cd || !td || !rd) {
            EXPECT(0, "%s inputs: %s", goldens[g], rl_error_message());
            free(xd), free(cd), free(td), free(rd);
            continue;
        }
        in.t = td[0];
        rl_wan_dit_config cfg;
        EXPECT(wan_dit_read_config(wpath, rl_backend_cpu(), &cfg) == 0, "%s config: %s", goldens[g], rl_error_message());
        size_t n0 = 0, n = 0;
        float *y0 = forward_file(wpath, &in, 0, 0, NULL, &n0);
        EXPECT(y0 != NULL, "%s plain forward: %s", goldens[g], rl_error_message());
        if (y0) EXPECT(tl_rel_err_f(y0, rd, n0) <= 1e-4, "%s plain vs diffusers %.3e", goldens[g], tl_rel_err_f(y0, rd, n0));
        int counts[3] = {1, (int)cfg.num_layers, (int)cfg.num_layers};
        int slots[3] = {2, 2, 1};
        int same = 0;
        for (int k = 0; k < 3 && y0; k++) {
            float *y = forward_file(wpath, &in, counts[k], slots[k], NULL, &n);
            same += y && n == n0 && !memcmp(y, y0, n * sizeof(float));
            EXPECT(y && n == n0 && !memcmp(y, y0, n * sizeof(float)),
                   "%s: offload %d (slots %d) is bit-identical to resident (%s)", goldens[g], counts[k], slots[k],
                   y ? "differs" : rl_error_message());
            free(y);
        }
        printf("  %s: offload 1, %lld (2 slots), %lld (1 slot): %d of 3 bit-identical to resident\n", goldens[g],
               (long long)cfg.num_layers, (long long)cfg.num_layers, same);
        free(y0), free(xd), free(cd), free(td), free(rd);
    }
}

/* A 5-block tiny DiT (dim 64, 2 heads of 32) at path. */
static int write_tiny5(const char *path, rl_wan_dit_config *c) {
    rl_wan_dit_config t = {.dim = 64, .ffn_dim = 96, .num_layers = 5, .num_heads = 2, .head_dim = 32, .in_dim = 16,
                           .out_dim = 16, .text_dim = 24, .freq_dim = 32, .text_len = 512, .eps = 1e-6f};
    *c = t;
    return wan_dit_write_tiny(path, &t, 7);
}

static void tiny_inputs(inputs *in, int64_t text_dim, int64_t T, int64_t H, int64_t W) {
    int64_t xs[4] = {16, T, H, W}, cs[2] = {7, text_dim};
    in->x = rl_tensor_make(malloc(sizeof(float) * (size_t)(16 * T * H * W)), RL_F32, RL_DEVICE_CPU, 4, xs);
    in->ctx = rl_tensor_make(malloc(sizeof(float) * (size_t)(7 * text_dim)), RL_F32, RL_DEVICE_CPU, 2, cs);
    tl_seed(11);
    tl_fill_randn(in->x.data, (size_t)(16 * T * H * W), 1.0f);
    tl_fill_randn(in->ctx.data, (size_t)(7 * text_dim), 1.0f);
    in->t = 731.0;
    in->tokens = T * (H / 2) * (W / 2);
}

static char tiny_path[64];

static void test_tiny_all_counts(void) {
    rl_wan_dit_config c;
    EXPECT(write_tiny5(tiny_path, &c) == 0, "tiny model: %s", rl_error_message());
    inputs in;
    tiny_inputs(&in, c.text_dim, 3, 6, 8);
    size_t n0 = 0, n = 0;
    float *y0 = forward_file(tiny_path, &in, 0, 0, NULL, &n0);
    EXPECT(y0 != NULL, "plain: %s", rl_error_message());
    int same = 0, runs = 0;
    for (int slots = 1; slots <= 3 && y0; slots++)
        for (int k = 1; k <= 5; k++) {
            size_t pinned0 = rl_mem_pinned();
            rl_wan_dit m;
            float *y = forward_file(tiny_path, &in, k, slots, &m, &n);
            int ok = y && n == n0 && !memcmp(y, y0, n * sizeof(float));
            EXPECT(ok, "offload %d with %d slots bit-identical (%s)", k, slots, y ? "differs" : rl_error_message());
            if (y) {
                size_t host = wan_offload_host_bytes(m.offload);
                EXPECT(host == (size_t)k * wan_dit_block_bytes(&c, RL_F32, 1) && rl_mem_pinned() == pinned0 + host,
                       "offload %d: pinned %zu (counter %zu -> %zu)", k, host, pinned0, rl_mem_pinned());
                wan_dit_free(&m);
                EXPECT(rl_mem_pinned() == pinned0, "pinned bytes given back: %zu vs %zu", rl_mem_pinned(), pinned0);
            }
            same += ok, runs++;
            free(y);
        }
    printf("  tiny 5-block model: %d of %d offload runs (1..5 blocks x 1..3 slots) bit-identical\n", same, runs);
    rl_wan_dit m;
    rl_wan_dit_options bad = {6, 0, NULL};
    EXPECT(wan_dit_load_opts(&m, tiny_path, rl_backend_cpu(), &bad) != 0 &&
               strstr(rl_error_message(), "--offload-blocks 6") && strstr(rl_error_message(), "0..5"),
           "offload 6 of 5 refused: %s", rl_error_message());
    free(y0), free(in.x.data), free(in.ctx.data);
}

static void test_random_weights(void) {
    rl_wan_dit_config c = {.dim = 64, .ffn_dim = 96, .num_layers = 4, .num_heads = 2, .head_dim = 32, .in_dim = 16,
                           .out_dim = 16, .text_dim = 24, .freq_dim = 32, .text_len = 512, .eps = 1e-6f};
    inputs in;
    tiny_inputs(&in, c.text_dim, 2, 4, 4);
    int64_t ys[4] = {16, 2, 4, 4};
    float *out[2] = {NULL, NULL};
    int counts[2] = {0, 3};
    for (int k = 0; k < 2; k++) {
        rl_wan_dit m;
        rl_wan_dit_options o = {counts[k], 0, NULL};
        if (wan_dit_init_random_opts(&m, &c, rl_backend_cpu(), 5, &o) != 0) {
            EXPECT(0, "random model offload %d: %s", counts[k], rl_error_message());
            continue;
        }
        rl_tensor y = rl_tensor_make(malloc(sizeof(float) * 16 * 2 * 4 * 4), RL_F32, RL_DEVICE_CPU, 4, ys);
        EXPECT(wan_dit_forward(&m, &y, &in.x, in.t, &in.ctx) == 0, "forward: %s", rl_error_message());
        out[k] = y.data;
        wan_dit_free(&m);
    }
    EXPECT(out[0] && out[1] && !memcmp(out[0], out[1], sizeof(float) * 16 * 2 * 4 * 4),
           "random weights: offload 3 of 4 bit-identical to resident");
    free(out[0]), free(out[1]), free(in.x.data), free(in.ctx.data);
}

/* The prediction is what the CPU allocator counts: weights + slots + the arena. */
static void test_prediction_exact(void) {
    rl_wan_dit_config c;
    EXPECT(wan_dit_read_config(tiny_path, rl_backend_cpu(), &c) == 0, "config: %s", rl_error_message());
    for (int k = 0; k <= 5; k++) {
        size_t before = rl_mem_current(RL_DEVICE_CPU);
        rl_wan_dit m;
        rl_wan_dit_options o = {k, 0, NULL};
        if (wan_dit_load_opts(&m, tiny_path, rl_backend_cpu(), &o) != 0) {
            EXPECT(0, "load: %s", rl_error_message());
            continue;
        }
        size_t held = rl_mem_current(RL_DEVICE_CPU) - before;
        rl_wan_mem_plan p;
        wan_offload_predict(&c, RL_F32, 12, 0, k, 0, &p);
        EXPECT(p.weights == m.weight_bytes, "offload %d: predicted weights %zu, loaded %zu", k, p.weights,
               m.weight_bytes);
        EXPECT(p.slot_bytes == wan_offload_slot_bytes(m.offload), "offload %d: slots %zu vs %zu", k, p.slot_bytes,
               wan_offload_slot_bytes(m.offload));
        EXPECT(held == p.weights + p.slot_bytes, "offload %d: allocator holds %zu, predicted %zu", k, held,
               p.weights + p.slot_bytes);
        wan_dit_free(&m);
    }
}

static void test_auto_plan(void) {
    rl_wan_dit_config c;
    EXPECT(wan_dit_config_named("14b", &c) == 0, "14b config");
    const int64_t tokens = 9 * 30 * 52; /* 832x480x33 */
    const size_t extra = 64u << 20, GiB = (size_t)1 << 30;
    rl_wan_mem_plan p0, p;
    wan_offload_predict(&c, RL_BF16, tokens, extra, 0, 0, &p0);
    EXPECT(wan_offload_auto_plan(&c, RL_BF16, tokens, extra, p0.total, 0, &p) == 0 && p.offload_blocks == 0,
           "fits exactly: no offload (got %d)", p.offload_blocks);
    EXPECT(wan_offload_auto_plan(&c, RL_BF16, tokens, extra, 200 * GiB, 0, &p) == 0 && p.offload_blocks == 0,
           "200 GiB: no offload");
    /* a block is ~0.7 GB in bf16: 1 or 2 offloaded blocks save nothing with 2 slots, 3 save one block */
    size_t blk = wan_dit_block_bytes(&c, RL_BF16, 0);
    EXPECT(blk > 700000000u && blk < 760000000u, "14B block %zu bytes", blk);
    EXPECT(wan_offload_auto_plan(&c, RL_BF16, tokens, extra, p0.total - 1, 0, &p) == 0 && p.offload_blocks == 3,
           "one byte short: offload 3 (got %d)", p.offload_blocks);
    EXPECT(wan_offload_auto_plan(&c, RL_BF16, tokens, extra, 16 * GiB, 0, &p) == 0, "16 GiB: %s", rl_error_message());
    rl_wan_mem_plan prev;
    wan_offload_predict(&c, RL_BF16, tokens, extra, p.offload_blocks - 1, 0, &prev);
    EXPECT(p.total <= 16 * GiB && prev.total > 16 * GiB && p.offload_blocks > 3 && p.offload_blocks < 40,
           "16 GiB: the smallest N: %d (%zu fits, N-1 needs %zu)", p.offload_blocks, p.total, prev.total);
    char d[256];
    wan_offload_describe_plan(&p, c.num_layers, d, sizeof d);
    printf("  14B bf16 at 832x480x33 under 16 GiB: %s\n", d);
    EXPECT(strstr(d, "offload ") && strstr(d, "of 40 blocks"), "describe: %s", d);
    int rc = wan_offload_auto_plan(&c, RL_BF16, tokens, extra, 2 * GiB, 0, &p);
    const char *msg = rl_error_message();
    EXPECT(rc != 0 && strstr(msg, "--vram-limit 2.00 GiB") && strstr(msg, "--offload-blocks 40") &&
               strstr(msg, "activations for 14040 tokens"),
           "2 GiB: an error with numbers: %s", msg);
    printf("  2 GiB: %s\n", msg);
    wan_offload_predict(&c, RL_BF16, tokens, extra, 40, 0, &p);
    EXPECT(p.host == 40 * wan_dit_block_bytes(&c, RL_BF16, 1) && p.slots == 2, "all offloaded: pinned %zu", p.host);
}

static void test_vram_limit(void) {
    rl_backend *be = rl_backend_cpu();
    size_t cur = rl_mem_current(RL_DEVICE_CPU);
    rl_mem_set_limit(RL_DEVICE_CPU, cur + (1u << 20));
    void *p = be->alloc(be, 2u << 20);
    const char *msg = rl_error_message();
    EXPECT(!p && strstr(msg, "--vram-limit") && strstr(msg, "2.00 MiB more was needed") &&
               strstr(msg, "--offload-blocks") && strstr(msg, "--auto-plan"),
           "2 MiB past the limit refused: %s", msg);
    printf("  refusal: %s\n", msg);
    if (p) be->free(be, p, 2u << 20);
    p = be->alloc(be, 512u << 10);
    EXPECT(p != NULL, "512 KiB within the limit: %s", rl_error_message());
    if (p) be->free(be, p, 512u << 10);

    /* The tiny 5-block model under a limit that fits only with every block offloaded. */
    rl_wan_dit_config c;
    RL_ASSERT(wan_dit_read_config(tiny_path, be, &c) == 0);
    inputs in;
    tiny_inputs(&in, c.text_dim, 3, 6, 8);
    rl_wan_mem_plan all;
    wan_offload_predict(&c, RL_F32, in.tokens, 0, 5, 0, &all);
    rl_mem_set_limit(RL_DEVICE_CPU, cur + all.total);
    size_t n = 0;
    float *y = forward_file(tiny_path, &in, 0, 0, NULL, &n);
    EXPECT(!y && strstr(rl_error_message(), "--vram-limit"), "resident model refused: %s",
           y ? "it ran" : rl_error_message());
    free(y);
    rl_mem_reset_peak(RL_DEVICE_CPU);
    y = forward_file(tiny_path, &in, 5, 0, NULL, &n);
    EXPECT(y != NULL, "all blocks offloaded fit: %s", rl_error_message());
    EXPECT(rl_mem_peak(RL_DEVICE_CPU) <= cur + all.total, "peak %zu within the limit %zu",
           rl_mem_peak(RL_DEVICE_CPU), cur + all.total);
    rl_mem_set_limit(RL_DEVICE_CPU, 0);
    free(y), free(in.x.data), free(in.ctx.data);
}

int main(void) {
    snprintf(tiny_path, sizeof tiny_path, "/tmp/rl-offload-tiny-%d.safetensors", (int)getpid());
    RUN(test_golden_models);
    RUN(test_tiny_all_counts);
    RUN(test_random_weights);
    RUN(test_prediction_exact);
    RUN(test_auto_plan);
    RUN(test_vram_limit);
    unlink(tiny_path);
    TL_EXIT();
}
