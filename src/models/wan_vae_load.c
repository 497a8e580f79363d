/* wan_vae_load.c: Wan 2.1 VAE weights: architecture detection from the tensor
 * shapes, loading onto a backend (fp32), and a random-weight writer for tiny
 * end-to-end models.
 *
 * The stage layout is read from the file: encoder.downsamples.N and
 * decoder.upsamples.N are walked from 0 while a residual block
 * (residual.0.gamma) or a Resample (resample.1.weight, with time_conv when it
 * is 3-D) exists there. Channel counts come from the conv shapes; every tensor
 * is then loaded with the shape the chain implies, so a file of another
 * architecture fails with the name of the first tensor that does not fit. */
#include "models/wan_vae.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Wan's per-channel latent statistics (WanVAE.__init__ / diffusers latents_mean, latents_std). */
static const float wan_lat_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                       0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
static const float wan_lat_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                      3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

#define MAX_CH (1 << 16)

static int ld(rl_weights *wt, rl_tensor *out, int nd, const int64_t *shape, const char *fmt, ...) RL_PRINTF(5, 6);
static int ld(rl_weights *wt, rl_tensor *out, int nd, const int64_t *shape, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return rl_weights_load(wt, name, RL_F32, nd, shape, out);
}

static int ld_conv(rl_weights *wt, rl_vae_conv *c, const char *prefix, int64_t cout, int64_t cin, int kt, int kh,
                   int kw) {
    int64_t ws[5] = {cout, cin, kt, kh, kw}, bs[1] = {cout};
    RL_TRY(ld(wt, &c->w, 5, ws, "%s.weight", prefix));
    return ld(wt, &c->b, 1, bs, "%s.bias", prefix);
}

static int ld_vec(rl_weights *wt, rl_tensor *t, int64_t n, const char *name) {
    int64_t s[1] = {n};
    return ld(wt, t, 1, s, "%s", name);
}

/* Dimension d of a canonical tensor, or -1 when absent / out of range. */
static int64_t dim_of(const rl_weights *wt, const char *name, int d) {
    int nd;
    int64_t s[RL_MAX_DIMS];
    if (rl_weights_shape(wt, name, &nd, s) != 0 || d >= nd) return -1;
    return s[d] >= 1 && s[d] <= MAX_CH ? s[d] : -1;
}

static int has(const rl_weights *wt, const char *name) {
    int nd;
    int64_t s[RL_MAX_DIMS];
    return rl_weights_shape(wt, name, &nd, s) == 0;
}

static int load_res(rl_weights *wt, rl_vae_layer *L, const char *p, int64_t cin) {
    char n[256];
    L->kind = VAE_RES;
    L->cin = cin;
    snprintf(n, sizeof n, "%s.residual.2.weight", p);
    L->cout = dim_of(wt, n, 0);
    if (L->cout < 0)
        return rl_error_set("%s: tensor '%s' is missing or has an unusable shape; not a Wan 2.1 VAE", wt->st.path, n);
    snprintf(n, sizeof n, "%s.residual.0.gamma", p);
    RL_TRY(ld_vec(wt, &L->gamma1, cin, n));
    snprintf(n, sizeof n, "%s.residual.3.gamma", p);
    RL_TRY(ld_vec(wt, &L->gamma2, L->cout, n));
    snprintf(n, sizeof n, "%s.residual.2", p);
    RL_TRY(ld_conv(wt, &L->conv1, n, L->cout, cin, 3, 3, 3));
    snprintf(n, sizeof n, "%s.residual.6", p);
    RL_TRY(ld_conv(wt, &L->conv2, n, L->cout, L->cout, 3, 3, 3));
    if (cin != L->cout) {
        snprintf(n, sizeof n, "%s.shortcut", p);
        RL_TRY(ld_conv(wt, &L->shortcut, n, L->cout, cin, 1, 1, 1));
    }
    return 0;
}

