#!/usr/bin/env python3
"""The PyTorch yardstick for `make bench`: the same work as our benchmarks, through
diffusers' WanTransformer3DModel / AutoencoderKLWan and torch SDPA, on the same GPU,
with random weights (speed does not depend on their values).

  python3 scripts/bench/torch_wan.py dit --model 14b --size 832x480 --frames 33
  python3 scripts/bench/torch_wan.py attention --heads 40 --tokens 14040
  python3 scripts/bench/torch_wan.py vae --size 832x480 --frames 81

Prints one line per measurement: 'torch <what>: <ms> ms ... ' with TFLOP/s where it
applies (model FLOPs as in issue 8: per block 12*L*D^2 + 4*512*D^2 + 4*L^2*D + 4*L*512*D + 4*L*D*F).
"""
import argparse, time, torch

CONFIGS = {"1.3b": dict(dim=1536, ffn=8960, heads=12, layers=30), "14b": dict(dim=5120, ffn=13824, heads=40, layers=40)}


def timed(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / iters


def dit_flops(L, D, F, layers):
    return layers * (12 * L * D * D + 4 * 512 * D * D + 4 * L * L * D + 4 * L * 512 * D + 4 * L * D * F)


def bench_dit(a):
    from diffusers import WanTransformer3DModel
    c = CONFIGS[a.model]
    W, H = map(int, a.size.split("x"))
    T, h, w = (a.frames - 1) // 4 + 1, H // 8, W // 8
    L = T * (h // 2) * (w // 2)
    with torch.device("meta"):
        m = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=c["heads"], attention_head_dim=128,
                                  in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=c["ffn"],
                                  num_layers=c["layers"], cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                  eps=1e-6)
    m = m.to_empty(device="cuda").to(torch.bfloat16).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.02)
    x = torch.randn(1, 16, T, h, w, device="cuda", dtype=torch.bfloat16)
    ctx = torch.randn(1, 512, 4096, device="cuda", dtype=torch.bfloat16)
    t = torch.tensor([999.0], device="cuda")
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        s = timed(lambda: m(x, t, ctx, return_dict=False), a.warmup, a.iters)
    fl = dit_flops(L, c["dim"], c["ffn"], c["layers"])
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"torch dit {a.model} {a.size}x{a.frames} ({L} tokens): {s*1e3:.1f} ms/forward, "
          f"{fl/s/1e12:.1f} model TFLOP/s, peak {peak:.1f} GiB")


def bench_attention(a):
    import torch.nn.functional as Fn
    q, k, v = (torch.randn(1, a.heads, a.tokens, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    s = timed(lambda: Fn.scaled_dot_product_attention(q, k, v), a.warmup, a.iters)
    fl = 4 * a.tokens * a.tokens * 128 * a.heads
    print(f"torch attention sdpa [{a.heads}, {a.tokens}, 128] bf16: {s*1e3:.2f} ms, {fl/s/1e12:.1f} TFLOP/s "
          f"(backend: {torch.backends.cuda.preferred_sdp_backend() if hasattr(torch.backends.cuda,'preferred_sdp_backend') else 'default'})")


def bench_vae(a):
    from diffusers import AutoencoderKLWan
    W, H = map(int, a.size.split("x"))
    T = (a.frames - 1) // 4 + 1
    m = AutoencoderKLWan().to("cuda", torch.float32 if a.dtype == "f32" else torch.bfloat16).eval()
    z = torch.randn(1, 16, T, H // 8, W // 8, device="cuda", dtype=next(m.parameters()).dtype)
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        s = timed(lambda: m.decode(z), 0, 1)
    print(f"torch vae decode {a.size}x{a.frames} {a.dtype}: {s:.2f} s, peak {torch.cuda.max_memory_allocated()/2**30:.1f} GiB")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["dit", "attention", "vae"])
    p.add_argument("--model", default="14b", choices=list(CONFIGS))
    p.add_argument("--size", default="832x480")
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--heads", type=int, default=40)
    p.add_argument("--tokens", type=int, default=14040)
    p.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    a = p.parse_args()
    {"dit": bench_dit, "attention": bench_attention, "vae": bench_vae}[a.what](a)
