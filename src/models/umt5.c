/* umt5.c: the umT5 encoder forward (see umt5.h), in the order of Wan's T5Encoder:
 * embedding -> layers of [x += attn(norm1(x), own relative bias); x += ffn(norm2(x))]
 * -> final norm. T5 attention has no 1/sqrt(d) scaling: the op gets scale 1.
 * Activation buffers come from the backend's allocator and are all released
 * before umt5_encode returns. */
#include "models/umt5.h"

#include "comm/comm.h"
#include "models/umt5_fsdp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- config */

static int shape2(const rl_weights *w, const char *name, int64_t *a, int64_t *b) {
    int nd = 0;
    int64_t s[RL_MAX_DIMS];
    if (rl_weights_shape(w, name, &nd, s) != 0)
        return rl_error_set("%s: the umT5 encoder (%s layout) lacks tensor '%s'; the file is incomplete or not "
                            "a umT5 encoder", w->st.path, rl_layout_name(w->ck.layout), name);
    if (nd != 2)
        return rl_error_set("%s: tensor '%s' has %d dims but a umT5 encoder has a 2-D matrix there; the file is "
                            "damaged or another model", w->st.path, name, nd);
    *a = s[0], *b = s[1];
    return 0;
}

int umt5_detect_config(const rl_weights *w, rl_umt5_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    const char *path = w->st.path;
    int64_t nb, h, a, d, f, d2;
    RL_TRY(shape2(w, "token_embedding.weight", &cfg->vocab, &cfg->dim));
    RL_TRY(shape2(w, "blocks.0.attn.q.weight", &a, &d));
    RL_TRY(shape2(w, "blocks.0.ffn.gate.0.weight", &f, &d2));
    int nd;
    int64_t s[RL_MAX_DIMS];
    if (rl_weights_shape(w, "blocks.0.pos_embedding.embedding.weight", &nd, s) != 0)
        return rl_error_set("%s: no relative-position bias in layer 0 ('blocks.0.pos_embedding.embedding.weight' / "
                            "'relative_attention_bias'); this is not a umT5 encoder", path);
    RL_TRY(shape2(w, "blocks.0.pos_embedding.embedding.weight", &nb, &h));
    if (rl_weights_shape(w, "blocks.1.attn.q.weight", &nd, s) == 0 &&
        rl_weights_shape(w, "blocks.1.pos_embedding.embedding.weight", &nd, s) != 0)
        return rl_error_set("%s: only layer 0 has a relative-position bias, so this is a T5 encoder (e.g. t5xxl for "
                            "Flux), not umT5 (every layer has its own); Wan needs umT5-XXL", path);
    const int64_t big = (int64_t)1 << 24;
    if (cfg->vocab < 2 || cfg->vocab > (int64_t)1 << 30 || cfg->dim < 1 || cfg->dim > big)
        return rl_error_set("%s: token embedding is [%lld, %lld]; not a plausible umT5 vocabulary x width", path,
                            (long long)cfg->vocab, (long long)cfg->dim);
    if (d != cfg->dim || d2 != cfg->dim)
        return rl_error_set("%s: q is [%lld, %lld] and the FFN gate [%lld, %lld] but the embedding width is %lld; "
                            "the tensors do not belong together", path, (long long)a, (long long)d, (long long)f,
                            (long long)d2, (long long)cfg->dim);
    if (h < 1 || nb < 4 || nb % 2 || nb > 1024 || a < h || a > big || a % h || f < 1 || f > big)
        return rl_error_set("%s: relative bias [%lld buckets, %lld heads], q width %lld, ffn %lld do not make a "
                            "umT5 layer (buckets even, q width a multiple of the heads)", path, (long long)nb,
                            (long long)h, (long long)a, (long long)f);
    cfg->heads = h, cfg->dim_attn = a, cfg->head_dim = a / h, cfg->ffn = f;
    cfg->num_buckets = (int)nb, cfg->max_distance = 128, cfg->eps = 1e-6f;
    for (cfg->layers = 1; cfg->layers < 4096; cfg->layers++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%lld.attn.q.weight", (long long)cfg->layers);
        if (rl_weights_shape(w, name, &nd, s) != 0) break;
    }
    return 0;
}

