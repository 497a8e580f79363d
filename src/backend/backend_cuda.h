/* backend_cuda.h: what the CUDA backend's two files share (backend_cuda.c: setup,
 * memory, checks, every op but matmul; backend_cuda_matmul.c: cuBLASLt). Included
 * only by them, and only when built with CUDA (RL_HAVE_CUDA). */
#ifndef RL_BACKEND_CUDA_H
#define RL_BACKEND_CUDA_H

#include "raylight.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "../../kernels/kernels.h"

typedef struct {
    int device;
    struct cudaDeviceProp prop;
    cudaStream_t stream;     /* every op runs on it, in order */
    cublasLtHandle_t lt;
    cublasHandle_t blas;     /* the fallback GEMM when cuBLASLt offers no algorithm */
    void *workspace;         /* cuBLASLt workspace, workspace_bytes */
    size_t workspace_bytes;
    int sync_each;           /* RL_CUDA_SYNC=1: synchronise after every op */
    int allow_tf32;          /* conv3d of f32 tensors on TF32 tensor cores (as torch's default); RAYLIGHT_TF32=0 turns it off */
    /* block swap: uploads on their own stream, ordered by events per slot */
    cudaStream_t copy_stream;
    cudaEvent_t copied[RL_COPY_SLOTS];   /* on copy_stream after the slot's last copy */
    cudaEvent_t released[RL_COPY_SLOTS]; /* on stream after the last op reading the slot */
    int released_set[RL_COPY_SLOTS];     /* released[] has been recorded at least once */
    int copied_set[RL_COPY_SLOTS];       /* copied[] has been recorded at least once */
    /* --fsdp prefetch: the slots' all-gathers on their own stream (comm_nccl.c's
     * all_gather_start), after released[] and copied[], announced by gathered[] */
    cudaStream_t comm_stream;
    cudaEvent_t gathered[RL_COPY_SLOTS];
} cuda_state;

/* Dtype demands of cuda_check_tensor. */
enum { CK_FLOAT = 0 /* f32 or bf16, contiguous */, CK_F32, CK_ANY /* contiguous */, CK_STRIDED /* any */ };

int cuda_check_tensor(const char *op, const char *role, const rl_tensor *t, int want);
/* Each sets an error sentence "op: CUDA error <name> (<text>) at file:line in <what>;
 * hint: ..." and returns -1. */
int cuda_fail(const char *op, const char *file, int line, const char *what, cudaError_t e);
int cublas_fail(const char *op, const char *file, int line, const char *what, cublasStatus_t s);
/* cudaSetDevice for the calling thread. */
int cuda_enter(rl_backend *be, const char *op);
/* The end of every op: synchronises and checks when RL_CUDA_SYNC is set. */
int cuda_op_done(cuda_state *st, const char *op);

/* Stream-ordered scratch memory (cudaMallocAsync; free with cudaFreeAsync on
 * st->stream); out of memory is a sentence naming the op and the size. */
int cuda_scratch_alloc(cuda_state *st, const char *op, void **p, size_t bytes);
/* conv3d after the checks (backend_cuda_conv.c): the implicit GEMM, which reads
 * prefix frames in place, else (prefix frames concatenated first) the direct kernel
 * for unpaired dtypes, the tap GEMMs (stride 1) or im2col; RL_CUDA_CONV forces one. */
int cuda_conv3d_run(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                    const rl_conv3d_params *p, const int64_t out[3]);

/* Attention after the checks (backend_cuda_attention.c): the tensor-core kernel,
 * the GEMM path (head dim > 256) or the fp32 kernel; RL_CUDA_ATTENTION forces one. */
int cuda_attention_run(cuda_state *st, const char *op, const cuda_attention_args *a);
/* The path cuda_attention_run takes for these arguments, as a short name in buf. */
const char *cuda_attention_path_name(const cuda_attention_args *a, char *buf, size_t n);

int cuda_matmul_op(rl_backend *be, rl_tensor *y, const rl_tensor *x, const rl_tensor *w, const rl_tensor *b,
                   rl_activation act);

#define CUDA_TRY(op, call)                                                          \
    do {                                                                            \
        cudaError_t e_ = (call);                                                    \
        if (e_ != cudaSuccess) return cuda_fail((op), __FILE__, __LINE__, #call, e_); \
    } while (0)

#define CUBLAS_TRY(op, call)                                                                 \
    do {                                                                                     \
        cublasStatus_t s_ = (call);                                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) return cublas_fail((op), __FILE__, __LINE__, #call, s_); \
    } while (0)

/* A kernel launcher's status (a cudaError_t as int). */
#define KERNEL_TRY(op, call)                                                                        \
    do {                                                                                            \
        int rc_ = (call);                                                                           \
        if (rc_ != 0) return cuda_fail((op), __FILE__, __LINE__, "a kernel launch", (cudaError_t)rc_); \
    } while (0)

#endif
