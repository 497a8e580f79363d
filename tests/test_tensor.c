/* test_tensor.c: tensor headers and views (make, reshape, slice, select, permute,
 * contiguity, shape strings), the arena (alignment, exhaustion sentence,
 * mark/reset, peak) and the process-wide rl_mem accounting. Views are checked
 * by reading elements through their strides against index arithmetic on the
 * parent. */
#include "testlib.h"

#include <stdint.h>

/* Element at a multi-index through the view's strides (f32). */
static float at(const rl_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
    return ((const float *)t->data)[off];
}

static float base[2 * 3 * 4 * 5];
static rl_tensor make_base(void) {
    for (int i = 0; i < 120; i++) base[i] = (float)i;
    int64_t s[4] = {2, 3, 4, 5};
    return rl_tensor_make(base, RL_F32, RL_DEVICE_CPU, 4, s);
}

static void test_make(void) {
    rl_tensor t = make_base();
    EXPECT(t.ndim == 4 && t.stride[0] == 60 && t.stride[1] == 20 && t.stride[2] == 5 && t.stride[3] == 1,
           "strides %lld %lld %lld %lld", (long long)t.stride[0], (long long)t.stride[1], (long long)t.stride[2],
           (long long)t.stride[3]);
    EXPECT(rl_tensor_numel(&t) == 120 && rl_tensor_nbytes(&t) == 480, "numel %lld", (long long)rl_tensor_numel(&t));
    rl_tensor h = rl_tensor_make(base, RL_BF16, RL_DEVICE_CPU, 4, t.shape);
    EXPECT(rl_tensor_nbytes(&h) == 240, "bf16 nbytes %zu", rl_tensor_nbytes(&h));
    rl_tensor s = rl_tensor_make(base, RL_F32, RL_DEVICE_CPU, 0, NULL);
    EXPECT(rl_tensor_numel(&s) == 1 && rl_tensor_is_contiguous(&s), "scalar numel %lld", (long long)rl_tensor_numel(&s));
    char buf[64];
    EXPECT(strcmp(rl_shape_str(&t, buf, sizeof buf), "[2, 3, 4, 5]") == 0, "shape_str %s", buf);
    EXPECT(strcmp(rl_shape_str(&s, buf, sizeof buf), "[]") == 0, "scalar shape_str %s", buf);
    int64_t big[4] = {16, 21, 60, 104};
    rl_tensor b = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 4, big);
    EXPECT(strcmp(rl_shape_str(&b, buf, sizeof buf), "[16, 21, 60, 104]") == 0, "shape_str %s", buf);
    char tiny[6];
    rl_shape_str(&b, tiny, sizeof tiny); /* truncates without overflowing */
    EXPECT(strlen(tiny) < sizeof tiny, "truncated shape string too long");
    EXPECT(rl_tensor_is_contiguous(&t), "fresh tensor not contiguous");
}

static void test_reshape(void) {
    rl_tensor t = make_base();
    int64_t s[2] = {6, 20};
    rl_tensor r = rl_tensor_reshape(&t, 2, s);
    int64_t idx[2] = {4, 7};
    EXPECT(r.data == t.data && r.ndim == 2 && r.stride[0] == 20 && rl_tensor_is_contiguous(&r), "reshape header");
    EXPECT(at(&r, idx) == 87.0f, "reshape element %g", at(&r, idx));
    EXPECT(rl_tensor_same_shape(&r, &r) && !rl_tensor_same_shape(&r, &t), "same_shape");
}

