/* safetensors.c: the safetensors reader (single files and sharded index.json
 * checkpoints) and writer.
 *
 * Files come from the internet, so the reader trusts nothing: the header length
 * is checked against the file size and RL_ST_MAX_HEADER before anything is
 * allocated; the header must be UTF-8 JSON without NUL bytes; every entry's
 * dtype, shape and data_offsets are checked (integers exact, no overflow, inside
 * the data section, span == numel x dtype size, no overlaps, no duplicates)
 * before a caller sees any tensor. Errors are one sentence naming the file and
 * the tensor, with names escaped so a hostile name cannot break the line.
 *
 * Layout of the data: the whole file is mmap'd read-only; range reads use
 * pread so a file that shrinks under us gives an error instead of SIGBUS and
 * only the requested pages are touched.
 *
 * The writer follows the reference layout: header entries sorted by name
 * (JSON), data laid out by descending dtype size then name with no gaps (so
 * each tensor is aligned to its element size and the Python reader, which
 * requires contiguous data, accepts it), header padded with spaces to a
 * multiple of 8 bytes.
 */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_EXACT_INT_MAX 9007199254740992.0 /* 2^53: doubles are exact integers up to here */
#define ST_SUPPORTED "F32, F16, BF16, F8_E4M3, F8_E5M2, I32, I64; BOOL, U8, I8, I16, U16, U32, U64 and F64 as raw bytes"

typedef unsigned long long ull;

/* ---------------------------------------------------------------- helpers */

/* Copies a name from a file into buf for an error message: control bytes are
 * escaped (a name must never add a line to the one-line error) and long names
 * are cut. */
static const char *st_show(const char *s, char *buf, size_t n) {
    size_t o = 0;
    const size_t limit = n > 8 ? n - 8 : 0;
    for (; *s && o < limit; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    if (*s && o + 4 <= n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o < n ? o : n - 1] = 0;
    return buf;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), and no
 * NUL, which JSON never contains. Returns the offset of the first bad byte or
 * n when all is well. */
static size_t st_utf8_bad_at(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0) return i;
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return n;
}

/* cJSON hands numbers over as doubles: accept only exact non-negative integers
 * up to 2^53 (no tensor dimension or file offset comes near that). */
static int st_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > ST_EXACT_INT_MAX || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int st_cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int st_cmp_name(const void *a, const void *b) {
    return strcmp(((const rl_st_tensor *)a)->name, ((const rl_st_tensor *)b)->name);
}

static int st_cmp_offset(const void *a, const void *b) {
    const rl_st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return 0;
}

static void st_free_tensors(rl_st_tensor *t, int n) {
    if (!t) return;
    for (int i = 0; i < n; i++) free(t[i].name);
    free(t);
}

static void st_file_close(rl_st_file *f) {
    if (f->map) munmap(f->map, f->file_size);
    if (f->fd >= 0) close(f->fd);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* ---------------------------------------------------------------- one header entry */

/* Parses and checks "shape" of tensor `nm`; fills t->ndim, t->shape and the
 * element count. */
static int st_parse_shape(const char *path, const char *nm, const cJSON *shape, rl_st_tensor *t,
                          uint64_t *numel) {
    if (!cJSON_IsArray(shape))
        return rl_error_set("%s: tensor '%s' has a \"shape\" that is not an array of integers: the file is "
                            "corrupt or not a safetensors file", path, nm);
    int nd = cJSON_GetArraySize(shape);
    if (nd > RL_MAX_DIMS)
        return rl_error_set("%s: tensor '%s' has %d dimensions, but raylight-gen supports at most %d: this "
                            "checkpoint is not one raylight-gen can use", path, nm, nd, RL_MAX_DIMS);
    uint64_t n = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (st_json_uint(d, &v) != 0) {
            if (cJSON_IsNumber(d))
                return rl_error_set("%s: tensor '%s' has shape entry %d = %.17g, which is not a non-negative "
                                    "integer below 2^53: the file is corrupt", path, nm, i, d->valuedouble);
            return rl_error_set("%s: tensor '%s' has shape entry %d that is not a number: the file is corrupt",
                                path, nm, i);
        }
        if (__builtin_mul_overflow(n, v, &n))
            return rl_error_set("%s: tensor '%s' has a shape whose element count overflows 64 bits: the file is "
                                "corrupt", path, nm);
        t->shape[i] = (int64_t)v;
    }
    t->ndim = nd;
    *numel = n;
    return 0;
}

