/* check.c: argument checks shared by backend_cpu.c and backend_cuda.c (see check.h).
 * The sentences are the backends' own; tests match on their words. */
#include "backend/check.h"

#define SHAPE(t, buf) rl_shape_str((t), (buf), sizeof(buf))

int backend_check_header(const char *op, const char *role, const rl_tensor *t) {
    if (!t) return rl_error_set("%s: the tensor '%s' is missing (NULL)", op, role);
    if (t->ndim < 0 || t->ndim > RL_MAX_DIMS)
        return rl_error_set("%s: '%s' has %d dims (at most %d are supported)", op, role, t->ndim, RL_MAX_DIMS);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0) return rl_error_set("%s: '%s' has a negative dimension", op, role);
    if ((unsigned)t->dtype >= RL_DTYPE_COUNT) return rl_error_set("%s: '%s' has an unknown dtype", op, role);
    return 0;
}

int backend_check_storage(const char *op, const char *role, const rl_tensor *t) {
    if (!t->data && rl_tensor_numel(t) > 0) return rl_error_set("%s: '%s' has no storage (data is NULL)", op, role);
    return 0;
}

int backend_check_same_shape(const char *op, const char *ra, const rl_tensor *a, const char *rb, const rl_tensor *b) {
    char sa[96], sb[96];
    if (!rl_tensor_same_shape(a, b))
        return rl_error_set("%s: '%s' is %s but '%s' is %s; they must have the same shape", op, ra, SHAPE(a, sa), rb,
                            SHAPE(b, sb));
    return 0;
}

