/* cfg.h: classifier-free guidance under a parallel plan. With cfg degree 2 the
 * conditional pass runs on CFG group 0 and the unconditional one on group 1;
 * each rank swaps its velocity slice with its peer (the rank holding the same
 * tokens in the other group) once per step, and both combine
 * v = vu + g * (vc - vu) in the same order, so every rank steps the same
 * latents. With cfg degree 1 a rank runs both passes itself. */
#ifndef RL_PARALLEL_CFG_H
#define RL_PARALLEL_CFG_H

#include "parallel/usp.h"

/* One DiT pass for this rank's slice: which = 0 conditional, 1 unconditional;
 * x and v hold numel host floats. */
typedef int (*rl_velocity_fn)(void *ctx, int which, const float *x, float *v);

/* v = the guided velocity of this rank's slice x (numel floats). tmp is
 * scratch of numel floats. guidance 0: v = the conditional pass alone. */
int rl_cfg_velocity(rl_usp *u, rl_velocity_fn fn, void *ctx, int guidance, float g, const float *x, float *v,
                    float *tmp, int64_t numel);

#endif
