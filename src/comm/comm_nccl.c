/* comm_nccl.c: rl_comm over NCCL on the CUDA backend's stream (see
 * comm_nccl.h). Bootstrap as llm.c does it: rank 0 calls ncclGetUniqueId,
 * MPI_Bcast hands the id out, each rank sets its device first. The all-to-all
 * and the ring step are grouped point-to-point calls; split is ncclCommSplit.
 * Reads the stream from the CUDA backend's state (backend/backend_cuda.h): the
 * one place where comm knows a backend.
 * Failures: every NCCL error becomes a sentence naming the call, the rank,
 * NCCL's own last message and what to check. Live communicators are listed so
 * the abort hook (rl_die) can ncclCommAbort them all before MPI_Abort; a
 * communicator with an asynchronous error is aborted, never destroyed (that
 * could wait for a peer that is gone).
 * Timing: each operation is bracketed by two events on the stream, summed by
 * take_device_seconds (the communication time of a forward, without host waits).
 * The nonblocking all-gathers of --fsdp prefetching run on the backend's comm
 * stream, ordered by the backend's per-slot events (released, copied ->
 * gathered); they are not timed (they overlap compute by design). NCCL runs the
 * operations of one communicator one after another whatever their streams, so
 * with USP an exchange may wait behind a gather issued before it; every rank
 * issues both in the same order, so they never wait for each other in a cycle. */
#ifdef RL_HAVE_NCCL
#include "comm/comm_nccl.h"

#include "backend/backend_cuda.h"

#include <mpi.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#define NCCL_TIMED_MAX 1024 /* event pairs kept before they are summed (one wait) */

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;
    cuda_state *st; /* the backend's: comm stream and slot events of the nonblocking gathers */
    int device;
    float *flag; /* one device float for the barrier */
    int aborted; /* ncclCommAbort has run: nothing more may touch comm */
    /* device timing: a start/stop event pair around each operation */
    cudaEvent_t ev[2 * NCCL_TIMED_MAX];
    int n_ev, n_pairs, timing_off;
    double seconds; /* summed pairs not yet taken */
} nccl_impl;

#define IMPL(c) ((nccl_impl *)(c)->impl)

/* Every live communicator, so a failing rank can abort them all at once. */
#define NCCL_LIVE_MAX 64
static nccl_impl *live[NCCL_LIVE_MAX];

static void live_add(nccl_impl *m) {
    for (int i = 0; i < NCCL_LIVE_MAX; i++)
        if (!live[i]) {
            live[i] = m;
            return;
        }
}

static void live_remove(nccl_impl *m) {
    for (int i = 0; i < NCCL_LIVE_MAX; i++)
        if (live[i] == m) live[i] = NULL;
}

/* The abort hook's part (rl_comm_abort_devices): no waiting on any peer. */
static void abort_live(void) {
    for (int i = 0; i < NCCL_LIVE_MAX; i++)
        if (live[i] && !live[i]->aborted) {
            live[i]->aborted = 1;
            ncclCommAbort(live[i]->comm);
        }
}

static const char *nccl_hint(ncclResult_t r) {
    switch (r) {
    case ncclUnhandledCudaError:
        return "a CUDA call inside NCCL failed: check that every rank has its own GPU (one rank per GPU, "
               "CUDA_VISIBLE_DEVICES) and that the GPUs are healthy (nvidia-smi)";
    case ncclSystemError:
        return "a system call or the network failed: check the interface NCCL uses (NCCL_SOCKET_IFNAME), the size "
               "of /dev/shm in containers, and rerun with NCCL_DEBUG=WARN";
    case ncclInternalError: return "NCCL hit an internal error: rerun with NCCL_DEBUG=WARN to see where";
    case ncclInvalidArgument:
    case ncclInvalidUsage:
        return "NCCL refused the call; two ranks on one GPU give this (one rank per GPU), otherwise it is a bug: "
               "please report it with the output of NCCL_DEBUG=WARN";
    case ncclRemoteError: return "another rank failed or went away: look for its message above";
    default: return "rerun with NCCL_DEBUG=WARN to see the cause";
    }
}

/* "rank R: NCCL <call> failed: <error string> (<NCCL's last message>); hint: ..." */
static int nccl_fail_comm(ncclComm_t comm, int rank, const char *what, ncclResult_t r) {
    const char *last = ncclGetLastError(comm);
    return rl_error_set("rank %d: NCCL %s failed: %s%s%s%s; hint: %s", rank, what, ncclGetErrorString(r),
                        last && *last ? " (" : "", last && *last ? last : "", last && *last ? ")" : "",
                        nccl_hint(r));
}

