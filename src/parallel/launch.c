/* launch.c: start-of-run agreement between ranks (see launch.h). */
#include "parallel/launch.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

static uint64_t args_hash(int argc, char **argv) {
    uint64_t h = rl_hash64("raylight-args", 13);
    for (int i = 0; i < argc; i++) {
        uint64_t part = rl_hash64(argv[i], strlen(argv[i]) + 1);
        h = (h ^ part) * 0x100000001b3ull + (uint64_t)i;
    }
    /* flags' environment twins count as flags; the order of environ may differ */
    uint64_t env = 0;
    for (char **e = environ; e && *e; e++)
        if (!strncmp(*e, "RAYLIGHT_", 9) && strncmp(*e, "RAYLIGHT_TEST_FAIL_RANK=", 24))
            env += rl_hash64(*e, strlen(*e));
    return h ^ (env * 0x9E3779B97F4A7C15ull);
}

int rl_launch_check_args(rl_comm *c, int argc, char **argv) {
    if (c->size == 1) return 0;
    uint64_t mine = args_hash(argc, argv);
    uint64_t *all = malloc((size_t)c->size * sizeof *all);
    if (!all) return rl_error_set("out of memory checking the ranks' arguments");
    if (c->all_gather(c, &mine, all, sizeof mine) != 0) {
        free(all);
        return rl_error_wrap("comparing the ranks' command lines");
    }
    int differs = -1;
    for (int r = 1; r < c->size && differs < 0; r++)
        if (all[r] != all[0]) differs = r;
    free(all);
    if (differs < 0) return 0;
    if (c->rank != 0) c->barrier(c); /* rank 0 reports and its exit ends us */
    return rl_error_set("rank %d was started with other arguments (or RAYLIGHT_* environment) than rank 0; start "
                        "every rank with the same command line", differs);
}

int rl_launch_broadcast_texts(rl_comm *c, float **arr, int64_t *lens, int n, int64_t *dim) {
    if (c->size == 1 || n == 0) return 0;
    int64_t *head = malloc((size_t)(n + 1) * sizeof *head);
    if (!head) return rl_error_set("out of host memory for the text contexts");
    head[0] = *dim;
    for (int i = 0; i < n; i++) head[i + 1] = lens[i];
    int rc = c->broadcast(c, head, (size_t)(n + 1) * sizeof *head, 0);
    if (rc == 0 && (head[0] <= 0 || head[0] > 65536)) rc = rl_error_set("rank %d: rank 0 sent an implausible text width", c->rank);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (head[i + 1] < 0 || head[i + 1] > 4096) {
            rc = rl_error_set("rank %d: rank 0 sent an implausible text length", c->rank);
            break;
        }
        size_t bytes = (size_t)(head[i + 1] * head[0]) * sizeof(float);
        if (c->rank != 0) {
            lens[i] = head[i + 1];
            arr[i] = malloc(bytes + 1);
            if (!arr[i]) rc = rl_error_set("out of host memory for the text contexts");
        }
        if (rc == 0) rc = c->broadcast(c, arr[i], bytes, 0);
    }
    if (c->rank != 0) *dim = head[0];
    free(head);
    return rc == 0 ? 0 : rl_error_wrap("sharing the text contexts from rank 0");
}

int rl_launch_test_fail(int rank) {
    const char *v = getenv("RAYLIGHT_TEST_FAIL_RANK");
    return v && *v && atoi(v) == rank;
}
