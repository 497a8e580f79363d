/* umt5_tiny.c: a small random umT5 encoder in the official Wan layout (bf16, like
 * models_t5_umt5-xxl-enc-bf16.pth converted), for make-tiny, demos and CI. The
 * weights follow T5's initialisation scales (so attention logits are of order one
 * without 1/sqrt(d)) and are deterministic from the seed: one torch.randn stream
 * per tensor. */
#include "io/safetensors.h"
#include "io/tokenizer.h"
#include "models/umt5.h"
#include "sampler/noise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[64];
    int64_t shape[2];
    int ndim;
    float mean, std;
} tiny_tensor;

static void add(tiny_tensor *t, int *n, const char *name, int64_t a, int64_t b, float mean, float std) {
    tiny_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->shape[0] = a, x->shape[1] = b, x->ndim = b ? 2 : 1;
    x->mean = mean, x->std = std;
}

static int tiny_list(const rl_umt5_config *c, tiny_tensor *t, int max) {
    int n = 0;
    float d = (float)c->dim, a = (float)c->dim_attn, f = (float)c->ffn;
    add(t, &n, "token_embedding.weight", c->vocab, c->dim, 0, 1.0f);
    for (int64_t i = 0; i < c->layers; i++) {
        if (n + 10 > max) return -1;
        char p[64];
#define NAME(s) (snprintf(p, sizeof p, "blocks.%lld." s, (long long)i), p)
        add(t, &n, NAME("norm1.weight"), c->dim, 0, 1.0f, 0.1f);
        add(t, &n, NAME("attn.q.weight"), c->dim_attn, c->dim, 0, 1.0f / sqrtf(d * (float)c->head_dim));
        add(t, &n, NAME("attn.k.weight"), c->dim_attn, c->dim, 0, 1.0f / sqrtf(d));
        add(t, &n, NAME("attn.v.weight"), c->dim_attn, c->dim, 0, 1.0f / sqrtf(d));
        add(t, &n, NAME("attn.o.weight"), c->dim, c->dim_attn, 0, 1.0f / sqrtf(a));
        add(t, &n, NAME("pos_embedding.embedding.weight"), c->num_buckets, c->heads, 0, 0.5f);
        add(t, &n, NAME("norm2.weight"), c->dim, 0, 1.0f, 0.1f);
        add(t, &n, NAME("ffn.gate.0.weight"), c->ffn, c->dim, 0, 1.0f / sqrtf(d));
        add(t, &n, NAME("ffn.fc1.weight"), c->ffn, c->dim, 0, 1.0f / sqrtf(d));
        add(t, &n, NAME("ffn.fc2.weight"), c->dim, c->ffn, 0, 1.0f / sqrtf(f));
#undef NAME
    }
    if (n + 1 > max) return -1;
    add(t, &n, "norm.weight", c->dim, 0, 1.0f, 0.1f);
    return n;
}

int umt5_write_tiny(const char *path, const rl_umt5_config *c, uint64_t seed) {
    if (c->vocab < 2 || c->vocab > (int64_t)1 << 24 || c->dim < 1 || c->dim > 65536 || c->heads < 1 ||
        c->head_dim < 1 || c->dim_attn != c->heads * c->head_dim || c->ffn < 1 || c->layers < 1 || c->layers > 64 ||
        c->num_buckets < 4 || c->num_buckets % 2)
        return rl_error_set("make-tiny: an invalid tiny umT5 config (vocab %lld, dim %lld, %lld heads x %lld, "
                            "%lld layers)", (long long)c->vocab, (long long)c->dim, (long long)c->heads,
                            (long long)c->head_dim, (long long)c->layers);
    int max = 2 + 10 * (int)c->layers;
    tiny_tensor *list = calloc((size_t)max, sizeof *list);
    rl_st_writer *w = rl_st_writer_new();
    int rc = (!list || !w) ? rl_error_set("make-tiny: out of memory for the tiny umT5") : 0;
    int n = rc == 0 ? tiny_list(c, list, max) : 0;
    if (rc == 0 && n < 0) rc = rl_error_set("make-tiny: umT5 tensor table overflow (a bug)");
    for (int i = 0; rc == 0 && i < n; i++) {
        int64_t numel = list[i].shape[0] * (list[i].ndim == 2 ? list[i].shape[1] : 1);
        float *v = malloc((size_t)numel * sizeof(float));
        uint16_t *b = malloc((size_t)numel * sizeof(uint16_t));
        if (!v || !b) rc = rl_error_set("make-tiny: out of memory for tiny umT5 tensor '%s'", list[i].name);
        if (rc == 0) rc = rl_randn_torch(v, numel, seed * 1000003ull + 7919ull + (uint64_t)i);
        for (int64_t k = 0; rc == 0 && k < numel; k++) b[k] = rl_f32_to_bf16(list[i].mean + list[i].std * v[k]);
        if (rc == 0) rc = rl_st_writer_add(w, list[i].name, RL_BF16, list[i].ndim, list[i].shape, b);
        free(v);
        free(b);
    }
    char sd[32];
    snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
    if (rc == 0) rc = rl_st_writer_meta(w, "raylight_tiny_seed", sd);
    if (rc == 0) rc = rl_st_writer_save(w, path);
    if (w) rl_st_writer_free(w);
    free(list);
    return rc;
}

/* make-tiny's text encoder: width text_dim (what the tiny DiT takes), 2 layers of
 * 2 heads x 32, ffn 128. Its vocabulary covers the tokenizer.json already written
 * into the same directory (so every id it emits has a row), else 4096 rows. */
int umt5_make_tiny(const char *path, uint64_t seed, int64_t text_dim) {
    rl_umt5_config c = {.vocab = 4096, .dim = text_dim, .dim_attn = 64, .heads = 2, .head_dim = 32, .ffn = 128,
                        .layers = 2, .num_buckets = 32, .max_distance = 128, .eps = 1e-6f};
    char tok_path[4096];
    const char *slash = strrchr(path, '/');
    snprintf(tok_path, sizeof tok_path, "%.*stokenizer.json", slash ? (int)(slash - path + 1) : 0, path);
    FILE *f = fopen(tok_path, "rb");
    if (f) {
        fclose(f);
        rl_tokenizer *tok = NULL;
        if (rl_tokenizer_load(&tok, tok_path) != 0) return rl_error_wrap("make-tiny: sizing the umT5 vocabulary");
        c.vocab = rl_tokenizer_id_limit(tok);
        rl_tokenizer_free(tok);
    }
    return umt5_write_tiny(path, &c, seed);
}
