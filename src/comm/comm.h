/* comm.h: ranks and collectives behind one interface.
 *
 * One process per GPU, started by mpirun or srun; started alone it is world
 * size 1 and never touches MPI. The MPI flavour moves host memory (the CPU
 * backend); the NCCL flavour moves device memory on the backend's stream. Every
 * collective returns 0 or -1 with a sentence naming the collective and the rank;
 * a fatal error on any rank ends every rank (rl_die -> MPI_Abort). */
#ifndef RL_COMM_H
#define RL_COMM_H

#include "raylight.h"

typedef struct rl_comm rl_comm;
#define RL_COMM_BATCH_MAX 64 /* all-gathers in one all_gather_start batch */
struct rl_comm {
    const char *kind; /* "self", "mpi", "nccl" */
    int rank, size;
    /* recv[r*bytes ..] = what rank r sent for us: send is size blocks of `bytes`. */
    int (*all_to_all)(rl_comm *c, const void *send, void *recv, size_t bytes);
    /* recv = concatenation of every rank's send block (rank order). */
    int (*all_gather)(rl_comm *c, const void *send, void *recv, size_t bytes);
    /* Nonblocking all-gathers, for prefetching (--fsdp). all_gather_start issues
     * n all-gathers (recv[i] = every rank's send[i] block of bytes[i], as
     * all_gather) as one batch on lane `lane` (0..RL_COPY_SLOTS-1, at most one
     * batch per lane in flight, n <= RL_COMM_BATCH_MAX) and returns without
     * waiting; the buffers stay untouched by the caller until all_gather_wait(lane).
     * MPI: one MPI_Iallgather each, all_gather_wait blocks in MPI_Waitall.
     * NCCL: one group on the CUDA backend's comm stream, started once the compute
     * stream has passed its last release_slot(lane) and the lane's last
     * copy_async has landed (the slot's previous reader is done, its shard is
     * in); all_gather_wait makes the compute stream wait, not the host.
     * Self: copies at once. Every rank issues the same batches in the same order. */
    int (*all_gather_start)(rl_comm *c, int n, const void *const *send, void *const *recv, const size_t *bytes,
                            int lane);
    int (*all_gather_wait)(rl_comm *c, int lane);
    int (*broadcast)(rl_comm *c, void *buf, size_t bytes, int root);
    /* Elementwise sum of f32 buffers over ranks, in place. */
    int (*all_reduce_sum_f32)(rl_comm *c, float *buf, size_t count);
    /* Sends `send` to rank `to` while receiving `recv` from rank `from` (ring step). */
    int (*send_recv)(rl_comm *c, const void *send, int to, void *recv, int from, size_t bytes);
    int (*barrier)(rl_comm *c);
    /* A sub-communicator of the ranks with the same color, ordered by key. */
    rl_comm *(*split)(rl_comm *c, int color, int key);
    void (*destroy)(rl_comm *c);
    /* Device time (seconds) of this comm's operations since the last call,
     * measured with events on the device stream (waits for them); NULL for
     * comms that move host memory (time them by the wall clock). */
    double (*take_device_seconds)(rl_comm *c);
    /* The same ranks over NCCL, for device buffers of the CUDA backend
     * (rl_comm_attach_device); NULL: host memory only. Owned: destroyed with c. */
    rl_comm *device;
    void *impl;
};

typedef struct {
    int rank, size;             /* in the world */
    int local_rank, local_size; /* on this host: picks the GPU */
    int launched;               /* started by mpirun/srun with size > 1 */
} rl_world;

/* Detects the launcher, initialises MPI when there is more than one rank and
 * installs the abort hook so a fatal error ends every rank. */
int rl_world_init(int *argc, char ***argv, rl_world *w);
void rl_world_finalize(void);
/* Host-memory collectives over all ranks (a "self" comm when size is 1). */
rl_comm *rl_comm_world_host(void);

/* --comm: "auto" (or NULL), "mpi" or "nccl". Attaches host->device, an NCCL
 * communicator of the same ranks on be's stream, when the mode asks for it:
 * "nccl", or "auto" with the CUDA backend, a build with NCCL and more than one
 * rank. "nccl" on the CPU backend or in a build without NCCL is an error saying
 * why and what to use. Every rank must call it (NCCL's start is collective). */
int rl_comm_attach_device(rl_comm *host, rl_backend *be, const char *mode);
/* The name of what rl_comm_attach_device would pick ("mpi" or "nccl"), or NULL
 * with an error for a mode it would refuse. */
const char *rl_comm_mode_resolve(const char *mode, const rl_backend *be, int world_size);
/* Ends every live device communicator at once (ncclCommAbort: no waiting for
 * peers), for the failure path; the abort hook runs it before MPI_Abort. */
void rl_comm_abort_devices(void);
/* Installed by the NCCL flavour: what rl_comm_abort_devices runs. */
void rl_comm_set_device_abort(void (*fn)(void));
/* The GPU this rank should use: its local rank on the host (launcher variables,
 * else the ranks sharing the node), 0 when each rank sees one GPU; -1 with an
 * error naming the rank and the GPU count when the host has too few. */
int rl_world_gpu_index(const rl_world *w, int *index);

#endif
