/* tokenizer_internal.h: the tokenizer's parts, shared by tokenizer.c (encoding)
 * and tokenizer_load.c (tokenizer.json and spiece.model readers). */
#ifndef RL_TOKENIZER_INTERNAL_H
#define RL_TOKENIZER_INTERNAL_H

#include "io/tokenizer.h"

typedef enum { TOK_NORM_PRECOMPILED, TOK_NORM_STRIP, TOK_NORM_REPLACE } tok_norm_kind;

typedef struct {
    tok_norm_kind kind;
    /* Precompiled: the charsmap's darts double-array and its NUL-separated strings. */
    uint32_t *trie;      /* [trie_len] */
    size_t trie_len;
    char *strings;       /* [strings_len] */
    size_t strings_len;
    /* Strip */
    int left, right;
    /* Replace: a literal (min_rep = max_rep = 1 and atom = the whole literal), or
     * one regex atom (a code point, or \s) repeated min_rep..max_rep (-1 = any). */
    char *literal;
    size_t literal_len;
    int is_regex, atom_is_space;
    uint32_t atom;
    int min_rep, max_rep;
    char *content;
    size_t content_len;
} tok_norm;

typedef enum { TOK_PRE_METASPACE, TOK_PRE_WHITESPACE_SPLIT } tok_pre_kind;
typedef enum { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER } tok_prepend;

typedef struct {
    tok_pre_kind kind;
    char repl[5];        /* the replacement character as UTF-8 ("▁") */
    int repl_len;
    tok_prepend prepend;
    int split;
} tok_pre;

typedef struct {
    char *content;
    size_t len;
    char *norm;          /* normalized content (for normalized tokens) */
    size_t norm_len;
    int32_t id;
    int lstrip, rstrip, normalized, special;
} tok_added;

typedef struct {
    uint32_t first_child, n_child; /* children are contiguous, sorted by label */
    int32_t id;                    /* piece id ending here, -1 none */
    uint8_t label;
} tok_trie_node;

struct rl_tokenizer {
    char name[256];
    /* Unigram model */
    int n_pieces;
    char *blob;          /* all pieces, concatenated */
    size_t *piece_off;   /* [n_pieces + 1] */
    double *score;       /* [n_pieces] */
    int32_t *slots;      /* hash map piece -> id (last duplicate wins) */
    uint32_t n_slots;
    tok_trie_node *nodes;
    uint32_t n_nodes;
    int unk_id;          /* -1: none */
    int byte_fallback;
    double min_score;
    int32_t byte_ids[256]; /* <0xXX> pieces, -1 when absent */
    /* pipeline */
    tok_norm *norms;
    int n_norms;
    tok_pre *pres;
    int n_pres;
    tok_added *added;
    int n_added;
    int32_t *post_before, *post_after; /* template special ids around $A */
    int n_post_before, n_post_after;
};

/* Builds the hash map, the piece trie, min score and byte pieces from the
 * pieces already stored (blob, piece_off, score, n_pieces). */
int tok_model_finish(rl_tokenizer *t);
int32_t tok_piece_id(const rl_tokenizer *t, const char *s, size_t n);
/* Parses a precompiled charsmap blob into nm (kind PRECOMPILED). */
int tok_charsmap_parse(tok_norm *nm, const uint8_t *blob, size_t n, const char *where);
/* Runs the normalizer chain on s[0..n); *out malloc'ed. */
int tok_normalize(const rl_tokenizer *t, const char *s, size_t n, char **out, size_t *out_n);

#endif
