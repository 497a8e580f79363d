/* wan_vae.c: the Wan 2.1 VAE forward (wan/modules/vae.py) on the backend op table,
 * and the chunked decode / encode drivers.
 *
 * Conventions
 * - Activations are channel-first [C, F, H, W] (one video, no batch dim), fp32.
 * - Causal time handling follows the reference's feature cache exactly: each
 *   cached conv keeps up to 2 of its input frames from the previous chunk and
 *   prepends them (front zero padding 2 - n); see cache_update. Resample 3-D
 *   layers skip their time conv on the very first chunk (the reference's 'Rep'
 *   marker); the zeros the reference then caches are the same as our front pad.
 * - Memory: one block used from both ends (a layer reads its input from one end and
 *   writes its output and temporaries from the other), reset every chunk. Its
 *   size comes from a first pass over the first chunks that runs no op and only
 *   counts bytes (measure mode), so an out-of-memory shows up before any work.
 * - Frames leave the device as soon as a chunk is decoded. */
#include "models/wan_vae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NORM_EPS 1e-12f /* F.normalize's eps */
/* Measure mode hands out addresses from here; no op runs, nothing is dereferenced. */
#define FAKE_BASE ((uint8_t *)(uintptr_t)0x10000)

/* One block of device memory used from both ends: the current layer's input sits
 * at one end (side cur), its output and temporaries grow from the other, and the
 * next layer swaps the ends. The block needs max over layers of input + output +
 * temporaries, less than two separate arenas would. */
typedef struct {
    uint8_t *base;
    size_t cap, used[2], peak;
} vae_mem;

typedef struct {
    rl_backend *be;
    vae_mem mem;
    int cur; /* the side holding the current layer's input */
    int measure;
    size_t cache_bytes;
} vae_run;

/* Runs a backend call unless measuring; propagates its failure. */
#define OP(r, call)                                   \
    do {                                              \
        if (!(r)->measure && (call) != 0) return -1;  \
    } while (0)

#define MEM_ALIGN 256

static int work(const vae_run *r) { return 1 - r->cur; }
static size_t mem_mark(const vae_run *r, int side) { return r->mem.used[side]; }
static void mem_reset(vae_run *r, int side, size_t m) { r->mem.used[side] = m; }

static int mem_tensor(vae_run *r, int side, rl_tensor *t, int nd, const int64_t *shape) {
    vae_mem *m = &r->mem;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    size_t bytes = ((size_t)n * sizeof(float) + MEM_ALIGN - 1) & ~(size_t)(MEM_ALIGN - 1);
    if (m->used[0] + m->used[1] + bytes > m->cap)
        return rl_error_set("VAE activation memory exhausted (%zu bytes, a bug: please report)", m->cap);
    uint8_t *p = side == 0 ? m->base + m->used[0] : m->base + m->cap - m->used[1] - bytes;
    m->used[side] += bytes;
    if (m->used[0] + m->used[1] > m->peak) m->peak = m->used[0] + m->used[1];
    *t = rl_tensor_make(p, RL_F32, r->be->device, nd, shape);
    return 0;
}

static int new4(vae_run *r, int side, rl_tensor *t, int64_t c, int64_t f, int64_t h, int64_t w) {
    int64_t s[4] = {c, f, h, w};
    return mem_tensor(r, side, t, 4, s);
}

static rl_conv3d_params conv_params(int st, int ss, int pt, int ph, int pw, int back_h) {
    rl_conv3d_params p = {{st, ss, ss}, {pt, ph, pw}, {0, ph + back_h, pw + back_h}, NULL};
    return p;
}

/* ---------------------------------------------------------------- causal cache */

static rl_tensor cache_view(const vae_run *r, const rl_vae_cache *c, int start, int len) {
    int64_t s[4] = {c->C, 2, c->H, c->W};
    rl_tensor t = rl_tensor_make(c->data ? c->data : FAKE_BASE, RL_F32, r->be->device, 4, s);
    return rl_tensor_slice(&t, 1, start, len);
}

static int cache_ensure(vae_run *r, rl_vae_cache *c, int64_t C, int64_t H, int64_t W) {
    size_t bytes = (size_t)(C * 2 * H * W) * sizeof(float);
    if (c->C == C && c->H == H && c->W == W && (c->data || r->measure)) return 0;
    if (c->data) r->be->free(r->be, c->data, c->bytes);
    c->data = NULL;
    c->C = C, c->H = H, c->W = W, c->bytes = bytes, c->n = 0;
    r->cache_bytes += bytes;
    if (r->measure) return 0;
    c->data = r->be->alloc(r->be, bytes);
    return c->data ? 0 : rl_error_wrap("allocating the VAE's causal frame cache");
}

/* After a conv saw x [C, F, H, W]: keep its last 2 input frames; with a 1-frame
 * chunk, the previous chunk's last frame and this one (the reference's CACHE_T rule). */
