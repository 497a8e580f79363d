/* tensor.c: tensor headers and views. No allocation happens here: storage comes
 * from an arena, a mapping or the caller. */
#include "raylight.h"

#include <string.h>

rl_tensor rl_tensor_make(void *data, rl_dtype t, rl_device dev, int ndim, const int64_t *shape) {
    rl_tensor x;
    memset(&x, 0, sizeof x);
    RL_ASSERT(ndim >= 0 && ndim <= RL_MAX_DIMS);
    x.data = data;
    x.dtype = t;
    x.device = dev;
    x.ndim = ndim;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        x.shape[i] = shape[i];
        x.stride[i] = s;
        s *= shape[i];
    }
    return x;
}

int64_t rl_tensor_numel(const rl_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t rl_tensor_nbytes(const rl_tensor *t) { return (size_t)rl_tensor_numel(t) * rl_dtype_size(t->dtype); }

int rl_tensor_is_contiguous(const rl_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

rl_tensor rl_tensor_reshape(const rl_tensor *x, int ndim, const int64_t *shape) {
    RL_ASSERT(rl_tensor_is_contiguous(x));
    rl_tensor y = rl_tensor_make(x->data, x->dtype, x->device, ndim, shape);
    RL_ASSERT(rl_tensor_numel(&y) == rl_tensor_numel(x));
    return y;
}

rl_tensor rl_tensor_slice(const rl_tensor *x, int dim, int64_t start, int64_t len) {
    RL_ASSERT(dim >= 0 && dim < x->ndim && start >= 0 && len >= 0 && start + len <= x->shape[dim]);
    rl_tensor y = *x;
    y.data = (uint8_t *)x->data + (size_t)(start * x->stride[dim]) * rl_dtype_size(x->dtype);
    y.shape[dim] = len;
    return y;
}

rl_tensor rl_tensor_select(const rl_tensor *x, int dim, int64_t index) {
    rl_tensor y = rl_tensor_slice(x, dim, index, 1);
    for (int i = dim; i < y.ndim - 1; i++) {
        y.shape[i] = y.shape[i + 1];
        y.stride[i] = y.stride[i + 1];
    }
    y.ndim--;
    return y;
}

rl_tensor rl_tensor_permute(const rl_tensor *x, const int *perm) {
    rl_tensor y = *x;
    int seen[RL_MAX_DIMS] = {0};
    for (int i = 0; i < x->ndim; i++) {
        RL_ASSERT(perm[i] >= 0 && perm[i] < x->ndim && !seen[perm[i]]);
        seen[perm[i]] = 1;
        y.shape[i] = x->shape[perm[i]];
        y.stride[i] = x->stride[perm[i]];
    }
    return y;
}

int rl_tensor_same_shape(const rl_tensor *a, const rl_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

char *rl_shape_str(const rl_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}
