/* test_gpu_comm.c: the comm layer over NCCL at world size 1 against the host
 * path, and the device side of ring attention (make test-gpu only).
 *
 *  - Each collective of rl_comm (all_to_all, send_recv as a ring step with
 *    itself, all_gather, broadcast, all_reduce_sum_f32, barrier, split) moves
 *    device buffers over NCCL and, with the same bytes, host buffers over the
 *    host comm (self, or MPI under mpirun -np 1); the results must be equal
 *    byte for byte. Device timing must report a positive time for real traffic.
 *  - attention_merge on CUDA against the CPU oracle (f32 and bf16 parts).
 *  - rl_usp_attention with --exchange-self (the Ulysses all-to-all and a ring
 *    step with itself) over NCCL and over the staged host comm: equal to each
 *    other bit for bit and to the plain attention within bf16 tolerance.
 *  - A failing NCCL call is a sentence naming the call and the rank with a
 *    hint; rl_comm_abort_devices then ends the communicators without waiting.
 * Without a GPU or NCCL it prints one FAIL line saying so. */
#include "comm/comm.h"
#include "parallel/usp.h"
#include "testlib.h"

static rl_backend *gpu, *cpu;
static rl_comm *host;

static void *dev_from(const void *h, size_t n) {
    void *d = gpu->alloc(gpu, n ? n : 1);
    if (d && n && gpu->upload(gpu, d, h, n) != 0) return NULL;
    return d;
}

static unsigned char *random_bytes(size_t n, unsigned seed) {
    unsigned char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) seed = seed * 1664525u + 1013904223u, p[i] = (unsigned char)(seed >> 24);
    return p;
}

/* One collective both ways: host (over `host`) and device (over host->device). */
typedef int (*coll_fn)(rl_comm *c, void *send, void *recv, size_t n);

static void compare_case(const char *name, coll_fn fn, size_t send_n, size_t recv_n) {
    unsigned char *s = random_bytes(send_n, 7), *rh = random_bytes(recv_n, 9), *rd = malloc(recv_n);
    void *ds = dev_from(s, send_n), *dr = dev_from(rh, recv_n); /* same starting bytes on both sides */
    int rc_h = fn(host, s, rh, send_n), rc_d = ds && dr ? fn(host->device, ds, dr, send_n) : -1;
    if (rc_d == 0) rc_d = gpu->download(gpu, rd, dr, recv_n);
    char what[128];
    snprintf(what, sizeof what, "nccl %s (%zu bytes) equals the %s path", name, send_n, host->kind);
    CASE(what, rc_h == 0 && rc_d == 0 && !memcmp(rh, rd, recv_n), "host rc %d, device rc %d: %s", rc_h, rc_d,
         rc_h || rc_d ? rl_error_message() : "the bytes differ");
    if (ds) gpu->free(gpu, ds, send_n ? send_n : 1);
    if (dr) gpu->free(gpu, dr, recv_n ? recv_n : 1);
    free(s), free(rh), free(rd);
}

static int do_all_to_all(rl_comm *c, void *s, void *r, size_t n) { return c->all_to_all(c, s, r, n / (size_t)c->size); }
static int do_send_recv(rl_comm *c, void *s, void *r, size_t n) { return c->send_recv(c, s, 0, r, 0, n); }
static int do_all_gather(rl_comm *c, void *s, void *r, size_t n) { return c->all_gather(c, s, r, n); }
static int do_split_a2a(rl_comm *c, void *s, void *r, size_t n) {
    rl_comm *sub = c->split(c, 3, 0);
    if (!sub) return -1;
    int rc = sub->size == 1 && sub->rank == 0 ? sub->all_to_all(sub, s, r, n) : rl_error_set("split gave size %d", sub->size);
    sub->destroy(sub);
    return rc;
}

