/* comm_device.c: choosing the communicator for device tensors (--comm) and the
 * GPU of a rank, in every build. The NCCL flavour itself lives in comm_nccl.c
 * (built with CUDA and NCCL only); here a build without it gets sentences that
 * say why and what to use instead, so callers need no #ifdef.
 *
 * Modes: "mpi" moves host memory (device tensors are staged through the host);
 * "nccl" moves device memory on the backend's stream; "auto" takes NCCL when
 * the backend is CUDA, the build has NCCL and there is more than one rank (one
 * rank exchanges nothing unless a benchmark asks it to). */
#include "comm/comm.h"

#include <string.h>

#ifdef RL_HAVE_NCCL
#include "comm/comm_nccl.h"
#endif
#ifdef RL_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

static void (*device_abort)(void);

void rl_comm_set_device_abort(void (*fn)(void)) { device_abort = fn; }

void rl_comm_abort_devices(void) {
    if (device_abort) device_abort();
}

const char *rl_comm_mode_resolve(const char *mode, const rl_backend *be, int world_size) {
    if (!mode || !strcmp(mode, "auto")) {
#ifdef RL_HAVE_NCCL
        if (be && be->device == RL_DEVICE_CUDA && world_size > 1) return "nccl";
#endif
        return "mpi";
    }
    if (!strcmp(mode, "mpi")) return "mpi";
    if (strcmp(mode, "nccl") != 0) {
        rl_error_set("--comm '%s' is unknown; use auto, mpi or nccl", mode);
        return NULL;
    }
    if (!be || be->device != RL_DEVICE_CUDA) {
        rl_error_set("--comm nccl needs the CUDA backend (--backend cuda): NCCL moves GPU memory, and the %s backend "
                     "keeps its tensors in host memory; use --comm mpi (or auto) on CPU ranks",
                     be ? be->name : "chosen");
        return NULL;
    }
#ifndef RL_HAVE_NCCL
    rl_error_set("--comm nccl: this binary was built without NCCL (no libnccl found by make CUDA=1, or built with "
                 "CUDA=0); install NCCL (libnccl-dev) and rebuild with make CUDA=1, or use --comm mpi");
    return NULL;
#else
    return "nccl";
#endif
}

int rl_comm_attach_device(rl_comm *host, rl_backend *be, const char *mode) {
    const char *pick = rl_comm_mode_resolve(mode, be, host->size);
    if (!pick) return -1;
    if (!strcmp(pick, "mpi") || host->device) return 0;
#ifdef RL_HAVE_NCCL
    host->device = rl_comm_world_nccl(be);
    if (!host->device) return rl_error_wrap("--comm %s: starting NCCL over %d rank%s", mode ? mode : "auto",
                                            host->size, host->size == 1 ? "" : "s");
    return 0;
#else
    return rl_error_set("--comm nccl: this binary was built without NCCL (a bug: the mode should have been refused)");
#endif
}

int rl_world_gpu_index(const rl_world *w, int *index) {
    int n = 0;
#ifdef RL_HAVE_CUDA
    if (cudaGetDeviceCount(&n) != cudaSuccess) n = 0;
    (void)cudaGetLastError();
#endif
    *index = w->local_rank;
    if (n <= 0) return 0;  /* the backend says what is wrong when it opens the device */
    if (n == 1) *index = 0; /* one GPU per rank (CUDA_VISIBLE_DEVICES set by the launcher) */
    else if (w->local_rank >= n)
        return rl_error_set("rank %d is rank %d of %d on its host, but the host shows only %d GPUs: start at most %d "
                            "ranks per host (mpirun -np N with N <= GPUs, or --map-by ppr:%d:node), or give each rank "
                            "its own GPU with CUDA_VISIBLE_DEVICES", w->rank, w->local_rank, w->local_size, n, n, n);
    return 0;
}
