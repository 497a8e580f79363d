/* umt5_prompt.c: the prompt path (see umt5_prompt.h). The truncation follows HF
 * tokenizers 0.20 (TokenizerImpl::post_process): with truncation on, the encoding
 * without special tokens is cut to max_length - added_tokens(single), then the
 * template is applied; checked with tokenizers 0.20.3 on a T5 template: a
 * 1161-token prompt gives its first 511 tokens, then </s>. */
#include "models/umt5_prompt.h"

#include <stdlib.h>
#include <string.h>

int64_t umt5_truncate_ids(int32_t *ids, int64_t n, const int32_t *tmpl, int64_t nt, int64_t max_len) {
    if (max_len <= nt)
        return rl_error_set("truncating token ids to %lld: the template alone adds %lld tokens", (long long)max_len,
                            (long long)nt);
    if (n < nt) return rl_error_set("an encoding of %lld ids is shorter than its template (%lld)", (long long)n,
                                    (long long)nt);
    /* The template's tokens sit before ($A's prefix, k of them) and after the content. */
    int64_t k = -1;
    for (int64_t p = 0; p <= nt && k < 0; p++)
        if (!memcmp(ids, tmpl, sizeof *ids * (size_t)p) &&
            !memcmp(ids + n - (nt - p), tmpl + p, sizeof *ids * (size_t)(nt - p)))
            k = p;
    if (k < 0)
        return rl_error_set("the tokenizer's post-processor does not put its tokens around the text; cannot "
                            "truncate the way HF tokenizers does");
    if (n <= max_len) return n;
    int64_t keep = max_len - nt; /* content tokens kept */
    memmove(ids + k + keep, ids + n - (nt - k), sizeof *ids * (size_t)(nt - k));
    return max_len;
}

int umt5_prompt_ids(const rl_tokenizer *tok, const char *prompt, int64_t max_len, int32_t **ids_out,
                    int64_t *n_out) {
    char *clean = NULL;
    int32_t *ids = NULL, *tmpl = NULL;
    int n = 0, nt = 0;
    RL_TRY(rl_prompt_clean(prompt, &clean));
    int rc = rl_tokenizer_encode(tok, clean, &ids, &n);
    free(clean);
    if (rc == 0) rc = rl_tokenizer_encode(tok, "", &tmpl, &nt); /* the template's own tokens */
    int64_t len = rc == 0 ? umt5_truncate_ids(ids, n, tmpl, nt, max_len) : -1;
    free(tmpl);
    if (len < 0) {
        free(ids);
        return rl_error_wrap("prompt");
    }
    *ids_out = ids, *n_out = len;
    return 0;
}

int umt5_check_tokenizer(const rl_umt5 *m, const rl_tokenizer *tok, const char *tok_path) {
    int limit = rl_tokenizer_id_limit(tok);
    if (limit > m->cfg.vocab)
        return rl_error_set("%s: the tokenizer has %d token ids but the text encoder's embedding has only %lld rows; "
                            "tokenizer and encoder are not a pair (Wan 2.1 uses google/umt5-xxl's tokenizer)",
                            tok_path, limit, (long long)m->cfg.vocab);
    return 0;
}

int umt5_encode_prompt(rl_umt5 *m, const rl_tokenizer *tok, const char *prompt, int32_t **ids_out, int64_t *n_out,
                       float **context) {
    int32_t *ids = NULL;
    int64_t n = 0;
    RL_TRY(umt5_prompt_ids(tok, prompt, RL_UMT5_MAX_TOKENS, &ids, &n));
    rl_backend *be = m->be;
    int64_t s[2] = {n, m->cfg.dim};
    rl_tensor out = rl_tensor_make(NULL, RL_F32, be->device, 2, s);
    size_t nb = rl_tensor_nbytes(&out);
    float *host = malloc(nb);
    int rc = host ? 0 : rl_error_set("out of host memory for the text context (%lld tokens)", (long long)n);
    if (rc == 0) rc = umt5_check_ids(&m->cfg, ids, n, "the tokenized prompt");
    if (rc == 0 && !(out.data = be->alloc(be, nb))) rc = -1;
    if (rc == 0) rc = umt5_encode(m, ids, n, 0, &out);
    if (rc == 0) rc = be->download(be, host, out.data, nb);
    if (out.data) be->free(be, out.data, nb);
    if (rc != 0) {
        free(ids);
        free(host);
        return -1;
    }
    *ids_out = ids, *n_out = n, *context = host;
    return 0;
}
