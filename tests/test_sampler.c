/* test_sampler.c: schedules and sampler trajectories against the reference schedulers.
 *
 * tests/golden/sampler.safetensors (scripts/golden/make_sampler_golden.py) holds,
 * for Wan2.1's FlowUniPC and FlowDPM++ and diffusers' UniPC / DPM++ (flow sigmas)
 * and FlowMatchEuler: the sigmas and timesteps for several (steps, shift), and
 * trajectories of a toy CFG model (same fp32 op sequence as toy_velocity below)
 * stepped by the reference. Schedules must match bit for bit; trajectories
 * within 1e-5 relative per step (the bit-mismatch count is printed: torch's
 * log/exp come from MKL, ours are correctly rounded, so an ulp may differ).
 * The trajcr.* runs repeat the reference with torch.log/exp correctly rounded:
 * those must match bit for bit, which checks every other op and its order.
 * Also: slices step like the whole, CFG op order, bad arguments. */
#include "io/safetensors.h"
#include "sampler/noise.h"
#include "sampler/sampler.h"
#include "testlib.h"

#include <stdlib.h>

/* the toy model must round each op like the torch reference (see sampler.c) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

static rl_safetensors st;

typedef struct {
    const char *ref;
    rl_sampler_kind kind;
    rl_schedule_kind sched;
} ref_map;

static const ref_map refs[] = {
    {"wan_unipc", RL_SAMPLER_UNIPC, RL_SCHEDULE_WAN_UNIPC},
    {"wan_dpm", RL_SAMPLER_DPMPP, RL_SCHEDULE_WAN_DPM},
    {"diffusers_unipc", RL_SAMPLER_UNIPC, RL_SCHEDULE_DIFFUSERS_FLOW},
    {"diffusers_dpm", RL_SAMPLER_DPMPP, RL_SCHEDULE_DIFFUSERS_FLOW},
    {"diffusers_euler", RL_SAMPLER_EULER, RL_SCHEDULE_FLOWMATCH},
};
#define N_REFS (int)(sizeof refs / sizeof refs[0])

static const float *golden(const char *name, int64_t *numel)
{
    const rl_st_tensor *t = rl_st_find(&st, name);
    if (!t || t->dtype != RL_F32) {
        EXPECT(0, "golden tensor %s is missing or not f32", name);
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    *numel = n;
    return rl_st_data(&st, t);
}

/* "<prefix>.<ref>.n<N>.shift<S>.<suffix>" -> ref index, N, S */
static int parse_key(const char *name, const char *prefix, const char *suffix, int *ref, int *n,
                     double *shift)
{
    size_t lp = strlen(prefix);
    if (strncmp(name, prefix, lp) != 0 || name[lp] != '.') return -1;
    const char *p = name + lp + 1;
    for (int r = 0; r < N_REFS; r++) {
        size_t l = strlen(refs[r].ref);
        if (strncmp(p, refs[r].ref, l) != 0 || strncmp(p + l, ".n", 2) != 0) continue;
        char *end;
        *n = (int)strtol(p + l + 2, &end, 10);
        if (strncmp(end, ".shift", 6) != 0) return -1;
        /* the shift runs up to ".<suffix>" at the end ("5", "2.5") */
        const char *sh = end + 6;
        size_t ls = strlen(suffix), lsh = strlen(sh);
        if (lsh < ls + 2 || strcmp(sh + lsh - ls, suffix) != 0 || sh[lsh - ls - 1] != '.') return -1;
        char buf[32];
        if (lsh - ls - 1 >= sizeof buf) return -1;
        memcpy(buf, sh, lsh - ls - 1);
        buf[lsh - ls - 1] = '\0';
        *shift = strtod(buf, &end);
        if (*end != '\0') return -1;
        *ref = r;
        return 0;
    }
    return -1;
}

