/* arena.c: bump allocation over one block of memory, released by marks, with
 * current/peak counters; and the process-wide per-device byte accounting that
 * the peak-memory reports read. */
#include "raylight.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 256

static size_t mem_current[2], mem_peak[2];

void rl_mem_note_alloc(rl_device dev, size_t bytes) {
    size_t c = __atomic_add_fetch(&mem_current[dev], bytes, __ATOMIC_RELAXED);
    size_t p = __atomic_load_n(&mem_peak[dev], __ATOMIC_RELAXED);
    while (c > p && !__atomic_compare_exchange_n(&mem_peak[dev], &p, c, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}
void rl_mem_note_free(rl_device dev, size_t bytes) { __atomic_sub_fetch(&mem_current[dev], bytes, __ATOMIC_RELAXED); }
size_t rl_mem_current(rl_device dev) { return mem_current[dev]; }
size_t rl_mem_peak(rl_device dev) { return mem_peak[dev]; }
void rl_mem_reset_peak(rl_device dev) { mem_peak[dev] = mem_current[dev]; }

/* --vram-limit: checked before every backend allocation (one thread allocates). */
static size_t mem_limit[2], mem_pinned;

void rl_mem_set_limit(rl_device dev, size_t bytes) { mem_limit[dev] = bytes; }
size_t rl_mem_limit(rl_device dev) { return mem_limit[dev]; }

int rl_mem_check_limit(rl_device dev, size_t bytes) {
    size_t lim = mem_limit[dev], cur = mem_current[dev];
    if (!lim || (bytes <= lim && cur <= lim - bytes)) return 0;
    char b1[32], b2[32], b3[32];
    return rl_error_set("out of memory under --vram-limit %s: %s more was needed with %s already in use on %s; "
                        "use --offload-blocks N (DiT blocks in host memory) or --auto-plan, lower --size or "
                        "--frames, or raise --vram-limit",
                        rl_bytes_str(lim, b1, sizeof b1), rl_bytes_str(bytes, b2, sizeof b2),
                        rl_bytes_str(cur, b3, sizeof b3), dev == RL_DEVICE_CUDA ? "the GPU" : "the CPU backend");
}

void rl_mem_note_pinned(size_t bytes, int freed) {
    if (freed) __atomic_sub_fetch(&mem_pinned, bytes, __ATOMIC_RELAXED);
    else __atomic_add_fetch(&mem_pinned, bytes, __ATOMIC_RELAXED);
}
size_t rl_mem_pinned(void) { return mem_pinned; }

void rl_arena_init_over(rl_arena *a, const char *name, rl_device dev, void *base, size_t capacity) {
    memset(a, 0, sizeof *a);
    a->name = name;
    a->device = dev;
    a->base = base;
    a->capacity = capacity;
}

int rl_arena_init_cpu(rl_arena *a, const char *name, size_t capacity) {
    void *p = NULL;
    if (capacity && posix_memalign(&p, ARENA_ALIGN, capacity) != 0) {
        char b[32];
        return rl_error_set("out of host memory: the %s arena needs %s", name,
                            rl_bytes_str(capacity, b, sizeof b));
    }
    rl_arena_init_over(a, name, RL_DEVICE_CPU, p, capacity);
    a->owns_base = 1;
    rl_mem_note_alloc(RL_DEVICE_CPU, capacity);
    return 0;
}

void rl_arena_free(rl_arena *a) {
    if (a->owns_base) {
        free(a->base);
        rl_mem_note_free(RL_DEVICE_CPU, a->capacity);
    }
    memset(a, 0, sizeof *a);
}

void *rl_arena_alloc(rl_arena *a, size_t bytes) {
    size_t start = (a->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (start > a->capacity || bytes > a->capacity - start) {
        char need[32], cap[32], used[32];
        rl_error_set("the %s arena is full: %s requested with %s of %s in use",
                     a->name ? a->name : "unnamed", rl_bytes_str(bytes, need, sizeof need),
                     rl_bytes_str(a->used, used, sizeof used), rl_bytes_str(a->capacity, cap, sizeof cap));
        return NULL;
    }
    a->used = start + bytes;
    if (a->used > a->peak) a->peak = a->used;
    return a->base + start;
}

int rl_arena_tensor(rl_arena *a, rl_tensor *out, rl_dtype t, int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > INT64_MAX / shape[i]))
            return rl_error_set("tensor shape too large for the %s arena", a->name ? a->name : "unnamed");
        n *= shape[i];
    }
    void *p = rl_arena_alloc(a, (size_t)n * rl_dtype_size(t));
    if (!p) return -1;
    *out = rl_tensor_make(p, t, a->device, ndim, shape);
    return 0;
}

size_t rl_arena_mark(const rl_arena *a) { return a->used; }
void rl_arena_reset(rl_arena *a, size_t mark) {
    RL_ASSERT(mark <= a->used);
    a->used = mark;
}