/* Parses "data_offsets" [begin, end] relative to the data section of
 * `data_size` bytes and checks them against the expected byte count. */
static int st_parse_offsets(const char *path, const char *nm, const cJSON *offs, uint64_t data_size,
                            uint64_t want_bytes, rl_st_tensor *t) {
    uint64_t b, e;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || st_json_uint(offs->child, &b) != 0 ||
        st_json_uint(offs->child->next, &e) != 0)
        return rl_error_set("%s: tensor '%s' has \"data_offsets\" that are not two non-negative integers "
                            "[begin, end]: the file is corrupt", path, nm);
    if (b > e)
        return rl_error_set("%s: tensor '%s' has data_offsets [%llu,%llu] with begin after end: the file is "
                            "corrupt; download it again", path, nm, (ull)b, (ull)e);
    if (e > data_size)
        return rl_error_set("%s: tensor '%s' has data_offsets [%llu,%llu] past the end of the data section "
                            "(%llu bytes): the file is truncated or corrupt; download it again",
                            path, nm, (ull)b, (ull)e, (ull)data_size);
    if (e - b != want_bytes)
        return rl_error_set("%s: tensor '%s' spans %llu bytes in data_offsets [%llu,%llu], but its shape and "
                            "dtype need %llu bytes: the file is corrupt", path, nm, (ull)(e - b), (ull)b,
                            (ull)e, (ull)want_bytes);
    t->offset = b;
    t->nbytes = e - b;
    return 0;
}

