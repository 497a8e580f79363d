/* fsdp.c: sharded units and their gathers; see fsdp.h.
 *
 * A gather slot's life per pass: gather (all-gathers of every tensor's chunks
 * into the slot; an offloaded unit's shard first copied into the slot's shard
 * slot on the copy stream) -> ready -> the unit's ops -> release (release_slot
 * event on the compute stream) -> the next unit's gather into it. Gathers are
 * issued in unit order as soon as a slot is free; every rank issues the same
 * collectives in the same order.
 * Overlap: the slot number is the lane of the comm's nonblocking all-gathers
 * (all_gather_start at release of the slot's last unit, all_gather_wait in
 * ready). NCCL: the batch runs on the backend's comm stream after the slot's
 * release (and its shard upload), and the compute stream waits for it in ready,
 * so the gather of unit u+1 runs while unit u computes. MPI (CPU ranks):
 * MPI_Iallgather at release, MPI_Waitall in ready. The staging path (a device
 * backend with a host-only comm, --comm mpi) stays synchronous: a download,
 * blocking all-gathers and an upload inside gather().
 */
#include "parallel/fsdp.h"

#include <stdlib.h>
#include <string.h>

#define FSDP_ALIGN 256

struct rl_fsdp {
    rl_backend *be;
    rl_comm *comm;                     /* the gathers' comm: the world's NCCL twin when there is one */
    rl_fsdp_layout l;
    int64_t n_units;
    int n_slots;
    int direct;                        /* the comm moves this backend's memory itself */
    int async;                         /* direct, with nonblocking all-gathers (one lane per slot) */
    void **shard;                      /* [n_units] resident shard: device, or pinned host when offloaded */
    unsigned char *on_host;            /* [n_units] 1: the shard is in pinned host memory */
    int n_host;
    void *slot[RL_COPY_SLOTS];         /* device, l.full_bytes each: gathered units */
    void *shard_slot[RL_COPY_SLOTS];   /* device, l.shard_bytes each: offloaded shards copied in */
    int64_t slot_unit[RL_COPY_SLOTS];  /* unit gathered into the slot, -1 free */
    int slot_busy[RL_COPY_SLOTS];      /* handed out by ready, not yet released */
    int pending[RL_COPY_SLOTS];        /* the slot's gather batch is issued, not yet waited for */
    int64_t next;                      /* the next unit to gather */
    uint8_t *stage_send, *stage_recv;  /* host staging (host-only comm, device backend) */
    double gather_seconds;
};

static size_t align_up(size_t n) { return (n + FSDP_ALIGN - 1) / FSDP_ALIGN * FSDP_ALIGN; }

int rl_fsdp_layout_init(rl_fsdp_layout *l, int world, int n, const rl_dtype *dt, const int64_t *numel) {
    memset(l, 0, sizeof *l);
    if (world < 1 || n < 1 || n > RL_FSDP_MAX_TENSORS)
        return rl_error_set("fsdp: a unit of %d tensors over %d ranks cannot be sharded (a bug)", n, world);
    l->n = n, l->world = world;
    for (int k = 0; k < n; k++) {
        if (numel[k] < 1) return rl_error_set("fsdp: tensor %d of a unit is empty (a bug)", k);
        size_t es = rl_dtype_size(dt[k]);
        l->dtype[k] = dt[k];
        l->numel[k] = numel[k];
        l->chunk[k] = (numel[k] + world - 1) / world;
        l->shard_off[k] = l->shard_bytes;
        l->shard_bytes += align_up((size_t)l->chunk[k] * es);
        l->full_off[k] = l->full_bytes;
        l->full_bytes += align_up((size_t)l->chunk[k] * (size_t)world * es);
    }
    return 0;
}

void rl_fsdp_range(const rl_fsdp_layout *l, int k, int rank, int64_t *e0, int64_t *e1) {
    int64_t c = l->chunk[k], n = l->numel[k];
    *e0 = (int64_t)rank * c < n ? (int64_t)rank * c : n;
    *e1 = (int64_t)(rank + 1) * c < n ? (int64_t)(rank + 1) * c : n;
}

