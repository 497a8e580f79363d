/* wan_dit_slice.h: the Wan 2.1 DiT forward on a slice of the token sequence,
 * for sequence parallelism, and the patch layout the slice is held in.
 *
 * Conventions
 * - Patch layout: latents x [C, T, H, W] as token rows [N, C*4], N = T*(H/2)*(W/2)
 *   in (t, h, w) order, row column c*4 + q*2 + r for the pixel (2h+q, 2w+r): the
 *   order of the patch embedding's input. The velocity comes back in the same
 *   layout, so a sampler (elementwise) can step the rows directly.
 * - A slice is rows [token0, token0 + n); rows at N or beyond are padding: they
 *   are carried through the blocks and their output is meaningless.
 * - Self-attention goes through m->self_attention (sequence-parallel when a
 *   parallel layer installs one), with kv_len = N so padded keys are masked. */
#ifndef RL_WAN_DIT_SLICE_H
#define RL_WAN_DIT_SLICE_H

#include "models/wan_dit.h"

typedef struct {
    int64_t F, Hp, Wp; /* token grid: T, H/2, W/2 */
    int64_t token0, n; /* this rank's rows */
} rl_wan_slice;

/* y [n, out_dim*4] f32 = the DiT's velocity for x [n, in_dim*4] f32 (both on
 * the backend's device, patch layout), timestep t, context [L, text_dim] f32. */
int wan_dit_forward_slice(rl_wan_dit *m, rl_tensor *y, const rl_tensor *x, double t, const rl_tensor *context,
                          const rl_wan_slice *sl);

/* Host copies between latents [C, T, H, W] and patch rows [token0, token0+n)
 * (rows past the grid are zero when reading, ignored when writing). */
void wan_latents_to_rows(const float *x, int64_t C, int64_t T, int64_t H, int64_t W, int64_t token0, int64_t n,
                         float *rows);
void wan_rows_to_latents(const float *rows, int64_t C, int64_t T, int64_t H, int64_t W, int64_t token0, int64_t n,
                         float *x);

#endif