void umt5_describe(const rl_umt5_config *c, char *buf, size_t n) {
    snprintf(buf, n, "umT5 encoder: vocab %lld, dim %lld, %lld layers, %lld heads x %lld, ffn %lld, %d buckets",
             (long long)c->vocab, (long long)c->dim, (long long)c->layers, (long long)c->heads,
             (long long)c->head_dim, (long long)c->ffn, c->num_buckets);
}

/* ---------------------------------------------------------------- weights */

static int load2(rl_weights *w, const char *name, rl_dtype dt, int64_t a, int64_t b, rl_tensor *out) {
    int64_t s[2] = {a, b};
    return rl_weights_load(w, name, dt, 2, s, out);
}
static int load1(rl_weights *w, const char *name, int64_t a, rl_tensor *out) {
    return rl_weights_load(w, name, RL_F32, 1, &a, out);
}

static int load_block(rl_weights *w, const rl_umt5_config *c, int64_t i, rl_umt5_block *b) {
    rl_dtype wt = w->be->weight_dtype;
    int64_t D = c->dim, A = c->dim_attn, F = c->ffn;
    char n[96];
#define NAME(suffix) (snprintf(n, sizeof n, "blocks.%lld." suffix, (long long)i), n)
    RL_TRY(load1(w, NAME("norm1.weight"), D, &b->norm1));
    RL_TRY(load2(w, NAME("attn.q.weight"), wt, A, D, &b->q));
    RL_TRY(load2(w, NAME("attn.k.weight"), wt, A, D, &b->k));
    RL_TRY(load2(w, NAME("attn.v.weight"), wt, A, D, &b->v));
    RL_TRY(load2(w, NAME("attn.o.weight"), wt, D, A, &b->o));
    RL_TRY(load2(w, NAME("pos_embedding.embedding.weight"), RL_F32, c->num_buckets, c->heads, &b->rel_bias));
    RL_TRY(load1(w, NAME("norm2.weight"), D, &b->norm2));
    RL_TRY(load2(w, NAME("ffn.gate.0.weight"), wt, F, D, &b->gate));
    RL_TRY(load2(w, NAME("ffn.fc1.weight"), wt, F, D, &b->fc1));
    RL_TRY(load2(w, NAME("ffn.fc2.weight"), wt, D, F, &b->fc2));
#undef NAME
    return 0;
}

int umt5_config_named(const char *name, rl_umt5_config *cfg) {
    rl_umt5_config c = {.vocab = 256384, .dim = 4096, .dim_attn = 4096, .heads = 64, .head_dim = 64, .ffn = 10240,
                        .layers = 24, .num_buckets = 32, .max_distance = 128, .eps = 1e-6f};
    if (!strcmp(name, "tiny")) /* umt5_make_tiny's shapes at the default --text-dim */
        c.vocab = 4096, c.dim_attn = 64, c.heads = 2, c.head_dim = 32, c.ffn = 128, c.layers = 2;
    else if (strcmp(name, "xxl") != 0) return rl_error_set("unknown umT5 size '%s'; known: xxl, tiny", name);
    *cfg = c;
    return 0;
}

