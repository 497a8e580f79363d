/* tokenizer.c: encoding, step for step as HF tokenizers 0.20.3 does it:
 *   added tokens split out of the raw text (leftmost-longest) -> each other part
 *   normalized (Precompiled charsmap per grapheme, Strip, Replace) -> normalized
 *   added tokens split out -> pre-tokenizers (Metaspace) -> Unigram Viterbi ->
 *   template post-processor.
 * Conventions: strings are (pointer, byte length), valid UTF-8 (checked on entry);
 * growing arrays are malloc'ed; every failure sets an error and returns -1. */
#include "io/tokenizer_internal.h"
#include "io/text_unicode.h"

#include <stdlib.h>
#include <string.h>

typedef struct { char *p; size_t n, cap; } tbuf;
typedef struct { int32_t *p; int n, cap; } ivec;

static int tb_put(tbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return rl_error_set("tokenizer: out of memory (%zu bytes)", cap);
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static int iv_push(ivec *v, int32_t x) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->p, (size_t)cap * sizeof *p);
        if (!p) return rl_error_set("tokenizer: out of memory for %d ids", cap);
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return 0;
}

/* ---------------------------------------------------------------- model tables */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

#define PIECE(t, i) ((t)->blob + (t)->piece_off[i])
#define PIECE_LEN(t, i) ((t)->piece_off[(i) + 1] - (t)->piece_off[i])

int32_t tok_piece_id(const rl_tokenizer *t, const char *s, size_t n) {
    if (!t->n_slots) return -1;
    uint32_t mask = t->n_slots - 1, h = (uint32_t)hash_bytes(s, n) & mask;
    for (;; h = (h + 1) & mask) {
        int32_t id = t->slots[h];
        if (id < 0) return -1;
        if (PIECE_LEN(t, id) == n && memcmp(PIECE(t, id), s, n) == 0) return id;
    }
}

static const rl_tokenizer *sort_ctx;
static int cmp_pieces(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = PIECE_LEN(sort_ctx, x), ly = PIECE_LEN(sort_ctx, y);
    int c = memcmp(PIECE(sort_ctx, x), PIECE(sort_ctx, y), lx < ly ? lx : ly);
    if (c) return c;
    return lx < ly ? -1 : lx > ly ? 1 : 0;
}

/* Trie over the pieces' bytes, built breadth-first from the sorted piece list so
 * each node's children are contiguous and sorted (binary search at encode time). */
static int build_trie(rl_tokenizer *t) {
    int n = t->n_pieces;
    int32_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    size_t total = 1;
    for (int i = 0; i < n; i++) total += PIECE_LEN(t, i);
    uint32_t *lo = malloc(total * sizeof *lo), *hi = malloc(total * sizeof *hi), *depth = malloc(total * sizeof *depth);
    t->nodes = calloc(total, sizeof *t->nodes);
    if (!order || !lo || !hi || !depth || !t->nodes) {
        free(order); free(lo); free(hi); free(depth);
        return rl_error_set("tokenizer %s: out of memory building the piece trie (%zu nodes)", t->name, total);
    }
    for (int i = 0; i < n; i++) order[i] = i;
    sort_ctx = t;
    qsort(order, (size_t)n, sizeof *order, cmp_pieces);
    uint32_t count = 1;
    lo[0] = 0; hi[0] = (uint32_t)n; depth[0] = 0;
    t->nodes[0].id = -1;
    for (uint32_t q = 0; q < count; q++) {
        uint32_t a = lo[q], b = hi[q], d = depth[q];
        tok_trie_node *nd = &t->nodes[q];
        nd->id = -1;
        while (a < b && PIECE_LEN(t, order[a]) == d) { /* pieces ending here (duplicates) */
            nd->id = tok_piece_id(t, PIECE(t, order[a]), d);
            a++;
        }
        nd->first_child = count;
        while (a < b) {
            uint8_t c = (uint8_t)PIECE(t, order[a])[d];
            uint32_t e = a;
            while (e < b && (uint8_t)PIECE(t, order[e])[d] == c) e++;
            t->nodes[count].label = c;
            lo[count] = a; hi[count] = e; depth[count] = d + 1;
            count++;
            nd = &t->nodes[q];
            nd->n_child++;
            a = e;
        }
    }
    t->n_nodes = count;
    free(order); free(lo); free(hi); free(depth);
    return 0;
}