static int cache_update(vae_run *r, rl_vae_cache *c, const rl_tensor *x) {
    int64_t F = x->shape[1];
    RL_TRY(cache_ensure(r, c, x->shape[0], x->shape[2], x->shape[3]));
    rl_backend *be = r->be;
    if (F >= 2) {
        rl_tensor dst = cache_view(r, c, 0, 2), src = rl_tensor_slice(x, 1, F - 2, 2);
        OP(r, be->copy(be, &dst, &src));
        c->n = 2;
    } else if (c->n >= 1) {
        rl_tensor s1 = cache_view(r, c, 1, 1), s0 = cache_view(r, c, 0, 1);
        if (c->n == 2) OP(r, be->copy(be, &s0, &s1));
        OP(r, be->copy(be, &s1, x));
        c->n = 2;
    } else {
        rl_tensor s0 = cache_view(r, c, 0, 1);
        OP(r, be->copy(be, &s0, x));
        c->n = 1;
    }
    return 0;
}

/* y [Cout, F, H, W] = CausalConv3d(x [Cin, F, H, W]): front time padding kt-1 zero
 * frames, replaced by the cached frames when there are any; spatial padding pad_hw
 * both sides. cache NULL: no history kept (1x1x1 convs). Temporaries above y. */
static int causal_conv(vae_run *r, const rl_vae_conv *c, const rl_tensor *x, rl_vae_cache *cache, int pad_hw,
                       rl_tensor *y) {
    rl_backend *be = r->be;
    int W = work(r);
    size_t m = mem_mark(r, W);
    int front = (int)c->w.shape[2] - 1, n = cache && front > 0 ? cache->n : 0;
    rl_tensor old = n > 0 ? cache_view(r, cache, 0, n) : (rl_tensor){0};
    rl_conv3d_params p = conv_params(1, 1, front - n, pad_hw, pad_hw, 0);
    p.prefix = n > 0 ? &old : NULL; /* the cached frames go in front of x (read in place where the backend can) */
    OP(r, be->conv3d(be, y, x, &c->w, &c->b, &p));
    if (cache) RL_TRY(cache_update(r, cache, x));
    mem_reset(r, W, m);
    return 0;
}

/* ---------------------------------------------------------------- blocks */

/* out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))) (dropout is 0). */
static int res_forward(vae_run *r, rl_vae_layer *L, const rl_tensor *x, rl_tensor *out) {
    rl_backend *be = r->be;
    int W = work(r);
    int64_t F = x->shape[1], H = x->shape[2], Wd = x->shape[3];
    RL_TRY(new4(r, W, out, L->cout, F, H, Wd));
    size_t m = mem_mark(r, W);
    if (L->shortcut.w.data) {
        rl_conv3d_params p = conv_params(1, 1, 0, 0, 0, 0);
        OP(r, be->conv3d(be, out, x, &L->shortcut.w, &L->shortcut.b, &p));
    } else {
        OP(r, be->copy(be, out, x));
    }
    rl_tensor a, t, b;
    RL_TRY(new4(r, W, &a, L->cout, F, H, Wd));
    size_t m2 = mem_mark(r, W);
    RL_TRY(new4(r, W, &t, L->cin, F, H, Wd));
    OP(r, be->rms_norm_channels(be, &t, x, &L->gamma1, NORM_EPS));
    OP(r, be->silu(be, &t, &t));
    RL_TRY(causal_conv(r, &L->conv1, &t, &L->cache[0], 1, &a));
    mem_reset(r, W, m2);
    OP(r, be->rms_norm_channels(be, &a, &a, &L->gamma2, NORM_EPS));
    OP(r, be->silu(be, &a, &a));
    RL_TRY(new4(r, W, &b, L->cout, F, H, Wd));
    RL_TRY(causal_conv(r, &L->conv2, &a, &L->cache[1], 1, &b));
    OP(r, be->add(be, out, out, &b));
    mem_reset(r, W, m);
    return 0;
}

/* Single-head self-attention within each frame over its H*W positions (scale
 * 1/sqrt(C)), with 1x1 convs as matmuls on the transposed [HW, C] frame. */
