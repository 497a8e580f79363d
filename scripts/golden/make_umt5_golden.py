#!/usr/bin/env python3
"""Golden files for tests/test_umt5.c: a tiny random umT5 encoder run by
transformers' UMT5EncoderModel in float32, the way Wan runs umT5 (ids padded to
512, attention_mask over the real tokens, output rows of the real tokens kept).

The weights are rounded to bf16 values (and tiny ones flushed to 0) first, so
that the same numbers are exact in f32, bf16 and f16, and one reference serves
every layout:
  umt5_tiny_hf_f16.safetensors        transformers / ComfyUI layout, f16 ("shared.weight")
  umt5_tiny_official_bf16.safetensors official Wan layout, bf16, written as a .pth by
                                      torch.save and converted by scripts/convert-pth.py
  umt5_tiny_fp8_scaled.safetensors    ComfyUI scaled fp8 (Linear weights e4m3fn with
                                      scale_weight, marker "scaled_fp8"), under the
                                      prefix "text_encoders.umt5xxl.transformer.", the
                                      embedding as "encoder.embed_tokens.weight"; its
                                      reference is computed from the dequantised weights
  ids_short.safetensors / ids_long.safetensors   eval inputs: `ids` i32 [20] / i64 [150]
  umt5_golden.safetensors             ids_short, ids_long, context_short [20, D],
                                      context_long [150, D], context_fp8_long [150, D]
                                      (f32), buckets i32 [1201] = the bucket of relative
                                      positions -600..600 (transformers' formula)
Prompt path (needs tests/golden/tokenizer/tokenizer.json from make_tokenizer_golden.py):
  umt5_tiny_v3100_bf16.safetensors    a second tiny model (official layout) whose vocabulary
                                      is the test tokenizer's (3100 rows, dim 16, 1 layer)
  prompts.txt                         hex(UTF-8 prompt), one a line, before cleaning
  umt5_prompt_golden.safetensors      ids_K i32 [L_K] and context_K f32 [L_K, 16] per prompt K:
                                      Wan's clean (html.unescape twice, \s+ -> ' ', strip; the
                                      prompts are ones ftfy.fix_text leaves alone), then
                                      T5TokenizerFast(padding='max_length', truncation=True,
                                      max_length=512), then the model at 512 with the mask
With --wan-t5 PATH (the official wan/modules/t5.py, not committed here) the script
also runs Wan's own T5Encoder on the official-layout weights and prints its
difference from transformers (nothing of it is written).
Run from the repository root: python3 scripts/golden/make_umt5_golden.py [--wan-t5 t5.py]
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import types

import torch
from safetensors.torch import save_file
from transformers import UMT5Config, UMT5EncoderModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "tests", "golden", "umt5")
PAD_TO = 512
FP8_PREFIX = "text_encoders.umt5xxl.transformer."
CFG = dict(vocab_size=300, d_model=64, d_kv=24, num_heads=4, d_ff=96, num_layers=2,
           relative_attention_num_buckets=32, relative_attention_max_distance=128,
           feed_forward_proj="gated-gelu", dropout_rate=0.0, layer_norm_epsilon=1e-6,
           tie_word_embeddings=True)
LINEARS = ("SelfAttention.q", "SelfAttention.k", "SelfAttention.v", "SelfAttention.o",
           "DenseReluDense.wi_0", "DenseReluDense.wi_1", "DenseReluDense.wo")


def make_model(gen):
    cfg = UMT5Config(**CFG)
    model = UMT5EncoderModel(cfg).eval()  # post_init gives T5's scaled normal init
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))  # norms must matter
            elif "relative_attention_bias" in name:
                p.copy_(torch.randn(p.shape, generator=gen))  # a bias of order 1 per bucket
            v = p.to(torch.bfloat16).float()
            v[v.abs() < 2.0 ** -14] = 0.0  # exact in f16 too (no f16 subnormals)
            p.copy_(v)
    return model


def official_state_dict(model):
    """transformers names -> Wan T5Encoder names (spec section 7.4)."""
    sd, out = model.state_dict(), {}
    out["token_embedding.weight"] = sd["shared.weight"]
    out["norm.weight"] = sd["encoder.final_layer_norm.weight"]
    for i in range(model.config.num_layers):
        b = f"encoder.block.{i}.layer."
        out[f"blocks.{i}.norm1.weight"] = sd[b + "0.layer_norm.weight"]
        for x in "qkvo":
            out[f"blocks.{i}.attn.{x}.weight"] = sd[b + f"0.SelfAttention.{x}.weight"]
        out[f"blocks.{i}.pos_embedding.embedding.weight"] = sd[b + "0.SelfAttention.relative_attention_bias.weight"]
        out[f"blocks.{i}.norm2.weight"] = sd[b + "1.layer_norm.weight"]
        out[f"blocks.{i}.ffn.gate.0.weight"] = sd[b + "1.DenseReluDense.wi_0.weight"]
        out[f"blocks.{i}.ffn.fc1.weight"] = sd[b + "1.DenseReluDense.wi_1.weight"]
        out[f"blocks.{i}.ffn.fc2.weight"] = sd[b + "1.DenseReluDense.wo.weight"]
    return out


def encode(model, ids):
    """Wan's way: pad to 512, mask the padding, keep the real rows."""
    n = ids.numel()
    padded = torch.zeros(1, PAD_TO, dtype=torch.long)
    padded[0, :n] = ids
    mask = torch.zeros(1, PAD_TO, dtype=torch.long)
    mask[0, :n] = 1
    with torch.no_grad():
        h = model(input_ids=padded, attention_mask=mask).last_hidden_state
    return h[0, :n].contiguous(), padded, mask


