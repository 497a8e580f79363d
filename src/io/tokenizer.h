/* tokenizer.h: the umT5/T5 SentencePiece-unigram tokenizer, encoding exactly as
 * HF `tokenizers` 0.20.3 does, from either file users have:
 *  - tokenizer.json (HF): Unigram model; normalizer Precompiled / Strip / Replace
 *    (in a Sequence); pre-tokenizer Metaspace (optionally after WhitespaceSplit);
 *    TemplateProcessing post-processor; added tokens. Anything else is refused
 *    with an error naming the component.
 *  - spiece.model (SentencePiece protobuf): turned into what transformers 4.46's
 *    T5TokenizerFast(vocab_file=...) builds from it (T5Converter): the same
 *    pipeline plus 100 <extra_id_N> pieces, </s> appended, no byte fallback.
 * Encoding ids are int32; the caller frees *ids with free(). */
#ifndef RL_TOKENIZER_H
#define RL_TOKENIZER_H

#include "raylight.h"

typedef struct rl_tokenizer rl_tokenizer;

/* Loads tokenizer.json or spiece.model (told apart by content). */
int rl_tokenizer_load(rl_tokenizer **out, const char *path);
/* The same from memory; `name` is used in error messages. */
int rl_tokenizer_load_json_text(rl_tokenizer **out, const char *text, size_t n, const char *name);
int rl_tokenizer_load_spm_bytes(rl_tokenizer **out, const uint8_t *buf, size_t n, const char *name);
void rl_tokenizer_free(rl_tokenizer *t);

/* Encodes UTF-8 text with the post-processor's special tokens (T5: `</s>` last),
 * no truncation or padding. Text that is not UTF-8 is an error. */
int rl_tokenizer_encode(const rl_tokenizer *t, const char *utf8, int32_t **ids, int *n);
/* One past the largest id the tokenizer can emit (model pieces and added tokens). */
int rl_tokenizer_id_limit(const rl_tokenizer *t);

/* Writes a small unigram tokenizer.json with byte fallback (any UTF-8 text
 * tokenizes) for make-tiny; *vocab_size receives its piece count. */
int rl_tokenizer_write_tiny(const char *path, int *vocab_size);

/* Wan's prompt cleaning ('whitespace' mode): ftfy.fix_text (io/prompt_fix.h),
 * Python html.unescape twice, strip, every run of Unicode white space -> one
 * space, strip. *out is malloc'ed. */
int rl_prompt_clean(const char *in, char **out);

#endif
