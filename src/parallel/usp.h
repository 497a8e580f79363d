/* usp.h: unified sequence parallelism (USP) for self-attention: Ulysses
 * all-to-all (tokens <-> heads) and ring attention (K/V blocks passed around a
 * ring, partial results merged by their log-sum-exp), in any mix
 * ulysses x ring, plus the communicators of a parallel plan.
 *
 * Conventions
 * - The token sequence of N real tokens is padded to Np = sp * ceil(N / sp)
 *   (sp = ulysses * ring); sequence rank s holds tokens [s*n, s*n + n), n = Np/sp.
 *   Padded keys are masked out of every softmax (kv_len), padded query rows are
 *   computed and discarded by the caller.
 * - Communication goes through rl_comm only. The attention exchanges use the
 *   world's device twin (world->device, NCCL) when the backend is a device and
 *   one is attached: device pointers on the backend's stream. Otherwise, when
 *   the comm moves host memory ("mpi", "self") and the tensors live on a device,
 *   buffers are staged through host memory.
 * - The ring merge is the backend's attention_merge op on an fp32 running
 *   result: partial outputs never leave the device.
 * - Exchange time: NCCL operations are timed by events on the stream (device
 *   time, no host waits), host exchanges by the wall clock (staged ones after a
 *   synchronisation, so queued compute is not counted). */
#ifndef RL_PARALLEL_USP_H
#define RL_PARALLEL_USP_H

#include "comm/comm.h"
#include "parallel/plan.h"
#include "raylight.h"

#define RL_USP_SCRATCH 12

typedef struct {
    rl_plan plan;
    rl_plan_coords me;
    rl_comm *world;   /* not owned */
    rl_comm *sp;      /* the ranks of my CFG group, which split the sequence */
    rl_comm *ulysses; /* my Ulysses group (neighbouring sequence ranks) */
    rl_comm *ring;    /* the ranks with my Ulysses index in my CFG group */
    rl_comm *dev_ulysses, *dev_ring; /* the same two groups over world->device (NCCL), or NULL */
    /* Benchmarks on one rank: with sp = 1, run the Ulysses all-to-all and a ring
     * step with this rank as its own peer (the second ring block is the first
     * one again: merging two equal partials gives the same output), so the
     * exchange code paths run and their cost can be measured on one GPU. */
    int self_exchange;
    rl_backend *be;
    void *scratch[RL_USP_SCRATCH]; /* device buffers, grown on demand */
    size_t scratch_bytes[RL_USP_SCRATCH];
    void *host[4];                 /* host staging and merge buffers */
    size_t host_bytes[4];
    /* accumulated over calls, for reports and benchmarks */
    double comm_seconds, attention_seconds;
    int64_t calls;
} rl_usp;

/* Splits the world into the plan's groups. world->size must equal plan->world. */
int rl_usp_init(rl_usp *u, rl_comm *world, const rl_plan *plan, rl_backend *be);
void rl_usp_free(rl_usp *u);

/* This rank's token slice of a sequence of N tokens: [*token0, *token0 + *n);
 * the slice may reach past N (padding). */
void rl_usp_slice(const rl_usp *u, int64_t N, int64_t *token0, int64_t *n);

/* Self-attention of this rank's queries over the whole sequence, with the
 * signature of rl_wan_self_attention_fn (ctx = the rl_usp): q, k, v, out
 * [1, n, H, d] hold this rank's n tokens (RoPE applied); keys at global
 * positions >= kv_len are padding. Every rank of the sequence group must call
 * it with the same n and kv_len. */
int rl_usp_attention(void *ctx, rl_backend *be, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                     const rl_tensor *v, int64_t kv_len);

/* Gathers every sequence rank's rows [n, row_floats] (host f32) into
 * all[Np, row_floats] on every rank of the sequence group (and adds the device
 * exchange time so far to comm_seconds). */
int rl_usp_gather_rows(rl_usp *u, const float *mine, int64_t n, int64_t row_floats, float *all);

/* Adds the device time of the NCCL exchanges since the last call to
 * comm_seconds (waits for them) and returns comm_seconds. */
double rl_usp_comm_seconds(rl_usp *u);

#endif
