/* test_safetensors.c: the safetensors reader and writer.
 *
 * Round trips through our writer and reader (every dtype, 0-D to 5-D, a
 * zero-size tensor), range reads and their accounting, sharded index.json
 * checkpoints, a file written by Python's safetensors compared with the values
 * torch holds (tests/golden/safetensors, made by
 * scripts/golden/make_safetensors_golden.py), and the bad-header corpus
 * (tests/corpus/safetensors, made by scripts/make-bad-safetensors.py): every
 * bad-* file must be refused with a one-line error naming it, every good-* file
 * must open. Paths are under RL_SOURCE_DIR (set by the Makefile; else the
 * current directory); the environment variable RL_SRC_DIR overrides. RL_ST_KEEP=dir keeps the written files (to
 * check them with Python's safetensors by hand).
 */
#include "io/safetensors.h"
#include "testlib.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];
#ifdef RL_SOURCE_DIR
static const char *srcdir = RL_SOURCE_DIR; /* the Makefile passes the checkout's directory */
#else
static const char *srcdir = ".";
#endif

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

static void fill_bytes(uint8_t *p, size_t n, uint64_t seed) {
    tl_seed(seed);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(tl_uniform() * 256);
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* ---------------------------------------------------------------- round trip */

static const int64_t rt_shapes[][RL_MAX_DIMS] = {{0}, {5}, {3, 4}, {2, 3, 2}, {1, 2, 3, 2}, {2, 1, 2, 1, 3}, {2, 0, 3}};
static const int rt_ndims[] = {0, 1, 2, 3, 4, 5, 3};
#define RT_NSHAPES 7

static void test_roundtrip_every_dtype_and_rank(void) {
    char path[512];
    tmp_path(path, sizeof path, "roundtrip.safetensors");
    rl_st_writer *w = rl_st_writer_new();
    EXPECT(w != NULL, "writer_new failed");
    if (!w) return;
    uint8_t buf[4096];
    char name[64];
    for (int dt = 0; dt < RL_DTYPE_COUNT; dt++)
        for (int s = 0; s < RT_NSHAPES; s++) {
            size_t nb = (size_t)numel_of(rt_ndims[s], rt_shapes[s]) * rl_dtype_size((rl_dtype)dt);
            fill_bytes(buf, nb, (uint64_t)(dt * 100 + s));
            snprintf(name, sizeof name, "t.%s.rank%d%s", rl_dtype_name((rl_dtype)dt), rt_ndims[s], s == 6 ? ".empty" : "");
            EXPECT(rl_st_writer_add(w, name, (rl_dtype)dt, rt_ndims[s], rt_shapes[s], buf) == 0, "add %s: %s", name,
                   rl_error_message());
        }
    EXPECT(rl_st_writer_meta(w, "format", "pt") == 0, "meta");
    EXPECT(rl_st_writer_meta(w, "quote\"and\\slash", "line\nbreak \xc3\xa9") == 0, "meta");
    EXPECT(rl_st_writer_save(w, path) == 0, "save: %s", rl_error_message());
    rl_st_writer_free(w);

    rl_safetensors st;
    if (rl_st_open(&st, path) != 0) {
        EXPECT(0, "open: %s", rl_error_message());
        return;
    }
    EXPECT(st.n_tensors == RL_DTYPE_COUNT * RT_NSHAPES, "n_tensors %d", st.n_tensors);
    EXPECT(st.files[0].data_start % 8 == 0, "data section starts at %llu, not 8-aligned",
           (unsigned long long)st.files[0].data_start);
    for (int i = 1; i < st.n_tensors; i++)
        EXPECT(strcmp(st.tensors[i - 1].name, st.tensors[i].name) < 0, "tensors not sorted at %d", i);
    for (int dt = 0; dt < RL_DTYPE_COUNT; dt++)
        for (int s = 0; s < RT_NSHAPES; s++) {
            snprintf(name, sizeof name, "t.%s.rank%d%s", rl_dtype_name((rl_dtype)dt), rt_ndims[s], s == 6 ? ".empty" : "");
            const rl_st_tensor *t = rl_st_find(&st, name);
            EXPECT(t != NULL, "%s not found", name);
            if (!t) continue;
            size_t nb = (size_t)numel_of(rt_ndims[s], rt_shapes[s]) * rl_dtype_size((rl_dtype)dt);
            fill_bytes(buf, nb, (uint64_t)(dt * 100 + s));
            EXPECT(t->dtype == (rl_dtype)dt && t->ndim == rt_ndims[s] && t->nbytes == nb, "%s: dtype %d ndim %d nbytes %llu",
                   name, t->dtype, t->ndim, (unsigned long long)t->nbytes);
            for (int d = 0; d < t->ndim && d < rt_ndims[s]; d++)
                EXPECT(t->shape[d] == rt_shapes[s][d], "%s dim %d: %lld", name, d, (long long)t->shape[d]);
            EXPECT(t->offset % rl_dtype_size(t->dtype) == 0, "%s at offset %llu is not aligned to its element", name,
                   (unsigned long long)t->offset);
            EXPECT(nb == 0 || memcmp(rl_st_data(&st, t), buf, nb) == 0, "%s: bytes differ", name);
        }
    EXPECT(rl_st_find(&st, "t.f32") == NULL && rl_st_find(&st, "") == NULL && rl_st_find(&st, "zzz") == NULL,
           "found a tensor that does not exist");
    cJSON *meta = st.metadata_json ? cJSON_Parse(st.metadata_json) : NULL;
    const cJSON *m1 = cJSON_GetObjectItemCaseSensitive(meta, "format");
    const cJSON *m2 = cJSON_GetObjectItemCaseSensitive(meta, "quote\"and\\slash");
    EXPECT(cJSON_IsString(m1) && strcmp(m1->valuestring, "pt") == 0, "metadata format: %s",
           st.metadata_json ? st.metadata_json : "(none)");
    EXPECT(cJSON_IsString(m2) && strcmp(m2->valuestring, "line\nbreak \xc3\xa9") == 0, "escaped metadata: %s",
           st.metadata_json ? st.metadata_json : "(none)");
    cJSON_Delete(meta);
    rl_st_close(&st);
}

/* The header itself: 8-byte multiple, keys in name order, __metadata__ present. */
static void test_writer_header_layout(void) {
    char path[512];
    tmp_path(path, sizeof path, "layout.safetensors");
    rl_st_writer *w = rl_st_writer_new();
    float a[3] = {1, 2, 3};
    int64_t s3 = 3;
    uint16_t h[3] = {1, 2, 3};
    rl_st_writer_add(w, "zeta", RL_BF16, 1, &s3, h);
    rl_st_writer_add(w, "alpha", RL_F32, 1, &s3, a);
    rl_st_writer_add(w, "mid", RL_F8_E4M3, 1, &s3, "abc");
    rl_st_writer_meta(w, "k", "v");
    EXPECT(rl_st_writer_save(w, path) == 0, "save: %s", rl_error_message());
    rl_st_writer_free(w);
    FILE *f = fopen(path, "rb");
    uint8_t raw[512] = {0};
    size_t got = f ? fread(raw, 1, sizeof raw, f) : 0;
    if (f) fclose(f);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | raw[i];
    EXPECT(got >= 8 && n % 8 == 0 && 8 + n + 12 + 6 + 3 == got, "header length %llu, file %zu bytes",
           (unsigned long long)n, got);
    if (n + 8 > got) return;
    char *hdr = (char *)raw + 8;
    char *pa = strstr(hdr, "\"alpha\""), *pm = strstr(hdr, "\"mid\""), *pz = strstr(hdr, "\"zeta\"");
    EXPECT(pa && pm && pz && pa < pm && pm < pz, "header keys not in name order: %.*s", (int)n, hdr);
    EXPECT(strstr(hdr, "\"__metadata__\":{\"k\":\"v\"}") != NULL, "no metadata in %.*s", (int)n, hdr);
    EXPECT(hdr[n - 1] == ' ' || hdr[n - 1] == '}', "header not padded with spaces");
}

static void test_writer_refuses_bad_input(void) {
    rl_st_writer *w = rl_st_writer_new();
    int64_t shp[6] = {2, 2, 1, 1, 1, 1}, neg = -1;
    float d[4] = {0};
    EXPECT(rl_st_writer_add(w, "a", RL_F32, 2, shp, d) == 0, "first add: %s", rl_error_message());
    EXPECT(rl_st_writer_add(w, "a", RL_F32, 2, shp, d) != 0, "duplicate name accepted");
    EXPECT(strstr(rl_error_message(), "'a'") != NULL, "error does not name the tensor: %s", rl_error_message());
    EXPECT(rl_st_writer_add(w, "b", RL_F32, 6, shp, d) != 0, "6 dims accepted");
    EXPECT(rl_st_writer_add(w, "c", RL_F32, 1, &neg, d) != 0, "negative dim accepted");
    EXPECT(rl_st_writer_add(w, "__metadata__", RL_F32, 1, shp, d) != 0, "reserved name accepted");
    EXPECT(rl_st_writer_add(w, "", RL_F32, 1, shp, d) != 0, "empty name accepted");
    EXPECT(rl_st_writer_add(w, "e", RL_DTYPE_COUNT, 1, shp, d) != 0, "bad dtype accepted");
    char path[512];
    tmp_path(path, sizeof path, "no/such/dir/x.safetensors");
    EXPECT(rl_st_writer_save(w, path) != 0, "save into a missing directory succeeded");
    EXPECT(strstr(rl_error_message(), path) != NULL, "error does not name the path: %s", rl_error_message());
    rl_st_writer_free(w);
}

/* ---------------------------------------------------------------- reads */

static void test_read_range_and_accounting(void) {
    char path[512];
    tmp_path(path, sizeof path, "range.safetensors");
    enum { N = 3000 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)i * 0.5f - 7;
    int64_t shp[2] = {30, 100}, s1 = 4;
    int32_t small[4] = {1, 2, 3, 4};
    rl_st_writer *w = rl_st_writer_new();
    rl_st_writer_add(w, "big", RL_F32, 2, shp, x);
    rl_st_writer_add(w, "small", RL_I32, 1, &s1, small);
    EXPECT(rl_st_writer_save(w, path) == 0, "save: %s", rl_error_message());
    rl_st_writer_free(w);
    rl_safetensors st;
    if (rl_st_open(&st, path) != 0) {
        EXPECT(0, "open: %s", rl_error_message());
        return;
    }
    const rl_st_tensor *t = rl_st_find(&st, "big");
    EXPECT(t && t->nbytes == N * 4, "big missing");
    if (!t) { rl_st_close(&st); return; }
    float got[N];
    uint64_t acc = 0;
    /* row 7 of 30 (an FSDP-style slice), a range crossing pages, the last element, and all of it */
    struct { uint64_t off, n; } r[] = {{7 * 400, 400}, {4000, 4400}, {(N - 1) * 4, 4}, {0, N * 4}, {N * 4, 0}};
    for (size_t k = 0; k < sizeof r / sizeof r[0]; k++) {
        memset(got, 0xAB, sizeof got);
        EXPECT(rl_st_read_range(&st, t, r[k].off, r[k].n, got) == 0, "range %zu: %s", k, rl_error_message());
        EXPECT(memcmp(got, (const uint8_t *)x + r[k].off, r[k].n) == 0, "range %zu: wrong bytes", k);
        acc += r[k].n;
        EXPECT(st.bytes_read == acc, "bytes_read %llu, want %llu", (unsigned long long)st.bytes_read,
               (unsigned long long)acc);
    }
    EXPECT(rl_st_read_range(&st, t, N * 4 - 2, 4, got) != 0, "range past the end accepted");
    EXPECT(strstr(rl_error_message(), "'big'") && strstr(rl_error_message(), path), "error: %s", rl_error_message());
    EXPECT(rl_st_read_range(&st, t, UINT64_MAX - 1, 4, got) != 0, "overflowing range accepted");
    EXPECT(rl_st_read_range(&st, t, N * 4 + 1, 0, got) != 0, "empty range past the end accepted");
    EXPECT(st.bytes_read == acc, "refused reads counted: %llu", (unsigned long long)st.bytes_read);
    rl_st_tensor fake = *t;
    EXPECT(rl_st_read_range(&st, &fake, 0, 4, got) != 0, "a tensor not from this file was accepted");

    /* read_as: f32 -> bf16, i32 -> i64 and f32 (as torch's .to()). */
    static uint16_t bf[N];
    EXPECT(rl_st_read_as(&st, t, RL_BF16, bf) == 0, "read_as bf16: %s", rl_error_message());
    int bad = 0;
    for (int i = 0; i < N; i++) bad += bf[i] != rl_f32_to_bf16(x[i]);
    EXPECT(bad == 0, "%d bf16 values differ", bad);
    const rl_st_tensor *s = rl_st_find(&st, "small");
    int64_t i64[4] = {0};
    float f4[4] = {0};
    EXPECT(s && rl_st_read_as(&st, s, RL_I64, i64) == 0 && rl_st_read_as(&st, s, RL_F32, f4) == 0, "read_as small");
    EXPECT(i64[0] == 1 && i64[3] == 4 && f4[1] == 2.0f && f4[2] == 3.0f, "converted values %lld %lld %g %g",
           (long long)i64[0], (long long)i64[3], f4[1], f4[2]);
    acc += N * 4 + 16 + 16;
    EXPECT(st.bytes_read == acc, "bytes_read after read_as %llu, want %llu", (unsigned long long)st.bytes_read,
           (unsigned long long)acc);
    rl_st_close(&st);
}

/* ---------------------------------------------------------------- sharded */

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static void write_shard(const char *file, const char **names, int n, float base) {
    char path[512];
    tmp_path(path, sizeof path, file);
    rl_st_writer *w = rl_st_writer_new();
    int64_t shp[2] = {2, 3};
    for (int i = 0; i < n; i++) {
        float v[6];
        for (int j = 0; j < 6; j++) v[j] = base + (float)(10 * i + j);
        rl_st_writer_add(w, names[i], RL_F32, 2, shp, v);
    }
    EXPECT(rl_st_writer_save(w, path) == 0, "save shard: %s", rl_error_message());
    rl_st_writer_free(w);
}

/* Opens an index with the given weight_map body; returns rl_st_open's status. */
static int open_index(rl_safetensors *st, const char *file, const char *weight_map) {
    char path[512], text[2048];
    tmp_path(path, sizeof path, file);
    snprintf(text, sizeof text, "{\"metadata\": {\"total_size\": 72}, \"weight_map\": {%s}}", weight_map);
    EXPECT(write_text(path, text) == 0, "cannot write %s", path);
    return rl_st_open(st, path);
}

static void expect_index_error(const char *file, const char *weight_map, const char *must1, const char *must2) {
    rl_safetensors st;
    int rc = open_index(&st, file, weight_map);
    EXPECT(rc != 0, "%s opened", file);
    if (rc == 0) rl_st_close(&st);
    const char *m = rl_error_message();
    EXPECT(strstr(m, file) && strstr(m, must1) && (!must2 || strstr(m, must2)) && !strchr(m, '\n'),
           "%s: error '%s' lacks %s/%s or has a line break", file, m, must1, must2 ? must2 : "");
    EXPECT(st.tensors == NULL && st.files == NULL && st.path == NULL, "%s: state left after a failed open", file);
}

static void test_sharded_index(void) {
    const char *a[] = {"blocks.0.w", "blocks.0.b"}, *b[] = {"blocks.1.w"}, *c[] = {"blocks.0.w"};
    write_shard("m-00001-of-00002.safetensors", a, 2, 0);
    write_shard("m-00002-of-00002.safetensors", b, 1, 100);
    write_shard("dup.safetensors", c, 1, 0);
    rl_safetensors st;
    int rc = open_index(&st, "m.safetensors.index.json",
                        "\"blocks.0.w\": \"m-00001-of-00002.safetensors\", \"blocks.1.w\": \"m-00002-of-00002.safetensors\", "
                        "\"blocks.0.b\": \"m-00001-of-00002.safetensors\"");
    EXPECT(rc == 0, "open index: %s", rl_error_message());
    if (rc == 0) {
        EXPECT(st.n_files == 2 && st.n_tensors == 3, "%d files, %d tensors", st.n_files, st.n_tensors);
        const rl_st_tensor *t0 = rl_st_find(&st, "blocks.0.b"), *t1 = rl_st_find(&st, "blocks.1.w");
        EXPECT(t0 && t1, "tensors missing");
        if (t0 && t1) {
            EXPECT(strstr(st.files[t0->file_index].path, "00001") && strstr(st.files[t1->file_index].path, "00002"),
                   "wrong shards");
            float v[6];
            EXPECT(rl_st_read_range(&st, t1, 8, 8, v) == 0 && v[0] == 102 && v[1] == 103, "shard 2 data %g %g", v[0], v[1]);
            EXPECT(rl_st_read_as(&st, t0, RL_F32, v) == 0 && v[0] == 10 && v[5] == 15, "shard 1 data %g %g", v[0], v[5]);
            EXPECT(st.bytes_read == 8 + 24, "bytes_read %llu", (unsigned long long)st.bytes_read);
        }
        rl_st_close(&st);
    }
    expect_index_error("wrong.index.json", "\"blocks.1.w\": \"m-00001-of-00002.safetensors\"", "'blocks.1.w'",
                       "m-00001-of-00002.safetensors");
    expect_index_error("escape.index.json", "\"blocks.1.w\": \"../m-00002-of-00002.safetensors\"", "'blocks.1.w'", "..");
    expect_index_error("abs.index.json", "\"blocks.1.w\": \"/etc/passwd\"", "/etc/passwd", NULL);
    expect_index_error("missing.index.json", "\"blocks.1.w\": \"nope.safetensors\"", "nope.safetensors", NULL);
    expect_index_error("dup.index.json",
                       "\"blocks.0.w\": \"m-00001-of-00002.safetensors\", \"x\": \"dup.safetensors\"",
                       "'blocks.0.w'", "dup.safetensors");
    expect_index_error("newline.index.json", "\"blocks.1.w\": \"m-0000\\n2.safetensors\"", "'blocks.1.w'", NULL);
    expect_index_error("notstr.index.json", "\"blocks.0.w\": 5", "'blocks.0.w'", NULL);
    char path[512];
    tmp_path(path, sizeof path, "nomap.index.json");
    write_text(path, "{\"metadata\": {}}");
    EXPECT(rl_st_open(&st, path) != 0 && strstr(rl_error_message(), "weight_map"), "no weight_map: %s",
           rl_error_message());
}

/* ---------------------------------------------------------------- golden (Python) */

static void test_golden_written_by_python(void) {
    char path[512], epath[512];
    snprintf(path, sizeof path, "%s/tests/golden/safetensors/torch_small.safetensors", srcdir);
    snprintf(epath, sizeof epath, "%s/tests/golden/safetensors/torch_small.expect.txt", srcdir);
    rl_safetensors st;
    if (rl_st_open(&st, path) != 0) {
        EXPECT(0, "open golden: %s", rl_error_message());
        return;
    }
    FILE *f = fopen(epath, "r");
    EXPECT(f != NULL, "cannot open %s", epath);
    if (!f) { rl_st_close(&st); return; }
    static char line[1 << 16];
    int lines = 0, values = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char name[128], dt[16];
        int ndim, pos;
        if (sscanf(line, "%127s %15s %d%n", name, dt, &ndim, &pos) != 3) { EXPECT(0, "bad line %s", line); break; }
        const char *p = line + pos;
        int64_t shape[RL_MAX_DIMS] = {0}, numel;
        for (int d = 0; d < ndim && d < RL_MAX_DIMS; d++) shape[d] = strtoll(p, (char **)&p, 10);
        numel = strtoll(p, (char **)&p, 10);
        const rl_st_tensor *t = rl_st_find(&st, name);
        rl_dtype want;
        EXPECT(t != NULL, "%s missing", name);
        if (!t) continue;
        lines++;
        EXPECT(rl_dtype_from_safetensors_name(dt, &want) == 0 && t->dtype == want && t->ndim == ndim, "%s: dtype/ndim", name);
        for (int d = 0; d < ndim && d < RL_MAX_DIMS; d++) EXPECT(t->shape[d] == shape[d], "%s: dim %d", name, d);
        EXPECT((int64_t)(t->nbytes / rl_dtype_size(t->dtype)) == numel, "%s: numel", name);
        int is_int = t->dtype == RL_I32 || t->dtype == RL_I64;
        static uint8_t out[1 << 12];
        if ((size_t)numel * 8 > sizeof out) { EXPECT(0, "%s too big for the test", name); continue; }
        EXPECT(rl_st_read_as(&st, t, is_int ? RL_I64 : RL_F32, out) == 0, "%s: read_as", name);
        for (int64_t i = 0; i < numel; i++, values++) {
            if (is_int) {
                long long v = strtoll(p, (char **)&p, 10), g;
                memcpy(&g, out + 8 * i, 8);
                EXPECT(g == v, "%s[%lld] = %lld, torch has %lld", name, (long long)i, g, v);
            } else {
                uint32_t v = (uint32_t)strtoul(p, (char **)&p, 16), g;
                memcpy(&g, out + 4 * i, 4);
                EXPECT(g == v, "%s[%lld] = 0x%08x, torch has 0x%08x", name, (long long)i, g, v);
            }
        }
    }
    fclose(f);
    EXPECT(lines == st.n_tensors && lines >= 9, "%d lines for %d tensors", lines, st.n_tensors);
    EXPECT(values >= 90, "only %d values compared", values);
    cJSON *meta = st.metadata_json ? cJSON_Parse(st.metadata_json) : NULL;
    const cJSON *fm = cJSON_GetObjectItemCaseSensitive(meta, "format");
    EXPECT(cJSON_IsString(fm) && strcmp(fm->valuestring, "pt") == 0, "metadata: %s", st.metadata_json ? st.metadata_json : "none");
    cJSON_Delete(meta);
    rl_st_close(&st);
}

