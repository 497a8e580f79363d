/* usp.c: Ulysses and ring self-attention over a split sequence (see usp.h).
 *
 * One call, for this rank's q, k, v [1, n, H, d]:
 *   Ulysses (u ranks): the head groups are exchanged by an all-to-all, so each
 *     rank holds its H/u heads for the u*n tokens of its Ulysses group;
 *   ring (r ranks): the K/V blocks of the r Ulysses groups pass around the ring;
 *     each block's attention (with its lse) is merged into a running result;
 *   Ulysses again: the all-to-all back gives every rank all heads of its tokens.
 * With u = r = 1 it is one plain attention call (padding masked), unless
 * self_exchange asks for the exchanges with this rank as its own peer. */
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
    if (u->ring && world->device && be->device != RL_DEVICE_CPU) { /* NCCL twins of the two exchange groups */
        rl_comm *d = world->device;
        u->dev_ulysses = d->split(d, u->me.cfg_index * plan->ring + u->me.ring_index, u->me.ulysses_index);
        if (u->dev_ulysses) u->dev_ring = d->split(d, u->me.cfg_index * plan->ulysses + u->me.ulysses_index, u->me.ring_index);
        if (!u->dev_ring) rl_error_wrap("rank %d: creating the NCCL groups", world->rank);
    }
    if (!u->ring || (world->device && be->device != RL_DEVICE_CPU && !u->dev_ring)) {
        rl_error_wrap("rank %d: creating the sequence-parallel groups", world->rank);
        rl_usp_free(u);
        return -1;
    }
    RL_ASSERT(u->sp->size == plan->ulysses * plan->ring && u->ulysses->size == plan->ulysses &&
              u->ring->size == plan->ring && u->sp->rank == u->me.sp_rank);
    RL_ASSERT(!u->dev_ring || (u->dev_ulysses->size == plan->ulysses && u->dev_ring->size == plan->ring &&
                               u->dev_ring->rank == u->me.ring_index && u->dev_ulysses->rank == u->me.ulysses_index));
    return 0;
}

