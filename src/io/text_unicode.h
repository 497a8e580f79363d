/* text_unicode.h: the bits of Unicode the tokenizer and the prompt cleaning need:
 * strict UTF-8, extended grapheme clusters exactly as HF tokenizers segments them
 * (unicode-segmentation 1.12, Unicode 16.0; tables in unicode_tables.c, generated
 * by scripts/gen_unicode_tables.py), the White_Space property, and Wan's prompt
 * cleaning (Python html.unescape twice + whitespace collapse). */
#ifndef RL_TEXT_UNICODE_H
#define RL_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    RL_GCB_ANY = 0,
    RL_GCB_CR,
    RL_GCB_LF,
    RL_GCB_CONTROL,
    RL_GCB_EXTEND,
    RL_GCB_ZWJ,
    RL_GCB_REGIONAL_INDICATOR,
    RL_GCB_PREPEND,
    RL_GCB_SPACINGMARK,
    RL_GCB_L,
    RL_GCB_V,
    RL_GCB_T,
    RL_GCB_LV,
    RL_GCB_LVT,
    RL_GCB_EXTENDED_PICTOGRAPHIC,
    RL_GCB_INCB_CONSONANT,
} rl_gcb;

typedef struct { uint32_t lo, hi; uint8_t cls; } rl_gcb_range;
typedef struct { uint32_t lo, hi; } rl_cp_range;
typedef struct { const char *name, *value; } rl_html_entity;

extern const rl_gcb_range rl_gcb_table[];
extern const int rl_gcb_table_len;
extern const rl_cp_range rl_incb_extend_table[];
extern const int rl_incb_extend_table_len;
extern const uint32_t rl_incb_linker_table[];
extern const int rl_incb_linker_table_len;
extern const rl_html_entity rl_html_entities[];
extern const int rl_html_entities_len;

/* Decodes one scalar value at s[0..n): returns its length (1..4) and sets *cp, or
 * 0 when the bytes are not strict UTF-8 (overlong, surrogate, > U+10FFFF, cut). */
int rl_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 into out (4 bytes room); returns the length. */
int rl_utf8_encode(uint32_t cp, char *out);
/* 0 when s[0..n) is valid UTF-8, else -1 with *bad_at the byte offset at fault. */
int rl_utf8_check(const char *s, size_t n, size_t *bad_at);

rl_gcb rl_gcb_of(uint32_t cp);
/* The end (byte offset) of the extended grapheme cluster that starts at `pos` in
 * the valid UTF-8 text s[0..n); the rules look back before pos as UAX #29 does. */
size_t rl_grapheme_end(const char *s, size_t n, size_t pos);

/* Unicode White_Space (Rust char::is_whitespace, `regex` \s). */
int rl_is_white_space(uint32_t cp);
/* Python str.isspace(): White_Space plus U+001C..U+001F. */
int rl_is_py_space(uint32_t cp);

#endif