int umt5_init_random(rl_umt5 *m, const rl_umt5_config *cfg, rl_backend *be, uint64_t seed) {
    memset(m, 0, sizeof *m);
    if (!be->embedding)
        return rl_error_set("backend '%s' has no embedding op, which the umT5 encoder needs", be->name);
    rl_weights w;
    rl_weights_init_random(&w, be, seed, 0.02f);
    m->be = be;
    m->cfg = *cfg;
    m->blocks = calloc((size_t)cfg->layers, sizeof *m->blocks);
    int rc = m->blocks ? 0 : rl_error_set("out of host memory for %lld umT5 layers", (long long)cfg->layers);
    if (rc == 0) rc = load2(&w, "token_embedding.weight", be->weight_dtype, cfg->vocab, cfg->dim, &m->token_embedding);
    for (int64_t i = 0; rc == 0 && i < cfg->layers; i++) rc = load_block(&w, cfg, i, &m->blocks[i]);
    if (rc == 0) rc = load1(&w, "norm.weight", cfg->dim, &m->norm);
    m->weight_bytes = w.device_bytes;
    if (rc != 0) {
        umt5_free(m);
        return rl_error_wrap("random umT5 weights");
    }
    return 0;
}

static void free_tensor(rl_backend *be, rl_tensor *t) {
    if (t->data) be->free(be, t->data, rl_tensor_nbytes(t));
    memset(t, 0, sizeof *t);
}

void umt5_free(rl_umt5 *m) {
    if (!m->be) return;
    umt5_fsdp_free(m->fsdp); /* sharded layers' tensors have no storage of their own: free_tensor skips them */
    free_tensor(m->be, &m->token_embedding);
    free_tensor(m->be, &m->norm);
    for (int64_t i = 0; m->blocks && i < m->cfg.layers; i++) {
        rl_umt5_block *b = &m->blocks[i];
        rl_tensor *all[] = {&b->norm1, &b->q, &b->k, &b->v, &b->o, &b->rel_bias, &b->norm2, &b->gate, &b->fc1, &b->fc2};
        for (size_t k = 0; k < sizeof all / sizeof *all; k++) free_tensor(m->be, all[k]);
    }
    free(m->blocks);
    memset(m, 0, sizeof *m);
}

int umt5_load(rl_umt5 *m, const char *path, rl_backend *be) { return umt5_load_fsdp(m, path, be, NULL); }

int umt5_load_fsdp(rl_umt5 *m, const char *path, rl_backend *be, rl_comm *fsdp) {
    memset(m, 0, sizeof *m);
    if (!be->embedding)
        return rl_error_set("backend '%s' has no embedding op, which the umT5 encoder needs", be->name);
    rl_weights w;
    RL_TRY(rl_weights_open(&w, path, be, RL_MODEL_UMT5));
    m->be = be;
    int rc = umt5_detect_config(&w, &m->cfg);
    if (rc == 0) {
        m->blocks = calloc((size_t)m->cfg.layers, sizeof *m->blocks);
        if (!m->blocks) rc = rl_error_set("out of host memory for %lld umT5 layers", (long long)m->cfg.layers);
    }
    rl_dtype et = RL_F32;
    if (rc == 0) {
        /* The embedding keeps a 16-bit file dtype (exact, half the memory of f32). */
        const rl_st_tensor *t = rl_checkpoint_find(&w.st, &w.ck, "token_embedding.weight");
        et = (t->dtype == RL_BF16 || t->dtype == RL_F16) ? t->dtype : RL_F32;
        if (be->weight_dtype != RL_F32 && et == RL_F32) et = be->weight_dtype;
    }
    if (rc == 0 && fsdp && fsdp->size > 1) { /* the table's header: its rows are sharded */
        m->token_embedding = rl_tensor_make(NULL, et, be->device, 2, (int64_t[]){m->cfg.vocab, m->cfg.dim});
        rc = umt5_fsdp_load(m, &w, fsdp);
    } else {
        if (rc == 0) rc = load2(&w, "token_embedding.weight", et, m->cfg.vocab, m->cfg.dim, &m->token_embedding);
        for (int64_t i = 0; rc == 0 && i < m->cfg.layers; i++) rc = load_block(&w, &m->cfg, i, &m->blocks[i]);
    }
    if (rc == 0) rc = load1(&w, "norm.weight", m->cfg.dim, &m->norm);
    m->weight_bytes = w.device_bytes;
    m->file_bytes_read = w.st.bytes_read;
    rl_weights_close(&w);
    if (rc != 0) {
        umt5_free(m);
        return -1;
    }
    char desc[160];
    umt5_describe(&m->cfg, desc, sizeof desc);
    rl_log(RL_LOG_VERBOSE, "%s (%s)\n", desc, path);
    return 0;
}