static void test_collectives(void) {
    compare_case("all_to_all", do_all_to_all, 4096, 4096);
    compare_case("all_to_all", do_all_to_all, 3 << 20, 3 << 20);
    compare_case("send_recv to itself (ring step)", do_send_recv, 1000001, 1000001);
    compare_case("all_gather", do_all_gather, 12345, 12345);
    compare_case("split + all_to_all", do_split_a2a, 65536, 65536);
    /* broadcast and all_reduce work in place: compare the send buffers afterwards */
    size_t n = 1 << 16;
    unsigned char *s = random_bytes(n, 5), *h = malloc(n);
    memcpy(h, s, n);
    float *fs = (float *)s;
    for (size_t i = 0; i < n / 4; i++) fs[i] = (float)(i % 97) - 48.0f; /* finite floats for the sum */
    memcpy(h, s, n);
    void *d = dev_from(s, n);
    int rc = d ? host->device->broadcast(host->device, d, n, 0) : -1;
    if (rc == 0) rc = host->device->all_reduce_sum_f32(host->device, d, n / 4);
    if (rc == 0) rc = host->broadcast(host, h, n, 0);
    if (rc == 0) rc = host->all_reduce_sum_f32(host, (float *)h, n / 4);
    if (rc == 0) rc = gpu->download(gpu, s, d, n);
    CASE("nccl broadcast and all_reduce_sum_f32 (in place) equal the host path", rc == 0 && !memcmp(s, h, n), "%s",
         rc ? rl_error_message() : "the bytes differ");
    rc = host->device->barrier(host->device);
    CASE("nccl barrier", rc == 0, "%s", rl_error_message());
    if (d) gpu->free(gpu, d, n);
    free(s), free(h);
    /* device timing of 64 MiB moved to itself */
    size_t big = 64u << 20;
    void *a = gpu->alloc(gpu, big), *b = gpu->alloc(gpu, big);
    host->device->take_device_seconds(host->device); /* what came before */
    rc = a && b ? host->device->send_recv(host->device, a, 0, b, 0, big) : -1;
    double sec = rc == 0 ? host->device->take_device_seconds(host->device) : -1;
    CASE("nccl device timing of a 64 MiB self exchange", rc == 0 && sec > 0 && sec < 10, "rc %d, %g s: %s", rc, sec,
         rl_error_message());
    if (rc == 0) printf("  64 MiB send_recv to itself: %.3f ms, %.1f GB/s\n", sec * 1e3, big / sec / 1e9);
    if (a) gpu->free(gpu, a, big);
    if (b) gpu->free(gpu, b, big);
}

