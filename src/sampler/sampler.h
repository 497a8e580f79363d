/* sampler.h: flow-matching samplers (UniPC, Euler, DPM++ 2M) and classifier-free guidance.
 *
 * One interface for all three. The loop a caller runs (Wan's text2video order):
 *
 *     rl_sampler s;  rl_sampler_init(&s, RL_SAMPLER_UNIPC, steps, shift, numel);
 *     for (int i = 0; i < s.sched.n; i++) {
 *         double t = rl_sampler_timestep(&s, i);      // what the DiT gets
 *         vc = dit(x, t, ctx_pos);  vu = dit(x, t, ctx_neg);
 *         rl_cfg_combine(v, vc, vu, guidance, numel); // v = vu + g*(vc - vu)
 *         rl_sampler_step(&s, v, x);                  // x advances to sigma[i+1]
 *     }
 *
 * Latents are fp32 host arrays of `numel` elements. Every update is elementwise,
 * so a rank may step only its own slice of the latents (numel = slice length):
 * the per-step scalars depend on the schedule alone, never on the data.
 * The arithmetic reproduces the reference schedulers in fp32 op for op (see
 * unipc.c, euler.c, dpmpp.c): a 10-step trajectory agrees with Wan's and
 * diffusers' to <= 6e-7 relative, and bit for bit once torch's MKL log/exp are
 * replaced by correctly rounded ones, which is what we use (tests/test_sampler.c).
 */
#ifndef RL_SAMPLER_SAMPLER_H
#define RL_SAMPLER_SAMPLER_H

#include "raylight.h"
#include "sampler/schedule.h"

typedef enum {
    RL_SAMPLER_UNIPC = 0, /* Wan FlowUniPCMultistepScheduler: bh2, order 2, predictor-corrector */
    RL_SAMPLER_EULER,     /* diffusers FlowMatchEulerDiscreteScheduler */
    RL_SAMPLER_DPMPP,     /* Wan FlowDPMSolverMultistepScheduler: dpmsolver++ 2M, midpoint */
    RL_SAMPLER_COUNT
} rl_sampler_kind;

typedef struct {
    rl_sampler_kind kind;
    rl_schedule sched; /* sigmas [n+1], timesteps [n] */
    int64_t numel;     /* elements of the latent slice this sampler steps */
    int step;          /* index of the next step, 0..sched.n */
    /* multistep history (UniPC, DPM++), fp32 [numel] each */
    float *m_prev;      /* x0 prediction of the step before the last (model_outputs[-2]) */
    float *m_last;      /* x0 prediction of the last step (model_outputs[-1]) */
    float *m_cur;       /* scratch: this step's x0 prediction before the history shift */
    float *last_sample; /* UniPC: the (corrected) sample the last predictor started from */
    int n_history;      /* how many of m_last, m_prev hold data (0..2) */
    int have_last_sample;
    int lower_order_nums;
    int this_order;     /* UniPC: order of the last predictor (used by the next corrector) */
} rl_sampler;

/* "unipc", "euler", "dpm++" (also "dpmpp"); the error lists the known names. */
int rl_sampler_kind_parse(const char *name, rl_sampler_kind *out);
const char *rl_sampler_kind_name(rl_sampler_kind kind);
/* The schedule each sampler's reference builds: UniPC wan-unipc, DPM++ wan-dpm,
 * Euler flowmatch-euler. */
rl_schedule_kind rl_sampler_default_schedule(rl_sampler_kind kind);

/* init with the sampler's own schedule, or with an explicit one (e.g.
 * RL_SCHEDULE_DIFFUSERS_FLOW to reproduce diffusers' UniPC/DPM++ with flow sigmas). */
int rl_sampler_init(rl_sampler *s, rl_sampler_kind kind, int n_steps, double shift, int64_t numel);
int rl_sampler_init_with(rl_sampler *s, rl_sampler_kind kind, rl_schedule_kind sched, int n_steps,
                         double shift, int64_t numel);
void rl_sampler_free(rl_sampler *s);
/* Back to step 0 with empty history (same schedule), for the next prompt. */
void rl_sampler_reset(rl_sampler *s);

/* The DiT's timestep for step i (0 <= i < n); integer-valued for Wan's schedules. */
double rl_sampler_timestep(const rl_sampler *s, int i);
/* sigma_i, 0 <= i <= n (sigma_n = 0). */
float rl_sampler_sigma(const rl_sampler *s, int i);

/* One step: v is the (guided) velocity the model predicted at x for step
 * s->step; x [numel] is advanced in place to sigma[step+1]. Error when all n
 * steps are done. */
int rl_sampler_step(rl_sampler *s, const float *v, float *x);

/* v = vu + g*(vc - vu), fp32, in the reference's op order (sub, mul, add).
 * v may alias vc or vu. */
void rl_cfg_combine(float *v, const float *vc, const float *vu, float g, int64_t n);

/* per-kind steps (sampler.c dispatches; s->step is advanced by the caller) */
int rl_unipc_step(rl_sampler *s, const float *v, float *x);
int rl_euler_step(rl_sampler *s, const float *v, float *x);
int rl_dpmpp_step(rl_sampler *s, const float *v, float *x);

/* The UniPC corrector's torch.linalg.solve([[1, 1], [rk, 1]], [b1, b2]) as
 * LAPACK/MKL sgesv computes it in fp32 on the CPU. */
void rl_unipc_solve2(float rk, float b1, float b2, float *rho0, float *rho1);
/* lambda(sigma) = log(1 - sigma) - log(sigma) in fp32 (log 0 = -inf kept). */
float rl_flow_lambda(float sigma);
/* m = x - sigma*v: the x0 prediction of a flow model (convert_model_output). */
void rl_flow_x0(float *m, const float *x, const float *v, float sigma, int64_t n);
/* Rotates the multistep history after this step's prediction landed in m_cur:
 * m_prev <- m_last <- m_cur (the old m_prev storage becomes the new scratch). */
void rl_sampler_push_history(rl_sampler *s);

#endif
