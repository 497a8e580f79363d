/* tokenizer_load.c: reads HF tokenizer.json (cJSON) and SentencePiece spiece.model
 * (protobuf wire format, parsed by hand) into an rl_tokenizer.
 *
 * tokenizer.json: exactly the components transformers' converters write for T5 and
 * umT5 are accepted (see tokenizer.h); any other component is an error naming it.
 * Ignored: decoder, truncation, padding (the CLI prints ids unpadded, untruncated).
 * spiece.model: emulates transformers 4.46.3 T5TokenizerFast(vocab_file=...) and its
 * T5Converter: vocab = pieces + <extra_id_99>..<extra_id_0> (score 0); unk_id from
 * trainer_spec; byte_fallback off (the converter drops it); normalizer =
 * Precompiled(charsmap) if any, Strip(right), Replace(' {2,}' -> '▁'); Metaspace
 * (always, split); CONTROL/USER_DEFINED pieces and </s> <unk> <pad> <extra_id_N>
 * as added tokens; post-processor: append </s>. The converter ignores the
 * normalizer_spec flags add_dummy_prefix / remove_extra_whitespaces /
 * escape_whitespaces, and so do we. */
#include "io/tokenizer_internal.h"
#include "io/text_unicode.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define T5_EXTRA_IDS 100
#define METASPACE "\xe2\x96\x81" /* U+2581 */

static rl_tokenizer *tok_new(const char *name) {
    rl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) { rl_error_set("out of memory loading tokenizer %s", name); return NULL; }
    snprintf(t->name, sizeof t->name, "%s", name);
    t->unk_id = -1;
    return t;
}

static char *dup_bytes(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

/* ---------------------------------------------------------------- pieces */

typedef struct { size_t cap_blob; int cap; } piece_cap;

static int add_piece(rl_tokenizer *t, piece_cap *c, const char *s, size_t n, double score) {
    if (t->n_pieces + 2 > c->cap) {
        int cap = c->cap ? c->cap * 2 : 1024;
        size_t *po = realloc(t->piece_off, (size_t)(cap + 1) * sizeof *po);
        if (po) t->piece_off = po;
        double *sc = realloc(t->score, (size_t)cap * sizeof *sc);
        if (sc) t->score = sc;
        if (!po || !sc) return rl_error_set("tokenizer %s: out of memory for %d pieces", t->name, cap);
        if (c->cap == 0) t->piece_off[0] = 0;
        c->cap = cap;
    }
    size_t used = t->piece_off[t->n_pieces];
    if (used + n + 1 > c->cap_blob) {
        size_t cap = c->cap_blob ? c->cap_blob * 2 : 65536;
        while (cap < used + n + 1) cap *= 2;
        char *b = realloc(t->blob, cap);
        if (!b) return rl_error_set("tokenizer %s: out of memory for the piece strings", t->name);
        t->blob = b;
        c->cap_blob = cap;
    }
    size_t bad;
    if (rl_utf8_check(s, n, &bad) != 0)
        return rl_error_set("tokenizer %s: piece %d is not valid UTF-8", t->name, t->n_pieces);
    memcpy(t->blob + used, s, n);
    t->score[t->n_pieces] = score;
    t->n_pieces++;
    t->piece_off[t->n_pieces] = used + n;
    return 0;
}

static int add_added(rl_tokenizer *t, const char *content, int32_t id, int normalized, int special, int lstrip,
                     int rstrip) {
    for (int i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].content, content)) { /* a repeated token updates the earlier entry */
            t->added[i].id = id;
            return 0;
        }
    tok_added *a = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a);
    if (!a) return rl_error_set("tokenizer %s: out of memory for added tokens", t->name);
    t->added = a;
    tok_added *x = &a[t->n_added];
    memset(x, 0, sizeof *x);
    x->len = strlen(content);
    x->content = dup_bytes(content, x->len);
    if (!x->content) return rl_error_set("tokenizer %s: out of memory for added tokens", t->name);
    x->id = id;
    x->normalized = normalized;
    x->special = special;
    x->lstrip = lstrip;
    x->rstrip = rstrip;
    t->n_added++;
    return 0;
}

