/* usp.c: Ulysses and ring self-attention over a split sequence (see usp.h).
 *
 * One call, for this rank's q, k, v [1, n, H, d]:
 *   Ulysses (u ranks): the head groups are exchanged by an all-to-all, so each
 *     rank holds its H/u heads for the u*n tokens of its Ulysses group;
 *   ring (r ranks): the K/V blocks of the r Ulysses groups pass around the ring;
 *     each block's attention (with its lse) is merged into a running result;
 *   Ulysses again: the all-to-all back gives every rank all heads of its tokens.
 * With u = r = 1 it is one plain attention call (padding masked). */
#include "parallel/usp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int rl_usp_init(rl_usp *u, rl_comm *world, const rl_plan *plan, rl_backend *be) {
    memset(u, 0, sizeof *u);
    if (world->size != plan->world)
        return rl_error_set("parallel plan for %d ranks but the world has %d (a bug)", plan->world, world->size);
    u->plan = *plan;
    u->me = rl_plan_coords_of(plan, world->rank);
    u->world = world;
    u->be = be;
    u->sp = world->split(world, u->me.cfg_index, u->me.sp_rank);
    if (u->sp) u->ulysses = u->sp->split(u->sp, u->me.ring_index, u->me.ulysses_index);
    if (u->ulysses) u->ring = u->sp->split(u->sp, u->me.ulysses_index, u->me.ring_index);
    if (!u->ring) {
        rl_error_wrap("rank %d: creating the sequence-parallel groups", world->rank);
        rl_usp_free(u);
        return -1;
    }
    RL_ASSERT(u->sp->size == plan->ulysses * plan->ring && u->ulysses->size == plan->ulysses &&
              u->ring->size == plan->ring && u->sp->rank == u->me.sp_rank);
    return 0;
}

void rl_usp_free(rl_usp *u) {
    for (int i = 0; i < RL_USP_SCRATCH; i++)
        if (u->scratch[i]) u->be->free(u->be, u->scratch[i], u->scratch_bytes[i]);
    for (int i = 0; i < 4; i++) free(u->host[i]);
    if (u->ring) u->ring->destroy(u->ring);
    if (u->ulysses) u->ulysses->destroy(u->ulysses);
    if (u->sp) u->sp->destroy(u->sp);
    memset(u, 0, sizeof *u);
}

void rl_usp_slice(const rl_usp *u, int64_t N, int64_t *token0, int64_t *n) {
    int64_t sp = u->plan.ulysses * u->plan.ring;
    *n = (N + sp - 1) / sp;
    *token0 = u->me.sp_rank * *n;
}

/* ---------------------------------------------------------------- buffers */

static void *scratch(rl_usp *u, int slot, size_t bytes) {
    if (u->scratch_bytes[slot] >= bytes) return u->scratch[slot];
    if (u->scratch[slot]) u->be->free(u->be, u->scratch[slot], u->scratch_bytes[slot]);
    u->scratch[slot] = u->be->alloc(u->be, bytes);
    u->scratch_bytes[slot] = u->scratch[slot] ? bytes : 0;
    if (!u->scratch[slot]) rl_error_wrap("sequence-parallel attention buffers");
    return u->scratch[slot];
}

static void *host_buf(rl_usp *u, int slot, size_t bytes) {
    if (u->host_bytes[slot] >= bytes) return u->host[slot];
    void *p = realloc(u->host[slot], bytes);
    if (!p) {
        rl_error_set("out of host memory (%zu bytes) for sequence-parallel staging", bytes);
        return NULL;
    }
    u->host[slot] = p;
    u->host_bytes[slot] = bytes;
    return p;
}

static rl_tensor tensor4(void *p, rl_dtype dt, rl_device dev, int64_t a, int64_t b, int64_t c, int64_t d) {
    return rl_tensor_make(p, dt, dev, 4, (int64_t[]){a, b, c, d});
}

/* A comm that cannot move device memory gets host copies. */
static int comm_direct(const rl_usp *u, const rl_comm *c) {
    return u->be->device == RL_DEVICE_CPU || !strcmp(c->kind, "nccl");
}

static int xfer_all_to_all(rl_usp *u, rl_comm *c, const void *send, void *recv, size_t block) {
    double t0 = rl_time_now();
    int rc;
    if (comm_direct(u, c)) {
        rc = c->all_to_all(c, send, recv, block);
    } else {
        size_t total = block * (size_t)c->size;
        void *hs = host_buf(u, 0, total), *hr = host_buf(u, 1, total);
        rc = hs && hr ? 0 : -1;
        if (rc == 0) rc = u->be->download(u->be, hs, send, total);
        if (rc == 0) rc = c->all_to_all(c, hs, hr, block);
        if (rc == 0) rc = u->be->upload(u->be, recv, hr, total);
    }
    u->comm_seconds += rl_time_now() - t0;
    return rc;
}

