/* umt5_prompt.h: Wan's prompt path in front of the umT5 encoder (wan/modules/t5.py
 * T5EncoderModel.__call__ with HuggingfaceTokenizer(seq_len=512, clean='whitespace')):
 * clean the prompt, tokenize with the post-processor's </s>, truncate to 512 the
 * way HF tokenizers does (the content is cut to 512 minus the template's tokens,
 * then the template is applied, so </s> stays last), encode, and keep the
 * real-length context [L, dim] (the DiT pads it again). */
#ifndef RL_UMT5_PROMPT_H
#define RL_UMT5_PROMPT_H

#include "io/tokenizer.h"
#include "models/umt5.h"

/* Cleans, tokenizes and truncates `prompt` to at most max_len ids (512 for Wan);
 * *ids is malloc'd. A prompt that is not UTF-8 is an error. */
int umt5_prompt_ids(const rl_tokenizer *tok, const char *prompt, int64_t max_len, int32_t **ids, int64_t *n);

/* HF truncation of an encoding `ids` [n] whose template tokens are `tmpl` [nt]
 * (the encoding of the empty string: for T5 just </s>) to max_len: the content
 * between the template's leading and trailing tokens is cut at the end. In place;
 * returns the new length, or -1 with an error when the encoding does not start
 * and end with the template's tokens. */
int64_t umt5_truncate_ids(int32_t *ids, int64_t n, const int32_t *tmpl, int64_t nt, int64_t max_len);

/* 0 when every id the tokenizer can emit is a row of the encoder's embedding;
 * else an error naming both sizes. */
int umt5_check_tokenizer(const rl_umt5 *m, const rl_tokenizer *tok, const char *tok_path);

/* The whole path on the host side of the interface: *ids (malloc'd, [*n]) and
 * *context (malloc'd host f32 [*n, dim]). */
int umt5_encode_prompt(rl_umt5 *m, const rl_tokenizer *tok, const char *prompt, int32_t **ids, int64_t *n,
                       float **context);

#endif
