/* wan_dit.c: the Wan 2.1 DiT (wan/modules/model.py WanModel) on the op table:
 * architecture detection, weight loading, and the forward pass.
 *
 * The forward mirrors WanModel.forward for one batch element:
 *   tokens = patch_embedding(x)                       Conv3d 1x2x2 = matmul over 64-value patches
 *   e  = time_embedding(sinusoid(t))  (fp32)          sinusoid in float64, [cos, sin]
 *   e0 = time_projection(e)           (fp32, [6, D])
 *   ctx = text_embedding(pad512(context))             pad rows become W2 gelu(b1) + b2 and are attended
 *   for each block: wan_block_forward
 *   y = unpatchify(head(tokens, e))
 * Names of the pieces follow the reference's module names; see the spec, §3.
 */
#include "models/wan_dit.h"
#include "models/wan_dit_fsdp.h"
#include "models/wan_dit_offload.h"
#include "sampler/noise.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WAN_MAX_LAYERS 1024
#define WAN_MAX_DIM (1 << 20)

/* ---------------------------------------------------------------- config */

/* The canonical tensor's stored shape, or an error naming file and tensor. */
static int need_shape(const rl_weights *w, const char *name, int want_nd, int *nd, int64_t *shape) {
    if (rl_weights_shape(w, name, nd, shape) != 0)
        return rl_error_set("%s: this Wan 2.1 DiT (%s layout) lacks tensor '%s'; the file is incomplete or not a "
                            "Wan 2.1 DiT", w->st.path, rl_layout_name(w->ck.layout), name);
    if (want_nd && *nd != want_nd)
        return rl_error_set("%s: tensor '%s' has %d dims, a Wan 2.1 DiT has %d there; the file is for another "
                            "model or damaged", w->st.path, name, *nd, want_nd);
    for (int i = 0; i < *nd; i++)
        if (shape[i] <= 0 || shape[i] > WAN_MAX_DIM)
            return rl_error_set("%s: tensor '%s' has an implausible dimension %lld", w->st.path, name,
                                (long long)shape[i]);
    return 0;
}

/* Head size: 128 in every released model; tiny test models say theirs in the
 * safetensors metadata ("raylight_head_dim"). */
static int head_dim_from_metadata(const rl_weights *w, int64_t *hd) {
    *hd = 128;
    if (!w->st.metadata_json) return 0;
    cJSON *j = cJSON_Parse(w->st.metadata_json);
    if (!j) return 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "raylight_head_dim");
    int rc = 0;
    if (cJSON_IsString(v)) {
        char *end = NULL;
        long h = strtol(v->valuestring, &end, 10);
        if (!end || *end || h < 6 || h > 512 || h % 2)
            rc = rl_error_set("%s: metadata raylight_head_dim is '%s'; it must be an even number of 6..512",
                              w->st.path, v->valuestring);
        else *hd = h;
    }
    cJSON_Delete(j);
    return rc;
}

/* Keys of the other layout in a file detected as one: a merged or half-converted
 * file, which would silently load the wrong tensors. */
static int check_single_layout(const rl_weights *w) {
    static const char *const official[] = {".self_attn.", ".cross_attn.", "head.head.", "time_embedding.",
                                           "text_embedding.", "time_projection."};
    static const char *const diffusers[] = {".attn1.", ".attn2.", "condition_embedder.", "proj_out.",
                                            "scale_shift_table"};
    int is_diff = w->ck.layout == RL_LAYOUT_DIFFUSERS;
    const char *const *other = is_diff ? official : diffusers;
    size_t n_other = is_diff ? sizeof official / sizeof *official : sizeof diffusers / sizeof *diffusers;
    size_t plen = strlen(w->ck.prefix);
    for (int i = 0; i < w->st.n_tensors; i++) {
        const char *name = w->st.tensors[i].name;
        if (strncmp(name, w->ck.prefix, plen) != 0) continue;
        for (size_t k = 0; k < n_other; k++)
            if (strstr(name + plen, other[k]))
                return rl_error_set("%s: the file mixes checkpoint layouts: it was detected as %s but tensor '%s' "
                                    "has a %s name; convert it to one layout", w->st.path,
                                    rl_layout_name(w->ck.layout), name, is_diff ? "official" : "diffusers");
    }
    return 0;
}

int wan_dit_detect_config(const rl_weights *w, rl_wan_dit_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    if (w->ck.kind != RL_MODEL_WAN_DIT)
        return rl_error_set("%s holds a %s (%s layout), not a Wan 2.1 DiT; give the DiT file here", w->st.path,
                            rl_model_kind_name(w->ck.kind), rl_layout_name(w->ck.layout));
    RL_TRY(check_single_layout(w));
    int nd;
    int64_t s[RL_MAX_DIMS];
    const char *path = w->st.path;
    RL_TRY(need_shape(w, "head.modulation", 3, &nd, s));
    if (s[0] != 1 || s[1] != 2)
        return rl_error_set("%s: head.modulation is [%lld, %lld, %lld], a Wan 2.1 DiT has [1, 2, dim]", path,
                            (long long)s[0], (long long)s[1], (long long)s[2]);
    int64_t D = s[2];
    RL_TRY(need_shape(w, "patch_embedding.weight", 5, &nd, s));
    if (s[0] != D || s[2] != 1 || s[3] != 2 || s[4] != 2)
        return rl_error_set("%s: patch_embedding.weight is [%lld, %lld, %lld, %lld, %lld]; a Wan 2.1 DiT of dim "
                            "%lld has [%lld, in_dim, 1, 2, 2]", path, (long long)s[0], (long long)s[1],
                            (long long)s[2], (long long)s[3], (long long)s[4], (long long)D, (long long)D);
    cfg->in_dim = s[1];
    RL_TRY(need_shape(w, "head.head.weight", 2, &nd, s));
    if (s[1] != D || s[0] % 4)
        return rl_error_set("%s: head.head.weight is [%lld, %lld]; expected [out_dim*4, %lld]", path,
                            (long long)s[0], (long long)s[1], (long long)D);
    cfg->out_dim = s[0] / 4;
    RL_TRY(need_shape(w, "blocks.0.ffn.0.weight", 2, &nd, s));
    cfg->ffn_dim = s[0];
    RL_TRY(need_shape(w, "text_embedding.0.weight", 2, &nd, s));
    cfg->text_dim = s[1];
    RL_TRY(need_shape(w, "time_embedding.0.weight", 2, &nd, s));
    cfg->freq_dim = s[1];
    if (cfg->freq_dim % 2)
        return rl_error_set("%s: time_embedding.0.weight has an odd input width %lld (the sinusoid width)", path,
                            (long long)cfg->freq_dim);
    int64_t L = 0;
    char name[64];
    for (; L <= WAN_MAX_LAYERS; L++) {
        snprintf(name, sizeof name, "blocks.%lld.modulation", (long long)L);
        if (rl_weights_shape(w, name, &nd, s) != 0) break;
    }
    if (L == 0 || L > WAN_MAX_LAYERS)
        return rl_error_set("%s: found %lld transformer blocks (blocks.N.modulation); a Wan 2.1 DiT has 1..%d",
                            path, (long long)L, WAN_MAX_LAYERS);
    cfg->num_layers = L;
    RL_TRY(head_dim_from_metadata(w, &cfg->head_dim));
    if (D % cfg->head_dim)
        return rl_error_set("%s: dim %lld (head.modulation) is not a multiple of the head size %lld", path,
                            (long long)D, (long long)cfg->head_dim);
    cfg->dim = D;
    cfg->num_heads = D / cfg->head_dim;
    cfg->text_len = 512; /* shared_config.text_len; not stored in checkpoints */
    cfg->eps = 1e-6f;
    cfg->i2v = rl_weights_shape(w, "img_emb.proj.1.weight", &nd, s) == 0 ||
               rl_weights_shape(w, "blocks.0.cross_attn.k_img.weight", &nd, s) == 0;
    return 0;
}

