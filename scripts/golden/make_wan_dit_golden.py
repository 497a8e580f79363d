#!/usr/bin/env python3
"""Golden files for tests/test_wan_dit.c: tiny random Wan 2.1 DiTs written in the
three checkpoint layouts users download, inputs, and the reference output of
diffusers' WanTransformer3DModel in fp32.

Each case writes two files to tests/golden/wan_dit/:
    <case>.safetensors     the weights, in the case's layout and storage dtype
    <case>.io.safetensors  x f32 [16,T,H,W], t f32 [1], context f32 [L,text_dim]
                           (the `raylight-gen eval dit` inputs) and y_ref f32 [16,T,H,W]
The reference is computed from the weights exactly as stored (bf16/f16-rounded,
or fp8 dequantised as float(w_fp8) * scale_weight), upcast to fp32, so the C side
compares exact maths at fp32 (tolerance 1e-4 relative).

Reference details (see the report in the commit / spec §3):
- diffusers takes the context as given; the official WanModel zero-pads it to
  text_len = 512 before text_embedding. We pad before calling diffusers.
- diffusers' Timesteps computes the sinusoid in float32; the official code in
  float64. We replace diffusers' timesteps_proj with the float64 version (the
  official maths) and print how far the float32 one is.
- Small models: heads of 32 (dim 64) keep the files small; the C loader reads the
  head size from the metadata key "raylight_head_dim" (absent = 128, as every
  released Wan 2.1 model). One case uses the real head size 128.
- With WAN21_REPO=/path/to/Wan2.1 checkout, the official wan/modules/model.py is
  imported at run time (flash attention replaced by torch SDPA) and its output
  compared with diffusers'. Nothing of that code is stored here.

Run from anywhere: python3 scripts/golden/make_wan_dit_golden.py
"""
import importlib.util
import math
import os
import sys
import types

import torch
import torch.nn.functional as F
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "wan_dit")
TEXT_LEN = 512

# diffusers -> official names: the inverse of diffusers' convert_wan_transformer_to_diffusers
# (spec §7.3), written per component.
TOP = {
    "condition_embedder.time_embedder.linear_1": "time_embedding.0",
    "condition_embedder.time_embedder.linear_2": "time_embedding.2",
    "condition_embedder.time_proj": "time_projection.1",
    "condition_embedder.text_embedder.linear_1": "text_embedding.0",
    "condition_embedder.text_embedder.linear_2": "text_embedding.2",
    "scale_shift_table": "head.modulation",
    "proj_out": "head.head",
    "patch_embedding": "patch_embedding",
}
BLOCK = {
    "scale_shift_table": "modulation",
    "attn1.to_q": "self_attn.q", "attn1.to_k": "self_attn.k", "attn1.to_v": "self_attn.v",
    "attn1.to_out.0": "self_attn.o", "attn1.norm_q": "self_attn.norm_q", "attn1.norm_k": "self_attn.norm_k",
    "attn2.to_q": "cross_attn.q", "attn2.to_k": "cross_attn.k", "attn2.to_v": "cross_attn.v",
    "attn2.to_out.0": "cross_attn.o", "attn2.norm_q": "cross_attn.norm_q", "attn2.norm_k": "cross_attn.norm_k",
    "norm2": "norm3",  # the affine cross-attention norm: names swapped between the layouts
    "ffn.net.0.proj": "ffn.0", "ffn.net.2": "ffn.2",
}


def to_official(name):
    if name.startswith("blocks."):
        _, i, rest = name.split(".", 2)
        for d, o in BLOCK.items():
            if rest == d or rest.startswith(d + "."):
                return f"blocks.{i}.{o}{rest[len(d):]}"
        raise KeyError(name)
    for d, o in TOP.items():
        if name == d or name.startswith(d + "."):
            return o + name[len(d):]
    raise KeyError(name)


def sinusoid_f64(dim, t):
    """The official sinusoidal_embedding_1d: float64, cos first."""
    half = dim // 2
    pos = t.to(torch.float64)
    s = torch.outer(pos, torch.pow(10000, -torch.arange(half).to(pos).div(half)))
    return torch.cat([torch.cos(s), torch.sin(s)], dim=1)


