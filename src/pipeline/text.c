/* text.c: the text stage: tokenizer and umT5 loaded once, every prompt and
 * negative prompt of a render (or of a whole --prompts-file batch) encoded to a
 * real-length context on the host, the encoder freed before the DiT is loaded. */
#include "models/umt5_prompt.h"
#include "pipeline/t2v.h"

#include <stdlib.h>

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
