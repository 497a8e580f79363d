/* bench_usp.h: `bench dit` under a parallel plan (--ulysses, --ring,
 * --cfg-parallel, --exchange-self, --json): each rank runs the DiT on its token
 * slice with sequence-parallel attention, as the render command does, and rank
 * 0 prints ms per forward and the exchange time per forward (device time of the
 * NCCL operations, wall clock of host exchanges). scripts/bench-usp.sh reads it. */
#ifndef RL_CLI_BENCH_USP_H
#define RL_CLI_BENCH_USP_H

#include "cli/args.h"
#include "cli/comm_flags.h"
#include "cli/mem_flags.h"

typedef struct {
    int64_t ulysses, ring;
    int cfg_parallel, json;
    const char *weights; /* a DiT file instead of random weights of --model (tests, small models) */
    rl_comm_flags comm;
} rl_bench_usp_flags;

#define RL_BENCH_USP_ROWS (5 + RL_COMM_BENCH_ROWS)
/* Fills rows[0..RL_BENCH_USP_ROWS) for bench's option table. */
void rl_bench_usp_rows(rl_bench_usp_flags *f, rl_opt *rows);
/* 1 when a flag asks for the sliced forward under a plan. */
int rl_bench_usp_wanted(const rl_bench_usp_flags *f);

/* The benchmark: model "1.3b"/"14b" random weights (or f->weights), frames of
 * size "WxH", `iters` timed steps after `warmup`. Every rank calls it. */
int rl_bench_dit_usp(rl_backend *be, rl_comm *comm, const char *model, const char *size, int64_t frames,
                     int64_t iters, int64_t warmup, const rl_mem_flags *mf, const rl_bench_usp_flags *f);

#endif
