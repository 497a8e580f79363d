/* prompt_fix.c: ftfy.fix_text (ftfy 6.3.1, default TextFixerConfig) in C, the
 * first step of Wan's prompt cleaning. Text is handled as code points. As ftfy:
 * the text is cut after each '\n' and each piece is fixed until a pass changes
 * nothing; a pass is unescape_html (only while no piece so far held a '<'),
 * fix_encoding, fix_c1_controls, fix_latin_ligatures, fix_character_width,
 * uncurl_quotes, fix_line_breaks, remove_terminal_escapes, remove_control_chars,
 * NFC. fix_encoding repeats one step until nothing changes: ASCII or text that
 * ftfy's badness rules (BADNESS_RE, rule by rule below) do not flag stays; else
 * each of ftfy's ten single-byte encodings (latin-1, sloppy-windows-1252, -1251,
 * -1250, -1253, -1254, -1257, iso-8859-2, macroman, cp437) that can encode the
 * text is tried in ftfy's order: encode, restore_byte_a0 (not for macroman),
 * replace_lossy_sequences (sloppy codecs), decode as UTF-8 (utf-8-variants, i.e.
 * CESU-8 pairs and C0 80, when bytes ED or C0 occur); the first that decodes
 * wins. Then decode_inconsistent_utf8 (mojibake pieces inside other text), and
 * the latin-1 -> windows-1252 step / fix_c1_controls (the same mapping).
 *
 * Not covered: fix_surrogates (valid UTF-8 holds no surrogates) and
 * max_decode_length (ftfy cuts pieces over a million code points; here a piece
 * is fixed whole). NFC follows the Unicode version of the Python that made the
 * tables (the generated prompt_fix_*.c name it: 14.0 for Python 3.11). Tested against
 * ftfy 6.3.1 on 663 strings (tests/test_prompt_fix.c). */
#include "io/prompt_fix.h"

#include "io/text_unicode.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t *p;
    size_t n, cap;
} cpbuf;

static int cb_reserve(cpbuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < b->n + extra) cap *= 2;
    uint32_t *p = realloc(b->p, cap * sizeof *p);
    if (!p) return rl_error_set("out of memory while fixing a prompt of %zu characters", b->n);
    b->p = p, b->cap = cap;
    return 0;
}

static int cb_put(cpbuf *b, uint32_t cp) {
    RL_TRY(cb_reserve(b, 1));
    b->p[b->n++] = cp;
    return 0;
}

static int cb_put_utf8(cpbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n) {
        uint32_t cp;
        int l = rl_utf8_decode(s, n, &cp);
        if (l <= 0) return rl_error_set("internal: a bad UTF-8 table string");
        RL_TRY(cb_put(b, cp));
        s += l, n -= (size_t)l;
    }
    return 0;
}

static int cp_same(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof *a));
}

/* ---------------------------------------------------------------- classes */

