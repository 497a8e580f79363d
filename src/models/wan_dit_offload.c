/* wan_dit_offload.c: block swap for the Wan DiT and the --auto-plan memory
 * planner; see wan_dit_offload.h.
 *
 * A slot is one device buffer of a packed block. Its life per forward:
 *   copy_async (copy stream, after the slot's last release) -> wait_copy (compute
 *   stream waits) -> the block's ops -> release_slot (event on the compute stream)
 *   -> the next offloaded block's copy_async into it.
 * Copies are issued in forward order as soon as a slot is free, so with S slots up
 * to S offloaded blocks are in flight ahead of the compute.
 */
#include "models/wan_dit_offload.h"

#include "models/wan_dit_fsdp.h"

#include <stdlib.h>
#include <string.h>

#define OFFLOAD_ALIGN 256

struct rl_wan_offload {
    rl_backend *be;
    int64_t n_layers;
    int n_off, n_slots;
    int *order;          /* [n_off] offloaded block indices, ascending (forward order) */
    void **host;         /* [n_layers] packed pinned buffer, NULL for a resident block */
    size_t off[WAN_BLOCK_TENSORS]; /* byte offset of each tensor in a packed block */
    size_t block_bytes;  /* packed size (every block has the same shapes) */
    void *slot_mem[RL_COPY_SLOTS];   /* device, block_bytes each */
    int64_t slot_block[RL_COPY_SLOTS]; /* block copied (or being copied) into the slot, -1 free */
    int slot_busy[RL_COPY_SLOTS];      /* handed out by ready, not yet released */
    rl_wan_block view[RL_COPY_SLOTS];  /* the block's tensors pointing into the slot */
    int next;            /* position in order[] of the next copy to issue */
};

static size_t align_up(size_t n) { return (n + OFFLOAD_ALIGN - 1) / OFFLOAD_ALIGN * OFFLOAD_ALIGN; }

/* The tensors of a block in the packing order. */
void wan_block_tensors(rl_wan_block *b, rl_tensor **t) {
    int k = 0;
    t[k++] = &b->modulation;
    rl_wan_attention *at[2] = {&b->self_attn, &b->cross_attn};
    for (int a = 0; a < 2; a++) {
        rl_wan_linear *l[4] = {&at[a]->q, &at[a]->k, &at[a]->v, &at[a]->o};
        for (int j = 0; j < 4; j++) t[k++] = &l[j]->w, t[k++] = &l[j]->b;
        t[k++] = &at[a]->norm_q;
        t[k++] = &at[a]->norm_k;
        if (a == 0) t[k++] = &b->norm3_w, t[k++] = &b->norm3_b;
    }
    t[k++] = &b->ffn1.w, t[k++] = &b->ffn1.b;
    t[k++] = &b->ffn2.w, t[k++] = &b->ffn2.b;
}

/* A block's tensor headers (no storage) as wan_dit.c loads them. */
void wan_block_shapes(const rl_wan_dit_config *c, rl_dtype wdt, rl_wan_block *b) {
    const int64_t D = c->dim, F = c->ffn_dim;
    memset(b, 0, sizeof *b);
    b->modulation = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 2, (int64_t[]){6, D});
    rl_wan_attention *at[2] = {&b->self_attn, &b->cross_attn};
    for (int a = 0; a < 2; a++) {
        rl_wan_linear *l[4] = {&at[a]->q, &at[a]->k, &at[a]->v, &at[a]->o};
        for (int j = 0; j < 4; j++) {
            l[j]->w = rl_tensor_make(NULL, wdt, RL_DEVICE_CPU, 2, (int64_t[]){D, D});
            l[j]->b = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &D);
        }
        at[a]->norm_q = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &D);
        at[a]->norm_k = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &D);
    }
    b->norm3_w = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &D);
    b->norm3_b = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &D);
    b->ffn1.w = rl_tensor_make(NULL, wdt, RL_DEVICE_CPU, 2, (int64_t[]){F, D});
    b->ffn1.b = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &F);
    b->ffn2.w = rl_tensor_make(NULL, wdt, RL_DEVICE_CPU, 2, (int64_t[]){D, F});
    b->ffn2.b = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &D);
}