/* Normalized added tokens are matched in their normalized form. */
static int finish_added(rl_tokenizer *t) {
    for (int i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        if (!a->normalized) continue;
        RL_TRY(tok_normalize(t, a->content, a->len, &a->norm, &a->norm_len));
    }
    return 0;
}

static tok_norm *push_norm(rl_tokenizer *t) {
    tok_norm *n = realloc(t->norms, (size_t)(t->n_norms + 1) * sizeof *n);
    if (!n) { rl_error_set("tokenizer %s: out of memory", t->name); return NULL; }
    t->norms = n;
    memset(&n[t->n_norms], 0, sizeof *n);
    return &n[t->n_norms++];
}

static tok_pre *push_pre(rl_tokenizer *t) {
    tok_pre *p = realloc(t->pres, (size_t)(t->n_pres + 1) * sizeof *p);
    if (!p) { rl_error_set("tokenizer %s: out of memory", t->name); return NULL; }
    t->pres = p;
    memset(&p[t->n_pres], 0, sizeof *p);
    return &p[t->n_pres++];
}

static int set_post_after(rl_tokenizer *t, int32_t id) {
    t->post_after = malloc(sizeof *t->post_after);
    if (!t->post_after) return rl_error_set("tokenizer %s: out of memory", t->name);
    t->post_after[0] = id;
    t->n_post_after = 1;
    return 0;
}

/* ---------------------------------------------------------------- tokenizer.json */

