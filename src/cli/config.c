/* config.c: reading configs/NAME.json and finding a named model's files. */
#include "cli/config.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

const char *const rl_component_names[4] = {"dit", "t5", "vae", "tokenizer"};

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *rl_config_dir(void) {
    static char dir[PATH_MAX];
    const char *env = getenv("RAYLIGHT_CONFIGS");
    if (env && env[0]) return env;
    char exe[PATH_MAX / 2];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(dir, sizeof dir, "%s/../configs", exe);
        if (is_dir(dir)) return dir;
        snprintf(dir, sizeof dir, "%s/../share/raylight-gen/configs", exe);
        if (is_dir(dir)) return dir;
    }
    snprintf(dir, sizeof dir, "%s/configs", RL_SOURCE_DIR);
    return dir;
}

/* Appends to a bounded string (truncating quietly). */
static void append(char *buf, size_t n, const char *sep, const char *text) {
    size_t k = strlen(buf), m = k ? strlen(sep) : 0, t = strlen(text);
    if (k + m >= n) return;
    memcpy(buf + k, sep, m);
    k += m;
    if (t > n - 1 - k) t = n - 1 - k;
    memcpy(buf + k, text, t);
    buf[k + t] = 0;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = (n >= 0 && n < (1 << 20)) ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static void copy_str(char *dst, size_t n, const cJSON *j) {
    if (cJSON_IsString(j)) snprintf(dst, n, "%s", j->valuestring);
}

static int parse_config(const char *path, rl_model_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    char *text = read_text(path);
    if (!text) return rl_error_set("cannot read model config %s", path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return rl_error_set("model config %s is not a JSON object", path);
    }
    copy_str(c->name, sizeof c->name, cJSON_GetObjectItem(j, "name"));
    copy_str(c->description, sizeof c->description, cJSON_GetObjectItem(j, "description"));
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "aliases")) if (c->n_aliases < 4)
        copy_str(c->aliases[c->n_aliases++], sizeof c->aliases[0], e);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "sizes")) if (c->n_sizes < 8)
        copy_str(c->sizes[c->n_sizes++], sizeof c->sizes[0], e);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "search_dirs")) if (c->n_search_dirs < RL_CFG_MAX_NAMES)
        copy_str(c->search_dirs[c->n_search_dirs++], sizeof c->search_dirs[0], e);
    const cJSON *neg = cJSON_GetObjectItem(j, "negative_prompt");
    c->negative_prompt = strdup(cJSON_IsString(neg) ? neg->valuestring : "");
    const cJSON *d = cJSON_GetObjectItem(j, "defaults");
    c->steps = 50, c->frames = 81, c->cfg = 5.0, c->shift = 5.0, c->fps = 16;
    snprintf(c->sampler, sizeof c->sampler, "unipc");
    snprintf(c->size, sizeof c->size, "832x480");
    if (cJSON_IsObject(d)) {
        const cJSON *v;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(d, "steps"))) c->steps = (int64_t)v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(d, "frames"))) c->frames = (int64_t)v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(d, "cfg"))) c->cfg = v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(d, "shift"))) c->shift = v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(d, "fps"))) c->fps = v->valuedouble;
        copy_str(c->sampler, sizeof c->sampler, cJSON_GetObjectItem(d, "sampler"));
        copy_str(c->size, sizeof c->size, cJSON_GetObjectItem(d, "size"));
    }
    const cJSON *rnd = cJSON_GetObjectItem(j, "random");
    for (int k = 0; k < 3; k++) copy_str(c->random[k], sizeof c->random[k], cJSON_GetObjectItem(rnd, rl_component_names[k]));
    const cJSON *files = cJSON_GetObjectItem(j, "files");
    for (int k = 0; k < 4; k++)
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(files, rl_component_names[k])) if (c->n_files[k] < RL_CFG_MAX_NAMES)
            copy_str(c->files[k][c->n_files[k]++], sizeof c->files[0][0], e);
    cJSON_Delete(j);
    if (!c->name[0]) return rl_error_set("model config %s has no \"name\"", path);
    return 0;
}

static int matches(const rl_model_config *c, const char *name) {
    if (!strcasecmp(c->name, name)) return 1;
    for (int i = 0; i < c->n_aliases; i++)
        if (!strcasecmp(c->aliases[i], name)) return 1;
    return 0;
}

int rl_config_load(const char *name, rl_model_config *out) {
    const char *dir = rl_config_dir();
    DIR *d = opendir(dir);
    if (!d)
        return rl_error_set("--model %s: the model configs directory %s is missing; set RAYLIGHT_CONFIGS to the "
                            "configs/ folder of raylight-gen, or give --dit, --t5, --vae and --tokenizer", name, dir);
    char known[1024] = "";
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json")) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        rl_model_config c;
        if (parse_config(path, &c) != 0) {
            closedir(d);
            return -1;
        }
        if (matches(&c, name)) {
            *out = c;
            found = 1;
            break;
        }
        size_t k = strlen(known);
        snprintf(known + k, sizeof known - k, "%s%s%s%s%s", k ? ", " : "", c.name, c.n_aliases ? " (" : "",
                 c.n_aliases ? c.aliases[0] : "", c.n_aliases ? ")" : "");
        rl_config_free(&c);
    }
    closedir(d);
    if (!found) return rl_error_set("--model %s: unknown model; known models: %s", name, known[0] ? known : "none");
    return 0;
}

void rl_config_free(rl_model_config *c) {
    free(c->negative_prompt);
    c->negative_prompt = NULL;
}

int rl_config_find_file(const rl_model_config *c, int component, const char *model_dir, char *out, size_t n) {
    char looked[2048] = "";
    int n_looked = 0;
    for (int s = 0; s < (c->n_search_dirs ? c->n_search_dirs : 1); s++)
        for (int f = 0; f < c->n_files[component]; f++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s%s", model_dir, c->n_search_dirs ? c->search_dirs[s] : "",
                     c->files[component][f]);
            if (access(path, R_OK) == 0) {
                snprintf(out, n, "%s", path);
                return 0;
            }
            if (n_looked++ < 12) {
                append(looked, sizeof looked, ", ", path);
            }
        }
    return rl_error_set("--model %s: no %s file found in %s (looked at %s%s); give it with --%s FILE or point "
                        "--model-dir / RAYLIGHT_MODELS at the folder holding it", c->name,
                        rl_component_names[component], model_dir, looked, n_looked > 12 ? ", ..." : "",
                        rl_component_names[component]);
}
