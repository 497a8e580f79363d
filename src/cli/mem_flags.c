/* mem_flags.c: see mem_flags.h. The prediction itself lives with the model
 * (models/wan_dit_offload.c); this file only reads flags and prints the plan. */
#include "cli/mem_flags.h"

#include "comm/comm.h"
#include "models/wan_dit_offload.h"

#include <string.h>

void rl_mem_flags_rows(rl_mem_flags *f, rl_opt *rows) {
    rl_opt r[RL_MEM_FLAG_ROWS] = {
        {"--offload-blocks", NULL, "RAYLIGHT_OFFLOAD_BLOCKS", RL_OPT_INT, &f->offload_blocks, "0", "N",
         "keep N DiT blocks in pinned host memory, streamed to the GPU ahead of use (block swap)", 0, 4096, 0},
        {"--vram-limit", NULL, "RAYLIGHT_VRAM_LIMIT", RL_OPT_FLOAT, &f->vram_limit_gib, "0", "GiB",
         "never allocate more than this much device memory (0 = no limit)", 0, 1e6, 0},
        {"--auto-plan", NULL, "RAYLIGHT_AUTO_PLAN", RL_OPT_FLAG, &f->auto_plan, NULL, NULL,
         "with --vram-limit: the least offloading that fits (none, --fsdp, --fsdp + offload N), printed with its "
         "predicted peak", 0, 0, 0},
        {"--fsdp", NULL, "RAYLIGHT_FSDP", RL_OPT_FLAG, &f->fsdp, NULL, NULL,
         "under mpirun: each rank keeps 1/ranks of every DiT block (and umT5 layer), gathered before use", 0, 0, 0},
    };
    memcpy(rows, r, sizeof r);
}

int rl_mem_flags_check(const rl_mem_flags *f, rl_backend *be, int64_t num_layers) {
    size_t limit = (size_t)(f->vram_limit_gib * 1073741824.0);
    if (f->auto_plan && !limit) return rl_error_set("--auto-plan needs --vram-limit GiB (the budget to plan for)");
    if (f->auto_plan && f->offload_blocks)
        return rl_error_set("give --offload-blocks N or --auto-plan, not both (--auto-plan chooses N)");
    if (num_layers && f->offload_blocks > num_layers)
        return rl_error_set("--offload-blocks %lld: the model has %lld blocks; give 0..%lld",
                            (long long)f->offload_blocks, (long long)num_layers, (long long)num_layers);
    rl_mem_set_limit(be->device, limit);
    return 0;
}

int rl_mem_flags_apply(const rl_mem_flags *f, rl_backend *be, rl_comm *comm, const rl_wan_dit_config *cfg,
                       int64_t tokens, size_t extra, rl_wan_dit_options *out) {
    memset(out, 0, sizeof *out);
    RL_TRY(rl_mem_flags_check(f, be, cfg->num_layers));
    const int world = comm ? comm->size : 1;
    size_t limit = rl_mem_limit(be->device);
    rl_wan_mem_plan p;
    char d[512];
    if (f->fsdp && world == 1) rl_log(RL_LOG_VERBOSE, "--fsdp with one rank: nothing to shard, the blocks load whole\n");
    if (f->auto_plan) {
        size_t avail = limit > rl_mem_current(be->device) ? limit - rl_mem_current(be->device) : 0;
        if (wan_mem_auto_plan(cfg, be->weight_dtype, tokens, extra, avail, world, f->fsdp, &p) != 0) return -1;
        wan_offload_describe_plan(&p, cfg->num_layers, d, sizeof d);
        rl_log(RL_LOG_INFO, "auto-plan: %s\n", d);
    } else {
        wan_mem_predict(cfg, be->weight_dtype, tokens, extra, (int)f->offload_blocks, f->fsdp ? world : 1, &p);
        wan_offload_describe_plan(&p, cfg->num_layers, d, sizeof d);
        rl_log(RL_LOG_VERBOSE, "memory plan: %s\n", d);
    }
    out->offload_blocks = p.offload_blocks;
    out->fsdp = p.fsdp > 1 ? comm : NULL;
    return 0;
}
