/* test_fsdp.c: --fsdp loading in one process, as each rank r of W would load
 * (a comm that only says rank and size; the gathers themselves run under mpirun
 * in tests/fsdp_test.sh):
 * - the chunk layout covers every element once, aligned;
 * - byte-range accounting: over the golden DiTs and umT5 encoders (f32, f16,
 *   bf16, fp8 scaled; official, ComfyUI and diffusers layouts) rank r reads
 *   about 1/W of the block tensors' file bytes, and the ranks together read each
 *   block byte exactly once;
 * - the ranks' shards put side by side are the bytes of the whole load (dtype
 *   conversion and fp8 scales included);
 * - the device and pinned bytes after loading equal the planner's prediction;
 * - the planner picks none / fsdp / fsdp + offload N, and says what would help;
 * - a one-rank comm loads whole blocks;
 * - a pass over sharded units (rl_fsdp: begin, ready, release, with pinned
 *   offloaded units and 3 slots) hands out every unit's exact bytes, over the
 *   "self" comm here and, with --mpi under mpirun -np 2 (fsdp_test.sh), over MPI,
 *   where the gathers are nonblocking: begin returns while a peer is still away,
 *   and the sharded umT5 (embedding rows + layers) encodes to the bytes of a
 *   whole load. */
#include <unistd.h>

#include "comm/comm.h"
#include "io/safetensors.h"
#include "models/umt5_fsdp.h"
#include "models/wan_dit_fsdp.h"
#include "models/wan_dit_offload.h"
#include "testlib.h"

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

static const char *const dits[] = {"official_f32", "comfy_bf16", "comfy_fp8_scaled", "diffusers_f16",
                                   "official_d128_fp8"};
static const char *const t5s[] = {"umt5_tiny_hf_f16", "umt5_tiny_official_bf16", "umt5_tiny_v3100_bf16",
                                  "umt5_tiny_fp8_scaled"};

static rl_comm fake_comm(int rank, int size) {
    rl_comm c;
    memset(&c, 0, sizeof c);
    c.kind = "test", c.rank = rank, c.size = size;
    return c;
}

static void test_layout(void) {
    rl_dtype dt[3] = {RL_F32, RL_BF16, RL_F8_E4M3};
    int64_t numel[3] = {5, 1000, 7};
    for (int W = 1; W <= 4; W++) {
        rl_fsdp_layout l;
        EXPECT(rl_fsdp_layout_init(&l, W, 3, dt, numel) == 0, "%s", rl_error_message());
        for (int k = 0; k < 3; k++) {
            int64_t covered = 0, prev_end = 0;
            for (int r = 0; r < W; r++) {
                int64_t e0, e1;
                rl_fsdp_range(&l, k, r, &e0, &e1);
                EXPECT(e0 == prev_end && e1 >= e0 && e1 - e0 <= l.chunk[k], "W %d tensor %d rank %d: [%lld, %lld)", W,
                       k, r, (long long)e0, (long long)e1);
                covered += e1 - e0, prev_end = e1;
            }
            EXPECT(covered == numel[k], "W %d tensor %d covers %lld of %lld", W, k, (long long)covered,
                   (long long)numel[k]);
            EXPECT(l.shard_off[k] % 256 == 0 && l.full_off[k] % 256 == 0, "offsets aligned");
            EXPECT(l.chunk[k] * W >= numel[k] && (l.chunk[k] - 1) * W < numel[k], "chunk = ceil(n / W)");
        }
    }
    rl_fsdp_layout l;
    EXPECT(rl_fsdp_layout_init(&l, 0, 3, dt, numel) != 0, "0 ranks refused");
}

/* File bytes of the tensors a model loads under the canonical names; *scales
 * gets the bytes of their fp8 scale tensors (every rank reads those whole). */
