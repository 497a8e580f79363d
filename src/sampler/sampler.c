/* sampler.c: the sampler interface (init, dispatch, names) and CFG.
 *
 * History buffers are host fp32 arrays of the slice length; the per-kind files
 * (unipc.c, euler.c, dpmpp.c) hold the maths. Relies on -std=c11 (no implicit
 * FMA contraction) so each fp32 op rounds as the reference's tensor ops do.
 */
#include "sampler/sampler.h"

#include "sampler/torch_math.h"

#include <stdlib.h>
#include <string.h>

/* Each fp32 op must round on its own, as the reference's tensor ops do: GCC
 * does not contract under -std=c11; clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

static const char *const sampler_names[RL_SAMPLER_COUNT] = {"unipc", "euler", "dpm++"};

const char *rl_sampler_kind_name(rl_sampler_kind kind)
{
    return (unsigned)kind < RL_SAMPLER_COUNT ? sampler_names[kind] : "unknown";
}

int rl_sampler_kind_parse(const char *name, rl_sampler_kind *out)
{
    if (name) {
        for (int k = 0; k < RL_SAMPLER_COUNT; k++)
            if (strcmp(name, sampler_names[k]) == 0) {
                *out = (rl_sampler_kind)k;
                return 0;
            }
        if (strcmp(name, "dpmpp") == 0 || strcmp(name, "dpm++2m") == 0) {
            *out = RL_SAMPLER_DPMPP;
            return 0;
        }
    }
    return rl_error_set("--sampler '%s' is unknown; use unipc (the default), euler or dpm++",
                        name ? name : "(null)");
}

rl_schedule_kind rl_sampler_default_schedule(rl_sampler_kind kind)
{
    switch (kind) {
    case RL_SAMPLER_EULER: return RL_SCHEDULE_FLOWMATCH;
    case RL_SAMPLER_DPMPP: return RL_SCHEDULE_WAN_DPM;
    default: return RL_SCHEDULE_WAN_UNIPC;
    }
}

int rl_sampler_init(rl_sampler *s, rl_sampler_kind kind, int n_steps, double shift, int64_t numel)
{
    return rl_sampler_init_with(s, kind, rl_sampler_default_schedule(kind), n_steps, shift, numel);
}

int rl_sampler_init_with(rl_sampler *s, rl_sampler_kind kind, rl_schedule_kind sched, int n_steps,
                         double shift, int64_t numel)
{
    memset(s, 0, sizeof *s);
    if ((unsigned)kind >= RL_SAMPLER_COUNT)
        return rl_error_set("sampler: unknown kind %d (a bug in the caller)", (int)kind);
    if (numel < 0 || (uint64_t)numel > SIZE_MAX / sizeof(float) / 4)
        return rl_error_set("sampler: latent slice of %lld elements is invalid", (long long)numel);
    if (rl_schedule_make(&s->sched, sched, n_steps, shift) != 0) return -1;
    s->kind = kind;
    s->numel = numel;
    if (kind != RL_SAMPLER_EULER) {
        size_t bytes = sizeof(float) * (size_t)(numel > 0 ? numel : 1);
        s->m_prev = malloc(bytes);
        s->m_last = malloc(bytes);
        s->m_cur = malloc(bytes);
        if (kind == RL_SAMPLER_UNIPC) s->last_sample = malloc(bytes);
        if (!s->m_prev || !s->m_last || !s->m_cur || (kind == RL_SAMPLER_UNIPC && !s->last_sample)) {
            rl_sampler_free(s);
            return rl_error_set("sampler: out of memory for the %s history (%lld elements x 4)",
                                sampler_names[kind], (long long)numel);
        }
    }
    return 0;
}

void rl_sampler_free(rl_sampler *s)
{
    rl_schedule_free(&s->sched);
    free(s->m_prev);
    free(s->m_last);
    free(s->m_cur);
    free(s->last_sample);
    s->m_prev = s->m_last = s->m_cur = s->last_sample = NULL;
}

void rl_sampler_reset(rl_sampler *s)
{
    s->step = 0;
    s->n_history = 0;
    s->lower_order_nums = 0;
    s->this_order = 0;
    s->have_last_sample = 0;
}

double rl_sampler_timestep(const rl_sampler *s, int i)
{
    RL_ASSERT(i >= 0 && i < s->sched.n);
    return s->sched.timesteps[i];
}

float rl_sampler_sigma(const rl_sampler *s, int i)
{
    RL_ASSERT(i >= 0 && i <= s->sched.n);
    return s->sched.sigmas[i];
}

int rl_sampler_step(rl_sampler *s, const float *v, float *x)
{
    if (s->step >= s->sched.n)
        return rl_error_set("sampler: all %d %s steps are done; reset before sampling again",
                            s->sched.n, sampler_names[s->kind]);
    if (s->numel > 0 && (!v || !x)) return rl_error_set("sampler: missing latent or velocity buffer");
    int rc;
    switch (s->kind) {
    case RL_SAMPLER_UNIPC: rc = rl_unipc_step(s, v, x); break;
    case RL_SAMPLER_EULER: rc = rl_euler_step(s, v, x); break;
    default: rc = rl_dpmpp_step(s, v, x); break;
    }
    if (rc == 0) s->step++;
    return rc;
}

void rl_cfg_combine(float *v, const float *vc, const float *vu, float g, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        float d = vc[k] - vu[k];
        float m = g * d;
        v[k] = vu[k] + m;
    }
}

float rl_flow_lambda(float sigma)
{
    float alpha = 1.0f - sigma;
    return rl_torch_logf(alpha) - rl_torch_logf(sigma);
}

/* x0 prediction of a flow model: m = x - sigma*v (convert_model_output) */
void rl_flow_x0(float *m, const float *x, const float *v, float sigma, int64_t n)
{
    for (int64_t k = 0; k < n; k++) m[k] = x[k] - sigma * v[k];
}

void rl_sampler_push_history(rl_sampler *s)
{
    float *old = s->m_prev;
    s->m_prev = s->m_last;
    s->m_last = s->m_cur;
    s->m_cur = old;
    if (s->n_history < 2) s->n_history++;
}