static void test_schedules(void)
{
    int checked = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        int r, n;
        double shift;
        if (parse_key(st.tensors[i].name, "sched", "sigmas", &r, &n, &shift) != 0) continue;
        char name[256];
        int64_t ns = 0, nt = 0;
        const float *sig = golden(st.tensors[i].name, &ns);
        snprintf(name, sizeof name, "sched.%s.n%d.shift%g.timesteps", refs[r].ref, n, shift);
        const float *ts = golden(name, &nt);
        if (!sig || !ts || ns != n + 1 || nt != n) {
            EXPECT(0, "%s: bad golden sizes", st.tensors[i].name);
            continue;
        }
        rl_schedule s;
        EXPECT(rl_schedule_make(&s, refs[r].sched, n, shift) == 0, "%s", rl_error_message());
        int bad_sig = 0, bad_t = 0;
        for (int k = 0; k <= n; k++) bad_sig += memcmp(&s.sigmas[k], &sig[k], 4) != 0;
        for (int k = 0; k < n; k++) bad_t += s.timesteps[k] != (double)ts[k];
        snprintf(name, sizeof name, "schedule %s n=%d shift=%g: sigmas and timesteps bit-identical",
                 refs[r].ref, n, shift);
        CASE(name, bad_sig == 0 && bad_t == 0, "%d sigmas, %d timesteps differ (first sigma %.9g vs %.9g)",
             bad_sig, bad_t, s.sigmas[0], sig[0]);
        rl_schedule_free(&s);
        checked++;
    }
    EXPECT(checked == 40, "checked %d schedules, expected 5 references x 8 cases", checked);
}

/* The toy CFG model of the golden script, same fp32 ops in the same order. */
static void toy_velocity(float *v, const float *x, int64_t n, double t)
{
    float tau = (float)(t / 1000.0);
    float ct = tau * 0.75f, cu = tau * 0.375f;
    for (int64_t k = 0; k < n; k++) {
        float vc = ((0.5f * x[k]) / (1.0f + x[k] * x[k]) + ct * x[k]) - 0.125f;
        float vu = 0.25f * x[k] - cu;
        float vv;
        rl_cfg_combine(&vv, &vc, &vu, 5.0f, 1);
        v[k] = vv;
    }
}

/* Runs one trajectory; returns the worst per-step relative error and counts bits. */
static double run_trajectory(int r, int n, double shift, const float *x0, const float *xs,
                             const float *ts, int64_t numel, int64_t *bad_bits, int *bad_t)
{
    rl_sampler s;
    if (rl_sampler_init_with(&s, refs[r].kind, refs[r].sched, n, shift, numel) != 0) {
        EXPECT(0, "init: %s", rl_error_message());
        return INFINITY;
    }
    float *x = malloc(sizeof(float) * (size_t)numel), *v = malloc(sizeof(float) * (size_t)numel);
    memcpy(x, x0, sizeof(float) * (size_t)numel);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double t = rl_sampler_timestep(&s, i);
        *bad_t += t != (double)ts[i];
        toy_velocity(v, x, numel, t);
        EXPECT(rl_sampler_step(&s, v, x) == 0, "step %d: %s", i, rl_error_message());
        const float *want = xs + (int64_t)i * numel;
        double e = tl_rel_err_f(x, want, (size_t)numel);
        if (e > worst) worst = e;
        for (int64_t k = 0; k < numel; k++) *bad_bits += memcmp(&x[k], &want[k], 4) != 0;
    }
    EXPECT(rl_sampler_step(&s, v, x) == -1, "a step past the end was accepted");
    free(x);
    free(v);
    rl_sampler_free(&s);
    return worst;
}