static int attn_forward(vae_run *r, const rl_vae_attn *A, const rl_tensor *x, rl_tensor *out) {
    rl_backend *be = r->be;
    int W = work(r);
    int64_t C = x->shape[0], F = x->shape[1], H = x->shape[2], Wd = x->shape[3], HW = H * Wd;
    RL_TRY(new4(r, W, out, C, F, H, Wd));
    size_t m = mem_mark(r, W);
    int64_t s_chw[3] = {C, H, Wd}, s_hwc[2] = {HW, C}, s_cq[2] = {HW, 3 * C}, s_q[4] = {1, HW, 1, C};
    const int tr2[2] = {1, 0};
    for (int64_t f = 0; f < F; f++) {
        mem_reset(r, W, m);
        rl_tensor xf, t, tT, qkv, q[3], o, p, pT;
        RL_TRY(mem_tensor(r, W, &xf, 3, s_chw));
        RL_TRY(mem_tensor(r, W, &t, 3, s_chw));
        rl_tensor xsrc = rl_tensor_select(x, 1, f);
        OP(r, be->copy(be, &xf, &xsrc));
        OP(r, be->rms_norm_channels(be, &t, &xf, &A->gamma, NORM_EPS));
        RL_TRY(mem_tensor(r, W, &tT, 2, s_hwc));
        int64_t s_c_hw[2] = {C, HW};
        rl_tensor t2 = rl_tensor_reshape(&t, 2, s_c_hw), t2T = rl_tensor_permute(&t2, tr2);
        OP(r, be->copy(be, &tT, &t2T));
        RL_TRY(mem_tensor(r, W, &qkv, 2, s_cq));
        OP(r, be->matmul(be, &qkv, &tT, &A->qkv_w, &A->qkv_b, RL_ACT_NONE));
        for (int j = 0; j < 3; j++) {
            RL_TRY(mem_tensor(r, W, &q[j], 4, s_q));
            rl_tensor dst = rl_tensor_reshape(&q[j], 2, s_hwc), src = rl_tensor_slice(&qkv, 1, j * C, C);
            OP(r, be->copy(be, &dst, &src));
        }
        RL_TRY(mem_tensor(r, W, &o, 4, s_q));
        OP(r, be->attention(be, &o, &q[0], &q[1], &q[2], 0, NULL, (float)(1.0 / sqrt((double)C)), NULL));
        RL_TRY(mem_tensor(r, W, &p, 2, s_hwc));
        rl_tensor o2 = rl_tensor_reshape(&o, 2, s_hwc);
        OP(r, be->matmul(be, &p, &o2, &A->proj_w, &A->proj_b, RL_ACT_NONE));
        RL_TRY(mem_tensor(r, W, &pT, 3, s_chw));
        int64_t s_hw_c3[3] = {H, Wd, C};
        rl_tensor p3 = rl_tensor_reshape(&p, 3, s_hw_c3), p3T = rl_tensor_permute(&p3, (const int[3]){2, 0, 1});
        OP(r, be->copy(be, &pT, &p3T));
        OP(r, be->add(be, &pT, &pT, &xf));
        rl_tensor dst = rl_tensor_select(out, 1, f);
        OP(r, be->copy(be, &dst, &pT));
    }
    mem_reset(r, W, m);
    return 0;
}

/* Resample up: [upsample3d: causal time conv C -> 2C, interleaved to 2F frames]
 * then nearest 2x and a 3x3 conv C -> C/2, frame by frame. */
static int up_forward(vae_run *r, rl_vae_layer *L, const rl_tensor *x, rl_tensor *out) {
    rl_backend *be = r->be;
    int W = work(r);
    int64_t C = x->shape[0], F = x->shape[1], H = x->shape[2], Wd = x->shape[3], F2 = F;
    int time = 0;
    if (L->kind == VAE_UP3D) {
        if (L->cache[0].started) time = 1, F2 = 2 * F;
        else L->cache[0].started = 1; /* first chunk: no time conv, its frame stays one frame */
    }
    RL_TRY(new4(r, W, out, L->cout, F2, 2 * H, 2 * Wd));
    size_t m = mem_mark(r, W);
    rl_tensor y = *x, u;
    if (time) {
        rl_tensor tc;
        RL_TRY(new4(r, W, &tc, 2 * C, F, H, Wd));
        RL_TRY(causal_conv(r, &L->time, x, &L->cache[0], 0, &tc));
        RL_TRY(new4(r, W, &y, C, F2, H, Wd));
        /* frame 2k = channels [0, C) at time k, frame 2k+1 = channels [C, 2C) */
        int64_t s_y[4] = {C, F, 2, H * Wd}, s_tc[4] = {2, C, F, H * Wd};
        rl_tensor yv = rl_tensor_reshape(&y, 4, s_y), tv = rl_tensor_reshape(&tc, 4, s_tc);
        rl_tensor tp = rl_tensor_permute(&tv, (const int[4]){1, 2, 0, 3});
        OP(r, be->copy(be, &yv, &tp));
    }
    RL_TRY(new4(r, W, &u, C, F2, 2 * H, 2 * Wd));
    OP(r, be->upsample_nearest2x(be, &u, &y));
    rl_conv3d_params p = conv_params(1, 1, 0, 1, 1, 0);
    OP(r, be->conv3d(be, out, &u, &L->spatial.w, &L->spatial.b, &p));
    mem_reset(r, W, m);
    return 0;
}

/* Resample down: zero pad right/bottom by 1, 3x3 conv stride 2, frame by frame;
 * downsample3d then a time conv (kernel 3, stride 2, no padding) over the previous
 * chunk's last frame and this chunk's frames; the first chunk skips it. */