size_t wan_dit_block_bytes(const rl_wan_dit_config *c, rl_dtype wdt, int aligned) {
    rl_wan_block b;
    rl_tensor *t[WAN_BLOCK_TENSORS];
    wan_block_shapes(c, wdt, &b);
    wan_block_tensors(&b, t);
    size_t n = 0;
    for (int k = 0; k < WAN_BLOCK_TENSORS; k++) n += aligned ? align_up(rl_tensor_nbytes(t[k])) : rl_tensor_nbytes(t[k]);
    return n;
}

size_t wan_dit_other_bytes(const rl_wan_dit_config *c, rl_dtype wdt) {
    const size_t D = (size_t)c->dim, w = rl_dtype_size(wdt), f = sizeof(float), O = (size_t)c->out_dim * 4;
    return D * (size_t)c->in_dim * 4 * w + D * f            /* patch embedding */
           + D * (size_t)c->text_dim * w + D * f + D * D * w + D * f /* text embedding */
           + D * (size_t)c->freq_dim * f + D * f + D * D * f + D * f  /* time embedding (f32) */
           + 6 * D * D * f + 6 * D * f                              /* time projection (f32) */
           + 2 * D * f + O * D * f + O * f;                         /* head modulation, head (f32) */
}

/* ---------------------------------------------------------------- setup */

/* Block i is offloaded when floor((i+1)N/L) steps: N blocks spread evenly, the last one always among them. */
int wan_offload_picks(int64_t L, int64_t n, int64_t i) { return (i + 1) * n / L > i * n / L; }

int wan_offload_create(rl_wan_offload **out, rl_backend *be, const rl_wan_dit_config *cfg, int n_offload,
                       int n_slots) {
    *out = NULL;
    const int64_t L = cfg->num_layers;
    if (n_offload < 0 || n_offload > L)
        return rl_error_set("--offload-blocks %d: the model has %lld blocks; give 0..%lld", n_offload, (long long)L,
                            (long long)L);
    if (n_slots == 0) n_slots = WAN_OFFLOAD_SLOTS;
    if (n_slots < 1 || n_slots > RL_COPY_SLOTS)
        return rl_error_set("offload: %d device slots asked; 1..%d are possible", n_slots, RL_COPY_SLOTS);
    if (n_offload == 0) return 0;
    if (!be->host_alloc || !be->copy_async || !be->wait_copy || !be->release_slot)
        return rl_error_set("--offload-blocks: backend '%s' cannot stream weights from host memory", be->name);
    rl_wan_offload *o = calloc(1, sizeof *o);
    if (!o) return rl_error_set("out of host memory for the offload table");
    o->be = be;
    o->n_layers = L;
    o->n_off = n_offload;
    o->n_slots = n_slots < n_offload ? n_slots : n_offload;
    o->order = calloc((size_t)n_offload, sizeof *o->order);
    o->host = calloc((size_t)L, sizeof *o->host);
    if (!o->order || !o->host) {
        wan_offload_free(o);
        return rl_error_set("out of host memory for the offload table");
    }
    int k = 0;
    for (int64_t i = 0; i < L; i++)
        if (wan_offload_picks(L, n_offload, i)) o->order[k++] = (int)i;
    RL_ASSERT(k == n_offload);
    rl_wan_block shapes;
    rl_tensor *t[WAN_BLOCK_TENSORS];
    wan_block_shapes(cfg, be->weight_dtype, &shapes);
    wan_block_tensors(&shapes, t);
    for (int j = 0; j < WAN_BLOCK_TENSORS; j++) {
        o->off[j] = o->block_bytes;
        o->block_bytes += align_up(rl_tensor_nbytes(t[j]));
    }
    for (int s = 0; s < RL_COPY_SLOTS; s++) o->slot_block[s] = -1;
    *out = o;
    return 0;
}

int wan_offload_is_host(const rl_wan_offload *o, int64_t i) {
    if (!o) return 0;
    for (int k = 0; k < o->n_off; k++)
        if (o->order[k] == i) return 1;
    return 0;
}

