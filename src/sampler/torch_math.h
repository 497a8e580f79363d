/* torch_math.h: fp32 log, exp and expm1 as close as we can get to PyTorch's CPU kernels.
 *
 * torch.expm1 on CPU float tensors (0-dim ones included) runs SLEEF's
 * Sleef_expm1f8_u10 (AVX2 build, with FMA): rl_torch_expm1f replays that
 * algorithm and matches it bit for bit (checked on 500k inputs). torch.log and
 * torch.exp go to MKL VML in the x86 wheels, which we cannot reproduce; those
 * two return the correctly rounded result (one ulp away from torch for ~4% of
 * inputs). glibc's expm1f/logf differ from torch for ~5-10% of inputs.
 */
#ifndef RL_SAMPLER_TORCH_MATH_H
#define RL_SAMPLER_TORCH_MATH_H

float rl_torch_logf(float x);
float rl_torch_expf(float x);
float rl_torch_expm1f(float x);

#endif
