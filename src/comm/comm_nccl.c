/* comm_nccl.c: rl_comm over NCCL on the CUDA backend's stream (see
 * comm_nccl.h). Bootstrap as llm.c does it: rank 0 calls ncclGetUniqueId,
 * MPI_Bcast hands the id out, each rank sets its device first. The all-to-all
 * and the ring step are grouped point-to-point calls; split is ncclCommSplit.
 * Reads the stream from the CUDA backend's state (backend/backend_cuda.h): the
 * one place where comm knows a backend. */
#ifdef RL_HAVE_NCCL
#include "comm/comm_nccl.h"

#include "backend/backend_cuda.h"

#include <mpi.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
    float *flag; /* one device float for the barrier */
} nccl_impl;

#define IMPL(c) ((nccl_impl *)(c)->impl)

static int nccl_fail(const rl_comm *c, const char *what, ncclResult_t r) {
    return rl_error_set("rank %d: NCCL %s failed: %s; hint: NCCL_DEBUG=WARN shows the cause (network, GPU "
                        "visibility, mismatched NCCL versions)", c ? c->rank : -1, what, ncclGetErrorString(r));
}

#define NCCL_TRY(c, what, call)                              \
    do {                                                     \
        ncclResult_t r_ = (call);                            \
        if (r_ != ncclSuccess) return nccl_fail((c), (what), r_); \
    } while (0)

static int nc_all_to_all(rl_comm *c, const void *send, void *recv, size_t bytes) {
    nccl_impl *m = IMPL(c);
    if (send == recv) return rl_error_set("rank %d: NCCL all_to_all in place is not supported (a bug)", c->rank);
    NCCL_TRY(c, "group start", ncclGroupStart());
    for (int r = 0; r < c->size; r++) {
        NCCL_TRY(c, "all_to_all send", ncclSend((const char *)send + (size_t)r * bytes, bytes, ncclChar, r, m->comm, m->stream));
        NCCL_TRY(c, "all_to_all recv", ncclRecv((char *)recv + (size_t)r * bytes, bytes, ncclChar, r, m->comm, m->stream));
    }
    NCCL_TRY(c, "all_to_all", ncclGroupEnd());
    return 0;
}

static int nc_all_gather(rl_comm *c, const void *send, void *recv, size_t bytes) {
    nccl_impl *m = IMPL(c);
    NCCL_TRY(c, "all_gather", ncclAllGather(send, recv, bytes, ncclChar, m->comm, m->stream));
    return 0;
}

static int nc_broadcast(rl_comm *c, void *buf, size_t bytes, int root) {
    nccl_impl *m = IMPL(c);
    NCCL_TRY(c, "broadcast", ncclBroadcast(buf, buf, bytes, ncclChar, root, m->comm, m->stream));
    return 0;
}

static int nc_reduce(rl_comm *c, float *buf, size_t count) {
    nccl_impl *m = IMPL(c);
    NCCL_TRY(c, "all_reduce", ncclAllReduce(buf, buf, count, ncclFloat, ncclSum, m->comm, m->stream));
    return 0;
}

static int nc_send_recv(rl_comm *c, const void *send, int to, void *recv, int from, size_t bytes) {
    nccl_impl *m = IMPL(c);
    if (to == c->rank && from == c->rank) { /* one rank: the ring step is a copy */
        cudaError_t e = cudaMemcpyAsync(recv, send, bytes, cudaMemcpyDeviceToDevice, m->stream);
        return e == cudaSuccess ? 0 : rl_error_set("rank %d: send_recv copy: %s", c->rank, cudaGetErrorString(e));
    }
    NCCL_TRY(c, "group start", ncclGroupStart());
    NCCL_TRY(c, "send", ncclSend(send, bytes, ncclChar, to, m->comm, m->stream));
    NCCL_TRY(c, "recv", ncclRecv(recv, bytes, ncclChar, from, m->comm, m->stream));
    NCCL_TRY(c, "send_recv", ncclGroupEnd());
    return 0;
}

