/* check.h: the argument checks the CPU and CUDA backends share: a tensor header
 * that can be trusted, equal shapes, per-channel vectors, the RoPE geometry and a
 * conv3d's prefix frames (and its fallback, the concatenation).
 * Device, dtype and contiguity demands differ by backend and stay in each backend.
 * Every check returns 0, or -1 with a sentence naming the op and the tensor's role
 * ("x", "w", ...) and the shapes at fault. */
#ifndef RL_BACKEND_CHECK_H
#define RL_BACKEND_CHECK_H

#include "raylight.h"

/* t is present, has 0..RL_MAX_DIMS dims, none negative, and a known dtype. */
int backend_check_header(const char *op, const char *role, const rl_tensor *t);
/* t has storage unless it is empty. */
int backend_check_storage(const char *op, const char *role, const rl_tensor *t);
int backend_check_same_shape(const char *op, const char *ra, const rl_tensor *a, const char *rb, const rl_tensor *b);
/* The last dim (1 for a scalar). */
int64_t backend_last_dim(const rl_tensor *t);
/* v holds exactly n values along its last dim ([n], or [1, ..., 1, n] as a modulation
 * chunk); n is `what` of x (the message reads "(<what> '<xrole>' <x's shape>)"). */
int backend_check_vector(const char *op, const char *role, const rl_tensor *v, int64_t n, const char *what,
                         const char *xrole, const rl_tensor *x);
/* RoPE operands: x [L,H,d] or [B,L,H,d] with an even d, cos and sin [L, d/2];
 * gives B (1 for 3-D x), L, H, d. */
int backend_check_rope_geometry(const char *op, const rl_tensor *x, const rl_tensor *cos_t, const rl_tensor *sin_t,
                                int64_t *B, int64_t *L, int64_t *H, int64_t *d);

/* embedding's shapes and dtypes after each backend's own tensor checks: table [V, D]
 * in f32, bf16 or f16, ids i32 [N], y [N, D]. */
int backend_check_embedding_shapes(const char *op, const rl_tensor *y, const rl_tensor *table, const rl_tensor *ids);
/* conv3d's shapes after each backend's own tensor checks: x [Cin, T, H, W], w [Cout,
 * Cin, kt, kh, kw], the prefix, strides and padding, y [Cout, out] and b [Cout];
 * out gets the output extent along t, h, w. */
int backend_check_conv3d_shapes(const char *op, const rl_tensor *y, const rl_tensor *x, const rl_tensor *w,
                                const rl_tensor *b, const rl_conv3d_params *p, int64_t out[3]);
/* conv3d's prefix (rl_conv3d_params.prefix; NULL passes): [Cin, n, H, W] with x's
 * Cin, H, W and dtype, each channel's frames contiguous. *frames gets n (0 without). */
int backend_check_conv_prefix(const char *op, const rl_tensor *x, const rl_tensor *prefix, int64_t *frames);
/* conv3d with a prefix the backend does not read in place: cat(prefix, x) along t
 * into buf (backend memory of backend_conv3d_concat_bytes, the caller's), then
 * be->conv3d on that. */
size_t backend_conv3d_concat_bytes(const rl_tensor *x, const rl_tensor *prefix);
int backend_conv3d_concat(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                          const rl_conv3d_params *p, void *buf);

#endif