/* Fills t from one header entry `item` (key = tensor name). */
/* Element types of the safetensors format that we carry as bytes only. */
static uint64_t st_opaque_size(const char *name, const char **canonical) {
    static const struct {
        const char *name;
        uint64_t size;
    } raw[] = {{"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"I16", 2}, {"U16", 2}, {"U32", 4}, {"U64", 8}, {"F64", 8}};
    for (size_t i = 0; i < sizeof raw / sizeof *raw; i++)
        if (!strcmp(name, raw[i].name)) {
            *canonical = raw[i].name;
            return raw[i].size;
        }
    return 0;
}

static int st_parse_entry(const char *path, const cJSON *item, uint64_t data_size, rl_st_tensor *t) {
    char nm[160];
    st_show(item->string, nm, sizeof nm);
    if (!cJSON_IsObject(item))
        return rl_error_set("%s: header entry '%s' is not an object with dtype, shape and data_offsets: the "
                            "file is corrupt or not a safetensors file", path, nm);
    const char *keys[3] = {"dtype", "shape", "data_offsets"};
    const cJSON *v[3] = {NULL, NULL, NULL};
    for (const cJSON *c = item->child; c; c = c->next) /* other keys are ignored, as the reference does */
        for (int k = 0; k < 3; k++)
            if (strcmp(c->string, keys[k]) == 0) {
                if (v[k])
                    return rl_error_set("%s: tensor '%s' has \"%s\" twice in the header: the file is corrupt",
                                        path, nm, keys[k]);
                v[k] = c;
            }
    for (int k = 0; k < 3; k++)
        if (!v[k])
            return rl_error_set("%s: tensor '%s' has no \"%s\" in the header: the file is corrupt or not a "
                                "safetensors file", path, nm, keys[k]);
    if (!cJSON_IsString(v[0]))
        return rl_error_set("%s: tensor '%s' has a \"dtype\" that is not a string: the file is corrupt", path, nm);
    uint64_t esize = 0;
    if (rl_dtype_from_safetensors_name(v[0]->valuestring, &t->dtype) == 0) {
        esize = rl_dtype_size(t->dtype);
        t->file_dtype = rl_dtype_safetensors_name(t->dtype);
    } else if ((esize = st_opaque_size(v[0]->valuestring, &t->file_dtype)) != 0) {
        t->dtype = RL_ST_OPAQUE;
    } else {
        char dt[64];
        return rl_error_set("%s: tensor '%s' has dtype '%s', which raylight-gen does not support (supported: "
                            ST_SUPPORTED "); convert the checkpoint to one of these", path, nm,
                            st_show(v[0]->valuestring, dt, sizeof dt));
    }
    uint64_t numel = 0, nbytes = 0;
    RL_TRY(st_parse_shape(path, nm, v[1], t, &numel));
    if (__builtin_mul_overflow(numel, esize, &nbytes))
        return rl_error_set("%s: tensor '%s' has a shape whose byte size overflows 64 bits: the file is corrupt",
                            path, nm);
    RL_TRY(st_parse_offsets(path, nm, v[2], data_size, nbytes, t));
    t->name = strdup(item->string);
    if (!t->name) return rl_error_set("%s: out of host memory while reading the header", path);
    return 0;
}

/* "__metadata__": an object of string values, re-serialised for the caller. */
static int st_parse_metadata(const char *path, const cJSON *meta, char **out) {
    if (*out)
        return rl_error_set("%s: the header has \"__metadata__\" twice: the file is corrupt", path);
    if (!cJSON_IsObject(meta))
        return rl_error_set("%s: the header's \"__metadata__\" is not an object of strings: the file is corrupt",
                            path);
    char k[160];
    int n = cJSON_GetArraySize(meta), i = 0;
    const char **keys = malloc((size_t)(n > 0 ? n : 1) * sizeof *keys);
    if (!keys) return rl_error_set("%s: out of host memory while reading the header", path);
    for (const cJSON *m = meta->child; m; m = m->next) {
        keys[i++] = m->string;
        if (!cJSON_IsString(m)) {
            free(keys);
            return rl_error_set("%s: the header's \"__metadata__\" value '%s' is not a string: the file is "
                                "corrupt", path, st_show(m->string, k, sizeof k));
        }
    }
    /* duplicates by sorting: a hostile header may hold millions of keys */
    qsort(keys, (size_t)n, sizeof *keys, st_cmp_str);
    for (i = 1; i < n; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            rl_error_set("%s: the header's \"__metadata__\" has the key '%s' twice: the file is corrupt", path,
                         st_show(keys[i], k, sizeof k));
            free(keys);
            return -1;
        }
    free(keys);
    *out = cJSON_PrintUnformatted(meta);
    if (!*out) return rl_error_set("%s: out of host memory while reading the header", path);
    return 0;
}

/* ---------------------------------------------------------------- one file */

/* After every entry is parsed: no two non-empty tensors share a byte, and no
 * name appears twice. Leaves the tensors sorted by name. */
static int st_check_layout(const char *path, rl_st_tensor *t, int n) {
    char a[160], b[160];
    qsort(t, (size_t)n, sizeof *t, st_cmp_offset);
    int last = -1; /* the non-empty tensor reaching furthest so far */
    for (int i = 0; i < n; i++) {
        if (t[i].nbytes == 0) continue;
        if (last >= 0 && t[i].offset < t[last].offset + t[last].nbytes)
            return rl_error_set("%s: tensors '%s' [%llu,%llu] and '%s' [%llu,%llu] overlap in the data section: "
                                "the file is corrupt", path, st_show(t[last].name, a, sizeof a),
                                (ull)t[last].offset, (ull)(t[last].offset + t[last].nbytes),
                                st_show(t[i].name, b, sizeof b), (ull)t[i].offset, (ull)(t[i].offset + t[i].nbytes));
        if (last < 0 || t[i].offset + t[i].nbytes > t[last].offset + t[last].nbytes) last = i;
    }
    qsort(t, (size_t)n, sizeof *t, st_cmp_name);
    for (int i = 1; i < n; i++)
        if (strcmp(t[i - 1].name, t[i].name) == 0)
            return rl_error_set("%s: tensor '%s' appears twice in the header: the file is corrupt", path,
                                st_show(t[i].name, a, sizeof a));
    return 0;
}

/* Parses the JSON header of an open file into a tensor list. */
static int st_parse_header(rl_st_file *f, const char *hdr, size_t n, rl_st_tensor **out_t, int *out_n,
                           char **meta) {
    const char *path = f->path;
    size_t bad = st_utf8_bad_at((const uint8_t *)hdr, n);
    if (bad < n)
        return rl_error_set("%s: the header has a %s at byte %zu: not a safetensors file, or corrupt", path,
                            hdr[bad] ? "byte that is not valid UTF-8" : "NUL byte", 8 + bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, n, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + n ? (size_t)(end - hdr) : 0;
        return rl_error_set("%s: the header is not valid JSON (near byte %zu): not a safetensors file, or "
                            "corrupt", path, 8 + at);
    }
    for (const char *p = end; p < hdr + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return rl_error_set("%s: the header has text after its JSON object (at byte %zu): the file is "
                                "corrupt", path, 8 + (size_t)(p - hdr));
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return rl_error_set("%s: the header is JSON but not an object: not a safetensors file", path);
    }
    int cap = cJSON_GetArraySize(root);
    rl_st_tensor *t = calloc((size_t)(cap > 0 ? cap : 1), sizeof *t);
    int nt = 0, rc = 0;
    if (!t) rc = rl_error_set("%s: out of host memory while reading the header", path);
    uint64_t data_size = f->file_size - f->data_start;
    for (const cJSON *it = root->child; it && rc == 0; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) rc = st_parse_metadata(path, it, meta);
        else if ((rc = st_parse_entry(path, it, data_size, &t[nt])) == 0) nt++;
    }
    cJSON_Delete(root);
    if (rc == 0) rc = st_check_layout(path, t, nt);
    if (rc != 0) {
        st_free_tensors(t, nt);
        return -1;
    }
    *out_t = t;
    *out_n = nt;
    return 0;
}

/* Opens and maps one .safetensors file and validates its header. */
static int st_file_open(rl_st_file *f, const char *path, rl_st_tensor **out_t, int *out_n, char **meta) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = strdup(path);
    if (!f->path) return rl_error_set("%s: out of host memory", path);
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return rl_error_set("%s: cannot open: %s; check the path", path, strerror(errno));
    struct stat sb;
    if (fstat(f->fd, &sb) != 0) return rl_error_set("%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return rl_error_set("%s: not a regular file; give the path of a .safetensors file", path);
    f->file_size = (uint64_t)sb.st_size;
    if (f->file_size < 8)
        return rl_error_set("%s: the file is %llu bytes long, too short for a safetensors file (8-byte header "
                            "length, then the header): it is empty or truncated; download it again",
                            path, (ull)f->file_size);
    void *m = mmap(NULL, f->file_size, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (m == MAP_FAILED) return rl_error_set("%s: cannot mmap: %s", path, strerror(errno));
    f->map = m;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->map[i];
    if (n > RL_ST_MAX_HEADER)
        return rl_error_set("%s: the header length %llu is larger than the limit of %u bytes: not a "
                            "safetensors file, or corrupt", path, (ull)n, (unsigned)RL_ST_MAX_HEADER);
    if (n > f->file_size - 8)
        return rl_error_set("%s: the header length %llu runs past the end of the file (%llu bytes): the file "
                            "is truncated or not a safetensors file; download it again",
                            path, (ull)n, (ull)f->file_size);
    f->data_start = 8 + n;
    return st_parse_header(f, (const char *)f->map + 8, (size_t)n, out_t, out_n, meta);
}

/* ---------------------------------------------------------------- sharded index */

/* Appends the tensors of one more file to st (file index = st->n_files). */
static int st_add_file(rl_safetensors *st, const char *path) {
    rl_st_file *nf = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *nf);
    if (!nf) return rl_error_set("%s: out of host memory", path);
    st->files = nf;
    rl_st_tensor *t = NULL;
    int n = 0;
    char *meta = NULL;
    rl_st_file *f = &st->files[st->n_files++];
    if (st_file_open(f, path, &t, &n, &meta) != 0) {
        free(meta);
        return -1;
    }
    if (!st->metadata_json) st->metadata_json = meta;
    else free(meta);
    rl_st_tensor *all = realloc(st->tensors, (size_t)(st->n_tensors + n + 1) * sizeof *all);
    if (!all) {
        st_free_tensors(t, n);
        return rl_error_set("%s: out of host memory", path);
    }
    st->tensors = all;
    for (int i = 0; i < n; i++) {
        t[i].file_index = st->n_files - 1;
        all[st->n_tensors++] = t[i];
    }
    free(t); /* names now owned by st->tensors */
    return 0;
}

/* Reads a whole small file (an index.json) into a NUL-terminated buffer. */
static char *st_slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rl_error_set("%s: cannot open: %s; check the path", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    char *buf = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) rl_error_set("%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > RL_ST_MAX_HEADER)
        rl_error_set("%s: %llu bytes is too large for a checkpoint index (limit %u): not an index.json", path,
                     (ull)sb.st_size, (unsigned)RL_ST_MAX_HEADER);
    else if (!(buf = malloc((size_t)sb.st_size + 1))) rl_error_set("%s: out of host memory", path);
    else {
        size_t got = 0;
        while (got < (size_t)sb.st_size) {
            ssize_t r = pread(fd, buf + got, (size_t)sb.st_size - got, (off_t)got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        buf[got] = 0;
        *len = got;
    }
    close(fd);
    return buf;
}

/* A shard name from the internet must stay inside the index's directory, and
 * be printable (it ends up in error messages). */
static int st_shard_name_ok(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return s[0] && !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..") &&
           st_utf8_bad_at((const uint8_t *)s, strlen(s)) == strlen(s);
}

/* Index of the file named `shard` in st->files, opening it when new; -1 on error. */
static int st_shard_index(rl_safetensors *st, const char *dir, size_t dirlen, const char *shard) {
    size_t sl = strlen(shard);
    for (int i = 0; i < st->n_files; i++) {
        size_t pl = strlen(st->files[i].path);
        if (pl == dirlen + sl && strcmp(st->files[i].path + dirlen, shard) == 0) return i;
    }
    char *p = malloc(dirlen + sl + 1);
    if (!p) return rl_error_set("%s: out of host memory", st->path);
    memcpy(p, dir, dirlen);
    memcpy(p + dirlen, shard, sl + 1);
    int rc = st_add_file(st, p);
    if (rc != 0) rl_error_wrap("%s: shard '%s' (listed in weight_map)", st->path, shard);
    free(p);
    return rc == 0 ? st->n_files - 1 : -1;
}

/* Checks that every tensor named in weight_map sits in the shard it names. */
static int st_check_weight_map(rl_safetensors *st, const cJSON *wm, const int *shard_of) {
    int i = 0;
    char a[160], b[160];
    for (const cJSON *e = wm->child; e; e = e->next, i++) {
        const rl_st_tensor *t = rl_st_find(st, e->string);
        if (!t || t->file_index != shard_of[i])
            return rl_error_set("%s: tensor '%s' is listed in weight_map under shard '%s', but that shard does "
                                "not contain it: the checkpoint is incomplete or mixed; download it again",
                                st->path, st_show(e->string, a, sizeof a), st_show(e->valuestring, b, sizeof b));
    }
    return 0;
}

/* After all shards are in: sorted by name, and no name in two shards. */
static int st_check_layout_merged(rl_safetensors *st) {
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, st_cmp_name);
    char a[160];
    for (int i = 1; i < st->n_tensors; i++) {
        const rl_st_tensor *x = &st->tensors[i - 1], *y = &st->tensors[i];
        if (strcmp(x->name, y->name) == 0)
            return rl_error_set("%s: tensor '%s' is in two shards, %s and %s: the checkpoint is corrupt or mixed",
                                st->path, st_show(y->name, a, sizeof a), st->files[x->file_index].path,
                                st->files[y->file_index].path);
    }
    return 0;
}

static int st_open_index(rl_safetensors *st, const char *path) {
    size_t len = 0;
    char *txt = st_slurp(path, &len);
    if (!txt) return -1;
    size_t bad = st_utf8_bad_at((const uint8_t *)txt, len);
    if (bad < len) {
        free(txt);
        return rl_error_set("%s: has a byte that is not valid UTF-8 (or NUL) at byte %zu: not a checkpoint index, or "
                            "corrupt", path, bad);
    }
    cJSON *root = cJSON_ParseWithLength(txt, len);
    free(txt);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    int rc = 0;
    if (!root) rc = rl_error_set("%s: not valid JSON: a checkpoint index must be a JSON object; download it again", path);
    else if (!cJSON_IsObject(wm))
        rc = rl_error_set("%s: has no \"weight_map\" object: not a safetensors checkpoint index", path);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    int n = rc == 0 ? cJSON_GetArraySize(wm) : 0;
    int *shard_of = rc == 0 ? malloc((size_t)(n > 0 ? n : 1) * sizeof *shard_of) : NULL;
    if (rc == 0 && !shard_of) rc = rl_error_set("%s: out of host memory", path);
    int i = 0;
    for (const cJSON *e = rc == 0 ? wm->child : NULL; e && rc == 0; e = e->next, i++) {
        char a[160], b[160];
        if (!cJSON_IsString(e) || !st_shard_name_ok(e->valuestring))
            rc = rl_error_set("%s: weight_map entry '%s' names shard '%s', which is not a plain file name in the "
                              "index's directory: the index is corrupt or unsafe", path,
                              st_show(e->string, a, sizeof a),
                              cJSON_IsString(e) ? st_show(e->valuestring, b, sizeof b) : "(not a string)");
        else if ((shard_of[i] = st_shard_index(st, path, dirlen, e->valuestring)) < 0) rc = -1;
    }
    if (rc == 0 && st->n_files == 0)
        rc = rl_error_set("%s: the weight_map is empty: no shard to open", path);
    if (rc == 0) rc = st_check_layout_merged(st);
    if (rc == 0) rc = st_check_weight_map(st, wm, shard_of);
    free(shard_of);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- public reader */

static int st_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int rl_st_open(rl_safetensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    st->path = strdup(path);
    if (!st->path) return rl_error_set("%s: out of host memory", path);
    int rc = st_ends_with(path, ".json") ? st_open_index(st, path) : st_add_file(st, path);
    if (rc != 0) {
        rl_st_close(st);
        return -1;
    }
    return 0;
}

void rl_st_close(rl_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) st_file_close(&st->files[i]);
    free(st->files);
    st_free_tensors(st->tensors, st->n_tensors);
    free(st->metadata_json);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const rl_st_tensor *rl_st_find(const rl_safetensors *st, const char *name) {
    if (!st || !st->tensors || !name) return NULL;
    rl_st_tensor key;
    key.name = (char *)name;
    return bsearch(&key, st->tensors, (size_t)st->n_tensors, sizeof key, st_cmp_name);
}

/* A tensor pointer handed back must be one of st's own (its offsets were
 * checked against that file only). */
static int st_check_owned(const rl_safetensors *st, const rl_st_tensor *t) {
    uintptr_t p = (uintptr_t)t, lo = (uintptr_t)st->tensors, hi = lo + (uintptr_t)st->n_tensors * sizeof *t;
    if (!t || !st->tensors || p < lo || p >= hi || (p - lo) % sizeof *t != 0)
        return rl_error_set("%s: a tensor that does not belong to this file was passed to a read call (a bug: "
                            "please report)", st->path ? st->path : "safetensors");
    return 0;
}

const void *rl_st_data(const rl_safetensors *st, const rl_st_tensor *t) {
    if (st_check_owned(st, t) != 0) return NULL;
    const rl_st_file *f = &st->files[t->file_index];
    return f->map + f->data_start + t->offset;
}

int rl_st_read_range(rl_safetensors *st, const rl_st_tensor *t, uint64_t byte_off, uint64_t nbytes, void *dst) {
    RL_TRY(st_check_owned(st, t));
    char nm[160];
    uint64_t end;
    if (__builtin_add_overflow(byte_off, nbytes, &end) || end > t->nbytes)
        return rl_error_set("%s: byte range [%llu,%llu) is outside tensor '%s' (%llu bytes)", st->path,
                            (ull)byte_off, (ull)byte_off + (ull)nbytes, st_show(t->name, nm, sizeof nm),
                            (ull)t->nbytes);
    const rl_st_file *f = &st->files[t->file_index];
    uint64_t pos = f->data_start + t->offset + byte_off, got = 0;
    while (got < nbytes) {
        ssize_t r = pread(f->fd, (uint8_t *)dst + got, (size_t)(nbytes - got), (off_t)(pos + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return rl_error_set("%s: reading tensor '%s' failed at byte %llu: %s; the file may have been "
                                "truncated or replaced while in use", f->path, st_show(t->name, nm, sizeof nm),
                                (ull)(pos + got), r < 0 ? strerror(errno) : "unexpected end of file");
        got += (uint64_t)r;
    }
    st->bytes_read += nbytes;
    return 0;
}

int rl_st_read_as(rl_safetensors *st, const rl_st_tensor *t, rl_dtype dtype, void *dst) {
    RL_TRY(st_check_owned(st, t));
    if ((unsigned)dtype >= RL_DTYPE_COUNT)
        return rl_error_set("%s: cannot read tensor into unknown dtype %d (a bug: please report)", st->path,
                            (int)dtype);
    if (t->dtype == RL_ST_OPAQUE)
        return rl_error_set("%s: tensor '%s' has dtype %s, which raylight-gen reads only as raw bytes, not as "
                            "numbers", st->path, t->name, t->file_dtype);
    size_t esz = rl_dtype_size(t->dtype);
    const uint8_t *src = rl_st_data(st, t);
    size_t numel = (size_t)(t->nbytes / esz);
    if ((uintptr_t)src % esz == 0) {
        if (numel) rl_convert(dst, dtype, src, t->dtype, numel);
    } else {
        /* Files not written by the reference (unpadded headers, hand-made
         * offsets) can leave elements unaligned: convert through an aligned
         * bounce buffer, as an unaligned typed load is undefined behaviour. */
        enum { CHUNK = 8192 };
        uint64_t bounce[CHUNK / 8]; /* CHUNK bytes, 8-aligned */
        size_t per = sizeof bounce / esz, dsz = rl_dtype_size(dtype);
        for (size_t i = 0; i < numel; i += per) {
            size_t k = numel - i < per ? numel - i : per;
            memcpy(bounce, src + i * esz, k * esz);
            rl_convert((uint8_t *)dst + i * dsz, dtype, bounce, t->dtype, k);
        }
    }
    st->bytes_read += t->nbytes;
    return 0;
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *name;
    rl_dtype dtype;
    int ndim;
    int64_t shape[RL_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset; /* assigned by save */
    void *data;      /* nbytes, owned */
} st_wentry;

struct rl_st_writer {
    st_wentry *t;
    int n, cap;
    char **meta; /* key, value, key, value, ... */
    int n_meta;
};

rl_st_writer *rl_st_writer_new(void) {
    rl_st_writer *w = calloc(1, sizeof *w);
    if (!w) rl_error_set("safetensors writer: out of host memory");
    return w;
}

void rl_st_writer_free(rl_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    for (int i = 0; i < 2 * w->n_meta; i++) free(w->meta[i]);
    free(w->meta);
    free(w->t);
    free(w);
}

static int st_writer_check(const rl_st_writer *w, const char *name, rl_dtype dtype, int ndim,
                           const int64_t *shape, uint64_t *nbytes) {
    char nm[160];
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0 || st_utf8_bad_at((const uint8_t *)name, strlen(name)) < strlen(name))
        return rl_error_set("safetensors writer: tensor name '%s' is empty, reserved or not UTF-8",
                            name ? st_show(name, nm, sizeof nm) : "(null)");
    if ((unsigned)dtype >= RL_DTYPE_COUNT || ndim < 0 || ndim > RL_MAX_DIMS || (ndim > 0 && !shape))
        return rl_error_set("safetensors writer: tensor '%s' has an unknown dtype or %d dimensions (at most %d)",
                            st_show(name, nm, sizeof nm), ndim, RL_MAX_DIMS);
    uint64_t n = rl_dtype_size(dtype);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n))
            return rl_error_set("safetensors writer: tensor '%s' has a negative or overflowing shape entry %d",
                                st_show(name, nm, sizeof nm), i);
    if (n > (uint64_t)SIZE_MAX / 2)
        return rl_error_set("safetensors writer: tensor '%s' is too large", st_show(name, nm, sizeof nm));
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return rl_error_set("safetensors writer: tensor '%s' was added twice", st_show(name, nm, sizeof nm));
    *nbytes = n;
    return 0;
}

int rl_st_writer_add(rl_st_writer *w, const char *name, rl_dtype dtype, int ndim, const int64_t *shape,
                     const void *data) {
    if (!w) return rl_error_set("safetensors writer: no writer (a bug: please report)");
    uint64_t nbytes = 0;
    RL_TRY(st_writer_check(w, name, dtype, ndim, shape, &nbytes));
    if (nbytes && !data) return rl_error_set("safetensors writer: tensor '%s' has no data", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        st_wentry *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return rl_error_set("safetensors writer: out of host memory");
        w->t = nt;
        w->cap = cap;
    }
    st_wentry *e = &w->t[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->data = malloc(nbytes ? (size_t)nbytes : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return rl_error_set("safetensors writer: out of host memory for tensor '%s'", name);
    }
    if (nbytes) memcpy(e->data, data, (size_t)nbytes);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->nbytes = nbytes;
    w->n++;
    return 0;
}

int rl_st_writer_meta(rl_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value) return rl_error_set("safetensors writer: metadata key and value must be given");
    size_t kl = strlen(key), vl = strlen(value);
    if (st_utf8_bad_at((const uint8_t *)key, kl) < kl || st_utf8_bad_at((const uint8_t *)value, vl) < vl)
        return rl_error_set("safetensors writer: metadata '%s' is not UTF-8", key);
    char *v = strdup(value);
    if (!v) return rl_error_set("safetensors writer: out of host memory");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) { /* a later value replaces, as in a Python dict */
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return 0;
        }
    char **nm = realloc(w->meta, (size_t)(2 * w->n_meta + 2) * sizeof *nm);
    char *k = strdup(key);
    if (nm) w->meta = nm;
    if (!nm || !k) {
        free(k);
        free(v);
        return rl_error_set("safetensors writer: out of host memory");
    }
    w->meta[2 * w->n_meta] = k;
    w->meta[2 * w->n_meta + 1] = v;
    w->n_meta++;
    return 0;
}

/* A growing text buffer for the header; `failed` latches out-of-memory. */
typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} st_buf;

static void st_buf_put(st_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void st_buf_printf(st_buf *b, const char *fmt, ...) RL_PRINTF(2, 3);
static void st_buf_printf(st_buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) st_buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string literal: quotes, backslashes and control bytes escaped; UTF-8
 * passes through (it was checked on add). */
static void st_buf_json_str(st_buf *b, const char *s) {
    st_buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            st_buf_put(b, e, 2);
        } else if (c < 0x20) {
            st_buf_printf(b, "\\u%04x", c);
        } else {
            st_buf_put(b, (const char *)&c, 1);
        }
    }
    st_buf_put(b, "\"", 1);
}