static int load_resample(rl_weights *wt, rl_vae_layer *L, const char *p, int64_t cin, int up) {
    char n[256];
    snprintf(n, sizeof n, "%s.time_conv.weight", p);
    int three_d = has(wt, n);
    L->kind = up ? (three_d ? VAE_UP3D : VAE_UP2D) : (three_d ? VAE_DOWN3D : VAE_DOWN2D);
    L->cin = cin;
    L->cout = up ? cin / 2 : cin;
    if (up && cin % 2)
        return rl_error_set("%s: upsampler '%s' has %lld input channels; Wan's upsamplers need an even count",
                            wt->st.path, p, (long long)cin);
    snprintf(n, sizeof n, "%s.resample.1", p);
    RL_TRY(ld_conv(wt, &L->spatial, n, L->cout, cin, 1, 3, 3));
    if (three_d) {
        snprintf(n, sizeof n, "%s.time_conv", p);
        RL_TRY(ld_conv(wt, &L->time, n, up ? 2 * cin : cin, cin, 3, 1, 1));
    }
    return 0;
}

static int load_attn(rl_weights *wt, rl_vae_attn *a, const char *part, int64_t C) {
    char n[256];
    int64_t qw[2] = {3 * C, C}, pw[2] = {C, C};
    snprintf(n, sizeof n, "%s.middle.1.norm.gamma", part);
    RL_TRY(ld_vec(wt, &a->gamma, C, n));
    RL_TRY(ld(wt, &a->qkv_w, 2, qw, "%s.middle.1.to_qkv.weight", part));
    snprintf(n, sizeof n, "%s.middle.1.to_qkv.bias", part);
    RL_TRY(ld_vec(wt, &a->qkv_b, 3 * C, n));
    RL_TRY(ld(wt, &a->proj_w, 2, pw, "%s.middle.1.proj.weight", part));
    snprintf(n, sizeof n, "%s.middle.1.proj.bias", part);
    return ld_vec(wt, &a->proj_b, C, n);
}

/* Loads one half. enc: conv1 3->C0, downsamples, middle, head -> 2z. dec: conv1 z->C0,
 * middle, upsamples, head -> 3. */
static int load_coder(rl_weights *wt, rl_vae_coder *c, int enc, int z_dim) {
    const char *part = enc ? "encoder" : "decoder", *list = enc ? "downsamples" : "upsamples";
    char n[256], p[200];
    int64_t cin0 = enc ? 3 : z_dim;
    snprintf(n, sizeof n, "%s.conv1.weight", part);
    int64_t C = dim_of(wt, n, 0);
    if (C < 0) return rl_error_set("%s: tensor '%s' is missing or has an unusable shape; not a Wan 2.1 VAE", wt->st.path, n);
    snprintf(p, sizeof p, "%s.conv1", part);
    RL_TRY(ld_conv(wt, &c->conv_in, p, C, cin0, 3, 3, 3));
    if (!enc) { /* decoder: the middle comes first */
        for (int j = 0; j < 2; j++) {
            snprintf(p, sizeof p, "decoder.middle.%d", 2 * j);
            RL_TRY(load_res(wt, &c->mid_res[j], p, C));
            if (c->mid_res[j].cout != C) return rl_error_set("%s: '%s' changes the width; not a Wan 2.1 VAE", wt->st.path, p);
            if (j == 0) RL_TRY(load_attn(wt, &c->mid_attn, part, C));
        }
    }
    for (c->n_layers = 0;; c->n_layers++) {
        int i = c->n_layers;
        char g[256], r[256];
        snprintf(p, sizeof p, "%s.%s.%d", part, list, i);
        snprintf(g, sizeof g, "%s.residual.0.gamma", p);
        snprintf(r, sizeof r, "%s.resample.1.weight", p);
        if (!has(wt, g) && !has(wt, r)) break;
        if (i == RL_VAE_MAX_LAYERS)
            return rl_error_set("%s: more than %d %s.%s blocks; not a Wan 2.1 VAE", wt->st.path, RL_VAE_MAX_LAYERS,
                                part, list);
        if (has(wt, g)) RL_TRY(load_res(wt, &c->layers[i], p, C));
        else RL_TRY(load_resample(wt, &c->layers[i], p, C, !enc));
        C = c->layers[i].cout;
    }
    if (enc) {
        for (int j = 0; j < 2; j++) {
            snprintf(p, sizeof p, "encoder.middle.%d", 2 * j);
            RL_TRY(load_res(wt, &c->mid_res[j], p, C));
            if (c->mid_res[j].cout != C) return rl_error_set("%s: '%s' changes the width; not a Wan 2.1 VAE", wt->st.path, p);
            if (j == 0) RL_TRY(load_attn(wt, &c->mid_attn, part, C));
        }
    }
    snprintf(n, sizeof n, "%s.head.0.gamma", part);
    RL_TRY(ld_vec(wt, &c->head_gamma, C, n));
    snprintf(p, sizeof p, "%s.head.2", part);
    RL_TRY(ld_conv(wt, &c->head, p, enc ? 2 * z_dim : 3, C, 3, 3, 3));
    c->loaded = 1;
    return 0;
}

