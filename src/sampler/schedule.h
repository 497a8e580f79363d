/* schedule.h: shifted flow-matching sigma schedules, as the reference code builds them.
 *
 * A schedule is N steps: sigmas[0..N] (fp32, sigmas[N] = 0, the scheduler uses
 * these) and timesteps[0..N) (what the DiT is given for step i). Each kind
 * reproduces one reference's set_timesteps bit for bit: float64 linspace and
 * shift, fp32 cast at the end, timesteps truncated to int64 where the reference
 * does so. shift(s) = shift*s / (1 + (shift-1)*s).
 */
#ifndef RL_SAMPLER_SCHEDULE_H
#define RL_SAMPLER_SCHEDULE_H

#include "raylight.h"

typedef enum {
    /* Wan FlowUniPCMultistepScheduler.set_timesteps(N, shift) (wan/utils/fm_solvers_unipc.py):
     * s = shift(linspace(fp32(0.999), 0, N+1)[:N]); timesteps int64(s*1000). Starts below 1. */
    RL_SCHEDULE_WAN_UNIPC = 0,
    /* Wan get_sampling_sigmas + FlowDPMSolverMultistepScheduler (wan/utils/fm_solvers.py):
     * s = shift(linspace(1, 0, N+1)[:N]); timesteps int64(s*1000). Starts at 1. */
    RL_SCHEDULE_WAN_DPM,
    /* diffusers UniPCMultistepScheduler / DPMSolverMultistepScheduler with use_flow_sigmas:
     * s = flip(shift(1 - linspace(1, 1/1000, N+1)))[:-1]; timesteps int64(s*1000). */
    RL_SCHEDULE_DIFFUSERS_FLOW,
    /* diffusers FlowMatchEulerDiscreteScheduler(shift): s = shift(linspace(1000*smax,
     * 1000*smin, N)/1000) with smin = shift_fp32(0.001) (so the end is shifted twice);
     * timesteps = fp32(s)*1000 in fp32, not truncated. */
    RL_SCHEDULE_FLOWMATCH,
    RL_SCHEDULE_COUNT
} rl_schedule_kind;

typedef struct {
    rl_schedule_kind kind;
    int n;             /* steps */
    double shift;
    float *sigmas;     /* [n+1], sigmas[n] = 0 */
    double *timesteps; /* [n], model timestep of each step (integer-valued unless FLOWMATCH) */
} rl_schedule;

#define RL_SCHEDULE_MAX_STEPS 10000

/* Builds the schedule; n_steps in [1, RL_SCHEDULE_MAX_STEPS], shift > 0 and finite.
 * Errors name --steps / --shift. */
int rl_schedule_make(rl_schedule *s, rl_schedule_kind kind, int n_steps, double shift);
void rl_schedule_free(rl_schedule *s);
const char *rl_schedule_kind_name(rl_schedule_kind kind); /* "wan-unipc", ... */
int rl_schedule_kind_parse(const char *name, rl_schedule_kind *out);

/* numpy.linspace(start, stop, num) element k (endpoint included), float64, exactly
 * as numpy computes it: k*((stop-start)/(num-1)) + start, last = stop. */
double rl_linspace_at(double start, double stop, int num, int k);

#endif
