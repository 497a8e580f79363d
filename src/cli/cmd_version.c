/* cmd_version.c: `raylight-gen version`: version, compiled backends and the
 * versions of the libraries linked in. */
#include "cli/commands.h"
#include "raylight.h"

#include <cjson/cJSON.h>
#include <mpi.h>
#include <string.h>
#ifdef RL_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#endif
#ifdef RL_HAVE_CUDA
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#endif
#ifdef RL_HAVE_NCCL
#include <nccl.h>
#endif

int cmd_version(int argc, char **argv) {
    (void)argv;
    if (argc > 0) return rl_error_set("version takes no arguments");
    printf("raylight-gen %s\n", RL_VERSION);
#ifdef RL_HAVE_CUDA
    printf("backends: cpu, cuda\n");
#else
    printf("backends: cpu (built without CUDA)\n");
#endif
    printf("cJSON %s\n", cJSON_Version());
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpi, &len);
    char *nl = strchr(mpi, '\n');
    if (nl) *nl = 0;
    char *comma = strchr(mpi, ',');
    if (comma) *comma = 0;
    printf("MPI: %s\n", mpi);
#ifdef RL_HAVE_FFMPEG
    unsigned v = avcodec_version();
    printf("libavcodec %u.%u.%u, libavformat %u.%u.%u\n", v >> 16, (v >> 8) & 255, v & 255,
           avformat_version() >> 16, (avformat_version() >> 8) & 255, avformat_version() & 255);
#else
    printf("libavcodec: not built in (make FFMPEG=0): MP4 output is unavailable, PNG works\n");
#endif
#ifdef RL_HAVE_CUDA
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
    printf("CUDA runtime %d.%d, driver %d.%d, cuBLASLt %zu\n", rt / 1000, (rt % 1000) / 10, drv / 1000,
           (drv % 1000) / 10, cublasLtGetVersion());
#endif
#ifdef RL_HAVE_NCCL
    int nv = 0;
    ncclGetVersion(&nv);
    printf("NCCL %d.%d.%d\n", nv / 10000, (nv / 100) % 100, nv % 100);
#endif
    return 0;
}
