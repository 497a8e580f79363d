/* test_backend_cpu_text.c: the text-encoder ops of the CPU backend against naive
 * loops: embedding (row gather from f32, bf16 and f16 tables, into f32 or bf16
 * rows), its checks (ids out of range, wrong dtypes and shapes), and the use the
 * umT5 encoder makes of it: a relative-position bias [H, L, L] built by gathering
 * [L*L, H] rows and copying the permuted view. */
#include "testlib.h"

static rl_backend *be;

static rl_tensor t2(void *d, rl_dtype dt, int64_t a, int64_t b) {
    int64_t s[2] = {a, b};
    return rl_tensor_make(d, dt, RL_DEVICE_CPU, 2, s);
}
static rl_tensor t1(void *d, rl_dtype dt, int64_t a) { return rl_tensor_make(d, dt, RL_DEVICE_CPU, 1, &a); }

static void test_embedding_f32(void) {
    enum { V = 37, D = 19, N = 300 };
    float *table = malloc(sizeof(float) * V * D), *y = malloc(sizeof(float) * N * D);
    int32_t ids[N];
    tl_seed(3);
    tl_fill_randn(table, V * D, 1.0f);
    for (int i = 0; i < N; i++) ids[i] = (int32_t)(tl_uniform() * V);
    ids[0] = 0, ids[1] = V - 1; /* both ends of the table */
    rl_tensor tt = t2(table, RL_F32, V, D), ty = t2(y, RL_F32, N, D), ti = t1(ids, RL_I32, N);
    EXPECT(be->embedding(be, &ty, &tt, &ti) == 0, "%s", rl_error_message());
    int bad = 0;
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++) bad += y[i * D + c] != table[ids[i] * D + c];
    EXPECT(bad == 0, "%d elements differ from table[ids]", bad);
    free(table), free(y);
}

/* 16-bit tables are widened exactly; a bf16 output rounds as torch's cast does. */
static void test_embedding_half_tables(void) {
    enum { V = 11, D = 8, N = 23 };
    uint16_t tb[V * D], th[V * D], yb[N * D];
    float y[N * D];
    int32_t ids[N];
    tl_seed(4);
    for (int i = 0; i < V * D; i++) {
        float v = tl_randn() * 3.0f;
        tb[i] = rl_f32_to_bf16(v);
        th[i] = rl_f32_to_f16(v);
    }
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((i * 7) % V);
    rl_tensor ti = t1(ids, RL_I32, N), ty = t2(y, RL_F32, N, D);
    rl_tensor ttb = t2(tb, RL_BF16, V, D), tth = t2(th, RL_F16, V, D), tyb = t2(yb, RL_BF16, N, D);
    int bad = 0;
    EXPECT(be->embedding(be, &ty, &ttb, &ti) == 0, "%s", rl_error_message());
    for (int i = 0; i < N * D; i++) bad += y[i] != rl_bf16_to_f32(tb[ids[i / D] * D + i % D]);
    EXPECT(be->embedding(be, &ty, &tth, &ti) == 0, "%s", rl_error_message());
    for (int i = 0; i < N * D; i++) bad += y[i] != rl_f16_to_f32(th[ids[i / D] * D + i % D]);
    EXPECT(be->embedding(be, &tyb, &ttb, &ti) == 0, "%s", rl_error_message());
    for (int i = 0; i < N * D; i++) bad += yb[i] != tb[ids[i / D] * D + i % D];
    EXPECT(bad == 0, "%d elements differ", bad);
}

static void test_embedding_checks(void) {
    enum { V = 5, D = 3 };
    float table[V * D] = {0}, y[4 * D];
    int32_t ids[4] = {0, 1, 2, 3};
    int64_t ids64[4] = {0, 1, 2, 3};
    rl_tensor tt = t2(table, RL_F32, V, D), ty = t2(y, RL_F32, 4, D), ti = t1(ids, RL_I32, 4);
    for (int i = 0; i < 4 * D; i++) y[i] = 42.0f;
    ids[2] = V; /* one past the end */
    EXPECT(be->embedding(be, &ty, &tt, &ti) == -1 && strstr(rl_error_message(), "ids[2] = 5"),
           "id out of range accepted: %s", rl_error_message());
    EXPECT(y[0] == 42.0f, "y written before the checks passed");
    ids[2] = -1;
    EXPECT(be->embedding(be, &ty, &tt, &ti) == -1 && strstr(rl_error_message(), "ids[2] = -1"),
           "negative id accepted: %s", rl_error_message());
    ids[2] = 2;
    rl_tensor t64 = t1(ids64, RL_I64, 4);
    EXPECT(be->embedding(be, &ty, &tt, &t64) == -1 && strstr(rl_error_message(), "i32"), "i64 ids accepted: %s",
           rl_error_message());
    rl_tensor yshort = t2(y, RL_F32, 3, D);
    EXPECT(be->embedding(be, &yshort, &tt, &ti) == -1 && strstr(rl_error_message(), "y is"),
           "short y accepted: %s", rl_error_message());
    rl_tensor ywide = t2(y, RL_F32, 2, 2 * D);
    EXPECT(be->embedding(be, &ywide, &tt, &ti) == -1, "y of the wrong width accepted");
    int32_t i8[V * D];
    rl_tensor tint = t2(i8, RL_I32, V, D);
    EXPECT(be->embedding(be, &ty, &tint, &ti) == -1 && strstr(rl_error_message(), "table"),
           "an integer table accepted: %s", rl_error_message());
    /* N = 0 is a valid, empty gather */
    rl_tensor ti0 = t1(ids, RL_I32, 0), ty0 = t2(y, RL_F32, 0, D);
    EXPECT(be->embedding(be, &ty0, &tt, &ti0) == 0, "%s", rl_error_message());
}

/* bias[h, i, j] = rel[bucket(j - i), h] through gather + permuted copy, as umt5.c builds it. */
static void test_bias_by_gather(void) {
    enum { NB = 6, H = 3, L = 13 };
    float rel[NB * H], tmp[L * L * H], bias[H * L * L];
    int32_t bk[L * L];
    tl_seed(9);
    tl_fill_randn(rel, NB * H, 1.0f);
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++) bk[i * L + j] = (int32_t)(((j - i) % NB + NB) % NB);
    rl_tensor tr = t2(rel, RL_F32, NB, H), tt = t2(tmp, RL_F32, L * L, H), ti = t1(bk, RL_I32, L * L);
    EXPECT(be->embedding(be, &tt, &tr, &ti) == 0, "%s", rl_error_message());
    int64_t s3[3] = {L, L, H}, sb[3] = {H, L, L};
    rl_tensor v3 = rl_tensor_reshape(&tt, 3, s3);
    int perm[3] = {2, 0, 1};
    rl_tensor pv = rl_tensor_permute(&v3, perm);
    rl_tensor tb = rl_tensor_make(bias, RL_F32, RL_DEVICE_CPU, 3, sb);
    EXPECT(be->copy(be, &tb, &pv) == 0, "%s", rl_error_message());
    int bad = 0;
    for (int h = 0; h < H; h++)
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++) bad += bias[(h * L + i) * L + j] != rel[bk[i * L + j] * H + h];
    EXPECT(bad == 0, "%d bias elements differ", bad);
}

int main(void) {
    be = rl_backend_cpu();
    RUN(test_embedding_f32);
    RUN(test_embedding_half_tables);
    RUN(test_embedding_checks);
    RUN(test_bias_by_gather);
    TL_EXIT();
}