static void test_trajectories(void)
{
    int64_t n0 = 0;
    const float *x0 = golden("traj.x0", &n0);
    if (!x0) return;
    int checked = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        int r, n;
        double shift;
        if (parse_key(st.tensors[i].name, "traj", "xs", &r, &n, &shift) != 0) continue;
        char name[256];
        int64_t nx = 0, nt = 0;
        const float *xs = golden(st.tensors[i].name, &nx);
        snprintf(name, sizeof name, "traj.%s.n%d.shift%g.t", refs[r].ref, n, shift);
        const float *ts = golden(name, &nt);
        if (!xs || !ts || nx != (int64_t)n * n0 || nt != n) {
            EXPECT(0, "%s: bad golden sizes", st.tensors[i].name);
            continue;
        }
        int64_t bad_bits = 0;
        int bad_t = 0;
        double e = run_trajectory(r, n, shift, x0, xs, ts, n0, &bad_bits, &bad_t);
        snprintf(name, sizeof name,
                 "trajectory %s (%s) n=%d shift=%g: rel err %.2g <= 1e-5, %lld/%lld values bit-identical",
                 refs[r].ref, rl_sampler_kind_name(refs[r].kind), n, shift, e,
                 (long long)(nx - bad_bits), (long long)nx);
        CASE(name, e <= 1e-5 && bad_t == 0, "rel err %.3g, %d model timesteps differ", e, bad_t);
        checked++;
    }
    EXPECT(checked == 15, "checked %d trajectories, expected 5 references x 3 cases", checked);
}

/* trajcr.*: the reference with correctly rounded log/exp; bitwise equality required. */
static void test_trajectories_bitwise(void)
{
    int64_t n0 = 0;
    const float *x0 = golden("traj.x0", &n0);
    if (!x0) return;
    int checked = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        int r, n;
        double shift;
        if (parse_key(st.tensors[i].name, "trajcr", "xs", &r, &n, &shift) != 0) continue;
        char name[256];
        int64_t nx = 0, nt = 0;
        const float *xs = golden(st.tensors[i].name, &nx);
        snprintf(name, sizeof name, "traj.%s.n%d.shift%g.t", refs[r].ref, n, shift);
        const float *ts = golden(name, &nt);
        if (!xs || !ts || nx != (int64_t)n * n0 || nt != n) {
            EXPECT(0, "%s: bad golden sizes", st.tensors[i].name);
            continue;
        }
        int64_t bad_bits = 0;
        int bad_t = 0;
        double e = run_trajectory(r, n, shift, x0, xs, ts, n0, &bad_bits, &bad_t);
        snprintf(name, sizeof name,
                 "trajectory %s n=%d shift=%g, reference with correctly rounded log/exp: bit-identical",
                 refs[r].ref, n, shift);
        CASE(name, bad_bits == 0 && bad_t == 0, "%lld of %lld values differ (rel err %.3g)",
             (long long)bad_bits, (long long)nx, e);
        checked++;
    }
    EXPECT(checked == 4, "checked %d bitwise trajectories, expected 4", checked);
}

/* The corrector's 2x2 solve against torch.linalg.solve on 400 systems, bitwise. */
static void test_solve2(void)
{
    int64_t ni = 0, no = 0;
    const float *in = golden("solve.in", &ni), *out = golden("solve.out", &no);
    if (!in || !out || ni % 3 != 0 || no != ni / 3 * 2) {
        EXPECT(0, "bad solve golden");
        return;
    }
    int bad = 0;
    for (int64_t i = 0; i < ni / 3; i++) {
        float r0, r1;
        rl_unipc_solve2(in[3 * i], in[3 * i + 1], in[3 * i + 2], &r0, &r1);
        if (memcmp(&r0, &out[2 * i], 4) != 0 || memcmp(&r1, &out[2 * i + 1], 4) != 0) {
            if (bad < 3)
                printf("  rk %.9g b %.9g %.9g: got %.9g %.9g, torch %.9g %.9g\n", in[3 * i], in[3 * i + 1],
                       in[3 * i + 2], r0, r1, out[2 * i], out[2 * i + 1]);
            bad++;
        }
    }
    char name[128];
    snprintf(name, sizeof name, "unipc 2x2 solve: %lld systems bit-identical to torch.linalg.solve",
             (long long)(ni / 3));
    CASE(name, bad == 0, "%d differ", bad);
}

