/* raylight.h: the few types and calls every layer shares.
 *
 * Conventions
 * - Errors: fallible calls return 0 on success and -1 on failure after setting a
 *   sentence with rl_error_set() (naming the file/tensor/flag at fault). The caller
 *   either adds context and returns -1 again, or prints it with rl_die().
 * - Tensors are row-major; shape[0] is the slowest dimension. Strides are in
 *   elements. A view shares its parent's storage.
 * - Linear weights follow PyTorch: W is [out, in] and y = x W^T + b.
 */
#ifndef RAYLIGHT_H
#define RAYLIGHT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RL_VERSION "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

#if defined(__GNUC__)
#define RL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define RL_NORETURN __attribute__((noreturn))
#else
#define RL_PRINTF(a, b)
#define RL_NORETURN
#endif

/* Sets the current thread's error sentence (replacing any earlier one). Returns -1. */
int rl_error_set(const char *fmt, ...) RL_PRINTF(1, 2);
/* Prefixes context to the current error: "ctx: previous". Returns -1. */
int rl_error_wrap(const char *fmt, ...) RL_PRINTF(1, 2);
const char *rl_error_message(void);
void rl_error_clear(void);

/* Prints "raylight-gen: error: <msg>" (and "hint: ..." when given) and ends the
 * process with status 1; under MPI with world > 1 it aborts every rank. */
RL_NORETURN void rl_die(const char *fmt, ...) RL_PRINTF(1, 2);
RL_NORETURN void rl_die_hint(const char *hint, const char *fmt, ...) RL_PRINTF(2, 3);
/* Installed by the comm layer so rl_die can end every rank (MPI_Abort). */
void rl_set_abort_hook(void (*hook)(int status));

/* Internal invariant that only a bug can break: names file and line. */
#define RL_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) rl_die("internal check failed at %s:%d: %s (a bug: please report)", \
                            __FILE__, __LINE__, #cond);                                  \
    } while (0)

/* Propagate a -1 from a fallible call. */
#define RL_TRY(expr)                 \
    do {                             \
        if ((expr) != 0) return -1;  \
    } while (0)

/* ---------------------------------------------------------------- logging */

enum { RL_LOG_QUIET = 0, RL_LOG_INFO = 1, RL_LOG_VERBOSE = 2, RL_LOG_DEBUG = 3 };
void rl_log_set_level(int level);
int rl_log_level(void);
/* Printed to stderr by rank 0 only when level <= the current level. */
void rl_log(int level, const char *fmt, ...) RL_PRINTF(2, 3);
void rl_log_set_rank(int rank);
double rl_time_now(void); /* seconds, monotonic */

/* ---------------------------------------------------------------- dtypes */

typedef enum {
    RL_F32 = 0,
    RL_F16,
    RL_BF16,
    RL_F8_E4M3, /* float8_e4m3fn: no inf, NaN = S.1111.111, max 448 */
    RL_F8_E5M2, /* float8_e5m2: IEEE-like, max 57344 */
    RL_I32,
    RL_I64,
    RL_DTYPE_COUNT
} rl_dtype;

size_t rl_dtype_size(rl_dtype t);
const char *rl_dtype_name(rl_dtype t);           /* "f32", "bf16", ... */
const char *rl_dtype_safetensors_name(rl_dtype t); /* "F32", "BF16", "F8_E4M3", ... */
/* Parses a safetensors dtype string; returns -1 when it is not one we hold. */
int rl_dtype_from_safetensors_name(const char *s, rl_dtype *out);

/* Scalar conversions, bit-identical to PyTorch's CPU casts. */
float rl_bf16_to_f32(uint16_t h);
uint16_t rl_f32_to_bf16(float f);
float rl_f16_to_f32(uint16_t h);
uint16_t rl_f32_to_f16(float f);
float rl_f8e4m3_to_f32(uint8_t v);
uint8_t rl_f32_to_f8e4m3(float f);
float rl_f8e5m2_to_f32(uint8_t v);
uint8_t rl_f32_to_f8e5m2(float f);