static int nc_barrier(rl_comm *c) {
    nccl_impl *m = IMPL(c);
    NCCL_TRY(c, "barrier", ncclAllReduce(m->flag, m->flag, 1, ncclFloat, ncclSum, m->comm, m->stream));
    cudaError_t e = cudaStreamSynchronize(m->stream);
    return e == cudaSuccess ? 0 : rl_error_set("rank %d: barrier: %s", c->rank, cudaGetErrorString(e));
}

static void nc_destroy(rl_comm *c) {
    nccl_impl *m = IMPL(c);
    if (m) {
        cudaStreamSynchronize(m->stream);
        if (m->flag) cudaFree(m->flag);
        ncclCommDestroy(m->comm);
        free(m);
    }
    free(c);
}

static rl_comm *nc_split(rl_comm *c, int color, int key);

static rl_comm *nc_wrap(ncclComm_t comm, cudaStream_t stream, int device) {
    rl_comm *c = calloc(1, sizeof *c);
    nccl_impl *m = calloc(1, sizeof *m);
    if (!c || !m || cudaMalloc((void **)&m->flag, sizeof(float)) != cudaSuccess) {
        free(c);
        free(m);
        ncclCommDestroy(comm);
        rl_error_set("out of memory creating an NCCL communicator");
        return NULL;
    }
    cudaMemset(m->flag, 0, sizeof(float));
    m->comm = comm, m->stream = stream, m->device = device;
    c->kind = "nccl";
    c->impl = m;
    ncclCommUserRank(comm, &c->rank);
    ncclCommCount(comm, &c->size);
    c->all_to_all = nc_all_to_all;
    c->all_gather = nc_all_gather;
    c->broadcast = nc_broadcast;
    c->all_reduce_sum_f32 = nc_reduce;
    c->send_recv = nc_send_recv;
    c->barrier = nc_barrier;
    c->split = nc_split;
    c->destroy = nc_destroy;
    return c;
}

static rl_comm *nc_split(rl_comm *c, int color, int key) {
    nccl_impl *m = IMPL(c);
    ncclComm_t sub;
    ncclResult_t r = ncclCommSplit(m->comm, color, key, &sub, NULL);
    if (r != ncclSuccess) {
        nccl_fail(c, "ncclCommSplit", r);
        return NULL;
    }
    return nc_wrap(sub, m->stream, m->device);
}

rl_comm *rl_comm_world_nccl(rl_backend *be) {
    if (!be || be->device != RL_DEVICE_CUDA || !be->impl) {
        rl_error_set("the NCCL communicator needs the CUDA backend (--backend cuda)");
        return NULL;
    }
    cuda_state *st = be->impl;
    int inited = 0, rank = 0, size = 1;
    MPI_Initialized(&inited);
    if (inited) {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    }
    if (cudaSetDevice(st->device) != cudaSuccess) {
        rl_error_set("rank %d: cannot select GPU %d for NCCL", rank, st->device);
        return NULL;
    }
    ncclUniqueId id;
    ncclResult_t r = ncclSuccess;
    if (rank == 0) r = ncclGetUniqueId(&id);
    /* every rank takes part in the broadcast even when rank 0 failed: the id's
     * first byte then says so and nobody waits in ncclCommInitRank */
    if (r != ncclSuccess) memset(&id, 0xff, sizeof id);
    if (inited && size > 1 && MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        rl_error_set("rank %d: MPI_Bcast of the NCCL id failed", rank);
        return NULL;
    }
    if (r != ncclSuccess) {
        nccl_fail(NULL, "ncclGetUniqueId on rank 0", r);
        return NULL;
    }
    ncclComm_t comm;
    r = ncclCommInitRank(&comm, size, id, rank);
    if (r != ncclSuccess) {
        nccl_fail(NULL, "ncclCommInitRank", r);
        return NULL;
    }
    return nc_wrap(comm, st->stream, st->device);
}
#else
typedef int rl_comm_nccl_unused; /* ISO C wants a declaration in every file */
#endif