void wan_dit_describe(const rl_wan_dit_config *c, char *buf, size_t n) {
    const char *size = "custom size";
    if (c->dim == 1536 && c->num_layers == 30) size = "1.3B";
    else if (c->dim == 5120 && c->num_layers == 40) size = "14B";
    snprintf(buf, n, "Wan 2.1 DiT %s %s: dim %lld, %lld blocks, %lld heads of %lld, ffn %lld, text %lld, in %lld, "
             "out %lld", c->i2v ? "i2v" : "t2v", size, (long long)c->dim, (long long)c->num_layers,
             (long long)c->num_heads, (long long)c->head_dim, (long long)c->ffn_dim, (long long)c->text_dim,
             (long long)c->in_dim, (long long)c->out_dim);
}

int wan_dit_describe_file(const rl_safetensors *st, char *buf, size_t n) {
    rl_weights w;
    memset(&w, 0, sizeof w);
    w.st = *st; /* a read-only alias: never closed here */
    if (rl_checkpoint_detect(st, &w.ck) != 0) {
        rl_error_clear();
        return 1;
    }
    if (w.ck.kind != RL_MODEL_WAN_DIT) return 1;
    rl_wan_dit_config cfg;
    RL_TRY(wan_dit_detect_config(&w, &cfg));
    wan_dit_describe(&cfg, buf, n);
    return 0;
}

/* ---------------------------------------------------------------- loading */

static int load_t(rl_wan_dit *m, rl_weights *w, const char *name, rl_dtype dt, int nd, const int64_t *shape,
                  rl_tensor *out) {
    return rl_weights_load(w, name, dt, nd, shape, out);
}

static int load_vec(rl_wan_dit *m, rl_weights *w, const char *name, int64_t n, rl_tensor *out) {
    return load_t(m, w, name, RL_F32, 1, &n, out);
}

/* name.weight [out, in] in dt, name.bias [out] in f32. */
static int load_linear(rl_wan_dit *m, rl_weights *w, const char *name, rl_dtype dt, int64_t out_f, int64_t in_f,
                       rl_wan_linear *l) {
    char key[128];
    int64_t s[2] = {out_f, in_f};
    snprintf(key, sizeof key, "%s.weight", name);
    RL_TRY(load_t(m, w, key, dt, 2, s, &l->w));
    snprintf(key, sizeof key, "%s.bias", name);
    return load_vec(m, w, key, out_f, &l->b);
}

static int load_attention(rl_wan_dit *m, rl_weights *w, const char *name, rl_wan_attention *at) {
    const int64_t D = m->cfg.dim;
    const rl_dtype dt = m->be->weight_dtype;
    char key[128];
    static const char *const proj[4] = {"q", "k", "v", "o"};
    rl_wan_linear *dst[4] = {&at->q, &at->k, &at->v, &at->o};
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", name, proj[i]);
        RL_TRY(load_linear(m, w, key, dt, D, D, dst[i]));
    }
    snprintf(key, sizeof key, "%s.norm_q.weight", name);
    RL_TRY(load_vec(m, w, key, D, &at->norm_q));
    snprintf(key, sizeof key, "%s.norm_k.weight", name);
    return load_vec(m, w, key, D, &at->norm_k);
}

static int load_block(rl_wan_dit *m, rl_weights *w, int64_t i, rl_wan_block *b) {
    const int64_t D = m->cfg.dim, F = m->cfg.ffn_dim;
    char key[128];
    snprintf(key, sizeof key, "blocks.%lld.modulation", (long long)i);
    int64_t ms[2] = {6, D};
    RL_TRY(load_t(m, w, key, RL_F32, 2, ms, &b->modulation));
    snprintf(key, sizeof key, "blocks.%lld.self_attn", (long long)i);
    RL_TRY(load_attention(m, w, key, &b->self_attn));
    snprintf(key, sizeof key, "blocks.%lld.norm3.weight", (long long)i);
    RL_TRY(load_vec(m, w, key, D, &b->norm3_w));
    snprintf(key, sizeof key, "blocks.%lld.norm3.bias", (long long)i);
    RL_TRY(load_vec(m, w, key, D, &b->norm3_b));
    snprintf(key, sizeof key, "blocks.%lld.cross_attn", (long long)i);
    RL_TRY(load_attention(m, w, key, &b->cross_attn));
    snprintf(key, sizeof key, "blocks.%lld.ffn.0", (long long)i);
    RL_TRY(load_linear(m, w, key, m->be->weight_dtype, F, D, &b->ffn1));
    snprintf(key, sizeof key, "blocks.%lld.ffn.2", (long long)i);
    return load_linear(m, w, key, m->be->weight_dtype, D, F, &b->ffn2);
}

static int use_fsdp(const rl_wan_dit_options *opt) { return opt && opt->fsdp && opt->fsdp->size > 1; }

