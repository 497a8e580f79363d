/* comm_flags.c: see comm_flags.h. The choice itself is the comm layer's
 * (rl_comm_mode_resolve); this file holds the flag rows and the messages. */
#include "cli/comm_flags.h"

#include <string.h>

void rl_comm_flags_rows(rl_comm_flags *f, rl_opt *rows, int bench) {
    rl_opt r[RL_COMM_BENCH_ROWS] = {
        {"--comm", NULL, "RAYLIGHT_COMM", RL_OPT_STR, &f->comm, "auto", "NAME",
         "how ranks exchange GPU tensors: nccl (device to device), mpi (staged through host memory), or auto (nccl "
         "with the cuda backend and several ranks when the build has NCCL, else mpi)", 0, 0, 0},
        {"--exchange-self", NULL, "RAYLIGHT_EXCHANGE_SELF", RL_OPT_FLAG, &f->self_exchange, NULL, NULL,
         "one rank: run the Ulysses all-to-all and a ring step with itself as peer (same result; measures what the "
         "exchanges cost on one GPU)", 0, 0, 0},
    };
    memcpy(rows, r, (bench ? RL_COMM_BENCH_ROWS : RL_COMM_FLAG_ROWS) * sizeof *r);
}

rl_backend *rl_cli_backend(const rl_world *w, const char *name) {
    if (!name || strcmp(name, "cuda") != 0) return rl_backend_by_name(name);
    int gpu = 0;
    if (rl_world_gpu_index(w, &gpu) != 0) return NULL;
    return rl_backend_cuda(gpu);
}

int rl_comm_flags_apply(const rl_comm_flags *f, rl_comm *comm, rl_backend *be) {
    const char *pick = rl_comm_mode_resolve(f->comm, be, comm->size);
    if (!pick) return -1;
    RL_TRY(rl_comm_attach_device(comm, be, f->comm));
    rl_log(RL_LOG_VERBOSE, "exchanges of %s tensors between %d rank%s: %s (--comm %s)\n", be->name, comm->size,
           comm->size == 1 ? "" : "s", pick, f->comm ? f->comm : "auto");
    return 0;
}