int tok_model_finish(rl_tokenizer *t) {
    if (t->n_pieces <= 0) return rl_error_set("tokenizer %s: the vocabulary is empty", t->name);
    if (t->unk_id >= t->n_pieces)
        return rl_error_set("tokenizer %s: unk_id %d is outside the vocabulary of %d pieces", t->name, t->unk_id,
                            t->n_pieces);
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)t->n_pieces) cap *= 2;
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots) return rl_error_set("tokenizer %s: out of memory for the vocabulary map", t->name);
    memset(t->slots, 0xFF, cap * sizeof *t->slots);
    t->n_slots = cap;
    t->min_score = 1e300;
    for (int i = 0; i < t->n_pieces; i++) {
        uint32_t h = (uint32_t)hash_bytes(PIECE(t, i), PIECE_LEN(t, i)) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            int32_t id = t->slots[h];
            if (id < 0 || (PIECE_LEN(t, id) == PIECE_LEN(t, i) && !memcmp(PIECE(t, id), PIECE(t, i), PIECE_LEN(t, i)))) {
                t->slots[h] = i; /* a later duplicate replaces the earlier, as a HashMap insert does */
                break;
            }
        }
        if (t->score[i] < t->min_score) t->min_score = t->score[i];
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = tok_piece_id(t, name, 6);
    }
    return build_trie(t);
}

/* ---------------------------------------------------------------- charsmap */

/* The precompiled charsmap: u32 trie size in bytes, the darts-clone double array
 * (u32 units), then NUL-terminated replacement strings. A unit holds: bit 8 =
 * has a leaf child, bits 0-7 (+ bit 31) = label, bits 10-31 = offset (shifted
 * left by 8 more when bit 9 is set); a leaf unit's low 31 bits are the value. */
int tok_charsmap_parse(tok_norm *nm, const uint8_t *blob, size_t n, const char *where) {
    nm->kind = TOK_NORM_PRECOMPILED;
    if (n < 4) return rl_error_set("%s: precompiled_charsmap of %zu bytes is too short to hold its header", where, n);
    uint32_t size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if (size % 4 || size > n - 4 || size == 0)
        return rl_error_set("%s: precompiled_charsmap says its trie has %u bytes but %zu follow (or not a multiple of 4)",
                            where, size, n - 4);
    nm->trie_len = size / 4;
    nm->trie = malloc(size);
    nm->strings_len = n - 4 - size;
    nm->strings = malloc(nm->strings_len + 1);
    if (!nm->trie || !nm->strings) return rl_error_set("%s: out of memory for the charsmap", where);
    for (size_t i = 0; i < nm->trie_len; i++) {
        const uint8_t *p = blob + 4 + 4 * i;
        nm->trie[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(nm->strings, blob + 4 + size, nm->strings_len);
    nm->strings[nm->strings_len] = 0;
    size_t bad;
    if (rl_utf8_check(nm->strings, nm->strings_len, &bad) != 0)
        return rl_error_set("%s: the charsmap's replacement strings are not UTF-8 (byte %zu)", where, bad);
    return 0;
}

static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

/* spm_precompiled's transform(): the FIRST (shortest) key that is a prefix of
 * key[0..n) (stopping at a NUL byte), with its replacement in rep, rep_n. 1 found, 0
 * not, -1 on a corrupt charsmap. */
static int charsmap_lookup(const tok_norm *nm, const char *key, size_t n, const char **rep, size_t *rep_n) {
    uint32_t pos = 0, u = nm->trie[0];
    pos ^= unit_offset(u);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)key[i];
        if (c == 0) break;
        pos ^= c;
        if (pos >= nm->trie_len) return rl_error_set("tokenizer charsmap: trie index %u is past its %zu units", pos, nm->trie_len);
        u = nm->trie[pos];
        if ((u & (0x80000000u | 0xFFu)) != c) return 0;
        pos ^= unit_offset(u);
        if ((u >> 8) & 1) {
            if (pos >= nm->trie_len)
                return rl_error_set("tokenizer charsmap: leaf index %u is past its %zu units", pos, nm->trie_len);
            size_t v = nm->trie[pos] & 0x7FFFFFFFu;
            if (v > nm->strings_len || (v < nm->strings_len && ((unsigned char)nm->strings[v] & 0xC0) == 0x80))
                return rl_error_set("tokenizer charsmap: replacement offset %zu is not a string start", v);
            *rep = nm->strings + v;
            *rep_n = strnlen(nm->strings + v, nm->strings_len - v);
            return 1;
        }
    }
    return 0;
}

