/* prompt_clean.c: Wan's 'whitespace' prompt cleaning: ftfy.fix_text (prompt_fix.c),
 * then html.unescape(html.unescape(text)).strip(), then every run of regex \s (Unicode
 * White_Space) becomes one space, then strip() again (Python str.isspace, which
 * also counts U+001C..U+001F).
 *
 * html.unescape is Python's exactly: the pattern
 *   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
 * numeric references with Python's replacements (cp1252 for 0x80..0x9F, U+FFFD for
 * 0, surrogates and > U+10FFFF, nothing for its "invalid code points"), and the full
 * HTML5 named table (2231 names, unicode_tables.c) with the longest-prefix rule for
 * names without their semicolon. */
#include "io/tokenizer.h"
#include "io/prompt_fix.h"
#include "io/text_unicode.h"

#include <stdlib.h>
#include <string.h>

typedef struct { char *p; size_t n, cap; } sbuf;

static int sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return rl_error_set("out of memory while cleaning a prompt of %zu bytes", b->n + n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

static int sb_put_cp(sbuf *b, uint32_t cp) {
    char u[4];
    return sb_put(b, u, (size_t)rl_utf8_encode(cp, u));
}

static const uint16_t cp1252[32] = {
    0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
    0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178};

/* Python html._replace_charref for a numeric reference with value num (saturated). */
static int put_numeric(sbuf *b, uint64_t num) {
    if (num == 0) return sb_put_cp(b, 0xFFFD);
    if (num == 0x0D) return sb_put(b, "\r", 1);
    if (num >= 0x80 && num <= 0x9F) return sb_put_cp(b, cp1252[num - 0x80]);
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return sb_put_cp(b, 0xFFFD);
    if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || (num >= 0x7F && num <= 0x9F) ||
        (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return 0;
    return sb_put_cp(b, (uint32_t)num);
}

static const char *entity_lookup(const char *name, size_t n) {
    int lo = 0, hi = rl_html_entities_len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const char *e = rl_html_entities[mid].name;
        int c = strncmp(name, e, n);
        if (c == 0 && e[n] != 0) c = -1;
        if (c < 0) hi = mid - 1;
        else if (c > 0) lo = mid + 1;
        else return rl_html_entities[mid].value;
    }
    return NULL;
}

/* Tries a reference at s[i] == '&'; returns the bytes consumed (0 = no match). */
static size_t unescape_one(sbuf *b, const char *s, size_t n, size_t i, int *err) {
    size_t j = i + 1;
    if (j < n && s[j] == '#') {
        int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
        size_t k = j + 1 + (size_t)hex, d0 = k;
        uint64_t num = 0;
        for (; k < n; k++) {
            int v = (s[k] >= '0' && s[k] <= '9') ? s[k] - '0'
                    : hex && (s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'f' ? (s[k] | 0x20) - 'a' + 10 : -1;
            if (v < 0) break;
            num = num * (hex ? 16 : 10) + (uint64_t)v;
            if (num > 0x10FFFF) num = 0x110000; /* saturate: all larger values read the same */
        }
        if (k == d0) return 0;
        if (k < n && s[k] == ';') k++;
        *err = put_numeric(b, num);
        return k - i;
    }
    /* [^\t\n\f <&#;]{1,32};? counted in code points */
    size_t k = j;
    int chars = 0;
    while (k < n && chars < 32) {
        char c = s[k];
        if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';') break;
        uint32_t cp;
        int l = rl_utf8_decode(s + k, n - k, &cp);
        k += l ? (size_t)l : 1;
        chars++;
    }
    if (chars == 0) return 0;
    if (k < n && s[k] == ';') k++;
    const char *name = s + j;
    size_t len = k - j;
    const char *v = entity_lookup(name, len);
    if (v) { *err = sb_put(b, v, strlen(v)); return k - i; }
    for (size_t x = len - 1; x >= 2 && x < len; x--) { /* longest known prefix, as Python does */
        v = entity_lookup(name, x);
        if (v) {
            *err = sb_put(b, v, strlen(v));
            if (!*err) *err = sb_put(b, name + x, len - x);
            return k - i;
        }
    }
    *err = sb_put(b, s + i, k - i);
    return k - i;
}

static int html_unescape(const char *s, size_t n, sbuf *out) {
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t stop = amp ? (size_t)(amp - s) : n;
        RL_TRY(sb_put(out, s + i, stop - i));
        i = stop;
        if (i >= n) break;
        int err = 0;
        size_t used = unescape_one(out, s, n, i, &err);
        if (err) return -1;
        if (used == 0) { RL_TRY(sb_put(out, "&", 1)); used = 1; }
        i += used;
    }
    return 0;
}

static int collapse_space(const char *s, size_t n, sbuf *out) {
    size_t i = 0, end = n;
    uint32_t cp;
    while (i < n) { /* strip (str.isspace) */
        int l = rl_utf8_decode(s + i, n - i, &cp);
        if (!rl_is_py_space(cp)) break;
        i += (size_t)l;
    }
    while (end > i) {
        size_t p = end - 1;
        while (p > i && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        rl_utf8_decode(s + p, end - p, &cp);
        if (!rl_is_py_space(cp)) break;
        end = p;
    }
    int in_space = 0;
    while (i < end) {
        int l = rl_utf8_decode(s + i, end - i, &cp);
        if (rl_is_white_space(cp)) in_space = 1;
        else {
            if (in_space) RL_TRY(sb_put(out, " ", 1));
            in_space = 0;
            RL_TRY(sb_put(out, s + i, (size_t)l));
        }
        i += (size_t)l;
    }
    /* A trailing run of \s became one space and strip() removed it; U+001C..U+001F
     * are not \s but were stripped above, so nothing else can remain at the ends. */
    return 0;
}

int rl_prompt_clean(const char *in, char **out) {
    *out = NULL;
    size_t n = strlen(in), bad;
    if (rl_utf8_check(in, n, &bad) != 0)
        return rl_error_set("the prompt is not valid UTF-8 (bad byte 0x%02X at byte %zu): re-save it as UTF-8",
                            (unsigned char)in[bad], bad);
    sbuf a = {0}, b = {0}, c = {0};
    char *fixed = NULL;
    int rc = rl_prompt_fix_text(in, n, &fixed);
    if (rc == 0) rc = html_unescape(fixed, strlen(fixed), &a);
    free(fixed);
    if (rc == 0) rc = html_unescape(a.p ? a.p : "", a.n, &b);
    if (rc == 0) rc = sb_put(&c, "", 0);
    if (rc == 0) rc = collapse_space(b.p ? b.p : "", b.n, &c);
    free(a.p);
    free(b.p);
    if (rc != 0) { free(c.p); return -1; }
    *out = c.p;
    return 0;
}