static void test_slice_select(void) {
    rl_tensor t = make_base();
    rl_tensor s = rl_tensor_slice(&t, 2, 1, 2); /* [2, 3, 2, 5] */
    int ok = s.shape[2] == 2 && s.stride[2] == 5 && !rl_tensor_is_contiguous(&s);
    int bad = 0;
    int64_t i[4];
    for (i[0] = 0; i[0] < 2; i[0]++)
        for (i[1] = 0; i[1] < 3; i[1]++)
            for (i[2] = 0; i[2] < 2; i[2]++)
                for (i[3] = 0; i[3] < 5; i[3]++) {
                    int64_t j[4] = {i[0], i[1], i[2] + 1, i[3]};
                    if (at(&s, i) != at(&t, j)) bad++;
                }
    EXPECT(ok && bad == 0, "slice dim 2: header ok %d, %d wrong elements", ok, bad);
    rl_tensor s0 = rl_tensor_slice(&t, 0, 1, 1); /* a leading slice stays contiguous */
    EXPECT(rl_tensor_is_contiguous(&s0) && s0.data == base + 60, "leading slice contiguity / offset");
    rl_tensor last = rl_tensor_slice(&t, 3, 2, 3);
    EXPECT(!rl_tensor_is_contiguous(&last) && ((float *)last.data)[0] == 2.0f, "slice of the last dim");
    rl_tensor e = rl_tensor_slice(&t, 1, 3, 0);
    EXPECT(rl_tensor_numel(&e) == 0, "empty slice at the end");

    rl_tensor sel = rl_tensor_select(&t, 1, 2); /* [2, 4, 5] */
    int64_t a[3] = {1, 3, 4}, b[4] = {1, 2, 3, 4};
    EXPECT(sel.ndim == 3 && sel.shape[0] == 2 && sel.shape[1] == 4 && sel.shape[2] == 5 && at(&sel, a) == at(&t, b),
           "select dim 1: ndim %d value %g want %g", sel.ndim, at(&sel, a), at(&t, b));
    EXPECT(!rl_tensor_is_contiguous(&sel), "select of a middle dim should be strided");
    rl_tensor sel0 = rl_tensor_select(&t, 0, 1);
    EXPECT(rl_tensor_is_contiguous(&sel0) && sel0.data == base + 60, "select of dim 0 is contiguous");
}

static void test_permute(void) {
    rl_tensor t = make_base();
    int perm[4] = {3, 1, 0, 2}, inv[4] = {2, 1, 3, 0};
    rl_tensor p = rl_tensor_permute(&t, perm); /* [5, 3, 2, 4] */
    int ok = p.shape[0] == 5 && p.shape[1] == 3 && p.shape[2] == 2 && p.shape[3] == 4 && !rl_tensor_is_contiguous(&p);
    int bad = 0;
    int64_t i[4];
    for (i[0] = 0; i[0] < 5; i[0]++)
        for (i[1] = 0; i[1] < 3; i[1]++)
            for (i[2] = 0; i[2] < 2; i[2]++)
                for (i[3] = 0; i[3] < 4; i[3]++) {
                    int64_t j[4];
                    for (int k = 0; k < 4; k++) j[perm[k]] = i[k];
                    if (at(&p, i) != at(&t, j)) bad++;
                }
    EXPECT(ok && bad == 0, "permute header ok %d, %d wrong elements", ok, bad);
    rl_tensor back = rl_tensor_permute(&p, inv);
    EXPECT(rl_tensor_same_shape(&back, &t) && rl_tensor_is_contiguous(&back), "inverse permutation restores layout");
    /* dims of size 1 do not break contiguity whatever their stride */
    int64_t s[3] = {4, 1, 5};
    rl_tensor u = rl_tensor_make(base, RL_F32, RL_DEVICE_CPU, 3, s);
    int sw[3] = {1, 0, 2};
    rl_tensor v = rl_tensor_permute(&u, sw);
    EXPECT(rl_tensor_is_contiguous(&v), "moving a size-1 dim keeps contiguity");
}

