/* plan.c: choosing and validating the parallel plan (see plan.h). Every
 * refusal lists the plans that would work for the same world and model, so the
 * user can copy one. */
#include "parallel/plan.h"

#include <string.h>

static int plan_valid(int world, int64_t heads, int cfg, int u, int r) {
    return u >= 1 && r >= 1 && cfg * u * r == world && heads % u == 0;
}

void rl_plan_list(int world, int64_t heads, int guidance, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int cfg = guidance ? 2 : 1; cfg >= 1; cfg--) {
        if (world % cfg) continue;
        int rest = world / cfg;
        for (int u = rest; u >= 1; u--) {
            if (rest % u || !plan_valid(world, heads, cfg, u, rest / u)) continue;
            int k = snprintf(buf + len, len < n ? n - len : 0, "%s--ulysses %d --ring %d%s", len ? "; " : "", u,
                             rest / u, cfg == 2 ? " --cfg-parallel" : "");
            if (k > 0) len += (size_t)k;
            if (len >= n) {
                buf[n - 1] = 0;
                return;
            }
        }
    }
}

void rl_plan_describe(const rl_plan *p, char *buf, size_t n) {
    snprintf(buf, n, "cfg %d x ulysses %d x ring %d (%d rank%s)", p->cfg, p->ulysses, p->ring, p->world,
             p->world == 1 ? "" : "s");
}

/* The largest Ulysses degree that divides both the ranks left and the heads. */
static int auto_ulysses(int rest, int64_t heads) {
    for (int u = rest; u > 1; u--)
        if (rest % u == 0 && heads % u == 0) return u;
    return 1;
}

static int refuse(int world, int64_t heads, int guidance, const char *why) {
    char list[1024];
    rl_plan_list(world, heads, guidance, list, sizeof list);
    return rl_error_set("%s; plans that work for %d rank%s and %lld head%s%s: %s", why, world, world == 1 ? "" : "s",
                        (long long)heads, heads == 1 ? "" : "s", guidance ? " with guidance" : " without guidance",
                        list);
}

int rl_plan_make(int world, int64_t heads, int guidance, const rl_plan_request *req, rl_plan *out) {
    char why[512];
    memset(out, 0, sizeof *out);
    if (world < 1) return rl_error_set("parallel plan: a world of %d ranks (a bug)", world);
    if (heads < 1) return rl_error_set("parallel plan: a model with %lld attention heads", (long long)heads);
    if (req->ulysses < 0 || req->ring < 0)
        return rl_error_set("--ulysses %d / --ring %d: degrees are positive numbers", req->ulysses, req->ring);
    int any = req->ulysses || req->ring || req->cfg_parallel;
    if (req->cfg_parallel && !guidance)
        return refuse(world, heads, guidance,
                      "--cfg-parallel splits the conditional and unconditional passes, but guidance is off (--cfg 1 "
                      "or a single forward)");
    int cfg = req->cfg_parallel ? 2 : (!any && guidance && world % 2 == 0) ? 2 : 1;
    if (world % cfg) {
        snprintf(why, sizeof why, "--cfg-parallel needs an even number of ranks; the world has %d", world);
        return refuse(world, heads, guidance, why);
    }
    int rest = world / cfg, u = req->ulysses, r = req->ring;
    if (!u && !r) u = auto_ulysses(rest, heads), r = rest / u;
    else if (!r) r = rest % u ? 0 : rest / u;
    else if (!u) u = rest % r ? 0 : rest / r;
    if (!u || !r || cfg * u * r != world) {
        char given[96];
        snprintf(given, sizeof given, "%s%.0d%s%s%.0d%s", req->ulysses ? "--ulysses " : "", req->ulysses,
                 req->ulysses && req->ring ? " " : "", req->ring ? "--ring " : "", req->ring,
                 req->cfg_parallel ? (req->ulysses || req->ring ? " --cfg-parallel" : "--cfg-parallel") : "");
        if (u && r)
            snprintf(why, sizeof why, "%s: cfg %d x ulysses %d x ring %d is %d ranks but the world has %d (mpirun -np %d)",
                     given, cfg, u, r, cfg * u * r, world, world);
        else
            snprintf(why, sizeof why, "%s: %d does not divide the %d rank%s left for the sequence (world %d / cfg %d)",
                     given, req->ulysses ? req->ulysses : req->ring, rest, rest == 1 ? "" : "s", world, cfg);
        return refuse(world, heads, guidance, why);
    }
    if (heads % u) {
        snprintf(why, sizeof why, "--ulysses %d: the model's %lld attention head%s do%s not divide by %d", u,
                 (long long)heads, heads == 1 ? "" : "s", heads == 1 ? "es" : "", u);
        return refuse(world, heads, guidance, why);
    }
    out->world = world, out->cfg = cfg, out->ulysses = u, out->ring = r;
    return 0;
}

rl_plan_coords rl_plan_coords_of(const rl_plan *p, int w) {
    rl_plan_coords c;
    int sp = p->ulysses * p->ring;
    c.cfg_index = w / sp;
    c.sp_rank = w % sp;
    c.ulysses_index = c.sp_rank % p->ulysses;
    c.ring_index = c.sp_rank / p->ulysses;
    return c;
}
