/* fsdp.h: fully sharded weights (--fsdp): each rank keeps 1/world of a model's
 * repeated units (DiT blocks, text-encoder layers) and all-gathers a unit's
 * parameters into a device buffer just before it runs.
 *
 * Conventions
 * - A unit is a fixed list of tensors (dtype, element count), the same for every
 *   unit of a model. Tensor k of n elements is cut into world chunks of
 *   c = ceil(n / world) elements: rank r holds elements [r*c, min(n, (r+1)*c)),
 *   zero-padded to c (the last ranks may hold padding only). So an all-gather of
 *   the chunks lands the tensor contiguous and in order: the gathered bytes are
 *   the unsharded tensor's bytes, and the forward is bit-identical.
 * - A rank's shard of a unit is one buffer (tensor chunks 256-byte aligned); the
 *   gathered unit is one buffer too (tensor k at full_off[k]); one all-gather per
 *   tensor fills it, issued as one nonblocking batch (rl_comm all_gather_start,
 *   the slot as its lane) so that communication overlaps compute: NCCL on the
 *   backend's comm stream (the compute stream waits for it in ready, the host
 *   never does), MPI with MPI_Iallgather (MPI_Waitall in ready). Through host
 *   copies (a device backend with a host-only comm) the gather is synchronous.
 * - Shards stay resident on the device, or (offloaded units) in pinned host
 *   memory: then they are copied into a device shard slot on the copy stream
 *   before the gather. Gathered units rotate through a few device slots, filled
 *   in forward order ahead of use: the block loop says ready(u) before unit u and
 *   release(u) after it.
 * - The comm is every rank of the world (the FSDP group); with a device backend
 *   its NCCL twin (comm->device, --comm) when attached. A comm that moves host
 *   memory only ("mpi", "self") with a device backend is fed through host copies.
 * - Every rank must run the same units in the same order (collectives). */
#ifndef RL_PARALLEL_FSDP_H
#define RL_PARALLEL_FSDP_H

#include "comm/comm.h"
#include "raylight.h"

#define RL_FSDP_MAX_TENSORS 32
#define RL_FSDP_SLOTS 2 /* gathered units on the device at a time: the one running and the next */

typedef struct {
    int n;                                 /* tensors per unit */
    int world;                             /* ranks the unit is sharded over */
    rl_dtype dtype[RL_FSDP_MAX_TENSORS];
    int64_t numel[RL_FSDP_MAX_TENSORS];
    int64_t chunk[RL_FSDP_MAX_TENSORS];    /* elements per rank: ceil(numel / world) */
    size_t shard_off[RL_FSDP_MAX_TENSORS]; /* byte offset in a rank's shard buffer */
    size_t full_off[RL_FSDP_MAX_TENSORS];  /* byte offset in the gathered buffer */
    size_t shard_bytes, full_bytes;
} rl_fsdp_layout;

/* The layout of units of n tensors (dtypes dt, element counts numel) over world ranks. */
int rl_fsdp_layout_init(rl_fsdp_layout *l, int world, int n, const rl_dtype *dt, const int64_t *numel);
/* Elements [*e0, *e1) of tensor k that rank r holds (may be empty). */
void rl_fsdp_range(const rl_fsdp_layout *l, int k, int rank, int64_t *e0, int64_t *e1);

typedef struct rl_fsdp rl_fsdp;

/* n_units units over comm (not owned; comm->size must equal l->world). on_host
 * (NULL = none) marks units whose shard lives in pinned host memory. n_slots 0 =
 * RL_FSDP_SLOTS. Nothing is allocated on the device yet. */
int rl_fsdp_create(rl_fsdp **out, rl_backend *be, rl_comm *comm, const rl_fsdp_layout *l, int64_t n_units,
                   const unsigned char *on_host, int n_slots);
/* Unit u's shard (l->shard_bytes of host memory, laid out by shard_off) into its
 * resident place: device memory, or pinned host memory for an offloaded unit. */
int rl_fsdp_store(rl_fsdp *f, int64_t u, const void *host_shard);
/* Unit u's shard back into host memory (tests). */
int rl_fsdp_fetch(rl_fsdp *f, int64_t u, void *host_shard);
/* The gather slots (and shard slots for offloaded units), after every store. */
int rl_fsdp_alloc_slots(rl_fsdp *f);
/* Once per pass, before unit 0: gathers the first units. */
int rl_fsdp_begin(rl_fsdp *f);
/* Unit u's gathered parameters (device memory, l->full_bytes). */
int rl_fsdp_ready(rl_fsdp *f, int64_t u, uint8_t **full);
/* Every op reading unit u has been issued: its slot takes the next unit. */
int rl_fsdp_release(rl_fsdp *f, int64_t u);
void rl_fsdp_free(rl_fsdp *f);
/* Elementwise sum over the FSDP ranks of count floats in this backend's memory,
 * in place (through host copies when the comm moves host memory only). For
 * parameters sharded otherwise than by units (the umT5 embedding's rows). */
int rl_fsdp_sum_f32(rl_fsdp *f, float *buf, size_t count);

size_t rl_fsdp_device_bytes(const rl_fsdp *f); /* resident shards + slots on the device */
size_t rl_fsdp_host_bytes(const rl_fsdp *f);   /* pinned shards of offloaded units */
/* Host time spent in gathers so far: issuing them, and waiting for them in
 * ready (MPI: the communication not hidden behind compute; NCCL: issue only). */
double rl_fsdp_gather_seconds(const rl_fsdp *f);
/* 1 when the gathers are nonblocking (they overlap compute), 0 when synchronous. */
int rl_fsdp_overlaps(const rl_fsdp *f);

#endif