/* ---------------------------------------------------------------- corpus */

static int has_prefix_suffix(const char *s, const char *pre, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return strncmp(s, pre, strlen(pre)) == 0 && n >= k && strcmp(s + n - k, suf) == 0;
}

static void test_bad_header_corpus(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/corpus/safetensors", srcdir);
    DIR *d = opendir(dir);
    EXPECT(d != NULL, "cannot open %s", dir);
    if (!d) return;
    int nbad = 0, ngood = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int bad = has_prefix_suffix(e->d_name, "bad-", ".safetensors");
        int good = has_prefix_suffix(e->d_name, "good-", ".safetensors");
        if (!bad && !good) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rl_safetensors st;
        rl_error_clear();
        int rc = rl_st_open(&st, path);
        if (bad) {
            nbad++;
            const char *m = rl_error_message();
            EXPECT(rc != 0, "%s opened", e->d_name);
            EXPECT(rc == 0 || (strstr(m, path) && !strchr(m, '\n')), "%s: error not one line naming the file: %s",
                   e->d_name, m);
            EXPECT(st.tensors == NULL && st.files == NULL, "%s: state left after failure", e->d_name);
        } else {
            ngood++;
            EXPECT(rc == 0, "%s refused: %s", e->d_name, rl_error_message());
            for (int i = 0; rc == 0 && i < st.n_tensors; i++) {
                uint8_t tmp[64];
                const rl_st_tensor *t = &st.tensors[i];
                EXPECT(rl_st_find(&st, t->name) == t, "%s: find %s", e->d_name, t->name);
                EXPECT(t->nbytes > sizeof tmp || rl_st_read_range(&st, t, 0, t->nbytes, tmp) == 0, "%s: read", e->d_name);
                float f[16];
                if (t->dtype == RL_ST_OPAQUE)
                    EXPECT(rl_st_read_as(&st, t, RL_F32, f) == -1, "%s: read_as of raw %s refused", e->d_name,
                           t->file_dtype);
                else
                    EXPECT(t->nbytes / rl_dtype_size(t->dtype) > 16 || rl_st_read_as(&st, t, RL_F32, f) == 0,
                           "%s: read_as", e->d_name);
            }
        }
        if (rc == 0) rl_st_close(&st);
    }
    closedir(d);
    EXPECT(nbad >= 40 && ngood >= 4, "only %d bad and %d good files found in %s", nbad, ngood, dir);
    printf("  corpus: %d bad files refused, %d good files opened\n", nbad, ngood);
}