/* ---------------------------------------------------------------- ids, buckets */

int umt5_relative_bucket(int64_t rel, int num_buckets, int max_distance) {
    int nb = num_buckets / 2, max_exact = nb / 2;
    int bucket = rel > 0 ? nb : 0;
    int64_t a = rel < 0 ? -rel : rel;
    if (a < max_exact) return bucket + (int)a;
    /* torch: log(float(a) / max_exact) / math.log(max_dist / max_exact) * (nb - max_exact), all float32,
     * then .long() (truncation). */
    float r = logf((float)a / (float)max_exact) / (float)log((double)max_distance / max_exact) * (float)(nb - max_exact);
    int64_t large = max_exact + (int64_t)r;
    if (large > nb - 1) large = nb - 1;
    return bucket + (int)large;
}

int umt5_check_ids(const rl_umt5_config *cfg, const int32_t *ids, int64_t n, const char *what) {
    if (n < 1) return rl_error_set("%s: no token ids (at least one, the closing </s>, is needed)", what);
    if (n > RL_UMT5_MAX_TOKENS)
        return rl_error_set("%s: %lld token ids, but the umT5 encoder takes at most %d (Wan truncates prompts to "
                            "%d tokens including </s>)", what, (long long)n, RL_UMT5_MAX_TOKENS, RL_UMT5_MAX_TOKENS);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= cfg->vocab)
            return rl_error_set("%s: id %d at position %lld is outside the encoder's vocabulary of %lld tokens; the "
                                "ids come from another tokenizer", what, (int)ids[i], (long long)i,
                                (long long)cfg->vocab);
    return 0;
}

/* ---------------------------------------------------------------- forward */

/* Activation buffers of one encode call, released together. */
typedef struct {
    rl_backend *be;
    rl_tensor x;     /* [L, D] f32: residual stream */
    rl_tensor h;     /* [L, D]: normed input of attention / FFN */
    rl_tensor q, k, v, att; /* [L, A] */
    rl_tensor proj;  /* [L, D] f32: attention / FFN output before the residual add */
    rl_tensor g, f;  /* [L, F]: GELU branch, linear branch */
    rl_tensor ids;   /* [L] i32 */
    rl_tensor buckets; /* [L*L] i32 */
    rl_tensor bias_rows; /* [L*L, H] */
    rl_tensor bias;  /* [H, L, L] */
} umt5_acts;

static int act_alloc(rl_backend *be, rl_tensor *t, rl_dtype dt, int nd, int64_t a, int64_t b, int64_t c) {
    int64_t s[3] = {a, b, c};
    *t = rl_tensor_make(NULL, dt, be->device, nd, s);
    t->data = be->alloc(be, rl_tensor_nbytes(t) ? rl_tensor_nbytes(t) : 1);
    return t->data ? 0 : rl_error_wrap("umT5 encoder activations");
}

static void acts_free(umt5_acts *a) {
    rl_tensor *all[] = {&a->x, &a->h, &a->q, &a->k, &a->v, &a->att, &a->proj, &a->g, &a->f, &a->ids, &a->buckets,
                        &a->bias_rows, &a->bias};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free_tensor(a->be, all[i]);
}