static int b64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static int b64_decode(const char *s, uint8_t **out, size_t *out_n, const char *where) {
    size_t n = strlen(s);
    uint8_t *o = malloc(n / 4 * 3 + 3);
    if (!o) return rl_error_set("%s: out of memory decoding base64", where);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') { pad++; continue; }
        int v = b64_value((unsigned char)s[i]);
        if (v < 0 || pad) {
            free(o);
            return rl_error_set("%s: precompiled_charsmap is not base64 (character %zu)", where, i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; o[k++] = (uint8_t)(acc >> bits); }
    }
    *out = o;
    *out_n = k;
    return 0;
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jbool(const cJSON *o, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* Replace's Regex pattern: what the converters write (" {2,}"): one atom (a
 * literal character, an escaped one, or \s) with +, {n}, {n,} or {n,m}; a pattern
 * without regex syntax is a literal. */
static int parse_replace_regex(tok_norm *nm, const char *re, const char *where) {
    if (!strpbrk(re, "\\.^$|?*+()[]{}")) {
        nm->literal_len = strlen(re);
        nm->literal = dup_bytes(re, nm->literal_len);
        return nm->literal ? 0 : rl_error_set("%s: out of memory", where);
    }
    const char *p = re;
    size_t n = strlen(re);
    if (p[0] == '\\' && p[1] == 's') { nm->atom_is_space = 1; p += 2; }
    else if (p[0] == '\\' && p[1] && !((p[1] | 0x20) >= 'a' && (p[1] | 0x20) <= 'z') && !(p[1] >= '0' && p[1] <= '9')) {
        nm->atom = (unsigned char)p[1];
        p += 2;
    } else if (!strchr("\\.^$|?*+()[]{}", p[0])) {
        int l = rl_utf8_decode(p, n, &nm->atom);
        if (l == 0) return rl_error_set("%s: Replace regex is not UTF-8", where);
        p += l;
    } else goto unsupported;
    nm->is_regex = 1;
    if (*p == 0) { nm->min_rep = nm->max_rep = 1; return 0; }
    if (p[0] == '+' && p[1] == 0) { nm->min_rep = 1; nm->max_rep = -1; return 0; }
    if (p[0] == '{') {
        char *e;
        long lo = strtol(p + 1, &e, 10), hi;
        if (e == p + 1 || lo < 1 || lo > 1000000) goto unsupported;
        if (e[0] == '}' && e[1] == 0) hi = lo;
        else if (e[0] == ',' && e[1] == '}' && e[2] == 0) hi = -1;
        else if (e[0] == ',') {
            char *f;
            hi = strtol(e + 1, &f, 10);
            if (f == e + 1 || f[0] != '}' || f[1] != 0 || hi < lo) goto unsupported;
        } else goto unsupported;
        nm->min_rep = (int)lo;
        nm->max_rep = (int)hi;
        return 0;
    }
unsupported:
    return rl_error_set("%s: Replace normalizer with regex '%s' is not supported (only one character or \\s with +, "
                        "{n}, {n,} or {n,m}, as the T5/umT5 converters write)", where, re);
}

static int parse_normalizer(rl_tokenizer *t, const cJSON *n, int depth) {
    char where[300];
    snprintf(where, sizeof where, "tokenizer %s: normalizer", t->name);
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) return rl_error_set("%s has no \"type\"", where);
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *it;
        if (!cJSON_IsArray(list) || depth > 4) return rl_error_set("%s: Sequence without a \"normalizers\" list", where);
        cJSON_ArrayForEach(it, list) RL_TRY(parse_normalizer(t, it, depth + 1));
        return 0;
    }
    if (!strcmp(type, "Precompiled")) {
        const char *b64 = jstr(n, "precompiled_charsmap");
        if (!b64) return rl_error_set("%s: Precompiled without a precompiled_charsmap string", where);
        uint8_t *blob = NULL;
        size_t len = 0;
        RL_TRY(b64_decode(b64, &blob, &len, where));
        tok_norm *nm = push_norm(t);
        int rc = nm ? tok_charsmap_parse(nm, blob, len, where) : -1;
        free(blob);
        return rc;
    }
    if (!strcmp(type, "Strip")) {
        tok_norm *nm = push_norm(t);
        if (!nm) return -1;
        nm->kind = TOK_NORM_STRIP;
        nm->left = jbool(n, "strip_left", 1);
        nm->right = jbool(n, "strip_right", 1);
        return 0;
    }
    if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *content = jstr(n, "content"), *lit = jstr(pat, "String"), *re = jstr(pat, "Regex");
        if (!content || (!lit && !re)) return rl_error_set("%s: Replace needs a pattern (String or Regex) and a content", where);
        tok_norm *nm = push_norm(t);
        if (!nm) return -1;
        nm->kind = TOK_NORM_REPLACE;
        nm->content_len = strlen(content);
        nm->content = dup_bytes(content, nm->content_len);
        if (!nm->content) return rl_error_set("%s: out of memory", where);
        if (re) return parse_replace_regex(nm, re, where);
        nm->literal_len = strlen(lit);
        nm->literal = dup_bytes(lit, nm->literal_len);
        return nm->literal ? 0 : rl_error_set("%s: out of memory", where);
    }
    return rl_error_set("%s of type '%s' is not supported (T5/umT5 tokenizers use Precompiled, Strip and Replace)",
                        where, type);
}

