/* wan_dit_fsdp.c: the DiT's blocks as FSDP shards; see wan_dit_fsdp.h.
 *
 * A block's 27 tensors keep the packing order of block swap (wan_block_tensors),
 * so a gathered block is a view like a streamed one: the block's tensor headers
 * (m->blocks[i], data NULL) pointed into the gather slot at the layout's offsets.
 */
#include "models/wan_dit_fsdp.h"

#include "models/wan_dit_offload.h"

#include <stdlib.h>
#include <string.h>

struct rl_wan_fsdp {
    rl_fsdp *f;
    rl_fsdp_layout l;
    int n_offload;
    uint64_t bytes_read;              /* file bytes of this rank's block shards */
    rl_wan_block view[RL_COPY_SLOTS]; /* blocks handed out by ready, pointing into gather slots */
    int64_t view_block[RL_COPY_SLOTS];
};

/* Canonical names of block i's tensors in the packing order of wan_block_tensors. */
static void block_names(int64_t i, char names[WAN_BLOCK_TENSORS][96]) {
    static const char *const proj[4] = {"q", "k", "v", "o"}, *const attn[2] = {"self_attn", "cross_attn"};
    int k = 0;
    long long b = (long long)i;
    snprintf(names[k++], 96, "blocks.%lld.modulation", b);
    for (int a = 0; a < 2; a++) {
        for (int j = 0; j < 4; j++) {
            snprintf(names[k++], 96, "blocks.%lld.%s.%s.weight", b, attn[a], proj[j]);
            snprintf(names[k++], 96, "blocks.%lld.%s.%s.bias", b, attn[a], proj[j]);
        }
        snprintf(names[k++], 96, "blocks.%lld.%s.norm_q.weight", b, attn[a]);
        snprintf(names[k++], 96, "blocks.%lld.%s.norm_k.weight", b, attn[a]);
        if (a == 0) {
            snprintf(names[k++], 96, "blocks.%lld.norm3.weight", b);
            snprintf(names[k++], 96, "blocks.%lld.norm3.bias", b);
        }
    }
    snprintf(names[k++], 96, "blocks.%lld.ffn.0.weight", b);
    snprintf(names[k++], 96, "blocks.%lld.ffn.0.bias", b);
    snprintf(names[k++], 96, "blocks.%lld.ffn.2.weight", b);
    snprintf(names[k++], 96, "blocks.%lld.ffn.2.bias", b);
}

int wan_fsdp_block_layout(const rl_wan_dit_config *c, rl_dtype wdt, int world, rl_fsdp_layout *l) {
    rl_wan_block b;
    rl_tensor *t[WAN_BLOCK_TENSORS];
    wan_block_shapes(c, wdt, &b);
    wan_block_tensors(&b, t);
    rl_dtype dt[WAN_BLOCK_TENSORS];
    int64_t numel[WAN_BLOCK_TENSORS];
    for (int k = 0; k < WAN_BLOCK_TENSORS; k++) dt[k] = t[k]->dtype, numel[k] = rl_tensor_numel(t[k]);
    return rl_fsdp_layout_init(l, world, WAN_BLOCK_TENSORS, dt, numel);
}

size_t wan_fsdp_predict(const rl_wan_dit_config *c, rl_dtype wdt, int world, int n_offload, size_t *host,
                        int *slots) {
    rl_fsdp_layout l;
    *host = 0, *slots = 0;
    if (wan_fsdp_block_layout(c, wdt, world, &l) != 0) return 0;
    int s = c->num_layers < RL_FSDP_SLOTS ? (int)c->num_layers : RL_FSDP_SLOTS;
    size_t dev = (size_t)(c->num_layers - n_offload) * l.shard_bytes + (size_t)s * l.full_bytes;
    if (n_offload > 0) dev += (size_t)s * l.shard_bytes; /* shard slots (a conservative count without NCCL) */
    *host = (size_t)n_offload * l.shard_bytes;
    *slots = s;
    return dev;
}

/* Block i's shard for this rank read from w into buf (l->shard_bytes, zeroed). */
static int read_shard(rl_wan_fsdp *fs, rl_weights *w, const rl_wan_dit_config *c, rl_dtype wdt, int rank, int64_t i,
                      uint8_t *buf) {
    rl_wan_block b;
    rl_tensor *t[WAN_BLOCK_TENSORS];
    char names[WAN_BLOCK_TENSORS][96];
    wan_block_shapes(c, wdt, &b);
    wan_block_tensors(&b, t);
    block_names(i, names);
    memset(buf, 0, fs->l.shard_bytes);
    uint64_t before = w->random ? 0 : w->st.bytes_read;
    for (int k = 0; k < WAN_BLOCK_TENSORS; k++) {
        int64_t e0, e1;
        rl_fsdp_range(&fs->l, k, rank, &e0, &e1);
        RL_TRY(rl_weights_read_part(w, names[k], t[k]->dtype, t[k]->ndim, t[k]->shape, e0, e1,
                                    buf + fs->l.shard_off[k]));
    }
    if (!w->random) fs->bytes_read += w->st.bytes_read - before;
    return 0;
}