static int acts_alloc(umt5_acts *a, rl_backend *be, const rl_umt5_config *c, int64_t L) {
    memset(a, 0, sizeof *a);
    a->be = be;
    rl_dtype adt = be->act_dtype;
    int64_t D = c->dim, A = c->dim_attn, F = c->ffn, H = c->heads;
    RL_TRY(act_alloc(be, &a->x, RL_F32, 2, L, D, 0));
    RL_TRY(act_alloc(be, &a->h, adt, 2, L, D, 0));
    RL_TRY(act_alloc(be, &a->q, adt, 2, L, A, 0));
    RL_TRY(act_alloc(be, &a->k, adt, 2, L, A, 0));
    RL_TRY(act_alloc(be, &a->v, adt, 2, L, A, 0));
    RL_TRY(act_alloc(be, &a->att, adt, 2, L, A, 0));
    RL_TRY(act_alloc(be, &a->proj, RL_F32, 2, L, D, 0));
    RL_TRY(act_alloc(be, &a->g, adt, 2, L, F, 0));
    RL_TRY(act_alloc(be, &a->f, adt, 2, L, F, 0));
    RL_TRY(act_alloc(be, &a->ids, RL_I32, 1, L, 0, 0));
    RL_TRY(act_alloc(be, &a->buckets, RL_I32, 1, L * L, 0, 0));
    RL_TRY(act_alloc(be, &a->bias_rows, adt, 2, L * L, H, 0));
    RL_TRY(act_alloc(be, &a->bias, adt, 3, H, L, L));
    return 0;
}

/* This layer's bias [H, L, L]: bias[h, i, j] = rel_bias[bucket(j - i), h]. */
static int layer_bias(rl_backend *be, umt5_acts *a, const rl_umt5_block *b, int64_t L, int64_t H) {
    RL_TRY(be->embedding(be, &a->bias_rows, &b->rel_bias, &a->buckets));
    int64_t s3[3] = {L, L, H};
    int perm[3] = {2, 0, 1};
    rl_tensor rows = rl_tensor_reshape(&a->bias_rows, 3, s3);
    rl_tensor hij = rl_tensor_permute(&rows, perm);
    return be->copy(be, &a->bias, &hij);
}

/* x += o(attention(q(h), k(h), v(h)) + bias), h = norm1(x); keys >= kv_len masked. */
static int attention_block(rl_backend *be, umt5_acts *a, const rl_umt5_block *b, const rl_umt5_config *c,
                           int64_t L, int64_t kv_len) {
    RL_TRY(be->rms_norm(be, &a->h, &a->x, &b->norm1, c->eps));
    RL_TRY(be->matmul(be, &a->q, &a->h, &b->q, NULL, RL_ACT_NONE));
    RL_TRY(be->matmul(be, &a->k, &a->h, &b->k, NULL, RL_ACT_NONE));
    RL_TRY(be->matmul(be, &a->v, &a->h, &b->v, NULL, RL_ACT_NONE));
    RL_TRY(layer_bias(be, a, b, L, c->heads));
    int64_t s4[4] = {1, L, c->heads, c->head_dim};
    rl_tensor q4 = rl_tensor_reshape(&a->q, 4, s4), k4 = rl_tensor_reshape(&a->k, 4, s4);
    rl_tensor v4 = rl_tensor_reshape(&a->v, 4, s4), o4 = rl_tensor_reshape(&a->att, 4, s4);
    RL_TRY(be->attention(be, &o4, &q4, &k4, &v4, kv_len, &a->bias, 1.0f, NULL)); /* T5: unscaled logits */
    RL_TRY(be->matmul(be, &a->proj, &a->att, &b->o, NULL, RL_ACT_NONE));
    return be->add(be, &a->x, &a->x, &a->proj);
}

/* x += fc2(fc1(h) * gelu_tanh(gate(h))), h = norm2(x). */
static int ffn_block(rl_backend *be, umt5_acts *a, const rl_umt5_block *b, const rl_umt5_config *c) {
    RL_TRY(be->rms_norm(be, &a->h, &a->x, &b->norm2, c->eps));
    RL_TRY(be->matmul(be, &a->g, &a->h, &b->gate, NULL, RL_ACT_GELU_TANH));
    RL_TRY(be->matmul(be, &a->f, &a->h, &b->fc1, NULL, RL_ACT_NONE));
    RL_TRY(be->mul(be, &a->g, &a->g, &a->f));
    RL_TRY(be->matmul(be, &a->proj, &a->g, &b->fc2, NULL, RL_ACT_NONE));
    return be->add(be, &a->x, &a->x, &a->proj);
}