static int st_cmp_wname(const void *a, const void *b) {
    return strcmp((*(st_wentry *const *)a)->name, (*(st_wentry *const *)b)->name);
}

/* Data order: larger elements first, then by name, so every tensor starts at a
 * multiple of its element size (the reference writer's order). */
static int st_cmp_wdata(const void *a, const void *b) {
    const st_wentry *x = *(st_wentry *const *)a, *y = *(st_wentry *const *)b;
    size_t sx = rl_dtype_size(x->dtype), sy = rl_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Builds the padded header; `order` receives the entries in data order. */
static int st_writer_header(rl_st_writer *w, st_buf *b, st_wentry **order) {
    for (int i = 0; i < w->n; i++) order[i] = &w->t[i];
    qsort(order, (size_t)w->n, sizeof *order, st_cmp_wdata);
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        order[i]->offset = off;
        off += order[i]->nbytes;
    }
    st_buf_put(b, "{", 1);
    if (w->n_meta) {
        st_buf_put(b, "\"__metadata__\":{", 16);
        for (int i = 0; i < w->n_meta; i++) {
            if (i) st_buf_put(b, ",", 1);
            st_buf_json_str(b, w->meta[2 * i]);
            st_buf_put(b, ":", 1);
            st_buf_json_str(b, w->meta[2 * i + 1]);
        }
        st_buf_put(b, "}", 1);
    }
    qsort(order, (size_t)w->n, sizeof *order, st_cmp_wname);
    for (int i = 0; i < w->n; i++) {
        const st_wentry *e = order[i];
        if (i || w->n_meta) st_buf_put(b, ",", 1);
        st_buf_json_str(b, e->name);
        st_buf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", rl_dtype_safetensors_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) st_buf_printf(b, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        st_buf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (ull)e->offset, (ull)(e->offset + e->nbytes));
    }
    st_buf_put(b, "}", 1);
    while (!b->failed && b->len % 8) st_buf_put(b, " ", 1);
    qsort(order, (size_t)w->n, sizeof *order, st_cmp_wdata);
    if (b->failed) return rl_error_set("safetensors writer: out of host memory for the header");
    return 0;
}