int64_t backend_last_dim(const rl_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

int backend_check_vector(const char *op, const char *role, const rl_tensor *v, int64_t n, const char *what,
                         const char *xrole, const rl_tensor *x) {
    char sv[96], sx[96];
    if (v->ndim < 1 || v->shape[v->ndim - 1] != n || rl_tensor_numel(v) != n)
        return rl_error_set("%s: '%s' is %s but must be [%lld] (%s '%s' %s)", op, role, SHAPE(v, sv), (long long)n,
                            what, xrole, SHAPE(x, sx));
    return 0;
}

int backend_check_rope_geometry(const char *op, const rl_tensor *x, const rl_tensor *cos_t, const rl_tensor *sin_t,
                                int64_t *B, int64_t *L, int64_t *H, int64_t *d) {
    char sx[96], sc[96];
    if (x->ndim != 3 && x->ndim != 4)
        return rl_error_set("%s: x is %s but must be [L, H, d] or [B, L, H, d]", op, SHAPE(x, sx));
    *d = x->shape[x->ndim - 1], *H = x->shape[x->ndim - 2], *L = x->shape[x->ndim - 3];
    *B = x->ndim == 4 ? x->shape[0] : 1;
    if (*d % 2)
        return rl_error_set("%s: x %s has an odd head dim %lld; pairs need an even one", op, SHAPE(x, sx),
                            (long long)*d);
    RL_TRY(backend_check_same_shape(op, "sin", sin_t, "cos", cos_t));
    if (cos_t->ndim != 2 || cos_t->shape[0] != *L || cos_t->shape[1] != *d / 2)
        return rl_error_set("%s: the cos/sin tables are %s but x %s needs [L, d/2] = [%lld, %lld]", op,
                            SHAPE(cos_t, sc), SHAPE(x, sx), (long long)*L, (long long)(*d / 2));
    return 0;
}

int backend_check_conv_prefix(const char *op, const rl_tensor *x, const rl_tensor *prefix, int64_t *frames) {
    char sx[96], sp[96];
    *frames = 0;
    if (!prefix) return 0;
    RL_TRY(backend_check_header(op, "prefix", prefix));
    RL_TRY(backend_check_storage(op, "prefix", prefix));
    if (prefix->ndim != 4 || x->ndim != 4 || prefix->shape[0] != x->shape[0] || prefix->shape[2] != x->shape[2] ||
        prefix->shape[3] != x->shape[3])
        return rl_error_set("%s: the prefix frames are %s but x is %s; they must be [Cin, n, H, W] with x's Cin, H "
                            "and W", op, SHAPE(prefix, sp), SHAPE(x, sx));
    if (prefix->dtype != x->dtype || prefix->device != x->device)
        return rl_error_set("%s: the prefix frames are %s in %s memory but x is %s in %s memory; they must match",
                            op, rl_dtype_name(prefix->dtype), prefix->device == RL_DEVICE_CPU ? "host" : "device",
                            rl_dtype_name(x->dtype), x->device == RL_DEVICE_CPU ? "host" : "device");
    if (prefix->stride[3] != 1 || prefix->stride[2] != prefix->shape[3] ||
        prefix->stride[1] != prefix->shape[2] * prefix->shape[3])
        return rl_error_set("%s: the prefix frames %s are strided within a channel; only the channel stride may "
                            "differ from a contiguous tensor's", op, SHAPE(prefix, sp));
    *frames = prefix->shape[1];
    return 0;
}

static rl_tensor concat_tensor(const rl_tensor *x, const rl_tensor *prefix, void *buf) {
    int64_t s[4] = {x->shape[0], prefix->shape[1] + x->shape[1], x->shape[2], x->shape[3]};
    return rl_tensor_make(buf, x->dtype, x->device, 4, s);
}

size_t backend_conv3d_concat_bytes(const rl_tensor *x, const rl_tensor *prefix) {
    rl_tensor cat = concat_tensor(x, prefix, NULL);
    return rl_tensor_nbytes(&cat);
}

int backend_conv3d_concat(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                          const rl_conv3d_params *p, void *buf) {
    int64_t n = p->prefix->shape[1], T = x->shape[1];
    rl_tensor cat = concat_tensor(x, p->prefix, buf);
    rl_tensor head = rl_tensor_slice(&cat, 1, 0, n), tail = rl_tensor_slice(&cat, 1, n, T);
    rl_conv3d_params q = *p;
    q.prefix = NULL;
    int rc = n ? be->copy(be, &head, p->prefix) : 0;
    if (rc == 0 && T) rc = be->copy(be, &tail, x);
    if (rc == 0) rc = be->conv3d(be, y, &cat, w, b, &q);
    return rc;
}

int backend_check_conv3d_shapes(const char *op, const rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                                const rl_tensor *b, const rl_conv3d_params *p, int64_t out[3]) {
    char sx[96], sw[96], sy[96], sb[96];
    if (!p) return rl_error_set("%s: the parameters (stride, padding) are missing (NULL)", op);
    if (x->ndim != 4) return rl_error_set("%s: x is %s but must be 4-D [Cin, T, H, W]", op, SHAPE(x, sx));
    if (w->ndim != 5)
        return rl_error_set("%s: the weight 'w' is %s but must be 5-D [Cout, Cin, kt, kh, kw]", op, SHAPE(w, sw));
    if (w->shape[1] != x->shape[0])
        return rl_error_set("%s: x %s has Cin=%lld but the weight 'w' is %s", op, SHAPE(x, sx),
                            (long long)x->shape[0], SHAPE(w, sw));
    int64_t nprefix;
    RL_TRY(backend_check_conv_prefix(op, x, p->prefix, &nprefix));
    for (int i = 0; i < 3; i++) {
        if (p->stride[i] < 1 || p->pad_front[i] < 0 || p->pad_back[i] < 0)
            return rl_error_set("%s: axis %d has stride %d and padding %d/%d; stride must be >= 1 and "
                                "padding >= 0", op, i, p->stride[i], p->pad_front[i], p->pad_back[i]);
        int64_t span = x->shape[i + 1] + (i == 0 ? nprefix : 0) + p->pad_front[i] + p->pad_back[i];
        if (w->shape[i + 2] < 1 || span < w->shape[i + 2])
            return rl_error_set("%s: the kernel %s is larger than the padded input %s along axis %d", op,
                                SHAPE(w, sw), SHAPE(x, sx), i);
        out[i] = (span - w->shape[i + 2]) / p->stride[i] + 1;
    }
    if (y->ndim != 4 || y->shape[0] != w->shape[0] || y->shape[1] != out[0] || y->shape[2] != out[1] ||
        y->shape[3] != out[2])
        return rl_error_set("%s: y is %s but x %s with weight %s gives [%lld, %lld, %lld, %lld]", op,
                            SHAPE(y, sy), SHAPE(x, sx), SHAPE(w, sw), (long long)w->shape[0],
                            (long long)out[0], (long long)out[1], (long long)out[2]);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return rl_error_set("%s: the bias 'b' is %s but must be [%lld] (Cout of the weight %s)", op, SHAPE(b, sb),
                            (long long)w->shape[0], SHAPE(w, sw));
    return 0;
}

int backend_check_embedding_shapes(const char *op, const rl_tensor *y, const rl_tensor *table, const rl_tensor *ids) {
    char st[96], sy[96], si[96];
    if (table->ndim != 2 || (table->dtype != RL_F32 && table->dtype != RL_BF16 && table->dtype != RL_F16))
        return rl_error_set("%s: table is %s %s but must be [V, D] in f32, bf16 or f16", op,
                            rl_dtype_name(table->dtype), SHAPE(table, st));
    if (ids->ndim != 1 || ids->dtype != RL_I32)
        return rl_error_set("%s: ids is %s %s but must be i32 [N]", op, rl_dtype_name(ids->dtype), SHAPE(ids, si));
    const int64_t D = table->shape[1], N = ids->shape[0];
    if (y->ndim != 2 || y->shape[0] != N || y->shape[1] != D)
        return rl_error_set("%s: y is %s but must be [N, D] = [%lld, %lld]", op, SHAPE(y, sy), (long long)N,
                            (long long)D);
    return 0;
}