/* A rank stepping its slice gets exactly the whole run's values for that slice. */
static void test_slices_match_whole(void)
{
    const int64_t n = 1000;
    float *xw = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
    float *xa = malloc(sizeof(float) * n);
    for (int kind = 0; kind < RL_SAMPLER_COUNT; kind++) {
        rl_sampler whole, part[3];
        const int64_t cut[4] = {0, 333, 334, n}; /* uneven slices, one of length 1 */
        rl_randn_torch(xw, n, 11);
        memcpy(xa, xw, sizeof(float) * n);
        EXPECT(rl_sampler_init(&whole, (rl_sampler_kind)kind, 8, 5.0, n) == 0, "%s", rl_error_message());
        for (int p = 0; p < 3; p++)
            EXPECT(rl_sampler_init(&part[p], (rl_sampler_kind)kind, 8, 5.0, cut[p + 1] - cut[p]) == 0,
                   "%s", rl_error_message());
        for (int i = 0; i < 8; i++) {
            double t = rl_sampler_timestep(&whole, i);
            toy_velocity(v, xw, n, t);
            rl_sampler_step(&whole, v, xw);
            toy_velocity(v, xa, n, t);
            for (int p = 0; p < 3; p++) rl_sampler_step(&part[p], v + cut[p], xa + cut[p]);
        }
        EXPECT(memcmp(xw, xa, sizeof(float) * n) == 0, "%s: slices differ from the whole",
               rl_sampler_kind_name((rl_sampler_kind)kind));
        /* reset reproduces the run */
        rl_sampler_reset(&whole);
        rl_randn_torch(xa, n, 11);
        for (int i = 0; i < 8; i++) {
            toy_velocity(v, xa, n, rl_sampler_timestep(&whole, i));
            rl_sampler_step(&whole, v, xa);
        }
        EXPECT(memcmp(xw, xa, sizeof(float) * n) == 0, "%s: reset run differs",
               rl_sampler_kind_name((rl_sampler_kind)kind));
        rl_sampler_free(&whole);
        for (int p = 0; p < 3; p++) rl_sampler_free(&part[p]);
    }
    free(xw);
    free(v);
    free(xa);
}

/* Every sampler ends at the last x0 prediction when sigma_N = 0: x - sigma*v for
 * UniPC/DPM++ (the final step is first order), x + (0 - sigma)*v for Euler. */
static void test_last_step_is_x0(void)
{
    for (int kind = 0; kind < RL_SAMPLER_COUNT; kind++) {
        rl_sampler s;
        float x[4] = {0.5f, -1.25f, 2.0f, 0.0f}, v[4] = {0.1f, 0.2f, -0.3f, 0.4f};
        EXPECT(rl_sampler_init(&s, (rl_sampler_kind)kind, 1, 5.0, 4) == 0, "%s", rl_error_message());
        float sigma = rl_sampler_sigma(&s, 0);
        EXPECT(rl_sampler_sigma(&s, 1) == 0.0f, "final sigma not 0");
        float want[4];
        for (int k = 0; k < 4; k++)
            want[k] = kind == RL_SAMPLER_EULER ? x[k] + (0.0f - sigma) * v[k] : x[k] - sigma * v[k];
        rl_sampler_step(&s, v, x);
        for (int k = 0; k < 4; k++)
            EXPECT(x[k] == want[k], "%s: x[%d] = %.9g, want %.9g", rl_sampler_kind_name((rl_sampler_kind)kind),
                   k, x[k], want[k]);
        rl_sampler_free(&s);
    }
}

