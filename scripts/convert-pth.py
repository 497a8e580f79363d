#!/usr/bin/env python3
"""Converts a PyTorch .pth state dict (the official Wan 2.1 files
models_t5_umt5-xxl-enc-bf16.pth and Wan2.1_VAE.pth, or any other) to a
.safetensors file with the same key names and dtypes, which raylight-gen reads.

    python3 scripts/convert-pth.py models_t5_umt5-xxl-enc-bf16.pth models_t5_umt5-xxl-enc-bf16.safetensors

The file is opened with torch.load(weights_only=True), so no code inside it runs.
Tensors are written contiguous, in their own dtype; tensors that share storage
(tied weights) are written as separate copies. A dict wrapping the state dict
under "state_dict", "model" or "module" is unwrapped. Any entry that is not a
tensor stops the conversion with its key and type, unless --skip-non-tensors.
Needs: torch, safetensors (scripts/golden/requirements.txt pins versions).
"""
import argparse
import os
import sys


def fail(msg):
    print(f"convert-pth: error: {msg}", file=sys.stderr)
    sys.exit(1)


def load_state_dict(path):
    import torch

    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # only the legacy (non-zip) format lacks mmap support
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except Exception as e:  # pickle refusing a non-tensor class, a truncated zip, ...
        fail(f"{path}: torch.load(weights_only=True) could not read it ({type(e).__name__}: {e}); "
             "is it a PyTorch state dict?")
    if not isinstance(obj, dict):
        fail(f"{path}: holds a {type(obj).__name__}, not a state dict (a dict of name -> tensor)")
    for wrapper in ("state_dict", "model", "module"):
        inner = obj.get(wrapper)
        if isinstance(inner, dict) and inner and all(isinstance(k, str) for k in inner):
            print(f"convert-pth: using the state dict under '{wrapper}' (other top-level entries: "
                  f"{', '.join(sorted(k for k in obj if k != wrapper)) or 'none'})")
            obj = inner
            break
    return obj


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help=".pth / .pt / .bin file holding a state dict")
    ap.add_argument("output", help=".safetensors file to write")
    ap.add_argument("--skip-non-tensors", action="store_true",
                    help="leave out entries that are not tensors (each is named) instead of stopping")
    ap.add_argument("--force", action="store_true", help="overwrite the output file")
    args = ap.parse_args()

    if os.path.exists(args.output) and not args.force:
        fail(f"{args.output} exists; pass --force to overwrite it")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        fail("input and output are the same file")

    import torch
    from safetensors.torch import save_file

    sd = load_state_dict(args.input)
    out, seen, skipped = {}, set(), []
    for key, value in sd.items():
        if not isinstance(key, str):
            fail(f"{args.input}: key {key!r} is of type {type(key).__name__}, not a string")
        if not isinstance(value, torch.Tensor):
            if args.skip_non_tensors:
                skipped.append(key)
                continue
            fail(f"{args.input}: entry '{key}' is of type {type(value).__name__}, not a tensor; "
                 "pass --skip-non-tensors to leave it out")
        t = value.detach()
        if t.is_sparse or t.layout != torch.strided:
            fail(f"{args.input}: tensor '{key}' has layout {t.layout}; only dense tensors can be written")
        ptr = t.untyped_storage().data_ptr() if t.numel() else None
        if ptr is not None and ptr in seen:
            t = t.clone()  # tied weights: safetensors stores each tensor on its own
        elif ptr is not None:
            seen.add(ptr)
        out[key] = t.contiguous()
    for key in skipped:
        print(f"convert-pth: left out '{key}' (of type {type(sd[key]).__name__}, not a tensor)")
    if not out:
        fail(f"{args.input}: holds no tensors")

    tmp = args.output + ".part"
    save_file(out, tmp, metadata={"format": "pt", "converted_from": os.path.basename(args.input)})
    os.replace(tmp, args.output)
    nbytes = sum(t.numel() * t.element_size() for t in out.values())
    dtypes = sorted({str(t.dtype).replace("torch.", "") for t in out.values()})
    print(f"convert-pth: wrote {len(out)} tensors ({nbytes / 2**20:.1f} MiB; {', '.join(dtypes)}) to {args.output}")


if __name__ == "__main__":
    main()