static int load_all(rl_wan_dit *m, rl_weights *w, const rl_wan_dit_options *opt) {
    const rl_wan_dit_config *c = &m->cfg;
    const int64_t D = c->dim;
    const rl_dtype dt = m->be->weight_dtype;
    int64_t ps[5] = {D, c->in_dim, 1, 2, 2};
    RL_TRY(load_t(m, w, "patch_embedding.weight", dt, 5, ps, &m->patch.w));
    int64_t flat[2] = {D, c->in_dim * 4}; /* input index c*4 + kh*2 + kw */
    m->patch.w = rl_tensor_reshape(&m->patch.w, 2, flat);
    RL_TRY(load_vec(m, w, "patch_embedding.bias", D, &m->patch.b));
    RL_TRY(load_linear(m, w, "text_embedding.0", dt, D, c->text_dim, &m->text1));
    RL_TRY(load_linear(m, w, "text_embedding.2", dt, D, D, &m->text2));
    RL_TRY(load_linear(m, w, "time_embedding.0", RL_F32, D, c->freq_dim, &m->time1));
    RL_TRY(load_linear(m, w, "time_embedding.2", RL_F32, D, D, &m->time2));
    RL_TRY(load_linear(m, w, "time_projection.1", RL_F32, 6 * D, D, &m->time_proj));
    int64_t hm[2] = {2, D};
    RL_TRY(load_t(m, w, "head.modulation", RL_F32, 2, hm, &m->head_modulation));
    RL_TRY(load_linear(m, w, "head.head", RL_F32, c->out_dim * 4, D, &m->head));
    /* --fsdp: only this rank's shard of each block is read and kept */
    if (use_fsdp(opt)) return wan_fsdp_load(m, w, opt->fsdp, opt->offload_blocks);
    /* An offloaded block passes through the device once (its weights converted
     * there) and moves to pinned host memory before the next loads. */
    for (int64_t i = 0; i < c->num_layers; i++) {
        RL_TRY(load_block(m, w, i, &m->blocks[i]));
        if (!wan_offload_is_host(m->offload, i)) continue;
        size_t freed = 0;
        RL_TRY(wan_offload_take(m->offload, i, &m->blocks[i], &freed));
        w->device_bytes -= freed;
    }
    return wan_offload_alloc_slots(m->offload);
}

static int offload_setup(rl_wan_dit *m, const rl_wan_dit_options *opt) {
    if (!opt || opt->offload_blocks == 0 || use_fsdp(opt)) return 0; /* fsdp offloads shards itself */
    return wan_offload_create(&m->offload, m->be, &m->cfg, opt->offload_blocks, opt->offload_slots);
}

int wan_dit_read_config(const char *path, rl_backend *be, rl_wan_dit_config *cfg) {
    rl_weights w;
    RL_TRY(rl_weights_open(&w, path, be, RL_MODEL_WAN_DIT));
    int rc = wan_dit_detect_config(&w, cfg);
    rl_weights_close(&w);
    return rc;
}

int wan_dit_load(rl_wan_dit *m, const char *path, rl_backend *be) { return wan_dit_load_opts(m, path, be, NULL); }

int wan_dit_load_opts(rl_wan_dit *m, const char *path, rl_backend *be, const rl_wan_dit_options *opt) {
    memset(m, 0, sizeof *m);
    m->be = be;
    rl_weights w;
    RL_TRY(rl_weights_open(&w, path, be, RL_MODEL_WAN_DIT));
    int rc = wan_dit_detect_config(&w, &m->cfg);
    if (rc == 0 && m->cfg.i2v)
        rc = rl_error_set("%s holds a Wan 2.1 image-to-video DiT (in_dim %lld, img_emb); only text-to-video "
                          "models run so far", path, (long long)m->cfg.in_dim);
    if (rc == 0) {
        m->blocks = calloc((size_t)m->cfg.num_layers, sizeof *m->blocks);
        if (!m->blocks) rc = rl_error_set("out of host memory for the block table of %s", path);
    }
    if (rc == 0) rc = offload_setup(m, opt);
    if (rc == 0) rc = load_all(m, &w, opt);
    m->weight_bytes = w.device_bytes;
    m->file_bytes_read = w.st.bytes_read;
    rl_weights_close(&w);
    if (rc != 0) {
        wan_dit_free(m);
        return -1;
    }
    return 0;
}

int wan_dit_config_named(const char *name, rl_wan_dit_config *cfg) {
    rl_wan_dit_config c = {.dim = 1536, .ffn_dim = 8960, .num_layers = 30, .num_heads = 12, .head_dim = 128,
                           .in_dim = 16, .out_dim = 16, .text_dim = 4096, .freq_dim = 256, .text_len = 512,
                           .eps = 1e-6f};
    if (!strcmp(name, "14b")) c.dim = 5120, c.ffn_dim = 13824, c.num_layers = 40, c.num_heads = 40;
    else if (!strcmp(name, "tiny")) c.dim = 128, c.ffn_dim = 256, c.num_layers = 2, c.num_heads = 1; /* make-tiny's */
    else if (strcmp(name, "1.3b") != 0) return rl_error_set("unknown Wan 2.1 DiT size '%s'; known: 1.3b, 14b, tiny", name);
    *cfg = c;
    return 0;
}

int wan_dit_init_random(rl_wan_dit *m, const rl_wan_dit_config *cfg, rl_backend *be, uint64_t seed) {
    return wan_dit_init_random_opts(m, cfg, be, seed, NULL);
}

int wan_dit_init_random_opts(rl_wan_dit *m, const rl_wan_dit_config *cfg, rl_backend *be, uint64_t seed,
                             const rl_wan_dit_options *opt) {
    memset(m, 0, sizeof *m);
    m->be = be;
    m->cfg = *cfg;
    m->blocks = calloc((size_t)cfg->num_layers, sizeof *m->blocks);
    if (!m->blocks) return rl_error_set("out of host memory for the block table");
    rl_weights w;
    rl_weights_init_random(&w, be, seed, 0.02f);
    int rc = offload_setup(m, opt);
    if (rc == 0) rc = load_all(m, &w, opt);
    m->weight_bytes = w.device_bytes;
    if (rc != 0) wan_dit_free(m);
    return rc;
}

static void free_t(rl_wan_dit *m, rl_tensor *t) {
    if (t->data) m->be->free(m->be, t->data, rl_tensor_nbytes(t));
    memset(t, 0, sizeof *t);
}
static void free_linear(rl_wan_dit *m, rl_wan_linear *l) {
    free_t(m, &l->w);
    free_t(m, &l->b);
}
static void free_attention(rl_wan_dit *m, rl_wan_attention *a) {
    free_linear(m, &a->q);
    free_linear(m, &a->k);
    free_linear(m, &a->v);
    free_linear(m, &a->o);
    free_t(m, &a->norm_q);
    free_t(m, &a->norm_k);
}