static int nccl_fail(const rl_comm *c, const char *what, ncclResult_t r) {
    return nccl_fail_comm(c ? IMPL(c)->comm : NULL, c ? c->rank : -1, what, r);
}

/* Device timing: records the start of an operation on the stream. */
static void timed_begin(nccl_impl *m) {
    if (m->timing_off) return;
    if (m->n_pairs == NCCL_TIMED_MAX) { /* sum what is there first */
        float ms;
        if (cudaEventSynchronize(m->ev[2 * m->n_pairs - 1]) != cudaSuccess) m->timing_off = 1;
        for (int i = 0; !m->timing_off && i < m->n_pairs; i++)
            if (cudaEventElapsedTime(&ms, m->ev[2 * i], m->ev[2 * i + 1]) == cudaSuccess) m->seconds += ms * 1e-3;
        m->n_pairs = 0;
    }
    for (; m->n_ev < 2 * m->n_pairs + 2; m->n_ev++)
        if (cudaEventCreate(&m->ev[m->n_ev]) != cudaSuccess) {
            m->timing_off = 1;
            (void)cudaGetLastError();
            return;
        }
    if (cudaEventRecord(m->ev[2 * m->n_pairs], m->stream) != cudaSuccess) m->timing_off = 1;
}

static void timed_end(nccl_impl *m) {
    if (m->timing_off) return;
    if (cudaEventRecord(m->ev[2 * m->n_pairs + 1], m->stream) != cudaSuccess) m->timing_off = 1;
    else m->n_pairs++;
}

static double nc_take_device_seconds(rl_comm *c) {
    nccl_impl *m = IMPL(c);
    float ms;
    if (!m->timing_off && m->n_pairs > 0 && cudaEventSynchronize(m->ev[2 * m->n_pairs - 1]) == cudaSuccess)
        for (int i = 0; i < m->n_pairs; i++)
            if (cudaEventElapsedTime(&ms, m->ev[2 * i], m->ev[2 * i + 1]) == cudaSuccess) m->seconds += ms * 1e-3;
    m->n_pairs = 0;
    double s = m->seconds;
    m->seconds = 0;
    return s;
}

#define NCCL_TRY(c, what, call)                              \
    do {                                                     \
        ncclResult_t r_ = (call);                            \
        if (r_ != ncclSuccess) return nccl_fail((c), (what), r_); \
    } while (0)

/* Inside ncclGroupStart/End: a failing call closes the group before returning,
 * so the thread is not left in an open group (then aborting works). */
#define NCCL_TRY_IN_GROUP(c, what, call)                     \
    do {                                                     \
        ncclResult_t r_ = (call);                            \
        if (r_ != ncclSuccess) {                             \
            (void)ncclGroupEnd();                            \
            return nccl_fail((c), (what), r_);               \
        }                                                    \
    } while (0)

static int nc_all_to_all(rl_comm *c, const void *send, void *recv, size_t bytes) {
    nccl_impl *m = IMPL(c);
    if (send == recv) return rl_error_set("rank %d: NCCL all_to_all in place is not supported (a bug)", c->rank);
    timed_begin(m);
    NCCL_TRY(c, "ncclGroupStart (all_to_all)", ncclGroupStart());
    for (int r = 0; r < c->size; r++) {
        NCCL_TRY_IN_GROUP(c, "ncclSend (all_to_all)", ncclSend((const char *)send + (size_t)r * bytes, bytes, ncclChar, r, m->comm, m->stream));
        NCCL_TRY_IN_GROUP(c, "ncclRecv (all_to_all)", ncclRecv((char *)recv + (size_t)r * bytes, bytes, ncclChar, r, m->comm, m->stream));
    }
    NCCL_TRY(c, "ncclGroupEnd (all_to_all)", ncclGroupEnd());
    timed_end(m);
    return 0;
}

static int nc_all_gather(rl_comm *c, const void *send, void *recv, size_t bytes) {
    nccl_impl *m = IMPL(c);
    timed_begin(m);
    NCCL_TRY(c, "ncclAllGather", ncclAllGather(send, recv, bytes, ncclChar, m->comm, m->stream));
    timed_end(m);
    return 0;
}