static int down_forward(vae_run *r, rl_vae_layer *L, const rl_tensor *x, rl_tensor *out) {
    rl_backend *be = r->be;
    int W = work(r);
    int64_t C = x->shape[0], F = x->shape[1], Ho = (x->shape[2] - 2) / 2 + 1, Wo = (x->shape[3] - 2) / 2 + 1;
    rl_conv3d_params ps = conv_params(1, 2, 0, 0, 0, 1);
    rl_vae_cache *c = &L->cache[0];
    if (L->kind == VAE_DOWN2D || !c->started) {
        RL_TRY(new4(r, W, out, C, F, Ho, Wo));
        OP(r, be->conv3d(be, out, x, &L->spatial.w, &L->spatial.b, &ps));
        if (L->kind == VAE_DOWN3D) {
            c->started = 1;
            rl_tensor last = rl_tensor_slice(out, 1, F - 1, 1);
            c->n = 0;
            RL_TRY(cache_update(r, c, &last));
        }
        return 0;
    }
    if (F < 2) return rl_error_set("VAE encoder: a later chunk reached downsample3d with %lld frame(s); chunks after "
                                   "the first must hold 4 frames", (long long)F);
    RL_TRY(new4(r, W, out, C, (F + 1 - 3) / 2 + 1, Ho, Wo));
    size_t m = mem_mark(r, W);
    rl_tensor s, cat;
    RL_TRY(new4(r, W, &s, C, F, Ho, Wo));
    OP(r, be->conv3d(be, &s, x, &L->spatial.w, &L->spatial.b, &ps));
    RL_TRY(new4(r, W, &cat, C, F + 1, Ho, Wo));
    rl_tensor c0 = rl_tensor_slice(&cat, 1, 0, 1), c1 = rl_tensor_slice(&cat, 1, 1, F);
    rl_tensor prev = cache_view(r, c, c->n - 1, 1);
    OP(r, be->copy(be, &c0, &prev));
    OP(r, be->copy(be, &c1, &s));
    rl_conv3d_params pt = conv_params(2, 1, 0, 0, 0, 0);
    OP(r, be->conv3d(be, out, &cat, &L->time.w, &L->time.b, &pt));
    rl_tensor last = rl_tensor_slice(&s, 1, F - 1, 1);
    c->n = 0;
    RL_TRY(cache_update(r, c, &last));
    mem_reset(r, W, m);
    return 0;
}

static int layer_forward(vae_run *r, rl_vae_layer *L, const rl_tensor *x, rl_tensor *out) {
    switch (L->kind) {
    case VAE_RES: return res_forward(r, L, x, out);
    case VAE_UP2D:
    case VAE_UP3D: return up_forward(r, L, x, out);
    default: return down_forward(r, L, x, out);
    }
}

/* head: RMS norm, SiLU, causal conv k3. */
static int head_forward(vae_run *r, rl_vae_coder *c, const rl_tensor *x, rl_tensor *out) {
    rl_backend *be = r->be;
    int W = work(r);
    RL_TRY(new4(r, W, out, c->head.w.shape[0], x->shape[1], x->shape[2], x->shape[3]));
    size_t m = mem_mark(r, W);
    rl_tensor t;
    RL_TRY(new4(r, W, &t, x->shape[0], x->shape[1], x->shape[2], x->shape[3]));
    OP(r, be->rms_norm_channels(be, &t, x, &c->head_gamma, NORM_EPS));
    OP(r, be->silu(be, &t, &t));
    RL_TRY(causal_conv(r, &c->head, &t, &c->head_cache, 1, out));
    mem_reset(r, W, m);
    return 0;
}

static int conv_in_forward(vae_run *r, rl_vae_coder *c, const rl_tensor *x, rl_tensor *out) {
    RL_TRY(new4(r, work(r), out, c->conv_in.w.shape[0], x->shape[1], x->shape[2], x->shape[3]));
    return causal_conv(r, &c->conv_in, x, &c->conv_in_cache, 1, out);
}

/* The ping-pong between the two arenas: a layer's output arena is emptied before
 * it runs (step_begin); afterwards its output becomes the next input (step_end). */
static void step_begin(vae_run *r) { mem_reset(r, work(r), 0); }
static void step_end(vae_run *r, rl_tensor *x, const rl_tensor *next) {
    r->cur ^= 1;
    *x = *next;
}

static int middle_forward(vae_run *r, rl_vae_coder *c, rl_tensor *x) {
    rl_tensor nx;
    step_begin(r);
    RL_TRY(res_forward(r, &c->mid_res[0], x, &nx));
    step_end(r, x, &nx);
    step_begin(r);
    RL_TRY(attn_forward(r, &c->mid_attn, x, &nx));
    step_end(r, x, &nx);
    step_begin(r);
    RL_TRY(res_forward(r, &c->mid_res[1], x, &nx));
    step_end(r, x, &nx);
    return 0;
}

static int layers_forward(vae_run *r, rl_vae_coder *c, rl_tensor *x) {
    rl_tensor nx;
    for (int i = 0; i < c->n_layers; i++) {
        step_begin(r);
        RL_TRY(layer_forward(r, &c->layers[i], x, &nx));
        step_end(r, x, &nx);
    }
    return 0;
}

