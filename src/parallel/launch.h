/* launch.h: what every rank must agree on before work starts, and getting
 * rank 0's results to the others.
 * - The command line: ranks started with different flags would deadlock or
 *   silently compute different things; each rank hashes its argv (and the
 *   RAYLIGHT_* environment twins), the hashes are gathered and compared.
 * - The text context: encoded once on rank 0, broadcast.
 * - A test hook: RAYLIGHT_TEST_FAIL_RANK=R makes rank R fail as if its DiT
 *   file were missing, to test that one rank's failure ends every rank. */
#ifndef RL_PARALLEL_LAUNCH_H
#define RL_PARALLEL_LAUNCH_H

#include "comm/comm.h"

/* 0 when every rank has the same arguments; else -1 with an error naming the
 * first rank that differs from rank 0. On a mismatch the ranks other than 0
 * wait in a barrier so that only rank 0 reports (its exit aborts them). */
int rl_launch_check_args(rl_comm *c, int argc, char **argv);

/* Rank 0's n host f32 arrays arr[i] [lens[i], *dim] (text contexts) to every
 * rank; the others get malloc'd copies in arr[i], lens[i] and *dim. */
int rl_launch_broadcast_texts(rl_comm *c, float **arr, int64_t *lens, int n, int64_t *dim);

/* 1 when RAYLIGHT_TEST_FAIL_RANK names this rank (tests only). */
int rl_launch_test_fail(int rank);

#endif
