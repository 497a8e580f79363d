/* noise.h: initial latent noise identical to PyTorch's CPU generator.
 *
 * rl_randn_torch() equals torch.randn(n, generator=torch.manual_seed(seed)) in
 * float32 on the CPU bit for bit (what ComfyUI does), and so does any shape with
 * n elements (randn fills a contiguous tensor in flat order). Only the low 32
 * bits of the seed matter, as in torch (mt19937 is seeded with seed & 0xffffffff).
 * The noise does not depend on the number of ranks: every rank draws the whole
 * tensor and keeps its slice (2M values take ~0.1 s).
 * "torch" here is torch on x86-64 with AVX2 (what every x86 wheel dispatches,
 * AVX512 CPUs included); torch on aarch64 or on a pre-AVX2 CPU computes the
 * n >= 16 path with libm's logf/cosf/sinf and may differ in the last bits.
 * Wan's own scripts draw their noise on CUDA (Philox): a different stream.
 */
#ifndef RL_SAMPLER_NOISE_H
#define RL_SAMPLER_NOISE_H

#include "raylight.h"

/* at::mt19937 (the 32-bit Mersenne Twister of torch's CPU generator). */
typedef struct {
    uint32_t state[624];
    int left;      /* outputs left before the next twist */
    uint32_t next; /* index of the next state word to temper */
} rl_mt19937;

void rl_mt19937_seed(rl_mt19937 *g, uint64_t seed);
uint32_t rl_mt19937_next(rl_mt19937 *g);

/* out[0..n) = torch.randn(n, generator=torch.manual_seed(seed)), float32, CPU.
 * n >= 16 takes torch's vectorised Box-Muller path (AVX2 flavour, as every x86-64
 * build of torch dispatches it), n < 16 the double-precision scalar path.
 * Returns -1 (error set) when n < 0 or out is NULL with n > 0. */
int rl_randn_torch(float *out, int64_t n, uint64_t seed);

/* A fresh seed for "--seed -1": from /dev/urandom (time and pid as a fallback),
 * in [0, 2^32) because torch's CPU generator ignores the higher bits anyway; the
 * caller prints it so that the run can be repeated. */
uint64_t rl_seed_random(void);

/* Parses a --seed value: a decimal integer in [0, 2^64), or -1 for a random seed
 * (then *is_random = 1 and *seed = rl_seed_random()). Other negative numbers are
 * taken as torch takes them (two's complement, so -2 == 2^64-2). Errors name the
 * flag and the text. */
int rl_seed_parse(const char *text, uint64_t *seed, int *is_random);

#endif