/* Wan 2.1 resamples three times (8x in space), twice in time (4x): the chunk
 * rules and the frame count 4(T-1)+1 depend on it. */
static int check_stages(const rl_wan_vae *v, const rl_vae_coder *c, const char *part) {
    int s = 0, t = 0;
    for (int i = 0; i < c->n_layers; i++) {
        rl_vae_kind k = c->layers[i].kind;
        s += k != VAE_RES;
        t += k == VAE_UP3D || k == VAE_DOWN3D;
    }
    if (s != 3 || t != 2)
        return rl_error_set("%s: the %s resamples %d times in space and %d in time; a Wan 2.1 VAE does 3 and 2 "
                            "(8x spatial, 4x temporal)", v->path, part, s, t);
    return 0;
}

/* dim_mult from the widths at the end of each stage (before each resample, and the last). */
static void derive_dims(rl_wan_vae *v) {
    const rl_vae_coder *c = v->dec.loaded ? &v->dec : &v->enc;
    int64_t w[8];
    int n = 0;
    for (int i = 0; i < c->n_layers && n < 7; i++)
        if (c->layers[i].kind != VAE_RES && i > 0) w[n++] = c->layers[i - 1].cout;
    w[n++] = c->n_layers ? c->layers[c->n_layers - 1].cout : 0;
    if (v->dec.loaded) /* decoder stages run widest first; their widths reversed are dim * dim_mult */
        for (int i = 0; i < n / 2; i++) {
            int64_t tmp = w[i];
            w[i] = w[n - 1 - i];
            w[n - 1 - i] = tmp;
        }
    v->dim = (int)(v->dec.loaded ? v->dec.head.w.shape[1] : v->enc.conv_in.w.shape[0]);
    v->n_stages = n;
    for (int i = 0; i < n; i++) v->dim_mult[i] = v->dim ? (int)(w[i] / v->dim) : 0;
}

static int upload_vec(rl_wan_vae *v, rl_tensor *t, const float *src, int64_t n) {
    rl_backend *be = v->be;
    void *p = be->alloc(be, (size_t)n * sizeof(float));
    if (!p) return -1;
    *t = rl_tensor_make(p, RL_F32, be->device, 1, &n);
    v->weight_bytes += (size_t)n * sizeof(float);
    return be->upload(be, p, src, (size_t)n * sizeof(float));
}

/* The ops the VAE calls; a backend still being written may lack some. */
static int check_backend(const rl_backend *be) {
    const struct {
        const char *name;
        int present;
    } ops[] = {
        {"conv3d", be->conv3d != NULL}, {"rms_norm_channels", be->rms_norm_channels != NULL},
        {"silu", be->silu != NULL}, {"add", be->add != NULL}, {"matmul", be->matmul != NULL},
        {"attention", be->attention != NULL}, {"copy", be->copy != NULL},
        {"channel_affine", be->channel_affine != NULL}, {"upsample_nearest2x", be->upsample_nearest2x != NULL},
        {"clamp", be->clamp != NULL},
    };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!ops[i].present)
            return rl_error_set("the %s backend has no '%s' op yet, which the Wan VAE needs; use --backend cpu",
                                be->name, ops[i].name);
    return 0;
}

