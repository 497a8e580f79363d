/* text.c: the text stage: tokenizer and umT5 loaded once, the prompt and the
 * negative prompt encoded to real-length contexts on the host, the encoder freed
 * before the DiT is loaded. */
#include "models/umt5_prompt.h"
#include "pipeline/t2v.h"

#include <stdlib.h>

int rl_text_encode(const char *tokenizer_path, const char *t5_path, rl_backend *be, const char *prompt,
                   const char *negative, float **context, int64_t *len, float **neg_context, int64_t *neg_len,
                   int64_t *dim) {
    rl_tokenizer *tok = NULL;
    rl_umt5 m;
    int32_t *ids = NULL;
    *context = NULL;
    if (neg_context) *neg_context = NULL;
    RL_TRY(rl_tokenizer_load(&tok, tokenizer_path));
    if (umt5_load(&m, t5_path, be) != 0) {
        rl_tokenizer_free(tok);
        return -1;
    }
    int rc = umt5_check_tokenizer(&m, tok, tokenizer_path);
    if (rc == 0) rc = umt5_encode_prompt(&m, tok, prompt, &ids, len, context);
    free(ids);
    ids = NULL;
    if (rc == 0 && negative && neg_context) rc = umt5_encode_prompt(&m, tok, negative, &ids, neg_len, neg_context);
    free(ids);
    *dim = m.cfg.dim;
    umt5_free(&m);
    rl_tokenizer_free(tok);
    if (rc != 0) {
        free(*context);
        *context = NULL;
        if (neg_context) {
            free(*neg_context);
            *neg_context = NULL;
        }
    }
    return rc;
}