int wan_offload_take(rl_wan_offload *o, int64_t i, rl_wan_block *blk, size_t *device_freed) {
    rl_backend *be = o->be;
    rl_tensor *t[WAN_BLOCK_TENSORS];
    wan_block_tensors(blk, t);
    *device_freed = 0;
    for (int k = 0; k < WAN_BLOCK_TENSORS; k++) {
        size_t room = (k + 1 < WAN_BLOCK_TENSORS ? o->off[k + 1] : o->block_bytes) - o->off[k];
        if (rl_tensor_nbytes(t[k]) > room || !t[k]->data)
            return rl_error_set("offload: block %lld tensor %d does not match the packed layout (a bug)",
                                (long long)i, k);
    }
    uint8_t *host = be->host_alloc(be, o->block_bytes);
    if (!host) return rl_error_wrap("offloading DiT block %lld", (long long)i);
    memset(host, 0, o->block_bytes); /* the alignment gaps: deterministic bytes */
    for (int k = 0; k < WAN_BLOCK_TENSORS; k++) {
        size_t nb = rl_tensor_nbytes(t[k]);
        if (be->download(be, host + o->off[k], t[k]->data, nb) != 0) {
            be->host_free(be, host, o->block_bytes);
            return rl_error_wrap("offloading DiT block %lld", (long long)i);
        }
    }
    for (int k = 0; k < WAN_BLOCK_TENSORS; k++) {
        size_t nb = rl_tensor_nbytes(t[k]);
        be->free(be, t[k]->data, nb);
        t[k]->data = NULL; /* shape and dtype stay: ready() points them into a slot */
        *device_freed += nb;
    }
    o->host[i] = host;
    return 0;
}

int wan_offload_alloc_slots(rl_wan_offload *o) {
    if (!o) return 0;
    for (int s = 0; s < o->n_slots; s++) {
        o->slot_mem[s] = o->be->alloc(o->be, o->block_bytes);
        if (!o->slot_mem[s])
            return rl_error_wrap("the device slots of --offload-blocks %d (%d of %zu bytes)", o->n_off, o->n_slots,
                                 o->block_bytes);
    }
    return 0;
}

void wan_offload_free(rl_wan_offload *o) {
    if (!o) return;
    rl_backend *be = o->be;
    (void)be->synchronize(be); /* no copy may still read a buffer freed here */
    for (int s = 0; s < RL_COPY_SLOTS; s++)
        if (o->slot_mem[s]) be->free(be, o->slot_mem[s], o->block_bytes);
    for (int64_t i = 0; o->host && i < o->n_layers; i++)
        if (o->host[i]) be->host_free(be, o->host[i], o->block_bytes);
    free(o->host);
    free(o->order);
    free(o);
}

int wan_offload_blocks(const rl_wan_offload *o) { return o ? o->n_off : 0; }
size_t wan_offload_host_bytes(const rl_wan_offload *o) { return o ? (size_t)o->n_off * o->block_bytes : 0; }
size_t wan_offload_slot_bytes(const rl_wan_offload *o) { return o ? (size_t)o->n_slots * o->block_bytes : 0; }

/* ---------------------------------------------------------------- the forward's side */

static int slot_of(const rl_wan_offload *o, int64_t i) {
    for (int s = 0; s < o->n_slots; s++)
        if (o->slot_block[s] == i) return s;
    return -1;
}

/* Issues the next copies in forward order into every free slot. */
static int prefetch(rl_wan_offload *o) {
    for (int s = 0; s < o->n_slots && o->next < o->n_off; s++) {
        if (o->slot_block[s] != -1) continue;
        int b = o->order[o->next];
        if (o->be->copy_async(o->be, o->slot_mem[s], o->host[b], o->block_bytes, s) != 0)
            return rl_error_wrap("streaming DiT block %d in", b);
        o->slot_block[s] = b;
        o->next++;
    }
    return 0;
}

int wan_offload_begin(rl_wan_offload *o) {
    if (!o) return 0;
    /* a forward that failed half way may have left slots handed out */
    for (int s = 0; s < o->n_slots; s++) {
        if (o->slot_busy[s]) RL_TRY(o->be->release_slot(o->be, s));
        o->slot_busy[s] = 0;
        o->slot_block[s] = -1;
    }
    o->next = 0;
    return prefetch(o);
}