int wan_vae_load(rl_wan_vae *v, const char *path, rl_backend *be, int parts) {
    memset(v, 0, sizeof *v);
    RL_TRY(check_backend(be));
    v->be = be;
    snprintf(v->path, sizeof v->path, "%s", path);
    rl_weights wt;
    RL_TRY(rl_weights_open(&wt, path, be, RL_MODEL_WAN_VAE));
    int rc = 0;
    v->z_dim = (int)dim_of(&wt, "conv2.weight", 0);
    if (v->z_dim != 16)
        rc = rl_error_set("%s: conv2.weight gives a latent width of %d; the Wan 2.1 VAE has 16 latent channels",
                          path, v->z_dim);
    if (rc == 0 && (parts & RL_VAE_DECODER)) {
        int64_t s[5] = {16, 16, 1, 1, 1}, b[1] = {16};
        rc = rl_weights_load(&wt, "conv2.weight", RL_F32, 5, s, &v->post_quant.w);
        if (rc == 0) rc = rl_weights_load(&wt, "conv2.bias", RL_F32, 1, b, &v->post_quant.b);
        if (rc == 0) rc = load_coder(&wt, &v->dec, 0, v->z_dim);
        if (rc == 0) rc = check_stages(v, &v->dec, "decoder");
    }
    if (rc == 0 && (parts & RL_VAE_ENCODER)) {
        int64_t s[5] = {32, 32, 1, 1, 1}, b[1] = {32};
        rc = rl_weights_load(&wt, "conv1.weight", RL_F32, 5, s, &v->quant.w);
        if (rc == 0) rc = rl_weights_load(&wt, "conv1.bias", RL_F32, 1, b, &v->quant.b);
        if (rc == 0) rc = load_coder(&wt, &v->enc, 1, v->z_dim);
        if (rc == 0) rc = check_stages(v, &v->enc, "encoder");
    }
    v->weight_bytes += wt.device_bytes;
    rl_weights_close(&wt);
    if (rc == 0) {
        float inv[16], nshift[16];
        for (int i = 0; i < 16; i++) {
            inv[i] = 1.0f / wan_lat_std[i];
            nshift[i] = -wan_lat_mean[i] * inv[i];
        }
        rc = upload_vec(v, &v->lat_std, wan_lat_std, 16);
        if (rc == 0) rc = upload_vec(v, &v->lat_mean, wan_lat_mean, 16);
        if (rc == 0) rc = upload_vec(v, &v->lat_inv_std, inv, 16);
        if (rc == 0) rc = upload_vec(v, &v->lat_nshift, nshift, 16);
    }
    if (rc == 0) derive_dims(v);
    if (rc != 0) wan_vae_free(v);
    return rc;
}

/* ---------------------------------------------------------------- freeing */

static void free_t(rl_backend *be, rl_tensor *t) {
    if (t->data) be->free(be, t->data, rl_tensor_nbytes(t));
    memset(t, 0, sizeof *t);
}
static void free_conv(rl_backend *be, rl_vae_conv *c) {
    free_t(be, &c->w);
    free_t(be, &c->b);
}
static void free_cache(rl_backend *be, rl_vae_cache *c) {
    if (c->data) be->free(be, c->data, c->bytes);
    memset(c, 0, sizeof *c);
}
static void free_layer(rl_backend *be, rl_vae_layer *L) {
    free_t(be, &L->gamma1), free_t(be, &L->gamma2);
    free_conv(be, &L->conv1), free_conv(be, &L->conv2), free_conv(be, &L->shortcut);
    free_conv(be, &L->spatial), free_conv(be, &L->time);
    free_cache(be, &L->cache[0]), free_cache(be, &L->cache[1]);
}
static void free_coder(rl_backend *be, rl_vae_coder *c) {
    free_conv(be, &c->conv_in), free_cache(be, &c->conv_in_cache);
    for (int j = 0; j < 2; j++) free_layer(be, &c->mid_res[j]);
    free_t(be, &c->mid_attn.gamma), free_t(be, &c->mid_attn.qkv_w), free_t(be, &c->mid_attn.qkv_b);
    free_t(be, &c->mid_attn.proj_w), free_t(be, &c->mid_attn.proj_b);
    for (int i = 0; i < RL_VAE_MAX_LAYERS; i++) free_layer(be, &c->layers[i]);
    free_t(be, &c->head_gamma), free_conv(be, &c->head), free_cache(be, &c->head_cache);
}