static uint32_t fix_class(uint32_t cp) {
    if (cp < 0x80 && cp != ' ') return 0; /* the space counts as a UTF-8 continuation clue (A0 -> 20) */
    int lo = 0, hi = rl_fix_classes_len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (rl_fix_classes[mid].cp == cp) return rl_fix_classes[mid].mask;
        if (rl_fix_classes[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

static int is_ascii_alpha(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Python re's \w on str: '_' and str.isalnum(). */
static int is_word(uint32_t cp) {
    if (cp < 0x80) return is_ascii_alpha(cp) || (cp >= '0' && cp <= '9') || cp == '_';
    int lo = 0, hi = rl_fix_alnum_len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < rl_fix_alnum[mid].lo) hi = mid - 1;
        else if (cp > rl_fix_alnum[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- badness */

/* One position of a badness rule: a class mask, literal characters (UTF-8),
 * and the few regex classes the rules use. */
enum { P_AZ = 1, P_AZAZ = 2, P_SPACE = 4, P_WORD = 8, P_NOT_AZAZ = 16, P_DOT = 32 };
typedef struct {
    uint32_t mask;
    const char *lits;
    unsigned flags;
} pclass;
typedef struct {
    int len, anchored;
    pclass c[7];
} prule;

#define M_(x) RL_FIX_##x
#define BAD M_(BAD)
#define LA M_(LOWER_ACC)
#define UA M_(UPPER_ACC)
#define BOX M_(BOX)
#define SP M_(START)
#define EP M_(END)
#define CUR M_(CURRENCY)
#define NUM M_(NUMERIC)
#define LAW M_(LAW)
#define LC M_(LOWER_COMMON)
#define UC M_(UPPER_COMMON)
#define C1 M_(C1)
#define L(s) {0, s, 0}
#define K(m) {m, NULL, 0}

/* ftfy.badness.BADNESS_RE, alternative by alternative (all fixed length; the
 * one "\s?" is written as two rules). */
static const prule rules[] = {
    {1, 0, {K(C1)}},
    {2, 0, {K(BAD | LA | UA | BOX | SP | EP | CUR | NUM | LAW), K(BAD)}},
    {3, 0, {{0, NULL, P_AZAZ}, K(LC | UC), K(BAD)}},
    {2, 0, {K(BAD), K(LA | UA | BOX | SP | EP | CUR | NUM | LAW)}},
    {2, 0, {K(LA | LC | BOX | EP | CUR | NUM), K(UA)}},
    {2, 0, {K(BOX | EP | CUR | NUM), K(LA)}},
    {2, 0, {K(LA | BOX | EP), K(CUR)}},
    {3, 0, {{0, NULL, P_SPACE}, K(UA), K(CUR)}},
    {2, 0, {K(UA | BOX), K(NUM | LAW)}},
    {3, 0, {K(LA | UA | BOX | CUR | EP), K(SP), K(NUM)}},
    {3, 0, {K(LA | UA | CUR | NUM | BOX | LAW), K(EP), K(SP)}},
    {2, 0, {K(CUR | NUM | BOX), K(SP)}},
    {3, 0, {{0, NULL, P_AZ}, K(UA), K(SP | CUR)}},
    {2, 0, {K(BOX), K(M_(KAOMOJI))}},
    {2, 0, {K(LA | UA | CUR | NUM | SP | EP | LAW), K(BOX)}},
    {2, 0, {K(BOX), K(EP)}},
    {3, 0, {K(LA | UA), K(SP | EP), {0, NULL, P_WORD}}},
    {2, 0, {L("Œœ"), {0, NULL, P_NOT_AZAZ}}},
    {2, 0, {K(UA), L("°")}},
    {2, 0, {L("ÂÃÎÐ"), {SP | EP, "€œŠš¢£Ÿž\xC2\xA0\xC2\xAD®©°·»–—´", 0}}},
    {2, 0, {L("×"), L("²³")}},
    {4, 0, {L("ØÙ"), {M_(COMMON) | CUR | BAD | NUM | SP, "ŸŠ®°µ»", 0}, L("ØÙ"),
            {M_(COMMON) | CUR | BAD | NUM | SP, "ŸŠ®°µ»", 0}}},
    {2, 0, {L("à"), L("²µ¹¼½¾")}},
    {2, 0, {L("√"), L("±∂†≠®™´≤≥¥µø")}},
    {2, 0, {L("≈"), L("°¢")}},
    {3, 0, {L("‚"), L("Ä"), L("ìîïòôúùû†°¢π")}},
    {3, 0, {L("‚"), L("âó"), L("àä°ê")}},
    {2, 0, {L("в"), L("Ђ")}},
    {3, 0, {L("ВГРС"), {C1 | BAD | SP | EP | CUR, "°µ", 0}, L("ВГРС")}},
    {7, 0, {L("Г"), L("ў"), L("В"), L("Ђ"), L("В"), {0, NULL, P_DOT}, {0, " ", P_AZAZ}}},
    {2, 0, {L("Ã"), L("\xC2\xA0¡")}},
    {3, 0, {{0, NULL, P_AZ}, L("ÃÂ"), L(" ")}},
    {4, 0, {{0, NULL, P_AZ}, {0, NULL, P_SPACE}, L("ÃÂ"), L(" ")}},
    {2, 1, {L("ÃÂ"), L(" ")}},
    {3, 0, {{EP, ".,?!", P_AZ}, L("Â"), {SP | EP, " ", 0}}},
    {3, 0, {L("β"), L("€"), L("™\xC2\xA0Ά\xC2\xAD®°")}},
    {3, 0, {L("ΒΓΞΟ"), {C1 | BAD | SP | EP | CUR, "°", 0}, L("ΒΓΞΟ")}},
    {2, 0, {L("ā"), L("€")}},
};

static int lits_have(const char *s, uint32_t cp) {
    size_t n = strlen(s);
    while (n) {
        uint32_t c;
        int l = rl_utf8_decode(s, n, &c);
        if (l <= 0) return 0;
        if (c == cp) return 1;
        s += l, n -= (size_t)l;
    }
    return 0;
}

static int pclass_has(const pclass *c, uint32_t cp) {
    if (c->mask && (fix_class(cp) & c->mask)) return 1;
    if ((c->flags & P_AZ) && cp >= 'a' && cp <= 'z') return 1;
    if ((c->flags & P_AZAZ) && is_ascii_alpha(cp)) return 1;
    if ((c->flags & P_SPACE) && rl_is_py_space(cp)) return 1;
    if ((c->flags & P_WORD) && is_word(cp)) return 1;
    if ((c->flags & P_NOT_AZAZ) && !is_ascii_alpha(cp)) return 1;
    if ((c->flags & P_DOT) && cp != '\n') return 1;
    return c->lits && lits_have(c->lits, cp);
}

/* ftfy.badness.is_bad: does any rule match anywhere? */
static int is_bad(const uint32_t *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (t[i] < 0x80 && !is_ascii_alpha(t[i]) && t[i] != '.' && t[i] != ',' && t[i] != '?' && t[i] != '!' &&
            !rl_is_py_space(t[i]))
            continue; /* no rule starts with any other ASCII character */
        for (size_t r = 0; r < sizeof rules / sizeof *rules; r++) {
            const prule *R = &rules[r];
            if ((R->anchored && i != 0) || i + (size_t)R->len > n) continue;
            int k = 0;
            while (k < R->len && pclass_has(&R->c[k], t[i + (size_t)k])) k++;
            if (k == R->len) return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- single-byte codecs */

/* windows-1252 bytes 0x80..0x9F; ftfy's "sloppy" codec passes the five
 * unassigned ones through as U+0081, U+008D, U+008F, U+0090, U+009D. */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
    0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178};

enum { ENC_LATIN1 = 0, ENC_SLOPPY1252 = 1, ENC_MACROMAN = 8 };

static int enc_sloppy(int enc) { return !strncmp(rl_fix_charmap_names[enc], "sloppy", 6); }

/* The byte cp encodes to in charmap enc, or -1 (chardata.possible_encoding per
 * character: ASCII but 0x1A, and the characters of bytes 0x80..0xFF and 0x1A). */
static int encode_byte(int enc, uint32_t cp) {
    const uint16_t *m = rl_fix_charmaps[enc];
    if (cp < 0x80 && cp != 0x1A) return (int)cp;
    if (cp == m[128]) return 0x1A;
    if (enc == ENC_LATIN1) return cp <= 0xFF ? (int)cp : -1;
    if (cp > 0xFFFF) return -1;
    for (int b = 0; b < 128; b++)
        if (m[b] == cp) return 0x80 + b;
    return -1;
}

/* ---------------------------------------------------------------- byte fixes */

static int in(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }
static int cont_a(unsigned char c) { return in(c, 0x80, 0x84) || in(c, 0x86, 0x9F) || in(c, 0xA1, 0xBF); }

/* Length of a chardata.ALTERED_UTF8_RE match at b[i], 0 when none. */
static size_t altered_at(const unsigned char *b, size_t n, size_t i) {
    size_t r = n - i;
    unsigned char c = b[i];
    if (r >= 2 && (c == 0xC2 || c == 0xC3 || c == 0xC5 || c == 0xCE || c == 0xD0 || c == 0xD9) && b[i + 1] == ' ')
        return 2;
    if (r >= 3 && (c == 0xE2 || c == 0xE3) && b[i + 1] == ' ' && cont_a(b[i + 2])) return 3;
    if (r >= 3 && in(c, 0xE0, 0xE3) && cont_a(b[i + 1]) && b[i + 2] == ' ') return 3;
    if (r >= 4 && c == 0xF0) {
        int spaces = 0, ok = 1;
        for (int k = 1; k < 4; k++) {
            if (b[i + k] == ' ') spaces++;
            else if (!in(b[i + k], 0x80, 0xBF)) ok = 0;
        }
        if (ok && spaces == 1) return 4;
    }
    return 0;
}

/* fixes.restore_byte_a0 (A_GRAVE_WORD_RE, then ALTERED_UTF8_RE with its spaces
 * made A0). Applied only when ALTERED_UTF8_RE matches somewhere, as ftfy does. */
static int restore_byte_a0(unsigned char **pb, size_t *pn) {
    unsigned char *b = *pb;
    size_t n = *pn, i, any = 0;
    for (i = 0; i < n && !any; i++) any = altered_at(b, n, i);
    if (!any) return 0;
    unsigned char *t = malloc(2 * n + 1), *u = malloc(2 * n + 1);
    if (!t || !u) {
        free(t), free(u);
        return rl_error_set("out of memory while fixing a prompt");
    }
    size_t m = 0;
    for (i = 0; i < n; i++) { /* \xc3 (?! |quele|quela|quilo|s ) -> \xc3\xa0 followed by the space */
        t[m++] = b[i];
        if (b[i] == 0xC3 && i + 1 < n && b[i + 1] == ' ') {
            const char *rest = (const char *)b + i + 2;
            size_t rn = n - i - 2;
            int keep = (rn >= 1 && rest[0] == ' ') || (rn >= 5 && (!memcmp(rest, "quele", 5) || !memcmp(rest, "quela", 5) ||
                                                                  !memcmp(rest, "quilo", 5))) ||
                       (rn >= 2 && !memcmp(rest, "s ", 2));
            if (!keep) t[m++] = 0xA0;
        }
    }
    size_t k = 0;
    for (i = 0; i < m;) {
        size_t l = altered_at(t, m, i);
        if (!l) { u[k++] = t[i++]; continue; }
        for (size_t j = 0; j < l; j++) u[k++] = t[i + j] == ' ' ? 0xA0 : t[i + j];
        i += l;
    }
    free(t);
    free(b);
    *pb = u, *pn = k;
    return 0;
}

static int q1a(unsigned char c) { return c == 0x1A || c == '?'; }
static int c1a(unsigned char c) { return c == 0x1A || in(c, 0x80, 0xBF); }

/* Length of a chardata.LOSSY_UTF8_RE match at b[i], 0 when none. */
static size_t lossy_at(const unsigned char *b, size_t n, size_t i) {
    size_t r = n - i;
    unsigned char c = b[i];
    if (r >= 2 && in(c, 0xC2, 0xDF) && b[i + 1] == 0x1A) return 2;
    if (r >= 2 && in(c, 0xC2, 0xC3) && b[i + 1] == '?') return 2;
    if (r >= 6 && c == 0xED && in(b[i + 1], 0xA0, 0xAF) && b[i + 3] == 0xED && in(b[i + 4], 0xB0, 0xBF)) {
        if (q1a(b[i + 2]) && (q1a(b[i + 5]) || in(b[i + 5], 0x80, 0xBF))) return 6;
        if ((q1a(b[i + 2]) || in(b[i + 2], 0x80, 0xBF)) && q1a(b[i + 5])) return 6;
    }
    if (r >= 3 && in(c, 0xE0, 0xEF)) {
        if (q1a(b[i + 1]) && c1a(b[i + 2])) return 3;
        if (c1a(b[i + 1]) && q1a(b[i + 2])) return 3;
    }
    if (r >= 4 && in(c, 0xF0, 0xF4)) {
        for (int q = 1; q < 4; q++) {
            int ok = 1;
            for (int k = 1; k < 4; k++) ok &= k == q ? q1a(b[i + k]) : c1a(b[i + k]);
            if (ok) return 4;
        }
    }
    return c == 0x1A ? 1 : 0;
}

/* fixes.replace_lossy_sequences: each match becomes the UTF-8 of U+FFFD. */
static int replace_lossy(unsigned char **pb, size_t *pn) {
    unsigned char *b = *pb, *u = malloc(3 * *pn + 1);
    if (!u) return rl_error_set("out of memory while fixing a prompt");
    size_t k = 0;
    for (size_t i = 0; i < *pn;) {
        size_t l = lossy_at(b, *pn, i);
        if (!l) { u[k++] = b[i++]; continue; }
        u[k++] = 0xEF, u[k++] = 0xBF, u[k++] = 0xBD;
        i += l;
    }
    free(b);
    *pb = u, *pn = k;
    return 0;
}

/* UTF-8 (strict), or ftfy's utf-8-variants when allowed: C0 80 is U+0000 and a
 * CESU-8 surrogate pair (ED A0..AF xx ED B0..BF xx) one supplementary character.
 * Returns 0, or 1 when the bytes do not decode (a Python UnicodeDecodeError). */
static int decode_utf8(const unsigned char *b, size_t n, int variants, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        if (variants && n - i >= 2 && b[i] == 0xC0 && b[i + 1] == 0x80) {
            cp = 0, i += 2;
        } else if (variants && n - i >= 6 && b[i] == 0xED && in(b[i + 1], 0xA0, 0xAF) && in(b[i + 2], 0x80, 0xBF) &&
                   b[i + 3] == 0xED && in(b[i + 4], 0xB0, 0xBF) && in(b[i + 5], 0x80, 0xBF)) {
            uint32_t hi = 0xD000 | ((uint32_t)(b[i + 1] & 0x3F) << 6) | (b[i + 2] & 0x3F);
            uint32_t lo = 0xD000 | ((uint32_t)(b[i + 4] & 0x3F) << 6) | (b[i + 5] & 0x3F);
            cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        } else {
            int l = rl_utf8_decode((const char *)b + i, n - i, &cp);
            if (l <= 0) return 1;
            i += (size_t)l;
        }
        if (cb_put(out, cp) != 0) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- fix_encoding */

static int fix_encoding(const uint32_t *t, size_t n, cpbuf *out);

/* Tries one single-byte encoding (the loop body of
 * _fix_encoding_one_step_and_explain): 1 = fixed into out, 0 = not this one. */
static int try_encoding(int enc, const uint32_t *t, size_t n, cpbuf *out) {
    unsigned char *b = malloc(n + 1);
    if (!b) return rl_error_set("out of memory while fixing a prompt");
    size_t m = n;
    int has_ed_c0 = 0, rc = 0;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)encode_byte(enc, t[i]);
    if ((enc != ENC_MACROMAN && restore_byte_a0(&b, &m) != 0) || (enc_sloppy(enc) && replace_lossy(&b, &m) != 0)) {
        free(b);
        return -1;
    }
    for (size_t i = 0; i < m; i++) has_ed_c0 |= b[i] == 0xED || b[i] == 0xC0;
    rc = decode_utf8(b, m, has_ed_c0, out);
    free(b);
    return rc < 0 ? -1 : rc == 0;
}

static int possible(int enc, const uint32_t *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (encode_byte(enc, t[i]) < 0) return 0;
    return 1;
}

/* Length of a chardata.UTF8_DETECTOR_RE match at t[i] (the lookbehind checked by
 * the caller): one or more UTF-8-looking lead + continuation groups. */
static size_t utf8_clue_at(const uint32_t *t, size_t n, size_t i) {
    size_t j = i;
    for (;;) {
        uint32_t m = j < n ? fix_class(t[j]) : 0;
        size_t need = m & RL_FIX_FIRST2 ? 1 : m & RL_FIX_FIRST3 ? 2 : m & RL_FIX_FIRST4 ? 3 : 0;
        size_t k = 0;
        while (need && k < need && j + 1 + k < n && (fix_class(t[j + 1 + k]) & RL_FIX_CONT)) k++;
        if (!need || k < need) return j - i;
        j += 1 + need;
    }
}

/* fixes.decode_inconsistent_utf8: each UTF-8-looking piece shorter than the text
 * that is bad on its own is replaced by its fix_encoding. */
static int decode_inconsistent(const uint32_t *t, size_t n, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < n;) {
        size_t l = (i > 0 && (fix_class(t[i - 1]) & RL_FIX_CONT_STRICT)) ? 0 : utf8_clue_at(t, n, i);
        if (l && l < n && is_bad(t + i, l)) {
            cpbuf f = {0};
            if (fix_encoding(t + i, l, &f) != 0 || cb_reserve(out, f.n) != 0) {
                free(f.p);
                return -1;
            }
            memcpy(out->p + out->n, f.p, f.n * sizeof *f.p);
            out->n += f.n;
            free(f.p);
            i += l;
        } else if (l) {
            RL_TRY(cb_reserve(out, l));
            memcpy(out->p + out->n, t + i, l * sizeof *t);
            out->n += l, i += l;
        } else {
            RL_TRY(cb_put(out, t[i++]));
        }
    }
    return 0;
}

/* fixes.fix_c1_controls: C1 characters read as sloppy windows-1252. */
static void fix_c1_in_place(uint32_t *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (t[i] >= 0x80 && t[i] <= 0x9F) t[i] = cp1252_c1[t[i] - 0x80];
}

/* One step of fix_encoding; out holds the result (a copy when unchanged). */
static int fix_encoding_step(const uint32_t *t, size_t n, cpbuf *out) {
    out->n = 0;
    int ascii = 1;
    for (size_t i = 0; i < n; i++) ascii &= t[i] < 0x80;
    if (n == 0 || ascii || !is_bad(t, n)) goto same;
    for (int enc = 0; enc < RL_FIX_N_CHARMAPS; enc++) {
        if (!possible(enc, t, n)) continue;
        int rc = try_encoding(enc, t, n, out);
        if (rc != 0) return rc < 0 ? -1 : 0;
    }
    if (decode_inconsistent(t, n, out) != 0) return -1;
    if (!cp_same(out->p, out->n, t, n)) return 0;
    /* What remains in ftfy: latin-1 text is tried as .encode("latin-1").decode("windows-1252"),
     * and if that fails or changes nothing, fix_c1_controls; both map C1 characters
     * the same way (the strict decode fails only where the sloppy one keeps them). */
    out->n = 0;
    RL_TRY(cb_reserve(out, n));
    memcpy(out->p, t, n * sizeof *t);
    out->n = n;
    fix_c1_in_place(out->p, out->n);
    return 0;
same:
    RL_TRY(cb_reserve(out, n));
    if (n) memcpy(out->p, t, n * sizeof *t);
    out->n = n;
    return 0;
}

/* ftfy.fix_encoding: steps until the text stops changing. */
static int fix_encoding(const uint32_t *t, size_t n, cpbuf *out) {
    cpbuf cur = {0}, next = {0};
    RL_TRY(cb_reserve(&cur, n + 1));
    if (n) memcpy(cur.p, t, n * sizeof *t);
    cur.n = n;
    for (int guard = 0; guard < 64; guard++) {
        if (fix_encoding_step(cur.p, cur.n, &next) != 0) {
            free(cur.p), free(next.p);
            return -1;
        }
        int same = cp_same(cur.p, cur.n, next.p, next.n);
        cpbuf tmp = cur;
        cur = next, next = tmp;
        if (same) break;
    }
    free(next.p);
    free(out->p);
    *out = cur;
    return 0;
}

/* ---------------------------------------------------------------- unescape_html */

static const char *entity_find(const char *name) {
    int lo = 0, hi = rl_html_entities_len - 1;
    while (lo <= hi) { /* html5 names ending in ';' */
        int mid = (lo + hi) / 2, c = strcmp(name, rl_html_entities[mid].name);
        if (!c) return rl_html_entities[mid].value;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    lo = 0, hi = rl_fix_upper_entities_len - 1;
    while (lo <= hi) { /* ftfy's all-caps additions */
        int mid = (lo + hi) / 2, c = strcmp(name, rl_fix_upper_entities[mid].name);
        if (!c) return rl_fix_upper_entities[mid].value;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

static const uint16_t charref_c1[32] = {
    0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
    0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178};

/* Python html's numeric reference value: the character, or -1 for nothing. */
static int64_t charref_value(uint64_t num) {
    if (num == 0) return 0xFFFD;
    if (num == 0x0D) return 0x0D;
    if (num >= 0x80 && num <= 0x9F) return charref_c1[num - 0x80];
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return 0xFFFD;
    if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || (num >= 0x7F && num <= 0x9F) ||
        (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return -1;
    return (int64_t)num;
}

static int is_alnum_ascii(uint32_t c) { return is_ascii_alpha(c) || (c >= '0' && c <= '9'); }

/* fixes.unescape_html: &#?[0-9A-Za-z]{1,24}; replaced when it is an html5 name
 * with its ';', an all-caps one, or a numeric reference that html.unescape reads
 * whole (and whose character is not ';'). */
static int unescape_html(const uint32_t *t, size_t n, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < n;) {
        size_t s = i + 1, e;
        int hash = s < n && t[s] == '#';
        if (t[i] == '&') {
            s += (size_t)hash;
            for (e = s; e < n && is_alnum_ascii(t[e]); e++) {}
            if (e > s && e - s <= 24 && e < n && t[e] == ';') {
                char name[32];
                size_t k = 0;
                for (size_t j = s; j <= e; j++) name[k++] = (char)t[j];
                name[k] = 0;
                const char *v = NULL;
                int64_t cp = -2;
                if (!hash) v = entity_find(name);
                else {
                    int hex = name[0] == 'x' || name[0] == 'X';
                    uint64_t num = 0;
                    size_t j = (size_t)hex, digits = 0;
                    for (; name[j] != ';'; j++, digits++) {
                        int d = name[j] >= '0' && name[j] <= '9' ? name[j] - '0'
                                : hex && (name[j] | 0x20) >= 'a' && (name[j] | 0x20) <= 'f' ? (name[j] | 0x20) - 'a' + 10
                                                                                           : -1;
                        if (d < 0) break;
                        num = num * (hex ? 16 : 10) + (uint64_t)d;
                        if (num > 0x10FFFF) num = 0x110000;
                    }
                    if (name[j] == ';' && digits > 0) cp = charref_value(num);
                    if (cp == ';') cp = -2; /* the result holds a ';': ftfy keeps the text */
                }
                if (v || cp != -2) {
                    if (v) RL_TRY(cb_put_utf8(out, v));
                    else if (cp >= 0) RL_TRY(cb_put(out, (uint32_t)cp));
                    i = e + 1;
                    continue;
                }
            }
        }
        RL_TRY(cb_put(out, t[i++]));
    }
    return 0;
}

/* ---------------------------------------------------------------- per-character fixes */

typedef struct {
    uint32_t cp;
    const char *to;
} ligature;

static const ligature ligatures[] = { /* chardata.LIGATURES */
    {0x132, "IJ"}, {0x133, "ij"}, {0x149, "\xCA\xBCn"}, {0x1C4, "D\xC5\xBD"}, {0x1C5, "D\xC5\xBE"},
    {0x1C6, "d\xC5\xBE"}, {0x1C7, "LJ"}, {0x1C8, "Lj"}, {0x1C9, "lj"}, {0x1CA, "NJ"}, {0x1CB, "Nj"},
    {0x1CC, "nj"}, {0x1F1, "DZ"}, {0x1F2, "Dz"}, {0x1F3, "dz"}, {0xFB00, "ff"}, {0xFB01, "fi"},
    {0xFB02, "fl"}, {0xFB03, "ffi"}, {0xFB04, "ffl"}, {0xFB05, "\xC5\xBFt"}, {0xFB06, "st"},
};

static const char *width_find(uint32_t cp) {
    int lo = 0, hi = rl_fix_width_len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (rl_fix_width[mid].cp == cp) return rl_fix_width[mid].to;
        if (rl_fix_width[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static int is_removed_control(uint32_t c) { /* chardata.CONTROL_CHARS */
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes,
 * fix_line_breaks, remove_terminal_escapes, remove_control_chars, in ftfy's
 * order (each one sees the previous one's result). */
static int fix_characters(const uint32_t *t, size_t n, cpbuf *out) {
    cpbuf a = {0}, b = {0};
    int rc = cb_reserve(&a, n + 1);
    for (size_t i = 0; rc == 0 && i < n; i++) { /* C1, ligatures, width, quotes: one character each */
        uint32_t c = t[i] >= 0x80 && t[i] <= 0x9F ? charref_c1[t[i] - 0x80] : t[i];
        const char *to = NULL;
        for (size_t k = 0; k < sizeof ligatures / sizeof *ligatures && !to; k++)
            if (ligatures[k].cp == c) to = ligatures[k].to;
        if (!to && (c == 0x3000 || (c >= 0xFF01 && c <= 0xFFEF))) to = width_find(c);
        cpbuf *dst = &a;
        size_t from = a.n;
        if (to) rc = cb_put_utf8(dst, to);
        else rc = cb_put(dst, c);
        for (size_t k = from; rc == 0 && k < a.n; k++) {
            if (a.p[k] == 0x2BC || (a.p[k] >= 0x2018 && a.p[k] <= 0x201B)) a.p[k] = '\'';
            else if (a.p[k] >= 0x201C && a.p[k] <= 0x201F) a.p[k] = '"';
        }
    }
    for (size_t i = 0; rc == 0 && i < a.n; i++) { /* line breaks */
        uint32_t c = a.p[i];
        if (c == '\r' && i + 1 < a.n && a.p[i + 1] == '\n') continue;
        rc = cb_put(&b, c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85 ? '\n' : c);
    }
    out->n = 0;
    for (size_t i = 0; rc == 0 && i < b.n; i++) { /* terminal escapes, then control characters */
        if (b.p[i] == 0x1B && i + 1 < b.n && b.p[i + 1] == '[') {
            size_t j = i + 2;
            while (j < b.n && ((b.p[j] >= '0' && b.p[j] <= '9') || b.p[j] == ';')) j++;
            if (j < b.n && is_ascii_alpha(b.p[j])) {
                i = j;
                continue;
            }
        }
        if (!is_removed_control(b.p[i])) rc = cb_put(out, b.p[i]);
    }
    free(a.p);
    free(b.p);
    return rc;
}

/* ---------------------------------------------------------------- NFC */

enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, LCOUNT = 19, VCOUNT = 21, TCOUNT = 28,
       SCOUNT = LCOUNT * VCOUNT * TCOUNT };

static uint32_t ccc_of(uint32_t cp) {
    if (cp < 0x300) return 0;
    int lo = 0, hi = rl_nfc_ccc_len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < rl_nfc_ccc[mid].lo) hi = mid - 1;
        else if (cp > rl_nfc_ccc[mid].hi) lo = mid + 1;
        else return rl_nfc_ccc[mid].ccc;
    }
    return 0;
}

static const rl_nfc_decomp *decomp_of(uint32_t cp) {
    int lo = 0, hi = rl_nfc_decomps_len - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (rl_nfc_decomps[mid].cp == cp) return &rl_nfc_decomps[mid];
        if (rl_nfc_decomps[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static int decompose(uint32_t cp, cpbuf *out, int depth) {
    if (cp >= SBASE && cp < SBASE + SCOUNT) {
        uint32_t s = cp - SBASE;
        RL_TRY(cb_put(out, LBASE + s / (VCOUNT * TCOUNT)));
        RL_TRY(cb_put(out, VBASE + (s % (VCOUNT * TCOUNT)) / TCOUNT));
        return s % TCOUNT ? cb_put(out, TBASE + s % TCOUNT) : 0;
    }
    const rl_nfc_decomp *d = cp >= 0xC0 && depth < 8 ? decomp_of(cp) : NULL;
    if (!d) return cb_put(out, cp);
    RL_TRY(decompose(d->a, out, depth + 1));
    return d->b ? decompose(d->b, out, depth + 1) : 0;
}

/* The primary composite of a + b, or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    for (int i = 0; i < rl_nfc_decomps_len; i++) /* prompts are short; ~940 pairs */
        if (rl_nfc_decomps[i].b == b && rl_nfc_decomps[i].a == a && rl_nfc_decomps[i].composes)
            return rl_nfc_decomps[i].cp;
    return 0;
}

/* Decompose, order marks by combining class (stable), recompose (UAX #15). */
static int nfc(const uint32_t *t, size_t n, cpbuf *out) {
    out->n = 0;
    int simple = 1;
    for (size_t i = 0; i < n; i++) simple &= t[i] < 0x300;
    if (simple) { /* nothing below U+0300 changes under NFC */
        RL_TRY(cb_reserve(out, n + 1));
        if (n) memcpy(out->p, t, n * sizeof *t);
        out->n = n;
        return 0;
    }
    for (size_t i = 0; i < n; i++) RL_TRY(decompose(t[i], out, 0));
    uint32_t *p = out->p;
    for (size_t i = 1; i < out->n; i++) {
        uint32_t c = ccc_of(p[i]);
        for (size_t j = i; c && j > 0 && ccc_of(p[j - 1]) > c; j--) {
            uint32_t tmp = p[j - 1];
            p[j - 1] = p[j], p[j] = tmp;
        }
    }
    if (out->n == 0) return 0;
    size_t starter = 0, w = 1;
    uint32_t last = ccc_of(p[0]) ? 256 : 0;
    int have_starter = last == 0;
    for (size_t i = 1; i < out->n; i++) {
        uint32_t c = p[i], cc = ccc_of(c), comp = have_starter ? compose_pair(p[starter], c) : 0;
        if (comp && (last < cc || last == 0)) {
            p[starter] = comp;
            continue;
        }
        if (cc == 0) starter = w, have_starter = 1;
        last = cc;
        p[w++] = c;
    }
    out->n = w;
    return 0;
}

/* ---------------------------------------------------------------- fix_text */

/* One fix_and_explain pass over a piece; *changed says whether it did anything. */
static int fix_pass(cpbuf *seg, int unescape, int *changed) {
    cpbuf a = {0}, b = {0};
    int rc = 0;
    if (unescape) rc = unescape_html(seg->p, seg->n, &a);
    if (rc == 0) rc = unescape ? fix_encoding(a.p, a.n, &b) : fix_encoding(seg->p, seg->n, &b);
    if (rc == 0) rc = fix_characters(b.p, b.n, &a);
    if (rc == 0) rc = nfc(a.p, a.n, &b);
    if (rc == 0) {
        *changed = !cp_same(b.p, b.n, seg->p, seg->n);
        free(seg->p);
        *seg = b;
        b.p = NULL;
    }
    free(a.p);
    free(b.p);
    return rc;
}

int rl_prompt_fix_text(const char *in, size_t n, char **out) {
    *out = NULL;
    cpbuf all = {0}, seg = {0};
    int rc = 0, unescape = 1;
    for (size_t i = 0; rc == 0 && i < n;) {
        uint32_t cp;
        int l = rl_utf8_decode(in + i, n - i, &cp);
        if (l <= 0) {
            rc = rl_error_set("the prompt is not valid UTF-8 (bad byte 0x%02X at byte %zu): re-save it as UTF-8",
                              (unsigned char)in[i], i);
            break;
        }
        i += (size_t)l;
        rc = cb_put(&seg, cp);
        if (rc != 0 || (cp != '\n' && i < n)) continue;
        for (size_t k = 0; k < seg.n; k++) unescape &= seg.p[k] != '<'; /* "auto": off from the first '<' on */
        int changed = 1;
        for (int guard = 0; rc == 0 && changed && guard < 32; guard++) rc = fix_pass(&seg, unescape, &changed);
        if (rc == 0) rc = cb_reserve(&all, seg.n);
        if (rc == 0 && seg.n) memcpy(all.p + all.n, seg.p, seg.n * sizeof *seg.p), all.n += seg.n;
        seg.n = 0;
    }
    char *s = rc == 0 ? malloc(4 * all.n + 1) : NULL;
    if (rc == 0 && !s) rc = rl_error_set("out of memory while fixing a prompt");
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < all.n; i++) k += (size_t)rl_utf8_encode(all.p[i], s + k);
        s[k] = 0;
        *out = s;
    }
    free(all.p);
    free(seg.p);
    return rc;
}