static uint64_t file_bytes(const char *path, rl_model_kind kind, char (*names)[96], int n, uint64_t *scales) {
    rl_weights w;
    *scales = 0;
    if (rl_weights_open(&w, path, rl_backend_cpu(), kind) != 0) return 0;
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const rl_st_tensor *t = rl_checkpoint_find(&w.st, &w.ck, names[i]);
        total += t ? t->nbytes : 0;
        size_t len = t ? strlen(t->name) : 0;
        if (len > 7 && !strcmp(t->name + len - 7, ".weight")) {
            char key[320];
            snprintf(key, sizeof key, "%.*s.scale_weight", (int)(len - 7), t->name);
            const rl_st_tensor *s = rl_st_find(&w.st, key);
            *scales += s ? s->nbytes : 0;
        }
    }
    rl_weights_close(&w);
    return total;
}

/* Canonical names of a DiT's block tensors (the spec's list, written out again here). */
static int dit_block_names(int64_t L, char (*names)[96]) {
    static const char *const sfx[27] = {
        "modulation", "self_attn.q.weight", "self_attn.q.bias", "self_attn.k.weight", "self_attn.k.bias",
        "self_attn.v.weight", "self_attn.v.bias", "self_attn.o.weight", "self_attn.o.bias",
        "self_attn.norm_q.weight", "self_attn.norm_k.weight", "norm3.weight", "norm3.bias",
        "cross_attn.q.weight", "cross_attn.q.bias", "cross_attn.k.weight", "cross_attn.k.bias",
        "cross_attn.v.weight", "cross_attn.v.bias", "cross_attn.o.weight", "cross_attn.o.bias",
        "cross_attn.norm_q.weight", "cross_attn.norm_k.weight", "ffn.0.weight", "ffn.0.bias", "ffn.2.weight",
        "ffn.2.bias"};
    int n = 0;
    for (int64_t i = 0; i < L; i++)
        for (int k = 0; k < 27; k++) snprintf(names[n++], 96, "blocks.%lld.%s", (long long)i, sfx[k]);
    return n;
}

/* Rank r of W's shards of every block, side by side, must be the whole load's bytes. */
static void check_reassembly(const char *what, const rl_wan_dit *plain, rl_wan_dit *ranks, int W) {
    const rl_fsdp_layout *l = wan_fsdp_layout(ranks[0].fsdp);
    uint8_t *sh = malloc(l->shard_bytes * (size_t)W);
    for (int64_t i = 0; sh && i < plain->cfg.num_layers; i++) {
        for (int r = 0; r < W; r++)
            EXPECT(wan_fsdp_fetch_shard(ranks[r].fsdp, i, sh + (size_t)r * l->shard_bytes) == 0, "%s",
                   rl_error_message());
        rl_wan_block b = plain->blocks[i];
        rl_tensor *t[WAN_BLOCK_TENSORS];
        wan_block_tensors(&b, t);
        for (int k = 0; k < WAN_BLOCK_TENSORS; k++) {
            size_t es = rl_dtype_size(l->dtype[k]), bad = 0;
            for (int r = 0; r < W; r++) {
                int64_t e0, e1;
                rl_fsdp_range(l, k, r, &e0, &e1);
                if (e1 > e0 && memcmp(sh + (size_t)r * l->shard_bytes + l->shard_off[k],
                                      (uint8_t *)t[k]->data + (size_t)e0 * es, (size_t)(e1 - e0) * es) != 0)
                    bad++;
            }
            EXPECT(bad == 0, "%s W %d: block %lld tensor %d: %zu rank chunks differ from the whole load", what, W,
                   (long long)i, k, bad);
        }
    }
    free(sh);
}

