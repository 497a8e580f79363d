/* wan_dit_fsdp.h: the Wan DiT's blocks sharded over the ranks (--fsdp), on
 * parallel/fsdp.h.
 *
 * Conventions
 * - Each rank reads from the file only its chunk of every block tensor (the 27
 *   tensors of wan_block_tensors; element range [r*c, (r+1)*c), c = ceil(n/W)),
 *   converted to the weight dtype (fp8 dequantised with the tensor's scale), and
 *   keeps it: on the device, or for the --offload-blocks N blocks (chosen as
 *   block swap chooses them) in pinned host memory.
 * - The non-block weights (patch, text and time embeddings, time projection,
 *   head) are small and stay whole on every rank.
 * - The block loop asks wan_fsdp_ready(i) for block i's gathered weights (views
 *   into a gather slot, same bytes as a whole load) and says wan_fsdp_release(i)
 *   after; the next block is gathered as soon as a slot frees. */
#ifndef RL_WAN_DIT_FSDP_H
#define RL_WAN_DIT_FSDP_H

#include "models/wan_dit.h"
#include "parallel/fsdp.h"

/* One block's shard layout in weight dtype wdt over world ranks. */
int wan_fsdp_block_layout(const rl_wan_dit_config *c, rl_dtype wdt, int world, rl_fsdp_layout *l);
/* Device bytes of the sharded blocks as the planner counts them: resident shards
 * of L - n_offload blocks, the gather slots, and (n_offload > 0) the shard slots;
 * *host gets the pinned bytes of the offloaded shards. */
size_t wan_fsdp_predict(const rl_wan_dit_config *c, rl_dtype wdt, int world, int n_offload, size_t *host,
                        int *slots);

/* Reads this rank's shard of every block from w (after the non-block weights)
 * and sets m->fsdp; comm->size > 1. n_offload blocks keep their shard in pinned
 * host memory. Adds the resident shards to w->device_bytes. */
int wan_fsdp_load(rl_wan_dit *m, rl_weights *w, rl_comm *comm, int n_offload);
void wan_fsdp_free(rl_wan_fsdp *fs);

int wan_fsdp_begin(rl_wan_fsdp *fs);
/* Block i's weights gathered on the device (views into a gather slot). */
int wan_fsdp_ready(rl_wan_fsdp *fs, rl_wan_dit *m, int64_t i, const rl_wan_block **blk);
int wan_fsdp_release(rl_wan_fsdp *fs, int64_t i);

int wan_fsdp_world(const rl_wan_fsdp *fs);          /* ranks (1 for NULL) */
int wan_fsdp_offload_blocks(const rl_wan_fsdp *fs); /* blocks whose shard is in pinned host memory */
size_t wan_fsdp_host_bytes(const rl_wan_fsdp *fs);
uint64_t wan_fsdp_bytes_read(const rl_wan_fsdp *fs); /* file bytes read for the block shards by this rank */
double wan_fsdp_gather_seconds(const rl_wan_fsdp *fs);
const rl_fsdp_layout *wan_fsdp_layout(const rl_wan_fsdp *fs);
/* Block i's shard, as stored (layout shard_bytes), into host memory (tests). */
int wan_fsdp_fetch_shard(rl_wan_fsdp *fs, int64_t i, void *host);

#endif
