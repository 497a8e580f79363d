/* comm_mpi.c: the world (launcher detection, MPI start and abort) and the
 * host-memory collectives over MPI; the "self" flavour serves one rank without
 * MPI. Large messages are cut into chunks below INT_MAX elements (MPI counts are
 * int). The nonblocking all-gathers of --fsdp prefetching keep their requests
 * per lane in the comm (MPI_Iallgather, waited with MPI_Waitall); Open MPI
 * moves them along whenever the rank is inside any MPI call. */
#include "comm/comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int mpi_started;
static rl_world world;

static int env_int(const char *const *names, int fallback) {
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return atoi(v);
    }
    return fallback;
}

/* NCCL communicators first (ncclCommAbort returns without waiting for peers),
 * then MPI_Abort, which ends every rank. */
static void abort_all(int status) {
    rl_comm_abort_devices();
    if (mpi_started) MPI_Abort(MPI_COMM_WORLD, status);
}

/* The ranks sharing this node, when no launcher variable says (MPI 3). */
static void local_from_mpi(rl_world *w) {
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &node) != MPI_SUCCESS) return;
    MPI_Comm_rank(node, &w->local_rank);
    MPI_Comm_size(node, &w->local_size);
    MPI_Comm_free(&node);
}

int rl_world_init(int *argc, char ***argv, rl_world *w) {
    static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS",
                                            "MV2_COMM_WORLD_SIZE", NULL};
    static const char *const local_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID",
                                             "MV2_COMM_WORLD_LOCAL_RANK", NULL};
    static const char *const local_size_vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                                  "SLURM_NTASKS_PER_NODE", NULL};
    memset(&world, 0, sizeof world);
    world.size = 1;
    world.local_size = 1;
    int size = env_int(size_vars, 1);
    if (size > 1) {
        if (MPI_Init(argc, argv) != MPI_SUCCESS) return rl_error_set("MPI_Init failed; check the mpirun command line");
        mpi_started = 1;
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &world.size);
        world.local_rank = env_int(local_vars, -1);
        world.local_size = env_int(local_size_vars, -1);
        if (world.local_rank < 0 || world.local_size < 1) local_from_mpi(&world);
        if (world.local_rank < 0) world.local_rank = world.rank;
        if (world.local_size < 1) world.local_size = world.size;
        world.launched = 1;
    }
    rl_set_abort_hook(abort_all);
    rl_log_set_rank(world.rank);
    *w = world;
    return 0;
}

void rl_world_finalize(void) {
    if (mpi_started) MPI_Finalize();
    mpi_started = 0;
}

/* ---------------------------------------------------------------- self */

static int self_all_to_all(rl_comm *c, const void *send, void *recv, size_t bytes) {
    if (send != recv) memmove(recv, send, bytes);
    return 0;
}
static int self_gather_start(rl_comm *c, int n, const void *const *send, void *const *recv, const size_t *bytes,
                             int lane) {
    for (int i = 0; i < n; i++)
        if (send[i] != recv[i]) memmove(recv[i], send[i], bytes[i]);
    return 0;
}
static int self_gather_wait(rl_comm *c, int lane) { return 0; }
static int self_broadcast(rl_comm *c, void *buf, size_t bytes, int root) { return 0; }
static int self_reduce(rl_comm *c, float *buf, size_t count) { return 0; }
static int self_send_recv(rl_comm *c, const void *send, int to, void *recv, int from, size_t bytes) {
    if (send != recv) memmove(recv, send, bytes);
    return 0;
}
static int self_barrier(rl_comm *c) { return 0; }
static void self_destroy(rl_comm *c) {
    if (c->device) c->device->destroy(c->device);
    free(c);
}
static rl_comm *self_split(rl_comm *c, int color, int key);