/* Unpadded header: every element is misaligned in the mapping; read_as must
 * still give the values (through its bounce buffer, without unaligned loads). */
static void test_unaligned_tensors(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/corpus/safetensors/good-unaligned.safetensors", srcdir);
    rl_safetensors st;
    if (rl_st_open(&st, path) != 0) {
        EXPECT(0, "open: %s", rl_error_message());
        return;
    }
    const rl_st_tensor *h = rl_st_find(&st, "h"), *i = rl_st_find(&st, "i"), *f = rl_st_find(&st, "f"),
                       *b = rl_st_find(&st, "b");
    EXPECT(h && i && f && b, "tensors missing");
    if (h && i && f && b) {
        EXPECT((uintptr_t)rl_st_data(&st, i) % 8 != 0, "the test file is meant to be misaligned");
        float hv[3], fv[2], bv[1];
        int64_t iv[2];
        EXPECT(rl_st_read_as(&st, h, RL_F32, hv) == 0 && hv[0] == 1 && hv[1] == 2 && hv[2] == -3, "f16 %g %g %g", hv[0],
               hv[1], hv[2]);
        EXPECT(rl_st_read_as(&st, i, RL_I64, iv) == 0 && iv[0] == -3 && iv[1] == (int64_t)1 << 40, "i64 %lld %lld",
               (long long)iv[0], (long long)iv[1]);
        EXPECT(rl_st_read_as(&st, f, RL_F32, fv) == 0 && fv[0] == 1.5f && fv[1] == -2.25f, "f32 %g %g", fv[0], fv[1]);
        EXPECT(rl_st_read_as(&st, b, RL_F32, bv) == 0 && bv[0] == 3, "bf16 %g", bv[0]);
    }
    rl_st_close(&st);
}

