/* test_gpu_fsdp.c: the --fsdp gathers on the CUDA backend over NCCL at world
 * size 1 (make test-gpu only; one GPU, alone or under mpirun -np 1).
 *
 *  - rl_fsdp over a world-1 NCCL comm: 6 units of 3 tensors (bf16, f32, fp8;
 *    ~12 MiB), 2 and 3 slots, with and without pinned (offloaded) units. The
 *    gathers must run as nonblocking batches on the backend's comm stream. A
 *    pass copies each gathered unit out on the compute stream right after
 *    ready (with the comm stream held back 100 ms by a host function: only the
 *    gathered event keeps the copy from reading the slot early), then holds the
 *    compute stream 20 ms and runs long matmuls (the next units' gathers are
 *    issued meanwhile, into the slot being read), then copies it out again
 *    before release. Both copies must hold every unit's bytes exactly.
 *  - The golden Wan DiT with its blocks as world-1 shards gathered through the
 *    comm stream (and with one block's shard in pinned memory, streamed in on
 *    the copy stream first) gives the plain CUDA forward's output.
 * Figures printed: the pass time with and without gathers. Without a GPU or
 * NCCL it prints one FAIL line saying so. */
#include "comm/comm.h"
#include "io/safetensors.h"
#include "models/wan_dit_fsdp.h"
#include "models/wan_dit_offload.h"
#include "testlib.h"

#include <unistd.h>

#ifdef RL_HAVE_CUDA
#include "backend/backend_cuda.h"
#endif

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

static rl_backend *gpu;
static rl_comm *host;

/* ---------------------------------------------------------------- stream holds */

#ifdef RL_HAVE_CUDA
static void CUDART_CB sleep_ms(void *ms) { usleep((useconds_t)(uintptr_t)ms * 1000u); }

/* Work queued on the backend's compute (which 0) or comm (1) stream after this waits ms milliseconds. */
static int hold_stream(int which, unsigned ms) {
    cuda_state *st = gpu->impl;
    cudaStream_t s = which ? st->comm_stream : st->stream;
    cudaError_t e = cudaLaunchHostFunc(s, sleep_ms, (void *)(uintptr_t)ms);
    return e == cudaSuccess ? 0 : rl_error_set("cudaLaunchHostFunc: %s", cudaGetErrorString(e));
}
#else
static int hold_stream(int which, unsigned ms) { return rl_error_set("built without CUDA"); }
#endif

/* ---------------------------------------------------------------- unit gathers */

enum { UNITS = 6, MM = 2048, MM_PER_UNIT = 6 };
static const rl_dtype unit_dt[3] = {RL_BF16, RL_F32, RL_F8_E4M3};
static const int64_t unit_numel[3] = {(4 << 20) + 7, 1000003, 333};

static uint8_t unit_byte(int64_t u, int k, size_t i) {
    uint64_t h = ((uint64_t)u * 1000003u + (uint64_t)k * 7919u + i) * 0x9E3779B97F4A7C15ull;
    return (uint8_t)(h >> 56);
}

/* Bytes of the gathered units in out[u] (host copies) that differ from the unsharded units. */
static size_t count_bad(const rl_fsdp_layout *l, uint8_t *const *out) {
    size_t bad = 0;
    for (int64_t u = 0; u < UNITS; u++)
        for (int k = 0; k < l->n; k++) {
            size_t nb = (size_t)l->numel[k] * rl_dtype_size(l->dtype[k]);
            for (size_t i = 0; i < nb; i++) bad += out[u][l->full_off[k] + i] != unit_byte(u, k, i);
        }
    return bad;
}

typedef struct {
    rl_tensor x, w, y; /* [MM, MM] bf16: the long kernels' operands */
} mm_work;

static int mm_run(mm_work *m) {
    for (int i = 0; i < MM_PER_UNIT; i++) RL_TRY(gpu->matmul(gpu, &m->y, &m->x, &m->w, NULL, RL_ACT_NONE));
    return 0;
}

/* One pass: copies out after ready (outA) and before release (outB), long kernels between.
 * holds: the comm stream held 100 ms before begin, the compute stream 20 ms in each unit. */