int wan_offload_ready(rl_wan_offload *o, rl_wan_dit *m, int64_t i, const rl_wan_block **blk) {
    if (!o || !o->host[i]) {
        *blk = &m->blocks[i];
        return 0;
    }
    int s = slot_of(o, i);
    if (s < 0) {
        RL_TRY(prefetch(o));
        s = slot_of(o, i);
    }
    if (s < 0) return rl_error_set("offload: block %lld was not queued for copying (a bug)", (long long)i);
    RL_TRY(o->be->wait_copy(o->be, s));
    rl_wan_block *v = &o->view[s];
    *v = m->blocks[i];
    rl_tensor *t[WAN_BLOCK_TENSORS];
    wan_block_tensors(v, t);
    for (int k = 0; k < WAN_BLOCK_TENSORS; k++) {
        t[k]->data = (uint8_t *)o->slot_mem[s] + o->off[k];
        t[k]->device = o->be->device;
    }
    o->slot_busy[s] = 1;
    *blk = v;
    return 0;
}

int wan_offload_release(rl_wan_offload *o, int64_t i) {
    if (!o || !o->host[i]) return 0;
    int s = slot_of(o, i);
    if (s < 0 || !o->slot_busy[s]) return rl_error_set("offload: block %lld released but not in use (a bug)",
                                                       (long long)i);
    RL_TRY(o->be->release_slot(o->be, s));
    o->slot_busy[s] = 0;
    o->slot_block[s] = -1;
    return prefetch(o);
}

/* ---------------------------------------------------------------- planner */

void wan_offload_predict(const rl_wan_dit_config *c, rl_dtype wdt, int64_t tokens, size_t extra, int n_offload,
                         int n_slots, rl_wan_mem_plan *p) {
    if (n_slots <= 0) n_slots = WAN_OFFLOAD_SLOTS;
    memset(p, 0, sizeof *p);
    p->offload_blocks = n_offload;
    p->slots = n_offload == 0 ? 0 : (n_slots < n_offload ? n_slots : n_offload);
    p->weights = wan_dit_other_bytes(c, wdt) + (size_t)(c->num_layers - n_offload) * wan_dit_block_bytes(c, wdt, 0);
    p->slot_bytes = (size_t)p->slots * wan_dit_block_bytes(c, wdt, 1);
    p->activations = wan_dit_activation_bytes(c, tokens, tokens);
    p->extra = extra;
    p->total = p->weights + p->slot_bytes + p->activations + p->extra;
    p->host = (size_t)n_offload * wan_dit_block_bytes(c, wdt, 1);
    p->fsdp = 1;
}

void wan_mem_predict(const rl_wan_dit_config *c, rl_dtype wdt, int64_t tokens, size_t extra, int n_offload,
                     int fsdp_world, rl_wan_mem_plan *p) {
    if (fsdp_world <= 1) {
        wan_offload_predict(c, wdt, tokens, extra, n_offload, 0, p);
        return;
    }
    rl_fsdp_layout l;
    memset(p, 0, sizeof *p);
    if (wan_fsdp_block_layout(c, wdt, fsdp_world, &l) != 0) return;
    p->offload_blocks = n_offload;
    p->fsdp = fsdp_world;
    p->slots = c->num_layers < RL_FSDP_SLOTS ? (int)c->num_layers : RL_FSDP_SLOTS;
    p->weights = wan_dit_other_bytes(c, wdt) + (size_t)(c->num_layers - n_offload) * l.shard_bytes;
    p->slot_bytes = (size_t)p->slots * l.full_bytes + (n_offload > 0 ? (size_t)p->slots * l.shard_bytes : 0);
    p->activations = wan_dit_activation_bytes(c, tokens, tokens);
    p->extra = extra;
    p->total = p->weights + p->slot_bytes + p->activations + p->extra;
    p->host = (size_t)n_offload * l.shard_bytes;
}