/* Decoder3d on one chunk: x [z, 1, h, w] on side cur -> *y [3, F', 8h, 8w]
 * (Encoder3d: x [3, n, H, W] -> *y [2z, 1, H/8, W/8]): conv1, then the middle
 * before the upsamples (decoder) or after the downsamples (encoder), then the head. */
static int coder_chunk(vae_run *r, rl_vae_coder *c, int decoder, rl_tensor x, rl_tensor *y) {
    rl_tensor nx;
    step_begin(r);
    RL_TRY(conv_in_forward(r, c, &x, &nx));
    step_end(r, &x, &nx);
    if (decoder) RL_TRY(middle_forward(r, c, &x));
    RL_TRY(layers_forward(r, c, &x));
    if (!decoder) RL_TRY(middle_forward(r, c, &x));
    step_begin(r);
    RL_TRY(head_forward(r, c, &x, &nx));
    step_end(r, &x, &nx);
    *y = x;
    return 0;
}

/* ---------------------------------------------------------------- run state */

static void reset_layer_caches(rl_vae_layer *L) {
    for (int k = 0; k < 2; k++) L->cache[k].n = 0, L->cache[k].started = 0;
}

static void reset_caches(rl_vae_coder *c) {
    c->conv_in_cache.n = 0;
    c->head_cache.n = 0;
    for (int j = 0; j < 2; j++) reset_layer_caches(&c->mid_res[j]);
    for (int i = 0; i < c->n_layers; i++) reset_layer_caches(&c->layers[i]);
}

static void free_layer_caches(rl_backend *be, rl_vae_layer *L) {
    for (int k = 0; k < 2; k++) {
        if (L->cache[k].data) be->free(be, L->cache[k].data, L->cache[k].bytes);
        memset(&L->cache[k], 0, sizeof L->cache[k]);
    }
}

static void free_caches(rl_backend *be, rl_vae_coder *c) {
    rl_vae_cache *cs[2] = {&c->conv_in_cache, &c->head_cache};
    for (int k = 0; k < 2; k++) {
        if (cs[k]->data) be->free(be, cs[k]->data, cs[k]->bytes);
        memset(cs[k], 0, sizeof *cs[k]);
    }
    for (int j = 0; j < 2; j++) free_layer_caches(be, &c->mid_res[j]);
    for (int i = 0; i < c->n_layers; i++) free_layer_caches(be, &c->layers[i]);
}

static void run_free_arenas(vae_run *r) {
    if (!r->measure && r->mem.base) r->be->free(r->be, r->mem.base, r->mem.cap);
    memset(&r->mem, 0, sizeof r->mem);
}

static void run_begin_measure(vae_run *r) {
    r->measure = 1;
    r->cache_bytes = 0;
    memset(&r->mem, 0, sizeof r->mem);
    r->mem.base = FAKE_BASE;
    r->mem.cap = (size_t)1 << 52;
}

/* Replaces the counting block by a real one of the measured peak size. */
static int run_end_measure(vae_run *r) {
    size_t cap = r->mem.peak + MEM_ALIGN;
    r->measure = 0;
    r->cache_bytes = 0;
    memset(&r->mem, 0, sizeof r->mem);
    void *p = r->be->alloc(r->be, cap);
    if (!p) return rl_error_wrap("allocating the VAE's activation memory (tiling the decode with --vae-tile needs less)");
    r->mem.base = p;
    r->mem.cap = cap;
    return 0;
}

/* ---------------------------------------------------------------- decode */

typedef struct {
    float *video;          /* [3, F, H, W] host */
    int64_t F, H, W;
    int tiled;
    int64_t y0, x0;        /* tile origin in pixels */
    int64_t th, tw;        /* tile size in pixels */
    float *wy, *wx;        /* tile blend weights per row / column */
    float *tmp;            /* host staging for one tiled chunk */
} frame_sink;

/* Hands one clamped chunk y [3, n, th, tw] to the output: straight into place
 * when untiled, else weighted into the running blend. */
static int sink_frames(vae_run *r, frame_sink *s, const rl_tensor *y, int64_t f0) {
    rl_backend *be = r->be;
    int64_t n = y->shape[1], plane = n * s->th * s->tw;
    if (y->shape[0] != 3 || f0 + n > s->F || y->shape[2] != s->th || y->shape[3] != s->tw)
        return rl_error_set("VAE decode: a chunk came out as %lld frames of %lldx%lld (a bug: please report)",
                            (long long)n, (long long)y->shape[2], (long long)y->shape[3]);
    for (int c = 0; c < 3; c++) {
        const float *src = (const float *)y->data + c * plane;
        if (!s->tiled) {
            RL_TRY(be->download(be, s->video + (c * s->F + f0) * s->H * s->W, src, (size_t)plane * sizeof(float)));
            continue;
        }
        RL_TRY(be->download(be, s->tmp, src, (size_t)plane * sizeof(float)));
        for (int64_t f = 0; f < n; f++)
            for (int64_t i = 0; i < s->th; i++) {
                float *dst = s->video + ((c * s->F + f0 + f) * s->H + s->y0 + i) * s->W + s->x0;
                const float *row = s->tmp + (f * s->th + i) * s->tw;
                for (int64_t j = 0; j < s->tw; j++) dst[j] += s->wy[i] * s->wx[j] * row[j];
            }
    }
    return 0;
}

