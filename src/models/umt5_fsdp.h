/* umt5_fsdp.h: the umT5 encoder's layers sharded over the ranks (--fsdp), on
 * parallel/fsdp.h, as models/wan_dit_fsdp.h does for the DiT's blocks: each rank
 * reads and keeps its chunk of the 10 tensors of every layer; the layer loop
 * gathers a layer before it runs. The token embedding (vocab x dim) and the
 * final norm stay whole on every rank. */
#ifndef RL_UMT5_FSDP_H
#define RL_UMT5_FSDP_H

#include "models/umt5.h"
#include "parallel/fsdp.h"

#define UMT5_LAYER_TENSORS 10

/* One layer's shard layout in weight dtype wdt over world ranks. */
int umt5_fsdp_layer_layout(const rl_umt5_config *c, rl_dtype wdt, int world, rl_fsdp_layout *l);
/* Reads this rank's shard of every layer from w, sets m->fsdp (comm->size > 1). */
int umt5_fsdp_load(rl_umt5 *m, rl_weights *w, rl_comm *comm);
void umt5_fsdp_free(rl_umt5_fsdp *fs);
int umt5_fsdp_begin(rl_umt5_fsdp *fs);
/* Layer i's weights gathered on the device (views into a gather slot). */
int umt5_fsdp_ready(rl_umt5_fsdp *fs, rl_umt5 *m, int64_t i, const rl_umt5_block **blk);
int umt5_fsdp_release(rl_umt5_fsdp *fs, int64_t i);
uint64_t umt5_fsdp_bytes_read(const rl_umt5_fsdp *fs); /* file bytes read for the layer shards */

#endif