void rl_usp_free(rl_usp *u) {
    for (int i = 0; i < RL_USP_SCRATCH; i++)
        if (u->scratch[i]) u->be->free(u->be, u->scratch[i], u->scratch_bytes[i]);
    for (int i = 0; i < 4; i++) free(u->host[i]);
    if (u->dev_ring) u->dev_ring->destroy(u->dev_ring);
    if (u->dev_ulysses) u->dev_ulysses->destroy(u->dev_ulysses);
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

/* The comms of the attention exchanges: the NCCL twins when there are some. */
static rl_comm *ulysses_comm(const rl_usp *u) { return u->dev_ulysses ? u->dev_ulysses : u->ulysses; }
static rl_comm *ring_comm(const rl_usp *u) { return u->dev_ring ? u->dev_ring : u->ring; }

/* A comm that cannot move device memory gets host copies. */
static int comm_direct(const rl_usp *u, const rl_comm *c) {
    return u->be->device == RL_DEVICE_CPU || !strcmp(c->kind, "nccl");
}

/* Host exchanges are timed by the wall clock; a staged one first waits for the
 * queued compute (its download would wait for it anyway) so that is not counted.
 * NCCL ones are timed on the device (rl_usp_comm_seconds). */
static int timer_begin(rl_usp *u, const rl_comm *c, double *t0) {
    if (c->take_device_seconds) return 0;
    if (!comm_direct(u, c)) RL_TRY(u->be->synchronize(u->be));
    *t0 = rl_time_now();
    return 0;
}

static void timer_end(rl_usp *u, const rl_comm *c, double t0) {
    if (!c->take_device_seconds) u->comm_seconds += rl_time_now() - t0;
}

static int xfer_all_to_all(rl_usp *u, rl_comm *c, const void *send, void *recv, size_t block) {
    double t0 = 0;
    RL_TRY(timer_begin(u, c, &t0));
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
    timer_end(u, c, t0);
    return rc;
}

static int xfer_send_recv(rl_usp *u, rl_comm *c, const void *send, int to, void *recv, int from, size_t bytes) {
    double t0 = 0;
    RL_TRY(timer_begin(u, c, &t0));
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
    timer_end(u, c, t0);
    return rc;
}

double rl_usp_comm_seconds(rl_usp *u) {
    rl_comm *dev[2] = {u->dev_ulysses, u->dev_ring};
    for (int i = 0; i < 2; i++)
        if (dev[i] && dev[i]->take_device_seconds) u->comm_seconds += dev[i]->take_device_seconds(dev[i]);
    return u->comm_seconds;
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
    return xfer_all_to_all(u, ulysses_comm(u), send, y, (size_t)(n * (H / g) * d) * rl_dtype_size(x->dtype));
}

/* The way back: o [u*n, H/u, d] -> out [n, H, d]. recv is scratch of out's size. */
static int ulysses_gather_heads(rl_usp *u, const void *o, void *recv, rl_tensor *out) {
    rl_backend *be = u->be;
    const int64_t n = out->shape[1], H = out->shape[2], d = out->shape[3], g = u->plan.ulysses;
    RL_TRY(xfer_all_to_all(u, ulysses_comm(u), o, recv, (size_t)(n * (H / g) * d) * rl_dtype_size(out->dtype)));
    rl_tensor r4 = tensor4(recv, out->dtype, be->device, g, n, H / g, d);
    rl_tensor rp = rl_tensor_permute(&r4, (int[]){1, 0, 2, 3}); /* [n, g, H/g, d] */
    rl_tensor o4 = rl_tensor_reshape(out, 4, (int64_t[]){n, g, H / g, d});
    return be->copy(be, &o4, &rp);
}

/* ---------------------------------------------------------------- ring */

/* Attention of q [1, L, h, d] over the ring's K/V blocks of L tokens each
 * (block b holds global tokens [b*L, b*L + L)); out [1, L, h, d]. The first
 * block with real keys writes the fp32 running result (acc, acc_lse) directly;
 * each later one goes to part and is merged in by the backend (attention_merge).
 * With self_exchange on a ring of one, two steps: the block, then its copy. */
static int ring_attention(rl_usp *u, rl_tensor *out, const rl_tensor *q, const rl_tensor *k, const rl_tensor *v,
                          int64_t kv_len, float scale) {
    rl_backend *be = u->be;
    rl_comm *rcomm = ring_comm(u);
    const int64_t L = q->shape[1], h = q->shape[2], d = q->shape[3];
    const int r = u->plan.ring, me = u->me.ring_index, steps = r == 1 && u->self_exchange ? 2 : r;
    const size_t blk = (size_t)(L * h * d) * rl_dtype_size(q->dtype), f32 = (size_t)(L * h * d) * sizeof(float);
    const size_t lse_bytes = (size_t)(h * L) * sizeof(float);
    void *kb[2] = {k->data, scratch(u, 5, blk)}, *vb[2] = {v->data, scratch(u, 6, blk)};
    void *pb = scratch(u, 9, f32 + lse_bytes), *ab = scratch(u, 10, f32 + lse_bytes);
    if (!kb[1] || !vb[1] || !pb || !ab) return -1;
    rl_tensor part = tensor4(pb, RL_F32, be->device, 1, L, h, d), acc = tensor4(ab, RL_F32, be->device, 1, L, h, d);
    rl_tensor part_lse = rl_tensor_make((char *)pb + f32, RL_F32, be->device, 3, (int64_t[]){1, h, L});
    rl_tensor acc_lse = rl_tensor_make((char *)ab + f32, RL_F32, be->device, 3, (int64_t[]){1, h, L});
    int have = 0;
    for (int s = 0; s < steps; s++) {
        int cur = s & 1, src = ((me - s) % r + r) % r;
        rl_tensor kc = tensor4(kb[cur], k->dtype, be->device, 1, L, h, d);
        rl_tensor vc = tensor4(vb[cur], v->dtype, be->device, 1, L, h, d);
        int64_t valid = kv_len - (int64_t)src * L;
        if (valid > L) valid = L;
        if (valid > 0) { /* a block of padding only is skipped (kv_len 0 would mean "no mask") */
            double t0 = rl_time_now();
            RL_TRY(be->attention(be, have ? &part : &acc, q, &kc, &vc, valid, NULL, scale, have ? &part_lse : &acc_lse));
            u->attention_seconds += rl_time_now() - t0;
            if (have) RL_TRY(be->attention_merge(be, &acc, &acc_lse, &part, &part_lse));
            have = 1;
        }
        if (s + 1 < steps) {
            int to = (me + 1) % r, from = (me - 1 + r) % r;
            RL_TRY(xfer_send_recv(u, rcomm, kb[cur], to, kb[!cur], from, blk));
            RL_TRY(xfer_send_recv(u, rcomm, vb[cur], to, vb[!cur], from, blk));
            if (s == 0) kb[0] = scratch(u, 7, blk), vb[0] = scratch(u, 8, blk); /* never overwrite k, v */
            if (!kb[0] || !vb[0]) return -1;
        }
    }
    RL_ASSERT(have); /* block 0 holds token 0, a real key, and every block comes by */
    return out->dtype == RL_F32 ? be->copy(be, out, &acc) : be->cast(be, out, &acc);
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
    const int self = u->self_exchange && g == 1 && u->plan.ring == 1;
    if (g == 1 && u->plan.ring == 1 && !self) {
        double t0 = rl_time_now();
        int rc = be->attention(be, out, q, k, v, kv_len, NULL, scale, NULL);
        u->attention_seconds += rl_time_now() - t0;
        return rc;
    }
    const int64_t L = n * g, h = H / g; /* after the all-to-all: the group's tokens, my heads */
    const size_t bytes = (size_t)(n * H * d) * rl_dtype_size(q->dtype);
    rl_tensor Q = *q, K = *k, V = *v, O = *out;
    if (g > 1 || self) {
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
    if (u->plan.ring > 1 || self) {
        RL_TRY(ring_attention(u, &O, &Q, &K, &V, kv_len, scale));
    } else {
        double t0 = rl_time_now();
        RL_TRY(be->attention(be, &O, &Q, &K, &V, kv_len, NULL, scale, NULL));
        u->attention_seconds += rl_time_now() - t0;
    }
    if (g > 1 || self) RL_TRY(ulysses_gather_heads(u, O.data, scratch(u, 0, bytes), out));
    return 0;
}

int rl_usp_gather_rows(rl_usp *u, const float *mine, int64_t n, int64_t row_floats, float *all) {
    rl_usp_comm_seconds(u);
    double t0 = rl_time_now();
    int rc = u->sp->all_gather(u->sp, mine, all, (size_t)(n * row_floats) * sizeof(float));
    u->comm_seconds += rl_time_now() - t0;
    return rc == 0 ? 0 : rl_error_wrap("gathering the latent slices");
}
