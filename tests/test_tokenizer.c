/* test_tokenizer.c: the tokenizer against HF tokenizers' ids (golden files from
 * scripts/golden/make_tokenizer_golden.py): every id of every string must match,
 * for tokenizer.json, for its prepend_scheme first/never and byte_fallback
 * variants (made by the same text edits the script made), and for spiece.model;
 * Wan's prompt cleaning against Python; and bad inputs give errors. */
#include "io/text_unicode.h"
#include "io/tokenizer.h"
#include "testlib.h"

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif
#define GOLDEN RL_SOURCE_DIR "/tests/golden/tokenizer/"

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) buf[len] = 0;
    if (n) *n = (size_t)len;
    return buf;
}

static char *replace_all(const char *s, const char *a, const char *b, int *count) {
    size_t la = strlen(a), lb = strlen(b), n = strlen(s);
    char *out = malloc(n * (lb > la ? lb / la + 2 : 1) + 1), *o = out;
    *count = 0;
    while (*s) {
        if (!strncmp(s, a, la)) { memcpy(o, b, lb); o += lb; s += la; (*count)++; }
        else *o++ = *s++;
    }
    *o = 0;
    return out;
}

static char *unhex(const char *h, size_t n) {
    char *s = malloc(n / 2 + 1);
    size_t k = 0;
    if (!(n == 1 && h[0] == '-'))
        for (size_t i = 0; i + 1 < n; i += 2) {
            unsigned v;
            sscanf(h + i, "%2x", &v);
            s[k++] = (char)v;
        }
    s[k] = 0;
    return s;
}

#define N_VARIANTS 4
typedef struct { char *text; int32_t *ids[N_VARIANTS]; int n[N_VARIANTS]; } gcase;
static gcase cases[400];
static int n_cases;

static void load_cases(void) {
    char *buf = read_file(GOLDEN "ids.txt", NULL);
    EXPECT(buf != NULL, "cannot read %s", GOLDEN "ids.txt");
    if (!buf) return;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line && n_cases < 400; line = strtok_r(NULL, "\n", &save)) {
        gcase *c = &cases[n_cases++];
        char *col[N_VARIANTS + 1];
        int k = 0;
        char *p = line;
        col[k++] = p;
        while (k <= N_VARIANTS && (p = strchr(p, '\t'))) { *p++ = 0; col[k++] = p; }
        c->text = unhex(col[0], strlen(col[0]));
        for (int v = 0; v < N_VARIANTS; v++) {
            c->ids[v] = malloc(4096 * sizeof(int32_t));
            c->n[v] = 0;
            char *q = k > v + 1 ? col[v + 1] : "", *e;
            for (long x = strtol(q, &e, 10); e != q && c->n[v] < 4096; x = strtol(q, &e, 10)) {
                c->ids[v][c->n[v]++] = (int32_t)x;
                q = e;
            }
        }
    }
    free(buf);
}

/* Encodes every golden string; returns the number of ids compared. */
static long check_all(const rl_tokenizer *t, int v, const char *label) {
    long ids_checked = 0;
    int bad = 0;
    for (int i = 0; i < n_cases; i++) {
        int32_t *ids;
        int n;
        if (rl_tokenizer_encode(t, cases[i].text, &ids, &n) != 0) {
            EXPECT(0, "%s: case %d: %s", label, i, rl_error_message());
            continue;
        }
        int same = n == cases[i].n[v];
        for (int k = 0; same && k < n; k++) same = ids[k] == cases[i].ids[v][k];
        if (!same && bad++ < 5) {
            printf("  %s: case %d (\"%.60s\"): got %d ids, want %d:", label, i, cases[i].text, n, cases[i].n[v]);
            for (int k = 0; k < n && k < 24; k++) printf(" %d", ids[k]);
            printf(" | want");
            for (int k = 0; k < cases[i].n[v] && k < 24; k++) printf(" %d", cases[i].ids[v][k]);
            printf("\n");
        }
        EXPECT(same, "%s: case %d differs", label, i);
        ids_checked += n;
        free(ids);
    }
    printf("  %s: %d strings, %ld ids, %d mismatching strings\n", label, n_cases, ids_checked, bad);
    return ids_checked;
}