def fp8_scaled(model):
    """ComfyUI scaled fp8 file and the model holding its dequantised weights."""
    sd = model.state_dict()
    out, deq = {FP8_PREFIX + "scaled_fp8": torch.zeros(0, dtype=torch.float8_e4m3fn)}, {}
    for k, v in sd.items():
        if k == "encoder.embed_tokens.weight":
            continue
        name = "encoder.embed_tokens.weight" if k == "shared.weight" else k
        if any(s in k for s in LINEARS):
            scale = (v.abs().max() / 448.0).float()
            q = (v / scale).to(torch.float8_e4m3fn)
            out[FP8_PREFIX + name] = q
            out[FP8_PREFIX + name[: -len(".weight")] + ".scale_weight"] = scale.reshape(())
            deq[k] = q.float() * scale  # what ComfyUI computes with
        else:
            out[FP8_PREFIX + name] = v.to(torch.float16)
            deq[k] = v
    m8 = UMT5EncoderModel(UMT5Config(**CFG)).eval()
    deq["encoder.embed_tokens.weight"] = deq["shared.weight"]
    m8.load_state_dict(deq)
    return out, m8


def wan_reference(path, official_sd, padded, mask):
    """Runs Wan's own T5Encoder (loaded from a t5.py outside this repository)."""
    torch.cuda.current_device = lambda: 0  # evaluated as a default argument at import
    pkg = types.ModuleType("wan_ref")
    pkg.__path__ = []
    sys.modules["wan_ref"] = pkg
    tok = types.ModuleType("wan_ref.tokenizers")
    tok.HuggingfaceTokenizer = None
    sys.modules["wan_ref.tokenizers"] = tok
    spec = importlib.util.spec_from_file_location("wan_ref.t5", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    enc = mod.T5Encoder(vocab=CFG["vocab_size"], dim=CFG["d_model"], dim_attn=CFG["d_kv"] * CFG["num_heads"],
                        dim_ffn=CFG["d_ff"], num_heads=CFG["num_heads"], num_layers=CFG["num_layers"],
                        num_buckets=32, shared_pos=False, dropout=0.0).eval()
    enc.load_state_dict({k: v.float() for k, v in official_sd.items()}, strict=True)
    with torch.no_grad():
        return enc(padded, mask)[0]


PROMPTS = [
    "  A red fox runs through   the snow &amp;amp; ice,\tunder a pale\nwinter sky.  ",
    "The camera slowly pans across a quiet harbor at sunrise, boats rocking gently. " * 40,  # > 511 tokens
    "\u654f\u6377\u7684\u68d5\u8272\u72d0\u72f8 \u0411\u044b\u0441\u0442\u0440\u0430\u044f "
    "\u043b\u0438\u0441\u0430, 4k, highly detailed",
]


def wan_clean(text):
    """Wan's HuggingfaceTokenizer(clean='whitespace') without ftfy (the prompts avoid what ftfy changes)."""
    import html

    import regex
    text = html.unescape(html.unescape(text)).strip()
    return regex.sub(r"\s+", " ", text).strip()


def prompt_golden(gen):
    from transformers import T5TokenizerFast
    tok_json = os.path.join(ROOT, "tests", "golden", "tokenizer", "tokenizer.json")
    if not os.path.exists(tok_json):
        print(f"skipping the prompt-path golden: {os.path.normpath(tok_json)} is missing "
              "(run make_tokenizer_golden.py first)")
        return
    try:
        import ftfy
        for p in PROMPTS:
            assert wan_clean(ftfy.fix_text(p)) == wan_clean(p), "a prompt that ftfy would clean differently"
    except ImportError:
        pass
    torch.manual_seed(7)  # the model's own init: independent of what ran before
    tok = T5TokenizerFast(tokenizer_file=tok_json, extra_ids=0)
    cfg = dict(CFG, vocab_size=len(tok), d_model=16, d_kv=8, num_heads=2, d_ff=32, num_layers=1)
    model = UMT5EncoderModel(UMT5Config(**cfg)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif "relative_attention_bias" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            p.copy_(p.to(torch.bfloat16).float())
    official = {k: v.to(torch.bfloat16).contiguous() for k, v in official_state_dict(model).items()}
    save_file(official, os.path.join(OUT, "umt5_tiny_v3100_bf16.safetensors"), metadata={"format": "pt"})
    out = {}
    texts = [wan_clean(p) for p in PROMPTS]
    enc = tok(texts, return_tensors="pt", padding="max_length", truncation=True, max_length=PAD_TO,
              add_special_tokens=True)
    with torch.no_grad():
        h = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).last_hidden_state
    for k in range(len(PROMPTS)):
        n = int(enc.attention_mask[k].sum())
        out[f"ids_{k}"] = enc.input_ids[k, :n].to(torch.int32).contiguous()
        out[f"context_{k}"] = h[k, :n].contiguous()
        print(f"prompt {k}: {n} tokens (last id {int(enc.input_ids[k, n - 1])}), untruncated "
              f"{len(tok(texts[k]).input_ids)}")
    save_file(out, os.path.join(OUT, "umt5_prompt_golden.safetensors"),
              metadata={"tokenizer": "tests/golden/tokenizer/tokenizer.json"})
    with open(os.path.join(OUT, "prompts.txt"), "w") as f:
        for p in PROMPTS:
            f.write(p.encode("utf-8").hex() + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wan-t5", help="path of the official wan/modules/t5.py, to cross-check (optional)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20250521)  # UMT5EncoderModel's own init draws from the global generator
    gen = torch.Generator().manual_seed(20250521)
    model = make_model(gen)

    ids_short = torch.randint(2, CFG["vocab_size"], (20,), generator=gen)
    ids_short[5] = 0  # a pad id inside the real tokens is still a real token
    ids_short[-1] = 1  # </s>
    ids_long = torch.randint(2, CFG["vocab_size"], (150,), generator=gen)  # distances up to 149 > 128
    ids_long[-1] = 1
    ctx_short, _, _ = encode(model, ids_short)
    ctx_long, padded, mask = encode(model, ids_long)

    # bf16 official layout through a .pth and scripts/convert-pth.py
    official = {k: v.to(torch.bfloat16) for k, v in official_state_dict(model).items()}
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "umt5_tiny_official_bf16.pth")
        torch.save(official, pth)
        dst = os.path.join(OUT, "umt5_tiny_official_bf16.safetensors")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "convert-pth.py"), pth, dst, "--force"],
                       check=True)

    hf = {k: v.to(torch.float16) for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"}
    save_file(hf, os.path.join(OUT, "umt5_tiny_hf_f16.safetensors"), metadata={"format": "pt"})
    f8, m8 = fp8_scaled(model)
    save_file(f8, os.path.join(OUT, "umt5_tiny_fp8_scaled.safetensors"), metadata={"format": "pt"})
    ctx_fp8_long, _, _ = encode(m8, ids_long)

    attn = model.encoder.block[0].layer[0].SelfAttention
    buckets = attn._relative_position_bucket(torch.arange(-600, 601)).to(torch.int32)

    save_file({"ids": ids_short.to(torch.int32)}, os.path.join(OUT, "ids_short.safetensors"))
    save_file({"ids": ids_long.to(torch.int64)}, os.path.join(OUT, "ids_long.safetensors"))
    save_file({"ids_short": ids_short.to(torch.int32), "ids_long": ids_long.to(torch.int32),
               "context_short": ctx_short, "context_long": ctx_long, "context_fp8_long": ctx_fp8_long,
               "buckets": buckets},
              os.path.join(OUT, "umt5_golden.safetensors"),
              metadata={"config": repr(CFG), "pad_to": str(PAD_TO), "torch": torch.__version__})

    # What running at the real length (no padding) would give: the C encoder does that.
    with torch.no_grad():
        direct = model(input_ids=ids_long[None]).last_hidden_state[0]
    print(f"real-length run vs padded+masked run: max |diff| {(direct - ctx_long).abs().max().item():.3e}")
    print(f"fp8 dequantised vs exact weights: max |diff| {(ctx_fp8_long - ctx_long).abs().max().item():.3e} "
          f"(max |ref| {ctx_long.abs().max().item():.3e})")
    if args.wan_t5:
        ref = wan_reference(args.wan_t5, official, padded, mask)[: ids_long.numel()]
        d = (ref - ctx_long).abs().max().item() / ctx_long.abs().max().item()
        print(f"Wan T5Encoder vs transformers UMT5EncoderModel (long ids, padded to {PAD_TO}): max rel diff {d:.3e}")
    prompt_golden(gen)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1024:.0f} KiB, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