class OfficialTimesteps(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        return sinusoid_f64(self.dim, t).float()


def make_model(dim, heads, layers, ffn, text_dim, freq_dim, seed):
    torch.manual_seed(seed)
    m = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=dim // heads,
                              in_channels=16, out_channels=16, text_dim=text_dim, freq_dim=freq_dim, ffn_dim=ffn,
                              num_layers=layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("scale_shift_table"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif "norm" in name and name.endswith("weight"):  # RMSNorm / affine LayerNorm gains
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
    m.condition_embedder.timesteps_proj = OfficialTimesteps(freq_dim)
    return m.eval()


def is_block_linear_weight(name, t):
    return name.startswith("blocks.") and name.endswith(".weight") and t.ndim == 2


def quantise(sd_official, storage):
    """(stored tensors by official name, dequantised fp32 tensors by official name)."""
    stored, deq = {}, {}
    for k, v in sd_official.items():
        if storage in ("f32", "bf16", "f16"):
            dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[storage]
            stored[k] = v.to(dt).contiguous()
            deq[k] = stored[k].float()
        elif storage in ("fp8_scaled", "fp8_plain"):
            # scaled files quantise the block Linears; the plain file every matrix
            if is_block_linear_weight(k, v) or (storage == "fp8_plain" and v.ndim in (2, 5)):
                if storage == "fp8_scaled":
                    scale = (v.abs().max() / 448.0).float().reshape(())
                    q = (v / scale).to(torch.float8_e4m3fn)
                    stored[k] = q
                    stored[k[: -len(".weight")] + ".scale_weight"] = scale.reshape(1).clone()
                    deq[k] = q.float() * scale
                else:
                    q = v.to(torch.float8_e4m3fn)
                    stored[k] = q
                    deq[k] = q.float()
            else:  # the rest of a ComfyUI fp8 file stays 16-bit
                stored[k] = v.to(torch.bfloat16).contiguous()
                deq[k] = stored[k].float()
        else:
            raise ValueError(storage)
    return stored, deq


def official_state(m):
    return {to_official(k): v.detach().clone() for k, v in m.state_dict().items()}


def load_official_into(m, deq):
    inv = {to_official(k): k for k in m.state_dict().keys()}
    m.load_state_dict({inv[k]: v for k, v in deq.items()}, strict=True)


def run_diffusers(m, x, t, context):
    ctx = torch.cat([context, context.new_zeros(TEXT_LEN - context.shape[0], context.shape[1])])
    with torch.no_grad():
        return m(x[None], t, ctx[None], return_dict=False)[0][0]


def load_official_wan(repo):
    """Imports wan/modules/model.py from a Wan2.1 checkout without its package
    __init__ (which needs flash-attn and more), with attention on torch SDPA."""
    pkg = types.ModuleType("wanref")
    pkg.__path__ = []
    sys.modules["wanref"] = pkg

    def sdpa_attention(q, k, v, q_lens=None, k_lens=None, dropout_p=0., softmax_scale=None, q_scale=None,
                       causal=False, window_size=(-1, -1), deterministic=False, dtype=None, version=None):
        mask = None
        if k_lens is not None:
            lk = k.shape[1]
            mask = (torch.arange(lk)[None, :] < k_lens[:, None])[:, None, None, :]
        o = F.scaled_dot_product_attention(q.transpose(1, 2).float(), k.transpose(1, 2).float(),
                                           v.transpose(1, 2).float(), attn_mask=mask)
        return o.transpose(1, 2).to(q.dtype)

    att = types.ModuleType("wanref.attention")
    att.flash_attention = sdpa_attention
    sys.modules["wanref.attention"] = att
    spec = importlib.util.spec_from_file_location("wanref.model", os.path.join(repo, "wan", "modules", "model.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["wanref.model"] = mod
    spec.loader.exec_module(mod)
    return mod


def run_official(mod, cfg, deq, x, t, context):
    m = mod.WanModel(model_type="t2v", patch_size=(1, 2, 2), text_len=TEXT_LEN, in_dim=16, dim=cfg["dim"],
                     ffn_dim=cfg["ffn"], freq_dim=cfg["freq_dim"], text_dim=cfg["text_dim"], out_dim=16,
                     num_heads=cfg["heads"], num_layers=cfg["layers"], qk_norm=True, cross_attn_norm=True, eps=1e-6)
    m.load_state_dict({k: v for k, v in deq.items()}, strict=True)
    m.eval()
    seq_len = x.shape[1] * (x.shape[2] // 2) * (x.shape[3] // 2)
    with torch.no_grad():
        return m([x], t, [context], seq_len)[0]


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


CASES = [
    # name, layout, storage, model config, (T, H, W), L, t
    ("official_f32", "official", "f32", "small", (2, 4, 6), 7, 999.0),
    ("comfy_bf16", "comfy", "bf16", "small", (3, 6, 4), 5, 517.25),
    ("comfy_fp8_scaled", "comfy", "fp8_scaled", "small", (2, 4, 4), 11, 250.0),
    ("diffusers_f16", "diffusers", "f16", "small", (2, 6, 4), 7, 3.0),
    ("official_d128_fp8", "official", "fp8_plain", "d128", (2, 4, 6), 9, 800.0),
]
MODELS = {
    "small": dict(dim=64, heads=2, layers=2, ffn=32, text_dim=16, freq_dim=16, seed=11),
    "d128": dict(dim=128, heads=1, layers=1, ffn=32, text_dim=16, freq_dim=16, seed=12),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    repo = os.environ.get("WAN21_REPO")
    official = load_official_wan(repo) if repo else None
    for i, (name, layout, storage, mname, (T, H, W), L, tval) in enumerate(CASES):
        cfg = MODELS[mname]
        m = make_model(cfg["dim"], cfg["heads"], cfg["layers"], cfg["ffn"], cfg["text_dim"], cfg["freq_dim"],
                       cfg["seed"])
        stored, deq = quantise(official_state(m), storage)
        load_official_into(m, deq)
        g = torch.Generator().manual_seed(100 + i)
        x = torch.randn(16, T, H, W, generator=g)
        context = torch.randn(L, cfg["text_dim"], generator=g)
        t = torch.tensor([tval], dtype=torch.float32)
        y = run_diffusers(m, x, t, context)
        # Information only: diffusers' own float32 sinusoid instead of the official float64 one.
        m32 = make_model(cfg["dim"], cfg["heads"], cfg["layers"], cfg["ffn"], cfg["text_dim"], cfg["freq_dim"],
                         cfg["seed"])
        load_official_into(m32, deq)
        from diffusers.models.embeddings import Timesteps
        m32.condition_embedder.timesteps_proj = Timesteps(cfg["freq_dim"], flip_sin_to_cos=True,
                                                          downscale_freq_shift=0)
        y32 = run_diffusers(m32, x, t, context)
        line = f"{name}: y {list(y.shape)} max|y| {y.abs().max():.4f}; diffusers f32-sinusoid vs f64: {rel(y32, y):.2e}"
        if official is not None:
            yo = run_official(official, cfg, deq, x, t, context)
            line += f"; official WanModel vs diffusers: {rel(yo, y):.2e}"
        print(line)

        meta = {"format": "pt"}
        if cfg["dim"] // cfg["heads"] != 128:
            meta["raylight_head_dim"] = str(cfg["dim"] // cfg["heads"])
        if layout == "diffusers":
            inv = {to_official(k): k for k in m.state_dict().keys()}
            out = {inv[k]: v for k, v in stored.items()}
        elif layout == "comfy":
            out = {"model.diffusion_model." + k: v for k, v in stored.items()}
            if storage == "fp8_scaled":
                out["model.diffusion_model.scaled_fp8"] = torch.zeros(0, dtype=torch.float8_e4m3fn)
        else:
            out = stored
        save_file(out, os.path.join(OUT, name + ".safetensors"), metadata=meta)
        save_file({"x": x.contiguous(), "t": t, "context": context.contiguous(), "y_ref": y.contiguous()},
                  os.path.join(OUT, name + ".io.safetensors"))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(CASES)} cases to {os.path.normpath(OUT)} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
