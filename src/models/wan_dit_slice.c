/* wan_dit_slice.c: the Wan DiT forward over a token slice in patch layout (see
 * wan_dit_slice.h). The same pieces as wan_dit_forward (time and text
 * embeddings, blocks, head) on this rank's rows only; the head's (q, r, c)
 * column order is permuted back to the patch layout (c, q, r). */
#include "models/wan_dit_slice.h"

#include <stdlib.h>
#include <string.h>

static int check_slice(const rl_wan_dit *m, const rl_tensor *y, const rl_tensor *x, const rl_wan_slice *sl) {
    char s[96];
    const rl_wan_dit_config *c = &m->cfg;
    /* a slice may lie wholly in the padding (more ranks than a small grid's tokens) */
    if (sl->F <= 0 || sl->Hp <= 0 || sl->Wp <= 0 || sl->n <= 0 || sl->token0 < 0)
        return rl_error_set("wan dit slice: tokens [%lld, +%lld) of a %lldx%lldx%lld grid is not a slice",
                            (long long)sl->token0, (long long)sl->n, (long long)sl->F, (long long)sl->Hp,
                            (long long)sl->Wp);
    if (x->ndim != 2 || x->dtype != RL_F32 || x->shape[0] != sl->n || x->shape[1] != c->in_dim * 4)
        return rl_error_set("wan dit slice: x is %s; it must be f32 [%lld, %lld]", rl_shape_str(x, s, sizeof s),
                            (long long)sl->n, (long long)(c->in_dim * 4));
    if (y->ndim != 2 || y->dtype != RL_F32 || y->shape[0] != sl->n || y->shape[1] != c->out_dim * 4)
        return rl_error_set("wan dit slice: y is %s; it must be f32 [%lld, %lld]", rl_shape_str(y, s, sizeof s),
                            (long long)sl->n, (long long)(c->out_dim * 4));
    if (sl->F > 1024 || sl->Hp > 1024 || sl->Wp > 1024)
        return rl_error_set("wan dit slice: the grid exceeds the RoPE table of 1024 positions per axis");
    return 0;
}

static int rope_tables(rl_wan_dit *m, rl_arena *a, rl_wan_step *st) {
    rl_backend *be = m->be;
    const int64_t half = m->cfg.head_dim / 2;
    int64_t s[2] = {st->n, half};
    RL_TRY(rl_arena_tensor(a, &st->rope_cos, RL_F32, 2, s));
    RL_TRY(rl_arena_tensor(a, &st->rope_sin, RL_F32, 2, s));
    float *tab = malloc((size_t)(2 * st->n * half) * sizeof(float));
    if (!tab) return rl_error_set("out of host memory for the RoPE table");
    /* global positions; rows past the grid get angle 0 (padding) */
    rl_rope3d_table(tab, tab + st->n * half, st->token0, st->n, st->F, st->Hp, st->Wp, (int)m->cfg.head_dim);
    size_t tb = (size_t)(st->n * half) * sizeof(float);
    int rc = be->upload(be, st->rope_cos.data, tab, tb);
    if (rc == 0) rc = be->upload(be, st->rope_sin.data, tab + st->n * half, tb);
    free(tab);
    return rc;
}

static int slice_in(rl_wan_dit *m, rl_arena *a, rl_tensor *y, const rl_tensor *x, double t, const rl_tensor *context,
                    const rl_wan_slice *sl) {
    rl_backend *be = m->be;
    const int64_t D = m->cfg.dim, C = m->cfg.out_dim;
    rl_wan_step st;
    memset(&st, 0, sizeof st);
    st.F = sl->F, st.Hp = sl->Hp, st.Wp = sl->Wp;
    st.seq_len = st.F * st.Hp * st.Wp;
    st.token0 = sl->token0, st.n = sl->n;
    RL_TRY(wan_dit_embed_time(m, a, t, &st.e, &st.e0));
    RL_TRY(wan_dit_embed_text(m, a, context, &st.ctx));
    RL_TRY(rope_tables(m, a, &st));
    rl_tensor tokens, head;
    RL_TRY(rl_arena_tensor(a, &tokens, RL_F32, 2, (int64_t[]){st.n, D}));
    RL_TRY(be->matmul(be, &tokens, x, &m->patch.w, &m->patch.b, RL_ACT_NONE));
    RL_TRY(wan_dit_run_blocks(m, &tokens, &st, a));
    RL_TRY(wan_dit_head(m, a, &tokens, &st, &head));
    rl_tensor h4 = rl_tensor_reshape(&head, 4, (int64_t[]){st.n, 2, 2, C});
    rl_tensor hp = rl_tensor_permute(&h4, (int[]){0, 3, 1, 2}); /* [n, C, q, r] */
    rl_tensor y4 = rl_tensor_reshape(y, 4, (int64_t[]){st.n, C, 2, 2});
    return be->copy(be, &y4, &hp);
}

int wan_dit_forward_slice(rl_wan_dit *m, rl_tensor *y, const rl_tensor *x, double t, const rl_tensor *context,
                          const rl_wan_slice *sl) {
    RL_TRY(check_slice(m, y, x, sl));
    if (!(t >= 0.0 && t <= 1000.0)) return rl_error_set("wan dit: the timestep %g is outside 0..1000", t);
    if (context->ndim != 2 || context->shape[1] != m->cfg.text_dim || context->shape[0] > m->cfg.text_len)
        return rl_error_set("wan dit slice: the text context must be f32 [L <= %lld, %lld]",
                            (long long)m->cfg.text_len, (long long)m->cfg.text_dim);
    rl_arena a;
    RL_TRY(wan_dit_activation_arena(m, wan_dit_activation_bytes(&m->cfg, sl->n, sl->n), &a));
    int rc = slice_in(m, &a, y, x, t, context, sl);
    m->peak_activation_bytes = a.peak;
    return rc;
}

/* Element (c, f, 2h+q, 2w+r) of [C, T, H, W] <-> row f*Hp*Wp + h*Wp + w, column c*4 + q*2 + r. */
static void rows_copy(float *x, float *rows, int64_t C, int64_t T, int64_t H, int64_t W, int64_t token0, int64_t n,
                      int to_rows) {
    const int64_t Hp = H / 2, Wp = W / 2, N = T * Hp * Wp;
    #pragma omp parallel for schedule(static) if (n * C > 4096)
    for (int64_t i = 0; i < n; i++) {
        int64_t tok = token0 + i;
        float *row = rows + i * C * 4;
        if (tok >= N) {
            if (to_rows) memset(row, 0, (size_t)(C * 4) * sizeof(float));
            continue;
        }
        int64_t f = tok / (Hp * Wp), h = tok / Wp % Hp, w = tok % Wp;
        for (int64_t c = 0; c < C; c++)
            for (int q = 0; q < 2; q++)
                for (int r = 0; r < 2; r++) {
                    float *px = x + ((c * T + f) * H + 2 * h + q) * W + 2 * w + r;
                    float *pr = row + c * 4 + q * 2 + r;
                    if (to_rows) *pr = *px;
                    else *px = *pr;
                }
    }
}

void wan_latents_to_rows(const float *x, int64_t C, int64_t T, int64_t H, int64_t W, int64_t token0, int64_t n,
                         float *rows) {
    rows_copy((float *)x, rows, C, T, H, W, token0, n, 1);
}

void wan_rows_to_latents(const float *rows, int64_t C, int64_t T, int64_t H, int64_t W, int64_t token0, int64_t n,
                         float *x) {
    rows_copy(x, (float *)rows, C, T, H, W, token0, n, 0);
}
