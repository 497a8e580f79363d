#!/usr/bin/env bash
# make test-gpu: every module on the CUDA backend against the golden files of
# the public implementations (bf16 weights and activations: tolerance 2e-2
# relative), and a tiny render on the GPU against the same render on the CPU.
set -u
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/raylight-gen
G=tests/golden
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
run_cmp() { # name, tol, compare-args..., -- command...
    local name=$1 tol=$2 a=$3 b=$4; shift 5
    if "$@" >"$tmp/log" 2>&1 && "$BIN" compare "$a" "$b" --tol "$tol" >"$tmp/cmp" 2>&1; then
        echo "PASS: $name: $(head -1 "$tmp/cmp" | sed 's/.*rel err/rel err/')"
    else
        echo "FAIL: $name: $(cat "$tmp/log" "$tmp/cmp" 2>/dev/null | tail -3 | tr '\n' ' ')"
    fi
}
for c in official_f32 comfy_bf16 comfy_fp8_scaled diffusers_f16 official_d128_fp8; do
    run_cmp "eval dit $c on cuda" 2e-2 "$tmp/$c.safetensors:y" "$G/wan_dit/$c.io.safetensors:y_ref" -- \
        "$BIN" eval dit --backend cuda --weights "$G/wan_dit/$c.safetensors" --inputs "$G/wan_dit/$c.io.safetensors" \
        --out "$tmp/$c.safetensors"
done
for w in umt5_tiny_official_bf16 umt5_tiny_hf_f16 umt5_tiny_fp8_scaled; do
    ref=context_long; [ $w = umt5_tiny_fp8_scaled ] && ref=context_fp8_long
    run_cmp "eval t5 $w on cuda" 2e-2 "$tmp/$w.safetensors:context" "$G/umt5/umt5_golden.safetensors:$ref" -- \
        "$BIN" eval t5 --backend cuda --weights "$G/umt5/$w.safetensors" --inputs "$G/umt5/ids_long.safetensors" \
        --out "$tmp/$w.safetensors"
done
"${BUILD:-build}/tests/test_wan_vae" --write-inputs "$tmp" >/dev/null 2>&1 || echo "FAIL: writing the VAE inputs"
for l in official diffusers; do
    run_cmp "eval vae-decode $l on cuda (TF32 convolutions)" 5e-3 "$tmp/dec_$l.safetensors:video" "$G/wan_vae/io.safetensors:video" -- \
        "$BIN" eval vae-decode --backend cuda --weights "$G/wan_vae/tiny_$l.safetensors" --inputs "$tmp/z.safetensors" \
        --out "$tmp/dec_$l.safetensors"
    run_cmp "eval vae-encode $l on cuda (TF32 convolutions)" 5e-3 "$tmp/enc_$l.safetensors:z" "$G/wan_vae/io.safetensors:z_enc" -- \
        "$BIN" eval vae-encode --backend cuda --weights "$G/wan_vae/tiny_$l.safetensors" --inputs "$tmp/video.safetensors" \
        --out "$tmp/enc_$l.safetensors"
done

# a tiny render on the GPU against the CPU render of the same seed
"$BIN" make-tiny --out "$tmp/m" >/dev/null 2>&1
for be in cpu cuda; do
    "$BIN" --model tiny --model-dir "$tmp/m" --backend $be --prompt "a red fox in snow" --seed 7 --steps 4 \
        -o "$tmp/$be/" --save-latents "$tmp/lat_$be.safetensors" >"$tmp/r_$be.log" 2>&1 || echo "FAIL: tiny render on $be: $(tail -2 "$tmp/r_$be.log")"
done
if "$BIN" compare "$tmp/lat_cuda.safetensors" "$tmp/lat_cpu.safetensors" --tol 5e-2 >"$tmp/cmp" 2>&1; then
    echo "PASS: tiny render latents cuda vs cpu: $(head -1 "$tmp/cmp" | sed 's/.*rel err/rel err/')"
else
    echo "FAIL: tiny render latents cuda vs cpu: $(cat "$tmp/cmp" | tr '\n' ' ')"
fi
grep -h "done:" "$tmp"/r_*.log | sed 's/^/  /'
exit 0