/* Converts n contiguous elements between any two dtypes, as torch's .to() does
 * (float types go through f32; integer targets truncate toward zero). */
void rl_convert(void *dst, rl_dtype dst_t, const void *src, rl_dtype src_t, size_t n);

/* ---------------------------------------------------------------- tensors */

#define RL_MAX_DIMS 5

typedef enum { RL_DEVICE_CPU = 0, RL_DEVICE_CUDA = 1 } rl_device;

typedef struct {
    void *data;      /* first element */
    rl_dtype dtype;
    rl_device device;
    int ndim;        /* 0..RL_MAX_DIMS; 0 = scalar */
    int64_t shape[RL_MAX_DIMS];
    int64_t stride[RL_MAX_DIMS]; /* elements */
} rl_tensor;

/* A contiguous tensor header over existing storage (no allocation). */
rl_tensor rl_tensor_make(void *data, rl_dtype t, rl_device dev, int ndim, const int64_t *shape);
int64_t rl_tensor_numel(const rl_tensor *t);
size_t rl_tensor_nbytes(const rl_tensor *t);
int rl_tensor_is_contiguous(const rl_tensor *t);
/* Views: all share storage with x. */
rl_tensor rl_tensor_reshape(const rl_tensor *x, int ndim, const int64_t *shape); /* x contiguous */
rl_tensor rl_tensor_slice(const rl_tensor *x, int dim, int64_t start, int64_t len);
rl_tensor rl_tensor_select(const rl_tensor *x, int dim, int64_t index); /* drops dim */
rl_tensor rl_tensor_permute(const rl_tensor *x, const int *perm);
int rl_tensor_same_shape(const rl_tensor *a, const rl_tensor *b);
/* "[16, 21, 60, 104]" into buf; returns buf. */
char *rl_shape_str(const rl_tensor *t, char *buf, size_t n);

/* ---------------------------------------------------------------- arena */

/* A bump allocator over one block of device memory. Allocations are released by
 * returning to a mark; the arena tracks current and peak bytes in use. */
typedef struct {
    const char *name;  /* for messages: "cpu activations", "cuda:0 weights" */
    rl_device device;
    uint8_t *base;
    size_t capacity;
    size_t used;
    size_t peak;
    int owns_base;
} rl_arena;

/* Creates an arena of `capacity` bytes on the CPU (malloc). Device arenas come
 * from the backend (rl_backend.arena_init). */
int rl_arena_init_cpu(rl_arena *a, const char *name, size_t capacity);
void rl_arena_init_over(rl_arena *a, const char *name, rl_device dev, void *base, size_t capacity);
void rl_arena_free(rl_arena *a);
/* 256-byte aligned; on exhaustion sets an error naming the arena, the request
 * and the capacity, and returns NULL. */
void *rl_arena_alloc(rl_arena *a, size_t bytes);
int rl_arena_tensor(rl_arena *a, rl_tensor *out, rl_dtype t, int ndim, const int64_t *shape);
size_t rl_arena_mark(const rl_arena *a);
void rl_arena_reset(rl_arena *a, size_t mark);

/* Process-wide accounting of device bytes (all arenas and loose allocations of
 * one device), for the per-stage peak-memory report. */
void rl_mem_note_alloc(rl_device dev, size_t bytes);
void rl_mem_note_free(rl_device dev, size_t bytes);
size_t rl_mem_current(rl_device dev);
size_t rl_mem_peak(rl_device dev);
void rl_mem_reset_peak(rl_device dev);
/* A cap on one device's accounted bytes (--vram-limit); 0 = none. A backend's
 * alloc asks rl_mem_check_limit first: -1 with a sentence naming the limit, the
 * request, what is in use and the flags that would help. */
void rl_mem_set_limit(rl_device dev, size_t bytes);
size_t rl_mem_limit(rl_device dev);
int rl_mem_check_limit(rl_device dev, size_t bytes);
/* Pinned (page-locked) host memory of block swap, counted apart from both the
 * device and the ordinary host figures so reports can show it on its own line. */
