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
