/* umt5_fsdp.h: the umT5 encoder's layers and token embedding sharded over the
 * ranks (--fsdp), on parallel/fsdp.h, as models/wan_dit_fsdp.h does for the
 * DiT's blocks: each rank reads and keeps its chunk of the 10 tensors of every
 * layer; the layer loop gathers a layer before it runs. The token embedding
 * (vocab x dim, 2 GiB in bf16 for umT5-XXL) is cut by vocabulary rows: rank r
 * reads and keeps rows [r*c, (r+1)*c), c = ceil(vocab / W), looks up the ids
 * in its rows (a row of -0.0 for the others) and a sum over the ranks gives
 * every rank the embedded tokens, bit for bit (x + -0.0 = x). The final norm
 * stays whole. */
#ifndef RL_UMT5_FSDP_H
#define RL_UMT5_FSDP_H

#include "models/umt5.h"
#include "parallel/fsdp.h"

#define UMT5_LAYER_TENSORS 10

/* One layer's shard layout in weight dtype wdt over world ranks. */
int umt5_fsdp_layer_layout(const rl_umt5_config *c, rl_dtype wdt, int world, rl_fsdp_layout *l);
/* Reads this rank's shard of every layer and its embedding rows from w, sets
 * m->fsdp (comm->size > 1). m->token_embedding is the table's header only
 * (dtype, [vocab, dim], no storage). */
int umt5_fsdp_load(rl_umt5 *m, rl_weights *w, rl_comm *comm);
/* The vocabulary rows [*r0, *r1) rank `rank` of `world` holds (may be empty). */
void umt5_fsdp_vocab_range(int64_t vocab, int world, int rank, int64_t *r0, int64_t *r1);
/* x f32 [L, D] (device) = the embedding rows of the L host ids (checked, in
 * [0, vocab)), every rank calling with the same ids; dev_ids is an i32 [L]
 * device buffer it uses. */
int umt5_fsdp_embed(rl_umt5_fsdp *fs, const int32_t *ids, int64_t L, rl_tensor *dev_ids, rl_tensor *x);
void umt5_fsdp_free(rl_umt5_fsdp *fs);
int umt5_fsdp_begin(rl_umt5_fsdp *fs);
/* Layer i's weights gathered on the device (views into a gather slot). */
int umt5_fsdp_ready(rl_umt5_fsdp *fs, rl_umt5 *m, int64_t i, const rl_umt5_block **blk);
int umt5_fsdp_release(rl_umt5_fsdp *fs, int64_t i);
uint64_t umt5_fsdp_bytes_read(const rl_umt5_fsdp *fs); /* file bytes read for the layer shards and embedding rows */

#endif