static int unit_pass(rl_fsdp *f, const rl_fsdp_layout *l, void **outA, void **outB, mm_work *mm, int holds,
                     int gathers) {
    int64_t n32 = (int64_t)(l->full_bytes / 4);
    if (holds) RL_TRY(hold_stream(1, 100));
    if (gathers) RL_TRY(rl_fsdp_begin(f));
    for (int64_t u = 0; u < UNITS; u++) {
        uint8_t *full = NULL;
        if (gathers) RL_TRY(rl_fsdp_ready(f, u, &full));
        rl_tensor src = rl_tensor_make(full, RL_I32, RL_DEVICE_CUDA, 1, &n32);
        rl_tensor a = rl_tensor_make(outA ? outA[u] : NULL, RL_I32, RL_DEVICE_CUDA, 1, &n32);
        rl_tensor b = rl_tensor_make(outB ? outB[u] : NULL, RL_I32, RL_DEVICE_CUDA, 1, &n32);
        if (outA && gathers) RL_TRY(gpu->copy(gpu, &a, &src));
        if (holds) RL_TRY(hold_stream(0, 20));
        if (mm) RL_TRY(mm_run(mm));
        if (outB && gathers) RL_TRY(gpu->copy(gpu, &b, &src));
        if (gathers) RL_TRY(rl_fsdp_release(f, u));
    }
    return gpu->synchronize(gpu);
}

static void unit_gathers(int n_slots, int offload, mm_work *mm) {
    char name[200];
    rl_fsdp_layout l;
    rl_fsdp *f = NULL;
    unsigned char on_host[UNITS] = {0, 1, 0, 0, 1, 0};
    int rc = rl_fsdp_layout_init(&l, 1, 3, unit_dt, unit_numel);
    if (rc == 0) rc = rl_fsdp_create(&f, gpu, host, &l, UNITS, offload ? on_host : NULL, n_slots);
    snprintf(name, sizeof name, "fsdp over nccl (world 1), %d slots%s: the gathers are nonblocking batches",
             n_slots, offload ? ", 2 units pinned" : "");
    CASE(name, rc == 0 && rl_fsdp_overlaps(f), "%s", rc ? rl_error_message() : "the synchronous path was taken");
    if (rc != 0) return;
    uint8_t *shard = malloc(l.shard_bytes), *outh[UNITS][2];
    void *outA[UNITS], *outB[UNITS];
    for (int64_t u = 0; rc == 0 && u < UNITS; u++) {
        memset(shard, 0, l.shard_bytes);
        for (int k = 0; k < l.n; k++)
            for (size_t i = 0; i < (size_t)l.numel[k] * rl_dtype_size(l.dtype[k]); i++)
                shard[l.shard_off[k] + i] = unit_byte(u, k, i);
        rc = rl_fsdp_store(f, u, shard);
    }
    free(shard);
    if (rc == 0) rc = rl_fsdp_alloc_slots(f);
    for (int u = 0; u < UNITS; u++) {
        outA[u] = gpu->alloc(gpu, l.full_bytes), outB[u] = gpu->alloc(gpu, l.full_bytes);
        outh[u][0] = malloc(l.full_bytes), outh[u][1] = malloc(l.full_bytes);
        if (!outA[u] || !outB[u]) rc = -1;
    }
    double t0 = rl_time_now();
    if (rc == 0) rc = unit_pass(f, &l, outA, outB, mm, 1, 1);
    double held = rl_time_now() - t0;
    for (int u = 0; rc == 0 && u < UNITS; u++) {
        rc = gpu->download(gpu, outh[u][0], outA[u], l.full_bytes);
        if (rc == 0) rc = gpu->download(gpu, outh[u][1], outB[u], l.full_bytes);
    }
    uint8_t *a[UNITS], *b[UNITS];
    for (int u = 0; u < UNITS; u++) a[u] = outh[u][0], b[u] = outh[u][1];
    size_t bad_a = rc == 0 ? count_bad(&l, a) : 0, bad_b = rc == 0 ? count_bad(&l, b) : 0;
    snprintf(name, sizeof name, "fsdp %d slots%s: the compute stream reads each unit only once gathered (comm stream "
             "held 100 ms)", n_slots, offload ? " +pinned" : "");
    CASE(name, rc == 0 && bad_a == 0, "rc %d (%s), %zu bytes differ", rc, rc ? rl_error_message() : "", bad_a);
    snprintf(name, sizeof name, "fsdp %d slots%s: no gather overwrites a slot before its unit's release (compute "
             "stream held 20 ms per unit, long matmuls)", n_slots, offload ? " +pinned" : "");
    CASE(name, rc == 0 && bad_b == 0, "rc %d (%s), %zu bytes differ", rc, rc ? rl_error_message() : "", bad_b);
    /* figures: the pass without holds, with and without the gathers */
    double t_both = 0, t_mm = 0;
    for (int rep = 0; rc == 0 && rep < 3; rep++) {
        t0 = rl_time_now();
        rc = unit_pass(f, &l, NULL, NULL, mm, 0, 1);
        t_both += rl_time_now() - t0;
        t0 = rl_time_now();
        if (rc == 0) rc = unit_pass(f, &l, NULL, NULL, mm, 0, 0);
        t_mm += rl_time_now() - t0;
    }
    if (rc == 0)
        printf("  %d slots%s: %d units of %.1f MiB; pass with holds %.1f ms; pass with %d %dx%d bf16 matmuls a unit: "
               "%.2f ms with gathers, %.2f ms without; gathers' host time %.2f ms in all\n",
               n_slots, offload ? " +pinned" : "", UNITS, l.full_bytes / 1048576.0, held * 1e3, MM_PER_UNIT, MM, MM,
               t_both / 3 * 1e3, t_mm / 3 * 1e3, rl_fsdp_gather_seconds(f) * 1e3);
    else
        CASE("fsdp timing passes", 0, "%s", rl_error_message());
    for (int u = 0; u < UNITS; u++) {
        if (outA[u]) gpu->free(gpu, outA[u], l.full_bytes);
        if (outB[u]) gpu->free(gpu, outB[u], l.full_bytes);
        free(outh[u][0]), free(outh[u][1]);
    }
    rl_fsdp_free(f);
}

