/* comm_flags.h: --comm (auto, mpi or nccl) and, for eval dit and bench dit,
 * --exchange-self, shared by the commands that run the DiT under a parallel
 * plan; and opening this rank's backend (its local rank picks the GPU). */
#ifndef RL_COMM_FLAGS_H
#define RL_COMM_FLAGS_H

#include "cli/args.h"
#include "comm/comm.h"

typedef struct {
    const char *comm;  /* "auto", "mpi", "nccl" */
    int self_exchange; /* --exchange-self (eval dit, bench dit) */
} rl_comm_flags;

#define RL_COMM_FLAG_ROWS 1  /* --comm */
#define RL_COMM_BENCH_ROWS 2 /* --comm, --exchange-self */
/* Fills rows[0..RL_COMM_FLAG_ROWS) or, with bench, rows[0..RL_COMM_BENCH_ROWS). */
void rl_comm_flags_rows(rl_comm_flags *f, rl_opt *rows, int bench);

/* The backend called name ("cpu", "cuda") on this rank's GPU (rl_world_gpu_index). */
rl_backend *rl_cli_backend(const rl_world *w, const char *name);

/* Attaches the device communicator --comm asks for (every rank calls it) and
 * logs the choice (verbose). -1 with a sentence naming --comm otherwise. */
int rl_comm_flags_apply(const rl_comm_flags *f, rl_comm *comm, rl_backend *be);

#endif
