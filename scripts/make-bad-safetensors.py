#!/usr/bin/env python3
"""Writes the safetensors parser corpus into tests/corpus/safetensors/.

bad-*.safetensors: each breaks one rule of the format (or of what raylight-gen
accepts); rl_st_open must refuse every one with a one-line error naming the file.
good-*.safetensors: valid files (seeds for the fuzzer; they must open).

Only the standard library is used; the files are built byte by byte so that the
broken ones can be broken exactly. Run from the repository root:
    python3 scripts/make-bad-safetensors.py
"""
import json
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "corpus", "safetensors")


def pad8(h: bytes) -> bytes:
    return h + b" " * ((8 - len(h) % 8) % 8)


def st_bytes(header, data: bytes = b"", pad=True) -> bytes:
    """header: a dict (serialised compactly) or raw bytes used as they are."""
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h = pad8(h)
    return struct.pack("<Q", len(h)) + h + data


def ent(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


GOOD_DATA = f32(1, 2, 3, 4) + struct.pack("<4H", 0x3F80, 0x4000, 0xC040, 0x7FC0)

FILES = {
    # ------------------------------------------------------------ good
    "good-basic": st_bytes({"a.weight": ent("F32", [2, 2], 0, 16), "b.bias": ent("BF16", [4], 16, 24)}, GOOD_DATA),
    "good-empty": st_bytes({}),
    "good-metadata": st_bytes({"__metadata__": {"format": "pt", "note": "h\u00e9llo"},
                               "x": ent("I64", [1], 0, 8)}, struct.pack("<q", -5)),
    "good-zero-size": st_bytes({"z": ent("F16", [0, 3], 0, 0), "s": ent("F32", [], 0, 4)}, f32(7.5)),
    "good-all-dtypes": st_bytes({
        "f32": ent("F32", [1], 0, 4), "i64": ent("I64", [1], 4, 12), "i32": ent("I32", [1], 12, 16),
        "f16": ent("F16", [1], 16, 18), "bf16": ent("BF16", [1], 18, 20),
        "e4m3": ent("F8_E4M3", [1, 1, 1, 1, 1], 20, 21), "e5m2": ent("F8_E5M2", [1], 21, 22)},
        bytes(range(22))),
    # an unpadded header (legal): every tensor below is misaligned for its type
    "good-unaligned": st_bytes({"h": ent("F16", [3], 0, 6), "i": ent("I64", [2], 6, 22), "f": ent("F32", [2], 22, 30),
                                "b": ent("BF16", [1], 30, 32)},
                               struct.pack("<3H2qffH", 0x3C00, 0x4000, 0xC200, -3, 1 << 40, 1.5, -2.25, 0x4040),
                               pad=False),
    # ------------------------------------------------------------ file framing
    "bad-empty": b"",
    "bad-short": b"\x10\x00\x00",
    "bad-hdrlen-past-eof": struct.pack("<Q", 1000) + b'{"a":1}',
    "bad-hdrlen-huge": struct.pack("<Q", 1 << 63) + b"{}      ",
    "bad-hdrlen-over-limit": struct.pack("<Q", 100_000_001) + b"{}      ",
    "bad-hdrlen-zero": struct.pack("<Q", 0) + b"",
    "bad-truncated-data": st_bytes({"a.weight": ent("F32", [2, 2], 0, 16), "b.bias": ent("BF16", [4], 16, 24)},
                                   GOOD_DATA[:20]),
    # ------------------------------------------------------------ header text
    "bad-not-json": st_bytes(b"hello, world"),
    "bad-json-array": st_bytes(b"[1,2,3]"),
    "bad-json-string": st_bytes(b'"abc"'),
    "bad-json-unterminated": st_bytes(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}', f32(1)),
    "bad-trailing-garbage": st_bytes(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} xyz', f32(1)),
    "bad-non-utf8": st_bytes(b'{"a\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1)),
    "bad-overlong-utf8": st_bytes(b'{"a\xc0\xaf":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1)),
    "bad-nul-in-header": st_bytes(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\x00', f32(1)),
    "bad-deep-nesting": st_bytes(b"[" * 3000 + b"]" * 3000),
    # ------------------------------------------------------------ entries
    "bad-entry-not-object": st_bytes({"a": 5}),
    "bad-entry-duplicate-field": st_bytes(b'{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}',
                                          f32(1)),
    "bad-missing-dtype": st_bytes({"a": {"shape": [1], "data_offsets": [0, 4]}}, f32(1)),
    "bad-missing-shape": st_bytes({"a": {"dtype": "F32", "data_offsets": [0, 4]}}, f32(1)),
    "bad-missing-offsets": st_bytes({"a": {"dtype": "F32", "shape": [1]}}, f32(1)),
    "bad-dtype-unknown-c64": st_bytes({"blocks.0.ffn.0.weight": ent("C64", [1], 0, 8)}, struct.pack("<d", 1.0)),
    "bad-dtype-unknown-q4": st_bytes({"mask": ent("Q4_K", [4], 0, 4)}, b"\x01\x00\x01\x00"),
    "bad-dtype-raw-size-mismatch": st_bytes({"spiece_model": ent("U16", [4], 0, 4)}, b"\x01\x00\x01\x00"),
    # raw element types (ComfyUI's text encoders carry a U8 spiece_model): listed, read as bytes only
    "good-dtype-raw-f64": st_bytes({"blocks.0.ffn.0.weight": ent("F64", [1], 0, 8)}, struct.pack("<d", 1.0)),
    "good-dtype-raw-u8": st_bytes({"spiece_model": ent("U8", [4], 0, 4), "flag": ent("BOOL", [2], 4, 6)},
                                  b"\x01\x00\x01\x00\x01\x00"),
    "bad-dtype-not-string": st_bytes({"a": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}}, f32(1)),
    "bad-dtype-lowercase": st_bytes({"a": ent("f32", [1], 0, 4)}, f32(1)),
    "bad-name-newline": st_bytes({"a\nb": ent("XX", [1], 0, 4)}, f32(1)),
    # ------------------------------------------------------------ shapes
    "bad-shape-negative": st_bytes({"a": ent("F32", [-1, 4], 0, 16)}, f32(1, 2, 3, 4)),
    "bad-shape-float": st_bytes({"a": ent("F32", [2.5], 0, 8)}, f32(1, 2)),
    "bad-shape-string": st_bytes({"a": ent("F32", ["2"], 0, 8)}, f32(1, 2)),
    "bad-shape-huge": st_bytes(b'{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}}', f32(1)),
    "bad-shape-exponent": st_bytes(b'{"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}}', f32(1)),
    "bad-shape-overflow": st_bytes({"a": ent("F32", [1 << 50, 1 << 50], 0, 4)}, f32(1)),
    "bad-shape-bytes-overflow": st_bytes({"a": ent("F32", [1 << 52, 1 << 10], 0, 4)}, f32(1)),
    "bad-shape-too-many-dims": st_bytes({"a": ent("F32", [1, 1, 1, 1, 1, 1], 0, 4)}, f32(1)),
    "bad-shape-not-array": st_bytes({"a": ent("F32", 1, 0, 4)}, f32(1)),
    "bad-shape-null": st_bytes({"a": ent("F32", None, 0, 4)}, f32(1)),
    # ------------------------------------------------------------ offsets
    "bad-size-mismatch": st_bytes({"a": ent("F32", [2, 2], 0, 8)}, f32(1, 2)),
    "bad-offsets-reversed": st_bytes({"a": ent("F32", [2], 8, 0)}, f32(1, 2)),
    "bad-offsets-past-end": st_bytes({"blocks.0.ffn.0.weight": ent("F32", [250], 0, 1000)}, f32(1, 2)),
    "bad-offsets-three": st_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 16]}}, f32(1, 2)),
    "bad-offsets-one": st_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8]}}, f32(1, 2)),
    "bad-offsets-float": st_bytes({"a": ent("F32", [2], 0, 8.5)}, f32(1, 2)),
    "bad-offsets-negative": st_bytes({"a": ent("F32", [2], -8, 0)}, f32(1, 2)),
    "bad-offsets-huge": st_bytes(b'{"a":{"dtype":"F32","shape":[1],'
                                 b'"data_offsets":[18446744073709551612,18446744073709551616]}}', f32(1)),
    "bad-overlap": st_bytes({"a": ent("F32", [4], 0, 16), "b": ent("F32", [4], 8, 24)}, f32(1, 2, 3, 4, 5, 6)),
    "bad-overlap-same": st_bytes({"a": ent("F32", [2], 0, 8), "b": ent("I32", [2], 0, 8)}, f32(1, 2)),
    "bad-overlap-inside": st_bytes({"a": ent("F32", [6], 0, 24), "b": ent("F16", [2], 8, 12)}, f32(1, 2, 3, 4, 5, 6)),
    # ------------------------------------------------------------ metadata and keys
    "bad-metadata-not-object": st_bytes({"__metadata__": "pt", "a": ent("F32", [1], 0, 4)}, f32(1)),
    "bad-metadata-non-string": st_bytes({"__metadata__": {"epoch": 3}, "a": ent("F32", [1], 0, 4)}, f32(1)),
    "bad-metadata-nested": st_bytes({"__metadata__": {"k": {"x": "y"}}}),
    "bad-metadata-duplicate-key": st_bytes(b'{"__metadata__":{"k":"a","k":"b"}}'),
    "bad-metadata-twice": st_bytes(b'{"__metadata__":{"k":"a"},"__metadata__":{"j":"b"}}'),
    "bad-duplicate-tensor": st_bytes(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                     b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32(1, 2)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".safetensors") and (old.startswith("bad-") or old.startswith("good-")):
            os.remove(os.path.join(OUT, old))
    total = 0
    for name, blob in sorted(FILES.items()):
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
            f.write(blob)
        total += len(blob)
    print(f"wrote {len(FILES)} files ({total} bytes) to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
