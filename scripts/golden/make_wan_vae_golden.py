#!/usr/bin/env python3
"""Golden files for tests/test_wan_vae.c: a tiny Wan 2.1 VAE (diffusers
AutoencoderKLWan, base_dim 4, the real stage structure: dim_mult [1,2,4,4], 2 res
blocks, temporal downsample [False,True,True], z_dim 16) with random weights,
and its decode and encode outputs in fp32.

Every weight is random (norm gammas and biases included) and rounded to a
bfloat16 value, so the files store BF16 losslessly (half the bytes) while the
model runs in fp32.

Writes tests/golden/wan_vae/:
  tiny_official.safetensors   weights under the official Wan2.1 names (vae.py)
  tiny_diffusers.safetensors  the same weights under diffusers' names
  io.safetensors              z_in [16,3,4,6] normalised latents -> video [3,9,32,48]
                              (decode, clamped); video_in [3,9,32,48] -> z_enc [16,3,4,6]
                              (encode: normalised mean)
The normalisation uses Wan's 16 per-channel means/stds (diffusers config
latents_mean/latents_std): decode z*std + mean (as z / (1/std) + mean), encode
(mu - mean) * (1/std), mu = latent_dist.mean.

With --official PATH/TO/wan/modules/vae.py the official implementation is loaded
from the official-layout file as well and must agree (checks our inverse name
mapping; nothing of it is written or committed).
Run from the repository root: python3 scripts/golden/make_wan_vae_golden.py
"""
import argparse
import importlib.util
import os
import re
import sys
import types

import torch
from diffusers import AutoencoderKLWan
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "wan_vae")
BASE_DIM, Z_DIM = 4, 16
GAIN = 0.6  # weight scale; keeps the decoded video mostly inside the clamp


def diffusers_to_official(name):
    """Inverse of diffusers' convert_wan_vae_to_diffusers (our spec §7.5)."""
    n = name
    for a, b in [("quant_conv.", "conv1."), ("post_quant_conv.", "conv2.")]:
        if n.startswith(a):
            return b + n[len(a):]
    n = n.replace("encoder.conv_in.", "encoder.conv1.").replace("decoder.conv_in.", "decoder.conv1.")
    n = n.replace(".norm_out.", ".head.0.").replace(".conv_out.", ".head.2.")
    n = n.replace(".mid_block.attentions.0.", ".middle.1.")
    n = re.sub(r"\.mid_block\.resnets\.(\d)\.", lambda m: ".middle.%d." % (2 * int(m.group(1))), n)
    n = n.replace("encoder.down_blocks.", "encoder.downsamples.")

    def up(m):  # decoder.up_blocks.i.resnets.j -> upsamples.4i+j; upsamplers.0 -> upsamples.4i+3
        i, kind, j = int(m.group(1)), m.group(2), m.group(3)
        return "decoder.upsamples.%d." % (4 * i + (int(j) if kind == "resnets" else 3))
    n = re.sub(r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.", up, n)
    for a, b in [(".norm1.gamma", ".residual.0.gamma"), (".conv1.", ".residual.2."),
                 (".norm2.gamma", ".residual.3.gamma"), (".conv2.", ".residual.6."),
                 (".conv_shortcut.", ".shortcut.")]:
        if not n.startswith(("conv1.", "conv2.", "encoder.conv1.", "decoder.conv1.")):
            n = n.replace(a, b)
    return n


def randomise(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                v = 1.0 + 0.25 * torch.randn(p.shape, generator=gen)
            elif name.endswith("bias"):
                v = 0.1 * torch.randn(p.shape, generator=gen)
            else:  # conv weights: uniform with fan-in scaling
                fan_in = p[0].numel()
                v = (torch.rand(p.shape, generator=gen) * 2 - 1) * (3.0 / fan_in) ** 0.5 * GAIN
            p.copy_(v.to(torch.bfloat16).float())  # bf16-representable values


def load_official(path):
    if importlib.util.find_spec("einops") is None:  # vae.py only needs einops.rearrange for two patterns
        def rearrange(x, pattern, **kw):
            if pattern.replace(" ", "") == "bcthw->(bt)chw":
                b, c, t, h, w = x.shape
                return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
            t = kw["t"]
            bt, c, h, w = x.shape
            return x.reshape(bt // t, t, c, h, w).permute(0, 2, 1, 3, 4)
        sys.modules["einops"] = types.SimpleNamespace(rearrange=rearrange)
    spec = importlib.util.spec_from_file_location("wan_vae_official", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", help="path to the official wan/modules/vae.py, to cross-check")
    args = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20250601)
    vae = AutoencoderKLWan(base_dim=BASE_DIM, z_dim=Z_DIM, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                           temperal_downsample=[False, True, True]).float().eval()
    randomise(vae, gen)
    mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32).view(1, Z_DIM, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std, dtype=torch.float32).view(1, Z_DIM, 1, 1, 1)

    z_in = torch.randn(1, Z_DIM, 3, 4, 6, generator=gen)
    video_in = (torch.rand(1, 3, 9, 32, 48, generator=gen) * 2 - 1)
    with torch.no_grad():
        video = vae.decode(z_in / inv_std + mean).sample  # decode() clamps to [-1, 1]
        mu = vae.encode(video_in).latent_dist.mean
        z_enc = (mu - mean) * inv_std
    clamped = (video.abs() == 1).float().mean().item()
    print("video range [%.3f, %.3f], %.1f%% clamped; z_enc std %.3f" %
          (video.min(), video.max(), 100 * clamped, z_enc.std()))

    sd = {k: v.detach().contiguous() for k, v in vae.state_dict().items()}
    official = {diffusers_to_official(k): v for k, v in sd.items()}
    assert len(official) == len(sd), "name mapping is not one-to-one"

    if args.official:
        mod = load_official(args.official)
        ref = mod.WanVAE_(dim=BASE_DIM, z_dim=Z_DIM, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                          temperal_downsample=[False, True, True]).float().eval()
        ref.load_state_dict(official, strict=True)
        scale = [mean.view(-1), inv_std.view(-1)]
        with torch.no_grad():
            v2 = ref.decode(z_in, scale).clamp(-1, 1)
            z2 = ref.encode(video_in, scale)
            z2 = z2[0] if isinstance(z2, tuple) else z2  # older vae.py returns (mu, log_var)
        dv, dz = (v2 - video).abs().max().item(), (z2 - z_enc).abs().max().item()
        print("official vae.py vs diffusers: decode max diff %.3g, encode max diff %.3g" % (dv, dz))
        assert dv < 1e-5 and dz < 1e-5, "the official implementation disagrees"

    os.makedirs(OUT, exist_ok=True)
    meta = {"generator": "scripts/golden/make_wan_vae_golden.py", "base_dim": str(BASE_DIM)}
    save_file({k: v.to(torch.bfloat16) for k, v in official.items()}, os.path.join(OUT, "tiny_official.safetensors"),
              metadata=meta)
    save_file({k: v.to(torch.bfloat16) for k, v in sd.items()}, os.path.join(OUT, "tiny_diffusers.safetensors"),
              metadata=meta)
    save_file({"z_in": z_in[0].contiguous(), "video": video[0].contiguous(),
               "video_in": video_in[0].contiguous(), "z_enc": z_enc[0].contiguous()},
              os.path.join(OUT, "io.safetensors"), metadata=meta)
    for f in sorted(os.listdir(OUT)):
        print("%-28s %8d bytes" % (f, os.path.getsize(os.path.join(OUT, f))))


if __name__ == "__main__":
    main()