static int parse_pre_tokenizer(rl_tokenizer *t, const cJSON *p, int depth) {
    char where[300];
    snprintf(where, sizeof where, "tokenizer %s: pre_tokenizer", t->name);
    if (!p || cJSON_IsNull(p)) return 0;
    const char *type = jstr(p, "type");
    if (!type) return rl_error_set("%s has no \"type\"", where);
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *it;
        if (!cJSON_IsArray(list) || depth > 4) return rl_error_set("%s: Sequence without a \"pretokenizers\" list", where);
        cJSON_ArrayForEach(it, list) RL_TRY(parse_pre_tokenizer(t, it, depth + 1));
        return 0;
    }
    if (!strcmp(type, "WhitespaceSplit")) {
        tok_pre *x = push_pre(t);
        if (!x) return -1;
        x->kind = TOK_PRE_WHITESPACE_SPLIT;
        return 0;
    }
    if (!strcmp(type, "Metaspace")) {
        const char *repl = jstr(p, "replacement"), *scheme = jstr(p, "prepend_scheme");
        uint32_t cp;
        int l = repl ? rl_utf8_decode(repl, strlen(repl), &cp) : 0;
        if (!repl || l == 0 || repl[l] != 0) return rl_error_set("%s: Metaspace replacement must be one character", where);
        tok_pre *x = push_pre(t);
        if (!x) return -1;
        x->kind = TOK_PRE_METASPACE;
        memcpy(x->repl, repl, (size_t)l);
        x->repl_len = l;
        x->split = jbool(p, "split", 1);
        x->prepend = TOK_PREPEND_ALWAYS;
        if (scheme && !strcmp(scheme, "first")) x->prepend = TOK_PREPEND_FIRST;
        else if (scheme && !strcmp(scheme, "never")) x->prepend = TOK_PREPEND_NEVER;
        else if (scheme && strcmp(scheme, "always"))
            return rl_error_set("%s: Metaspace prepend_scheme '%s' is not always, first or never", where, scheme);
        if (!jbool(p, "add_prefix_space", 1)) { /* as tokenizers: false must come with "never" */
            if (x->prepend != TOK_PREPEND_NEVER)
                return rl_error_set("%s: Metaspace add_prefix_space false does not match prepend_scheme", where);
        }
        return 0;
    }
    return rl_error_set("%s of type '%s' is not supported (T5/umT5 tokenizers use Metaspace)", where, type);
}

static int parse_post_processor(rl_tokenizer *t, const cJSON *p) {
    if (!p || cJSON_IsNull(p)) return 0;
    const char *type = jstr(p, "type");
    if (!type || strcmp(type, "TemplateProcessing"))
        return rl_error_set("tokenizer %s: post_processor of type '%s' is not supported (T5/umT5 use TemplateProcessing)",
                            t->name, type ? type : "(none)");
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single"), *specials =
        cJSON_GetObjectItemCaseSensitive(p, "special_tokens"), *it;
    if (!cJSON_IsArray(single)) return rl_error_set("tokenizer %s: TemplateProcessing without a \"single\" template", t->name);
    int seen_a = 0, n = cJSON_GetArraySize(single) * 8 + 1;
    t->post_before = malloc((size_t)n * sizeof(int32_t));
    t->post_after = malloc((size_t)n * sizeof(int32_t));
    if (!t->post_before || !t->post_after) return rl_error_set("tokenizer %s: out of memory", t->name);
    cJSON_ArrayForEach(it, single) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(it, "Sequence"), *sp =
            cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        if (seq) {
            const char *id = jstr(seq, "id");
            if (!id || strcmp(id, "A") || seen_a)
                return rl_error_set("tokenizer %s: TemplateProcessing single template must hold $A once", t->name);
            seen_a = 1;
            continue;
        }
        const char *name = jstr(sp, "id");
        const cJSON *tok = name ? cJSON_GetObjectItemCaseSensitive(specials, name) : NULL;
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(tok, "ids"), *v;
        if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) > 8)
            return rl_error_set("tokenizer %s: TemplateProcessing special token '%s' has no ids", t->name, name ? name : "?");
        cJSON_ArrayForEach(v, ids) {
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483647.0)
                return rl_error_set("tokenizer %s: TemplateProcessing id of '%s' is not a token id", t->name, name);
            if (seen_a) t->post_after[t->n_post_after++] = (int32_t)v->valuedouble;
            else t->post_before[t->n_post_before++] = (int32_t)v->valuedouble;
        }
    }
    if (!seen_a) return rl_error_set("tokenizer %s: TemplateProcessing single template has no $A", t->name);
    return 0;
}