void wan_vae_free(rl_wan_vae *v) {
    if (!v->be) return;
    free_coder(v->be, &v->enc), free_coder(v->be, &v->dec);
    free_conv(v->be, &v->quant), free_conv(v->be, &v->post_quant);
    free_t(v->be, &v->lat_std), free_t(v->be, &v->lat_mean), free_t(v->be, &v->lat_inv_std);
    free_t(v->be, &v->lat_nshift);
    memset(v, 0, sizeof *v);
}

const char *wan_vae_describe(const rl_wan_vae *v, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "Wan 2.1 VAE: dim %d, z_dim %d, dim_mult [", v->dim, v->z_dim);
    for (int i = 0; i < v->n_stages && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ",%d" : "%d", v->dim_mult[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]%s%s, %.1f MiB of fp32 weights", v->dec.loaded ? ", decoder" : "",
                 v->enc.loaded ? ", encoder" : "", (double)v->weight_bytes / 1048576.0);
    return buf;
}

/* ---------------------------------------------------------------- random writer */

typedef struct {
    rl_st_writer *w;
    uint64_t rng;
    int rc;
} rand_ctx;

static float rand_uniform(rand_ctx *r) { /* [-1, 1) */
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (float)((double)(r->rng >> 11) * 0x1.0p-52 - 1.0);
}

/* kind: 'w' conv weight (fan-in scaled), 'b' bias, 'g' norm gamma. */
static void put(rand_ctx *r, char kind, int nd, const int64_t *shape, const char *fmt, ...) RL_PRINTF(5, 6);
static void put(rand_ctx *r, char kind, int nd, const int64_t *shape, const char *fmt, ...) {
    if (r->rc) return;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    float *d = malloc((size_t)n * sizeof(float));
    if (!d) {
        r->rc = rl_error_set("out of host memory writing tensor '%s'", name);
        return;
    }
    /* uniform weights with the fan-in scale of PyTorch's default init x 0.6: keeps a
     * random network's output mostly inside the [-1, 1] clamp */
    double fan_in = shape[0] ? (double)n / (double)shape[0] : 1.0, a = 0.6 * sqrt(3.0 / fan_in);
    for (int64_t i = 0; i < n; i++)
        d[i] = kind == 'w' ? (float)(a * rand_uniform(r)) : kind == 'b' ? 0.1f * rand_uniform(r)
                                                                         : 1.0f + 0.25f * rand_uniform(r);
    r->rc = rl_st_writer_add(r->w, name, RL_F32, nd, shape, d);
    free(d);
}

static void put_conv(rand_ctx *r, const char *p, int64_t co, int64_t ci, int kt, int kh, int kw, int two_d) {
    int64_t w5[5] = {co, ci, kt, kh, kw}, w4[4] = {co, ci, kh, kw}, b[1] = {co};
    if (two_d) put(r, 'w', 4, w4, "%s.weight", p);
    else put(r, 'w', 5, w5, "%s.weight", p);
    put(r, 'b', 1, b, "%s.bias", p);
}

static void put_res(rand_ctx *r, const char *p, int64_t ci, int64_t co) {
    char n[200];
    int64_t g1[4] = {ci, 1, 1, 1}, g2[4] = {co, 1, 1, 1};
    put(r, 'g', 4, g1, "%s.residual.0.gamma", p);
    put(r, 'g', 4, g2, "%s.residual.3.gamma", p);
    snprintf(n, sizeof n, "%s.residual.2", p), put_conv(r, n, co, ci, 3, 3, 3, 0);
    snprintf(n, sizeof n, "%s.residual.6", p), put_conv(r, n, co, co, 3, 3, 3, 0);
    if (ci != co) snprintf(n, sizeof n, "%s.shortcut", p), put_conv(r, n, co, ci, 1, 1, 1, 0);
}

