/* dpmpp.c: DPM-Solver++ 2M (midpoint) for flow models, as Wan runs it.
 *
 * Reference: wan/utils/fm_solvers.py FlowDPMSolverMultistepScheduler (copied
 * there from diffusers' DPMSolverMultistepScheduler, whose use_flow_sigmas path
 * does the same maths on a different schedule): solver_order 2, dpmsolver++,
 * midpoint, lower_order_final, final sigma 0, so the first and the last steps
 * are first order. alpha = 1 - sigma, lambda = log(alpha) - log(sigma).
 *
 * Numerics: scalars are 0-dim fp32 tensors in the reference and are computed
 * here in float in the same order; exp is correctly rounded (torch: MKL, may
 * differ by an ulp). Infinities are meaningful: sigma_0 = 1 gives lambda = -inf,
 * so step 0 is x' = sigma_1*x + alpha_1*x0 and step 1's second-order term is
 * exactly zero (r0 = inf). IEEE semantics are required (no fast-math).
 */
#include "sampler/sampler.h"

#include "sampler/torch_math.h"

/* Each fp32 op must round on its own, as the reference's tensor ops do: GCC
 * does not contract under -std=c11; clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

int rl_dpmpp_step(rl_sampler *s, const float *v, float *x)
{
    const float *sig = s->sched.sigmas;
    const int i = s->step, n = s->sched.n;
    rl_flow_x0(s->m_cur, x, v, sig[i], s->numel);
    rl_sampler_push_history(s);

    float sigma_t = sig[i + 1], sigma_s0 = sig[i];
    float alpha_t = 1.0f - sigma_t;
    float lambda_t = rl_flow_lambda(sigma_t), lambda_s0 = rl_flow_lambda(sigma_s0);
    float h = lambda_t - lambda_s0;
    float a = sigma_t / sigma_s0;
    float b = alpha_t * (rl_torch_expf(-h) - 1.0f);
    const float *m0 = s->m_last, *m1 = s->m_prev;
    int first_order = s->lower_order_nums < 1 || i == n - 1; /* lower_order_final */
    if (first_order) {
        for (int64_t j = 0; j < s->numel; j++) x[j] = a * x[j] - b * m0[j];
    } else {
        float h_0 = lambda_s0 - rl_flow_lambda(sig[i - 1]);
        float r0 = h_0 / h;
        float inv_r0 = 1.0f / r0;
        float half_b = 0.5f * b;
        for (int64_t j = 0; j < s->numel; j++) {
            float d1 = inv_r0 * (m0[j] - m1[j]);
            x[j] = (a * x[j] - b * m0[j]) - half_b * d1;
        }
    }
    if (s->lower_order_nums < 2) s->lower_order_nums++;
    return 0;
}