static int st_write_all(int fd, const void *p, size_t n) {
    const uint8_t *s = p;
    while (n) {
        ssize_t r = write(fd, s, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        s += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Writes into a temporary file beside `path` and renames it over, so a reader
 * never sees a half-written file. */
int rl_st_writer_save(rl_st_writer *w, const char *path) {
    if (!w || !path) return rl_error_set("safetensors writer: no writer or path (a bug: please report)");
    st_buf b = {0};
    st_wentry **order = malloc((size_t)(w->n ? w->n : 1) * sizeof *order);
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!order || !tmp) {
        free(order);
        free(tmp);
        return rl_error_set("%s: out of host memory while writing", path);
    }
    int rc = st_writer_header(w, &b, order);
    int fd = -1;
    if (rc == 0) {
        memcpy(tmp, path, pl);
        memcpy(tmp + pl, ".tmp-XXXXXX", 12);
        fd = mkstemp(tmp);
        if (fd < 0) rc = rl_error_set("%s: cannot create a file there: %s; check that the directory exists and is "
                                      "writable", path, strerror(errno));
    }
    if (rc == 0) {
        uint8_t len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)b.len >> (8 * i));
        int bad = st_write_all(fd, len8, 8) || st_write_all(fd, b.s, b.len);
        for (int i = 0; i < w->n && !bad; i++) bad = st_write_all(fd, order[i]->data, (size_t)order[i]->nbytes);
        if (fchmod(fd, 0644) != 0) bad = 1;
        if (close(fd) != 0) bad = 1;
        if (bad || rename(tmp, path) != 0) {
            rc = rl_error_set("%s: writing failed: %s; check free disk space and permissions", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(b.s);
    free(order);
    free(tmp);
    return rc;
}