static int encode_run(rl_umt5 *m, umt5_acts *a, const int32_t *ids, int64_t n, int64_t L, rl_tensor *out) {
    rl_backend *be = m->be;
    const rl_umt5_config *c = &m->cfg;
    int32_t *host = malloc(sizeof(int32_t) * (size_t)(L * L + L));
    if (!host) return rl_error_set("out of host memory for the umT5 relative-position buckets (%lld tokens)",
                                   (long long)L);
    for (int64_t i = 0; i < L; i++) host[i] = i < n ? ids[i] : 0; /* padding: id 0, as the reference */
    int32_t *bk = host + L;
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < L; j++) bk[i * L + j] = umt5_relative_bucket(j - i, c->num_buckets, c->max_distance);
    int rc = be->upload(be, a->buckets.data, bk, sizeof(int32_t) * (size_t)(L * L));
    /* no sqrt(dim) scaling in T5; --fsdp: each rank's vocabulary rows, summed over the ranks */
    if (rc == 0 && m->fsdp) rc = umt5_fsdp_embed(m->fsdp, host, L, &a->ids, &a->x);
    else if (rc == 0) {
        rc = be->upload(be, a->ids.data, host, sizeof(int32_t) * (size_t)L);
        if (rc == 0) rc = be->embedding(be, &a->x, &m->token_embedding, &a->ids);
    }
    free(host);
    RL_TRY(rc);
    int64_t kv_len = L > n ? n : 0;
    if (m->fsdp) RL_TRY(umt5_fsdp_begin(m->fsdp));
    for (int64_t i = 0; i < c->layers; i++) {
        const rl_umt5_block *b = &m->blocks[i]; /* or gathered from the ranks' shards */
        if ((m->fsdp && umt5_fsdp_ready(m->fsdp, m, i, &b) != 0) || attention_block(be, a, b, c, L, kv_len) != 0 ||
            ffn_block(be, a, b, c) != 0 || (m->fsdp && umt5_fsdp_release(m->fsdp, i) != 0))
            return rl_error_wrap("umT5 layer %lld", (long long)i);
    }
    rl_tensor real = rl_tensor_slice(&a->x, 0, 0, n); /* the first n rows: contiguous */
    return be->rms_norm(be, out, &real, &m->norm, c->eps);
}

int umt5_encode(rl_umt5 *m, const int32_t *ids, int64_t n, int64_t run_len, rl_tensor *out) {
    const rl_umt5_config *c = &m->cfg;
    RL_TRY(umt5_check_ids(c, ids, n, "umT5 encoder input"));
    int64_t L = run_len > n ? run_len : n;
    if (L > RL_UMT5_MAX_TOKENS)
        return rl_error_set("umT5 encoder: run length %lld is over %d tokens", (long long)L, RL_UMT5_MAX_TOKENS);
    char s[96];
    if (!out || out->dtype != RL_F32 || out->device != m->be->device || out->ndim != 2 || out->shape[0] != n ||
        out->shape[1] != c->dim || !rl_tensor_is_contiguous(out))
        return rl_error_set("umT5 encoder: output tensor is %s but must be a contiguous f32 [%lld, %lld] on the "
                            "%s backend", out ? rl_shape_str(out, s, sizeof s) : "missing", (long long)n,
                            (long long)c->dim, m->be->name);
    umt5_acts a;
    int rc = acts_alloc(&a, m->be, c, L);
    if (rc == 0) rc = encode_run(m, &a, ids, n, L, out);
    acts_free(&a);
    return rc;
}