static int parse_model(rl_tokenizer *t, const cJSON *m) {
    const char *type = jstr(m, "type");
    if (!m || !type) return rl_error_set("tokenizer %s: no \"model\" with a \"type\"", t->name);
    if (strcmp(type, "Unigram"))
        return rl_error_set("tokenizer %s: model type '%s' is not supported: raylight-gen reads SentencePiece Unigram "
                            "tokenizers (T5/umT5)", t->name, type);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab"), *unk = cJSON_GetObjectItemCaseSensitive(m, "unk_id"),
                *it;
    if (!cJSON_IsArray(vocab)) return rl_error_set("tokenizer %s: Unigram model without a vocab list", t->name);
    piece_cap cap = {0, 0};
    cJSON_ArrayForEach(it, vocab) {
        const cJSON *s = cJSON_GetArrayItem(it, 0), *sc = cJSON_GetArrayItem(it, 1);
        if (!cJSON_IsArray(it) || !cJSON_IsString(s) || !cJSON_IsNumber(sc))
            return rl_error_set("tokenizer %s: vocab entry %d is not [piece, score]", t->name, t->n_pieces);
        RL_TRY(add_piece(t, &cap, s->valuestring, strlen(s->valuestring), sc->valuedouble));
    }
    if (cJSON_IsNumber(unk)) {
        if (unk->valuedouble < 0 || unk->valuedouble >= t->n_pieces)
            return rl_error_set("tokenizer %s: unk_id %g is outside the vocabulary of %d pieces", t->name,
                                unk->valuedouble, t->n_pieces);
        t->unk_id = (int)unk->valuedouble;
    }
    t->byte_fallback = jbool(m, "byte_fallback", 0);
    return tok_model_finish(t);
}

static int parse_added_tokens(rl_tokenizer *t, const cJSON *list) {
    const cJSON *it;
    if (!list || cJSON_IsNull(list)) return 0;
    if (!cJSON_IsArray(list)) return rl_error_set("tokenizer %s: \"added_tokens\" is not a list", t->name);
    cJSON_ArrayForEach(it, list) {
        const char *content = jstr(it, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!content || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 2147483647.0)
            return rl_error_set("tokenizer %s: an added token without content or id", t->name);
        if (jbool(it, "single_word", 0))
            return rl_error_set("tokenizer %s: added token '%s' has single_word set, which is not supported", t->name, content);
        if (!content[0]) continue;
        RL_TRY(add_added(t, content, (int32_t)id->valuedouble, jbool(it, "normalized", 1), jbool(it, "special", 0),
                         jbool(it, "lstrip", 0), jbool(it, "rstrip", 0)));
    }
    return 0;
}

