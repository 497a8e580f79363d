#!/usr/bin/env python3
"""Golden file for tests/test_dtype.c: torch's own dtype conversions, so the C
conversions in src/core/dtype.c can be checked bit for bit.

Writes tests/golden/dtype.safetensors with
  input_f32            float32 [N]: special values (+-0, +-inf, NaNs with payloads,
                       f32 subnormals), values at and next to every rounding
                       midpoint and overflow threshold of f16 / bf16 / f8_e4m3fn /
                       f8_e5m2, and random values over many magnitudes
  to_f16, to_bf16, to_f8e4m3, to_f8e5m2
                       input_f32.to(dtype), raw bytes of that dtype
  bf16_to_f16, f16_to_bf16, bf16_to_f8e4m3, f16_to_f8e5m2
                       torch's casts between the narrow types (of to_bf16 / to_f16)
  f16_pos_to_f32       float32 [32768]: torch's f16 -> f32 of every bit pattern with
                       the sign bit clear (0x0000..0x7FFF); the script asserts that
                       the patterns with the sign set give the same bits | 0x80000000,
                       so the C test checks all 65536 patterns from half the bytes
  bf16_pos_to_f32_hi   BF16 bytes [32768]: the upper 16 bits of torch's bf16 -> f32 of
                       0x0000..0x7FFF (the script asserts the lower 16 bits are zero
                       and the same sign symmetry)
  f8e4m3_to_f32, f8e5m2_to_f32
                       float32 [256]: torch's f8 -> f32 of every bit pattern
  f8e4m3_all_to_{bf16,f16,f8e5m2}, f8e5m2_all_to_{bf16,f16,f8e4m3}
                       torch's casts of every f8 bit pattern to the other narrow types
  int_input_f32        float32 [M]: values inside int32 range (fractions, ties, large)
  int_to_i32, int_to_i64
                       torch's .to(int32) / .to(int64) of it (truncation toward zero)
  i64_input, i64_to_f32, i64_to_bf16, i64_to_f16
                       int64 values and torch's conversions of them (int -> float rounding)
Run from the repository root: python3 scripts/golden/make_dtype_golden.py
"""
import os
import struct

import numpy as np
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "dtype.safetensors")