/* attention_merge on CUDA against the CPU oracle. */
static void merge_case(int64_t L, int64_t H, int64_t d, rl_dtype pdt) {
    size_t no = (size_t)(L * H * d), nl = (size_t)(H * L);
    float *o = malloc(no * 4), *p = malloc(no * 4), *l = malloc(nl * 4), *pl = malloc(nl * 4), *got = malloc(no * 4);
    float *got_l = malloc(nl * 4);
    tl_fill_randn(o, no, 1.0f), tl_fill_randn(p, no, 1.0f);
    for (size_t i = 0; i < nl; i++) {
        l[i] = i % 9 == 2 ? -INFINITY : tl_randn() * 3.0f;
        pl[i] = i % 11 == 4 ? -INFINITY : tl_randn() * 3.0f;
    }
    if (pdt == RL_BF16)
        for (size_t i = 0; i < no; i++) p[i] = rl_bf16_to_f32(rl_f32_to_bf16(p[i]));
    uint16_t *pb = malloc(no * 2);
    for (size_t i = 0; i < no; i++) pb[i] = rl_f32_to_bf16(p[i]);
    void *dO = dev_from(o, no * 4), *dL = dev_from(l, nl * 4), *dPL = dev_from(pl, nl * 4);
    void *dP = pdt == RL_BF16 ? dev_from(pb, no * 2) : dev_from(p, no * 4);
    int64_t s4[4] = {1, L, H, d}, s3[3] = {1, H, L};
    rl_tensor O = rl_tensor_make(dO, RL_F32, RL_DEVICE_CUDA, 4, s4), P = rl_tensor_make(dP, pdt, RL_DEVICE_CUDA, 4, s4);
    rl_tensor Ls = rl_tensor_make(dL, RL_F32, RL_DEVICE_CUDA, 3, s3), PL = rl_tensor_make(dPL, RL_F32, RL_DEVICE_CUDA, 3, s3);
    int rc = gpu->attention_merge(gpu, &O, &Ls, &P, &PL);
    if (rc == 0) rc = gpu->download(gpu, got, dO, no * 4);
    if (rc == 0) rc = gpu->download(gpu, got_l, dL, nl * 4);
    rl_tensor cO = rl_tensor_make(o, RL_F32, RL_DEVICE_CPU, 4, s4), cP = rl_tensor_make(p, RL_F32, RL_DEVICE_CPU, 4, s4);
    rl_tensor cL = rl_tensor_make(l, RL_F32, RL_DEVICE_CPU, 3, s3), cPL = rl_tensor_make(pl, RL_F32, RL_DEVICE_CPU, 3, s3);
    if (rc == 0) rc = cpu->attention_merge(cpu, &cO, &cL, &cP, &cPL);
    int inf_ok = 1;
    for (size_t i = 0; rc == 0 && i < nl; i++) { /* rows never merged stay undefined: drop them */
        inf_ok &= (got_l[i] == -INFINITY) == (l[i] == -INFINITY);
        if (l[i] == -INFINITY) {
            got_l[i] = l[i] = 0;
            for (int64_t k = 0; k < d; k++) got[((i % L) * H + i / L) * d + k] = o[((i % L) * H + i / L) * d + k] = 0;
        }
    }
    double e = rc == 0 ? tl_rel_err_f(got, o, no) : INFINITY, el = rc == 0 ? tl_rel_err_f(got_l, l, nl) : INFINITY;
    char what[128];
    snprintf(what, sizeof what, "attention_merge cuda vs cpu, [1, %lld, %lld, %lld], part %s", (long long)L,
             (long long)H, (long long)d, rl_dtype_name(pdt));
    CASE(what, rc == 0 && e <= 1e-5 && el <= 1e-5 && inf_ok, "rc %d (%s), out rel err %.3g, lse rel err %.3g, -inf kept %d",
         rc, rc ? rl_error_message() : "", e, el, inf_ok);
    if (dO) gpu->free(gpu, dO, no * 4);
    if (dP) gpu->free(gpu, dP, no * (pdt == RL_BF16 ? 2 : 4));
    if (dL) gpu->free(gpu, dL, nl * 4);
    if (dPL) gpu->free(gpu, dPL, nl * 4);
    free(o), free(p), free(l), free(pl), free(got), free(got_l), free(pb);
}

/* Self-exchange attention on the GPU over comm `c` (its device twin when attached). */
static int usp_self(rl_comm *c, const rl_tensor *q, const rl_tensor *k, const rl_tensor *v, rl_tensor *out,
                    int64_t kv_len, double *comm_s) {
    rl_plan plan = {1, 1, 1, 1};
    rl_usp u;
    RL_TRY(rl_usp_init(&u, c, &plan, gpu));
    u.self_exchange = 1;
    int rc = rl_usp_attention(&u, gpu, out, q, k, v, kv_len);
    if (rc == 0) rc = gpu->synchronize(gpu);
    *comm_s = rl_usp_comm_seconds(&u);
    rl_usp_free(&u);
    return rc;
}