static void test_json_ids(void) {
    EXPECT(n_cases >= 200, "only %d golden strings", n_cases);
    size_t n;
    char *text = read_file(GOLDEN "tokenizer.json", &n);
    EXPECT(text != NULL, "cannot read tokenizer.json");
    if (!text) return;
    rl_tokenizer *t;
    double t0 = rl_time_now();
    int rc = rl_tokenizer_load_json_text(&t, text, n, "tokenizer.json");
    EXPECT(rc == 0, "load: %s", rl_error_message());
    if (rc == 0) {
        printf("  tokenizer.json loaded in %.1f ms; id limit %d\n", 1e3 * (rl_time_now() - t0), rl_tokenizer_id_limit(t));
        check_all(t, 0, "tokenizer.json");
        rl_tokenizer_free(t);
    }
    static const char *edits[N_VARIANTS][3] = {
        {0, 0, 0},
        {"\"prepend_scheme\":\"always\"", "\"prepend_scheme\":\"first\"", "prepend_scheme first"},
        {"\"prepend_scheme\":\"always\"", "\"prepend_scheme\":\"never\"", "prepend_scheme never"},
        {"\"byte_fallback\":false", "\"byte_fallback\":true", "byte_fallback true"}};
    for (int v = 1; v < N_VARIANTS; v++) {
        int count;
        char *edited = replace_all(text, edits[v][0], edits[v][1], &count);
        EXPECT(count > 0, "edit %s not applied", edits[v][2]);
        rc = rl_tokenizer_load_json_text(&t, edited, strlen(edited), edits[v][2]);
        EXPECT(rc == 0, "load %s: %s", edits[v][2], rl_error_message());
        if (rc == 0) { check_all(t, v, edits[v][2]); rl_tokenizer_free(t); }
        free(edited);
    }
    free(text);
}

static void test_spiece_ids(void) {
    rl_tokenizer *t;
    int rc = rl_tokenizer_load(&t, GOLDEN "spiece.model");
    EXPECT(rc == 0, "load: %s", rl_error_message());
    if (rc != 0) return;
    check_all(t, 0, "spiece.model");
    rl_tokenizer_free(t);
}

static void test_prompt_clean(void) {
    char *buf = read_file(GOLDEN "clean.txt", NULL);
    EXPECT(buf != NULL, "cannot read clean.txt");
    if (!buf) return;
    int count = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        char *in = unhex(line, strlen(line)), *want = unhex(tab + 1, strlen(tab + 1)), *got = NULL;
        int rc = rl_prompt_clean(in, &got);
        EXPECT(rc == 0 && !strcmp(got, want), "clean(\"%s\") = \"%s\", want \"%s\"", in, got ? got : "(error)", want);
        free(in); free(want); free(got);
        count++;
    }
    printf("  %d clean cases\n", count);
    EXPECT(count >= 50, "only %d clean cases", count);
    free(buf);
}

