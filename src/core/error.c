/* error.c: the error sentence of the current thread, and the one way to die.
 * Library code never prints or exits; it sets a sentence and returns -1. The CLI
 * (or a fatal invariant) prints it once and ends every rank through the abort
 * hook that the comm layer installs (MPI_Abort), so no rank is left waiting. */
#include "raylight.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char error_buf[2048];
static void (*abort_hook)(int status);

int rl_error_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_buf, sizeof error_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int rl_error_wrap(const char *fmt, ...) {
    char prev[sizeof error_buf];
    memcpy(prev, error_buf, sizeof prev);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_buf, sizeof error_buf, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    size_t k = (size_t)n, p = strlen(prev);
    if (prev[0] && k + 2 < sizeof error_buf) {
        memcpy(error_buf + k, ": ", 2);
        k += 2;
        if (p > sizeof error_buf - 1 - k) p = sizeof error_buf - 1 - k;
        memcpy(error_buf + k, prev, p);
        error_buf[k + p] = 0;
    }
    return -1;
}

const char *rl_error_message(void) { return error_buf[0] ? error_buf : "unknown error"; }
void rl_error_clear(void) { error_buf[0] = 0; }
void rl_set_abort_hook(void (*hook)(int status)) { abort_hook = hook; }

static RL_NORETURN void die_v(const char *hint, const char *fmt, va_list ap) {
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fflush(stdout);
    fprintf(stderr, "raylight-gen: error: %s\n", msg);
    if (hint) fprintf(stderr, "hint: %s\n", hint);
    fflush(stderr);
    if (abort_hook) abort_hook(1);
    exit(1);
}

void rl_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    die_v(NULL, fmt, ap);
}

void rl_die_hint(const char *hint, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    die_v(hint, fmt, ap);
}
