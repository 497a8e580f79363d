/* prompts_file.c: reading and checking a --prompts-file (see prompts_file.h).
 * The file is read whole, split on '\n' (a '\r' before it is dropped), and each
 * line parsed on its own, so an error can name its line. JSON lines are strict:
 * an unknown key is an error (a typo must not silently fall back to a default). */
#include "cli/prompts_file.h"

#include "io/text_unicode.h"
#include "sampler/noise.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROMPTS_FILE_BYTES (64u << 20)
#define MAX_PROMPT_LINES 10000 /* outputs are compared pairwise */

static char *read_whole(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        rl_error_set("--prompts-file %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 65536 * 2;
            char *p = cap > MAX_PROMPTS_FILE_BYTES * 2u ? NULL : realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                rl_error_set("--prompts-file %s: larger than %u MiB (or out of memory)", path,
                             MAX_PROMPTS_FILE_BYTES >> 20);
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, 65536, f);
        len += got;
        if (got < 65536) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        rl_error_set("--prompts-file %s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    *n = len;
    return buf;
}

static void line_free(rl_prompt_line *L) {
    free(L->prompt);
    free(L->negative_prompt);
    free(L->output);
    free(L->label);
    memset(L, 0, sizeof *L);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static int parse_wxh(const char *s, int *w, int *h) {
    char x, end;
    return s && sscanf(s, "%d%c%d%c", w, &x, h, &end) == 3 && (x == 'x' || x == 'X' || x == '*') ? 0 : -1;
}

/* A JSON integer field in [lo, hi]. */
static int json_int(const cJSON *v, const char *key, double lo, double hi, const char *label, int *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble || v->valuedouble < lo ||
        v->valuedouble > hi)
        return rl_error_set("%s: \"%s\" must be an integer in %g..%g", label, key, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

static int json_seed(const cJSON *v, const char *label, rl_prompt_line *L) {
    char text[64];
    if (cJSON_IsString(v)) snprintf(text, sizeof text, "%s", v->valuestring);
    else if (cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble && v->valuedouble >= 0 &&
             v->valuedouble <= 9007199254740992.0)
        snprintf(text, sizeof text, "%lld", (long long)v->valuedouble);
    else
        return rl_error_set("%s: \"seed\" must be an integer in 0..2^53 (larger seeds as a string, \"12345678901234567890\")",
                            label);
    if (!strcmp(text, "-1")) return rl_error_set("%s: \"seed\": leave the key out for a random seed", label);
    if (rl_seed_parse(text, &L->seed, NULL) != 0) return rl_error_wrap("%s", label);
    L->has_seed = 1;
    return 0;
}

static int json_string(const cJSON *v, const char *key, const char *label, char **out) {
    if (!cJSON_IsString(v)) return rl_error_set("%s: \"%s\" must be a string", label, key);
    if (*out) return rl_error_set("%s: \"%s\" is given twice", label, key);
    if (!(*out = dup_str(v->valuestring))) return rl_error_set("out of memory reading %s", label);
    return 0;
}

static int parse_json_line(const char *text, size_t n, const char *label, rl_prompt_line *L) {
    cJSON *j = cJSON_ParseWithLength(text, n);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return rl_error_set("%s: a line starting with '{' must be one JSON object, like {\"prompt\": \"a cat\", "
                            "\"seed\": 1}", label);
    }
    int rc = 0;
    for (const cJSON *v = j->child; v && rc == 0; v = v->next) {
        const char *k = v->string;
        if (!strcmp(k, "prompt")) rc = json_string(v, k, label, &L->prompt);
        else if (!strcmp(k, "negative_prompt")) rc = json_string(v, k, label, &L->negative_prompt);
        else if (!strcmp(k, "output")) rc = json_string(v, k, label, &L->output);
        else if (!strcmp(k, "seed")) rc = json_seed(v, label, L);
        else if (!strcmp(k, "frames")) rc = json_int(v, k, 1, 1001, label, &L->frames);
        else if (!strcmp(k, "steps")) rc = json_int(v, k, 1, 1000, label, &L->steps);
        else if (!strcmp(k, "size")) {
            if (!cJSON_IsString(v) || parse_wxh(v->valuestring, &L->width, &L->height) != 0 || L->width <= 0 ||
                L->height <= 0)
                rc = rl_error_set("%s: \"size\" must be a string \"WIDTHxHEIGHT\" (e.g. \"832x480\")", label);
        } else
            rc = rl_error_set("%s: unknown key \"%s\" (known: prompt, negative_prompt, seed, size, frames, steps, "
                              "output)", label, k);
    }
    cJSON_Delete(j);
    if (rc == 0 && (!L->prompt || !*L->prompt)) rc = rl_error_set("%s: \"prompt\" is missing or empty", label);
    return rc;
}

/* One line (without its '\n'); *skip = 1 for blank and comment lines. */
static int parse_line(char *s, size_t n, const char *label, rl_prompt_line *L, int *skip) {
    if (n && s[n - 1] == '\r') s[--n] = 0;
    size_t bad, i = 0;
    if (memchr(s, 0, n)) return rl_error_set("%s: the line holds a NUL byte; the file must be UTF-8 text", label);
    if (rl_utf8_check(s, n, &bad) != 0)
        return rl_error_set("%s: not valid UTF-8 (bad byte 0x%02X in column %zu); re-save the file as UTF-8", label,
                            (unsigned char)s[bad], bad + 1);
    if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) i = 3; /* a byte-order mark on line 1 */
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    *skip = i == n || s[i] == '#';
    if (*skip) return 0;
    if (s[i] == '{') return parse_json_line(s + i, n - i, label, L);
    size_t e = n;
    while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t')) e--;
    s[e] = 0;
    if (!(L->prompt = dup_str(s + i))) return rl_error_set("out of memory reading %s", label);
    return 0;
}

int rl_prompts_file_read(const char *path, rl_prompt_line **lines, int *n) {
    size_t len;
    char *buf = read_whole(path, &len);
    *lines = NULL, *n = 0;
    if (!buf) return -1;
    rl_prompt_line *out = NULL;
    int count = 0, cap = 0, rc = 0, lineno = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        buf[end] = 0;
        char label[4200];
        snprintf(label, sizeof label, "--prompts-file %s:%d", path, ++lineno);
        if (count == cap) {
            rl_prompt_line *p = count >= MAX_PROMPT_LINES ? NULL : realloc(out, sizeof *out * (size_t)(cap = cap ? 2 * cap : 16));
            if (!p) { rc = rl_error_set("%s: more than %d prompts (or out of memory)", label, MAX_PROMPT_LINES); break; }
            out = p;
        }
        rl_prompt_line *L = &out[count];
        memset(L, 0, sizeof *L);
        int skip = 0;
        rc = parse_line(buf + pos, end - pos, label, L, &skip);
        if (rc == 0 && !skip && !(L->label = dup_str(label + strlen("--prompts-file ")))) rc = rl_error_set("out of memory");
        if (rc != 0 || skip) line_free(L);
        else count++;
        pos = end + 1;
    }
    free(buf);
    if (rc == 0 && count == 0) rc = rl_error_set("--prompts-file %s: no prompts in the file (blank and # lines only)", path);
    if (rc != 0) {
        rl_prompts_file_free(out, count);
        return -1;
    }
    *lines = out, *n = count;
    return 0;
}