static int norm_precompiled(const tok_norm *nm, const char *s, size_t n, tbuf *out) {
    size_t pos = 0;
    while (pos < n) {
        size_t end = rl_grapheme_end(s, n, pos);
        const char *rep;
        size_t rep_n;
        int r = 0;
        /* Whole clusters under 6 bytes first (only the shortest matching prefix counts,
         * the rest of the cluster is dropped: spm_precompiled's documented quirk). */
        if (end - pos < 6) {
            r = charsmap_lookup(nm, s + pos, end - pos, &rep, &rep_n);
            if (r < 0) return -1;
            if (r) RL_TRY(tb_put(out, rep, rep_n));
        }
        for (size_t p = pos; !r && p < end;) {
            uint32_t cp;
            size_t l = (size_t)rl_utf8_decode(s + p, end - p, &cp);
            int rc = charsmap_lookup(nm, s + p, l, &rep, &rep_n);
            if (rc < 0) return -1;
            RL_TRY(rc ? tb_put(out, rep, rep_n) : tb_put(out, s + p, l));
            p += l;
        }
        pos = end;
    }
    return 0;
}

static int norm_strip(const tok_norm *nm, const char *s, size_t n, tbuf *out) {
    size_t a = 0, b = n;
    uint32_t cp;
    while (nm->left && a < b) {
        int l = rl_utf8_decode(s + a, b - a, &cp);
        if (!rl_is_white_space(cp)) break;
        a += (size_t)l;
    }
    while (nm->right && b > a) {
        size_t p = b - 1;
        while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        rl_utf8_decode(s + p, b - p, &cp);
        if (!rl_is_white_space(cp)) break;
        b = p;
    }
    return tb_put(out, s + a, b - a);
}

/* Length of a match of the Replace pattern at s[i], 0 when none. */
static size_t replace_match(const tok_norm *nm, const char *s, size_t n, size_t i) {
    if (!nm->is_regex)
        return nm->literal_len && n - i >= nm->literal_len && !memcmp(s + i, nm->literal, nm->literal_len)
                   ? nm->literal_len : 0;
    size_t p = i;
    int reps = 0;
    while (p < n && (nm->max_rep < 0 || reps < nm->max_rep)) {
        uint32_t cp;
        int l = rl_utf8_decode(s + p, n - p, &cp);
        if (nm->atom_is_space ? !rl_is_white_space(cp) : cp != nm->atom) break;
        p += (size_t)l;
        reps++;
    }
    return reps >= nm->min_rep ? p - i : 0;
}

static int norm_replace(const tok_norm *nm, const char *s, size_t n, tbuf *out) {
    size_t i = 0;
    while (i < n) {
        size_t m = replace_match(nm, s, n, i);
        if (m) {
            RL_TRY(tb_put(out, nm->content, nm->content_len));
            i += m;
        } else {
            uint32_t cp;
            size_t l = (size_t)rl_utf8_decode(s + i, n - i, &cp);
            RL_TRY(tb_put(out, s + i, l ? l : 1));
            i += l ? l : 1;
        }
    }
    return 0;
}

int tok_normalize(const rl_tokenizer *t, const char *s, size_t n, char **out, size_t *out_n) {
    tbuf cur = {0};
    if (tb_put(&cur, s, n)) return -1;
    for (int k = 0; k < t->n_norms; k++) {
        const tok_norm *nm = &t->norms[k];
        tbuf next = {0};
        int rc = tb_put(&next, "", 0);
        if (rc == 0) {
            if (nm->kind == TOK_NORM_PRECOMPILED) rc = norm_precompiled(nm, cur.p, cur.n, &next);
            else if (nm->kind == TOK_NORM_STRIP) rc = norm_strip(nm, cur.p, cur.n, &next);
            else rc = norm_replace(nm, cur.p, cur.n, &next);
        }
        free(cur.p);
        if (rc) { free(next.p); return -1; }
        cur = next;
    }
    *out = cur.p;
    *out_n = cur.n;
    return 0;
}