def f32_from_bits(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def neighbours(v):
    """v and the next float32 values either side of it (as float32 bit patterns)."""
    b = np.array([v], dtype=np.float32).view(np.uint32)[0]
    out = [int(b)]
    if b & 0x7FFFFFFF:
        out += [int(b) - 1]
    if (b & 0x7FFFFFFF) < 0x7F800000:
        out += [int(b) + 1]
    return out


def midpoints(fmt_bits, exp_bits, man_bits, to_f32, count, rng):
    """Exact midpoints between adjacent values of a narrow float format, and their
    float32 neighbours: random pairs plus every exponent's first and last pair."""
    pats = []
    max_code = (1 << (fmt_bits - 1)) - 1
    codes = set(rng.integers(0, max_code, size=count).tolist())
    for e in range(1 << exp_bits):
        base = e << man_bits
        codes.update([base, base + (1 << man_bits) - 1])  # first pair of the binade, and across it
    for c in sorted(codes):
        if c + 1 > max_code:
            continue
        a, b = to_f32(c), to_f32(c + 1)
        if not (np.isfinite(a) and np.isfinite(b)):
            continue
        m = (np.float64(a) + np.float64(b)) / 2
        if np.float32(m) != m:  # not representable in f32: no exact tie to test
            continue
        pats += neighbours(np.float32(m))
    return pats


def main():
    rng = np.random.default_rng(20250101)
    pats = []
    # specials: +-0, +-inf, NaNs (quiet, signalling, with payloads, negative), f32 subnormals
    pats += [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
             0xFF800001, 0x7FC00001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FA00000, 0x7F802000, 0x7FBFE000,
             0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00400000, 0x00012345, 0x00800000,
             0x80800000, 0x7F7FFFFF, 0xFF7FFFFF]
    # overflow thresholds: f16 (65504 max, 65520 tie to inf), bf16 (max, tie), e4m3fn (448 max,
    # 464 tie, 480 NaN, ...), e5m2 (57344 max, 61440 tie to inf, 65536)
    for v in [65504.0, 65519.0, 65520.0, 65536.0, 131008.0, 1e5, 3.3895313892515355e38, 3.39e38,
              448.0, 456.0, 464.0, 472.0, 480.0, 496.0, 512.0, 1e6, 57344.0, 59392.0, 61440.0, 63488.0,
              65536.0, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -14, 2.0 ** -9, 2.0 ** -10, 2.0 ** -6,
              2.0 ** -7, 2.0 ** -16, 2.0 ** -17, 2.0 ** -15, 2.0 ** -133, 1.0, 1.5, 2049.0, 0.1]:
        for s in (1.0, -1.0):
            pats += neighbours(np.float32(s * v))
    # rounding midpoints of each narrow format (both signs)
    f16_to = lambda c: np.array([c], dtype=np.uint16).view(np.float16).astype(np.float32)[0]
    bf16_to = lambda c: f32_from_bits([c << 16])[0]
    e4m3_to = lambda c: torch.tensor([c], dtype=torch.uint8).view(torch.float8_e4m3fn).float().item()
    e5m2_to = lambda c: torch.tensor([c], dtype=torch.uint8).view(torch.float8_e5m2).float().item()
    mids = []
    mids += midpoints(16, 5, 10, f16_to, 150, rng)
    mids += midpoints(16, 8, 7, bf16_to, 150, rng)
    mids += midpoints(8, 4, 3, e4m3_to, 128, rng)
    mids += midpoints(8, 5, 2, e5m2_to, 128, rng)
    pats += mids + [m | 0x80000000 for m in mids]
    x = f32_from_bits(pats)
    # random values over many magnitudes (2^-150 .. 2^127), both signs
    r = (rng.standard_normal(3000) * np.exp2(rng.uniform(-150, 127, 3000))).astype(np.float32)
    x = np.concatenate([x, r]).astype(np.float32)
    xt = torch.from_numpy(x.copy())

    t = {"input_f32": xt}
    to16, tob, to43, to52 = xt.to(torch.float16), xt.to(torch.bfloat16), xt.to(torch.float8_e4m3fn), xt.to(torch.float8_e5m2)
    t["to_f16"], t["to_bf16"], t["to_f8e4m3"], t["to_f8e5m2"] = to16, tob, to43, to52
    t["bf16_to_f16"] = tob.to(torch.float16)
    t["f16_to_bf16"] = to16.to(torch.bfloat16)
    t["bf16_to_f8e4m3"] = tob.to(torch.float8_e4m3fn)
    t["f16_to_f8e5m2"] = to16.to(torch.float8_e5m2)

    # every bit pattern of the 16-bit formats, stored as the positive half with a symmetry check
    allpat = torch.from_numpy(np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).copy())
    f16f = allpat.view(torch.float16).float().view(torch.int32).numpy().astype(np.uint32)
    bff = allpat.view(torch.bfloat16).float().view(torch.int32).numpy().astype(np.uint32)
    assert np.array_equal(f16f[32768:], f16f[:32768] | 0x80000000), "torch f16->f32 is not sign-symmetric"
    assert np.array_equal(bff[32768:], bff[:32768] | 0x80000000), "torch bf16->f32 is not sign-symmetric"
    assert not np.any(bff & 0xFFFF), "torch bf16->f32 set low bits"
    t["f16_pos_to_f32"] = torch.from_numpy(f16f[:32768].view(np.float32).copy())
    t["bf16_pos_to_f32_hi"] = torch.from_numpy((bff[:32768] >> 16).astype(np.uint16).view(np.int16).copy()).view(torch.bfloat16)
    b8 = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    t["f8e4m3_to_f32"] = b8.view(torch.float8_e4m3fn).float()
    t["f8e5m2_to_f32"] = b8.view(torch.float8_e5m2).float()
    # f8 -> the other narrow types, every pattern (torch's per-element paths differ in NaN bits)
    for src, sname in ((torch.float8_e4m3fn, "f8e4m3"), (torch.float8_e5m2, "f8e5m2")):
        for dst, dname in ((torch.bfloat16, "bf16"), (torch.float16, "f16"),
                           (torch.float8_e4m3fn, "f8e4m3"), (torch.float8_e5m2, "f8e5m2")):
            if dst != src:
                t[f"{sname}_all_to_{dname}"] = b8.view(src).to(dst)

    # float -> int (in range only: out-of-range is undefined behaviour in torch)
    iv = [0.0, -0.0, 0.5, -0.5, 0.999, -0.999, 1.5, -1.5, 2.5, -2.5, 1e9, -1e9, 2147483520.0, -2147483648.0,
          16777217.0, 123456.789, -98765.4321, 1e-30]
    iv += (rng.standard_normal(200) * np.exp2(rng.uniform(0, 30, 200))).tolist()
    xi = torch.tensor(iv, dtype=torch.float32)
    t["int_input_f32"], t["int_to_i32"], t["int_to_i64"] = xi, xi.to(torch.int32), xi.to(torch.int64)
    # int64 -> float: exact, ties and large values (int -> f32 rounding, then the narrow cast)
    i64 = [0, 1, -1, 2049, 2051, 16777217, 16777219, -16777217, 2 ** 31 - 1, -(2 ** 31), 2 ** 53 + 1,
           2 ** 62 + 2 ** 38, -(2 ** 63), 2 ** 63 - 1, 65519, 65520, 65521, 33554435, 257, 259, 261]
    i64 += rng.integers(-(2 ** 40), 2 ** 40, 100).tolist()
    ti = torch.tensor(i64, dtype=torch.int64)
    t["i64_input"], t["i64_to_f32"] = ti, ti.to(torch.float32)
    t["i64_to_bf16"], t["i64_to_f16"] = ti.to(torch.bfloat16), ti.to(torch.float16)

    meta = {"producer": "scripts/golden/make_dtype_golden.py", "torch": torch.__version__.split("+")[0]}
    save_file({k: v.contiguous() for k, v in t.items()}, OUT, metadata=meta)
    print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes, {x.size} input values")


if __name__ == "__main__":
    main()