void rl_mem_note_pinned(size_t bytes, int freed);
size_t rl_mem_pinned(void);

/* ---------------------------------------------------------------- backend */

typedef enum { RL_ACT_NONE = 0, RL_ACT_GELU_TANH = 1 } rl_activation;

typedef struct {
    int stride[3];    /* t, h, w */
    int pad_front[3]; /* zeros before: t, h, w (causal conv: 2*pt in front) */
    int pad_back[3];  /* zeros after: t, h, w (causal conv: 0 behind in time) */
    /* NULL, or frames [Cin, n, H, W] that come before x along t (a causal conv's
     * cached history): the conv's input is cat(prefix, x) along t, without the copy
     * where the backend can. Each channel's n frames are contiguous; the channel
     * stride is free (a frame slice of a channel-first buffer). Same dtype as x. */
    const rl_tensor *prefix;
} rl_conv3d_params;

/* The op table. Every op takes contiguous tensors on the backend's device unless
 * said otherwise, returns 0, or -1 with an error naming the op and the mismatch.
 * Shapes are checked. Output tensors are allocated by the caller.
 * The CPU backend computes in fp32 and accepts f32 tensors only (casts aside). */
typedef struct rl_backend rl_backend;
#define RL_COPY_SLOTS 4 /* device slots of copy_async / wait_copy / release_slot */
struct rl_backend {
    const char *name; /* "cpu", "cuda" */
    rl_device device;
    /* Models store weights in weight_dtype and bulk activations in act_dtype
     * (f32/f32 on the cpu oracle, bf16/bf16 on cuda); the fp32 islands of the
     * reference (time embedding, modulation, norms' statistics, residual stream)
     * stay RL_F32 on every backend. Ops on cuda accept f32 or bf16 per tensor. */
    rl_dtype weight_dtype;
    rl_dtype act_dtype;

    /* memory */
    void *(*alloc)(rl_backend *be, size_t bytes); /* NULL + error on failure */
    void (*free)(rl_backend *be, void *p, size_t bytes);
    int (*upload)(rl_backend *be, void *dst, const void *host_src, size_t bytes);
    int (*download)(rl_backend *be, void *host_dst, const void *src, size_t bytes);
    int (*synchronize)(rl_backend *be);

