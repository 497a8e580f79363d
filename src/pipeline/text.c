/* text.c: the text stage: tokenizer and umT5 loaded once, every prompt and
 * negative prompt of a render (or of a whole --prompts-file batch) encoded to a
 * real-length context on the host, the encoder freed before the DiT is loaded. */
#include "models/umt5_prompt.h"
#include "pipeline/t2v.h"

#include <stdlib.h>
#include <string.h>

/* The encoder of t5_path, or random weights of the named size for "random:NAME"
 * (with an embedding row for every id the tokenizer makes). */
static int load_encoder(rl_umt5 *m, const char *t5_path, rl_backend *be, const rl_tokenizer *tok, rl_comm *fsdp) {
    const char *rnd = rl_t2v_random_name(t5_path);
    if (!rnd) return umt5_load_fsdp(m, t5_path, be, fsdp);
    rl_umt5_config c;
    RL_TRY(umt5_config_named(rnd, &c));
    if (c.vocab < rl_tokenizer_id_limit(tok)) c.vocab = rl_tokenizer_id_limit(tok);
    return umt5_init_random(m, &c, be, RL_RANDOM_WEIGHTS_SEED);
}

size_t rl_text_encoder_bytes(const rl_umt5_config *c, rl_dtype wdt) {
    const double per_layer = 4.0 * (double)c->dim * (double)c->dim_attn + 3.0 * (double)c->dim * (double)c->ffn;
    const double n = (double)c->vocab * (double)c->dim + (double)c->layers * per_layer;
    return (size_t)(n * (double)rl_dtype_size(wdt));
}

/* The encoder's config from the weights' header, or the named "random:" size. */
static int encoder_config(const char *t5_path, rl_backend *be, rl_umt5_config *c) {
    const char *rnd = rl_t2v_random_name(t5_path);
    if (rnd) return umt5_config_named(rnd, c);
    rl_weights w;
    RL_TRY(rl_weights_open(&w, t5_path, be, RL_MODEL_UMT5));
    int rc = umt5_detect_config(&w, c);
    rl_weights_close(&w);
    return rc;
}

int rl_text_backend_check(const char *mode, const rl_backend *be) {
    if (!mode || !strcmp(mode, "auto") || !strcmp(mode, "cpu") || !strcmp(mode, be->name)) return 0;
    if (be->device == RL_DEVICE_CPU)
        return rl_error_set("--text-backend %s: the render runs on the CPU (--backend), so the text encoder runs there "
                            "too; use auto or cpu", mode);
    return rl_error_set("--text-backend %s: use auto, cpu or %s (the render's --backend)", mode, be->name);
}

rl_backend *rl_text_backend(const char *mode, rl_backend *be, const char *t5_path) {
    if (rl_text_backend_check(mode, be) != 0) return NULL;
    if (mode && !strcmp(mode, "cpu")) return rl_backend_cpu();
    size_t limit = rl_mem_limit(be->device);
    if ((mode && strcmp(mode, "auto") != 0) || be->device == RL_DEVICE_CPU || limit == 0) return be;
    rl_umt5_config c;
    if (encoder_config(t5_path, be, &c) != 0) return NULL;
    /* the stage's other device memory: the longest prompt's activations and the
     * backend's workspaces, well under this margin */
    const size_t need = rl_text_encoder_bytes(&c, be->weight_dtype) + ((size_t)1 << 30);
    if (need <= limit) return be;
    char b1[32], b2[32];
    rl_log(RL_LOG_INFO, "text encoder on the CPU: its weights need about %s on %s, more than --vram-limit %s "
                        "(--text-backend %s keeps it there and fails instead)\n",
           rl_bytes_str(need, b1, sizeof b1), be->name, rl_bytes_str(limit, b2, sizeof b2), be->name);
    return rl_backend_cpu();
}

int rl_text_encode_many(const char *tokenizer_path, const char *t5_path, rl_backend *be, const char *const *texts,
                        int n, float **contexts, int64_t *lens, int64_t *dim, rl_comm *fsdp, uint64_t *bytes_read) {
    rl_tokenizer *tok = NULL;
    rl_umt5 m;
    for (int i = 0; i < n; i++) contexts[i] = NULL, lens[i] = 0;
    RL_TRY(rl_tokenizer_load(&tok, tokenizer_path));
    if (load_encoder(&m, t5_path, be, tok, fsdp) != 0) {
        rl_tokenizer_free(tok);
        return -1;
    }
    int rc = umt5_check_tokenizer(&m, tok, tokenizer_path);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!texts[i]) continue;
        int32_t *ids = NULL;
        rc = umt5_encode_prompt(&m, tok, texts[i], &ids, &lens[i], &contexts[i]);
        free(ids);
    }
    *dim = m.cfg.dim;
    if (bytes_read) *bytes_read = m.file_bytes_read;
    umt5_free(&m);
    rl_tokenizer_free(tok);
    if (rc != 0)
        for (int i = 0; i < n; i++) free(contexts[i]), contexts[i] = NULL;
    return rc;
}

int rl_text_encode(const char *tokenizer_path, const char *t5_path, rl_backend *be, const char *prompt,
                   const char *negative, float **context, int64_t *len, float **neg_context, int64_t *neg_len,
                   int64_t *dim) {
    const char *texts[2] = {prompt, neg_context ? negative : NULL};
    float *ctx[2];
    int64_t lens[2];
    RL_TRY(rl_text_encode_many(tokenizer_path, t5_path, be, texts, 2, ctx, lens, dim, NULL, NULL));
    *context = ctx[0], *len = lens[0];
    if (neg_context) *neg_context = ctx[1], *neg_len = lens[1];
    return 0;
}