/* ---------------------------------------------------------------- unigram */

/* tokenizers' Unigram::encode_optimized + tokenize: best path by byte position
 * (ties keep the first candidate seen), unknown characters scored min_score - 10,
 * consecutive unknowns fused, then each piece mapped to its id, an unknown run to
 * <0xXX> pieces (byte_fallback) or unk_id. */
static int unigram_encode(const rl_tokenizer *t, const char *s, size_t n, ivec *ids) {
    if (n == 0) return 0;
    double *best = malloc((n + 1) * sizeof *best);
    int64_t *from = malloc((n + 1) * sizeof *from);
    int32_t *node_id = malloc((n + 1) * sizeof *node_id);
    if (!best || !from || !node_id) {
        free(best); free(from); free(node_id);
        return rl_error_set("tokenizer %s: out of memory for a %zu-byte lattice", t->name, n);
    }
    for (size_t i = 0; i <= n; i++) { best[i] = 0; from[i] = -1; node_id[i] = 0; }
    const double unk_score = t->min_score - 10.0;
    int rc = 0;
    for (size_t start = 0; start < n && rc == 0;) {
        uint32_t cp;
        size_t mblen = (size_t)rl_utf8_decode(s + start, n - start, &cp);
        if (mblen == 0) mblen = 1;
        double here = best[start];
        int single = 0;
        uint32_t node = 0;
        for (size_t p = start; p < n; p++) {
            const tok_trie_node *nd = &t->nodes[node];
            uint8_t c = (uint8_t)s[p];
            uint32_t lo = nd->first_child, hi = nd->first_child + nd->n_child, found = 0;
            while (lo < hi) {
                uint32_t mid = (lo + hi) / 2;
                if (t->nodes[mid].label < c) lo = mid + 1;
                else hi = mid;
            }
            if (lo < nd->first_child + nd->n_child && t->nodes[lo].label == c) found = 1;
            if (!found) break;
            node = lo;
            int32_t id = t->nodes[node].id;
            if (id < 0) continue;
            size_t end = p + 1;
            double cand = here + t->score[id];
            if (from[end] < 0 || cand > best[end]) { best[end] = cand; from[end] = (int64_t)start; node_id[end] = id; }
            if (end - start == mblen) single = 1;
        }
        if (!single) {
            if (t->unk_id < 0) {
                rc = rl_error_set("tokenizer %s: the text has a character no piece covers and the model has no unk_id",
                                  t->name);
                break;
            }
            size_t end = start + mblen;
            double cand = here + unk_score;
            if (from[end] < 0 || cand > best[end]) { best[end] = cand; from[end] = (int64_t)start; node_id[end] = t->unk_id; }
        }
        start += mblen;
    }
    /* Backtrack into (start, end, is_unk) spans, then emit left to right. */
    size_t n_sp = 0;
    size_t *sp = rc == 0 ? malloc(2 * (n + 1) * sizeof *sp) : NULL;
    if (rc == 0 && !sp) rc = rl_error_set("tokenizer %s: out of memory", t->name);
    for (size_t end = n; rc == 0 && end > 0;) {
        size_t st = (size_t)from[end];
        if (node_id[end] == t->unk_id && t->unk_id >= 0 && n_sp > 0 && sp[2 * (n_sp - 1) + 1] == 1 &&
            sp[2 * (n_sp - 1)] == end) {
            sp[2 * (n_sp - 1)] = st; /* extend the fused unknown run leftwards (stored: start, flag) */
        } else {
            sp[2 * n_sp] = st;
            sp[2 * n_sp + 1] = (node_id[end] == t->unk_id && t->unk_id >= 0);
            n_sp++;
        }
        end = st;
    }
    /* spans are stored end-first; each span's end is the previous span's start */
    for (size_t k = n_sp; rc == 0 && k-- > 0;) {
        size_t st = sp[2 * k], en = k == 0 ? n : sp[2 * (k - 1)];
        int32_t id = tok_piece_id(t, s + st, en - st);
        if (id < 0 && t->byte_fallback) {
            int all = 1;
            for (size_t b = st; b < en; b++) all &= t->byte_ids[(uint8_t)s[b]] >= 0;
            if (all) {
                for (size_t b = st; b < en && rc == 0; b++) rc = iv_push(ids, t->byte_ids[(uint8_t)s[b]]);
                continue;
            }
        }
        if (id < 0) id = t->unk_id;
        if (id < 0) rc = rl_error_set("tokenizer %s: an unknown piece and no unk_id", t->name);
        else rc = iv_push(ids, id);
    }
    free(sp); free(best); free(from); free(node_id);
    return rc;
}

