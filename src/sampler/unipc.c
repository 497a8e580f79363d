/* unipc.c: flow UniPC (bh2, order 2, predictor + corrector) as Wan runs it.
 *
 * Reference: wan/utils/fm_solvers_unipc.py FlowUniPCMultistepScheduler.step
 * with Wan's configuration (solver_order 2, predict_x0, bh2, lower_order_final,
 * no disabled corrector, final sigma 0). diffusers' UniPCMultistepScheduler with
 * use_flow_sigmas does the same maths (only its schedule differs).
 *
 * Numerics, following the reference's tensor ops one by one:
 * - every scalar (alpha, lambda, h, expm1, rk, b, rho) is a 0-dim fp32 CPU
 *   tensor there, so we compute them in float, in the same order; the scalar
 *   products are rounded before they touch the latents: (alpha_t*h_phi_1)*m0.
 * - log is correctly rounded (torch uses MKL: may differ by an ulp), expm1 is
 *   SLEEF's bit for bit (torch_math.c).
 * - tensor / 0-dim tensor is a true division on CPU (on CUDA torch multiplies by
 *   the reciprocal; the difference is an ulp).
 * - the corrector's 2x2 torch.linalg.solve is replayed as LAPACK/MKL sgesv does
 *   it on CPU (partial pivoting, multiply by the pivot's reciprocal); checked
 *   against torch on 3000 random systems.
 * - final step (sigma_t = 0): log 0 = -inf, h = +inf, expm1(-inf) = -1 must hold
 *   (IEEE semantics, no fast-math): the result is the last x0 prediction.
 */
#include "sampler/sampler.h"

#include "sampler/torch_math.h"

#include <math.h>
#include <string.h>

/* Each fp32 op must round on its own, as the reference's tensor ops do: GCC
 * does not contract under -std=c11; clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* Scalars shared by the predictor and the corrector for one (t, s0) pair. */
typedef struct {
    float h, hh;     /* lambda_t - lambda_s0, and its negation (predict_x0) */
    float a;         /* sigma_t / sigma_s0, multiplies the sample */
    float b_m0;      /* alpha_t * h_phi_1, multiplies m0 */
    float c;         /* alpha_t * B_h, multiplies the correction terms */
    float h_phi_1, b_h;
    float lambda_s0;
} unipc_coef;

static unipc_coef unipc_coefs(float sigma_t, float sigma_s0)
{
    unipc_coef k;
    float alpha_t = 1.0f - sigma_t;
    float lambda_t = rl_flow_lambda(sigma_t);
    k.lambda_s0 = rl_flow_lambda(sigma_s0);
    k.h = lambda_t - k.lambda_s0;
    k.hh = -k.h;
    k.h_phi_1 = rl_torch_expm1f(k.hh);
    k.b_h = rl_torch_expm1f(k.hh); /* bh2: B(h) = expm1(hh) */
    k.a = sigma_t / sigma_s0;
    k.b_m0 = alpha_t * k.h_phi_1;
    k.c = alpha_t * k.b_h;
    return k;
}

/* torch.linalg.solve([[1, 1], [rk, 1]], [b1, b2]) in fp32 on CPU (getrf + getrs). */
void rl_unipc_solve2(float rk, float b1, float b2, float *rho0, float *rho1)
{
    if (fabsf(rk) > 1.0f) { /* pivot row 2: rows swapped */
        float l = 1.0f * (1.0f / rk);
        float u = 1.0f - l * 1.0f;
        float y = b1 - l * b2;
        *rho1 = y * (1.0f / u);
        *rho0 = (b2 - 1.0f * *rho1) * (1.0f / rk);
    } else {
        float l = rk * (1.0f / 1.0f);
        float u = 1.0f - l * 1.0f;
        float y = b2 - l * b1;
        *rho1 = y * (1.0f / u);
        *rho0 = (b1 - 1.0f * *rho1) * (1.0f / 1.0f);
    }
}

/* UniC: corrects the sample the model saw at step i (replaces x). order 1 or 2.
 * m_last = M_{i-1} (m0), m_prev = M_{i-2}, m_cur = M_i (model_t). */
static void unipc_correct(const rl_sampler *s, int i, int order, float *x)
{
    const float *sig = s->sched.sigmas;
    unipc_coef k = unipc_coefs(sig[i], sig[i - 1]);
    float rk = 1.0f;
    if (order == 2) rk = (rl_flow_lambda(sig[i - 2]) - k.lambda_s0) / k.h;
    /* b_k = h_phi_k * k! / B_h with h_phi_k built up as in the reference's loop */
    float h_phi_k = k.h_phi_1 / k.hh - 1.0f;
    float b1 = (h_phi_k * 1.0f) / k.b_h;
    h_phi_k = h_phi_k / k.hh - 0.5f;
    float b2 = (h_phi_k * 2.0f) / k.b_h;
    float rho0 = 0.0f, rho_t = 0.5f;
    if (order == 2) rl_unipc_solve2(rk, b1, b2, &rho0, &rho_t);

    const float *xl = s->last_sample, *m0 = s->m_last, *mp = s->m_prev, *mt = s->m_cur;
    for (int64_t j = 0; j < s->numel; j++) {
        float x_t_ = k.a * xl[j] - k.b_m0 * m0[j];
        float d1_t = mt[j] - m0[j];
        float corr = 0.0f;
        if (order == 2) corr = rho0 * ((mp[j] - m0[j]) / rk);
        x[j] = x_t_ - k.c * (corr + rho_t * d1_t);
    }
}

/* UniP: predicts the sample at sigma[i+1] from x (the corrected sample). */
static void unipc_predict(const rl_sampler *s, int i, int order, float *x)
{
    const float *sig = s->sched.sigmas;
    unipc_coef k = unipc_coefs(sig[i + 1], sig[i]);
    const float *m0 = s->m_last, *mp = s->m_prev;
    if (order == 2) {
        float rk = (rl_flow_lambda(sig[i - 1]) - k.lambda_s0) / k.h;
        for (int64_t j = 0; j < s->numel; j++) {
            float x_t_ = k.a * x[j] - k.b_m0 * m0[j];
            float pred_res = 0.5f * ((mp[j] - m0[j]) / rk); /* rho_p = 0.5 for order 2 */
            x[j] = x_t_ - k.c * pred_res;
        }
    } else {
        float zero_term = k.c * 0.0f; /* the reference subtracts alpha_t*B_h*0 */
        for (int64_t j = 0; j < s->numel; j++) x[j] = (k.a * x[j] - k.b_m0 * m0[j]) - zero_term;
    }
}

int rl_unipc_step(rl_sampler *s, const float *v, float *x)
{
    const int i = s->step, n = s->sched.n;
    /* convert with the uncorrected sample the model saw */
    rl_flow_x0(s->m_cur, x, v, s->sched.sigmas[i], s->numel);
    if (i > 0 && s->have_last_sample) unipc_correct(s, i, s->this_order, x);
    rl_sampler_push_history(s);

    int order = 2;                                 /* solver_order */
    if (n - i < order) order = n - i;              /* lower_order_final */
    if (s->lower_order_nums + 1 < order) order = s->lower_order_nums + 1; /* warm-up */
    s->this_order = order;
    memcpy(s->last_sample, x, sizeof(float) * (size_t)s->numel);
    s->have_last_sample = 1;
    unipc_predict(s, i, order, x);
    if (s->lower_order_nums < 2) s->lower_order_nums++;
    return 0;
}
