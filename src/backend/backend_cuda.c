/* backend_cuda.c: the CUDA implementation of the rl_backend op table.
 *
 * Host side only: device setup (one compute stream, a cuBLASLt handle and its
 * workspace), memory, the same shape checks as the CPU backend, and dispatch to
 * the kernel launchers of kernels/kernels.h; the matmul lives in
 * backend_cuda_matmul.c. Conventions:
 * - Every compute op takes f32 or bf16 per tensor (inputs and outputs may differ)
 *   and computes in fp32; cast and copy take every dtype. Each op validates
 *   device, dtype, contiguity and shapes first and returns -1 with a sentence
 *   naming the op; nothing is launched before the checks pass.
 * - Ops are asynchronous on the backend's stream; download and synchronize wait.
 *   A kernel that faults is reported by the next call that synchronises; set
 *   RL_CUDA_SYNC=1 to synchronise after every op so the error names the op.
 * - Every CUDA/cuBLAS failure becomes a sentence with file:line, the library's
 *   error name and what to try (cuda_fail, CUDA_TRY, KERNEL_TRY).
 */
#include "backend/backend_cuda.h"
#include "backend/check.h"

#include <stdlib.h>
#include <string.h>

_Static_assert((int)KDT_F32 == (int)RL_F32 && (int)KDT_F16 == (int)RL_F16 && (int)KDT_BF16 == (int)RL_BF16 &&
                   (int)KDT_F8_E4M3 == (int)RL_F8_E4M3 && (int)KDT_F8_E5M2 == (int)RL_F8_E5M2 &&
                   (int)KDT_I32 == (int)RL_I32 && (int)KDT_I64 == (int)RL_I64,
               "kernels.h KDT_* must number the dtypes as rl_dtype does");

/* ---------------------------------------------------------------- errors */

static const char *cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorMemoryAllocation:
        return "the GPU is out of memory: lower the resolution or the number of frames, or use the offload "
               "options (see raylight-gen --help)";
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError:
    case cudaErrorDevicesUnavailable:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
        return "no usable GPU or driver: check nvidia-smi, or use --backend cpu";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorInvalidKernelImage:
        return "this binary has kernels for sm_80 and sm_90 (and compute_90 PTX); rebuild with CUDA_ARCHS "
               "naming your GPU's architecture";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
    case cudaErrorIllegalInstruction:
    case cudaErrorHardwareStackError:
        return "a kernel faulted (a bug; the GPU context is now unusable): rerun with RL_CUDA_SYNC=1 to name "
               "the failing op and report it";
    default: return "rerun with RL_CUDA_SYNC=1 to name the failing op; this is a bug or a driver problem";
    }
}

int cuda_fail(const char *op, const char *file, int line, const char *what, cudaError_t e) {
    (void)cudaGetLastError(); /* clear it, so later launch checks do not report it again */
    return rl_error_set("%s: CUDA error %s (%s) at %s:%d in %s; hint: %s", op, cudaGetErrorName(e),
                        cudaGetErrorString(e), file, line, what, cuda_hint(e));
}

int cublas_fail(const char *op, const char *file, int line, const char *what, cublasStatus_t s) {
    const char *hint = s == CUBLAS_STATUS_ALLOC_FAILED
                           ? "the GPU is out of memory: lower the resolution or the number of frames, or use the "
                             "offload options (see raylight-gen --help)"
                           : "this is a bug or a driver problem; rerun with RL_CUDA_SYNC=1 and report it";
    return rl_error_set("%s: cuBLAS error %s (%s) at %s:%d in %s; hint: %s", op, cublasGetStatusName(s),
                        cublasGetStatusString(s), file, line, what, hint);
}

int cuda_op_done(cuda_state *st, const char *op) {
    if (!st->sync_each) return 0;
    CUDA_TRY(op, cudaStreamSynchronize(st->stream));
    return 0;
}

/* ---------------------------------------------------------------- checks */

#define SHAPE(t, buf) rl_shape_str((t), (buf), sizeof(buf))

int cuda_check_tensor(const char *op, const char *role, const rl_tensor *t, int want) {
    char s[96];
    RL_TRY(backend_check_header(op, role, t));
    if (t->device != RL_DEVICE_CUDA)
        return rl_error_set("%s: '%s' %s is in host memory but this is the CUDA backend; upload it first", op,
                            role, SHAPE(t, s));
    if (want == CK_FLOAT && t->dtype != RL_F32 && t->dtype != RL_BF16)
        return rl_error_set("%s: '%s' %s is %s but CUDA ops take f32 or bf16; cast it first", op, role,
                            SHAPE(t, s), rl_dtype_name(t->dtype));
    if (want == CK_F32 && t->dtype != RL_F32)
        return rl_error_set("%s: '%s' %s is %s but must be f32", op, role, SHAPE(t, s), rl_dtype_name(t->dtype));
    if (want != CK_STRIDED && !rl_tensor_is_contiguous(t))
        return rl_error_set("%s: '%s' %s is a strided view; this op needs a contiguous tensor (copy it first)", op,
                            role, SHAPE(t, s));
    return backend_check_storage(op, role, t);
}

/* A per-channel vector: [D], or [1, ..., 1, D], D = x's last dim. */
static int check_row_vector(const char *op, const char *role, const rl_tensor *v, const char *xrole,
                            const rl_tensor *x) {
    RL_TRY(cuda_check_tensor(op, role, v, CK_FLOAT));
    return backend_check_vector(op, role, v, backend_last_dim(x), "the last dim of", xrole, x);
}