/* ---------------------------------------------------------------- pre-tokenizers */

static int pretokenize(const rl_tokenizer *t, int level, const char *s, size_t n, int first, ivec *ids);

/* Metaspace: ' ' -> replacement, prepend it (always, or first: only on the part
 * that starts the input), then split before every replacement (MergedWithNext). */
static int pre_metaspace(const rl_tokenizer *t, const tok_pre *p, int level, const char *s, size_t n, int first,
                         ivec *ids) {
    tbuf b = {0};
    int rc = tb_put(&b, "", 0);
    int starts = n >= (size_t)p->repl_len && !memcmp(s, p->repl, (size_t)p->repl_len);
    if (rc == 0 && n > 0 && (p->prepend == TOK_PREPEND_ALWAYS || (p->prepend == TOK_PREPEND_FIRST && first)) &&
        !starts && !(n > 0 && s[0] == ' '))
        rc = tb_put(&b, p->repl, (size_t)p->repl_len);
    for (size_t i = 0; i < n && rc == 0; i++) rc = s[i] == ' ' ? tb_put(&b, p->repl, (size_t)p->repl_len) : tb_put(&b, s + i, 1);
    if (rc == 0 && !p->split) rc = pretokenize(t, level + 1, b.p, b.n, first, ids);
    else if (rc == 0) {
        size_t a = 0;
        for (size_t i = 1; i <= b.n && rc == 0; i++) {
            if (i == b.n || (b.n - i >= (size_t)p->repl_len && !memcmp(b.p + i, p->repl, (size_t)p->repl_len))) {
                rc = pretokenize(t, level + 1, b.p + a, i - a, first && a == 0, ids);
                a = i;
            }
        }
    }
    free(b.p);
    return rc;
}

/* WhitespaceSplit: words between runs of White_Space. */
static int pre_whitespace(const rl_tokenizer *t, int level, const char *s, size_t n, int first, ivec *ids) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = (size_t)rl_utf8_decode(s + i, n - i, &cp);
        if (rl_is_white_space(cp)) { i += l; continue; }
        size_t a = i;
        while (i < n) {
            l = (size_t)rl_utf8_decode(s + i, n - i, &cp);
            if (rl_is_white_space(cp)) break;
            i += l;
        }
        RL_TRY(pretokenize(t, level + 1, s + a, i - a, first && a == 0, ids));
    }
    return 0;
}

static int pretokenize(const rl_tokenizer *t, int level, const char *s, size_t n, int first, ivec *ids) {
    if (n == 0) return 0; /* empty splits are dropped */
    if (level == t->n_pres) return unigram_encode(t, s, n, ids);
    const tok_pre *p = &t->pres[level];
    if (p->kind == TOK_PRE_METASPACE) return pre_metaspace(t, p, level, s, n, first, ids);
    return pre_whitespace(t, level, s, n, first, ids);
}

/* ---------------------------------------------------------------- added tokens */

/* Leftmost-longest match of an added token (of the given kind) at or after `from`;
 * returns its index or -1, with [*ms, *me) the match. */
static int added_find(const rl_tokenizer *t, int normalized, const char *s, size_t n, size_t from, size_t *ms,
                      size_t *me) {
    for (size_t i = from; i < n; i++) {
        int best = -1;
        size_t best_len = 0;
        for (int k = 0; k < t->n_added; k++) {
            const tok_added *a = &t->added[k];
            if (a->normalized != normalized) continue;
            const char *c = normalized ? a->norm : a->content;
            size_t cl = normalized ? a->norm_len : a->len;
            if (cl == 0 || cl > n - i || cl <= best_len || c[0] != s[i] || memcmp(c, s + i, cl)) continue;
            best = k;
            best_len = cl;
        }
        if (best >= 0) { *ms = i; *me = i + best_len; return best; }
    }
    return -1;
}