static int xfer_send_recv(rl_usp *u, rl_comm *c, const void *send, int to, void *recv, int from, size_t bytes) {
    double t0 = rl_time_now();
    int rc;
    if (comm_direct(u, c)) {
        rc = c->send_recv(c, send, to, recv, from, bytes);
    } else {
        void *hs = host_buf(u, 0, bytes), *hr = host_buf(u, 1, bytes);
        rc = hs && hr ? 0 : -1;
        if (rc == 0) rc = u->be->download(u->be, hs, send, bytes);
        if (rc == 0) rc = c->send_recv(c, hs, to, hr, from, bytes);
        if (rc == 0) rc = u->be->upload(u->be, recv, hr, bytes);
    }
    u->comm_seconds += rl_time_now() - t0;
    return rc;
}

/* ---------------------------------------------------------------- ulysses */

/* x [n, H, d] (this rank's tokens, all heads) -> y [u*n, H/u, d] (the group's
 * tokens, my heads). send is scratch of x's size. */
static int ulysses_scatter_heads(rl_usp *u, const rl_tensor *x, void *send, void *y) {
    rl_backend *be = u->be;
    const int64_t n = x->shape[1], H = x->shape[2], d = x->shape[3], g = u->plan.ulysses;
    rl_tensor x4 = rl_tensor_reshape(x, 4, (int64_t[]){n, g, H / g, d});
    rl_tensor xp = rl_tensor_permute(&x4, (int[]){1, 0, 2, 3}); /* [g, n, H/g, d] */
    rl_tensor s = tensor4(send, x->dtype, be->device, g, n, H / g, d);
    RL_TRY(be->copy(be, &s, &xp));
    return xfer_all_to_all(u, u->ulysses, send, y, (size_t)(n * (H / g) * d) * rl_dtype_size(x->dtype));
}

/* The way back: o [u*n, H/u, d] -> out [n, H, d]. recv is scratch of out's size. */
static int ulysses_gather_heads(rl_usp *u, const void *o, void *recv, rl_tensor *out) {
    rl_backend *be = u->be;
    const int64_t n = out->shape[1], H = out->shape[2], d = out->shape[3], g = u->plan.ulysses;
    RL_TRY(xfer_all_to_all(u, u->ulysses, o, recv, (size_t)(n * (H / g) * d) * rl_dtype_size(out->dtype)));
    rl_tensor r4 = tensor4(recv, out->dtype, be->device, g, n, H / g, d);
    rl_tensor rp = rl_tensor_permute(&r4, (int[]){1, 0, 2, 3}); /* [n, g, H/g, d] */
    rl_tensor o4 = rl_tensor_reshape(out, 4, (int64_t[]){n, g, H / g, d});
    return be->copy(be, &o4, &rp);
}

/* ---------------------------------------------------------------- ring */

/* acc = softmax-merge(acc, blk) per (row, head) by their log-sum-exps, fp32.
 * acc_o/blk_o [L, h, d], acc_lse/blk_lse [h, L]; -inf lse = no keys yet. */
static void merge_partial(float *acc_o, float *acc_lse, const float *blk_o, const float *blk_lse, int64_t L,
                          int64_t h, int64_t d) {
    #pragma omp parallel for schedule(static) if (L * h * d > 65536)
    for (int64_t i = 0; i < L; i++)
        for (int64_t j = 0; j < h; j++) {
            float a = acc_lse[j * L + i], b = blk_lse[j * L + i];
            if (b == -INFINITY) continue;
            float m = a > b ? a : b;
            float wa = a == -INFINITY ? 0.0f : expf(a - m), wb = expf(b - m), s = wa + wb;
            float ca = wa / s, cb = wb / s;
            float *o = acc_o + (i * h + j) * d;
            const float *p = blk_o + (i * h + j) * d;
            for (int64_t k = 0; k < d; k++) o[k] = o[k] * ca + p[k] * cb;
            acc_lse[j * L + i] = m + logf(s);
        }
}

/* Attention of q [1, L, h, d] over the ring's K/V blocks of L tokens each
 * (block b holds global tokens [b*L, b*L + L)); out [1, L, h, d]. */