/* A directory, a missing file: errors naming the path. */
/* Raw element types (ComfyUI's U8 spiece_model) open, list and range-read as
 * bytes; converting them to numbers is refused with a sentence. */
static void test_raw_dtypes(void) {
    rl_safetensors st;
    const char *path = "tests/corpus/safetensors/good-dtype-raw-u8.safetensors";
    EXPECT(rl_st_open(&st, path) == 0, "%s", rl_error_message());
    if (!st.n_tensors) return;
    const rl_st_tensor *t = rl_st_find(&st, "spiece_model");
    EXPECT(t && t->dtype == RL_ST_OPAQUE && !strcmp(t->file_dtype, "U8") && t->nbytes == 4, "U8 tensor listed");
    uint8_t b[4] = {9, 9, 9, 9};
    EXPECT(t && rl_st_read_range(&st, t, 0, 4, b) == 0 && b[0] == 1 && b[1] == 0 && b[2] == 1, "bytes read");
    float f[4];
    EXPECT(t && rl_st_read_as(&st, t, RL_F32, f) == -1 && strstr(rl_error_message(), "spiece_model") &&
               strstr(rl_error_message(), "U8"), "read_as refused: %s", rl_error_message());
    const rl_st_tensor *g = rl_st_find(&st, "flag");
    EXPECT(g && !strcmp(g->file_dtype, "BOOL") && g->nbytes == 2, "BOOL tensor listed");
    rl_st_close(&st);
}

