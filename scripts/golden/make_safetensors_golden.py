#!/usr/bin/env python3
"""Golden files for tests/test_safetensors.c: a small checkpoint written by the
reference implementation (safetensors.torch.save_file), and the values torch
holds for each tensor, so the C reader is checked against both the reference
writer's layout and torch's own dtype conversions.

Writes tests/golden/safetensors/torch_small.safetensors and
tests/golden/safetensors/torch_small.expect.txt. The expect file has one line
per tensor:
    <name> <dtype> <ndim> <dims...> <numel> <values...>
where values are the tensor's elements as torch converts them, float dtypes via
.float() as 8-hex-digit float32 bit patterns, integer dtypes as decimal int64.
Run from the repository root: python3 scripts/golden/make_safetensors_golden.py
"""
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "safetensors")
ST_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.int32: "I32", torch.int64: "I64"}


def special(vals, n, dtype, gen):
    """Random normals with the given special values in front, cast by torch."""
    x = torch.randn(n, generator=gen, dtype=torch.float32) * 3
    x[: len(vals)] = torch.tensor(vals, dtype=torch.float32)
    return x.to(dtype)


def main():
    gen = torch.Generator().manual_seed(1234)
    inf, nan = float("inf"), float("nan")
    t = {
        # bf16: inf, NaN, a value that rounds (RNE), f32 subnormal, largest finite
        "blocks.0.attn.q.weight": special([inf, -inf, nan, 1.00390625, 1e-40, 3.3895e38, -0.0], 24,
                                          torch.bfloat16, gen).reshape(2, 3, 4),
        # f16: overflow to inf, smallest subnormal, a tie, NaN
        "blocks.0.norm.bias": special([70000.0, 6e-8, 2049.0, nan, -65504.0], 10, torch.float16, gen),
        # f8 e4m3fn: saturating range (448), beyond it (NaN in torch), subnormals
        "blocks.1.ffn.0.weight": special([448.0, -448.0, 500.0, 2.0 ** -9, 0.0013, nan, 17.0], 32,
                                         torch.float8_e4m3fn, gen).reshape(4, 8),
        "scale.e5m2": special([57344.0, inf, 2.0 ** -16, -1.5], 6, torch.float8_e5m2, gen).reshape(1, 2, 3),
        "pos.ids": torch.tensor([0, -1, 2 ** 62, -(2 ** 63), 12345678901234, 7], dtype=torch.int64),
        "grid.i32": torch.tensor([[1, -2147483648], [2147483647, 0]], dtype=torch.int32),
        "time.scalar": torch.tensor(0.1, dtype=torch.float32),
        "empty.buf": torch.zeros(0, 3, dtype=torch.float32),
        "vol.5d": torch.arange(2 * 1 * 2 * 1 * 3, dtype=torch.float32).reshape(2, 1, 2, 1, 3) / 7,
    }
    meta = {"format": "pt", "producer": "make_safetensors_golden.py", "torch": torch.__version__.split("+")[0]}
    os.makedirs(OUT, exist_ok=True)
    save_file(t, os.path.join(OUT, "torch_small.safetensors"), metadata=meta)
    lines = []
    for name in sorted(t):
        x = t[name]
        dims = " ".join(str(d) for d in x.shape)
        head = f"{name} {ST_NAME[x.dtype]} {x.dim()}" + (f" {dims}" if dims else "") + f" {x.numel()}"
        flat = x.reshape(-1)
        if x.dtype in (torch.int32, torch.int64):
            vals = [str(int(v)) for v in flat.tolist()]
        else:
            vals = ["%08x" % b for b in flat.float().view(torch.int32).numpy().astype("uint32")]
        lines.append(" ".join([head] + vals))
    with open(os.path.join(OUT, "torch_small.expect.txt"), "w") as fh:
        fh.write("# written by scripts/golden/make_safetensors_golden.py: name dtype ndim dims... numel values...\n")
        fh.write("# metadata format=pt producer=make_safetensors_golden.py\n")
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