static rl_comm *comm_self_new(void) {
    rl_comm *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->kind = "self";
    c->rank = 0;
    c->size = 1;
    c->all_to_all = self_all_to_all;
    c->all_gather = self_all_to_all;
    c->all_gather_start = self_gather_start;
    c->all_gather_wait = self_gather_wait;
    c->broadcast = self_broadcast;
    c->all_reduce_sum_f32 = self_reduce;
    c->send_recv = self_send_recv;
    c->barrier = self_barrier;
    c->split = self_split;
    c->destroy = self_destroy;
    return c;
}
static rl_comm *self_split(rl_comm *c, int color, int key) { return comm_self_new(); }

/* ---------------------------------------------------------------- mpi */

#define MPI_CHUNK ((size_t)1 << 30)

static int mpi_fail(rl_comm *c, const char *what, int err) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, msg, &len);
    return rl_error_set("rank %d: MPI %s failed: %s", world.rank, what, msg);
}

typedef struct {
    MPI_Comm comm;
    MPI_Request req[RL_COPY_SLOTS][RL_COMM_BATCH_MAX]; /* a lane's outstanding all-gathers */
    int n_req[RL_COPY_SLOTS];
} mpi_impl;

#define MPI_COMM_OF(c) (((mpi_impl *)(c)->impl)->comm)

static int mpi_all_to_all(rl_comm *c, const void *send, void *recv, size_t bytes) {
    if (bytes > (size_t)INT_MAX) return rl_error_set("rank %d: all_to_all of %zu bytes per rank is too large for MPI", world.rank, bytes);
    int r = MPI_Alltoall(send == recv ? MPI_IN_PLACE : send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_OF(c));
    return r == MPI_SUCCESS ? 0 : mpi_fail(c, "all_to_all", r);
}

static int mpi_all_gather(rl_comm *c, const void *send, void *recv, size_t bytes) {
    if (bytes > (size_t)INT_MAX) return rl_error_set("rank %d: all_gather of %zu bytes per rank is too large for MPI", world.rank, bytes);
    int r = MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_OF(c));
    return r == MPI_SUCCESS ? 0 : mpi_fail(c, "all_gather", r);
}

static int check_lane(rl_comm *c, int lane, const char *what) {
    if (lane < 0 || lane >= RL_COPY_SLOTS)
        return rl_error_set("rank %d: %s on lane %d, outside 0..%d (a bug)", world.rank, what, lane, RL_COPY_SLOTS - 1);
    return 0;
}

static int mpi_gather_wait(rl_comm *c, int lane) {
    RL_TRY(check_lane(c, lane, "all_gather_wait"));
    mpi_impl *m = c->impl;
    int n = m->n_req[lane];
    m->n_req[lane] = 0;
    int r = n ? MPI_Waitall(n, m->req[lane], MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    return r == MPI_SUCCESS ? 0 : mpi_fail(c, "all_gather (nonblocking, MPI_Waitall)", r);
}

static int mpi_gather_start(rl_comm *c, int n, const void *const *send, void *const *recv, const size_t *bytes,
                            int lane) {
    RL_TRY(check_lane(c, lane, "all_gather_start"));
    mpi_impl *m = c->impl;
    if (m->n_req[lane])
        return rl_error_set("rank %d: all_gather_start on lane %d, whose last batch was not waited for (a bug)",
                            world.rank, lane);
    if (n < 0 || n > RL_COMM_BATCH_MAX)
        return rl_error_set("rank %d: a batch of %d all-gathers; at most %d (a bug)", world.rank, n, RL_COMM_BATCH_MAX);
    for (int i = 0; i < n; i++) {
        if (bytes[i] > (size_t)INT_MAX) {
            (void)mpi_gather_wait(c, lane); /* what was issued must finish before the buffers go */
            return rl_error_set("rank %d: all_gather of %zu bytes per rank is too large for MPI", world.rank, bytes[i]);
        }
        int r = MPI_Iallgather(send[i], (int)bytes[i], MPI_BYTE, recv[i], (int)bytes[i], MPI_BYTE, m->comm,
                               &m->req[lane][m->n_req[lane]]);
        if (r != MPI_SUCCESS) {
            (void)mpi_gather_wait(c, lane);
            return mpi_fail(c, "all_gather (nonblocking, MPI_Iallgather)", r);
        }
        m->n_req[lane]++;
    }
    return 0;
}

static int mpi_broadcast(rl_comm *c, void *buf, size_t bytes, int root) {
    for (size_t off = 0; off < bytes; off += MPI_CHUNK) {
        size_t n = bytes - off < MPI_CHUNK ? bytes - off : MPI_CHUNK;
        int r = MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, MPI_COMM_OF(c));
        if (r != MPI_SUCCESS) return mpi_fail(c, "broadcast", r);
    }
    return 0;
}