static void put_middle(rand_ctx *r, const char *part, int64_t C) {
    char n[200];
    int64_t g[3] = {C, 1, 1}, qw[4] = {3 * C, C, 1, 1}, qb[1] = {3 * C}, pw[4] = {C, C, 1, 1}, pb[1] = {C};
    snprintf(n, sizeof n, "%s.middle.0", part), put_res(r, n, C, C);
    snprintf(n, sizeof n, "%s.middle.2", part), put_res(r, n, C, C);
    put(r, 'g', 3, g, "%s.middle.1.norm.gamma", part);
    put(r, 'w', 4, qw, "%s.middle.1.to_qkv.weight", part);
    put(r, 'b', 1, qb, "%s.middle.1.to_qkv.bias", part);
    put(r, 'w', 4, pw, "%s.middle.1.proj.weight", part);
    put(r, 'b', 1, pb, "%s.middle.1.proj.bias", part);
}

/* The official module tree of WanVAE_(dim, z_dim=16, dim_mult [1,2,4,4], 2 res
 * blocks, temperal_downsample [False, True, True]). */
int wan_vae_write_random(const char *path, int base_dim, uint64_t seed) {
    if (base_dim < 2 || base_dim > 1024 || base_dim % 2)
        return rl_error_set("wan_vae_write_random: base width %d must be even and in [2, 1024]", base_dim);
    rand_ctx r = {rl_st_writer_new(), seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull, 0};
    if (!r.w) return rl_error_set("out of host memory creating a safetensors writer for %s", path);
    const int mult[4] = {1, 2, 4, 4}, tdown[3] = {0, 1, 1};
    int64_t d = base_dim, z = 16, g[4];
    char n[200];
    /* encoder */
    put_conv(&r, "encoder.conv1", d, 3, 3, 3, 3, 0);
    int idx = 0;
    int64_t cin = d;
    for (int s = 0; s < 4; s++) {
        int64_t cout = d * mult[s];
        for (int j = 0; j < 2; j++, cin = cout) snprintf(n, sizeof n, "encoder.downsamples.%d", idx++), put_res(&r, n, cin, cout);
        if (s == 3) break;
        snprintf(n, sizeof n, "encoder.downsamples.%d.resample.1", idx), put_conv(&r, n, cout, cout, 1, 3, 3, 1);
        if (tdown[s]) snprintf(n, sizeof n, "encoder.downsamples.%d.time_conv", idx), put_conv(&r, n, cout, cout, 3, 1, 1, 0);
        idx++;
    }
    put_middle(&r, "encoder", cin);
    g[0] = cin, g[1] = g[2] = g[3] = 1;
    put(&r, 'g', 4, g, "encoder.head.0.gamma");
    put_conv(&r, "encoder.head.2", 2 * z, cin, 3, 3, 3, 0);
    put_conv(&r, "conv1", 2 * z, 2 * z, 1, 1, 1, 0);
    put_conv(&r, "conv2", z, z, 1, 1, 1, 0);
    /* decoder: widths dim * [4, 4, 4, 2, 1]; stages after an upsample start at half width */
    int64_t dims[5] = {d * 4, d * 4, d * 4, d * 2, d};
    put_conv(&r, "decoder.conv1", dims[0], z, 3, 3, 3, 0);
    put_middle(&r, "decoder", dims[0]);
    idx = 0;
    for (int s = 0; s < 4; s++) {
        int64_t ci = s ? dims[s] / 2 : dims[s], co = dims[s + 1];
        for (int j = 0; j < 3; j++, ci = co) snprintf(n, sizeof n, "decoder.upsamples.%d", idx++), put_res(&r, n, ci, co);
        if (s == 3) break;
        snprintf(n, sizeof n, "decoder.upsamples.%d.resample.1", idx), put_conv(&r, n, co / 2, co, 1, 3, 3, 1);
        if (tdown[2 - s]) snprintf(n, sizeof n, "decoder.upsamples.%d.time_conv", idx), put_conv(&r, n, 2 * co, co, 3, 1, 1, 0);
        idx++;
    }
    g[0] = d;
    put(&r, 'g', 4, g, "decoder.head.0.gamma");
    put_conv(&r, "decoder.head.2", 3, d, 3, 3, 3, 0);
    if (r.rc == 0) r.rc = rl_st_writer_meta(r.w, "format", "pt");
    if (r.rc == 0) r.rc = rl_st_writer_save(r.w, path);
    rl_st_writer_free(r.w);
    return r.rc;
}
