/* rl_random.h: a counter-based normal generator shared by the CPU backend and
 * the CUDA kernels, so that random benchmark weights are the same numbers on
 * every backend: element i of stream `seed` is a function of (seed, i) alone. */
#ifndef RL_RANDOM_H
#define RL_RANDOM_H

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define RL_HD __host__ __device__ __forceinline__
#else
#define RL_HD static inline
#endif

/* splitmix64 finaliser */
RL_HD uint64_t rl_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A standard normal for element i of stream seed (Box-Muller on two 24-bit uniforms). */
RL_HD float rl_normal_at(uint64_t seed, uint64_t i) {
    uint64_t h = rl_mix64(seed * 0x9E3779B97F4A7C15ull + i + 1);
    float u1 = ((float)(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
    float u2 = (float)((h >> 16) & 0xFFFFFFull) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307f * u2);
}

#endif