static cuda_state *state_of(rl_backend *be) { return (cuda_state *)be->impl; }

/* Makes the backend's GPU current for this thread (a no-op when it already is). */
int cuda_enter(rl_backend *be, const char *op) {
    CUDA_TRY(op, cudaSetDevice(state_of(be)->device));
    return 0;
}

/* ---------------------------------------------------------------- memory */

static void *cuda_alloc(rl_backend *be, size_t bytes) {
    cuda_state *st = state_of(be);
    if (rl_mem_check_limit(RL_DEVICE_CUDA, bytes) != 0) return NULL;
    if (cuda_enter(be, "alloc") != 0) return NULL;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t fr = 0, tot = 0;
        int have_info = cudaMemGetInfo(&fr, &tot) == cudaSuccess;
        if (!have_info) (void)cudaGetLastError();
        /* some drivers answer an impossible size with "invalid value": that is OOM too */
        if (e == cudaErrorMemoryAllocation || (have_info && bytes > fr)) {
            char b1[32], b2[32], b3[32];
            rl_error_set("out of GPU memory on cuda:%d: could not allocate %s (%s free of %s); lower the "
                         "resolution or the number of frames, or keep DiT blocks in host memory (--offload-blocks N "
                         "or --auto-plan)",
                         st->device, rl_bytes_str(bytes, b1, sizeof b1), rl_bytes_str(fr, b2, sizeof b2),
                         rl_bytes_str(tot, b3, sizeof b3));
        } else {
            cuda_fail("alloc", __FILE__, __LINE__, "cudaMalloc", e);
        }
        return NULL;
    }
    rl_mem_note_alloc(RL_DEVICE_CUDA, bytes);
    return p;
}

static void cuda_free(rl_backend *be, void *p, size_t bytes) {
    if (!p) return;
    if (cuda_enter(be, "free") != 0) return;
    /* cudaFree waits for the device; a failure here is an earlier kernel's sticky
     * error, reported by the next call that checks. */
    if (cudaFree(p) == cudaSuccess) rl_mem_note_free(RL_DEVICE_CUDA, bytes);
}

static int cuda_upload(rl_backend *be, void *dst, const void *src, size_t bytes) {
    cuda_state *st = state_of(be);
    if (!bytes) return 0;
    RL_TRY(cuda_enter(be, "upload"));
    /* Ordered after earlier ops on the stream; waited for, since the caller may
     * reuse its host buffer on return. */
    CUDA_TRY("upload", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, st->stream));
    CUDA_TRY("upload", cudaStreamSynchronize(st->stream));
    return 0;
}

static int cuda_download(rl_backend *be, void *dst, const void *src, size_t bytes) {
    cuda_state *st = state_of(be);
    if (!bytes) return 0;
    RL_TRY(cuda_enter(be, "download"));
    CUDA_TRY("download", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, st->stream));
    CUDA_TRY("download", cudaStreamSynchronize(st->stream));
    return 0;
}

/* ---------------------------------------------------------------- block swap */

static void *cuda_host_alloc(rl_backend *be, size_t bytes) {
    if (cuda_enter(be, "host_alloc") != 0) return NULL;
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 256, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        char b[32];
        rl_error_set("out of pinned host memory: could not page-lock %s for offloaded DiT blocks (%s); offload "
                     "fewer blocks (--offload-blocks) or free host memory",
                     rl_bytes_str(bytes, b, sizeof b), cudaGetErrorString(e));
        return NULL;
    }
    rl_mem_note_pinned(bytes, 0);
    return p;
}

static void cuda_host_free(rl_backend *be, void *p, size_t bytes) {
    if (!p) return;
    if (cuda_enter(be, "host_free") != 0) return;
    if (cudaFreeHost(p) == cudaSuccess) rl_mem_note_pinned(bytes, 1);
}

static int check_slot(const char *op, int slot) {
    if (slot < 0 || slot >= RL_COPY_SLOTS)
        return rl_error_set("%s: copy slot %d is outside 0..%d (a bug)", op, slot, RL_COPY_SLOTS - 1);
    return 0;
}

/* The copy stream first waits for the compute stream's release of the slot, so
 * a block's weights are never overwritten while the previous block still reads them. */
static int cuda_copy_async(rl_backend *be, void *dst, const void *src, size_t bytes, int slot) {
    cuda_state *st = state_of(be);
    RL_TRY(check_slot("copy_async", slot));
    RL_TRY(cuda_enter(be, "copy_async"));
    if (st->released_set[slot]) CUDA_TRY("copy_async", cudaStreamWaitEvent(st->copy_stream, st->released[slot], 0));
    if (bytes) CUDA_TRY("copy_async", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, st->copy_stream));
    CUDA_TRY("copy_async", cudaEventRecord(st->copied[slot], st->copy_stream));
    st->copied_set[slot] = 1;
    return 0;
}

static int cuda_wait_copy(rl_backend *be, int slot) {
    cuda_state *st = state_of(be);
    RL_TRY(check_slot("wait_copy", slot));
    RL_TRY(cuda_enter(be, "wait_copy"));
    CUDA_TRY("wait_copy", cudaStreamWaitEvent(st->stream, st->copied[slot], 0));
    return cuda_op_done(st, "wait_copy");
}