int rl_tokenizer_load_json_text(rl_tokenizer **out, const char *text, size_t n, const char *name) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(text, n);
    if (!root) return rl_error_set("tokenizer %s: not valid JSON (near byte %td)", name,
                                   cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text : (ptrdiff_t)0);
    rl_tokenizer *t = tok_new(name);
    int rc = t ? 0 : -1;
    if (rc == 0) rc = parse_model(t, cJSON_GetObjectItemCaseSensitive(root, "model"));
    if (rc == 0) rc = parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0);
    if (rc == 0) rc = parse_pre_tokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0);
    if (rc == 0) rc = parse_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
    if (rc == 0) rc = parse_added_tokens(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"));
    if (rc == 0) rc = finish_added(t);
    cJSON_Delete(root);
    if (rc) { rl_tokenizer_free(t); return -1; }
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------- spiece.model */

typedef struct { const uint8_t *p, *end; } pbuf;

static int pb_varint(pbuf *b, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return -1;
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

/* Reads the next field: its number, wire type, and (for length-delimited) the
 * payload, (for varint) the value, (fixed32) the bits; skips fixed64. */
static int pb_field(pbuf *b, uint32_t *field, int *wire, pbuf *payload, uint64_t *value) {
    uint64_t key;
    if (pb_varint(b, &key)) return -1;
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(b, value);
    case 1: if (b->end - b->p < 8) return -1; b->p += 8; return 0;
    case 2: {
        uint64_t len;
        if (pb_varint(b, &len) || len > (uint64_t)(b->end - b->p)) return -1;
        payload->p = b->p;
        payload->end = b->p + len;
        b->p += len;
        return 0;
    }
    case 5:
        if (b->end - b->p < 4) return -1;
        *value = (uint64_t)b->p[0] | (uint64_t)b->p[1] << 8 | (uint64_t)b->p[2] << 16 | (uint64_t)b->p[3] << 24;
        b->p += 4;
        return 0;
    default: return -1;
    }
}

typedef struct {
    int model_type, byte_fallback, unk_id;
    const uint8_t *charsmap;
    size_t charsmap_len;
} spm_specs;

static int spm_piece(rl_tokenizer *t, piece_cap *cap, pbuf m, uint8_t *types, int max_types) {
    const uint8_t *s = (const uint8_t *)"";
    size_t n = 0;
    float score = 0;
    uint64_t type = 1;
    while (m.p < m.end) {
        uint32_t f; int w; pbuf pl = {0}; uint64_t v = 0;
        if (pb_field(&m, &f, &w, &pl, &v)) return rl_error_set("spiece.model %s: piece %d is truncated", t->name, t->n_pieces);
        if (f == 1 && w == 2) { s = pl.p; n = (size_t)(pl.end - pl.p); }
        else if (f == 2 && w == 5) { uint32_t bits = (uint32_t)v; memcpy(&score, &bits, 4); }
        else if (f == 3 && w == 0) type = v;
    }
    if (t->n_pieces < max_types) types[t->n_pieces] = (uint8_t)(type < 256 ? type : 0);
    return add_piece(t, cap, (const char *)s, n, (double)score);
}

static int spm_specs_read(pbuf m, int which, spm_specs *sp) {
    while (m.p < m.end) {
        uint32_t f; int w; pbuf pl = {0}; uint64_t v = 0;
        if (pb_field(&m, &f, &w, &pl, &v)) return -1;
        if (which == 2 && w == 0) {
            if (f == 3) sp->model_type = (int)v;
            else if (f == 35) sp->byte_fallback = v != 0;
            else if (f == 40) sp->unk_id = (int32_t)(uint32_t)v;
        } else if (which == 3 && f == 2 && w == 2) {
            sp->charsmap = pl.p;
            sp->charsmap_len = (size_t)(pl.end - pl.p);
        }
    }
    return 0;
}

static int spm_build(rl_tokenizer *t, const uint8_t *buf, size_t n) {
    spm_specs sp = {1, 0, 0, NULL, 0};
    piece_cap cap = {0, 0};
    int max_types = (int)(n / 2 + 1); /* every piece takes at least 2 bytes */
    uint8_t *types = calloc((size_t)max_types, 1);
    if (!types) return rl_error_set("spiece.model %s: out of memory", t->name);
    pbuf b = {buf, buf + n};
    int rc = 0;
    while (rc == 0 && b.p < b.end) {
        uint32_t f; int w; pbuf pl = {0}; uint64_t v = 0;
        if (pb_field(&b, &f, &w, &pl, &v)) { rc = rl_error_set("spiece.model %s: not a SentencePiece model (bad protobuf)", t->name); break; }
        if (f == 1 && w == 2) rc = spm_piece(t, &cap, pl, types, max_types);
        else if ((f == 2 || f == 3) && w == 2 && spm_specs_read(pl, (int)f, &sp))
            rc = rl_error_set("spiece.model %s: its %s is truncated", t->name, f == 2 ? "trainer_spec" : "normalizer_spec");
    }
    if (rc == 0 && sp.model_type != 1)
        rc = rl_error_set("spiece.model %s: model_type %d is not supported: raylight-gen reads Unigram (1) models only%s",
                          t->name, sp.model_type, sp.model_type == 2 ? " (this one is BPE)" : "");
    if (rc == 0 && t->n_pieces == 0) rc = rl_error_set("spiece.model %s: holds no pieces", t->name);
    if (rc == 0 && (sp.unk_id < 0 || sp.unk_id >= t->n_pieces))
        rc = rl_error_set("spiece.model %s: unk_id %d is outside its %d pieces", t->name, sp.unk_id, t->n_pieces);
    int n_spm = t->n_pieces;
    for (int i = T5_EXTRA_IDS - 1; rc == 0 && i >= 0; i--) {
        char name[32];
        snprintf(name, sizeof name, "<extra_id_%d>", i);
        rc = add_piece(t, &cap, name, strlen(name), 0.0);
    }
    if (rc == 0) {
        t->unk_id = sp.unk_id;
        t->byte_fallback = 0; /* T5Converter does not carry byte_fallback over */
        rc = tok_model_finish(t);
    }
    tok_norm *nm;
    if (rc == 0 && sp.charsmap_len) {
        nm = push_norm(t);
        rc = nm ? tok_charsmap_parse(nm, sp.charsmap, sp.charsmap_len, t->name) : -1;
    }
    if (rc == 0 && (nm = push_norm(t)) == NULL) rc = -1;
    if (rc == 0) { nm->kind = TOK_NORM_STRIP; nm->right = 1; }
    if (rc == 0 && (nm = push_norm(t)) == NULL) rc = -1;
    if (rc == 0) {
        nm->kind = TOK_NORM_REPLACE;
        nm->content = dup_bytes(METASPACE, 3);
        nm->content_len = 3;
        rc = nm->content ? parse_replace_regex(nm, " {2,}", t->name) : rl_error_set("out of memory");
    }
    tok_pre *pre = rc == 0 ? push_pre(t) : NULL;
    if (pre) { pre->kind = TOK_PRE_METASPACE; memcpy(pre->repl, METASPACE, 3); pre->repl_len = 3; pre->prepend = TOK_PREPEND_ALWAYS; pre->split = 1; }
    else rc = -1;
    /* Added tokens: CONTROL (3) and USER_DEFINED (4) pieces, then T5's special tokens. */
    for (int i = 0; rc == 0 && i < n_spm && i < max_types; i++)
        if (types[i] == 3 || types[i] == 4) {
            char *c = dup_bytes(t->blob + t->piece_off[i], t->piece_off[i + 1] - t->piece_off[i]);
            rc = c ? add_added(t, c, tok_piece_id(t, c, strlen(c)), 0, types[i] == 3, 0, 0) : rl_error_set("out of memory");
            free(c);
        }
    const char *specials[3] = {"</s>", "<unk>", "<pad>"};
    int next_id = t->n_pieces;
    for (int i = 0; rc == 0 && i < 3 + T5_EXTRA_IDS; i++) {
        char name[32];
        if (i < 3) snprintf(name, sizeof name, "%s", specials[i]);
        else snprintf(name, sizeof name, "<extra_id_%d>", i - 3);
        int32_t id = tok_piece_id(t, name, strlen(name));
        rc = add_added(t, name, id >= 0 ? id : next_id++, 0, 1, 0, 0);
    }
    if (rc == 0) {
        int32_t eos = -1;
        for (int i = 0; i < t->n_added; i++) if (!strcmp(t->added[i].content, "</s>")) eos = t->added[i].id;
        rc = set_post_after(t, eos);
    }
    free(types);
    return rc;
}

int rl_tokenizer_load_spm_bytes(rl_tokenizer **out, const uint8_t *buf, size_t n, const char *name) {
    *out = NULL;
    rl_tokenizer *t = tok_new(name);
    if (!t) return -1;
    if (spm_build(t, buf, n) != 0) { rl_tokenizer_free(t); return -1; }
    *out = t;
    return 0;
}

int rl_tokenizer_load(rl_tokenizer **out, const char *path) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rl_error_set("cannot open tokenizer file %s: check the path (a tokenizer.json or spiece.model)", path);
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *p = realloc(buf, cap + 1);
            if (!p) { free(buf); fclose(f); return rl_error_set("out of memory reading tokenizer %s", path); }
            buf = p;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return rl_error_set("error reading tokenizer file %s", path); }
    size_t i = 0;
    while (i < n && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r')) i++;
    int rc = (i < n && buf[i] == '{') ? rl_tokenizer_load_json_text(out, buf, n, path)
                                      : rl_tokenizer_load_spm_bytes(out, (const uint8_t *)buf, n, path);
    free(buf);
    return rc;
}