static int mm_alloc(mm_work *m) {
    int64_t s[2] = {MM, MM};
    rl_tensor *t[3] = {&m->x, &m->w, &m->y};
    for (int i = 0; i < 3; i++) {
        *t[i] = rl_tensor_make(gpu->alloc(gpu, (size_t)MM * MM * 2), RL_BF16, RL_DEVICE_CUDA, 2, s);
        if (!t[i]->data || gpu->fill_normal(gpu, t[i], 11u + (unsigned)i, 0.0f, 0.05f) != 0) return -1;
    }
    return 0;
}

static void mm_free(mm_work *m) {
    rl_tensor *t[3] = {&m->x, &m->w, &m->y};
    for (int i = 0; i < 3; i++)
        if (t[i]->data) gpu->free(gpu, t[i]->data, (size_t)MM * MM * 2);
}

/* ---------------------------------------------------------------- the DiT */

static int read_f32(rl_safetensors *st, const char *name, rl_tensor *out) {
    const rl_st_tensor *t = rl_st_find(st, name);
    if (!t) return rl_error_set("%s: no tensor '%s'", st->path, name);
    float *h = malloc(sizeof(float) * (size_t)(t->nbytes / rl_dtype_size(t->dtype)) + 4);
    if (!h || rl_st_read_as(st, t, RL_F32, h) != 0) {
        free(h);
        return rl_error_wrap("reading '%s'", name);
    }
    rl_tensor ht = rl_tensor_make(h, RL_F32, RL_DEVICE_CPU, t->ndim, t->shape);
    *out = rl_tensor_make(gpu->alloc(gpu, rl_tensor_nbytes(&ht)), RL_F32, RL_DEVICE_CUDA, t->ndim, t->shape);
    int rc = out->data ? gpu->upload(gpu, out->data, h, rl_tensor_nbytes(&ht)) : -1;
    free(h);
    return rc;
}

/* m's blocks, loaded whole, become world-1 shards over `host` gathered before each block. */
static int shard_blocks(rl_wan_dit *m, const char *path, int n_offload) {
    for (int64_t i = 0; i < m->cfg.num_layers; i++) {
        rl_tensor *t[WAN_BLOCK_TENSORS];
        wan_block_tensors(&m->blocks[i], t);
        for (int k = 0; k < WAN_BLOCK_TENSORS; k++)
            if (t[k]->data) gpu->free(gpu, t[k]->data, rl_tensor_nbytes(t[k])), t[k]->data = NULL;
    }
    rl_weights w;
    RL_TRY(rl_weights_open(&w, path, gpu, RL_MODEL_WAN_DIT));
    int rc = wan_fsdp_load(m, &w, host, n_offload);
    rl_weights_close(&w);
    return rc;
}

