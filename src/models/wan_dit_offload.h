/* wan_dit_offload.h: block swap for the Wan DiT (--offload-blocks N) and the
 * memory planner behind --auto-plan.
 *
 * Conventions
 * - N of the model's blocks keep their weights in pinned host memory, each block
 *   packed into one buffer (tensors in a fixed order, 256-byte aligned); the other
 *   blocks and every non-block weight stay on the device. Offloaded blocks are
 *   spread evenly over the depth, so each copy has resident blocks to hide behind.
 * - A few device slots (2 by default) rotate: while block i computes, the next
 *   offloaded block's copy runs on the backend's copy stream; the block loop asks
 *   wan_offload_ready() for block i's weights and says wan_offload_release() after.
 *   Ordering is by backend events, never host waits. The weights are the same
 *   bytes, so the forward is bit-identical to the resident model's.
 * - Every function takes a NULL offload (nothing offloaded): ready hands back
 *   &m->blocks[i], the rest do nothing.
 * - The planner predicts device bytes as the allocator counts them (rl_mem):
 *   resident weights + slots + the activation arena (wan_dit_activation_bytes)
 *   + the caller's extra (latents, text context). */
#ifndef RL_WAN_DIT_OFFLOAD_H
#define RL_WAN_DIT_OFFLOAD_H

#include "models/wan_dit.h"

#define WAN_OFFLOAD_SLOTS 2 /* default device slots */
#define WAN_BLOCK_TENSORS 27 /* tensors of one block, in the packing order of wan_block_tensors */

/* Pointers to a block's tensors in the packing order (modulation, self_attn
 * q/k/v/o weight and bias, norm_q, norm_k, norm3 weight and bias, cross_attn as
 * self_attn, ffn.0 weight and bias, ffn.2 weight and bias). */
void wan_block_tensors(rl_wan_block *b, rl_tensor **t);
/* A block's tensor headers (no storage) as wan_dit.c loads them. */
void wan_block_shapes(const rl_wan_dit_config *c, rl_dtype wdt, rl_wan_block *b);
/* 1 when block i of L is among the n offloaded ones (spread evenly over the depth). */
int wan_offload_picks(int64_t L, int64_t n, int64_t i);

/* Decides which blocks go to host memory (n_offload of cfg->num_layers, spread
 * evenly); nothing is allocated yet. n_slots 0 = WAN_OFFLOAD_SLOTS. -1 with an
 * error naming --offload-blocks when n_offload is out of range. */
int wan_offload_create(rl_wan_offload **out, rl_backend *be, const rl_wan_dit_config *cfg, int n_offload,
                       int n_slots);
/* 1 when block i lives in host memory. */
int wan_offload_is_host(const rl_wan_offload *o, int64_t i);
/* Moves the freshly loaded block i (device tensors) into one pinned host buffer
 * and frees its device tensors; blk keeps shapes and dtypes, data NULL.
 * *device_freed receives the bytes given back to the device. */
int wan_offload_take(rl_wan_offload *o, int64_t i, rl_wan_block *blk, size_t *device_freed);
/* The device slots, after every block has been taken. */
int wan_offload_alloc_slots(rl_wan_offload *o);
/* Once per forward, before block 0: queues the first copies. */
int wan_offload_begin(rl_wan_offload *o);
/* Block i's weights, on the device and ordered after their copy. */
int wan_offload_ready(rl_wan_offload *o, rl_wan_dit *m, int64_t i, const rl_wan_block **blk);
/* The compute stream has been given every op reading block i: its slot may be refilled. */
int wan_offload_release(rl_wan_offload *o, int64_t i);
void wan_offload_free(rl_wan_offload *o);

int wan_offload_blocks(const rl_wan_offload *o);     /* N (0 for NULL) */
size_t wan_offload_host_bytes(const rl_wan_offload *o); /* pinned bytes held */
size_t wan_offload_slot_bytes(const rl_wan_offload *o); /* device bytes of all slots */

/* ---------------------------------------------------------------- planner */

/* Device bytes of one block's weights in weight dtype wdt (norms, biases and
 * modulation f32, as loaded); aligned = packed as in a slot. */
size_t wan_dit_block_bytes(const rl_wan_dit_config *c, rl_dtype wdt, int aligned);
/* Device bytes of the weights outside the blocks (embeddings, head). */
size_t wan_dit_other_bytes(const rl_wan_dit_config *c, rl_dtype wdt);

typedef struct {
    int offload_blocks;       /* N */
    int slots;                /* device slots in use (0 when N = 0) */
    size_t weights;           /* resident weights: other + (L - N) blocks */
    size_t slot_bytes;        /* slots x packed block */
    size_t activations;       /* wan_dit_activation_bytes */
    size_t extra;             /* caller's: latents, text context */
    size_t total;             /* the predicted peak */
    size_t host;              /* pinned host bytes: N packed blocks (with fsdp: N shards) */
    int fsdp;                 /* ranks the blocks are sharded over (--fsdp); 1 = whole blocks */
} rl_wan_mem_plan;

/* The predicted peak of a forward over `tokens` tokens with n_offload blocks offloaded. */
void wan_offload_predict(const rl_wan_dit_config *c, rl_dtype wdt, int64_t tokens, size_t extra, int n_offload,
                         int n_slots, rl_wan_mem_plan *p);
/* The least offloading plan whose predicted peak fits `limit` bytes: none, else
 * the smallest N. -1 with the numbers (and what to change) when even every
 * block offloaded does not fit. */
int wan_offload_auto_plan(const rl_wan_dit_config *c, rl_dtype wdt, int64_t tokens, size_t extra, size_t limit,
                          int n_slots, rl_wan_mem_plan *p);
/* The same with the blocks sharded over fsdp_world ranks (1 = whole blocks, as
 * above; slots then come from the FSDP layer): weights = other + (L - N) shards,
 * slot_bytes = gather slots x gathered block (+ shard slots when N > 0). */
void wan_mem_predict(const rl_wan_dit_config *c, rl_dtype wdt, int64_t tokens, size_t extra, int n_offload,
                     int fsdp_world, rl_wan_mem_plan *p);
/* The least offloading plan that fits `limit` among: none (unless force_fsdp),
 * fsdp over world ranks (world > 1), then offload N = 1..L (sharded when world > 1
 * or force_fsdp). -1 with the numbers and the flags that would help otherwise. */
int wan_mem_auto_plan(const rl_wan_dit_config *c, rl_dtype wdt, int64_t tokens, size_t extra, size_t limit, int world,
                      int force_fsdp, rl_wan_mem_plan *p);
/* "offload 12 of 40 blocks: predicted peak 15.2 GiB (weights 9.1 GiB, 2 slots 1.3 GiB, activations 4.6 GiB,
 * latents and text 0.1 GiB), 8.2 GiB pinned host memory" */
void wan_offload_describe_plan(const rl_wan_mem_plan *p, int64_t num_layers, char *buf, size_t n);

#endif