static void test_dit_bytes_read(void) {
    rl_backend *be = rl_backend_cpu();
    for (size_t g = 0; g < sizeof dits / sizeof *dits; g++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/golden/wan_dit/%s.safetensors", RL_SOURCE_DIR, dits[g]);
        rl_wan_dit plain;
        if (wan_dit_load(&plain, path, be) != 0) {
            EXPECT(0, "%s: %s", dits[g], rl_error_message());
            continue;
        }
        char(*names)[96] = malloc(sizeof *names * 27 * (size_t)plain.cfg.num_layers);
        uint64_t scales, blocks = file_bytes(path, RL_MODEL_WAN_DIT, names, dit_block_names(plain.cfg.num_layers, names),
                                             &scales);
        free(names);
        for (int W = 2; W <= 4; W++) {
            rl_wan_dit m[4];
            rl_comm c[4];
            uint64_t sum = 0;
            int ok = 1;
            for (int r = 0; r < W && ok; r++) {
                c[r] = fake_comm(r, W);
                rl_wan_dit_options o = {0, 0, &c[r]};
                ok = wan_dit_load_opts(&m[r], path, be, &o) == 0;
                EXPECT(ok, "%s rank %d of %d: %s", dits[g], r, W, rl_error_message());
                if (!ok) W = r;
            }
            for (int r = 0; ok && r < W; r++) { /* block bytes read, the fp8 scales (read by every rank) apart */
                uint64_t s = wan_fsdp_bytes_read(m[r].fsdp) - scales;
                sum += s;
                /* each tensor's chunk is ceil(n/W) elements: at most one element per rank per tensor off */
                double slack = 27.0 * (double)plain.cfg.num_layers * W * 4;
                EXPECT(fabs((double)s - (double)blocks / W) <= slack, "%s rank %d of %d read %llu block bytes, "
                       "expected about %.0f", dits[g], r, W, (unsigned long long)s, (double)blocks / W);
                EXPECT(m[r].file_bytes_read - s - scales == plain.file_bytes_read - blocks - scales,
                       "%s rank %d: non-block reads %llu", dits[g], r,
                       (unsigned long long)(m[r].file_bytes_read - s - scales));
            }
            if (ok) {
                EXPECT(sum == blocks, "%s W %d: the ranks read %llu block bytes, the file has %llu", dits[g], W,
                       (unsigned long long)sum, (unsigned long long)blocks);
                if (W == 2 && g == 0)
                    printf("  %s: whole load reads %llu bytes (%llu in blocks); W 2: rank 0 reads %llu (%llu in blocks)\n",
                           dits[g], (unsigned long long)plain.file_bytes_read, (unsigned long long)blocks,
                           (unsigned long long)m[0].file_bytes_read, (unsigned long long)wan_fsdp_bytes_read(m[0].fsdp));
                check_reassembly(dits[g], &plain, m, W);
            }
            for (int r = 0; r < W; r++) wan_dit_free(&m[r]);
        }
        wan_dit_free(&plain);
    }
}

static void test_umt5_bytes_read(void) {
    rl_backend *be = rl_backend_cpu();
    for (size_t g = 0; g < sizeof t5s / sizeof *t5s; g++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/golden/umt5/%s.safetensors", RL_SOURCE_DIR, t5s[g]);
        rl_umt5 plain, m[3];
        if (umt5_load(&plain, path, be) != 0) {
            EXPECT(0, "%s: %s", t5s[g], rl_error_message());
            continue;
        }
        static const char *const sfx[UMT5_LAYER_TENSORS] = {
            "norm1.weight", "attn.q.weight", "attn.k.weight", "attn.v.weight", "attn.o.weight",
            "pos_embedding.embedding.weight", "norm2.weight", "ffn.gate.0.weight", "ffn.fc1.weight", "ffn.fc2.weight"};
        int64_t L = plain.cfg.layers;
        int n_names = UMT5_LAYER_TENSORS * (int)L + 1; /* every layer tensor and the token embedding */
        char(*names)[96] = malloc(sizeof *names * (size_t)n_names);
        for (int64_t i = 0; i < L; i++)
            for (int k = 0; k < UMT5_LAYER_TENSORS; k++)
                snprintf(names[i * UMT5_LAYER_TENSORS + k], 96, "blocks.%lld.%s", (long long)i, sfx[k]);
        snprintf(names[n_names - 1], 96, "token_embedding.weight");
        uint64_t scales, layers = file_bytes(path, RL_MODEL_UMT5, names, n_names, &scales);
        uint64_t emb_scale, emb = file_bytes(path, RL_MODEL_UMT5, names + n_names - 1, 1, &emb_scale);
        free(names);
        const int W = 3;
        rl_comm c[3];
        uint64_t sum = 0;
        for (int r = 0; r < W; r++) {
            c[r] = fake_comm(r, W);
            if (umt5_load_fsdp(&m[r], path, be, &c[r]) != 0) {
                EXPECT(0, "%s rank %d: %s", t5s[g], r, rl_error_message());
                for (int q = 0; q < r; q++) umt5_free(&m[q]);
                umt5_free(&plain);
                return;
            }
            uint64_t s = umt5_fsdp_bytes_read(m[r].fsdp) - scales;
            sum += s;
            /* layers: at most one element per rank per tensor off; the embedding: one row */
            double slack = 10.0 * (double)L * W * 4 + (double)plain.cfg.dim * 4 * W;
            EXPECT(fabs((double)s - (double)layers / W) <= slack,
                   "%s rank %d read %llu layer and embedding bytes of %llu", t5s[g], r, (unsigned long long)s,
                   (unsigned long long)layers);
            /* what is not sharded (the final norm) is all a rank reads besides: the table is never read whole */
            EXPECT(m[r].file_bytes_read - s - scales == plain.file_bytes_read - layers - scales,
                   "%s rank %d: %llu bytes read besides the shards", t5s[g], r,
                   (unsigned long long)(m[r].file_bytes_read - s - scales));
        }
        EXPECT(sum == layers, "%s: the ranks read %llu layer and embedding bytes, the file has %llu", t5s[g],
               (unsigned long long)sum, (unsigned long long)layers);
        if (g == 0)
            printf("  %s: whole load reads %llu bytes (embedding %llu, layers %llu); W 3: rank 0 reads %llu\n",
                   t5s[g], (unsigned long long)plain.file_bytes_read, (unsigned long long)emb,
                   (unsigned long long)(layers - emb), (unsigned long long)m[0].file_bytes_read);
        (void)emb_scale;
        for (int r = 0; r < W; r++) umt5_free(&m[r]);
        umt5_free(&plain);
    }
}

