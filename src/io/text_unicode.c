/* text_unicode.c: strict UTF-8, grapheme clusters and white space.
 *
 * Grapheme clusters follow unicode-segmentation 1.12 (what HF tokenizers 0.20.3
 * links) on a whole string: the UAX #29 extended rules GB3..GB13 including GB9c
 * (Indic conjuncts), with the class table of Unicode 16.0. The decision for a
 * position looks back as far as the rule needs (GB9c, GB11, GB12/13), never only
 * inside the current cluster, as the crate does. */
#include "io/text_unicode.h"

int rl_utf8_decode(const char *str, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int rl_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | (cp >> 6)); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int rl_utf8_check(const char *s, size_t n, size_t *bad_at) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int l = rl_utf8_decode(s + i, n - i, &cp);
        if (l == 0) {
            if (bad_at) *bad_at = i;
            return -1;
        }
        i += (size_t)l;
    }
    return 0;
}

rl_gcb rl_gcb_of(uint32_t cp) {
    if (cp <= 0x7E) { /* the crate's ASCII shortcut, same classes as the table */
        if (cp >= 0x20) return RL_GCB_ANY;
        if (cp == '\n') return RL_GCB_LF;
        if (cp == '\r') return RL_GCB_CR;
        return RL_GCB_CONTROL;
    }
    int lo = 0, hi = rl_gcb_table_len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < rl_gcb_table[mid].lo) hi = mid - 1;
        else if (cp > rl_gcb_table[mid].hi) lo = mid + 1;
        else return (rl_gcb)rl_gcb_table[mid].cls;
    }
    return RL_GCB_ANY;
}

static int is_incb_extend(uint32_t cp) {
    int lo = 0, hi = rl_incb_extend_table_len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < rl_incb_extend_table[mid].lo) hi = mid - 1;
        else if (cp > rl_incb_extend_table[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

static int is_incb_linker(uint32_t cp) {
    for (int i = 0; i < rl_incb_linker_table_len; i++)
        if (rl_incb_linker_table[i] == cp) return 1;
    return 0;
}

/* The scalar value that ends just before byte `pos` (valid UTF-8); *start gets its offset. */
static uint32_t prev_cp(const char *s, size_t pos, size_t *start) {
    size_t p = pos - 1;
    while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
    uint32_t cp = 0;
    rl_utf8_decode(s + p, pos - p, &cp);
    *start = p;
    return cp;
}

/* GB9c: is there Consonant [Extend Linker]* Linker [Extend Linker]* right before `pos`? */
static int gb9c_joins(const char *s, size_t pos) {
    int linkers = 0;
    while (pos > 0) {
        size_t st;
        uint32_t cp = prev_cp(s, pos, &st);
        if (is_incb_linker(cp)) linkers++;
        else if (!is_incb_extend(cp)) return linkers > 0 && rl_gcb_of(cp) == RL_GCB_INCB_CONSONANT;
        pos = st;
    }
    return 0;
}

/* GB11: ExtPict Extend* ZWJ x ExtPict; `pos` is the offset of the ZWJ. */
static int gb11_joins(const char *s, size_t pos) {
    while (pos > 0) {
        size_t st;
        rl_gcb c = rl_gcb_of(prev_cp(s, pos, &st));
        if (c == RL_GCB_EXTENDED_PICTOGRAPHIC) return 1;
        if (c != RL_GCB_EXTEND) return 0;
        pos = st;
    }
    return 0;
}

/* 1 when there is a boundary between the scalar ending at `pos` (starting at
 * `bpos`, class b) and the one starting at `pos` (class a). */
static int is_break(const char *s, size_t bpos, size_t pos, rl_gcb b, rl_gcb a) {
    if (b == RL_GCB_CR && a == RL_GCB_LF) return 0;                                   /* GB3 */
    if (b == RL_GCB_CONTROL || b == RL_GCB_CR || b == RL_GCB_LF) return 1;          /* GB4 */
    if (a == RL_GCB_CONTROL || a == RL_GCB_CR || a == RL_GCB_LF) return 1;          /* GB5 */
    if (b == RL_GCB_L && (a == RL_GCB_L || a == RL_GCB_V || a == RL_GCB_LV || a == RL_GCB_LVT)) return 0;
    if ((b == RL_GCB_LV || b == RL_GCB_V) && (a == RL_GCB_V || a == RL_GCB_T)) return 0;
    if ((b == RL_GCB_LVT || b == RL_GCB_T) && a == RL_GCB_T) return 0;              /* GB6-8 */
    if (a == RL_GCB_EXTEND || a == RL_GCB_ZWJ) return 0;                            /* GB9 */
    if (a == RL_GCB_SPACINGMARK) return 0;                                          /* GB9a */
    if (b == RL_GCB_PREPEND) return 0;                                              /* GB9b */
    if (a == RL_GCB_INCB_CONSONANT) return !gb9c_joins(s, pos);                     /* GB9c */
    if (b == RL_GCB_ZWJ && a == RL_GCB_EXTENDED_PICTOGRAPHIC) return !gb11_joins(s, bpos);
    if (b == RL_GCB_REGIONAL_INDICATOR && a == RL_GCB_REGIONAL_INDICATOR) {         /* GB12/13 */
        int count = 0;
        size_t p = pos;
        while (p > 0) {
            size_t st;
            if (rl_gcb_of(prev_cp(s, p, &st)) != RL_GCB_REGIONAL_INDICATOR) break;
            count++;
            p = st;
        }
        return count % 2 == 0;
    }
    return 1;                                                                       /* GB999 */
}

size_t rl_grapheme_end(const char *s, size_t n, size_t pos) {
    uint32_t cp;
    int l = rl_utf8_decode(s + pos, n - pos, &cp);
    if (l == 0) return pos + 1 <= n ? pos + 1 : n; /* callers pass valid UTF-8 */
    size_t bpos = pos;
    rl_gcb b = rl_gcb_of(cp);
    pos += (size_t)l;
    while (pos < n) {
        l = rl_utf8_decode(s + pos, n - pos, &cp);
        if (l == 0) return pos;
        rl_gcb a = rl_gcb_of(cp);
        if (is_break(s, bpos, pos, b, a)) return pos;
        bpos = pos;
        b = a;
        pos += (size_t)l;
    }
    return pos;
}

int rl_is_white_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

int rl_is_py_space(uint32_t cp) { return rl_is_white_space(cp) || (cp >= 0x1C && cp <= 0x1F); }