static int cuda_release_slot(rl_backend *be, int slot) {
    cuda_state *st = state_of(be);
    RL_TRY(check_slot("release_slot", slot));
    RL_TRY(cuda_enter(be, "release_slot"));
    CUDA_TRY("release_slot", cudaEventRecord(st->released[slot], st->stream));
    st->released_set[slot] = 1;
    return 0;
}

static int cuda_synchronize(rl_backend *be) {
    RL_TRY(cuda_enter(be, "synchronize"));
    CUDA_TRY("synchronize", cudaStreamSynchronize(state_of(be)->stream));
    CUDA_TRY("synchronize", cudaStreamSynchronize(state_of(be)->copy_stream)); /* block-swap uploads in flight */
    CUDA_TRY("synchronize", cudaStreamSynchronize(state_of(be)->comm_stream)); /* --fsdp gathers in flight */
    return 0;
}

/* ---------------------------------------------------------------- norms */

static int check_norm_common(const char *op, rl_tensor *y, const rl_tensor *x) {
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs at least one dim to normalise over", op);
    return backend_check_same_shape(op, "y", y, "x", x);
}

static int cuda_layer_norm_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                              const rl_tensor *b, float eps) {
    const char *op = "layer_norm";
    RL_TRY(check_norm_common(op, y, x));
    if (w) RL_TRY(check_row_vector(op, "w", w, "x", x));
    if (b) RL_TRY(check_row_vector(op, "b", b, "x", x));
    RL_TRY(cuda_enter(be, op));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    KERNEL_TRY(op, cuda_layer_norm(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, w ? w->data : NULL,
                                   w ? (int)w->dtype : 0, b ? b->data : NULL, b ? (int)b->dtype : 0, R, D, eps));
    return cuda_op_done(state_of(be), op);
}

static int cuda_rms_norm_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, float eps) {
    const char *op = "rms_norm";
    RL_TRY(check_norm_common(op, y, x));
    if (w) RL_TRY(check_row_vector(op, "w", w, "x", x));
    RL_TRY(cuda_enter(be, op));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    KERNEL_TRY(op, cuda_rms_norm(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, w ? w->data : NULL,
                                 w ? (int)w->dtype : 0, R, D, eps));
    return cuda_op_done(state_of(be), op);
}

/* ---------------------------------------------------------------- elementwise */

/* y = a (op) b with b of a's shape or a row vector over a's last dim. */
static int binary_op(rl_backend *be, const char *op, int mul, rl_tensor *y, const rl_tensor *a,
                     const rl_tensor *b) {
    char sa[96], sb[96];
    RL_TRY(cuda_check_tensor(op, "a", a, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "b", b, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    RL_TRY(backend_check_same_shape(op, "y", y, "a", a));
    int64_t n = rl_tensor_numel(a), D = backend_last_dim(a);
    int full = rl_tensor_same_shape(a, b);
    int row = !full && b->ndim >= 1 && backend_last_dim(b) == D && rl_tensor_numel(b) == D;
    if (!full && !row)
        return rl_error_set("%s: 'b' is %s but must be a's shape %s or [%lld] (a's last dim)", op, SHAPE(b, sb),
                            SHAPE(a, sa), (long long)D);
    if (n == 0) return 0;
    RL_TRY(cuda_enter(be, op));
    int64_t bn = full ? n : D;
    void *s = state_of(be)->stream;
    if (mul) KERNEL_TRY(op, cuda_mul(s, y->data, y->dtype, a->data, a->dtype, b->data, b->dtype, n, bn));
    else KERNEL_TRY(op, cuda_add(s, y->data, y->dtype, a->data, a->dtype, b->data, b->dtype, n, bn));
    return cuda_op_done(state_of(be), op);
}

static int cuda_add_op(rl_backend *be, rl_tensor *y, const rl_tensor *a, const rl_tensor *b) {
    return binary_op(be, "add", 0, y, a, b);
}
static int cuda_mul_op(rl_backend *be, rl_tensor *y, const rl_tensor *a, const rl_tensor *b) {
    return binary_op(be, "mul", 1, y, a, b);
}

static int cuda_scale_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, float s) {
    const char *op = "scale";
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_scale(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, s, rl_tensor_numel(x)));
    return cuda_op_done(state_of(be), op);
}

static int cuda_modulate_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *shift,
                            const rl_tensor *scale) {
    const char *op = "modulate";
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(check_row_vector(op, "shift", shift, "x", x));
    RL_TRY(check_row_vector(op, "scale", scale, "x", x));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_modulate(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, shift->data,
                                 shift->dtype, scale->data, scale->dtype, rl_tensor_numel(x), backend_last_dim(x)));
    return cuda_op_done(state_of(be), op);
}

static int cuda_gated_add_op(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate) {
    const char *op = "gated_add";
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(check_row_vector(op, "gate", gate, "x", x));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_gated_add(state_of(be)->stream, x->data, x->dtype, y->data, y->dtype, gate->data,
                                  gate->dtype, rl_tensor_numel(x), backend_last_dim(x)));
    return cuda_op_done(state_of(be), op);
}

typedef int (*unary_launcher)(void *, void *, int, const void *, int, int64_t);

static int unary_op(rl_backend *be, const char *op, unary_launcher fn, rl_tensor *y, const rl_tensor *x) {
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, fn(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, rl_tensor_numel(x)));
    return cuda_op_done(state_of(be), op);
}