static void test_bad_inputs(void) {
    rl_tokenizer *t = NULL;
    const char *bpe = "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}";
    EXPECT(rl_tokenizer_load_json_text(&t, bpe, strlen(bpe), "bpe.json") != 0 && strstr(rl_error_message(), "BPE"),
           "BPE model accepted or error without the type: %s", rl_error_message());
    const char *nfkc = "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0.0]]},"
                       "\"normalizer\":{\"type\":\"NFKC\"}}";
    EXPECT(rl_tokenizer_load_json_text(&t, nfkc, strlen(nfkc), "nfkc.json") != 0 && strstr(rl_error_message(), "NFKC"),
           "NFKC normalizer accepted: %s", rl_error_message());
    const char *bad_unk = "{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",0.0]]}}";
    EXPECT(rl_tokenizer_load_json_text(&t, bad_unk, strlen(bad_unk), "unk.json") != 0, "unk_id past the vocab accepted");
    const char *garbage = "{\"model\":";
    EXPECT(rl_tokenizer_load_json_text(&t, garbage, strlen(garbage), "cut.json") != 0, "cut JSON accepted");
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01};
    EXPECT(rl_tokenizer_load_spm_bytes(&t, junk, sizeof junk, "junk.model") != 0, "junk protobuf accepted");
    /* A truncated and a corrupted real model must fail cleanly or load, never crash. */
    size_t n;
    char *m = read_file(GOLDEN "spiece.model", &n);
    if (m) {
        for (size_t cut = 1; cut < n; cut += n / 37 + 1) {
            if (rl_tokenizer_load_spm_bytes(&t, (const uint8_t *)m, cut, "cut.model") == 0) {
                int32_t *ids; int k;
                if (rl_tokenizer_encode(t, "Hello wörld ﬁ 😀", &ids, &k) == 0) free(ids);
                rl_tokenizer_free(t);
            }
        }
        /* random byte flips (pieces, specs, the charsmap's trie and strings) */
        tl_seed(7);
        char *copy = malloc(n);
        for (int round = 0; copy && round < 150; round++) {
            memcpy(copy, m, n);
            for (int k = 0; k < 6; k++) copy[(size_t)(tl_uniform() * (double)n)] ^= (char)(1 + (int)(tl_uniform() * 255));
            if (rl_tokenizer_load_spm_bytes(&t, (const uint8_t *)copy, n, "flipped.model") == 0) {
                int32_t *ids; int k;
                if (rl_tokenizer_encode(t, "Hello wörld ﬁ 😀 café 한국어 नमस्ते\r\n  x", &ids, &k) == 0) free(ids);
                rl_tokenizer_free(t);
            }
        }
        free(copy);
        free(m);
    }
    int rc = rl_tokenizer_load(&t, GOLDEN "tokenizer.json");
    EXPECT(rc == 0, "%s", rl_error_message());
    if (rc == 0) {
        int32_t *ids; int k;
        EXPECT(rl_tokenizer_encode(t, "bad \xff utf8", &ids, &k) != 0 && strstr(rl_error_message(), "UTF-8"),
               "invalid UTF-8 accepted");
        EXPECT(rl_tokenizer_encode(t, "lone \xed\xa0\x80 surrogate", &ids, &k) != 0, "surrogate accepted");
        rl_tokenizer_free(t);
    }
    EXPECT(rl_tokenizer_load(&t, GOLDEN "no-such-file.json") != 0 && strstr(rl_error_message(), "no-such-file"),
           "missing file: %s", rl_error_message());
    char *out;
    EXPECT(rl_prompt_clean("x\xc3(", &out) != 0, "clean accepted invalid UTF-8");
}

/* Extended grapheme clusters per UAX #29 (Unicode 16), one case per rule family. */
static void test_graphemes(void) {
    static const struct { const char *s; int clusters; } cases[] = {
        {"\r\n", 1},                                     /* GB3 */
        {"\n\r", 2},                                     /* GB4/5 */
        {"e\xcc\x81", 1},                                /* e + U+0301: GB9 */
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", 1},  /* L V T jamo: GB6-8 */
        {"\xe0\xa4\x95\xe0\xa5\x8d\xe0\xa4\xb7", 1},  /* ka virama ssa: GB9c */
        {"\xe0\xa4\x95\xe0\xa4\xb7", 2},                /* ka ssa: no linker */
        {"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7", 1}, /* ZWJ family: GB11 */
        {"a\xe2\x80\x8d\xf0\x9f\x91\xa9", 2},          /* ZWJ after a letter does not join */
        {"\xf0\x9f\x87\xab\xf0\x9f\x87\xb7\xf0\x9f\x87\xa9", 2}, /* 3 regional indicators: GB12/13 */
        {"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 1},      /* skin tone modifier is Extend */
        {"\xe0\xb8\x81\xe0\xb8\xb3", 1},                /* Thai sara am: SpacingMark (GB9a) */
        {"\xd8\x80\xd9\xa1", 1},                          /* Arabic number sign is Prepend (GB9b) */
        {"ab", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = strlen(cases[i].s), pos = 0;
        int count = 0;
        while (pos < n) { pos = rl_grapheme_end(cases[i].s, n, pos); count++; }
        EXPECT(count == cases[i].clusters, "case %zu: %d clusters, want %d", i, count, cases[i].clusters);
    }
}

int main(void) {
    load_cases();
    RUN(test_graphemes);
    RUN(test_json_ids);
    RUN(test_spiece_ids);
    RUN(test_prompt_clean);
    RUN(test_bad_inputs);
    for (int i = 0; i < n_cases; i++) {
        free(cases[i].text);
        for (int v = 0; v < N_VARIANTS; v++) free(cases[i].ids[v]);
    }
    TL_EXIT();
}
