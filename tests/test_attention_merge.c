/* test_attention_merge.c: the backend op of ring attention's online-softmax
 * merge (rl_backend.attention_merge) on the CPU oracle:
 *  - against a naive double loop in double precision on random partial results,
 *    with -inf log-sum-exps on either side (no keys yet / a block of padding) and
 *    garbage in the running result where its lse is -inf;
 *  - semantically: attention over K/V cut into blocks, each block's result merged
 *    in, equals one attention over all keys (the identity the ring relies on),
 *    and merging a partial with an equal copy leaves the output unchanged;
 *  - shape errors are sentences naming the op. */
#include "testlib.h"

typedef struct {
    int64_t B, L, H, d;
} dims;

/* The merge as its definition says, per (b, i, h), in double. */
static void naive_merge(double *o, double *lse, const float *p, const float *plse, dims s) {
    for (int64_t b = 0; b < s.B; b++)
        for (int64_t i = 0; i < s.L; i++)
            for (int64_t h = 0; h < s.H; h++) {
                size_t li = (size_t)((b * s.H + h) * s.L + i), oi = (size_t)(((b * s.L + i) * s.H + h) * s.d);
                double a = lse[li], q = plse[li];
                if (q == -INFINITY) continue;
                double m = a > q ? a : q, wa = a == -INFINITY ? 0 : exp(a - m), wq = exp(q - m);
                for (int64_t k = 0; k < s.d; k++)
                    o[oi + k] = (wa ? o[oi + k] * wa : 0) / (wa + wq) + p[oi + k] * wq / (wa + wq);
                lse[li] = m + log(wa + wq);
            }
}

static void test_merge_vs_naive(void) {
    rl_backend *be = rl_backend_cpu();
    const dims shapes[] = {{1, 7, 3, 5}, {2, 16, 4, 64}, {1, 1, 1, 1}, {1, 33, 2, 128}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        dims s = shapes[c];
        size_t no = (size_t)(s.B * s.L * s.H * s.d), nl = (size_t)(s.B * s.H * s.L);
        float *o = malloc(no * 4), *p = malloc(no * 4), *l = malloc(nl * 4), *pl = malloc(nl * 4);
        double *ro = malloc(no * 8), *rl = malloc(nl * 8), *rlse_f = malloc(nl * 8);
        tl_seed(77 + c);
        tl_fill_randn(o, no, 2.0f);
        tl_fill_randn(p, no, 2.0f);
        for (size_t i = 0; i < nl; i++) {
            l[i] = tl_randn() * 4.0f, pl[i] = tl_randn() * 4.0f;
            if (i % 5 == 1) l[i] = -INFINITY;  /* nothing merged yet */
            if (i % 7 == 3) pl[i] = -INFINITY; /* the part saw only padding */
        }
        for (size_t i = 0; i < nl; i++) rl[i] = l[i];
        for (size_t i = 0; i < no; i++) ro[i] = o[i];
        /* where lse is -inf the running output is undefined: poison it */
        for (int64_t b = 0; b < s.B; b++)
            for (int64_t i = 0; i < s.L; i++)
                for (int64_t h = 0; h < s.H; h++)
                    if (l[(b * s.H + h) * s.L + i] == -INFINITY)
                        for (int64_t k = 0; k < s.d; k++) o[((b * s.L + i) * s.H + h) * s.d + k] = NAN;
        naive_merge(ro, rl, p, pl, s);
        rl_tensor O = rl_tensor_make(o, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){s.B, s.L, s.H, s.d});
        rl_tensor P = rl_tensor_make(p, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){s.B, s.L, s.H, s.d});
        rl_tensor Ls = rl_tensor_make(l, RL_F32, RL_DEVICE_CPU, 3, (int64_t[]){s.B, s.H, s.L});
        rl_tensor PL = rl_tensor_make(pl, RL_F32, RL_DEVICE_CPU, 3, (int64_t[]){s.B, s.H, s.L});
        int rc = be->attention_merge(be, &O, &Ls, &P, &PL);
        EXPECT(rc == 0, "shape %zu: %s", c, rl_error_message());
        /* still nothing merged (both -inf): the output stays undefined there */
        for (int64_t b = 0; b < s.B; b++)
            for (int64_t i = 0; i < s.L; i++)
                for (int64_t h = 0; h < s.H; h++)
                    if (rl[(b * s.H + h) * s.L + i] == -INFINITY)
                        for (int64_t k = 0; k < s.d; k++) {
                            size_t oi = (size_t)(((b * s.L + i) * s.H + h) * s.d + k);
                            o[oi] = 0.0f, ro[oi] = 0.0;
                        }
        double eo = tl_rel_err(o, ro, no);
        /* lse: -inf must stay -inf exactly where the reference has it */
        int inf_ok = 1;
        for (size_t i = 0; i < nl; i++) {
            inf_ok &= (rl[i] == -INFINITY) == (l[i] == -INFINITY);
            rlse_f[i] = rl[i] == -INFINITY ? 0 : rl[i];
            if (l[i] == -INFINITY) l[i] = 0;
        }
        double el = tl_rel_err(l, rlse_f, nl);
        EXPECT(eo <= 1e-6, "shape [%lld,%lld,%lld,%lld]: out rel err %.3g", (long long)s.B, (long long)s.L,
               (long long)s.H, (long long)s.d, eo);
        EXPECT(el <= 1e-6 && inf_ok, "shape %zu: lse rel err %.3g, -inf kept %d", c, el, inf_ok);
        printf("  merge [%lld, %lld, %lld, %lld] vs double loop: out rel err %.2g, lse rel err %.2g\n", (long long)s.B,
               (long long)s.L, (long long)s.H, (long long)s.d, eo, el);
        free(o), free(p), free(l), free(pl), free(ro), free(rl), free(rlse_f);
    }
}