static int cuda_silu_op(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    return unary_op(be, "silu", cuda_silu, y, x);
}
static int cuda_gelu_tanh_op(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    return unary_op(be, "gelu_tanh", cuda_gelu_tanh, y, x);
}
static int cuda_gelu_erf_op(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    return unary_op(be, "gelu_erf", cuda_gelu_erf, y, x);
}

/* ---------------------------------------------------------------- attention */

static int check_attention(const char *op, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                           const rl_tensor *v, const rl_tensor *bias, const rl_tensor *lse) {
    char s1[96], s2[96];
    RL_TRY(cuda_check_tensor(op, "q", q, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "k", k, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "v", v, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "out", out, CK_FLOAT));
    if (q->ndim != 4) return rl_error_set("%s: q is %s but must be 4-D [B, Lq, H, d]", op, SHAPE(q, s1));
    if (k->ndim != 4) return rl_error_set("%s: k is %s but must be 4-D [B, Lk, H, d]", op, SHAPE(k, s1));
    RL_TRY(backend_check_same_shape(op, "v", v, "k", k));
    RL_TRY(backend_check_same_shape(op, "out", out, "q", q));
    if (k->shape[0] != q->shape[0] || k->shape[2] != q->shape[2] || k->shape[3] != q->shape[3])
        return rl_error_set("%s: k is %s but q is %s; batch, heads and head dim must match", op, SHAPE(k, s1),
                            SHAPE(q, s2));
    int64_t B = q->shape[0], Lq = q->shape[1], Lk = k->shape[1], H = q->shape[2];
    if (bias) {
        RL_TRY(cuda_check_tensor(op, "bias", bias, CK_FLOAT));
        if (bias->ndim != 3 || bias->shape[0] != H || bias->shape[1] != Lq || bias->shape[2] != Lk)
            return rl_error_set("%s: bias is %s but must be [H, Lq, Lk] = [%lld, %lld, %lld]", op, SHAPE(bias, s1),
                                (long long)H, (long long)Lq, (long long)Lk);
    }
    if (lse) {
        RL_TRY(cuda_check_tensor(op, "lse", lse, CK_F32));
        if (lse->ndim != 3 || lse->shape[0] != B || lse->shape[1] != H || lse->shape[2] != Lq)
            return rl_error_set("%s: lse is %s but must be [B, H, Lq] = [%lld, %lld, %lld]", op, SHAPE(lse, s1),
                                (long long)B, (long long)H, (long long)Lq);
    }
    if (H > 65535 || B > 65535)
        return rl_error_set("%s: q %s has more than 65535 heads or batches, beyond the CUDA grid", op, SHAPE(q, s1));
    return 0;
}

static int cuda_attention_op(rl_backend *be, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                             const rl_tensor *v, int64_t kv_len, const rl_tensor *bias, float scale,
                             rl_tensor *lse) {
    const char *op = "attention";
    RL_TRY(check_attention(op, out, q, k, v, bias, lse));
    cuda_attention_args a = {
        .q = q->data, .k = k->data, .v = v->data, .bias = bias ? bias->data : NULL, .out = out->data,
        .lse = lse ? (float *)lse->data : NULL, .qdt = q->dtype, .kdt = k->dtype, .vdt = v->dtype,
        .bdt = bias ? (int)bias->dtype : 0, .odt = out->dtype, .B = q->shape[0], .Lq = q->shape[1],
        .Lk = k->shape[1], .H = q->shape[2], .d = q->shape[3], .nkeys = k->shape[1], .scale = scale,
    };
    if (kv_len > 0 && kv_len < a.Lk) a.nkeys = kv_len;
    if (rl_tensor_numel(q) == 0) return 0;
    RL_TRY(cuda_enter(be, op));
    RL_TRY(cuda_attention_run(state_of(be), op, &a));
    return cuda_op_done(state_of(be), op);
}

/* Ring attention's merge into the fp32 running result (kernels/attention_merge.cu). */
static int cuda_attention_merge_op(rl_backend *be, rl_tensor *out, rl_tensor *lse, const rl_tensor *part,
                                   const rl_tensor *part_lse) {
    const char *op = "attention_merge";
    char s1[96];
    RL_TRY(cuda_check_tensor(op, "out", out, CK_F32));
    RL_TRY(cuda_check_tensor(op, "lse", lse, CK_F32));
    RL_TRY(cuda_check_tensor(op, "part_out", part, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "part_lse", part_lse, CK_F32));
    if (out->ndim != 4) return rl_error_set("%s: out is %s but must be 4-D [B, L, H, d]", op, SHAPE(out, s1));
    RL_TRY(backend_check_same_shape(op, "part_out", part, "out", out));
    const int64_t B = out->shape[0], L = out->shape[1], H = out->shape[2], d = out->shape[3];
    if (lse->ndim != 3 || lse->shape[0] != B || lse->shape[1] != H || lse->shape[2] != L)
        return rl_error_set("%s: lse is %s but must be [B, H, L] = [%lld, %lld, %lld]", op, SHAPE(lse, s1),
                            (long long)B, (long long)H, (long long)L);
    RL_TRY(backend_check_same_shape(op, "part_lse", part_lse, "lse", lse));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_attention_merge(state_of(be)->stream, out->data, lse->data, part->data, part->dtype,
                                        part_lse->data, B, L, H, d));
    return cuda_op_done(state_of(be), op);
}

/* ---------------------------------------------------------------- rope */