/* Splits s on added tokens of one kind (tokenizers' find_matches, with lstrip and
 * rstrip); text parts go to `text_fn`, matches to ids. */
typedef int (*part_fn)(const rl_tokenizer *t, const char *s, size_t n, int first, ivec *ids);

static int added_split(const rl_tokenizer *t, int normalized, const char *s, size_t n, int first, part_fn text_fn,
                       ivec *ids) {
    size_t done = 0, from = 0, ms, me;
    int k;
    while ((k = added_find(t, normalized, s, n, from, &ms, &me)) >= 0) {
        const tok_added *a = &t->added[k];
        size_t st = ms, en = me;
        uint32_t cp;
        if (a->lstrip) { /* take the white space before it, back to the previous match */
            while (st > done) {
                size_t p = st - 1;
                while (p > done && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                rl_utf8_decode(s + p, st - p, &cp);
                if (!rl_is_white_space(cp)) break;
                st = p;
            }
        }
        if (a->rstrip) {
            while (en < n) {
                int l = rl_utf8_decode(s + en, n - en, &cp);
                if (!rl_is_white_space(cp)) break;
                en += (size_t)l;
            }
        }
        if (st > done) RL_TRY(text_fn(t, s + done, st - done, first && done == 0, ids));
        RL_TRY(iv_push(ids, a->id));
        done = from = en;
    }
    if (done < n) RL_TRY(text_fn(t, s + done, n - done, first && done == 0, ids));
    return 0;
}

static int text_pretok(const rl_tokenizer *t, const char *s, size_t n, int first, ivec *ids) {
    return pretokenize(t, 0, s, n, first, ids);
}

/* A raw part: normalize, then split out normalized added tokens. */
static int text_normalize(const rl_tokenizer *t, const char *s, size_t n, int first, ivec *ids) {
    char *norm;
    size_t nn;
    RL_TRY(tok_normalize(t, s, n, &norm, &nn));
    int rc = added_split(t, 1, norm, nn, first, text_pretok, ids);
    free(norm);
    return rc;
}

int rl_tokenizer_encode(const rl_tokenizer *t, const char *utf8, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    size_t len = strlen(utf8), bad;
    if (rl_utf8_check(utf8, len, &bad) != 0)
        return rl_error_set("text to tokenize is not valid UTF-8 (byte 0x%02X at offset %zu): re-encode it as UTF-8",
                            (unsigned char)utf8[bad], bad);
    ivec v = {0};
    int rc = 0;
    for (int i = 0; i < t->n_post_before && rc == 0; i++) rc = iv_push(&v, t->post_before[i]);
    if (rc == 0) rc = added_split(t, 0, utf8, len, 1, text_normalize, &v);
    for (int i = 0; i < t->n_post_after && rc == 0; i++) rc = iv_push(&v, t->post_after[i]);
    if (rc) { free(v.p); return -1; }
    if (!v.p) v.p = malloc(sizeof *v.p);
    *ids = v.p;
    *n = v.n;
    return 0;
}

int rl_tokenizer_id_limit(const rl_tokenizer *t) {
    int lim = t->n_pieces;
    for (int i = 0; i < t->n_added; i++) if (t->added[i].id + 1 > lim) lim = t->added[i].id + 1;
    for (int i = 0; i < t->n_post_before; i++) if (t->post_before[i] + 1 > lim) lim = t->post_before[i] + 1;
    for (int i = 0; i < t->n_post_after; i++) if (t->post_after[i] + 1 > lim) lim = t->post_after[i] + 1;
    return lim;
}

void rl_tokenizer_free(rl_tokenizer *t) {
    if (!t) return;
    free(t->blob); free(t->piece_off); free(t->score); free(t->slots); free(t->nodes);
    for (int i = 0; i < t->n_norms; i++) {
        free(t->norms[i].trie); free(t->norms[i].strings); free(t->norms[i].literal); free(t->norms[i].content);
    }
    free(t->norms);
    free(t->pres);
    for (int i = 0; i < t->n_added; i++) { free(t->added[i].content); free(t->added[i].norm); }
    free(t->added);
    free(t->post_before); free(t->post_after);
    free(t);
}
