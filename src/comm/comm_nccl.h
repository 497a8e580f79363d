/* comm_nccl.h: the NCCL flavour of rl_comm (built with CUDA and NCCL only).
 * Buffers are device pointers of the CUDA backend; every collective is
 * enqueued on the backend's stream, so it is ordered with the ops around it
 * without a host synchronisation. */
#ifndef RL_COMM_NCCL_H
#define RL_COMM_NCCL_H

#include "comm/comm.h"

/* All ranks of the world over NCCL: rank 0 makes the unique id and MPI_Bcast
 * hands it out (world size 1: no MPI). be must be the CUDA backend of this
 * rank's GPU. NULL with an error naming the NCCL call otherwise. */
rl_comm *rl_comm_world_nccl(rl_backend *be);

#endif