static int cuda_rope_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *cos_t,
                        const rl_tensor *sin_t) {
    const char *op = "rope";
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(cuda_check_tensor(op, "cos", cos_t, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "sin", sin_t, CK_FLOAT));
    int64_t Bn, L, H, d;
    RL_TRY(backend_check_rope_geometry(op, x, cos_t, sin_t, &Bn, &L, &H, &d));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_rope(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, cos_t->data, cos_t->dtype,
                             sin_t->data, sin_t->dtype, Bn, L, H, d));
    return cuda_op_done(state_of(be), op);
}

/* ---------------------------------------------------------------- fused norm ops */

/* The fused kernels take f32, bf16 or f16 for every tensor. */
static int check_fused_tensor(const char *op, const char *role, const rl_tensor *t) {
    char s[96];
    RL_TRY(cuda_check_tensor(op, role, t, CK_ANY));
    if (t->dtype != RL_F32 && t->dtype != RL_BF16 && t->dtype != RL_F16)
        return rl_error_set("%s: '%s' %s is %s but this op takes f32, bf16 or f16; cast it first", op, role,
                            SHAPE(t, s), rl_dtype_name(t->dtype));
    return 0;
}

/* x and y of a fused op: same shape, rows of at most INT32_MAX values, and y either
 * x itself (same dtype: in place) or apart from it. */
static int check_fused_xy(const char *op, rl_tensor *y, const rl_tensor *x, int64_t row) {
    char sx[96];
    RL_TRY(check_fused_tensor(op, "x", x));
    RL_TRY(check_fused_tensor(op, "y", y));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs at least one dim to normalise over", op);
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    if (row > INT32_MAX)
        return rl_error_set("%s: x %s has rows of %lld values; the kernel takes at most %d", op, SHAPE(x, sx),
                            (long long)row, INT32_MAX);
    if (y->data == x->data && y->dtype != x->dtype)
        return rl_error_set("%s: y is x's storage but %s where x is %s; in place needs one dtype", op,
                            rl_dtype_name(y->dtype), rl_dtype_name(x->dtype));
    return 0;
}

/* A vector of exactly n values (last dim n), in any dtype the fused kernels take. */
static int check_fused_vector(const char *op, const char *role, const rl_tensor *v, int64_t n, const char *what,
                              const rl_tensor *x) {
    RL_TRY(check_fused_tensor(op, role, v));
    return backend_check_vector(op, role, v, n, what, "x", x);
}

static int cuda_layer_norm_modulate_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *shift,
                                       const rl_tensor *scale, float eps) {
    const char *op = "layer_norm_modulate";
    RL_TRY(check_fused_xy(op, y, x, x ? backend_last_dim(x) : 0));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    RL_TRY(check_fused_vector(op, "shift", shift, D, "the last dim of", x));
    RL_TRY(check_fused_vector(op, "scale", scale, D, "the last dim of", x));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_layer_norm_modulate(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, shift->data,
                                            shift->dtype, scale->data, scale->dtype, R, D, eps));
    return cuda_op_done(state_of(be), op);
}

static int cuda_rms_norm_rope_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                                 const rl_tensor *cos_t, const rl_tensor *sin_t, float eps) {
    const char *op = "rms_norm_rope";
    int64_t Bn, L, H, d;
    RL_TRY(check_fused_xy(op, y, x, x && x->ndim >= 2 ? x->shape[x->ndim - 1] * x->shape[x->ndim - 2] : 0));
    RL_TRY(check_fused_tensor(op, "cos", cos_t));
    RL_TRY(check_fused_tensor(op, "sin", sin_t));
    RL_TRY(backend_check_rope_geometry(op, x, cos_t, sin_t, &Bn, &L, &H, &d));
    if (w) RL_TRY(check_fused_vector(op, "w", w, H * d, "H*d: the norm spans all heads of", x));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_rms_norm_rope(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, w ? w->data : NULL,
                                      w ? (int)w->dtype : 0, cos_t->data, cos_t->dtype, sin_t->data, sin_t->dtype,
                                      Bn, L, H, d, eps));
    return cuda_op_done(state_of(be), op);
}

/* The residual add and the next LayerNorm (modulate: va = scale, vb = shift, both
 * required; else va = w, vb = b, both optional). x is the f32 residual. */
static int residual_layer_norm_op(rl_backend *be, const char *op, rl_tensor *x, const rl_tensor *y,
                                  const rl_tensor *gate, rl_tensor *h, const rl_tensor *va, const rl_tensor *vb,
                                  int modulate, float eps) {
    char sx[96];
    RL_TRY(cuda_check_tensor(op, "x", x, CK_F32));
    RL_TRY(check_fused_tensor(op, "y", y));
    RL_TRY(check_fused_tensor(op, "h", h));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs at least one dim to normalise over", op);
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    RL_TRY(backend_check_same_shape(op, "h", h, "x", x));
    int64_t D = backend_last_dim(x), R = D ? rl_tensor_numel(x) / D : 0;
    if (D > INT32_MAX)
        return rl_error_set("%s: x %s has rows of %lld values; the kernel takes at most %d", op, SHAPE(x, sx),
                            (long long)D, INT32_MAX);
    if (gate) RL_TRY(check_fused_vector(op, "gate", gate, D, "the last dim of", x));
    if (va) RL_TRY(check_fused_vector(op, modulate ? "scale" : "w", va, D, "the last dim of", x));
    if (vb) RL_TRY(check_fused_vector(op, modulate ? "shift" : "b", vb, D, "the last dim of", x));
    if (h->data == x->data && R * D > 0)
        return rl_error_set("%s: h is x's storage; the residual x and the normalised h must be apart", op);
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_residual_layer_norm(state_of(be)->stream, (float *)x->data, y->data, y->dtype,
                                            gate ? gate->data : NULL, gate ? (int)gate->dtype : 0, h->data, h->dtype,
                                            va ? va->data : NULL, va ? (int)va->dtype : 0, vb ? vb->data : NULL,
                                            vb ? (int)vb->dtype : 0, modulate, R, D, eps));
    return cuda_op_done(state_of(be), op);
}

