#!/usr/bin/env bash
# eval_dit_test.sh: `raylight-gen eval dit` on golden Wan DiT files (made by
# scripts/golden/make_wan_dit_golden.py from diffusers' WanTransformer3DModel):
# its y is compared with y_ref through `test_wan_dit --compare` (max rel err
# <= 1e-4); `info` names the DiT architecture in one line; bad inputs fail with
# one error line naming the file and leave no output.
# Uses $BUILD/raylight-gen and $BUILD/tests/test_wan_dit. Prints PASS:/FAIL: lines.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/raylight-gen
CMP=$BUILD/tests/test_wan_dit
G=tests/golden/wan_dit
for f in "$BIN" "$CMP"; do
    if [ ! -x "$f" ]; then
        echo "FAIL: eval_dit: $f not found; build it first (make BUILD=$BUILD)"
        exit 1
    fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

for c in official_f32 diffusers_f16 comfy_fp8_scaled; do
    out="$tmp/$c.safetensors"
    if ! "$BIN" eval dit --weights "$G/$c.safetensors" --inputs "$G/$c.io.safetensors" --out "$out" \
         --backend cpu >"$tmp/log" 2>&1; then
        echo "FAIL: eval dit $c: $(head -c 300 "$tmp/log")"
        continue
    fi
    if "$CMP" --compare "$out" "$G/$c.io.safetensors" >"$tmp/log" 2>&1; then
        echo "PASS: eval dit $c: $(cat "$tmp/log")"
    else
        echo "FAIL: eval dit $c: $(cat "$tmp/log")"
    fi
done

"$BIN" info --summary "$G/diffusers_f16.safetensors" >"$tmp/info" 2>&1
if grep -q "^architecture: Wan 2.1 DiT t2v custom size: dim 64, 2 blocks, 2 heads of 32, ffn 32" "$tmp/info"; then
    echo "PASS: info names the DiT architecture"
else
    echo "FAIL: info names the DiT architecture: $(cat "$tmp/info")"
fi

# the VAE-style mistake: the inputs file given as weights
"$BIN" eval dit --weights "$G/official_f32.io.safetensors" --inputs "$G/official_f32.io.safetensors" \
    --out "$tmp/bad.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "official_f32.io.safetensors" "$tmp/err" \
   && [ ! -e "$tmp/bad.safetensors" ]; then
    echo "PASS: a non-DiT weights file is one error line naming it"
else
    echo "FAIL: a non-DiT weights file is one error line naming it (rc $rc): $(cat "$tmp/err")"
fi
"$BIN" eval dit --weights "$G/official_f32.safetensors" --out "$tmp/bad.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q -- "--inputs" "$tmp/err"; then
    echo "PASS: a missing --inputs is named"
else
    echo "FAIL: a missing --inputs is named (rc $rc): $(cat "$tmp/err")"
fi

# make-tiny: deterministic from the seed, loads and runs
"$BIN" make-tiny --out "$tmp/t1" --seed 5 --text-dim 16 >/dev/null 2>"$tmp/err" &&
"$BIN" make-tiny --out "$tmp/t2" --seed 5 --text-dim 16 >/dev/null 2>>"$tmp/err" &&
"$BIN" make-tiny --out "$tmp/t3" --seed 6 --text-dim 16 >/dev/null 2>>"$tmp/err"
if cmp -s "$tmp/t1/wan_dit_tiny.safetensors" "$tmp/t2/wan_dit_tiny.safetensors" &&
   ! cmp -s "$tmp/t1/wan_dit_tiny.safetensors" "$tmp/t3/wan_dit_tiny.safetensors"; then
    echo "PASS: make-tiny is deterministic from the seed"
else
    echo "FAIL: make-tiny is deterministic from the seed: $(cat "$tmp/err")"
fi
if "$BIN" eval dit --weights "$tmp/t1/wan_dit_tiny.safetensors" --inputs "$G/official_f32.io.safetensors" \
       --out "$tmp/tiny_y.safetensors" >"$tmp/log" 2>&1 &&
   "$BIN" info "$tmp/tiny_y.safetensors" | grep -q "^y .*\[16, 2, 4, 6\]"; then
    echo "PASS: the make-tiny DiT runs through eval dit"
else
    echo "FAIL: the make-tiny DiT runs through eval dit: $(head -c 300 "$tmp/log")"
fi