/* ---------------------------------------------------------------- setup */

int rl_fsdp_create(rl_fsdp **out, rl_backend *be, rl_comm *comm, const rl_fsdp_layout *l, int64_t n_units,
                   const unsigned char *on_host, int n_slots) {
    *out = NULL;
    if (comm->size != l->world)
        return rl_error_set("fsdp: a layout for %d ranks on a comm of %d (a bug)", l->world, comm->size);
    if (n_slots == 0) n_slots = RL_FSDP_SLOTS;
    if (n_slots < 1 || n_slots > RL_COPY_SLOTS) return rl_error_set("fsdp: %d gather slots asked; 1..%d are possible",
                                                                   n_slots, RL_COPY_SLOTS);
    rl_fsdp *f = calloc(1, sizeof *f);
    if (!f) return rl_error_set("out of host memory for the --fsdp tables");
    /* device buffers go over the world's NCCL twin (--comm) when attached, else through host copies */
    if (be->device != RL_DEVICE_CPU && comm->device) comm = comm->device;
    f->be = be, f->comm = comm, f->l = *l, f->n_units = n_units;
    f->n_slots = n_slots < n_units ? n_slots : (int)n_units;
    f->direct = be->device == RL_DEVICE_CPU || !strcmp(comm->kind, "nccl");
    f->async = f->direct && comm->all_gather_start && comm->all_gather_wait && l->n <= RL_COMM_BATCH_MAX;
    f->shard = calloc((size_t)n_units, sizeof *f->shard);
    f->on_host = calloc((size_t)n_units, 1);
    if (!f->shard || !f->on_host) {
        rl_fsdp_free(f);
        return rl_error_set("out of host memory for the --fsdp tables");
    }
    for (int64_t u = 0; on_host && u < n_units; u++) f->n_host += (f->on_host[u] = on_host[u] != 0);
    if (f->n_host && (!be->host_alloc || !be->copy_async || !be->wait_copy || !be->release_slot)) {
        rl_fsdp_free(f);
        return rl_error_set("--offload-blocks with --fsdp: backend '%s' cannot stream from host memory", be->name);
    }
    for (int s = 0; s < RL_COPY_SLOTS; s++) f->slot_unit[s] = -1;
    *out = f;
    return 0;
}

int rl_fsdp_store(rl_fsdp *f, int64_t u, const void *host_shard) {
    rl_backend *be = f->be;
    size_t nb = f->l.shard_bytes;
    if (u < 0 || u >= f->n_units || f->shard[u]) return rl_error_set("fsdp: unit %lld stored twice (a bug)", (long long)u);
    if (f->on_host[u]) {
        void *p = be->host_alloc(be, nb);
        if (!p) return rl_error_wrap("the pinned --fsdp shard of unit %lld", (long long)u);
        memcpy(p, host_shard, nb);
        f->shard[u] = p;
        return 0;
    }
    void *p = be->alloc(be, nb);
    if (!p) return rl_error_wrap("the --fsdp shard of unit %lld", (long long)u);
    if (be->upload(be, p, host_shard, nb) != 0) {
        be->free(be, p, nb);
        return -1;
    }
    f->shard[u] = p;
    return 0;
}

int rl_fsdp_fetch(rl_fsdp *f, int64_t u, void *host_shard) {
    if (u < 0 || u >= f->n_units || !f->shard[u]) return rl_error_set("fsdp: unit %lld has no shard", (long long)u);
    if (f->on_host[u]) {
        memcpy(host_shard, f->shard[u], f->l.shard_bytes);
        return 0;
    }
    return f->be->download(f->be, host_shard, f->shard[u], f->l.shard_bytes);
}