static int ring_attention(rl_usp *u, rl_tensor *out, const rl_tensor *q, const rl_tensor *k, const rl_tensor *v,
                          int64_t kv_len, float scale) {
    rl_backend *be = u->be;
    const int64_t L = q->shape[1], h = q->shape[2], d = q->shape[3];
    const int r = u->plan.ring, me = u->me.ring_index;
    const size_t es = rl_dtype_size(q->dtype), blk = (size_t)(L * h * d) * es, nf = (size_t)(L * h * d);
    void *kb[2] = {k->data, scratch(u, 5, blk)}, *vb[2] = {v->data, scratch(u, 6, blk)};
    void *ob = scratch(u, 9, blk + (size_t)(h * L) * sizeof(float));
    float *acc = host_buf(u, 2, nf * sizeof(float) + (size_t)(h * L) * sizeof(float));
    float *part = host_buf(u, 3, nf * sizeof(float) + (size_t)(h * L) * sizeof(float) + blk);
    if (!kb[1] || !vb[1] || !ob || !acc || !part) return -1;
    float *acc_lse = acc + nf, *part_lse = part + nf;
    void *part_raw = part_lse + h * L;
    for (int64_t i = 0; i < h * L; i++) acc_lse[i] = -INFINITY;
    memset(acc, 0, nf * sizeof(float));
    rl_tensor o = tensor4(ob, q->dtype, be->device, 1, L, h, d);
    rl_tensor lse = rl_tensor_make((char *)ob + blk, RL_F32, be->device, 3, (int64_t[]){1, h, L});
    for (int s = 0; s < r; s++) {
        int cur = s & 1, src = ((me - s) % r + r) % r;
        rl_tensor kc = tensor4(kb[cur], k->dtype, be->device, 1, L, h, d);
        rl_tensor vc = tensor4(vb[cur], v->dtype, be->device, 1, L, h, d);
        int64_t valid = kv_len - (int64_t)src * L;
        if (valid > L) valid = L;
        if (valid > 0) { /* a block of padding only is skipped (kv_len 0 would mean "no mask") */
            double t0 = rl_time_now();
            RL_TRY(be->attention(be, &o, q, &kc, &vc, valid, NULL, scale, &lse));
            u->attention_seconds += rl_time_now() - t0;
            RL_TRY(be->download(be, part_raw, ob, blk));
            RL_TRY(be->download(be, part_lse, lse.data, (size_t)(h * L) * sizeof(float)));
            rl_convert(part, RL_F32, part_raw, q->dtype, nf);
            merge_partial(acc, acc_lse, part, part_lse, L, h, d);
        }
        if (s + 1 < r) {
            int to = (me + 1) % r, from = (me - 1 + r) % r;
            RL_TRY(xfer_send_recv(u, u->ring, kb[cur], to, kb[!cur], from, blk));
            RL_TRY(xfer_send_recv(u, u->ring, vb[cur], to, vb[!cur], from, blk));
            if (s == 0) kb[0] = scratch(u, 7, blk), vb[0] = scratch(u, 8, blk); /* never overwrite k, v */
            if (!kb[0] || !vb[0]) return -1;
        }
    }
    rl_convert(part_raw, q->dtype, acc, RL_F32, nf);
    return be->upload(be, out->data, part_raw, blk);
}

/* ---------------------------------------------------------------- entry */

int rl_usp_attention(void *ctx, rl_backend *be, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                     const rl_tensor *v, int64_t kv_len) {
    rl_usp *u = ctx;
    const int64_t n = q->shape[1], H = q->shape[2], d = q->shape[3], g = u->plan.ulysses;
    const float scale = 1.0f / sqrtf((float)d);
    u->calls++;
    if (q->ndim != 4 || q->shape[0] != 1 || H % g)
        return rl_error_set("sequence-parallel attention: q must be [1, n, H, d] with H divisible by the Ulysses "
                            "degree %lld (a bug)", (long long)g);
    if (g == 1 && u->plan.ring == 1) {
        double t0 = rl_time_now();
        int rc = be->attention(be, out, q, k, v, kv_len, NULL, scale, NULL);
        u->attention_seconds += rl_time_now() - t0;
        return rc;
    }
    const int64_t L = n * g, h = H / g; /* after the all-to-all: the group's tokens, my heads */
    const size_t bytes = (size_t)(n * H * d) * rl_dtype_size(q->dtype);
    rl_tensor Q = *q, K = *k, V = *v, O = *out;
    if (g > 1) {
        void *send = scratch(u, 0, bytes), *qg = scratch(u, 1, bytes), *kg = scratch(u, 2, bytes);
        void *vg = scratch(u, 3, bytes), *og = scratch(u, 4, bytes);
        if (!send || !qg || !kg || !vg || !og) return -1;
        RL_TRY(ulysses_scatter_heads(u, q, send, qg));
        RL_TRY(ulysses_scatter_heads(u, k, send, kg));
        RL_TRY(ulysses_scatter_heads(u, v, send, vg));
        Q = tensor4(qg, q->dtype, be->device, 1, L, h, d);
        K = tensor4(kg, k->dtype, be->device, 1, L, h, d);
        V = tensor4(vg, v->dtype, be->device, 1, L, h, d);
        O = tensor4(og, out->dtype, be->device, 1, L, h, d);
    }
    if (u->plan.ring > 1) {
        RL_TRY(ring_attention(u, &O, &Q, &K, &V, kv_len, scale));
    } else {
        double t0 = rl_time_now();
        RL_TRY(be->attention(be, &O, &Q, &K, &V, kv_len, NULL, scale, NULL));
        u->attention_seconds += rl_time_now() - t0;
    }
    if (g > 1) RL_TRY(ulysses_gather_heads(u, O.data, scratch(u, 0, bytes), out));
    return 0;
}

int rl_usp_gather_rows(rl_usp *u, const float *mine, int64_t n, int64_t row_floats, float *all) {
    double t0 = rl_time_now();
    int rc = u->sp->all_gather(u->sp, mine, all, (size_t)(n * row_floats) * sizeof(float));
    u->comm_seconds += rl_time_now() - t0;
    return rc == 0 ? 0 : rl_error_wrap("gathering the latent slices");
}