static void test_cfg(void)
{
    float vc[3] = {1.0f, 0.1f, -2.0f}, vu[3] = {0.5f, 0.3f, 1.0f}, v[3];
    rl_cfg_combine(v, vc, vu, 5.0f, 3);
    for (int k = 0; k < 3; k++) {
        float d = vc[k] - vu[k], m = 5.0f * d, want = vu[k] + m;
        EXPECT(v[k] == want, "v[%d] = %.9g, want %.9g", k, v[k], want);
    }
    rl_cfg_combine(vc, vc, vu, 5.0f, 3); /* in place over vc */
    EXPECT(memcmp(vc, v, sizeof v) == 0, "in-place result differs");
}

static void test_bad_args(void)
{
    rl_sampler s;
    EXPECT(rl_sampler_init(&s, RL_SAMPLER_UNIPC, 0, 5.0, 16) == -1, "0 steps accepted");
    EXPECT(strstr(rl_error_message(), "--steps") != NULL, "message: %s", rl_error_message());
    EXPECT(rl_sampler_init(&s, RL_SAMPLER_UNIPC, 10, 0.0, 16) == -1, "shift 0 accepted");
    EXPECT(strstr(rl_error_message(), "--shift") != NULL, "message: %s", rl_error_message());
    EXPECT(rl_sampler_init(&s, RL_SAMPLER_EULER, 10, NAN, 16) == -1, "shift NaN accepted");
    EXPECT(rl_sampler_init(&s, RL_SAMPLER_DPMPP, 10, 5.0, -1) == -1, "negative numel accepted");
    rl_sampler_kind k;
    EXPECT(rl_sampler_kind_parse("dpm++", &k) == 0 && k == RL_SAMPLER_DPMPP, "dpm++");
    EXPECT(rl_sampler_kind_parse("unipc", &k) == 0 && k == RL_SAMPLER_UNIPC, "unipc");
    EXPECT(rl_sampler_kind_parse("euler", &k) == 0 && k == RL_SAMPLER_EULER, "euler");
    EXPECT(rl_sampler_kind_parse("ddim", &k) == -1, "ddim accepted");
    EXPECT(strstr(rl_error_message(), "unipc") != NULL, "message lists names: %s", rl_error_message());
    rl_schedule_kind sk;
    EXPECT(rl_schedule_kind_parse("wan-dpm", &sk) == 0 && sk == RL_SCHEDULE_WAN_DPM, "wan-dpm");
    EXPECT(rl_schedule_kind_parse("karras", &sk) == -1, "karras accepted");
}

/* Wan's defaults (spec sampling.md 2.2): N=50 shift 5 starts 999, 995, 991 and
 * ends 241, 172, 92; sigma_0 = shift(0.999) = 0.9997998476, not 1. */
static void test_wan_defaults(void)
{
    rl_schedule s;
    EXPECT(rl_schedule_make(&s, RL_SCHEDULE_WAN_UNIPC, 50, 5.0) == 0, "%s", rl_error_message());
    EXPECT(s.timesteps[0] == 999 && s.timesteps[1] == 995 && s.timesteps[2] == 991, "start %g %g %g",
           s.timesteps[0], s.timesteps[1], s.timesteps[2]);
    EXPECT(s.timesteps[47] == 241 && s.timesteps[48] == 172 && s.timesteps[49] == 92, "end %g %g %g",
           s.timesteps[47], s.timesteps[48], s.timesteps[49]);
    EXPECT(fabsf(s.sigmas[0] - 0.9997998476f) < 1e-9f && s.sigmas[50] == 0.0f, "sigma0 %.10f", s.sigmas[0]);
    rl_schedule_free(&s);
}

int main(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/sampler.safetensors", RL_SOURCE_DIR);
    if (rl_st_open(&st, path) != 0) {
        printf("FAIL: open %s: %s\n", path, rl_error_message());
        return 1;
    }
    RUN(test_schedules);
    RUN(test_trajectories);
    RUN(test_trajectories_bitwise);
    RUN(test_solve2);
    RUN(test_slices_match_whole);
    RUN(test_last_step_is_x0);
    RUN(test_cfg);
    RUN(test_bad_args);
    RUN(test_wan_defaults);
    rl_st_close(&st);
    TL_EXIT();
}
