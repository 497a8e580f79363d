/* test_prompt_fix.c: ftfy.fix_text in C (src/io/prompt_fix.c) and Wan's whole
 * prompt cleaning (rl_prompt_clean: fix_text, html.unescape twice, whitespace
 * collapse) against tests/golden/prompt_clean/cases.jsonl, made by
 * scripts/golden/make_prompt_clean_golden.py with ftfy 6.3.1: every case must
 * match byte for byte. Also: bad UTF-8 refused with a sentence. */
#include "io/prompt_fix.h"
#include "io/text_unicode.h"
#include "io/tokenizer.h"
#include "testlib.h"

#include <cjson/cJSON.h>

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* Prints a string with its non-ASCII bytes escaped (for failure lines). */
static const char *esc(const char *s, char *buf, size_t cap) {
    size_t k = 0;
    for (; *s && k + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7F) buf[k++] = (char)c;
        else k += (size_t)snprintf(buf + k, cap - k, "\\x%02X", c);
    }
    buf[k] = 0;
    return buf;
}

static int n_cases, n_fix_ok, n_clean_ok;

static void check_case(const char *in, const char *want_fix, const char *want_clean) {
    char *fix = NULL, *clean = NULL, b1[600], b2[600], b3[600];
    n_cases++;
    int rc = rl_prompt_fix_text(in, strlen(in), &fix);
    EXPECT(rc == 0, "fix_text(%s) failed: %s", esc(in, b1, sizeof b1), rl_error_message());
    if (rc == 0 && !strcmp(fix, want_fix)) n_fix_ok++;
    else if (rc == 0)
        EXPECT(0, "fix_text(%s) = %s, ftfy gives %s", esc(in, b1, sizeof b1), esc(fix, b2, sizeof b2),
               esc(want_fix, b3, sizeof b3));
    rc = rl_prompt_clean(in, &clean);
    if (rc == 0 && !strcmp(clean, want_clean)) n_clean_ok++;
    else
        EXPECT(0, "clean(%s) = %s, Wan gives %s", esc(in, b1, sizeof b1), rc == 0 ? esc(clean, b2, sizeof b2) : "error",
               esc(want_clean, b3, sizeof b3));
    free(fix);
    free(clean);
}

static void test_golden_cases(void) {
    char *text = read_file(RL_SOURCE_DIR "/tests/golden/prompt_clean/cases.jsonl");
    EXPECT(text != NULL, "cannot read tests/golden/prompt_clean/cases.jsonl");
    if (!text) return;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        cJSON *j = cJSON_Parse(line);
        cJSON *in = cJSON_GetObjectItem(j, "in"), *fx = cJSON_GetObjectItem(j, "ftfy"), *cl = cJSON_GetObjectItem(j, "clean");
        if (*line) EXPECT(cJSON_IsString(in) && cJSON_IsString(fx) && cJSON_IsString(cl), "bad golden line %.80s", line);
        if (cJSON_IsString(in) && cJSON_IsString(fx) && cJSON_IsString(cl))
            check_case(in->valuestring, fx->valuestring, cl->valuestring);
        cJSON_Delete(j);
        if (!nl) break;
        line = nl + 1;
    }
    free(text);
    printf("  %d cases: fix_text %d equal to ftfy 6.3.1, whole cleaning %d equal to Wan's\n", n_cases, n_fix_ok,
           n_clean_ok);
    EXPECT(n_cases >= 150, "only %d golden cases", n_cases);
}

static void test_bad_utf8(void) {
    char *out = (char *)1;
    EXPECT(rl_prompt_fix_text("ab\xC3(", 4, &out) == -1 && out == NULL, "bad UTF-8 accepted");
    EXPECT(strstr(rl_error_message(), "not valid UTF-8") != NULL, "message: %s", rl_error_message());
}

/* Random strings of the characters the fixes care about: every one must come
 * back as valid UTF-8 without a crash (the ASan build runs this too). */
static void test_random_strings(void) {
    static const uint32_t pool[] = {'a', 'Z', ' ', '&', '#', ';', '<', '\n', '\r', 0x1B, '[', '1', 'm', 0x7, 0x80, 0x85,
                                    0x9D, 0xA0, 0xC2, 0xC3, 0xE2, 0xF0, 0x20AC, 0x201C, 0x2019, 0xFB01, 0xFF21, 0x3000,
                                    0x301, 0x323, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xFFFD, 0x1A, 0x410, 0x3B1, 0x1F600,
                                    0xED, 0xC0, 0x2028, 0xFEFF, 0x958, 0x2500, 0xB0, 0xA9};
    int bad = 0;
    for (int k = 0; k < 3000; k++) {
        char in[256];
        size_t n = 0;
        int len = 1 + (int)((tl_uniform() * 40));
        for (int i = 0; i < len; i++) n += (size_t)rl_utf8_encode(pool[(size_t)(tl_uniform() * (sizeof pool / sizeof *pool))], in + n);
        in[n] = 0;
        char *out = NULL;
        size_t at;
        if (rl_prompt_fix_text(in, n, &out) != 0 || rl_utf8_check(out, strlen(out), &at) != 0) bad++;
        free(out);
    }
    EXPECT(bad == 0, "%d of 3000 random strings failed or gave bad UTF-8", bad);
}

int main(void) {
    RUN(test_golden_cases);
    RUN(test_random_strings);
    RUN(test_bad_utf8);
    TL_EXIT();
}