static int cuda_gated_add_layer_norm_op(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate,
                                        rl_tensor *h, const rl_tensor *w, const rl_tensor *b, float eps) {
    return residual_layer_norm_op(be, "gated_add_layer_norm", x, y, gate, h, w, b, 0, eps);
}

static int cuda_add_layer_norm_modulate_op(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate,
                                           rl_tensor *h, const rl_tensor *shift, const rl_tensor *scale, float eps) {
    const char *op = "add_layer_norm_modulate";
    if (!shift || !scale) return rl_error_set("%s: the tensors 'shift' and 'scale' are required", op);
    return residual_layer_norm_op(be, op, x, y, gate, h, scale, shift, 1, eps);
}

/* ---------------------------------------------------------------- conv3d */

static int check_conv3d(const char *op, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                        const rl_conv3d_params *p, int64_t out[3]) {
    char sw[96];
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "w", w, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    if (b) RL_TRY(cuda_check_tensor(op, "b", b, CK_FLOAT));
    RL_TRY(backend_check_conv3d_shapes(op, y, x, w, b, p, out));
    if ((w->shape[0] + 7) / 8 > 65535)
        return rl_error_set("%s: the weight %s has more output channels than the CUDA kernel's grid takes", op,
                            SHAPE(w, sw));
    return 0;
}

static int cuda_conv3d_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                          const rl_tensor *b, const rl_conv3d_params *p) {
    const char *op = "conv3d";
    int64_t o[3];
    RL_TRY(check_conv3d(op, y, x, w, b, p, o));
    if (rl_tensor_numel(y) == 0) return 0;
    RL_TRY(cuda_enter(be, op));
    return cuda_conv3d_run(be, y, x, w, b, p, o);
}

/* ---------------------------------------------------------------- video ops (Wan VAE) */

static int check_channel_vector(const char *op, const char *role, const rl_tensor *v, int64_t n) {
    char sv[96];
    RL_TRY(cuda_check_tensor(op, role, v, CK_FLOAT));
    if (rl_tensor_numel(v) != n)
        return rl_error_set("%s: '%s' is %s but must hold %lld values (one per channel of x)", op, role,
                            SHAPE(v, sv), (long long)n);
    return 0;
}

static int cuda_rms_norm_channels_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *gamma,
                                     float eps) {
    const char *op = "rms_norm_channels";
    RL_TRY(check_norm_common(op, y, x));
    int64_t C = x->shape[0], N = C ? rl_tensor_numel(x) / C : 0;
    if (gamma) RL_TRY(check_channel_vector(op, "gamma", gamma, C));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_rms_norm_channels(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype,
                                          gamma ? gamma->data : NULL, gamma ? (int)gamma->dtype : 0, C, N, eps));
    return cuda_op_done(state_of(be), op);
}

static int cuda_channel_affine_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *scale,
                                  const rl_tensor *shift) {
    const char *op = "channel_affine";
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    if (x->ndim < 1) return rl_error_set("%s: x is a scalar; it needs a channel dim", op);
    int64_t C = x->shape[0], N = C ? rl_tensor_numel(x) / C : 0;
    RL_TRY(check_channel_vector(op, "scale", scale, C));
    if (shift) RL_TRY(check_channel_vector(op, "shift", shift, C));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_channel_affine(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, scale->data,
                                       scale->dtype, shift ? shift->data : NULL, shift ? (int)shift->dtype : 0, C, N));
    return cuda_op_done(state_of(be), op);
}

static int cuda_upsample_nearest2x_op(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    const char *op = "upsample_nearest2x";
    char sx[96], sy[96];
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    int nd = x->ndim, ok = nd >= 2 && y->ndim == nd;
    for (int i = 0; ok && i < nd - 2; i++) ok = y->shape[i] == x->shape[i];
    if (ok) ok = y->shape[nd - 2] == 2 * x->shape[nd - 2] && y->shape[nd - 1] == 2 * x->shape[nd - 1];
    if (!ok)
        return rl_error_set("%s: x is %s and y is %s; y must be x's shape with the last two dims doubled", op,
                            SHAPE(x, sx), SHAPE(y, sy));
    if (x->data == y->data && rl_tensor_numel(x) > 0)
        return rl_error_set("%s: y and x share storage; the upsample cannot run in place", op);
    int64_t H = x->shape[nd - 2], W = x->shape[nd - 1], P = (H > 0 && W > 0) ? rl_tensor_numel(x) / (H * W) : 0;
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_upsample_nearest2x(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, P, H, W));
    return cuda_op_done(state_of(be), op);
}

