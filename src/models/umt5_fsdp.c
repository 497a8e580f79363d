/* umt5_fsdp.c: the umT5 layers and token embedding as FSDP shards; see
 * umt5_fsdp.h. A layer's tensors are listed once (layer_tensors: name, dtype,
 * shape, header in the rl_umt5_block) and that order is the shard and gather
 * layout. The embedding is cut by vocabulary rows instead: a lookup needs a
 * few rows, never the whole table, so it is never gathered; each rank looks up
 * the ids in its rows and a sum over the ranks assembles the embedded tokens. */
#include "models/umt5_fsdp.h"

#include <stdlib.h>
#include <string.h>

#define EMB_PIECE_BYTES ((size_t)64 << 20) /* host memory per read of embedding rows */

struct rl_umt5_fsdp {
    rl_fsdp *f;
    rl_fsdp_layout l;
    uint64_t bytes_read;   /* file bytes of this rank's layer shards and embedding rows */
    rl_umt5_block view;    /* the layer handed out by ready */
    rl_tensor emb;         /* [rows_per_rank + 1, D] on the device: vocabulary rows [emb_r0, emb_r0 + emb_rows)
                            * from row 0, then zeros (padding), the last row all -0.0 */
    int64_t emb_r0, emb_rows;
    rl_backend *be;
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

void umt5_fsdp_vocab_range(int64_t vocab, int world, int rank, int64_t *r0, int64_t *r1) {
    int64_t c = (vocab + world - 1) / world;
    *r0 = (int64_t)rank * c < vocab ? (int64_t)rank * c : vocab;
    *r1 = (int64_t)(rank + 1) * c < vocab ? (int64_t)(rank + 1) * c : vocab;
}

/* Rows [r0, r1) of the embedding (dtype and shape of table's header) into host
 * memory dst, a piece at a time (a whole-table conversion buffer would be GiBs). */
static int read_rows(rl_weights *w, const rl_tensor *table, int64_t r0, int64_t r1, uint8_t *dst) {
    const int64_t D = table->shape[1];
    const size_t row = (size_t)D * rl_dtype_size(table->dtype);
    int64_t piece = (int64_t)(EMB_PIECE_BYTES / ((size_t)D * sizeof(float)));
    if (piece < 1) piece = 1;
    for (int64_t a = r0; a < r1; a += piece) {
        int64_t b = a + piece < r1 ? a + piece : r1;
        RL_TRY(rl_weights_read_part(w, "token_embedding.weight", table->dtype, 2, table->shape, a * D, b * D,
                                    dst + (size_t)(a - r0) * row));
    }
    return 0;
}

/* This rank's vocabulary rows of the table whose header (dtype, [V, D]) is m->token_embedding. */
static int load_embedding(rl_umt5_fsdp *fs, rl_umt5 *m, rl_weights *w, rl_comm *comm) {
    rl_backend *be = m->be;
    const rl_tensor *t = &m->token_embedding;
    const int64_t V = t->shape[0], D = t->shape[1], c = (V + comm->size - 1) / comm->size;
    int64_t r1;
    umt5_fsdp_vocab_range(V, comm->size, comm->rank, &fs->emb_r0, &r1);
    fs->emb_rows = r1 - fs->emb_r0;
    fs->emb = rl_tensor_make(NULL, t->dtype, be->device, 2, (int64_t[]){c + 1, D});
    const size_t nb = rl_tensor_nbytes(&fs->emb), es = rl_dtype_size(t->dtype);
    uint8_t *host = calloc(1, nb);
    if (!host) return rl_error_set("out of host memory for this rank's umT5 embedding rows (%zu bytes)", nb);
    uint64_t before = w->st.bytes_read;
    int rc = read_rows(w, t, fs->emb_r0, r1, host);
    fs->bytes_read += w->st.bytes_read - before;
    /* the row for ids of the other ranks: -0.0 is the identity of the sum (x + -0 = x for every x, zeros included) */
    const float negz = -0.0f;
    for (int64_t j = 0; j < D; j++) rl_convert(host + (size_t)(c * D + j) * es, t->dtype, &negz, RL_F32, 1);
    if (rc == 0 && !(fs->emb.data = be->alloc(be, nb))) rc = rl_error_wrap("the --fsdp umT5 embedding rows");
    if (rc == 0) rc = be->upload(be, fs->emb.data, host, nb);
    free(host);
    if (rc == 0) w->device_bytes += nb;
    return rc;
}

int umt5_fsdp_load(rl_umt5 *m, rl_weights *w, rl_comm *comm) {
    rl_umt5_fsdp *fs = calloc(1, sizeof *fs);
    if (!fs) return rl_error_set("out of host memory for the --fsdp tables");
    fs->be = m->be;
    int rc = umt5_fsdp_layer_layout(&m->cfg, m->be->weight_dtype, comm->size, &fs->l);
    if (rc == 0) rc = rl_fsdp_create(&fs->f, m->be, comm, &fs->l, m->cfg.layers, NULL, 0);
    if (rc != 0) {
        free(fs);
        return -1;
    }
    m->fsdp = fs; /* from here umt5_free frees it */
    if (load_embedding(fs, m, w, comm) != 0) return rl_error_wrap("--fsdp: umT5 token embedding");
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
    if (fs->emb.data) fs->be->free(fs->be, fs->emb.data, rl_tensor_nbytes(&fs->emb));
    free(fs);
}

int umt5_fsdp_embed(rl_umt5_fsdp *fs, const int32_t *ids, int64_t L, rl_tensor *dev_ids, rl_tensor *x) {
    rl_backend *be = fs->be;
    const int64_t none = fs->emb.shape[0] - 1; /* the -0.0 row */
    int32_t *local = malloc(sizeof(int32_t) * (size_t)(L > 0 ? L : 1));
    if (!local) return rl_error_set("out of host memory for %lld umT5 token ids", (long long)L);
    for (int64_t i = 0; i < L; i++) {
        int64_t r = (int64_t)ids[i] - fs->emb_r0;
        local[i] = (int32_t)(r >= 0 && r < fs->emb_rows ? r : none);
    }
    int rc = be->upload(be, dev_ids->data, local, sizeof(int32_t) * (size_t)L);
    free(local);
    if (rc == 0) rc = be->embedding(be, x, &fs->emb, dev_ids);
    /* exactly one rank holds each id's row; the others add -0.0 */
    if (rc == 0 && rl_fsdp_sum_f32(fs->f, x->data, (size_t)rl_tensor_numel(x)) != 0)
        return rl_error_wrap("--fsdp: assembling the umT5 token embeddings of %lld tokens", (long long)L);
    return rc;
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