/* Device and pinned bytes of a sharded load equal the planner's weights + slots and host. */
static void test_prediction_exact(void) {
    rl_backend *be = rl_backend_cpu();
    char path[512];
    snprintf(path, sizeof path, "%s/tests/golden/wan_dit/comfy_bf16.safetensors", RL_SOURCE_DIR);
    for (int n_off = 0; n_off <= 2; n_off++) {
        rl_comm c = fake_comm(1, 2);
        rl_wan_dit_options o = {n_off, 0, &c};
        size_t dev0 = rl_mem_current(be->device), pin0 = rl_mem_pinned();
        rl_wan_dit m;
        if (wan_dit_load_opts(&m, path, be, &o) != 0) {
            EXPECT(0, "offload %d: %s", n_off, rl_error_message());
            continue;
        }
        rl_wan_mem_plan p;
        wan_mem_predict(&m.cfg, be->weight_dtype, 12, 0, n_off, 2, &p);
        size_t dev = rl_mem_current(be->device) - dev0, pin = rl_mem_pinned() - pin0;
        EXPECT(dev == p.weights + p.slot_bytes, "offload %d: %zu device bytes, predicted %zu + %zu", n_off, dev,
               p.weights, p.slot_bytes);
        EXPECT(pin == p.host, "offload %d: %zu pinned, predicted %zu", n_off, pin, p.host);
        EXPECT(m.weight_bytes == p.weights, "offload %d: weight_bytes %zu, predicted %zu", n_off, m.weight_bytes,
               p.weights);
        wan_dit_free(&m);
    }
    rl_comm c = fake_comm(0, 2);
    rl_wan_dit_options bad = {3, 0, &c};
    rl_wan_dit m;
    EXPECT(wan_dit_load_opts(&m, path, be, &bad) != 0 && strstr(rl_error_message(), "--offload-blocks 3"),
           "offload past the block count refused: %s", rl_error_message());
}

