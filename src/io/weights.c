/* weights.c: see weights.h. Reads go through one host staging buffer per tensor
 * (f32, then the target dtype), so the peak host memory is about two tensors. */
#include "io/weights.h"

#include <stdlib.h>
#include <string.h>

int rl_weights_open(rl_weights *w, const char *path, rl_backend *be, rl_model_kind expect) {
    memset(w, 0, sizeof *w);
    w->be = be;
    RL_TRY(rl_st_open(&w->st, path));
    if (rl_checkpoint_detect(&w->st, &w->ck) != 0) {
        rl_st_close(&w->st);
        return -1;
    }
    if (expect != RL_MODEL_UNKNOWN && w->ck.kind != expect) {
        rl_error_set("%s holds a %s (%s layout), but a %s was expected here; check which file was given for which "
                     "model", path, rl_model_kind_name(w->ck.kind), rl_layout_name(w->ck.layout),
                     rl_model_kind_name(expect));
        rl_st_close(&w->st);
        return -1;
    }
    return 0;
}

void rl_weights_close(rl_weights *w) {
    if (!w->random) rl_st_close(&w->st);
}

void rl_weights_init_random(rl_weights *w, rl_backend *be, uint64_t seed, float std) {
    memset(w, 0, sizeof *w);
    w->be = be;
    w->random = 1;
    w->random_seed = seed;
    w->random_std = std;
}

static int load_random(rl_weights *w, const char *canonical, rl_dtype dt, int ndim, const int64_t *shape,
                       rl_tensor *out) {
    rl_tensor t = rl_tensor_make(NULL, dt, w->be->device, ndim, shape);
    size_t nbytes = rl_tensor_nbytes(&t);
    if (!(t.data = w->be->alloc(w->be, nbytes))) return rl_error_wrap("random weights for '%s'", canonical);
    if (w->be->fill_normal(w->be, &t, w->random_seed ^ rl_hash64(canonical, strlen(canonical)), 0.0f,
                           w->random_std) != 0) {
        w->be->free(w->be, t.data, nbytes);
        return -1;
    }
    *out = t;
    w->device_bytes += nbytes;
    return 0;
}

static int shapes_match(const rl_st_tensor *t, int ndim, const int64_t *shape) {
    int64_t a[RL_MAX_DIMS], b[RL_MAX_DIMS];
    int na = 0, nb = 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != 1) a[na++] = t->shape[i];
    for (int i = 0; i < ndim; i++)
        if (shape[i] != 1) b[nb++] = shape[i];
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t n) {
    rl_tensor t = rl_tensor_make(NULL, RL_F32, RL_DEVICE_CPU, ndim, shape);
    rl_shape_str(&t, buf, n);
}

/* ComfyUI scaled fp8: "<layer>.weight" has a scalar "<layer>.scale_weight". */
static const rl_st_tensor *find_scale(const rl_weights *w, const char *file_name) {
    char key[320];
    size_t n = strlen(file_name);
    if (n < 7 || strcmp(file_name + n - 7, ".weight") != 0) return NULL;
    snprintf(key, sizeof key, "%.*s.scale_weight", (int)(n - 7), file_name);
    const rl_st_tensor *s = rl_st_find(&w->st, key);
    if (!s) {
        snprintf(key, sizeof key, "%.*s.weight_scale", (int)(n - 7), file_name);
        s = rl_st_find(&w->st, key);
    }
    return s;
}

/* The file's tensor for canonical, its shape checked against `shape`; NULL with
 * *absent = 1 when the file lacks it, NULL with an error on a shape mismatch. */
static const rl_st_tensor *find_checked(rl_weights *w, const char *canonical, int ndim, const int64_t *shape,
                                        int *absent) {
    *absent = 0;
    const rl_st_tensor *t = rl_checkpoint_find(&w->st, &w->ck, canonical);
    if (!t) {
        *absent = 1;
        return NULL;
    }
    if (!shapes_match(t, ndim, shape)) {
        char want[96], got[96];
        shape_text(ndim, shape, want, sizeof want);
        shape_text(t->ndim, t->shape, got, sizeof got);
        rl_error_set("%s: tensor '%s' has shape %s but this model needs %s; the file is for another model "
                     "size or is damaged", w->st.path, t->name, got, want);
        return NULL;
    }
    return t;
}

/* f[0..n) *= the tensor's fp8 scale, when it is an fp8 tensor with one. */
static int apply_fp8_scale(rl_weights *w, const rl_st_tensor *t, float *f, int64_t n) {
    if (t->dtype != RL_F8_E4M3 && t->dtype != RL_F8_E5M2) return 0;
    const rl_st_tensor *s = find_scale(w, t->name);
    if (!s) return 0;
    float scale = 0;
    if (s->dtype == RL_ST_OPAQUE || s->nbytes / rl_dtype_size(s->dtype) != 1)
        return rl_error_set("%s: scale tensor '%s' should hold one value", w->st.path, s->name);
    RL_TRY(rl_st_read_as(&w->st, s, RL_F32, &scale));
    for (int64_t i = 0; i < n; i++) f[i] *= scale;
    return 0;
}