static int nc_check_lane(const rl_comm *c, int lane, const char *what) {
    if (lane < 0 || lane >= RL_COPY_SLOTS)
        return rl_error_set("rank %d: NCCL %s on lane %d, outside 0..%d (a bug)", c->rank, what, lane,
                            RL_COPY_SLOTS - 1);
    return 0;
}

#define CUDA_COMM_TRY(c, what, call)                                                                  \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess)                                                                        \
            return rl_error_set("rank %d: %s: %s failed: %s; hint: check the GPU (nvidia-smi)",       \
                                (c)->rank, (what), #call, cudaGetErrorString(e_));                    \
    } while (0)

/* The batch on the comm stream after the slot's last reader (released) and its
 * last upload (copied); gathered marks its end for nc_gather_wait. */
static int nc_gather_start(rl_comm *c, int n, const void *const *send, void *const *recv, const size_t *bytes,
                           int lane) {
    nccl_impl *m = IMPL(c);
    cuda_state *st = m->st;
    RL_TRY(nc_check_lane(c, lane, "all_gather_start"));
    if (n < 0 || n > RL_COMM_BATCH_MAX)
        return rl_error_set("rank %d: a batch of %d all-gathers; at most %d (a bug)", c->rank, n, RL_COMM_BATCH_MAX);
    if (st->released_set[lane])
        CUDA_COMM_TRY(c, "all_gather_start", cudaStreamWaitEvent(st->comm_stream, st->released[lane], 0));
    if (st->copied_set[lane])
        CUDA_COMM_TRY(c, "all_gather_start", cudaStreamWaitEvent(st->comm_stream, st->copied[lane], 0));
    NCCL_TRY(c, "ncclGroupStart (all_gather_start)", ncclGroupStart());
    for (int i = 0; i < n; i++)
        NCCL_TRY_IN_GROUP(c, "ncclAllGather (all_gather_start)",
                          ncclAllGather(send[i], recv[i], bytes[i], ncclChar, m->comm, st->comm_stream));
    NCCL_TRY(c, "ncclGroupEnd (all_gather_start)", ncclGroupEnd());
    CUDA_COMM_TRY(c, "all_gather_start", cudaEventRecord(st->gathered[lane], st->comm_stream));
    return 0;
}

static int nc_gather_wait(rl_comm *c, int lane) {
    nccl_impl *m = IMPL(c);
    RL_TRY(nc_check_lane(c, lane, "all_gather_wait"));
    CUDA_COMM_TRY(c, "all_gather_wait", cudaStreamWaitEvent(m->stream, m->st->gathered[lane], 0));
    return 0;
}

static int nc_broadcast(rl_comm *c, void *buf, size_t bytes, int root) {
    nccl_impl *m = IMPL(c);
    timed_begin(m);
    NCCL_TRY(c, "ncclBroadcast", ncclBroadcast(buf, buf, bytes, ncclChar, root, m->comm, m->stream));
    timed_end(m);
    return 0;
}

static int nc_reduce(rl_comm *c, float *buf, size_t count) {
    nccl_impl *m = IMPL(c);
    timed_begin(m);
    NCCL_TRY(c, "ncclAllReduce", ncclAllReduce(buf, buf, count, ncclFloat, ncclSum, m->comm, m->stream));
    timed_end(m);
    return 0;
}

static int nc_send_recv(rl_comm *c, const void *send, int to, void *recv, int from, size_t bytes) {
    nccl_impl *m = IMPL(c);
    /* to == from == rank (one rank, self as peer) is NCCL's own loopback */
    timed_begin(m);
    NCCL_TRY(c, "ncclGroupStart (send_recv)", ncclGroupStart());
    NCCL_TRY_IN_GROUP(c, "ncclSend (send_recv)", ncclSend(send, bytes, ncclChar, to, m->comm, m->stream));
    NCCL_TRY_IN_GROUP(c, "ncclRecv (send_recv)", ncclRecv(recv, bytes, ncclChar, from, m->comm, m->stream));
    NCCL_TRY(c, "ncclGroupEnd (send_recv)", ncclGroupEnd());
    timed_end(m);
    return 0;
}