int rl_fsdp_alloc_slots(rl_fsdp *f) {
    rl_backend *be = f->be;
    for (int s = 0; s < f->n_slots; s++) {
        if (!(f->slot[s] = be->alloc(be, f->l.full_bytes)))
            return rl_error_wrap("the --fsdp gather buffers (%d of %zu bytes)", f->n_slots, f->l.full_bytes);
        if (f->n_host && f->direct && !(f->shard_slot[s] = be->alloc(be, f->l.shard_bytes)))
            return rl_error_wrap("the --fsdp shard buffers of --offload-blocks (%d of %zu bytes)", f->n_slots,
                                 f->l.shard_bytes);
    }
    if (!f->direct) {
        f->stage_send = malloc(f->l.shard_bytes);
        f->stage_recv = malloc(f->l.full_bytes);
        if (!f->stage_send || !f->stage_recv)
            return rl_error_set("out of host memory for the --fsdp staging buffers (%zu bytes)",
                                f->l.shard_bytes + f->l.full_bytes);
    }
    return 0;
}

void rl_fsdp_free(rl_fsdp *f) {
    if (!f) return;
    rl_backend *be = f->be;
    for (int s = 0; s < RL_COPY_SLOTS; s++) /* a pass that failed half way may leave gathers out */
        if (f->pending[s]) (void)f->comm->all_gather_wait(f->comm, s), f->pending[s] = 0;
    (void)be->synchronize(be); /* no copy or gather may still use a buffer freed here */
    for (int s = 0; s < RL_COPY_SLOTS; s++) {
        if (f->slot[s]) be->free(be, f->slot[s], f->l.full_bytes);
        if (f->shard_slot[s]) be->free(be, f->shard_slot[s], f->l.shard_bytes);
    }
    for (int64_t u = 0; f->shard && u < f->n_units; u++) {
        if (!f->shard[u]) continue;
        if (f->on_host[u]) be->host_free(be, f->shard[u], f->l.shard_bytes);
        else be->free(be, f->shard[u], f->l.shard_bytes);
    }
    free(f->shard);
    free(f->on_host);
    free(f->stage_send);
    free(f->stage_recv);
    free(f);
}

int rl_fsdp_sum_f32(rl_fsdp *f, float *buf, size_t count) {
    rl_comm *c = f->comm;
    if (f->direct) return c->all_reduce_sum_f32(c, buf, count);
    float *h = malloc(count * sizeof *h + 1);
    if (!h) return rl_error_set("out of host memory staging an --fsdp sum (%zu floats)", count);
    int rc = f->be->download(f->be, h, buf, count * sizeof *h);
    if (rc == 0) rc = c->all_reduce_sum_f32(c, h, count);
    if (rc == 0) rc = f->be->upload(f->be, buf, h, count * sizeof *h);
    free(h);
    return rc;
}

size_t rl_fsdp_device_bytes(const rl_fsdp *f) {
    if (!f) return 0;
    size_t n = (size_t)(f->n_units - f->n_host) * f->l.shard_bytes + (size_t)f->n_slots * f->l.full_bytes;
    if (f->n_host && f->direct) n += (size_t)f->n_slots * f->l.shard_bytes;
    return n;
}
size_t rl_fsdp_host_bytes(const rl_fsdp *f) { return f ? (size_t)f->n_host * f->l.shard_bytes : 0; }
double rl_fsdp_gather_seconds(const rl_fsdp *f) { return f ? f->gather_seconds : 0; }
int rl_fsdp_overlaps(const rl_fsdp *f) { return f ? f->async : 0; }

/* ---------------------------------------------------------------- the pass */

/* Unit u's parameters into slot s: one all-gather per tensor, issued as one
 * nonblocking batch on lane s (async), else done here. */