int wan_mem_auto_plan(const rl_wan_dit_config *c, rl_dtype wdt, int64_t tokens, size_t extra, size_t limit, int world,
                      int force_fsdp, rl_wan_mem_plan *p) {
    const int shard = world > 1 ? world : 1;
    if (!force_fsdp) { /* none */
        wan_mem_predict(c, wdt, tokens, extra, 0, 1, p);
        if (p->total <= limit) return 0;
    }
    for (int n = 0; n <= c->num_layers; n++) { /* fsdp (n = 0), then fsdp + offload n; offload n alone on one rank */
        if (n == 0 && shard == 1 && !force_fsdp) continue;
        wan_mem_predict(c, wdt, tokens, extra, n, shard, p);
        if (p->total <= limit) return 0;
    }
    char b[6][32], how[160];
    if (shard > 1) snprintf(how, sizeof how, "the blocks sharded over %d ranks (--fsdp) and all %lld offloaded", shard,
                            (long long)c->num_layers);
    else snprintf(how, sizeof how, "all %lld blocks offloaded (--offload-blocks %lld)", (long long)c->num_layers,
                  (long long)c->num_layers);
    return rl_error_set("--auto-plan: nothing fits in --vram-limit %s: even with %s the DiT needs %s (weights kept on "
                        "the device %s, %d slots %s, activations for %lld tokens %s, latents and text %s); lower "
                        "--size or --frames, %sor raise --vram-limit",
                        rl_bytes_str(limit, b[0], 32), how, rl_bytes_str(p->total, b[1], 32),
                        rl_bytes_str(p->weights, b[2], 32), p->slots, rl_bytes_str(p->slot_bytes, b[3], 32),
                        (long long)tokens, rl_bytes_str(p->activations, b[4], 32), rl_bytes_str(p->extra, b[5], 32),
                        shard > 1 ? "use more ranks, " : "run on several GPUs (mpirun -np N) with --fsdp, ");
}

int wan_offload_auto_plan(const rl_wan_dit_config *c, rl_dtype wdt, int64_t tokens, size_t extra, size_t limit,
                          int n_slots, rl_wan_mem_plan *p) {
    /* The prediction never grows with N, so the first N that fits is the least offloading plan. */
    for (int n = 0; n <= c->num_layers; n++) {
        wan_offload_predict(c, wdt, tokens, extra, n, n_slots, p);
        if (p->total <= limit) return 0;
    }
    char b[6][32];
    return rl_error_set("--auto-plan: nothing fits in --vram-limit %s: even with all %lld blocks offloaded "
                        "(--offload-blocks %lld) the DiT needs %s (weights kept on the device %s, %d slots %s, "
                        "activations for %lld tokens %s, latents and text %s); lower --size or --frames, or raise "
                        "--vram-limit",
                        rl_bytes_str(limit, b[0], 32), (long long)c->num_layers, (long long)c->num_layers,
                        rl_bytes_str(p->total, b[1], 32), rl_bytes_str(p->weights, b[2], 32), p->slots,
                        rl_bytes_str(p->slot_bytes, b[3], 32), (long long)tokens,
                        rl_bytes_str(p->activations, b[4], 32), rl_bytes_str(p->extra, b[5], 32));
}

void wan_offload_describe_plan(const rl_wan_mem_plan *p, int64_t num_layers, char *buf, size_t n) {
    char b[6][32];
    char what[96];
    if (p->fsdp > 1 && p->offload_blocks == 0)
        snprintf(what, sizeof what, "fsdp over %d ranks (all %lld blocks sharded on the device)", p->fsdp,
                 (long long)num_layers);
    else if (p->fsdp > 1)
        snprintf(what, sizeof what, "fsdp over %d ranks + offload %d of %lld blocks", p->fsdp, p->offload_blocks,
                 (long long)num_layers);
    else if (p->offload_blocks == 0) snprintf(what, sizeof what, "no offload (all %lld blocks on the device)",
                                              (long long)num_layers);
    else snprintf(what, sizeof what, "offload %d of %lld blocks", p->offload_blocks, (long long)num_layers);
    snprintf(buf, n, "%s: predicted peak %s (weights %s, %d slots %s, activations %s, latents and text %s), "
             "%s pinned host memory", what, rl_bytes_str(p->total, b[0], 32), rl_bytes_str(p->weights, b[1], 32),
             p->slots, rl_bytes_str(p->slot_bytes, b[2], 32), rl_bytes_str(p->activations, b[3], 32),
             rl_bytes_str(p->extra, b[4], 32), rl_bytes_str(p->host, b[5], 32));
}
