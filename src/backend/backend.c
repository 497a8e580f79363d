/* backend.c: picking a backend by name (the --backend flag), and the CUDA entry
 * point of a binary built without CUDA, so callers need no #ifdef. */
#include "raylight.h"

#include <string.h>

#ifndef RL_HAVE_CUDA
rl_backend *rl_backend_cuda(int device_index) {
    (void)device_index;
    rl_error_set("backend 'cuda': this binary was built without CUDA (make CUDA=0 or no nvcc found); "
                 "rebuild on a machine with the CUDA toolkit, or use --backend cpu");
    return NULL;
}
#endif

rl_backend *rl_backend_by_name(const char *name) {
    if (!name) {
        rl_error_set("backend: no name given; choose one of: cpu, cuda");
        return NULL;
    }
    if (strcmp(name, "cpu") == 0) return rl_backend_cpu();
    if (strcmp(name, "cuda") == 0) return rl_backend_cuda(0);
    rl_error_set("backend '%s' is unknown; choose one of: cpu, cuda", name);
    return NULL;
}