static void test_arena(void) {
    rl_arena a;
    size_t before = rl_mem_current(RL_DEVICE_CPU);
    EXPECT(rl_arena_init_cpu(&a, "test activations", 4096) == 0, "init: %s", rl_error_message());
    EXPECT(rl_mem_current(RL_DEVICE_CPU) == before + 4096, "arena capacity counted in rl_mem");
    uint8_t *p1 = rl_arena_alloc(&a, 1), *p2 = rl_arena_alloc(&a, 100);
    EXPECT(p1 && p2 && ((uintptr_t)p1 % 256) == 0 && ((uintptr_t)p2 % 256) == 0 && p2 - p1 == 256,
           "alignment: p2 - p1 = %td", p2 - p1);
    size_t mark = rl_arena_mark(&a);
    rl_tensor t;
    int64_t shape[2] = {10, 30};
    EXPECT(rl_arena_tensor(&a, &t, RL_F32, 2, shape) == 0 && t.data == p1 + 512 && rl_tensor_is_contiguous(&t) &&
               t.device == RL_DEVICE_CPU,
           "arena tensor");
    size_t used = a.used;
    EXPECT(used == 512 + 1200 && a.peak == used, "used %zu peak %zu", used, a.peak);
    rl_arena_reset(&a, mark);
    EXPECT(a.used == mark && a.peak == used, "reset to mark: used %zu peak %zu", a.used, a.peak);
    void *again = rl_arena_alloc(&a, 8);
    EXPECT(again == p1 + 512, "allocation after reset reuses the space");
    rl_error_clear();
    void *fail = rl_arena_alloc(&a, 5000);
    const char *m = rl_error_message();
    EXPECT(fail == NULL && strstr(m, "test activations") && strstr(m, "full") && strstr(m, "4.00 KiB"),
           "exhaustion message: %s", m);
    printf("    (%s)\n", m);
    /* a request that would wrap around size_t */
    EXPECT(rl_arena_alloc(&a, SIZE_MAX - 16) == NULL, "huge request must fail");
    EXPECT(a.used == 512 + 8, "a failed allocation leaves the arena unchanged (used %zu)", a.used);
    int64_t neg[1] = {-1}, huge[2] = {INT64_MAX / 2, 4};
    EXPECT(rl_arena_tensor(&a, &t, RL_F32, 1, neg) == -1, "negative shape must fail");
    EXPECT(rl_arena_tensor(&a, &t, RL_F32, 2, huge) == -1 && strstr(rl_error_message(), "test activations"),
           "overflowing shape must fail: %s", rl_error_message());
    rl_arena_free(&a);
    EXPECT(rl_mem_current(RL_DEVICE_CPU) == before, "arena free returns its bytes to rl_mem");

    /* an arena over caller memory does not count toward rl_mem */
    static uint8_t ext[1024] __attribute__((aligned(256)));
    rl_arena o;
    rl_arena_init_over(&o, "external", RL_DEVICE_CPU, ext, sizeof ext);
    EXPECT(rl_mem_current(RL_DEVICE_CPU) == before && rl_arena_alloc(&o, 1024) == ext && rl_arena_alloc(&o, 1) == NULL,
           "external arena");
    rl_arena_free(&o);
}

static void test_mem_accounting(void) {
    size_t c0 = rl_mem_current(RL_DEVICE_CUDA);
    rl_mem_reset_peak(RL_DEVICE_CUDA);
    rl_mem_note_alloc(RL_DEVICE_CUDA, 1000);
    rl_mem_note_alloc(RL_DEVICE_CUDA, 500);
    rl_mem_note_free(RL_DEVICE_CUDA, 1000);
    EXPECT(rl_mem_current(RL_DEVICE_CUDA) == c0 + 500, "current %zu", rl_mem_current(RL_DEVICE_CUDA));
    EXPECT(rl_mem_peak(RL_DEVICE_CUDA) == c0 + 1500, "peak %zu", rl_mem_peak(RL_DEVICE_CUDA));
    rl_mem_reset_peak(RL_DEVICE_CUDA);
    EXPECT(rl_mem_peak(RL_DEVICE_CUDA) == c0 + 500, "peak after reset %zu", rl_mem_peak(RL_DEVICE_CUDA));
    rl_mem_note_free(RL_DEVICE_CUDA, 500);
    EXPECT(rl_mem_current(RL_DEVICE_CUDA) == c0, "back to start");
    /* the two devices are counted apart */
    size_t cpu0 = rl_mem_current(RL_DEVICE_CPU);
    rl_mem_note_alloc(RL_DEVICE_CUDA, 64);
    EXPECT(rl_mem_current(RL_DEVICE_CPU) == cpu0, "CUDA bytes leaked into the CPU count");
    rl_mem_note_free(RL_DEVICE_CUDA, 64);
    /* concurrent notes from several threads add up */
    #pragma omp parallel for
    for (int i = 0; i < 1000; i++) rl_mem_note_alloc(RL_DEVICE_CUDA, 3);
    EXPECT(rl_mem_current(RL_DEVICE_CUDA) == c0 + 3000, "threaded total %zu", rl_mem_current(RL_DEVICE_CUDA));
    #pragma omp parallel for
    for (int i = 0; i < 1000; i++) rl_mem_note_free(RL_DEVICE_CUDA, 3);
    EXPECT(rl_mem_current(RL_DEVICE_CUDA) == c0, "threaded free");
}

int main(void) {
    RUN(test_make);
    RUN(test_reshape);
    RUN(test_slice_select);
    RUN(test_permute);
    RUN(test_arena);
    RUN(test_mem_accounting);
    TL_EXIT();
}