static int mpi_reduce(rl_comm *c, float *buf, size_t count) {
    for (size_t off = 0; off < count; off += MPI_CHUNK) {
        size_t n = count - off < MPI_CHUNK ? count - off : MPI_CHUNK;
        int r = MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_OF(c));
        if (r != MPI_SUCCESS) return mpi_fail(c, "all_reduce", r);
    }
    return 0;
}

static int mpi_send_recv(rl_comm *c, const void *send, int to, void *recv, int from, size_t bytes) {
    if (bytes > (size_t)INT_MAX) return rl_error_set("rank %d: send_recv of %zu bytes is too large for MPI", world.rank, bytes);
    int r = MPI_Sendrecv(send, (int)bytes, MPI_BYTE, to, 7, recv, (int)bytes, MPI_BYTE, from, 7, MPI_COMM_OF(c),
                         MPI_STATUS_IGNORE);
    return r == MPI_SUCCESS ? 0 : mpi_fail(c, "send_recv", r);
}

static int mpi_barrier(rl_comm *c) {
    int r = MPI_Barrier(MPI_COMM_OF(c));
    return r == MPI_SUCCESS ? 0 : mpi_fail(c, "barrier", r);
}

static void mpi_destroy(rl_comm *c) {
    if (c->device) c->device->destroy(c->device);
    mpi_impl *m = c->impl;
    for (int l = 0; l < RL_COPY_SLOTS; l++) /* requests still out must not outlive their comm */
        if (m->n_req[l]) MPI_Waitall(m->n_req[l], m->req[l], MPI_STATUSES_IGNORE);
    if (m->comm != MPI_COMM_WORLD) MPI_Comm_free(&m->comm);
    free(m);
    free(c);
}

static rl_comm *comm_mpi_new(MPI_Comm m);

static rl_comm *mpi_split(rl_comm *c, int color, int key) {
    MPI_Comm sub;
    if (MPI_Comm_split(MPI_COMM_OF(c), color, key, &sub) != MPI_SUCCESS) {
        rl_error_set("rank %d: MPI_Comm_split failed", world.rank);
        return NULL;
    }
    return comm_mpi_new(sub);
}

static rl_comm *comm_mpi_new(MPI_Comm m) {
    rl_comm *c = calloc(1, sizeof *c);
    mpi_impl *pm = calloc(1, sizeof *pm);
    if (!c || !pm) {
        free(c);
        free(pm);
        rl_error_set("out of memory creating a communicator");
        return NULL;
    }
    pm->comm = m;
    c->kind = "mpi";
    c->impl = pm;
    MPI_Comm_rank(m, &c->rank);
    MPI_Comm_size(m, &c->size);
    c->all_to_all = mpi_all_to_all;
    c->all_gather = mpi_all_gather;
    c->all_gather_start = mpi_gather_start;
    c->all_gather_wait = mpi_gather_wait;
    c->broadcast = mpi_broadcast;
    c->all_reduce_sum_f32 = mpi_reduce;
    c->send_recv = mpi_send_recv;
    c->barrier = mpi_barrier;
    c->split = mpi_split;
    c->destroy = mpi_destroy;
    return c;
}

rl_comm *rl_comm_world_host(void) {
    if (!mpi_started) return comm_self_new();
    return comm_mpi_new(MPI_COMM_WORLD);
}