static void test_usp_self_exchange(void) {
    const int64_t n = 300, H = 4, d = 64, kv_len = 290;
    size_t ne = (size_t)(n * H * d);
    float *h = malloc(ne * 4);
    uint16_t *b = malloc(ne * 2), *r[3] = {malloc(ne * 2), malloc(ne * 2), malloc(ne * 2)};
    rl_tensor t[3], o[3];
    int64_t s4[4] = {1, n, H, d};
    for (int i = 0; i < 3; i++) {
        tl_fill_randn(h, ne, 1.0f);
        for (size_t j = 0; j < ne; j++) b[j] = rl_f32_to_bf16(h[j]);
        t[i] = rl_tensor_make(dev_from(b, ne * 2), RL_BF16, RL_DEVICE_CUDA, 4, s4);
        o[i] = rl_tensor_make(gpu->alloc(gpu, ne * 2), RL_BF16, RL_DEVICE_CUDA, 4, s4);
    }
    double cs_nccl = 0, cs_host = 0;
    rl_comm *dev = host->device;
    int rc = usp_self(host, &t[0], &t[1], &t[2], &o[0], kv_len, &cs_nccl); /* over NCCL */
    host->device = NULL;
    if (rc == 0) rc = usp_self(host, &t[0], &t[1], &t[2], &o[1], kv_len, &cs_host); /* staged through the host */
    host->device = dev;
    if (rc == 0) rc = gpu->attention(gpu, &o[2], &t[0], &t[1], &t[2], kv_len, NULL, 1.0f / sqrtf((float)d), NULL);
    for (int i = 0; rc == 0 && i < 3; i++) rc = gpu->download(gpu, r[i], o[i].data, ne * 2);
    float *f[3] = {malloc(ne * 4), malloc(ne * 4), malloc(ne * 4)};
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < ne; j++) f[i][j] = rl_bf16_to_f32(r[i][j]);
    CASE("usp self exchange over nccl equals the staged host path bit for bit", rc == 0 && !memcmp(r[0], r[1], ne * 2),
         "%s", rc ? rl_error_message() : "outputs differ");
    double e = rc == 0 ? tl_rel_err_f(f[0], f[2], ne) : INFINITY;
    CASE("usp self exchange over nccl equals plain attention (bf16)", e <= 2e-2, "rel err %.3g", e);
    CASE("usp self exchange: device time of the exchanges measured", rc == 0 && cs_nccl > 0 && cs_host >= 0,
         "nccl %g s, host %g s", cs_nccl, cs_host);
    printf("  self exchange of q, k, v, o [%lld, %lld, %lld] bf16: nccl %.3f ms, staged %.3f ms; rel err vs plain %.2g\n",
           (long long)n, (long long)H, (long long)d, cs_nccl * 1e3, cs_host * 1e3, e);
    for (int i = 0; i < 3; i++) {
        gpu->free(gpu, t[i].data, ne * 2), gpu->free(gpu, o[i].data, ne * 2);
        free(r[i]), free(f[i]);
    }
    free(h), free(b);
}

/* Last: a call NCCL refuses (a peer that does not exist) and the abort path. */
static void test_failure_sentence(void) {
    void *a = gpu->alloc(gpu, 256), *b = gpu->alloc(gpu, 256);
    rl_error_clear();
    int rc = host->device->send_recv(host->device, a, 5, b, 5, 256);
    const char *m = rl_error_message();
    CASE("a refused NCCL call is a sentence naming the call and the rank, with a hint",
         rc != 0 && strstr(m, "rank 0: NCCL nccl") && strstr(m, "(send_recv) failed") && strstr(m, "hint:"), "rc %d: %s",
         rc, m);
    printf("  %s\n", m);
    double t0 = rl_time_now();
    rl_comm_abort_devices();
    host->destroy(host); /* destroys the aborted device twin without waiting */
    host = NULL;
    CASE("rl_comm_abort_devices and destroy return at once", rl_time_now() - t0 < 10, "took %.1f s", rl_time_now() - t0);
    gpu->free(gpu, a, 256), gpu->free(gpu, b, 256);
}

int main(int argc, char **argv) {
    rl_world w;
    if (rl_world_init(&argc, &argv, &w) != 0 || w.size != 1) {
        printf("FAIL: test_gpu_comm runs as one rank (alone or mpirun -np 1): %s\n", rl_error_message());
        return 1;
    }
    cpu = rl_backend_cpu();
    gpu = rl_backend_cuda(0);
    host = rl_comm_world_host();
    if (!gpu || !host || rl_comm_attach_device(host, gpu, "nccl") != 0 || !host->device) {
        printf("FAIL: test_gpu_comm needs a GPU and a build with NCCL: %s\n", rl_error_message());
        return 1;
    }
    tl_seed(99);
    (void)tl_case_failures; /* every check here is a CASE line */
    test_collectives();
    merge_case(37, 3, 64, RL_F32);
    merge_case(129, 8, 128, RL_BF16);
    merge_case(1, 1, 5, RL_BF16);
    test_usp_self_exchange();
    test_failure_sentence();
    rl_world_finalize();
    TL_EXIT();
}