    /* y[M,N] = act(x[M,K] W[N,K]^T + b[N]); b may be NULL. x may be any rank; its
     * last dim is K and the rest flatten to M. */
    int (*matmul)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                  const rl_tensor *b, rl_activation act);
    /* Over the last dim; w, b may be NULL (no affine). */
    int (*layer_norm)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                      const rl_tensor *b, float eps);
    /* y = x * rsqrt(mean(x^2) + eps) * w over the last dim; w may be NULL. */
    int (*rms_norm)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, float eps);
    /* y = a + b, y = a * b: b has a's shape, or the shape of a's last dim (broadcast over rows). */
    int (*add)(rl_backend *be, rl_tensor *y, const rl_tensor *a, const rl_tensor *b);
    int (*mul)(rl_backend *be, rl_tensor *y, const rl_tensor *a, const rl_tensor *b);
    /* y = x * s (scalar). */
    int (*scale)(rl_backend *be, rl_tensor *y, const rl_tensor *x, float s);
    /* y = x * (1 + scale) + shift; scale and shift are [D] (last dim of x). */
    int (*modulate)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *shift,
                    const rl_tensor *scale);
    /* x += y * gate; gate is [D] (last dim of x). In place on x. */
    int (*gated_add)(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate);
    int (*silu)(rl_backend *be, rl_tensor *y, const rl_tensor *x);
    int (*gelu_tanh)(rl_backend *be, rl_tensor *y, const rl_tensor *x);
    int (*gelu_erf)(rl_backend *be, rl_tensor *y, const rl_tensor *x);
    /* Softmax attention. q [B,Lq,H,d], k and v [B,Lk,H,d], out [B,Lq,H,d].
     * Keys at positions >= kv_len are masked out (kv_len <= 0: none masked).
     * bias (optional) [H,Lq,Lk] is added to the scaled logits (shared over B).
     * lse (optional, f32 [B,H,Lq]) receives log-sum-exp of the logits, for
     * merging partial attentions (ring attention). */
    int (*attention)(rl_backend *be, rl_tensor *out, const rl_tensor *q, const rl_tensor *k,
                     const rl_tensor *v, int64_t kv_len, const rl_tensor *bias, float scale,
                     rl_tensor *lse);
    /* Ring attention's online-softmax merge, in place on the running result:
     * out f32 [B,L,H,d] and lse f32 [B,H,L] (-inf: no keys yet) take in a partial
     * attention part_out [B,L,H,d] (f32 or bf16) with its part_lse f32 [B,H,L]:
     * m = max(lse, p), w = exp(lse - m), wp = exp(p - m), s = w + wp,
     * out = out * (w / s) + part * (wp / s), lse = m + log(s); in fp32. */
    int (*attention_merge)(rl_backend *be, rl_tensor *out, rl_tensor *lse, const rl_tensor *part_out,
                           const rl_tensor *part_lse);
    /* Rotates adjacent pairs (x[2j], x[2j+1]) of x [L,H,d] (or [B,L,H,d]) by the
     * angles given as cos/sin [L, d/2] (same for every head and batch). */
    int (*rope)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *cos_t,
                const rl_tensor *sin_t);
    /* Fused ops: one pass over x where the model chains norm and pointwise work.
     * The norm's output is rounded to x's dtype first (torch's norm modules return
     * x's dtype: WanLayerNorm/WanRMSNorm .type_as(x)); what follows runs in fp32 and
     * is rounded once into y's dtype. y may be x (same dtype: in place).
     * layer_norm_modulate: y = LayerNorm(x) * (1 + scale) + shift over the last dim
     *   (no affine; fp32 statistics); shift and scale are [D] (last dim of x).
     * rms_norm_rope: x [L,H,d] or [B,L,H,d] (q or k split into heads); per token
     *   r = x * rsqrt(mean(x^2) + eps) over all H*d values (not per head), times
     *   w [H*d] (or NULL), then rope's rotation of pairs by cos/sin [L, d/2]. */
    int (*layer_norm_modulate)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *shift,
                               const rl_tensor *scale, float eps);
    int (*rms_norm_rope)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                         const rl_tensor *cos_t, const rl_tensor *sin_t, float eps);
    /* A residual add and the next LayerNorm in one pass: x += y * gate (gate [D], or
     * NULL: x += y) in place on the f32 residual x [.., D], then from the updated x
     * gated_add_layer_norm: h = LayerNorm(x) * w + b (w, b [D] or NULL: the affine);
     * add_layer_norm_modulate: h = LayerNorm(x) * (1 + scale) + shift.
     * fp32 statistics; h (any float dtype the backend takes) must not overlap x. */
    int (*gated_add_layer_norm)(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate,
                                rl_tensor *h, const rl_tensor *w, const rl_tensor *b, float eps);
    int (*add_layer_norm_modulate)(rl_backend *be, rl_tensor *x, const rl_tensor *y, const rl_tensor *gate,
                                   rl_tensor *h, const rl_tensor *shift, const rl_tensor *scale, float eps);
    /* x [Cin,T,H,W], w [Cout,Cin,kt,kh,kw], b [Cout] or NULL -> y [Cout,T',H',W']. */
    int (*conv3d)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                  const rl_tensor *b, const rl_conv3d_params *p);
    /* Channel-first RMS norm (Wan VAE): x [C, ...] with dim 0 the channels; for each
     * position p: y[c,p] = x[c,p] / max(||x[:,p]||_2, eps) * sqrt(C) * gamma[c]
     * (F.normalize(x, dim=channels) * C**0.5 * gamma). gamma holds C values or is NULL. */
    int (*rms_norm_channels)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *gamma,
                             float eps);
    /* Per-channel affine over dim 0: y[c, ...] = x[c, ...] * scale[c] + shift[c];
     * scale and shift hold C = x.shape[0] values; shift may be NULL. */
    int (*channel_affine)(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *scale,
                          const rl_tensor *shift);
    /* Nearest-neighbour 2x over the last two dims: x [..., H, W] -> y [..., 2H, 2W]
     * (each pixel duplicated, = torch 'nearest' and 'nearest-exact' at factor 2). */
    int (*upsample_nearest2x)(rl_backend *be, rl_tensor *y, const rl_tensor *x);
    /* y = min(max(x, lo), hi); NaN stays NaN (as torch.clamp). */
    int (*clamp)(rl_backend *be, rl_tensor *y, const rl_tensor *x, float lo, float hi);
    /* y = x converted to y's dtype (same shape, contiguous). */
    int (*cast)(rl_backend *be, rl_tensor *y, const rl_tensor *x);
    /* Copies x into y (same shape and dtype; x may be a strided view). */
    int (*copy)(rl_backend *be, rl_tensor *y, const rl_tensor *x);
    /* Row gather (token embedding, relative-position bias): y[i, :] = table[ids[i], :]
     * converted to y's dtype. ids i32 [N], table [V, D] (f32, bf16 or f16 on every
     * backend), y [N, D]. An id outside [0, V) is an error on the CPU; callers
     * validate ids on the host first (a device backend may not check). */
    int (*embedding)(rl_backend *be, rl_tensor *y, const rl_tensor *table, const rl_tensor *ids);
    /* y[i] = mean + std * rl_normal_at(seed, i) (include/rl_random.h), in y's dtype:
     * random weights for benchmarks, the same numbers on every backend. */
    int (*fill_normal)(rl_backend *be, rl_tensor *y, uint64_t seed, float mean, float std);

    /* Block swap (offload): pinned host memory and uploads on a second "copy"
     * stream, ordered against the compute stream by per-slot events, never by
     * host waits. A slot (0..RL_COPY_SLOTS-1) names one device buffer the copies
     * rotate through. The cpu backend: malloc, memcpy, no-ops.
     * host_alloc: page-locked host memory (cudaHostAlloc), counted by rl_mem_note_pinned.
     * copy_async: queues dst <- host_src on the copy stream once the compute stream
     *   has passed the slot's last release_slot; returns at once (host_src must be
     *   pinned and stay unchanged until the copy is waited for).
     * wait_copy: the compute stream waits for the slot's last copy (the host does not).
     * release_slot: marks that the work queued so far on the compute stream is the
     *   last to read the slot's buffer. */
    void *(*host_alloc)(rl_backend *be, size_t bytes); /* NULL + error on failure */
    void (*host_free)(rl_backend *be, void *p, size_t bytes);
    int (*copy_async)(rl_backend *be, void *dst, const void *host_src, size_t bytes, int slot);
    int (*wait_copy)(rl_backend *be, int slot);
    int (*release_slot)(rl_backend *be, int slot);

    void *impl;
};

rl_backend *rl_backend_cpu(void);
/* NULL with an error when the binary has no CUDA or no GPU is usable. */
rl_backend *rl_backend_cuda(int device_index);
/* "cpu" or "cuda"; sets an error naming the flag value when unknown/unavailable. */
rl_backend *rl_backend_by_name(const char *name);

/* The 3-axis RoPE table of Wan for tokens [token0, token0+n) of a grid (F,Hp,Wp):
 * cos/sin f32 [n, d/2]; positions past the grid get angle 0. Computed in float64. */
void rl_rope3d_table(float *cos_out, float *sin_out, int64_t token0, int64_t n, int64_t F,
                     int64_t Hp, int64_t Wp, int head_dim);

/* ---------------------------------------------------------------- misc */

/* FNV-1a 64 over bytes, for the summary hash of latents. */
uint64_t rl_hash64(const void *data, size_t n);
/* "1.50 GiB" into buf. */
char *rl_bytes_str(size_t bytes, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