int wan_fsdp_load(rl_wan_dit *m, rl_weights *w, rl_comm *comm, int n_offload) {
    const rl_wan_dit_config *c = &m->cfg;
    const int64_t L = c->num_layers;
    rl_backend *be = m->be;
    if (n_offload < 0 || n_offload > L)
        return rl_error_set("--offload-blocks %d: the model has %lld blocks; give 0..%lld", n_offload, (long long)L,
                            (long long)L);
    rl_wan_fsdp *fs = calloc(1, sizeof *fs);
    unsigned char *on_host = calloc((size_t)L, 1);
    uint8_t *buf = NULL;
    int rc = fs && on_host ? 0 : rl_error_set("out of host memory for the --fsdp tables");
    if (rc == 0) rc = wan_fsdp_block_layout(c, be->weight_dtype, comm->size, &fs->l);
    for (int64_t i = 0; rc == 0 && i < L; i++) on_host[i] = (unsigned char)wan_offload_picks(L, n_offload, i);
    if (rc == 0) rc = rl_fsdp_create(&fs->f, be, comm, &fs->l, L, on_host, 0);
    if (rc == 0) m->fsdp = fs; /* from here wan_dit_free frees it */
    else if (fs) free(fs);
    free(on_host);
    RL_TRY(rc);
    fs->n_offload = n_offload;
    for (int s = 0; s < RL_COPY_SLOTS; s++) fs->view_block[s] = -1;
    if (!(buf = malloc(fs->l.shard_bytes))) return rl_error_set("out of host memory for a --fsdp shard");
    for (int64_t i = 0; rc == 0 && i < L; i++) {
        wan_block_shapes(c, be->weight_dtype, &m->blocks[i]); /* headers only: ready() points them into a slot */
        rc = read_shard(fs, w, c, be->weight_dtype, comm->rank, i, buf);
        if (rc == 0) rc = rl_fsdp_store(fs->f, i, buf);
        if (rc != 0) rl_error_wrap("--fsdp: DiT block %lld", (long long)i);
    }
    free(buf);
    RL_TRY(rc);
    w->device_bytes += (size_t)(L - n_offload) * fs->l.shard_bytes;
    return rl_fsdp_alloc_slots(fs->f);
}

void wan_fsdp_free(rl_wan_fsdp *fs) {
    if (!fs) return;
    rl_fsdp_free(fs->f);
    free(fs);
}

int wan_fsdp_begin(rl_wan_fsdp *fs) {
    for (int s = 0; s < RL_COPY_SLOTS; s++) fs->view_block[s] = -1;
    return rl_fsdp_begin(fs->f);
}

int wan_fsdp_ready(rl_wan_fsdp *fs, rl_wan_dit *m, int64_t i, const rl_wan_block **blk) {
    uint8_t *full;
    RL_TRY(rl_fsdp_ready(fs->f, i, &full));
    int s = 0;
    while (s < RL_COPY_SLOTS - 1 && fs->view_block[s] != -1) s++;
    fs->view_block[s] = i;
    rl_wan_block *v = &fs->view[s];
    *v = m->blocks[i];
    rl_tensor *t[WAN_BLOCK_TENSORS];
    wan_block_tensors(v, t);
    for (int k = 0; k < WAN_BLOCK_TENSORS; k++) {
        t[k]->data = full + fs->l.full_off[k];
        t[k]->device = m->be->device;
    }
    *blk = v;
    return 0;
}

int wan_fsdp_release(rl_wan_fsdp *fs, int64_t i) {
    for (int s = 0; s < RL_COPY_SLOTS; s++)
        if (fs->view_block[s] == i) fs->view_block[s] = -1;
    return rl_fsdp_release(fs->f, i);
}

int wan_fsdp_world(const rl_wan_fsdp *fs) { return fs ? fs->l.world : 1; }
int wan_fsdp_offload_blocks(const rl_wan_fsdp *fs) { return fs ? fs->n_offload : 0; }
size_t wan_fsdp_host_bytes(const rl_wan_fsdp *fs) { return fs ? rl_fsdp_host_bytes(fs->f) : 0; }
uint64_t wan_fsdp_bytes_read(const rl_wan_fsdp *fs) { return fs ? fs->bytes_read : 0; }
double wan_fsdp_gather_seconds(const rl_wan_fsdp *fs) { return fs ? rl_fsdp_gather_seconds(fs->f) : 0; }
const rl_fsdp_layout *wan_fsdp_layout(const rl_wan_fsdp *fs) { return fs ? &fs->l : NULL; }
int wan_fsdp_fetch_shard(rl_wan_fsdp *fs, int64_t i, void *host) { return rl_fsdp_fetch(fs->f, i, host); }
