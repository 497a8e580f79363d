/* umt5_fsdp.c: the umT5 layers as FSDP shards; see umt5_fsdp.h. A layer's
 * tensors are listed once (layer_tensors: name, dtype, shape, header in the
 * rl_umt5_block) and that order is the shard and gather layout. */
#include "models/umt5_fsdp.h"

#include <stdlib.h>
#include <string.h>

struct rl_umt5_fsdp {
    rl_fsdp *f;
    rl_fsdp_layout l;
    uint64_t bytes_read;
    rl_umt5_block view; /* the layer handed out by ready */
};

/* Layer i's tensor headers (no storage) in b, their pointers and canonical names in the layout order. */
static void layer_tensors(const rl_umt5_config *c, rl_dtype wt, int64_t i, rl_umt5_block *b, rl_tensor **t,
                          char names[UMT5_LAYER_TENSORS][96]) {
    static const char *const suffix[UMT5_LAYER_TENSORS] = {
        "norm1.weight", "attn.q.weight", "attn.k.weight", "attn.v.weight", "attn.o.weight",
        "pos_embedding.embedding.weight", "norm2.weight", "ffn.gate.0.weight", "ffn.fc1.weight", "ffn.fc2.weight"};
    const int64_t D = c->dim, A = c->dim_attn, F = c->ffn;
    memset(b, 0, sizeof *b);
    b->norm1 = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &D);
    b->q = rl_tensor_make(NULL, wt, RL_DEVICE_CPU, 2, (int64_t[]){A, D});
    b->k = rl_tensor_make(NULL, wt, RL_DEVICE_CPU, 2, (int64_t[]){A, D});
    b->v = rl_tensor_make(NULL, wt, RL_DEVICE_CPU, 2, (int64_t[]){A, D});
    b->o = rl_tensor_make(NULL, wt, RL_DEVICE_CPU, 2, (int64_t[]){D, A});
    b->rel_bias = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 2, (int64_t[]){c->num_buckets, c->heads});
    b->norm2 = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, 1, &D);
    b->gate = rl_tensor_make(NULL, wt, RL_DEVICE_CPU, 2, (int64_t[]){F, D});
    b->fc1 = rl_tensor_make(NULL, wt, RL_DEVICE_CPU, 2, (int64_t[]){F, D});
    b->fc2 = rl_tensor_make(NULL, wt, RL_DEVICE_CPU, 2, (int64_t[]){D, F});
    rl_tensor *all[UMT5_LAYER_TENSORS] = {&b->norm1, &b->q, &b->k, &b->v, &b->o,
                                          &b->rel_bias, &b->norm2, &b->gate, &b->fc1, &b->fc2};
    for (int k = 0; k < UMT5_LAYER_TENSORS; k++) {
        t[k] = all[k];
        if (names) snprintf(names[k], 96, "blocks.%lld.%s", (long long)i, suffix[k]);
    }
}

int umt5_fsdp_layer_layout(const rl_umt5_config *c, rl_dtype wdt, int world, rl_fsdp_layout *l) {
    rl_umt5_block b;
    rl_tensor *t[UMT5_LAYER_TENSORS];
    layer_tensors(c, wdt, 0, &b, t, NULL);
    rl_dtype dt[UMT5_LAYER_TENSORS];
    int64_t numel[UMT5_LAYER_TENSORS];
    for (int k = 0; k < UMT5_LAYER_TENSORS; k++) dt[k] = t[k]->dtype, numel[k] = rl_tensor_numel(t[k]);
    return rl_fsdp_layout_init(l, world, UMT5_LAYER_TENSORS, dt, numel);
}

static int load_layers(rl_umt5_fsdp *fs, rl_umt5 *m, rl_weights *w, int rank, uint8_t *buf) {
    const rl_dtype wt = m->be->weight_dtype;
    for (int64_t i = 0; i < m->cfg.layers; i++) {
        rl_tensor *t[UMT5_LAYER_TENSORS];
        char names[UMT5_LAYER_TENSORS][96];
        layer_tensors(&m->cfg, wt, i, &m->blocks[i], t, names); /* headers only: ready() points them into a slot */
        memset(buf, 0, fs->l.shard_bytes);
        uint64_t before = w->st.bytes_read;
        for (int k = 0; k < UMT5_LAYER_TENSORS; k++) {
            int64_t e0, e1;
            rl_fsdp_range(&fs->l, k, rank, &e0, &e1);
            if (rl_weights_read_part(w, names[k], t[k]->dtype, t[k]->ndim, t[k]->shape, e0, e1,
                                     buf + fs->l.shard_off[k]) != 0)
                return rl_error_wrap("--fsdp: umT5 layer %lld", (long long)i);
        }
        fs->bytes_read += w->st.bytes_read - before;
        RL_TRY(rl_fsdp_store(fs->f, i, buf));
    }
    return 0;
}

int umt5_fsdp_load(rl_umt5 *m, rl_weights *w, rl_comm *comm) {
    rl_umt5_fsdp *fs = calloc(1, sizeof *fs);
    if (!fs) return rl_error_set("out of host memory for the --fsdp tables");
    int rc = umt5_fsdp_layer_layout(&m->cfg, m->be->weight_dtype, comm->size, &fs->l);
    if (rc == 0) rc = rl_fsdp_create(&fs->f, m->be, comm, &fs->l, m->cfg.layers, NULL, 0);
    if (rc != 0) {
        free(fs);
        return -1;
    }
    m->fsdp = fs; /* from here umt5_free frees it */
    uint8_t *buf = malloc(fs->l.shard_bytes);
    rc = buf ? load_layers(fs, m, w, comm->rank, buf) : rl_error_set("out of host memory for a --fsdp shard");
    free(buf);
    RL_TRY(rc);
    w->device_bytes += (size_t)m->cfg.layers * fs->l.shard_bytes;
    return rl_fsdp_alloc_slots(fs->f);
}

void umt5_fsdp_free(rl_umt5_fsdp *fs) {
    if (!fs) return;
    rl_fsdp_free(fs->f);
    free(fs);
}

int umt5_fsdp_begin(rl_umt5_fsdp *fs) { return rl_fsdp_begin(fs->f); }

int umt5_fsdp_ready(rl_umt5_fsdp *fs, rl_umt5 *m, int64_t i, const rl_umt5_block **blk) {
    uint8_t *full;
    RL_TRY(rl_fsdp_ready(fs->f, i, &full));
    rl_tensor *t[UMT5_LAYER_TENSORS];
    layer_tensors(&m->cfg, m->be->weight_dtype, i, &fs->view, t, NULL);
    for (int k = 0; k < UMT5_LAYER_TENSORS; k++) {
        t[k]->data = full + fs->l.full_off[k];
        t[k]->device = m->be->device;
    }
    *blk = &fs->view;
    return 0;
}

int umt5_fsdp_release(rl_umt5_fsdp *fs, int64_t i) { return rl_fsdp_release(fs->f, i); }
uint64_t umt5_fsdp_bytes_read(const rl_umt5_fsdp *fs) { return fs ? fs->bytes_read : 0; }
