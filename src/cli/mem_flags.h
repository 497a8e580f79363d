/* mem_flags.h: --offload-blocks, --vram-limit, --auto-plan and --fsdp, shared by the
 * render command, `eval dit` and `bench dit`: the option table rows, the checks
 * between them, and turning them into DiT loading options (the plan printed). */
#ifndef RL_MEM_FLAGS_H
#define RL_MEM_FLAGS_H

#include "cli/args.h"
#include "models/wan_dit.h"

typedef struct {
    int64_t offload_blocks;
    double vram_limit_gib;
    int auto_plan;
    int fsdp;
} rl_mem_flags;

#define RL_MEM_FLAG_ROWS 4
/* Fills rows[0..RL_MEM_FLAG_ROWS) for an option table, targets in f. */
void rl_mem_flags_rows(rl_mem_flags *f, rl_opt *rows);
/* Checks the combination (a model of num_layers blocks; 0 = not known yet) and
 * sets the device's allocation limit. */
int rl_mem_flags_check(const rl_mem_flags *f, rl_backend *be, int64_t num_layers);
/* Checks the combination, sets the device's allocation limit, and chooses the
 * offload and sharding: the flags' N and --fsdp (over every rank of comm; one rank:
 * whole blocks), or with --auto-plan the least offloading plan for cfg over
 * `tokens` tokens plus `extra` device bytes (latents, text) among none, fsdp
 * (several ranks) and fsdp + offload N, printed with its predicted peak. -1 with a
 * sentence naming the flags otherwise. */
int rl_mem_flags_apply(const rl_mem_flags *f, rl_backend *be, rl_comm *comm, const rl_wan_dit_config *cfg,
                       int64_t tokens, size_t extra, rl_wan_dit_options *out);

#endif