static int gather(rl_fsdp *f, int64_t u, int s) {
    rl_backend *be = f->be;
    rl_comm *c = f->comm;
    const rl_fsdp_layout *l = &f->l;
    double t0 = rl_time_now();
    const uint8_t *src = f->shard[u];
    if (f->direct && f->on_host[u]) { /* pinned shard -> device shard slot, ordered by the slot's events */
        RL_TRY(be->copy_async(be, f->shard_slot[s], src, l->shard_bytes, s));
        if (!f->async) RL_TRY(be->wait_copy(be, s)); /* async: the comm's batch waits for the lane's copy */
        src = f->shard_slot[s];
    } else if (!f->direct && !f->on_host[u]) {
        RL_TRY(be->download(be, f->stage_send, src, l->shard_bytes));
        src = f->stage_send;
    }
    uint8_t *dst = f->direct ? f->slot[s] : f->stage_recv;
    const void *send[RL_FSDP_MAX_TENSORS];
    void *recv[RL_FSDP_MAX_TENSORS];
    size_t bytes[RL_FSDP_MAX_TENSORS];
    for (int k = 0; k < l->n; k++) {
        send[k] = src + l->shard_off[k], recv[k] = dst + l->full_off[k];
        bytes[k] = (size_t)l->chunk[k] * rl_dtype_size(l->dtype[k]);
        if (!f->async && c->all_gather(c, send[k], recv[k], bytes[k]) != 0)
            return rl_error_wrap("rank %d: --fsdp gathering unit %lld", c->rank, (long long)u);
    }
    if (f->async) {
        if (c->all_gather_start(c, l->n, send, recv, bytes, s) != 0)
            return rl_error_wrap("rank %d: --fsdp starting the gathers of unit %lld", c->rank, (long long)u);
        f->pending[s] = 1;
    }
    if (!f->direct) RL_TRY(be->upload(be, f->slot[s], f->stage_recv, l->full_bytes));
    f->gather_seconds += rl_time_now() - t0;
    return 0;
}

/* The slot's gather batch finished (MPI) or ordered before what the compute stream runs next (NCCL). */
static int gather_wait(rl_fsdp *f, int s) {
    if (!f->pending[s]) return 0;
    double t0 = rl_time_now();
    f->pending[s] = 0;
    if (f->comm->all_gather_wait(f->comm, s) != 0)
        return rl_error_wrap("rank %d: --fsdp gathering unit %lld", f->comm->rank, (long long)f->slot_unit[s]);
    f->gather_seconds += rl_time_now() - t0;
    return 0;
}

/* Gathers the next units in order into every free slot. */
static int prefetch(rl_fsdp *f) {
    for (int s = 0; s < f->n_slots && f->next < f->n_units; s++) {
        if (f->slot_unit[s] != -1) continue;
        RL_TRY(gather(f, f->next, s));
        f->slot_unit[s] = f->next++;
    }
    return 0;
}

int rl_fsdp_begin(rl_fsdp *f) {
    /* a pass that failed half way may have left slots handed out */
    for (int s = 0; s < f->n_slots; s++) {
        RL_TRY(gather_wait(f, s)); /* the lane must be free for this pass's batch */
        if (f->slot_busy[s] && f->direct && f->be->release_slot) RL_TRY(f->be->release_slot(f->be, s));
        f->slot_busy[s] = 0;
        f->slot_unit[s] = -1;
    }
    f->next = 0;
    return prefetch(f);
}

static int slot_of(const rl_fsdp *f, int64_t u) {
    for (int s = 0; s < f->n_slots; s++)
        if (f->slot_unit[s] == u) return s;
    return -1;
}

int rl_fsdp_ready(rl_fsdp *f, int64_t u, uint8_t **full) {
    int s = slot_of(f, u);
    if (s < 0) return rl_error_set("fsdp: unit %lld was not gathered (units must run in order; a bug)", (long long)u);
    RL_TRY(gather_wait(f, s));
    f->slot_busy[s] = 1;
    *full = f->slot[s];
    return 0;
}

int rl_fsdp_release(rl_fsdp *f, int64_t u) {
    int s = slot_of(f, u);
    if (s < 0 || !f->slot_busy[s]) return rl_error_set("fsdp: unit %lld released but not in use (a bug)", (long long)u);
    /* the next copy into this slot's shard slot, and the next gather into the slot, wait for the unit's ops */
    if (f->direct && f->be->release_slot) RL_TRY(f->be->release_slot(f->be, s));
    f->slot_busy[s] = 0;
    f->slot_unit[s] = -1;
    return prefetch(f);
}