static void test_open_errors(void) {
    rl_safetensors st;
    EXPECT(rl_st_open(&st, tmpdir) != 0 && strstr(rl_error_message(), tmpdir), "dir: %s", rl_error_message());
    char path[512];
    tmp_path(path, sizeof path, "absent.safetensors");
    EXPECT(rl_st_open(&st, path) != 0 && strstr(rl_error_message(), path), "absent: %s", rl_error_message());
}

int main(void) {
    const char *keep = getenv("RL_ST_KEEP");
    if (getenv("RL_SRC_DIR")) srcdir = getenv("RL_SRC_DIR");
    if (keep) {
        snprintf(tmpdir, sizeof tmpdir, "%s", keep);
        mkdir(tmpdir, 0755);
    } else {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmpdir, sizeof tmpdir, "%s/rl_st_XXXXXX", base);
        if (!mkdtemp(tmpdir)) {
            printf("FAIL: cannot make a temporary directory under %s\n", base);
            return 1;
        }
    }
    RUN(test_roundtrip_every_dtype_and_rank);
    RUN(test_writer_header_layout);
    RUN(test_writer_refuses_bad_input);
    RUN(test_read_range_and_accounting);
    RUN(test_sharded_index);
    RUN(test_golden_written_by_python);
    RUN(test_bad_header_corpus);
    RUN(test_unaligned_tensors);
    RUN(test_raw_dtypes);
    RUN(test_open_errors);
    if (!keep) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) printf("  note: could not remove %s\n", tmpdir);
    }
    TL_EXIT();
}