/* Chunk i of the decode: latent frame i of xw (a [z, T, th, tw] view of conv2's output). */
static int decode_one(vae_run *r, rl_wan_vae *v, const rl_tensor *xw, int64_t i, rl_tensor *y) {
    mem_reset(r, 0, 0);
    mem_reset(r, 1, 0);
    r->cur = 0;
    rl_tensor xin, src = rl_tensor_slice(xw, 1, i, 1);
    RL_TRY(new4(r, 0, &xin, xw->shape[0], 1, xw->shape[2], xw->shape[3]));
    OP(r, r->be->copy(r->be, &xin, &src));
    RL_TRY(coder_chunk(r, &v->dec, 1, xin, y));
    OP(r, r->be->clamp(r->be, y, y, -1.0f, 1.0f));
    return 0;
}

/* Counts the arena bytes of the first chunks (chunk 2 is the first with full
 * caches everywhere; later chunks repeat its shapes). Leaves r measuring. */
static int measure_decode(vae_run *r, rl_wan_vae *v, const rl_tensor *xw) {
    rl_tensor y;
    reset_caches(&v->dec);
    run_begin_measure(r);
    for (int64_t i = 0; i < xw->shape[1] && i < 3; i++)
        if (decode_one(r, v, xw, i, &y) != 0) {
            run_free_arenas(r);
            return -1;
        }
    return 0;
}

/* Decodes every latent frame of one tile (or the whole frame). Arenas are sized
 * on the first call and reused by later tiles of the same size. */
static int decode_tile(vae_run *r, rl_wan_vae *v, const rl_tensor *xw, frame_sink *s) {
    int64_t T = xw->shape[1];
    rl_tensor y;
    if (!r->mem.base) {
        RL_TRY(measure_decode(r, v, xw));
        RL_TRY(run_end_measure(r));
    }
    reset_caches(&v->dec);
    for (int64_t i = 0; i < T; i++) {
        RL_TRY(decode_one(r, v, xw, i, &y));
        RL_TRY(sink_frames(r, s, &y, i == 0 ? 0 : 1 + 4 * (i - 1)));
    }
    return 0;
}

/* Linear ramps over `ov` pixels on each side that has a neighbour, 1 elsewhere. */
static void tile_weights(float *wt, int64_t n, int64_t start, int64_t full, int64_t ov) {
    for (int64_t p = 0; p < n; p++) {
        double w = 1.0;
        if (start > 0 && p < ov) w = fmin(w, (p + 0.5) / (double)ov);
        if (start + n < full && n - p <= ov) w = fmin(w, (n - p - 0.5) / (double)ov);
        wt[p] = (float)w;
    }
}

/* Tile origins along one axis: stride tile-overlap, the last tile flush with the end. */
static int64_t tile_starts(int64_t *st, int64_t full, int64_t tile, int64_t overlap) {
    int64_t n = 0, stride = tile - overlap > 0 ? tile - overlap : 1;
    for (int64_t s = 0;; s += stride) {
        if (s + tile >= full) {
            st[n++] = full - tile;
            break;
        }
        st[n++] = s;
    }
    return n;
}

static int decode_tiled(vae_run *r, rl_wan_vae *v, const rl_tensor *x2, frame_sink *s, const rl_vae_tiling *tl,
                        rl_vae_stats *stats) {
    int64_t h = x2->shape[2], w = x2->shape[3];
    int64_t th = tl->tile < h ? tl->tile : h, tw = tl->tile < w ? tl->tile : w;
    int64_t ov = tl->overlap < 0 ? 0 : tl->overlap;
    int64_t *ys = malloc(sizeof(int64_t) * (size_t)(h + 1)), *xs = malloc(sizeof(int64_t) * (size_t)(w + 1));
    float *wsum = calloc((size_t)(s->H * s->W), sizeof(float));
    s->wy = malloc(sizeof(float) * (size_t)(th * 8));
    s->wx = malloc(sizeof(float) * (size_t)(tw * 8));
    s->tmp = malloc(sizeof(float) * (size_t)(4 * th * 8 * tw * 8));
    int rc = 0;
    if (!ys || !xs || !wsum || !s->wy || !s->wx || !s->tmp) rc = rl_error_set("out of host memory for VAE tiling");
    int64_t ny = rc ? 0 : tile_starts(ys, h, th, ov), nx = rc ? 0 : tile_starts(xs, w, tw, ov);
    s->tiled = 1, s->th = th * 8, s->tw = tw * 8;
    memset(s->video, 0, sizeof(float) * (size_t)(3 * s->F * s->H * s->W));
    for (int64_t a = 0; rc == 0 && a < ny; a++)
        for (int64_t b = 0; rc == 0 && b < nx; b++) {
            s->y0 = ys[a] * 8, s->x0 = xs[b] * 8;
            tile_weights(s->wy, s->th, s->y0, s->H, ov * 8);
            tile_weights(s->wx, s->tw, s->x0, s->W, ov * 8);
            for (int64_t i = 0; i < s->th; i++)
                for (int64_t j = 0; j < s->tw; j++) wsum[(s->y0 + i) * s->W + s->x0 + j] += s->wy[i] * s->wx[j];
            rl_tensor win = rl_tensor_slice(x2, 2, ys[a], th);
            win = rl_tensor_slice(&win, 3, xs[b], tw);
            rc = decode_tile(r, v, &win, s);
            if (stats) stats->tiles++;
        }
    for (int64_t p = 0; rc == 0 && p < 3 * s->F; p++)
        for (int64_t q = 0; q < s->H * s->W; q++) s->video[p * s->H * s->W + q] /= wsum[q];
    free(ys), free(xs), free(wsum), free(s->wy), free(s->wx), free(s->tmp);
    return rc;
}