static int cuda_fill_normal_op(rl_backend *be, rl_tensor *y, uint64_t seed, float mean, float std) {
    const char *op = "fill_normal";
    if (!y || !y->data) return rl_error_set("%s: the tensor 'y' is missing", op);
    if (y->device != RL_DEVICE_CUDA || !rl_tensor_is_contiguous(y))
        return rl_error_set("%s: 'y' must be a contiguous tensor in GPU memory", op);
    if (y->dtype != RL_F32 && y->dtype != RL_BF16 && y->dtype != RL_F16)
        return rl_error_set("%s: 'y' is %s; it must be f32, bf16 or f16", op, rl_dtype_name(y->dtype));
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_fill_normal(state_of(be)->stream, y->data, y->dtype, seed, mean, std, rl_tensor_numel(y)));
    return cuda_op_done(state_of(be), op);
}

static int cuda_clamp_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, float lo, float hi) {
    const char *op = "clamp";
    RL_TRY(cuda_check_tensor(op, "x", x, CK_FLOAT));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_FLOAT));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    if (!(lo <= hi)) return rl_error_set("%s: the bounds [%g, %g] are empty", op, (double)lo, (double)hi);
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_clamp(state_of(be)->stream, y->data, y->dtype, x->data, x->dtype, lo, hi, rl_tensor_numel(x)));
    return cuda_op_done(state_of(be), op);
}

/* ---------------------------------------------------------------- embedding */

/* Ids are not checked here (they live on the GPU); an id outside the table gives
 * a zero row, never an out-of-bounds read. Callers validate ids on the host. */
static int cuda_embedding_op(rl_backend *be, rl_tensor *y, const rl_tensor *table, const rl_tensor *ids) {
    const char *op = "embedding";
    RL_TRY(cuda_check_tensor(op, "table", table, CK_ANY));
    RL_TRY(cuda_check_tensor(op, "ids", ids, CK_ANY));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_ANY));
    RL_TRY(backend_check_embedding_shapes(op, y, table, ids));
    const int64_t V = table->shape[0], D = table->shape[1], N = ids->shape[0];
    RL_TRY(cuda_enter(be, op));
    KERNEL_TRY(op, cuda_embedding(state_of(be)->stream, y->data, y->dtype, table->data, table->dtype, ids->data, N, V,
                                  D));
    return cuda_op_done(state_of(be), op);
}

/* ---------------------------------------------------------------- cast, copy */

static int cuda_cast_op(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    const char *op = "cast";
    RL_TRY(cuda_check_tensor(op, "x", x, CK_ANY));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_ANY));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    int64_t n = rl_tensor_numel(x);
    if (n == 0) return 0;
    RL_TRY(cuda_enter(be, op));
    cuda_state *st = state_of(be);
    if (x->dtype == y->dtype) { /* bit-exact, as rl_convert's memmove */
        if (x->data != y->data)
            CUDA_TRY(op, cudaMemcpyAsync(y->data, x->data, (size_t)n * rl_dtype_size(x->dtype),
                                         cudaMemcpyDeviceToDevice, st->stream));
    } else {
        KERNEL_TRY(op, cuda_cast(st->stream, y->data, y->dtype, x->data, x->dtype, n));
    }
    return cuda_op_done(st, op);
}

static int cuda_copy_op(rl_backend *be, rl_tensor *y, const rl_tensor *x) {
    const char *op = "copy";
    char sy[96];
    RL_TRY(cuda_check_tensor(op, "x", x, CK_STRIDED));
    RL_TRY(cuda_check_tensor(op, "y", y, CK_STRIDED));
    RL_TRY(backend_check_same_shape(op, "y", y, "x", x));
    if (x->dtype != y->dtype)
        return rl_error_set("%s: y %s is %s but x is %s; copy keeps the dtype (use cast)", op, SHAPE(y, sy),
                            rl_dtype_name(y->dtype), rl_dtype_name(x->dtype));
    int64_t n = rl_tensor_numel(x);
    size_t es = rl_dtype_size(x->dtype);
    if (n == 0) return 0;
    RL_TRY(cuda_enter(be, op));
    cuda_state *st = state_of(be);
    if (rl_tensor_is_contiguous(x) && rl_tensor_is_contiguous(y)) {
        if (x->data != y->data)
            CUDA_TRY(op, cudaMemcpyAsync(y->data, x->data, (size_t)n * es, cudaMemcpyDeviceToDevice, st->stream));
    } else {
        KERNEL_TRY(op, cuda_copy_strided(st->stream, y->data, x->data, (int)es, x->ndim, x->shape, y->stride,
                                         x->stride));
    }
    return cuda_op_done(st, op);
}

/* ---------------------------------------------------------------- setup */

#define CUDA_MAX_DEVICES 16
#define CUDA_WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLASLt's recommendation for Hopper */

typedef struct {
    rl_backend be;
    cuda_state st;
    int ready;
} cuda_slot;

static cuda_slot cuda_slots[CUDA_MAX_DEVICES];

static void state_release(cuda_state *st) {
    for (int i = 0; i < RL_COPY_SLOTS; i++) {
        if (st->copied[i]) cudaEventDestroy(st->copied[i]);
        if (st->released[i]) cudaEventDestroy(st->released[i]);
        if (st->gathered[i]) cudaEventDestroy(st->gathered[i]);
    }
    if (st->copy_stream) cudaStreamDestroy(st->copy_stream);
    if (st->comm_stream) cudaStreamDestroy(st->comm_stream);
    if (st->workspace) cudaFree(st->workspace);
    if (st->blas) cublasDestroy(st->blas);
    if (st->lt) cublasLtDestroy(st->lt);
    if (st->stream) cudaStreamDestroy(st->stream);
    (void)cudaGetLastError();
    memset(st, 0, sizeof *st);
}