static void test_planner(void) {
    rl_wan_dit_config c;
    wan_dit_config_named("14b", &c);
    const int64_t tokens = 14040;
    const size_t extra = 64u << 20, GiB = 1u << 30;
    rl_wan_mem_plan none, f2, f8, p;
    wan_mem_predict(&c, RL_BF16, tokens, extra, 0, 1, &none);
    wan_mem_predict(&c, RL_BF16, tokens, extra, 0, 2, &f2);
    wan_mem_predict(&c, RL_BF16, tokens, extra, 0, 8, &f8);
    size_t block = wan_dit_block_bytes(&c, RL_BF16, 0);
    EXPECT(f2.weights < none.weights - 19 * block && f2.weights > none.weights - 21 * block,
           "fsdp 2 keeps about half the blocks: %zu vs %zu", f2.weights, none.weights);
    EXPECT(f8.total < f2.total && f2.total < none.total, "more ranks, less memory");
    char d[512];
    wan_offload_describe_plan(&f2, c.num_layers, d, sizeof d);
    printf("  14B bf16 832x480x33: plain %.2f GiB; %s\n", (double)none.total / GiB, d);
    wan_offload_describe_plan(&f8, c.num_layers, d, sizeof d);
    printf("  8 ranks: %s\n", d);
    EXPECT(wan_mem_auto_plan(&c, RL_BF16, tokens, extra, none.total, 2, 0, &p) == 0 && p.fsdp == 1 &&
               p.offload_blocks == 0, "enough for everything: none");
    EXPECT(wan_mem_auto_plan(&c, RL_BF16, tokens, extra, none.total - 1, 2, 0, &p) == 0 && p.fsdp == 2 &&
               p.offload_blocks == 0, "just short: fsdp (got fsdp %d, offload %d)", p.fsdp, p.offload_blocks);
    EXPECT(wan_mem_auto_plan(&c, RL_BF16, tokens, extra, none.total - 1, 1, 0, &p) == 0 && p.fsdp == 1 &&
               p.offload_blocks == 3, "one rank: offload 3 (got %d)", p.offload_blocks);
    EXPECT(wan_mem_auto_plan(&c, RL_BF16, tokens, extra, 10 * GiB, 2, 0, &p) == 0 && p.fsdp == 2 &&
               p.offload_blocks > 0 && p.total <= 10 * GiB, "10 GiB on 2 ranks: fsdp + offload (got %d)", p.offload_blocks);
    rl_wan_mem_plan prev;
    wan_mem_predict(&c, RL_BF16, tokens, extra, p.offload_blocks - 1, 2, &prev);
    EXPECT(prev.total > 10 * GiB, "the least offloading that fits");
    wan_offload_describe_plan(&p, c.num_layers, d, sizeof d);
    printf("  2 ranks, 10 GiB: %s\n", d);
    EXPECT(wan_mem_auto_plan(&c, RL_BF16, tokens, extra, 200 * GiB, 2, 1, &p) == 0 && p.fsdp == 2,
           "--fsdp given: sharded even when everything fits");
    int rc = wan_mem_auto_plan(&c, RL_BF16, tokens, extra, 2 * GiB, 2, 0, &p);
    EXPECT(rc != 0 && strstr(rl_error_message(), "sharded over 2 ranks (--fsdp) and all 40 offloaded") &&
               strstr(rl_error_message(), "use more ranks"), "nothing fits: %s", rl_error_message());
    rc = wan_mem_auto_plan(&c, RL_BF16, tokens, extra, 2 * GiB, 1, 0, &p);
    EXPECT(rc != 0 && strstr(rl_error_message(), "with --fsdp"), "one rank, nothing fits, names --fsdp: %s",
           rl_error_message());
}

static void test_one_rank_is_plain(void) {
    rl_comm *self = rl_comm_world_host(); /* not launched: a one-rank comm */
    char path[512];
    snprintf(path, sizeof path, "%s/tests/golden/wan_dit/official_f32.safetensors", RL_SOURCE_DIR);
    rl_wan_dit_options o = {0, 0, self};
    rl_wan_dit m;
    EXPECT(self && wan_dit_load_opts(&m, path, rl_backend_cpu(), &o) == 0 && !m.fsdp && m.blocks[0].ffn1.w.data,
           "one rank: whole blocks (%s)", rl_error_message());
    if (self) wan_dit_free(&m), self->destroy(self);
}

/* ---------------------------------------------------------------- gathers */

/* Byte i of tensor k of unit u, the same on every rank (the unsharded bytes). */
static uint8_t unit_byte(int64_t u, int k, size_t i) {
    uint64_t h = ((uint64_t)u * 1000003u + (uint64_t)k * 7919u + i) * 0x9E3779B97F4A7C15ull;
    return (uint8_t)(h >> 56);
}