static void dit_case(int n_offload) {
    char path[512], io[512], name[200];
    snprintf(path, sizeof path, "%s/tests/golden/wan_dit/official_f32.safetensors", RL_SOURCE_DIR);
    snprintf(io, sizeof io, "%s/tests/golden/wan_dit/official_f32.io.safetensors", RL_SOURCE_DIR);
    rl_wan_dit plain, sh;
    rl_safetensors st;
    rl_tensor x = {0}, t = {0}, ctx = {0}, y[2] = {{0}};
    float tv = 0;
    int rc = wan_dit_load(&plain, path, gpu);
    if (rc == 0 && (rc = wan_dit_load(&sh, path, gpu)) != 0) wan_dit_free(&plain);
    int loaded = rc == 0;
    if (rc == 0) rc = shard_blocks(&sh, path, n_offload);
    if (rc == 0 && (rc = rl_st_open(&st, io)) == 0) {
        rc = read_f32(&st, "x", &x);
        if (rc == 0) rc = read_f32(&st, "t", &t);
        if (rc == 0) rc = read_f32(&st, "context", &ctx);
        rl_st_close(&st);
    }
    if (rc == 0) rc = gpu->download(gpu, &tv, t.data, sizeof tv);
    int64_t ys[4] = {plain.cfg.out_dim, x.shape[1], x.shape[2], x.shape[3]};
    size_t ny = rc == 0 ? (size_t)(ys[0] * ys[1] * ys[2] * ys[3]) : 0;
    float *hy[2] = {malloc(ny * 4 + 4), malloc(ny * 4 + 4)};
    for (int i = 0; rc == 0 && i < 2; i++) {
        y[i] = rl_tensor_make(gpu->alloc(gpu, ny * 4), RL_F32, RL_DEVICE_CUDA, 4, ys);
        rc = y[i].data ? wan_dit_forward(i ? &sh : &plain, &y[i], &x, tv, &ctx) : -1;
        if (rc == 0) rc = gpu->download(gpu, hy[i], y[i].data, ny * 4);
    }
    double maxd = 0, maxr = 0;
    for (size_t i = 0; rc == 0 && i < ny; i++) {
        double d = fabs((double)hy[0][i] - hy[1][i]), r = fabs((double)hy[0][i]);
        maxd = d > maxd || d != d ? d : maxd, maxr = r > maxr ? r : maxr;
    }
    int same = rc == 0 && !memcmp(hy[0], hy[1], ny * 4);
    snprintf(name, sizeof name, "DiT official_f32 on cuda with world-1 --fsdp blocks%s gathered on the comm stream "
             "equals the plain forward", n_offload ? " (1 pinned)" : "");
    CASE(name, rc == 0 && sh.fsdp && maxd <= 1e-6 * maxr, "rc %d (%s), rel err %.3g", rc, rc ? rl_error_message() : "",
         maxr > 0 ? maxd / maxr : maxd);
    if (rc == 0) printf("  %s: rel err %.3g (%s)\n", name, maxr > 0 ? maxd / maxr : maxd,
                        same ? "bit-identical" : "not bit-identical");
    rl_tensor *all[5] = {&x, &t, &ctx, &y[0], &y[1]};
    for (int i = 0; i < 5; i++)
        if (all[i]->data) gpu->free(gpu, all[i]->data, rl_tensor_nbytes(all[i]));
    free(hy[0]), free(hy[1]);
    if (loaded) wan_dit_free(&plain), wan_dit_free(&sh);
}

int main(int argc, char **argv) {
    rl_world w;
    if (rl_world_init(&argc, &argv, &w) != 0 || w.size != 1) {
        printf("FAIL: test_gpu_fsdp runs as one rank (alone or mpirun -np 1): %s\n", rl_error_message());
        return 1;
    }
    gpu = rl_backend_cuda(0);
    host = rl_comm_world_host();
    if (!gpu || !host || rl_comm_attach_device(host, gpu, "nccl") != 0 || !host->device) {
        printf("FAIL: test_gpu_fsdp needs a GPU and a build with NCCL: %s\n", rl_error_message());
        return 1;
    }
    (void)tl_case_failures; /* every check here is a CASE line */
    mm_work mm;
    memset(&mm, 0, sizeof mm);
    if (mm_alloc(&mm) != 0) {
        printf("FAIL: test_gpu_fsdp: matmul operands: %s\n", rl_error_message());
        return 1;
    }
    unit_gathers(2, 0, &mm);
    unit_gathers(3, 0, &mm);
    unit_gathers(2, 1, &mm);
    mm_free(&mm);
    dit_case(0);
    dit_case(1);
    host->destroy(host);
    rl_world_finalize();
    TL_EXIT();
}