/* Opens device `dev`: stream, cuBLASLt and cuBLAS handles, workspace. */
static int state_open(cuda_state *st, int dev) {
    const char *op = "backend 'cuda'";
    memset(st, 0, sizeof *st);
    st->device = dev;
    CUDA_TRY(op, cudaSetDevice(dev));
    CUDA_TRY(op, cudaGetDeviceProperties(&st->prop, dev));
    CUDA_TRY(op, cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking));
    CUDA_TRY(op, cudaStreamCreateWithFlags(&st->copy_stream, cudaStreamNonBlocking));
    CUDA_TRY(op, cudaStreamCreateWithFlags(&st->comm_stream, cudaStreamNonBlocking));
    for (int i = 0; i < RL_COPY_SLOTS; i++) {
        CUDA_TRY(op, cudaEventCreateWithFlags(&st->copied[i], cudaEventDisableTiming));
        CUDA_TRY(op, cudaEventCreateWithFlags(&st->released[i], cudaEventDisableTiming));
        CUDA_TRY(op, cudaEventCreateWithFlags(&st->gathered[i], cudaEventDisableTiming));
    }
    CUBLAS_TRY(op, cublasLtCreate(&st->lt));
    CUBLAS_TRY(op, cublasCreate(&st->blas));
    CUBLAS_TRY(op, cublasSetStream(st->blas, st->stream));
    st->workspace_bytes = CUDA_WORKSPACE_BYTES;
    CUDA_TRY(op, cudaMalloc(&st->workspace, st->workspace_bytes));
    const char *tf32 = getenv("RAYLIGHT_TF32");
    st->allow_tf32 = !(tf32 && !strcmp(tf32, "0"));
    const char *sync = getenv("RL_CUDA_SYNC");
    st->sync_each = sync && sync[0] && strcmp(sync, "0") != 0;
    return 0;
}

rl_backend *rl_backend_cuda(int device_index) {
    if (device_index < 0 || device_index >= CUDA_MAX_DEVICES) {
        rl_error_set("backend 'cuda': device index %d is out of range (0..%d)", device_index, CUDA_MAX_DEVICES - 1);
        return NULL;
    }
    cuda_slot *s = &cuda_slots[device_index];
    if (s->ready) return &s->be;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        rl_error_set("backend 'cuda': no usable GPU: cudaGetDeviceCount reports %s (%s); check that an NVIDIA GPU "
                     "and its driver are present (nvidia-smi), or use --backend cpu",
                     e == cudaSuccess ? "no devices" : cudaGetErrorName(e),
                     e == cudaSuccess ? "0 GPUs visible" : cudaGetErrorString(e));
        return NULL;
    }
    if (device_index >= n) {
        rl_error_set("backend 'cuda': GPU %d was requested but only %d %s visible (check CUDA_VISIBLE_DEVICES), "
                     "or use --backend cpu", device_index, n, n == 1 ? "is" : "are");
        return NULL;
    }
    if (state_open(&s->st, device_index) != 0) {
        rl_error_wrap("could not open GPU %d (use --backend cpu to run without it)", device_index);
        state_release(&s->st);
        return NULL;
    }
    rl_backend *be = &s->be;
    memset(be, 0, sizeof *be);
    be->name = "cuda";
    be->device = RL_DEVICE_CUDA;
    be->weight_dtype = RL_BF16;
    be->act_dtype = RL_BF16;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->synchronize = cuda_synchronize;
    be->matmul = cuda_matmul_op;
    be->layer_norm = cuda_layer_norm_op;
    be->rms_norm = cuda_rms_norm_op;
    be->add = cuda_add_op;
    be->mul = cuda_mul_op;
    be->scale = cuda_scale_op;
    be->modulate = cuda_modulate_op;
    be->gated_add = cuda_gated_add_op;
    be->silu = cuda_silu_op;
    be->gelu_tanh = cuda_gelu_tanh_op;
    be->gelu_erf = cuda_gelu_erf_op;
    be->attention = cuda_attention_op;
    be->attention_merge = cuda_attention_merge_op;
    be->rope = cuda_rope_op;
    be->layer_norm_modulate = cuda_layer_norm_modulate_op;
    be->rms_norm_rope = cuda_rms_norm_rope_op;
    be->gated_add_layer_norm = cuda_gated_add_layer_norm_op;
    be->add_layer_norm_modulate = cuda_add_layer_norm_modulate_op;
    be->conv3d = cuda_conv3d_op;
    be->rms_norm_channels = cuda_rms_norm_channels_op;
    be->channel_affine = cuda_channel_affine_op;
    be->upsample_nearest2x = cuda_upsample_nearest2x_op;
    be->clamp = cuda_clamp_op;
    be->fill_normal = cuda_fill_normal_op;
    be->embedding = cuda_embedding_op;
    be->cast = cuda_cast_op;
    be->copy = cuda_copy_op;
    be->host_alloc = cuda_host_alloc;
    be->host_free = cuda_host_free;
    be->copy_async = cuda_copy_async;
    be->wait_copy = cuda_wait_copy;
    be->release_slot = cuda_release_slot;
    be->impl = &s->st;
    s->ready = 1;
    char mem[32];
    rl_log(RL_LOG_VERBOSE, "cuda:%d: %s, %s, sm_%d%d\n", device_index, s->st.prop.name,
           rl_bytes_str(s->st.prop.totalGlobalMem, mem, sizeof mem), s->st.prop.major, s->st.prop.minor);
    return be;
}