static const rl_dtype gather_dt[3] = {RL_F32, RL_BF16, RL_F8_E4M3};
static const int64_t gather_numel[3] = {1000, 77777, 5}; /* odd counts: padded chunks */
enum { GATHER_UNITS = 7 };

/* A pass: every unit's gathered buffer must be the unsharded bytes. */
/* A pass over the units (begun: rl_fsdp_begin already called); the count of wrong bytes. */
static int gather_pass(rl_fsdp *f, const rl_fsdp_layout *l, int begun) {
    int bad = 0;
    if (!begun && rl_fsdp_begin(f) != 0) return -1;
    for (int64_t u = 0; u < GATHER_UNITS; u++) {
        uint8_t *full;
        if (rl_fsdp_ready(f, u, &full) != 0) return -1;
        for (int k = 0; k < l->n; k++) {
            size_t nb = (size_t)l->numel[k] * rl_dtype_size(l->dtype[k]);
            for (size_t i = 0; i < nb; i++) bad += full[l->full_off[k] + i] != unit_byte(u, k, i);
        }
        if (rl_fsdp_release(f, u) != 0) return -1;
    }
    return bad;
}

/* rl_fsdp over comm on the CPU backend: units 2 and 5 offloaded (pinned), 3 slots. */
static void gathers_over(rl_comm *comm) {
    rl_backend *be = rl_backend_cpu();
    rl_fsdp_layout l;
    rl_fsdp *f = NULL;
    unsigned char on_host[GATHER_UNITS] = {0, 0, 1, 0, 0, 1, 0};
    EXPECT(rl_fsdp_layout_init(&l, comm->size, 3, gather_dt, gather_numel) == 0, "%s", rl_error_message());
    EXPECT(rl_fsdp_create(&f, be, comm, &l, GATHER_UNITS, on_host, 3) == 0, "%s", rl_error_message());
    if (!f) return;
    EXPECT(rl_fsdp_overlaps(f), "the gathers over '%s' on CPU ranks are nonblocking", comm->kind);
    uint8_t *shard = calloc(1, l.shard_bytes);
    for (int64_t u = 0; u < GATHER_UNITS; u++) {
        memset(shard, 0, l.shard_bytes);
        for (int k = 0; k < l.n; k++) {
            int64_t e0, e1;
            size_t es = rl_dtype_size(l.dtype[k]);
            rl_fsdp_range(&l, k, comm->rank, &e0, &e1);
            for (size_t i = (size_t)e0 * es; i < (size_t)e1 * es; i++)
                shard[l.shard_off[k] + i - (size_t)e0 * es] = unit_byte(u, k, i);
        }
        EXPECT(rl_fsdp_store(f, u, shard) == 0, "%s", rl_error_message());
    }
    free(shard);
    EXPECT(rl_fsdp_alloc_slots(f) == 0, "%s", rl_error_message());
    for (int pass = 0; pass < 2; pass++) {
        int bad = gather_pass(f, &l, 0);
        EXPECT(bad == 0, "%s, %d ranks, pass %d: %d gathered bytes differ from the unsharded units (%s)", comm->kind,
               comm->size, pass, bad, bad < 0 ? rl_error_message() : "");
    }
    if (comm->size > 1) {
        /* Ranks 0 and 1 meet point to point with rank 0 already past begin and rank 1
         * not yet in it: gathers that blocked in begin would wait for rank 1 forever
         * (fsdp_test.sh's timeout then fails the run). No clock involved. */
        uint8_t mine = (uint8_t)(comm->rank + 1), theirs = 0;
        int rc = 0, peer = 1 - comm->rank;
        comm->barrier(comm);
        if (comm->rank == 0) {
            rc = rl_fsdp_begin(f);
            if (rc == 0) rc = comm->send_recv(comm, &mine, peer, &theirs, peer, 1);
        } else if (comm->rank == 1) {
            rc = comm->send_recv(comm, &mine, peer, &theirs, peer, 1);
            if (rc == 0) rc = rl_fsdp_begin(f);
        } else {
            rc = rl_fsdp_begin(f);
        }
        EXPECT(rc == 0 && (comm->rank > 1 || theirs == (uint8_t)(peer + 1)),
               "rank %d: begin, then a point-to-point exchange with rank %d: %s", comm->rank, peer,
               rc ? rl_error_message() : "the wrong byte arrived");
        int bad = rc == 0 ? gather_pass(f, &l, 1) : -1;
        EXPECT(bad == 0, "the pass begun before rank 1 joined: %d bytes differ (%s)", bad,
               bad < 0 ? rl_error_message() : "");
    }
    rl_fsdp_free(f);
}