void rl_prompts_file_free(rl_prompt_line *lines, int n) {
    for (int i = 0; lines && i < n; i++) line_free(&lines[i]);
    free(lines);
}

int rl_prompts_numbered_name(const char *base, int k, char *buf, size_t cap) {
    size_t n = strlen(base);
    int w;
    if (n && base[n - 1] == '/') w = snprintf(buf, cap, "%s%04d/", base, k + 1);
    else {
        const char *slash = strrchr(base, '/'), *dot = strrchr(base, '.');
        if (!dot || (slash && dot < slash) || dot == base || (slash && dot == slash + 1)) dot = base + n;
        w = snprintf(buf, cap, "%.*s_%04d%s", (int)(dot - base), base, k + 1, dot);
    }
    if (w < 0 || (size_t)w >= cap) return rl_error_set("-o %s: the path is too long", base);
    return 0;
}

static char *numbered(const char *base, int k) {
    char tmp[4200];
    if (rl_prompts_numbered_name(base, k, tmp, sizeof tmp) != 0) return NULL;
    char *p = dup_str(tmp);
    if (!p) rl_error_set("out of memory");
    return p;
}

int rl_prompts_make_requests(const rl_prompt_line *lines, int n, const rl_t2v_request *base, int seed_is_random,
                             rl_t2v_request **reqs, char ***names) {
    *reqs = calloc((size_t)n, sizeof **reqs);
    *names = calloc((size_t)(2 * n), sizeof **names);
    if (!*reqs || !*names) {
        rl_prompts_requests_free(*reqs, *names, n);
        *reqs = NULL, *names = NULL;
        return rl_error_set("out of memory for %d prompts", n);
    }
    for (int k = 0; k < n; k++) {
        const rl_prompt_line *L = &lines[k];
        rl_t2v_request *r = &(*reqs)[k];
        *r = *base;
        r->label = L->label;
        r->prompt = L->prompt;
        if (L->negative_prompt) r->negative_prompt = L->negative_prompt;
        if (L->has_seed) r->seed = L->seed;
        else if (seed_is_random) r->seed = base->seed + (uint64_t)k;
        if (L->width) r->width = L->width, r->height = L->height;
        if (L->frames) r->frames = L->frames;
        if (L->steps) r->steps = L->steps;
        if (L->output) r->output = L->output;
        else if (base->output && !(r->output = (*names)[2 * k] = numbered(base->output, k))) goto fail;
        if (base->save_latents && !(r->save_latents = (*names)[2 * k + 1] = numbered(base->save_latents, k)))
            goto fail;
        for (int j = 0; j < k; j++) {
            const rl_t2v_request *q = &(*reqs)[j];
            if ((r->output && q->output && !strcmp(r->output, q->output)) ||
                (r->save_latents && q->save_latents && !strcmp(r->save_latents, q->save_latents))) {
                rl_error_set("%s: output %s is also the output of %s; give each prompt its own output", r->label,
                             r->output && q->output && !strcmp(r->output, q->output) ? r->output : r->save_latents,
                             q->label);
                goto fail;
            }
        }
    }
    return 0;
fail:
    rl_prompts_requests_free(*reqs, *names, n);
    *reqs = NULL, *names = NULL;
    return -1;
}

void rl_prompts_requests_free(rl_t2v_request *reqs, char **names, int n) {
    for (int i = 0; names && i < 2 * n; i++) free(names[i]);
    free(names);
    free(reqs);
}