static int nc_barrier(rl_comm *c) {
    nccl_impl *m = IMPL(c);
    NCCL_TRY(c, "ncclAllReduce (barrier)", ncclAllReduce(m->flag, m->flag, 1, ncclFloat, ncclSum, m->comm, m->stream));
    cudaError_t e = cudaStreamSynchronize(m->stream);
    return e == cudaSuccess ? 0 : rl_error_set("rank %d: NCCL barrier: cudaStreamSynchronize: %s; hint: another rank "
                                               "may have failed (see its message)", c->rank, cudaGetErrorString(e));
}

static void nc_destroy(rl_comm *c) {
    nccl_impl *m = IMPL(c);
    if (m) {
        /* a communicator with an error is aborted: destroying it could wait for peers that are gone */
        ncclResult_t async = ncclSuccess;
        if (!m->aborted && (ncclCommGetAsyncError(m->comm, &async) != ncclSuccess || async != ncclSuccess))
            m->aborted = 1, ncclCommAbort(m->comm);
        live_remove(m);
        if (!m->aborted) {
            cudaStreamSynchronize(m->stream);
            ncclCommDestroy(m->comm);
        }
        for (int i = 0; i < m->n_ev; i++) cudaEventDestroy(m->ev[i]);
        if (m->flag) cudaFree(m->flag);
        free(m);
    }
    free(c);
}

static rl_comm *nc_split(rl_comm *c, int color, int key);

static rl_comm *nc_wrap(ncclComm_t comm, cuda_state *st) {
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
    m->comm = comm, m->stream = st->stream, m->device = st->device, m->st = st;
    live_add(m);
    rl_comm_set_device_abort(abort_live);
    c->kind = "nccl";
    c->impl = m;
    ncclCommUserRank(comm, &c->rank);
    ncclCommCount(comm, &c->size);
    c->all_to_all = nc_all_to_all;
    c->all_gather = nc_all_gather;
    c->all_gather_start = nc_gather_start;
    c->all_gather_wait = nc_gather_wait;
    c->broadcast = nc_broadcast;
    c->all_reduce_sum_f32 = nc_reduce;
    c->send_recv = nc_send_recv;
    c->barrier = nc_barrier;
    c->split = nc_split;
    c->destroy = nc_destroy;
    c->take_device_seconds = nc_take_device_seconds;
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
    if (!sub) {
        rl_error_set("rank %d: NCCL ncclCommSplit gave no communicator for color %d (a bug)", c->rank, color);
        return NULL;
    }
    return nc_wrap(sub, m->st);
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
        rl_error_set("rank %d: cannot select GPU %d for NCCL; check CUDA_VISIBLE_DEVICES and nvidia-smi", rank,
                     st->device);
        return NULL;
    }
    /* --fsdp's gathers (world communicator, comm stream) and the USP exchanges (split
     * communicators, compute stream) can be in flight together; NCCL orders kernels of
     * different communicators by their host issue order (the same on every rank) only
     * when asked, and without that two ranks may start them in opposite orders and
     * wait on each other. Read by NCCL at its first init; a user's own value stands. */
    setenv("NCCL_LAUNCH_ORDER_IMPLICIT", "1", 0);
    ncclUniqueId id;
    ncclResult_t r = ncclSuccess;
    if (rank == 0) r = ncclGetUniqueId(&id);
    /* every rank takes part in the broadcast even when rank 0 failed: the id's
     * first byte then says so and nobody waits in ncclCommInitRank */
    if (r != ncclSuccess) memset(&id, 0xff, sizeof id);
    if (inited && size > 1 && MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        rl_error_set("rank %d: MPI_Bcast of the NCCL id failed; check the mpirun command line", rank);
        return NULL;
    }
    if (r != ncclSuccess) {
        nccl_fail_comm(NULL, rank, "ncclGetUniqueId", r);
        return NULL;
    }
    ncclUniqueId none; /* what rank 0 sends when ncclGetUniqueId failed there */
    memset(&none, 0xff, sizeof none);
    if (!memcmp(&id, &none, sizeof id)) {
        rl_error_set("rank %d: rank 0 could not make the NCCL id (ncclGetUniqueId failed there; see rank 0's "
                     "message)", rank);
        return NULL;
    }
    ncclComm_t comm;
    r = ncclCommInitRank(&comm, size, id, rank);
    if (r != ncclSuccess) {
        nccl_fail_comm(NULL, rank, "ncclCommInitRank", r);
        return NULL;
    }
    return nc_wrap(comm, st);
}
#else
typedef int rl_comm_nccl_unused; /* ISO C wants a declaration in every file */
#endif
