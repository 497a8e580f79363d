#!/usr/bin/env bash
# vae_cli_test.sh: `raylight-gen eval vae-decode` / `eval vae-encode` end to end on the
# golden tiny Wan VAE (scripts/golden/make_wan_vae_golden.py, diffusers AutoencoderKLWan):
# outputs compared through `test_wan_vae --compare` (max rel err <= 1e-4); --plan and
# --verbose report memory; bad inputs exit 1 with one error line naming the file and
# tensor, and leave no output. Prints PASS:/FAIL: lines.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/raylight-gen
HLP=$BUILD/tests/test_wan_vae
G=tests/golden/wan_vae
for f in "$BIN" "$HLP"; do
    if [ ! -x "$f" ]; then
        echo "FAIL: vae_cli: $f not found; build it first (make BUILD=$BUILD)"
        exit 1
    fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$HLP" --write-inputs "$tmp" >"$tmp/log" 2>&1 || { echo "FAIL: vae_cli: writing inputs: $(cat "$tmp/log")"; exit 1; }

for layout in official diffusers; do
    if "$BIN" eval vae-decode --weights "$G/tiny_$layout.safetensors" --inputs "$tmp/z.safetensors" \
        --out "$tmp/dec.safetensors" --verbose >"$tmp/log" 2>&1 &&
        grep -q "peak working memory" "$tmp/log" &&
        "$HLP" --compare "$tmp/dec.safetensors" video video >"$tmp/cmp" 2>&1; then
        echo "PASS: eval vae-decode ($layout): $(cat "$tmp/cmp")"
    else
        echo "FAIL: eval vae-decode ($layout): $(head -c 400 "$tmp/log") $(cat "$tmp/cmp" 2>/dev/null)"
    fi
    rm -f "$tmp/cmp"
    if "$BIN" eval vae-encode --weights "$G/tiny_$layout.safetensors" --inputs "$tmp/video.safetensors" \
        --out "$tmp/enc.safetensors" >"$tmp/log" 2>&1 &&
        "$HLP" --compare "$tmp/enc.safetensors" z z_enc >"$tmp/cmp" 2>&1; then
        echo "PASS: eval vae-encode ($layout): $(cat "$tmp/cmp")"
    else
        echo "FAIL: eval vae-encode ($layout): $(head -c 400 "$tmp/log") $(cat "$tmp/cmp" 2>/dev/null)"
    fi
done

"$BIN" eval vae-decode --weights "$G/tiny_official.safetensors" --inputs "$tmp/z.safetensors" --plan \
    --vae-tile --vae-tile-size 2 --vae-tile-overlap 1 >"$tmp/log" 2>&1
if grep -q "^decode plan for z \[16, 3, 4, 6\] -> video \[3, 9, 32, 48\] tiled: .* in 15 tiles" "$tmp/log"; then
    echo "PASS: --plan reports the tiled decode"
else
    echo "FAIL: --plan reports the tiled decode: $(cat "$tmp/log")"
fi

# bad inputs: status 1, one line on stderr naming what is wrong, no output file
bad() { # name, expected text, args...
    local name=$1 want=$2; shift 2
    rm -f "$tmp/out.safetensors"
    "$BIN" "$@" --out "$tmp/out.safetensors" >"$tmp/o" 2>"$tmp/e"; local rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q -- "$want" "$tmp/e" && [ ! -e "$tmp/out.safetensors" ]; then
        echo "PASS: $name"
    else
        echo "FAIL: $name: rc $rc, stderr: $(head -c 300 "$tmp/e")"
    fi
}
bad "decode: inputs without 'z' name the file and tensor" "video.safetensors: tensor 'z' is missing" \
    eval vae-decode --weights "$G/tiny_official.safetensors" --inputs "$tmp/video.safetensors"
bad "encode: inputs without 'video' name the file and tensor" "z.safetensors: tensor 'video' is missing" \
    eval vae-encode --weights "$G/tiny_official.safetensors" --inputs "$tmp/z.safetensors"
bad "decode: weights that are not a VAE are named" "io.safetensors: not a checkpoint" \
    eval vae-decode --weights "$G/io.safetensors" --inputs "$tmp/z.safetensors"
bad "decode: tile overlap must be below the tile size" "--vae-tile-overlap" \
    eval vae-decode --weights "$G/tiny_official.safetensors" --inputs "$tmp/z.safetensors" --vae-tile \
    --vae-tile-size 8 --vae-tile-overlap 8
bad "decode: missing weights file is named" "no-such.safetensors" \
    eval vae-decode --weights "$tmp/no-such.safetensors" --inputs "$tmp/z.safetensors"