static rl_comm *gather_comm;
static void test_gathers(void) { gathers_over(gather_comm); }

/* Under mpirun: the sharded umT5 (embedding rows and layers over the ranks)
 * encodes ids from every rank's vocabulary range to the bytes of the whole load. */
static void test_umt5_encode_sharded(void) {
    rl_backend *be = rl_backend_cpu();
    for (size_t g = 0; g < sizeof t5s / sizeof *t5s; g++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/golden/umt5/%s.safetensors", RL_SOURCE_DIR, t5s[g]);
        rl_umt5 plain, sh;
        if (umt5_load(&plain, path, be) != 0 || umt5_load_fsdp(&sh, path, be, gather_comm) != 0) {
            EXPECT(0, "%s: %s", t5s[g], rl_error_message());
            return;
        }
        EXPECT(sh.fsdp && !sh.token_embedding.data, "%s: the embedding is sharded", t5s[g]);
        const int64_t n = 23, D = plain.cfg.dim, V = plain.cfg.vocab;
        int32_t ids[23];
        int64_t r0, r1, mine = 0;
        umt5_fsdp_vocab_range(V, gather_comm->size, gather_comm->rank, &r0, &r1);
        for (int64_t i = 0; i < n; i++) {
            ids[i] = (int32_t)((i * 7919 + 3) % V);
            mine += ids[i] >= r0 && ids[i] < r1;
        }
        ids[n - 1] = (int32_t)(V - 1); /* the last row, on the last rank */
        EXPECT(mine > 0 && mine < n, "%s: this rank holds %lld of the %lld ids (the test wants a mix)", t5s[g],
               (long long)mine, (long long)n);
        for (int padded = 0; padded < 2; padded++) {
            int64_t run = padded ? 40 : 0;
            float *a = malloc(sizeof(float) * (size_t)(n * D)), *b = malloc(sizeof(float) * (size_t)(n * D));
            rl_tensor ta = rl_tensor_make(a, RL_F32, RL_DEVICE_CPU, 2, (int64_t[]){n, D});
            rl_tensor tb = rl_tensor_make(b, RL_F32, RL_DEVICE_CPU, 2, (int64_t[]){n, D});
            int rc = umt5_encode(&plain, ids, n, run, &ta);
            if (rc == 0) rc = umt5_encode(&sh, ids, n, run, &tb);
            EXPECT(rc == 0 && !memcmp(a, b, sizeof(float) * (size_t)(n * D)),
                   "%s%s: the sharded encoder's output differs from the whole load's (%s)", t5s[g],
                   padded ? " (run length 40)" : "", rc ? rl_error_message() : "bytes differ");
            free(a), free(b);
        }
        umt5_free(&sh);
        umt5_free(&plain);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--mpi")) { /* under mpirun (fsdp_test.sh) */
        rl_world w;
        if (rl_world_init(&argc, &argv, &w) != 0 || !(gather_comm = rl_comm_world_host())) {
            printf("FAIL: test_fsdp --mpi setup: %s\n", rl_error_message());
            return 1;
        }
        RUN(test_gathers);
        RUN(test_umt5_encode_sharded);
        gather_comm->destroy(gather_comm);
        rl_world_finalize();
        TL_EXIT();
    }
    gather_comm = rl_comm_world_host(); /* not launched: the "self" comm */
    RUN(test_gathers);
    gather_comm->destroy(gather_comm);
    RUN(test_layout);
    RUN(test_dit_bytes_read);
    RUN(test_umt5_bytes_read);
    RUN(test_prediction_exact);
    RUN(test_planner);
    RUN(test_one_rank_is_plain);
    TL_EXIT();
}
