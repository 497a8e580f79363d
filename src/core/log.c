/* log.c: leveled messages on rank 0, a monotonic clock, small formatting helpers. */
#include "raylight.h"

#include <stdarg.h>
#include <time.h>

static int log_level = RL_LOG_INFO;
static int log_rank = 0;

void rl_log_set_level(int level) { log_level = level; }
int rl_log_level(void) { return log_level; }
void rl_log_set_rank(int rank) { log_rank = rank; }

void rl_log(int level, const char *fmt, ...) {
    if (level > log_level || log_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

double rl_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t rl_hash64(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

char *rl_bytes_str(size_t bytes, char *buf, size_t n) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0) snprintf(buf, n, "%zu B", bytes);
    else snprintf(buf, n, "%.2f %s", v, unit[u]);
    return buf;
}
