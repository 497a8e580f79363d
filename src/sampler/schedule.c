/* schedule.c: the flow sigma schedules of Wan and diffusers, bit for bit.
 *
 * Every expression mirrors the reference's numpy/torch expression in the same
 * order and precision (float64 where numpy computes, fp32 where a torch tensor
 * does); see schedule.h for the formulas and the reference each kind follows.
 * Relies on -std=c11 (no FMA contraction): the references round every op.
 */
#include "sampler/schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Each fp32 op must round on its own, as the reference's tensor ops do: GCC
 * does not contract under -std=c11; clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

static const char *const kind_names[RL_SCHEDULE_COUNT] = {
    "wan-unipc", "wan-dpm", "diffusers-flow", "flowmatch-euler"};

const char *rl_schedule_kind_name(rl_schedule_kind kind)
{
    return (unsigned)kind < RL_SCHEDULE_COUNT ? kind_names[kind] : "unknown";
}

int rl_schedule_kind_parse(const char *name, rl_schedule_kind *out)
{
    for (int k = 0; k < RL_SCHEDULE_COUNT; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *out = (rl_schedule_kind)k;
            return 0;
        }
    return rl_error_set("unknown schedule '%s'; known: wan-unipc, wan-dpm, diffusers-flow, "
                        "flowmatch-euler", name ? name : "(null)");
}

double rl_linspace_at(double start, double stop, int num, int k)
{
    if (num <= 1) return start;
    if (k == num - 1) return stop;
    double step = (stop - start) / (double)(num - 1);
    if (step == 0.0) return (double)k / (double)(num - 1) * (stop - start) + start;
    return (double)k * step + start;
}

/* float64 shift as numpy evaluates shift * s / (1 + (shift - 1) * s) */
static double shift_f64(double shift, double s)
{
    return (shift * s) / (1.0 + (shift - 1.0) * s);
}

/* the same expression on a torch fp32 tensor: Python floats are cast to fp32 */
static float shift_f32(double shift, float s)
{
    float a = (float)shift * s;
    float b = 1.0f + (float)(shift - 1.0) * s;
    return a / b;
}

/* Wan and diffusers truncate the float64 timesteps toward zero (torch .to(int64)). */
static double trunc_timestep(double s)
{
    return (double)(int64_t)(s * 1000.0);
}

static void fill_wan_unipc(rl_schedule *s)
{
    /* ctor table with shift 1 (what text2video passes): sigma_max = fp32(1 - 1/1000) */
    double sigma_max = (double)(float)(1.0 - 1.0 / 1000.0);
    for (int i = 0; i < s->n; i++) {
        double v = shift_f64(s->shift, rl_linspace_at(sigma_max, 0.0, s->n + 1, i));
        s->timesteps[i] = trunc_timestep(v);
        s->sigmas[i] = (float)v;
    }
}

static void fill_wan_dpm(rl_schedule *s)
{
    /* get_sampling_sigmas, then set_timesteps(sigmas=...) re-shifts by the ctor's
     * shift 1, an exact identity in float64 */
    for (int i = 0; i < s->n; i++) {
        double v = shift_f64(s->shift, rl_linspace_at(1.0, 0.0, s->n + 1, i));
        s->timesteps[i] = trunc_timestep(v);
        s->sigmas[i] = (float)v;
    }
}

static void fill_diffusers_flow(rl_schedule *s)
{
    for (int i = 0; i < s->n; i++) {
        double alpha = rl_linspace_at(1.0, 1.0 / 1000.0, s->n + 1, s->n - i);
        double v = shift_f64(s->shift, 1.0 - alpha);
        s->timesteps[i] = trunc_timestep(v);
        s->sigmas[i] = (float)v;
    }
}

static void fill_flowmatch(rl_schedule *s)
{
    /* ctor: fp32 table t/1000 (t = 1000..1), shifted in fp32; only its ends are used */
    double sigma_max = (double)shift_f32(s->shift, 1000.0f / 1000.0f);
    double sigma_min = (double)shift_f32(s->shift, 1.0f / 1000.0f);
    for (int i = 0; i < s->n; i++) {
        double t = rl_linspace_at(sigma_max * 1000.0, sigma_min * 1000.0, s->n, i);
        float v = (float)shift_f64(s->shift, t / 1000.0);
        s->sigmas[i] = v;
        s->timesteps[i] = (double)(v * 1000.0f);
    }
}

int rl_schedule_make(rl_schedule *s, rl_schedule_kind kind, int n_steps, double shift)
{
    memset(s, 0, sizeof *s);
    if ((unsigned)kind >= RL_SCHEDULE_COUNT)
        return rl_error_set("schedule: unknown kind %d (a bug in the caller)", (int)kind);
    if (n_steps < 1 || n_steps > RL_SCHEDULE_MAX_STEPS)
        return rl_error_set("--steps %d is out of range; give 1..%d", n_steps, RL_SCHEDULE_MAX_STEPS);
    if (!(shift > 0.0) || !isfinite(shift))
        return rl_error_set("--shift %g is invalid; give a positive number (Wan uses 5.0)", shift);
    s->sigmas = malloc(sizeof(float) * (size_t)(n_steps + 1));
    s->timesteps = malloc(sizeof(double) * (size_t)n_steps);
    if (!s->sigmas || !s->timesteps) {
        rl_schedule_free(s);
        return rl_error_set("schedule: out of memory for %d steps", n_steps);
    }
    s->kind = kind;
    s->n = n_steps;
    s->shift = shift;
    switch (kind) {
    case RL_SCHEDULE_WAN_UNIPC: fill_wan_unipc(s); break;
    case RL_SCHEDULE_WAN_DPM: fill_wan_dpm(s); break;
    case RL_SCHEDULE_DIFFUSERS_FLOW: fill_diffusers_flow(s); break;
    default: fill_flowmatch(s); break;
    }
    s->sigmas[n_steps] = 0.0f;
    return 0;
}

void rl_schedule_free(rl_schedule *s)
{
    free(s->sigmas);
    free(s->timesteps);
    s->sigmas = NULL;
    s->timesteps = NULL;
    s->n = 0;
}