/* Attention over Lk keys cut into blocks of `blk`, merged block by block. */
static void split_case(int64_t Lq, int64_t Lk, int64_t H, int64_t d, int64_t blk, int64_t kv_len) {
    rl_backend *be = rl_backend_cpu();
    size_t nq = (size_t)(Lq * H * d), nk = (size_t)(Lk * H * d);
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *ref = malloc(nq * 4);
    float *acc = malloc(nq * 4), *part = malloc(nq * 4), *alse = malloc((size_t)(H * Lq) * 4);
    float *plse = malloc((size_t)(H * Lq) * 4);
    tl_seed((uint64_t)(Lq * 1000 + Lk));
    tl_fill_randn(q, nq, 1.0f), tl_fill_randn(k, nk, 1.0f), tl_fill_randn(v, nk, 1.0f);
    const float scale = 1.0f / sqrtf((float)d);
    rl_tensor Q = rl_tensor_make(q, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, Lq, H, d});
    rl_tensor K = rl_tensor_make(k, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, Lk, H, d});
    rl_tensor V = rl_tensor_make(v, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, Lk, H, d});
    rl_tensor R = rl_tensor_make(ref, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, Lq, H, d});
    rl_tensor A = rl_tensor_make(acc, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, Lq, H, d});
    rl_tensor P = rl_tensor_make(part, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, Lq, H, d});
    rl_tensor AL = rl_tensor_make(alse, RL_F32, RL_DEVICE_CPU, 3, (int64_t[]){1, H, Lq});
    rl_tensor PL = rl_tensor_make(plse, RL_F32, RL_DEVICE_CPU, 3, (int64_t[]){1, H, Lq});
    int rc = be->attention(be, &R, &Q, &K, &V, kv_len, NULL, scale, NULL);
    for (int64_t i = 0; i < H * Lq; i++) alse[i] = -INFINITY;
    for (int64_t b0 = 0; rc == 0 && b0 < Lk; b0 += blk) {
        int64_t len = Lk - b0 < blk ? Lk - b0 : blk, valid = kv_len - b0 < len ? kv_len - b0 : len;
        if (valid <= 0) continue; /* a block of padding only, as the ring skips it */
        rl_tensor kb = rl_tensor_make(k + b0 * H * d, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, len, H, d});
        rl_tensor vb = rl_tensor_make(v + b0 * H * d, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, len, H, d});
        rc = be->attention(be, &P, &Q, &kb, &vb, valid, NULL, scale, &PL);
        if (rc == 0) rc = be->attention_merge(be, &A, &AL, &P, &PL);
    }
    EXPECT(rc == 0, "%s", rl_error_message());
    double e = rc == 0 ? tl_rel_err_f(acc, ref, nq) : INFINITY;
    EXPECT(e <= 1e-5, "Lq %lld, Lk %lld (kv_len %lld) in blocks of %lld: rel err %.3g vs one attention", (long long)Lq,
           (long long)Lk, (long long)kv_len, (long long)blk, e);
    printf("  %lld keys (%lld real) in blocks of %lld merged vs one attention: rel err %.2g\n", (long long)Lk,
           (long long)kv_len, (long long)blk, e);
    /* merging an equal copy (the self-exchange ring step) leaves out unchanged */
    memcpy(part, acc, nq * 4), memcpy(plse, alse, (size_t)(H * Lq) * 4);
    if (rc == 0) rc = be->attention_merge(be, &A, &AL, &P, &PL);
    EXPECT(rc == 0 && !memcmp(acc, part, nq * 4), "merging an equal partial changed the output");
    free(q), free(k), free(v), free(ref), free(acc), free(part), free(alse), free(plse);
}

static void test_split_attention(void) {
    split_case(12, 12, 2, 16, 4, 12);
    split_case(5, 37, 3, 8, 10, 37);
    split_case(9, 40, 1, 32, 10, 23); /* padded keys: the last block is padding only */
    split_case(1, 64, 4, 64, 16, 64);
}

static void test_errors(void) {
    rl_backend *be = rl_backend_cpu();
    float buf[64] = {0};
    rl_tensor O = rl_tensor_make(buf, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, 2, 2, 4});
    rl_tensor P = rl_tensor_make(buf, RL_F32, RL_DEVICE_CPU, 4, (int64_t[]){1, 2, 2, 3});
    rl_tensor L = rl_tensor_make(buf, RL_F32, RL_DEVICE_CPU, 3, (int64_t[]){1, 2, 2});
    rl_tensor Lbad = rl_tensor_make(buf, RL_F32, RL_DEVICE_CPU, 3, (int64_t[]){1, 2, 3});
    EXPECT(be->attention_merge(be, &O, &L, &P, &L) != 0 && strstr(rl_error_message(), "attention_merge") &&
               strstr(rl_error_message(), "part_out"),
           "a part of another shape: %s", rl_error_message());
    EXPECT(be->attention_merge(be, &O, &Lbad, &O, &Lbad) != 0 && strstr(rl_error_message(), "[B, H, L]"),
           "an lse of the wrong shape: %s", rl_error_message());
}

int main(void) {
    RUN(test_merge_vs_naive);
    RUN(test_split_attention);
    RUN(test_errors);
    TL_EXIT();
}