int wan_vae_decode_plan(rl_wan_vae *v, int64_t T, int64_t h, int64_t w, const rl_vae_tiling *tiling,
                        rl_vae_stats *stats) {
    if (!v->dec.loaded) return rl_error_set("%s: the VAE decoder was not loaded", v->path);
    if (T < 1 || h < 1 || w < 1 || T > 100000 || h > 65536 || w > 65536)
        return rl_error_set("VAE decode: latents of %lld frames of %lldx%lld cannot be decoded", (long long)T,
                            (long long)h, (long long)w);
    memset(stats, 0, sizeof *stats);
    int64_t th = h, tw = w, ny = 1, nx = 1;
    if (tiling && tiling->tile > 0 && (tiling->tile < h || tiling->tile < w)) {
        int64_t *st = malloc(sizeof(int64_t) * (size_t)((h > w ? h : w) + 1));
        if (!st) return rl_error_set("out of host memory planning the VAE tiles");
        th = tiling->tile < h ? tiling->tile : h, tw = tiling->tile < w ? tiling->tile : w;
        ny = tile_starts(st, h, th, tiling->overlap), nx = tile_starts(st, w, tw, tiling->overlap);
        free(st);
    }
    vae_run r = {.be = v->be};
    int64_t s[4] = {v->z_dim, T, th, tw};
    rl_tensor xw = rl_tensor_make(FAKE_BASE, RL_F32, v->be->device, 4, s);
    RL_TRY(measure_decode(&r, v, &xw));
    stats->act_peak = r.mem.peak;
    stats->cache_bytes = r.cache_bytes;
    stats->fixed_bytes = 2 * (size_t)(v->z_dim * T * h * w) * sizeof(float);
    stats->tiles = (int)(ny * nx);
    run_free_arenas(&r);
    free_caches(v->be, &v->dec);
    return 0;
}

int wan_vae_decode(rl_wan_vae *v, const float *z, int64_t T, int64_t h, int64_t w, float *video,
                   const rl_vae_tiling *tiling, rl_vae_stats *stats) {
    double t0 = rl_time_now();
    if (!v->dec.loaded) return rl_error_set("%s: the VAE decoder was not loaded", v->path);
    if (T < 1 || h < 1 || w < 1 || T > 100000 || h > 65536 || w > 65536)
        return rl_error_set("VAE decode: latents of %lld frames of %lldx%lld cannot be decoded", (long long)T,
                            (long long)h, (long long)w);
    rl_backend *be = v->be;
    vae_run r = {.be = be};
    int64_t zd = v->z_dim, s[4] = {zd, T, h, w};
    size_t lat_bytes = (size_t)(zd * T * h * w) * sizeof(float);
    void *zp = be->alloc(be, lat_bytes), *xp = zp ? be->alloc(be, lat_bytes) : NULL;
    int rc = (zp && xp) ? 0 : -1;
    rl_tensor zt = rl_tensor_make(zp, RL_F32, be->device, 4, s), x2 = rl_tensor_make(xp, RL_F32, be->device, 4, s);
    /* z * std + mean, then conv2 (1x1x1) over all latent frames at once */
    if (rc == 0) rc = be->upload(be, zp, z, lat_bytes);
    if (rc == 0) rc = be->channel_affine(be, &zt, &zt, &v->lat_std, &v->lat_mean);
    rl_conv3d_params p = conv_params(1, 1, 0, 0, 0, 0);
    if (rc == 0) rc = be->conv3d(be, &x2, &zt, &v->post_quant.w, &v->post_quant.b, &p);
    if (zp) be->free(be, zp, lat_bytes);
    frame_sink sink = {video, 4 * (T - 1) + 1, 8 * h, 8 * w, 0, 0, 0, 8 * h, 8 * w, NULL, NULL, NULL};
    if (stats) memset(stats, 0, sizeof *stats);
    if (rc == 0) {
        if (tiling && tiling->tile > 0 && (tiling->tile < h || tiling->tile < w)) {
            rc = decode_tiled(&r, v, &x2, &sink, tiling, stats);
        } else {
            rc = decode_tile(&r, v, &x2, &sink);
            if (stats) stats->tiles = 1;
        }
    }
    if (stats) {
        stats->act_peak = r.mem.peak;
        stats->cache_bytes = r.cache_bytes;
        stats->fixed_bytes = 2 * lat_bytes;
        stats->seconds = rl_time_now() - t0;
    }
    run_free_arenas(&r);
    free_caches(be, &v->dec);
    if (xp) be->free(be, xp, lat_bytes);
    return rc == 0 ? 0 : rl_error_wrap("VAE decode of %lld latent frames of %lldx%lld", (long long)T, (long long)h,
                                       (long long)w);
}

