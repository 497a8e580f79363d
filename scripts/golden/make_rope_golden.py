#!/usr/bin/env python3
"""Golden file for the Wan 3-axis RoPE table (tests/test_backend_cpu.c,
rl_rope3d_table): diffusers' WanRotaryPosEmbed (the public port of
wan/modules/model.py rope_params + the per-token concatenation in rope_apply) on a
480x832, 81-frame latent grid (21 x 60 x 104 tokens after the (1, 2, 2) patch),
head_dim 128. Only a spread of rows is stored, so large positions on every axis
are covered without storing the whole table.

Writes tests/golden/rope3d.safetensors:
  tokens  I64 [R]      token indices (row-major over frames, rows, columns)
  cos     F32 [R, 64]  cos of each rotation pair's angle (diffusers stores each
  sin     F32 [R, 64]  value twice, for the interleaved pairs x[2j], x[2j+1])
  grid    I64 [4]      frames, height tokens, width tokens, head_dim
Run from the repository root: python3 scripts/golden/make_rope_golden.py
"""
import os

import torch
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "rope3d.safetensors")


def main():
    F, Hp, Wp, d = 21, 60, 104, 128
    rope = WanRotaryPosEmbed(attention_head_dim=d, patch_size=(1, 2, 2), max_seq_len=1024)
    latents = torch.zeros(1, 1, F, Hp * 2, Wp * 2)
    cos, sin = rope(latents)  # [1, L, 1, d], each pair's value repeated twice
    L = F * Hp * Wp
    assert cos.shape == (1, L, 1, d)
    cos, sin = cos.reshape(L, d), sin.reshape(L, d)
    assert torch.equal(cos[:, 0::2], cos[:, 1::2]) and torch.equal(sin[:, 0::2], sin[:, 1::2])
    gen = torch.Generator().manual_seed(7)
    tokens = torch.cat([torch.tensor([0, 1, Wp - 1, Wp, Hp * Wp - 1, Hp * Wp, L - Wp, L - 1]),
                        torch.randint(0, L, (40,), generator=gen)]).to(torch.int64)
    t = {
        "tokens": tokens,
        "cos": cos[tokens, 0::2].float().contiguous(),
        "sin": sin[tokens, 0::2].float().contiguous(),
        "grid": torch.tensor([F, Hp, Wp, d], dtype=torch.int64),
    }
    import diffusers
    save_file(t, OUT, metadata={"producer": "scripts/golden/make_rope_golden.py", "diffusers": diffusers.__version__})
    print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