void wan_dit_free(rl_wan_dit *m) {
    if (!m->be) return;
    if (m->act_buf) m->be->free(m->be, m->act_buf, m->act_cap);
    wan_offload_free(m->offload); /* offloaded blocks' tensors have no device storage: free_t skips them */
    wan_fsdp_free(m->fsdp);       /* so have sharded blocks' */
    free_linear(m, &m->patch);
    free_linear(m, &m->text1);
    free_linear(m, &m->text2);
    free_linear(m, &m->time1);
    free_linear(m, &m->time2);
    free_linear(m, &m->time_proj);
    free_t(m, &m->head_modulation);
    free_linear(m, &m->head);
    for (int64_t i = 0; m->blocks && i < m->cfg.num_layers; i++) {
        rl_wan_block *b = &m->blocks[i];
        free_t(m, &b->modulation);
        free_attention(m, &b->self_attn);
        free_t(m, &b->norm3_w);
        free_t(m, &b->norm3_b);
        free_attention(m, &b->cross_attn);
        free_linear(m, &b->ffn1);
        free_linear(m, &b->ffn2);
    }
    free(m->blocks);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- forward pieces */

#define ARENA_SLACK 256

static int arena_t2(rl_arena *a, rl_tensor *t, rl_dtype dt, int64_t rows, int64_t cols) {
    int64_t s[2] = {rows, cols};
    return rl_arena_tensor(a, t, dt, 2, s);
}

static int linear(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_wan_linear *l, rl_activation act) {
    return be->matmul(be, y, x, &l->w, &l->b, act);
}

int wan_dit_embed_time(rl_wan_dit *m, rl_arena *a, double t, rl_tensor *e, rl_tensor *e0) {
    rl_backend *be = m->be;
    const int64_t D = m->cfg.dim, half = m->cfg.freq_dim / 2;
    RL_TRY(arena_t2(a, e, RL_F32, 1, D));
    RL_TRY(arena_t2(a, e0, RL_F32, 6, D));
    size_t mark = rl_arena_mark(a);
    float *sin_host = malloc((size_t)(2 * half) * sizeof(float));
    if (!sin_host) return rl_error_set("out of host memory for the time embedding");
    /* sinusoidal_embedding_1d: float64, [cos(t w_j), sin(t w_j)], w_j = 10000^(-j/half) */
    for (int64_t j = 0; j < half; j++) {
        double ang = t * pow(10000.0, -(double)j / (double)half);
        sin_host[j] = (float)cos(ang);
        sin_host[half + j] = (float)sin(ang);
    }
    rl_tensor s, h, act;
    int rc = arena_t2(a, &s, RL_F32, 1, 2 * half);
    if (rc == 0) rc = be->upload(be, s.data, sin_host, (size_t)(2 * half) * sizeof(float));
    free(sin_host);
    RL_TRY(rc);
    RL_TRY(arena_t2(a, &h, RL_F32, 1, D));
    RL_TRY(arena_t2(a, &act, RL_F32, 1, D));
    RL_TRY(linear(be, &h, &s, &m->time1, RL_ACT_NONE));
    RL_TRY(be->silu(be, &h, &h));
    RL_TRY(linear(be, e, &h, &m->time2, RL_ACT_NONE));
    RL_TRY(be->silu(be, &act, e));
    rl_tensor e0_flat = rl_tensor_reshape(e0, 2, (int64_t[]){1, 6 * D});
    RL_TRY(linear(be, &e0_flat, &act, &m->time_proj, RL_ACT_NONE));
    rl_arena_reset(a, mark);
    int64_t d1 = D;
    *e = rl_tensor_reshape(e, 1, &d1);
    return 0;
}

int wan_dit_embed_text(rl_wan_dit *m, rl_arena *a, const rl_tensor *context, rl_tensor *ctx) {
    rl_backend *be = m->be;
    const rl_wan_dit_config *c = &m->cfg;
    const int64_t L = context->shape[0];
    RL_TRY(arena_t2(a, ctx, be->act_dtype, c->text_len, c->dim));
    size_t mark = rl_arena_mark(a);
    rl_tensor pad, h;
    RL_TRY(arena_t2(a, &pad, be->act_dtype, c->text_len, c->text_dim));
    /* zero rows past L, as the reference's torch.cat([u, u.new_zeros(...)]) */
    size_t row = (size_t)c->text_dim * rl_dtype_size(be->act_dtype), tail = (size_t)(c->text_len - L) * row;
    if (tail) {
        void *zeros = calloc(1, tail);
        if (!zeros) return rl_error_set("out of host memory for the text padding");
        int rc = be->upload(be, (uint8_t *)pad.data + (size_t)L * row, zeros, tail);
        free(zeros);
        RL_TRY(rc);
    }
    if (L > 0) {
        rl_tensor head = rl_tensor_slice(&pad, 0, 0, L);
        RL_TRY(be->cast(be, &head, context)); /* the Linear's input dtype */
    }
    RL_TRY(arena_t2(a, &h, be->act_dtype, c->text_len, c->dim));
    RL_TRY(linear(be, &h, &pad, &m->text1, RL_ACT_GELU_TANH));
    RL_TRY(linear(be, ctx, &h, &m->text2, RL_ACT_NONE));
    rl_arena_reset(a, mark);
    return 0;
}

int wan_dit_embed_patches(rl_wan_dit *m, rl_arena *a, const rl_tensor *x, const rl_wan_step *st, rl_tensor *tokens) {
    rl_backend *be = m->be;
    const int64_t C = x->shape[0], N = st->F * st->Hp * st->Wp;
    RL_TRY(arena_t2(a, tokens, RL_F32, st->n, m->cfg.dim));
    size_t mark = rl_arena_mark(a);
    /* x [C, T, H, W] = [C, T*Hp, 2, Wp, 2] -> patches [T*Hp, Wp, C, 2, 2] = [N, C*4] */
    rl_tensor x5 = rl_tensor_reshape(x, 5, (int64_t[]){C, st->F * st->Hp, 2, st->Wp, 2});
    rl_tensor xp = rl_tensor_permute(&x5, (int[]){1, 3, 0, 2, 4});
    rl_tensor patches;
    RL_TRY(rl_arena_tensor(a, &patches, RL_F32, 5, (int64_t[]){st->F * st->Hp, st->Wp, C, 2, 2}));
    RL_TRY(be->copy(be, &patches, &xp));
    rl_tensor flat = rl_tensor_reshape(&patches, 2, (int64_t[]){N, C * 4});
    rl_tensor mine = rl_tensor_slice(&flat, 0, st->token0, st->n);
    RL_TRY(linear(be, tokens, &mine, &m->patch, RL_ACT_NONE));
    rl_arena_reset(a, mark);
    return 0;
}

int wan_self_attention_local(void *ctx, rl_backend *be, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                             const rl_tensor *v, int64_t kv_len) {
    (void)ctx;
    float scale = 1.0f / sqrtf((float)q->shape[3]);
    return be->attention(be, out, q, k, v, kv_len, NULL, scale, NULL);
}

/* y [rows, D] = RMS(x W^T + b) * g: the q/k projections, normalised over all heads. */
static int project_norm(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_wan_linear *l,
                        const rl_tensor *g, float eps) {
    RL_TRY(linear(be, y, x, l, RL_ACT_NONE));
    return g ? be->rms_norm(be, y, y, g, eps) : 0;
}

static rl_tensor heads_view(const rl_tensor *t, int64_t H, int64_t d) {
    return rl_tensor_reshape(t, 4, (int64_t[]){1, t->shape[0], H, d});
}

/* WanSelfAttention: y [n, D] from the modulated h [n, D]. */
static int self_attention(rl_wan_dit *m, const rl_wan_attention *at, const rl_tensor *h, const rl_wan_step *st,
                          rl_arena *a, rl_tensor *y) {
    rl_backend *be = m->be;
    const int64_t n = st->n, D = m->cfg.dim, H = m->cfg.num_heads, d = m->cfg.head_dim;
    const rl_dtype act = be->act_dtype;
    rl_tensor q, k, v, o;
    RL_TRY(arena_t2(a, &q, act, n, D));
    RL_TRY(arena_t2(a, &k, act, n, D));
    RL_TRY(arena_t2(a, &v, act, n, D));
    RL_TRY(arena_t2(a, &o, act, n, D));
    RL_TRY(linear(be, &q, h, &at->q, RL_ACT_NONE));
    RL_TRY(linear(be, &k, h, &at->k, RL_ACT_NONE));
    RL_TRY(linear(be, &v, h, &at->v, RL_ACT_NONE));
    rl_tensor q4 = heads_view(&q, H, d), k4 = heads_view(&k, H, d), v4 = heads_view(&v, H, d);
    rl_tensor o4 = heads_view(&o, H, d);
    /* rope_apply(norm_q(q)), rope_apply(norm_k(k)) in one pass each, in place. As the
     * official model: the normalised value rounds to q's dtype (WanRMSNorm's
     * .type_as), times the weight and the rotation stay fp32 (fp32 weight, float64
     * rope_apply) and the one rounding to bf16 is flash_attention's input cast; the
     * unfused chain also rounded after the weight, which the reference does not. */
    RL_TRY(be->rms_norm_rope(be, &q4, &q4, &at->norm_q, &st->rope_cos, &st->rope_sin, m->cfg.eps));
    RL_TRY(be->rms_norm_rope(be, &k4, &k4, &at->norm_k, &st->rope_cos, &st->rope_sin, m->cfg.eps));
    rl_wan_self_attention_fn fn = m->self_attention ? m->self_attention : wan_self_attention_local;
    RL_TRY(fn(m->self_attention_ctx, be, &o4, &q4, &k4, &v4, st->seq_len));
    return linear(be, y, &o, &at->o, RL_ACT_NONE);
}

/* WanT2VCrossAttention: queries from c [n, D], keys/values from all text_len
 * embedded text tokens, no mask (the padding rows are attended, as the reference). */
static int cross_attention(rl_wan_dit *m, const rl_wan_attention *at, const rl_tensor *c, const rl_wan_step *st,
                           rl_arena *a, rl_tensor *y) {
    rl_backend *be = m->be;
    const int64_t n = st->n, D = m->cfg.dim, H = m->cfg.num_heads, d = m->cfg.head_dim, Lt = st->ctx.shape[0];
    const rl_dtype act = be->act_dtype;
    rl_tensor q, k, v, o;
    RL_TRY(arena_t2(a, &q, act, n, D));
    RL_TRY(arena_t2(a, &k, act, Lt, D));
    RL_TRY(arena_t2(a, &v, act, Lt, D));
    RL_TRY(arena_t2(a, &o, act, n, D));
    RL_TRY(project_norm(be, &q, c, &at->q, &at->norm_q, m->cfg.eps));
    RL_TRY(project_norm(be, &k, &st->ctx, &at->k, &at->norm_k, m->cfg.eps));
    RL_TRY(linear(be, &v, &st->ctx, &at->v, RL_ACT_NONE));
    rl_tensor q4 = heads_view(&q, H, d), k4 = heads_view(&k, H, d), v4 = heads_view(&v, H, d);
    rl_tensor o4 = heads_view(&o, H, d);
    RL_TRY(be->attention(be, &o4, &q4, &k4, &v4, 0, NULL, 1.0f / sqrtf((float)d), NULL));
    return linear(be, y, &o, &at->o, RL_ACT_NONE);
}

/* WanAttentionBlock.forward; x [n, D] f32 is the residual stream, updated in place. */
static void carry_done(rl_wan_carry *c) {
    if (c) c->pending = 0;
}

int wan_block_forward(rl_wan_dit *m, const rl_wan_block *blk, rl_tensor *x, const rl_wan_step *st, rl_arena *a,
                      rl_wan_carry *carry) {
    rl_backend *be = m->be;
    const int64_t n = st->n, D = m->cfg.dim, F = m->cfg.ffn_dim;
    const float eps = m->cfg.eps;
    size_t mark = rl_arena_mark(a);
    rl_tensor mod, h, y, f;
    RL_TRY(arena_t2(a, &mod, RL_F32, 6, D)); /* (modulation + e0).chunk(6): shift, scale, gate x2 */
    RL_TRY(be->add(be, &mod, &blk->modulation, &st->e0));
    rl_tensor shift_msa = rl_tensor_select(&mod, 0, 0), scale_msa = rl_tensor_select(&mod, 0, 1);
    rl_tensor gate_msa = rl_tensor_select(&mod, 0, 2), shift_ffn = rl_tensor_select(&mod, 0, 3);
    rl_tensor scale_ffn = rl_tensor_select(&mod, 0, 4), gate_ffn = rl_tensor_select(&mod, 0, 5);

    /* h and y live through the block: each residual add is fused with the norm that
     * follows it (one pass over x), and the next sublayer reads h and writes y. */
    RL_TRY(arena_t2(a, &h, be->act_dtype, n, D));
    RL_TRY(arena_t2(a, &y, be->act_dtype, n, D));
    size_t phase = rl_arena_mark(a);

    /* y = self_attn(norm1(x) * (1 + scale) + shift). The norm and the modulation run
     * in fp32 inside one op; the Linear takes the result in the activation dtype
     * (bf16 on GPUs: the reference's autocast cast at the Linear). */
    if (carry && carry->pending) /* the previous block's x += ffn * gate, fused */
        RL_TRY(be->add_layer_norm_modulate(be, x, &carry->y, &carry->gate, &h, &shift_msa, &scale_msa, eps));
    else
        RL_TRY(be->layer_norm_modulate(be, &h, x, &shift_msa, &scale_msa, eps));
    carry_done(carry);
    RL_TRY(self_attention(m, &blk->self_attn, &h, st, a, &y));
    rl_arena_reset(a, phase);

    /* x = x + y * gate; y = cross_attn(norm3(x), context): no gate, no modulation */
    RL_TRY(be->gated_add_layer_norm(be, x, &y, &gate_msa, &h, &blk->norm3_w, &blk->norm3_b, eps));
    RL_TRY(cross_attention(m, &blk->cross_attn, &h, st, a, &y));
    rl_arena_reset(a, phase);

    /* x = x + y; x = x + ffn(norm2(x) * (1 + scale) + shift) * gate, ffn = Linear, GELU(tanh), Linear */
    RL_TRY(be->add_layer_norm_modulate(be, x, &y, NULL, &h, &shift_ffn, &scale_ffn, eps));
    RL_TRY(arena_t2(a, &f, be->act_dtype, n, F));
    RL_TRY(linear(be, &f, &h, &blk->ffn1, RL_ACT_GELU_TANH));
    if (carry) { /* added by the next block's first norm, or by wan_dit_run_blocks */
        RL_TRY(linear(be, &carry->y, &f, &blk->ffn2, RL_ACT_NONE));
        RL_TRY(be->copy(be, &carry->gate, &gate_ffn));
        carry->pending = 1;
    } else {
        RL_TRY(linear(be, &y, &f, &blk->ffn2, RL_ACT_NONE));
        RL_TRY(be->gated_add(be, x, &y, &gate_ffn));
    }
    rl_arena_reset(a, mark);
    return 0;
}

/* Block i's weights: resident, streamed into a device slot, or gathered from the ranks' shards. */
static int block_ready(rl_wan_dit *m, int64_t i, const rl_wan_block **blk) {
    return m->fsdp ? wan_fsdp_ready(m->fsdp, m, i, blk) : wan_offload_ready(m->offload, m, i, blk);
}
static int block_release(rl_wan_dit *m, int64_t i) {
    return m->fsdp ? wan_fsdp_release(m->fsdp, i) : wan_offload_release(m->offload, i);
}

int wan_dit_run_blocks(rl_wan_dit *m, rl_tensor *tokens, const rl_wan_step *st, rl_arena *a) {
    rl_backend *be = m->be;
    RL_TRY(m->fsdp ? wan_fsdp_begin(m->fsdp) : wan_offload_begin(m->offload));
    size_t mark = rl_arena_mark(a);
    rl_wan_carry carry = {.pending = 0};
    RL_TRY(arena_t2(a, &carry.y, be->act_dtype, st->n, m->cfg.dim));
    RL_TRY(rl_arena_tensor(a, &carry.gate, RL_F32, 1, (int64_t[]){m->cfg.dim}));
    for (int64_t i = 0; i < m->cfg.num_layers; i++) {
        const rl_wan_block *blk;
        if (block_ready(m, i, &blk) != 0 || wan_block_forward(m, blk, tokens, st, a, &carry) != 0 ||
            block_release(m, i) != 0)
            return rl_error_wrap("wan dit block %lld", (long long)i);
    }
    if (carry.pending) RL_TRY(be->gated_add(be, tokens, &carry.y, &carry.gate));
    rl_arena_reset(a, mark);
    return 0;
}

int wan_dit_head(rl_wan_dit *m, rl_arena *a, const rl_tensor *x, const rl_wan_step *st, rl_tensor *out) {
    rl_backend *be = m->be;
    const int64_t D = m->cfg.dim;
    RL_TRY(arena_t2(a, out, RL_F32, st->n, m->cfg.out_dim * 4));
    size_t mark = rl_arena_mark(a);
    rl_tensor mod, h;
    RL_TRY(arena_t2(a, &mod, RL_F32, 2, D)); /* head.modulation + e (not e0, no SiLU) */
    RL_TRY(be->add(be, &mod, &m->head_modulation, &st->e));
    rl_tensor shift = rl_tensor_select(&mod, 0, 0), scale = rl_tensor_select(&mod, 0, 1);
    RL_TRY(arena_t2(a, &h, RL_F32, st->n, D));
    RL_TRY(be->layer_norm(be, &h, x, NULL, NULL, m->cfg.eps));
    RL_TRY(be->modulate(be, &h, &h, &shift, &scale));
    RL_TRY(linear(be, out, &h, &m->head, RL_ACT_NONE));
    rl_arena_reset(a, mark);
    return 0;
}

/* ---------------------------------------------------------------- whole forward */

static size_t al(size_t bytes) { return ((bytes + ARENA_SLACK - 1) / ARENA_SLACK + 1) * ARENA_SLACK; }

size_t wan_dit_activation_bytes(const rl_wan_dit_config *c, int64_t N, int64_t n) {
    const size_t f = sizeof(float), D = (size_t)c->dim, F = (size_t)c->ffn_dim, Lt = (size_t)c->text_len;
    const size_t nn = (size_t)n, NN = (size_t)N, half_d = (size_t)c->head_dim / 2;
    /* held for the whole call: e, e0, ctx, rope tables, tokens, head output */
    size_t keep = al(D * f) + al(6 * D * f) + al(Lt * D * f) + 2 * al(nn * half_d * f) + al(nn * D * f) +
                  al(nn * (size_t)c->out_dim * 4 * f) + al(nn * D * f) + al(D * f); /* ... + the FFN carry */
    /* the largest transient: embeddings, or one block phase, or the head */
    size_t time_t = al((size_t)c->freq_dim * f) + 2 * al(D * f);
    size_t text_t = al(Lt * (size_t)c->text_dim * f) + al(Lt * D * f);
    size_t patch_t = al(NN * (size_t)c->in_dim * 4 * f);
    size_t self_t = 6 * al(nn * D * f); /* h, y, q, k, v, o (q, k normed and roped in place) */
    size_t cross_t = 4 * al(nn * D * f) + 2 * al(Lt * D * f); /* h, y, q, o; k, v of the text */
    size_t ffn_t = 2 * al(nn * D * f) + al(nn * F * f);       /* h, y; f */
    size_t head_t = al(2 * D * f) + al(nn * D * f);
    size_t block_t = al(6 * D * f) + (self_t > cross_t ? (self_t > ffn_t ? self_t : ffn_t)
                                                       : (cross_t > ffn_t ? cross_t : ffn_t));
    size_t peak = time_t;
    size_t cand[] = {text_t, patch_t, block_t, head_t};
    for (size_t i = 0; i < sizeof cand / sizeof *cand; i++)
        if (cand[i] > peak) peak = cand[i];
    return keep + peak + 4 * ARENA_SLACK;
}

static int check_inputs(const rl_wan_dit *m, const rl_tensor *y, const rl_tensor *x, const rl_tensor *context) {
    const rl_wan_dit_config *c = &m->cfg;
    char s[96];
    if (x->ndim != 4 || x->dtype != RL_F32)
        return rl_error_set("wan dit: the latent x is %s %s; it must be f32 [%lld, T, H, W]", rl_dtype_name(x->dtype),
                            rl_shape_str(x, s, sizeof s), (long long)c->in_dim);
    if (x->shape[0] != c->in_dim)
        return rl_error_set("wan dit: the latent x %s has %lld channels but the model takes %lld",
                            rl_shape_str(x, s, sizeof s), (long long)x->shape[0], (long long)c->in_dim);
    for (int i = 1; i < 4; i++)
        if (x->shape[i] <= 0)
            return rl_error_set("wan dit: the latent x %s has an empty dimension", rl_shape_str(x, s, sizeof s));
    if (x->shape[2] % 2 || x->shape[3] % 2)
        return rl_error_set("wan dit: the latent x %s has an odd height or width; the 2x2 patches need both even "
                            "(image sizes a multiple of 16)", rl_shape_str(x, s, sizeof s));
    if (x->shape[1] > 1024 || x->shape[2] / 2 > 1024 || x->shape[3] / 2 > 1024)
        return rl_error_set("wan dit: the latent x %s exceeds the RoPE table of 1024 positions per axis",
                            rl_shape_str(x, s, sizeof s));
    if (context->ndim != 2 || context->dtype != RL_F32 || context->shape[1] != c->text_dim)
        return rl_error_set("wan dit: the text context is %s %s; it must be f32 [L, %lld] (the model's text_dim)",
                            rl_dtype_name(context->dtype), rl_shape_str(context, s, sizeof s),
                            (long long)c->text_dim);
    if (context->shape[0] > c->text_len)
        return rl_error_set("wan dit: the text context has %lld tokens; the model takes at most %lld",
                            (long long)context->shape[0], (long long)c->text_len);
    if (y->ndim != 4 || y->dtype != RL_F32 || y->shape[0] != c->out_dim || y->shape[1] != x->shape[1] ||
        y->shape[2] != x->shape[2] || y->shape[3] != x->shape[3])
        return rl_error_set("wan dit: the output y is %s; it must be f32 [%lld, T, H, W] like x",
                            rl_shape_str(y, s, sizeof s), (long long)c->out_dim);
    return 0;
}

/* y [C, T, H, W] from head rows [N, 64] = (f, h, w) x (q, r, c): y[c, f, 2h+q, 2w+r]. */
static int unpatchify(rl_backend *be, rl_tensor *y, const rl_tensor *head, const rl_wan_step *st) {
    const int64_t C = y->shape[0];
    rl_tensor h5 = rl_tensor_reshape(head, 5, (int64_t[]){st->F * st->Hp, st->Wp, 2, 2, C});
    rl_tensor hp = rl_tensor_permute(&h5, (int[]){4, 0, 2, 1, 3}); /* [C, T*Hp, q, Wp, r] */
    rl_tensor y5 = rl_tensor_reshape(y, 5, (int64_t[]){C, st->F * st->Hp, 2, st->Wp, 2});
    return be->copy(be, &y5, &hp);
}

static int forward_in(rl_wan_dit *m, rl_arena *a, rl_tensor *y, const rl_tensor *x, double t,
                      const rl_tensor *context) {
    rl_backend *be = m->be;
    rl_wan_step st;
    memset(&st, 0, sizeof st);
    st.F = x->shape[1], st.Hp = x->shape[2] / 2, st.Wp = x->shape[3] / 2;
    st.seq_len = st.F * st.Hp * st.Wp;
    st.token0 = 0, st.n = st.seq_len;
    RL_TRY(wan_dit_embed_time(m, a, t, &st.e, &st.e0));
    RL_TRY(wan_dit_embed_text(m, a, context, &st.ctx));
    const int64_t half = m->cfg.head_dim / 2;
    RL_TRY(arena_t2(a, &st.rope_cos, RL_F32, st.n, half));
    RL_TRY(arena_t2(a, &st.rope_sin, RL_F32, st.n, half));
    float *tab = malloc((size_t)(2 * st.n * half) * sizeof(float));
    if (!tab) return rl_error_set("out of host memory for the RoPE table");
    rl_rope3d_table(tab, tab + st.n * half, st.token0, st.n, st.F, st.Hp, st.Wp, (int)m->cfg.head_dim);
    size_t tb = (size_t)(st.n * half) * sizeof(float);
    int rc = be->upload(be, st.rope_cos.data, tab, tb);
    if (rc == 0) rc = be->upload(be, st.rope_sin.data, tab + st.n * half, tb);
    free(tab);
    RL_TRY(rc);
    rl_tensor tokens, head;
    RL_TRY(wan_dit_embed_patches(m, a, x, &st, &tokens));
    RL_TRY(wan_dit_run_blocks(m, &tokens, &st, a));
    RL_TRY(wan_dit_head(m, a, &tokens, &st, &head));
    return unpatchify(be, y, &head, &st);
}

int wan_dit_forward(rl_wan_dit *m, rl_tensor *y, const rl_tensor *x, double t, const rl_tensor *context) {
    RL_TRY(check_inputs(m, y, x, context));
    if (!(t >= 0.0 && t <= 1000.0))
        return rl_error_set("wan dit: the timestep %g is outside 0..1000", t);
    const int64_t N = x->shape[1] * (x->shape[2] / 2) * (x->shape[3] / 2);
    rl_arena a;
    RL_TRY(wan_dit_activation_arena(m, wan_dit_activation_bytes(&m->cfg, N, N), &a));
    int rc = forward_in(m, &a, y, x, t, context);
    m->peak_activation_bytes = a.peak;
    return rc;
}

int wan_dit_activation_arena(rl_wan_dit *m, size_t cap, rl_arena *a) {
    rl_backend *be = m->be;
    if (m->act_buf && m->act_cap < cap) {
        be->free(be, m->act_buf, m->act_cap);
        m->act_buf = NULL, m->act_cap = 0;
    }
    if (!m->act_buf) {
        m->act_buf = be->alloc(be, cap);
        if (!m->act_buf) return rl_error_wrap("wan dit activations");
        m->act_cap = cap;
    }
    rl_arena_init_over(a, "wan dit activations", be->device, m->act_buf, m->act_cap);
    return 0;
}

/* ---------------------------------------------------------------- tiny random model */

/* Canonical tensors of a t2v model of config c, in a fixed order, with the
 * standard deviation of their random values: weights 1/sqrt(fan_in), biases 0.1,
 * norm gains 1 + 0.1 N(0,1), modulation tables 0.5. */
typedef struct {
    char name[64];
    int ndim;
    int64_t shape[5];
    float std, mean;
} tiny_tensor;

static int tiny_list(const rl_wan_dit_config *c, tiny_tensor *out, int max) {
    const int64_t D = c->dim, F = c->ffn_dim;
    int n = 0;
#define TT(nm, sd, mu, nd, ...)                                                        \
    do {                                                                               \
        if (n == max) return -1;                                                       \
        tiny_tensor *t = &out[n++];                                                    \
        snprintf(t->name, sizeof t->name, "%s", nm);                                   \
        int64_t s_[] = {__VA_ARGS__};                                                  \
        t->ndim = nd;                                                                  \
        for (int i_ = 0; i_ < nd; i_++) t->shape[i_] = s_[i_];                         \
        t->std = sd, t->mean = mu;                                                     \
    } while (0)
    const float wd = 1.0f / sqrtf((float)D);
    TT("patch_embedding.weight", 1.0f / sqrtf((float)(c->in_dim * 4)), 0, 5, D, c->in_dim, 1, 2, 2);
    TT("patch_embedding.bias", 0.1f, 0, 1, D);
    TT("text_embedding.0.weight", 1.0f / sqrtf((float)c->text_dim), 0, 2, D, c->text_dim);
    TT("text_embedding.0.bias", 0.1f, 0, 1, D);
    TT("text_embedding.2.weight", wd, 0, 2, D, D);
    TT("text_embedding.2.bias", 0.1f, 0, 1, D);
    TT("time_embedding.0.weight", 1.0f / sqrtf((float)c->freq_dim), 0, 2, D, c->freq_dim);
    TT("time_embedding.0.bias", 0.1f, 0, 1, D);
    TT("time_embedding.2.weight", wd, 0, 2, D, D);
    TT("time_embedding.2.bias", 0.1f, 0, 1, D);
    TT("time_projection.1.weight", wd, 0, 2, 6 * D, D);
    TT("time_projection.1.bias", 0.1f, 0, 1, 6 * D);
    TT("head.modulation", 0.5f, 0, 3, 1, 2, D);
    TT("head.head.weight", wd, 0, 2, c->out_dim * 4, D);
    TT("head.head.bias", 0.1f, 0, 1, c->out_dim * 4);
    char nm[64];
    static const char *const attn[2] = {"self_attn", "cross_attn"}, *const proj[4] = {"q", "k", "v", "o"};
    for (int64_t b = 0; b < c->num_layers; b++) {
        snprintf(nm, sizeof nm, "blocks.%lld.modulation", (long long)b);
        TT(nm, 0.5f, 0, 3, 1, 6, D);
        for (int a = 0; a < 2; a++) {
            for (int p = 0; p < 4; p++) {
                snprintf(nm, sizeof nm, "blocks.%lld.%s.%s.weight", (long long)b, attn[a], proj[p]);
                TT(nm, wd, 0, 2, D, D);
                snprintf(nm, sizeof nm, "blocks.%lld.%s.%s.bias", (long long)b, attn[a], proj[p]);
                TT(nm, 0.1f, 0, 1, D);
            }
            snprintf(nm, sizeof nm, "blocks.%lld.%s.norm_q.weight", (long long)b, attn[a]);
            TT(nm, 0.1f, 1, 1, D);
            snprintf(nm, sizeof nm, "blocks.%lld.%s.norm_k.weight", (long long)b, attn[a]);
            TT(nm, 0.1f, 1, 1, D);
        }
        snprintf(nm, sizeof nm, "blocks.%lld.norm3.weight", (long long)b);
        TT(nm, 0.1f, 1, 1, D);
        snprintf(nm, sizeof nm, "blocks.%lld.norm3.bias", (long long)b);
        TT(nm, 0.1f, 0, 1, D);
        snprintf(nm, sizeof nm, "blocks.%lld.ffn.0.weight", (long long)b);
        TT(nm, wd, 0, 2, F, D);
        snprintf(nm, sizeof nm, "blocks.%lld.ffn.0.bias", (long long)b);
        TT(nm, 0.1f, 0, 1, F);
        snprintf(nm, sizeof nm, "blocks.%lld.ffn.2.weight", (long long)b);
        TT(nm, 1.0f / sqrtf((float)F), 0, 2, D, F);
        snprintf(nm, sizeof nm, "blocks.%lld.ffn.2.bias", (long long)b);
        TT(nm, 0.1f, 0, 1, D);
    }
#undef TT
    return n;
}

int wan_dit_write_tiny(const char *path, const rl_wan_dit_config *c, uint64_t seed) {
    if (c->dim <= 0 || c->dim % c->head_dim || c->num_layers < 1 || c->num_layers > 64 || c->ffn_dim <= 0 ||
        c->text_dim <= 0 || c->freq_dim <= 0 || c->freq_dim % 2)
        return rl_error_set("make-tiny: an invalid tiny DiT config (dim %lld, head %lld, %lld blocks)",
                            (long long)c->dim, (long long)c->head_dim, (long long)c->num_layers);
    int max = 16 + 32 * (int)c->num_layers;
    tiny_tensor *list = calloc((size_t)max, sizeof *list);
    rl_st_writer *w = rl_st_writer_new();
    int rc = (!list || !w) ? rl_error_set("make-tiny: out of memory") : 0;
    int n = rc == 0 ? tiny_list(c, list, max) : 0;
    if (rc == 0 && n < 0) rc = rl_error_set("make-tiny: tensor table overflow (a bug)");
    for (int i = 0; rc == 0 && i < n; i++) {
        int64_t numel = 1;
        for (int k = 0; k < list[i].ndim; k++) numel *= list[i].shape[k];
        float *v = malloc((size_t)numel * sizeof(float));
        if (!v) rc = rl_error_set("make-tiny: out of memory");
        /* one torch-identical stream per tensor: seed, tensor index */
        if (rc == 0) rc = rl_randn_torch(v, numel, seed * 1000003ull + (uint64_t)i);
        for (int64_t k = 0; rc == 0 && k < numel; k++) v[k] = list[i].mean + list[i].std * v[k];
        if (rc == 0) rc = rl_st_writer_add(w, list[i].name, RL_F32, list[i].ndim, list[i].shape, v);
        free(v);
    }
    char hd[32], sd[32];
    snprintf(hd, sizeof hd, "%lld", (long long)c->head_dim);
    snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
    if (rc == 0 && c->head_dim != 128) rc = rl_st_writer_meta(w, "raylight_head_dim", hd);
    if (rc == 0) rc = rl_st_writer_meta(w, "raylight_tiny_seed", sd);
    if (rc == 0) rc = rl_st_writer_save(w, path);
    if (w) rl_st_writer_free(w);
    free(list);
    return rc;
}
