/* fuzz_safetensors.c: libFuzzer harness for the safetensors reader (`make fuzz`).
 *
 * Each input is opened twice: as a .safetensors file (through a memfd, so no
 * disk traffic) and, when it starts with '{', as a sharded checkpoint's
 * index.json in a scratch directory that also holds one valid shard
 * ("s.safetensors": tensors "a" F32 [2] and "b" BF16 [3]). Whatever opens is
 * read through every call (find, data, read_range at both ends, read_as).
 * (tests/corpus/safetensors/seed-index.json is a valid index for that shard.)
 * Besides ASan/UBSan findings, the harness aborts when an open fails without a
 * one-line error naming the file, or a read the reader promised fails.
 */
#include "io/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char scratch[128];
static char index_path[192];

static void fuzz_cleanup(void) {
    char shard[192];
    snprintf(shard, sizeof shard, "%s/s.safetensors", scratch);
    unlink(shard);
    unlink(index_path);
    rmdir(scratch);
}

static void fuzz_setup(void) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/rl_fuzz_st_XXXXXX", base);
    if (!mkdtemp(scratch)) abort();
    snprintf(index_path, sizeof index_path, "%s/x.safetensors.index.json", scratch);
    char shard[192];
    snprintf(shard, sizeof shard, "%s/s.safetensors", scratch);
    rl_st_writer *w = rl_st_writer_new();
    float a[2] = {1, 2};
    uint16_t b[3] = {0x3f80, 0x4000, 0x7fc0};
    int64_t s2 = 2, s3 = 3;
    if (!w || rl_st_writer_add(w, "a", RL_F32, 1, &s2, a) || rl_st_writer_add(w, "b", RL_BF16, 1, &s3, b) ||
        rl_st_writer_save(w, shard))
        abort();
    rl_st_writer_free(w);
    atexit(fuzz_cleanup);
}

static void check_error(const char *path) {
    const char *m = rl_error_message();
    if (!strstr(m, path) || strchr(m, '\n')) {
        fprintf(stderr, "bad error message for %s: %s\n", path, m);
        abort();
    }
}

static void exercise(rl_safetensors *st) {
    uint8_t buf[64];
    for (int i = 0; i < st->n_tensors; i++) {
        const rl_st_tensor *t = &st->tensors[i];
        if (rl_st_find(st, t->name) != t || !rl_st_data(st, t)) abort();
        uint64_t n = t->nbytes < sizeof buf ? t->nbytes : sizeof buf;
        uint64_t before = st->bytes_read;
        if (rl_st_read_range(st, t, 0, n, buf) != 0) abort();
        if (rl_st_read_range(st, t, t->nbytes - n, n, buf) != 0) abort();
        if (st->bytes_read != before + 2 * n) abort();
        if (rl_st_read_range(st, t, t->nbytes, 1, buf) == 0) abort(); /* one past the end */
        if (t->dtype == RL_ST_OPAQUE) {
            float f1;
            if (rl_st_read_as(st, t, RL_F32, &f1) == 0) abort(); /* raw types are bytes only */
            continue;
        }
        uint64_t numel = t->nbytes / rl_dtype_size(t->dtype);
        if (numel <= 4096) {
            float *f = malloc(numel ? numel * sizeof(float) : 1);
            if (!f || rl_st_read_as(st, t, RL_F32, f) != 0) abort();
            free(f);
        }
    }
    (void)rl_st_find(st, "a");
    (void)rl_st_find(st, "");
}

static void try_open(const char *path) {
    rl_safetensors st;
    rl_error_clear();
    if (rl_st_open(&st, path) == 0) {
        exercise(&st);
        rl_st_close(&st);
    } else {
        check_error(path);
    }
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!scratch[0]) fuzz_setup();
    int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, data, size) != 0) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    try_open(path);
    close(fd);
    if (size > 0 && data[0] == '{') {
        FILE *f = fopen(index_path, "wb");
        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
        try_open(index_path);
    }
    return 0;
}