/* ---------------------------------------------------------------- encode */

/* Chunk i of the encode: frame 0, then frames 1+4(i-1) .. 4i; result copied into enc [2z, T, h, w]. */
static int encode_one(vae_run *r, rl_wan_vae *v, const float *video, int64_t F, int64_t H, int64_t W, int64_t i,
                      rl_tensor *enc) {
    rl_backend *be = r->be;
    int64_t f0 = i == 0 ? 0 : 1 + 4 * (i - 1), n = i == 0 ? 1 : 4;
    mem_reset(r, 0, 0);
    mem_reset(r, 1, 0);
    r->cur = 0;
    rl_tensor xin, y;
    RL_TRY(new4(r, 0, &xin, 3, n, H, W));
    for (int c = 0; c < 3; c++)
        OP(r, be->upload(be, (float *)xin.data + c * n * H * W, video + (c * F + f0) * H * W,
                         (size_t)(n * H * W) * sizeof(float)));
    RL_TRY(coder_chunk(r, &v->enc, 0, xin, &y));
    rl_tensor dst = rl_tensor_slice(enc, 1, i, 1);
    OP(r, be->copy(be, &dst, &y));
    return 0;
}

int wan_vae_encode(rl_wan_vae *v, const float *video, int64_t F, int64_t H, int64_t W, float *z, rl_vae_stats *stats) {
    double t0 = rl_time_now();
    if (!v->enc.loaded) return rl_error_set("%s: the VAE encoder was not loaded", v->path);
    if (F < 1 || (F - 1) % 4 || H < 8 || W < 8 || H % 8 || W % 8 || F > 400001 || H > 65536 || W > 65536)
        return rl_error_set("VAE encode: a video of %lld frames of %lldx%lld cannot be encoded; it needs 4k+1 frames "
                            "and sizes that are multiples of 8", (long long)F, (long long)H, (long long)W);
    rl_backend *be = v->be;
    vae_run r = {.be = be};
    int64_t T = (F - 1) / 4 + 1, h = H / 8, w = W / 8, z2 = 2 * v->z_dim, s[4] = {z2, T, h, w};
    size_t bytes = (size_t)(z2 * T * h * w) * sizeof(float);
    void *ep = be->alloc(be, bytes), *qp = ep ? be->alloc(be, bytes) : NULL;
    int rc = (ep && qp) ? 0 : -1;
    rl_tensor enc = rl_tensor_make(ep ? ep : FAKE_BASE, RL_F32, be->device, 4, s);
    rl_tensor q = rl_tensor_make(qp, RL_F32, be->device, 4, s);
    if (rc == 0) {
        reset_caches(&v->enc);
        run_begin_measure(&r);
        for (int64_t i = 0; rc == 0 && i < T && i < 3; i++) rc = encode_one(&r, v, video, F, H, W, i, &enc);
        if (rc == 0) rc = run_end_measure(&r);
        else run_free_arenas(&r);
    }
    if (rc == 0) reset_caches(&v->enc);
    for (int64_t i = 0; rc == 0 && i < T; i++) rc = encode_one(&r, v, video, F, H, W, i, &enc);
    /* conv1 over all latent frames, keep mu (the first z channels), normalise */
    rl_conv3d_params p = conv_params(1, 1, 0, 0, 0, 0);
    if (rc == 0) rc = be->conv3d(be, &q, &enc, &v->quant.w, &v->quant.b, &p);
    rl_tensor mu = rl_tensor_slice(&q, 0, 0, v->z_dim);
    if (rc == 0) rc = be->channel_affine(be, &mu, &mu, &v->lat_inv_std, &v->lat_nshift);
    if (rc == 0) rc = be->download(be, z, mu.data, bytes / 2);
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->act_peak = r.mem.peak;
        stats->cache_bytes = r.cache_bytes;
        stats->fixed_bytes = 2 * bytes;
        stats->tiles = 1;
        stats->seconds = rl_time_now() - t0;
    }
    run_free_arenas(&r);
    free_caches(be, &v->enc);
    if (ep) be->free(be, ep, bytes);
    if (qp) be->free(be, qp, bytes);
    return rc == 0 ? 0 : rl_error_wrap("VAE encode of %lld frames of %lldx%lld", (long long)F, (long long)H,
                                       (long long)W);
}