int rl_weights_read_part(rl_weights *w, const char *canonical, rl_dtype dt, int ndim, const int64_t *shape,
                         int64_t e0, int64_t e1, void *dst) {
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    if (e0 < 0 || e1 < e0 || e1 > numel)
        return rl_error_set("reading elements [%lld, %lld) of '%s', which has %lld (a bug: please report)",
                            (long long)e0, (long long)e1, canonical, (long long)numel);
    const size_t es = rl_dtype_size(dt), n = (size_t)(e1 - e0);
    if (w->random) { /* the whole tensor made as rl_weights_load makes it, then the part kept */
        rl_tensor full;
        RL_TRY(load_random(w, canonical, dt, ndim, shape, &full));
        int rc = n ? w->be->download(w->be, dst, (uint8_t *)full.data + (size_t)e0 * es, n * es) : 0;
        rl_weights_free_tensor(w, &full);
        return rc;
    }
    int absent;
    const rl_st_tensor *t = find_checked(w, canonical, ndim, shape, &absent);
    if (absent)
        return rl_error_set("%s: the %s (%s layout) lacks tensor '%s'; the file is incomplete or for another model",
                            w->st.path, rl_model_kind_name(w->ck.kind), rl_layout_name(w->ck.layout), canonical);
    if (!t) return -1;
    if (t->dtype == RL_ST_OPAQUE)
        return rl_error_set("%s: tensor '%s' has dtype %s, which is not a weight dtype", w->st.path, t->name,
                            t->file_dtype);
    if (n == 0) return 0;
    const size_t fes = rl_dtype_size(t->dtype);
    void *raw = malloc(n * fes);
    float *f = malloc(n * sizeof(float));
    int rc = raw && f ? 0 : rl_error_set("out of host memory reading part of tensor '%s' from %s", t->name, w->st.path);
    /* only this rank's bytes are read: [e0, e1) in the file's own element size */
    if (rc == 0) rc = rl_st_read_range(&w->st, t, (uint64_t)e0 * fes, (uint64_t)(n * fes), raw);
    if (rc == 0) rl_convert(f, RL_F32, raw, t->dtype, n);
    if (rc == 0) rc = apply_fp8_scale(w, t, f, (int64_t)n);
    if (rc == 0) rl_convert(dst, dt, f, RL_F32, n);
    free(raw);
    free(f);
    return rc;
}

int rl_weights_load_optional(rl_weights *w, const char *canonical, rl_dtype dt, int ndim, const int64_t *shape,
                             rl_tensor *out) {
    memset(out, 0, sizeof *out);
    if (w->random) return load_random(w, canonical, dt, ndim, shape, out);
    int absent;
    const rl_st_tensor *t = find_checked(w, canonical, ndim, shape, &absent);
    if (absent) return 1;
    if (!t) return -1;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    float *f = malloc((size_t)numel * sizeof(float) + 1);
    void *conv = dt == RL_F32 ? (void *)f : malloc((size_t)numel * rl_dtype_size(dt) + 1);
    if (!f || !conv) {
        free(f);
        if (conv != f) free(conv);
        return rl_error_set("out of host memory reading tensor '%s' from %s", t->name, w->st.path);
    }
    int rc = rl_st_read_as(&w->st, t, RL_F32, f);
    if (rc == 0) rc = apply_fp8_scale(w, t, f, numel);
    if (rc == 0 && dt != RL_F32) rl_convert(conv, dt, f, RL_F32, (size_t)numel);
    void *dev = NULL;
    size_t nbytes = (size_t)numel * rl_dtype_size(dt);
    if (rc == 0) {
        dev = w->be->alloc(w->be, nbytes);
        if (!dev) rc = rl_error_wrap("loading tensor '%s' from %s", t->name, w->st.path);
    }
    if (rc == 0) rc = w->be->upload(w->be, dev, conv, nbytes);
    free(f);
    if (conv != f) free(conv);
    if (rc != 0) {
        if (dev) w->be->free(w->be, dev, nbytes);
        return -1;
    }
    *out = rl_tensor_make(dev, dt, w->be->device, ndim, shape);
    w->device_bytes += nbytes;
    return 0;
}

int rl_weights_load(rl_weights *w, const char *canonical, rl_dtype dt, int ndim, const int64_t *shape,
                    rl_tensor *out) {
    int r = rl_weights_load_optional(w, canonical, dt, ndim, shape, out);
    if (r == 1)
        return rl_error_set("%s: the %s (%s layout) lacks tensor '%s'; the file is incomplete or for another model",
                            w->st.path, rl_model_kind_name(w->ck.kind), rl_layout_name(w->ck.layout), canonical);
    return r;
}

int rl_weights_shape(const rl_weights *w, const char *canonical, int *ndim, int64_t *shape) {
    if (w->random) return -1;
    const rl_st_tensor *t = rl_checkpoint_find(&w->st, &w->ck, canonical);
    if (!t) return -1;
    *ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    return 0;
}

void rl_weights_free_tensor(rl_weights *w, rl_tensor *t) {
    if (!t->data) return;
    size_t nbytes = rl_tensor_nbytes(t);
    w->be->free(w->be, t->data, nbytes);
    w->device_bytes -= nbytes;
    memset(t, 0, sizeof *t);
}
