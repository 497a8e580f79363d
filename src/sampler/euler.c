/* euler.c: flow-matching Euler, as diffusers' FlowMatchEulerDiscreteScheduler.step.
 *
 * x <- x + (sigma_{i+1} - sigma_i) * v with the step size rounded to fp32 first
 * (the reference subtracts two fp32 sigmas, multiplies, then adds: three
 * roundings). stochastic_sampling (off by default there) is not offered.
 */
#include "sampler/sampler.h"

/* Each fp32 op must round on its own, as the reference's tensor ops do: GCC
 * does not contract under -std=c11; clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

int rl_euler_step(rl_sampler *s, const float *v, float *x)
{
    const float *sig = s->sched.sigmas;
    const int i = s->step;
    float dt = sig[i + 1] - sig[i];
    for (int64_t j = 0; j < s->numel; j++) x[j] = x[j] + dt * v[j];
    return 0;
}
