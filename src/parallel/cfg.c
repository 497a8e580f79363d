/* cfg.c: the guided velocity of one step, serial or CFG-parallel (see cfg.h). */
#include "parallel/cfg.h"

#include "sampler/sampler.h"

int rl_cfg_velocity(rl_usp *u, rl_velocity_fn fn, void *ctx, int guidance, float g, const float *x, float *v,
                    float *tmp, int64_t numel) {
    if (!guidance) return fn(ctx, 0, x, v);
    if (u->plan.cfg == 1) {
        RL_TRY(fn(ctx, 0, x, v));
        RL_TRY(fn(ctx, 1, x, tmp));
        rl_cfg_combine(v, v, tmp, g, numel);
        return 0;
    }
    const int sp = u->plan.ulysses * u->plan.ring, mine = u->me.cfg_index;
    const int peer = (1 - mine) * sp + u->me.sp_rank;
    RL_TRY(fn(ctx, mine, x, tmp));
    double t0 = rl_time_now();
    int rc = u->world->send_recv(u->world, tmp, peer, v, peer, (size_t)numel * sizeof(float));
    u->comm_seconds += rl_time_now() - t0;
    if (rc != 0) return rl_error_wrap("exchanging the guidance velocities with rank %d", peer);
    /* the same operands in the same order on both groups: identical results */
    if (mine == 0) rl_cfg_combine(v, tmp, v, g, numel);
    else rl_cfg_combine(v, v, tmp, g, numel);
    return 0;
}
