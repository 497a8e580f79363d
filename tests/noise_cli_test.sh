#!/usr/bin/env bash
# noise_cli_test.sh: `raylight-gen eval noise` writes torch.randn(shape,
# generator=torch.manual_seed(seed)) bit for bit: its output is compared with the
# golden tensors of tests/golden/noise.safetensors (made by
# scripts/golden/make_sampler_golden.py) through `test_noise --compare`. Also:
# --seed -1 prints the seed it drew and that seed reproduces the file; bad
# --seed/--shape/--out values fail with one error line and leave no file.
# Uses $BUILD/raylight-gen and $BUILD/tests/test_noise. Prints PASS:/FAIL: lines.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/raylight-gen
CMP=$BUILD/tests/test_noise
for f in "$BIN" "$CMP"; do
    if [ ! -x "$f" ]; then
        echo "FAIL: noise_cli: $f not found; build it first (make BUILD=$BUILD)"
        exit 1
    fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# expect_golden NAME SEED SHAPE GOLDEN_TENSOR
expect_golden() {
    local name=$1 seed=$2 shape=$3 golden=$4 out="$tmp/$1.safetensors"
    if ! "$BIN" eval noise --seed "$seed" --shape "$shape" --out "$out" >"$tmp/log" 2>&1; then
        echo "FAIL: $name: eval noise failed: $(head -c 300 "$tmp/log")"
        return
    fi
    if "$CMP" --compare "$out" "$golden" >"$tmp/log" 2>&1; then
        echo "PASS: $name"
    else
        echo "FAIL: $name: $(head -c 300 "$tmp/log")"
    fi
}

expect_golden noise_cli_latent_seed0 0 1,16,2,8,8 noise.s0.latent
expect_golden noise_cli_latent_seed42 42 1,16,2,8,8 noise.s42.latent
expect_golden noise_cli_latent_seed2p32p7 4294967303 1,16,2,8,8 noise.s4294967303.latent
expect_golden noise_cli_large_seed_n17 12345678901234567890 17 noise.s12345678901234567890.n17
expect_golden noise_cli_scalar_path_n3 1 3 noise.s1.n3
expect_golden noise_cli_tail_2d 42 10,100 noise.s42.n1000

# --seed -1: a random seed, printed on stderr; the same seed gives the same file
if "$BIN" eval noise --seed -1 --shape 2,24 --out "$tmp/r.safetensors" 2>"$tmp/err" >/dev/null; then
    seed=$(sed -n 's/^raylight-gen: random seed \([0-9][0-9]*\)$/\1/p' "$tmp/err")
    if [ -n "$seed" ] && "$BIN" eval noise --seed "$seed" --shape 2,24 --out "$tmp/r2.safetensors" 2>/dev/null &&
        cmp -s "$tmp/r.safetensors" "$tmp/r2.safetensors"; then
        echo "PASS: noise_cli_random_seed_printed_and_reproducible"
    else
        echo "FAIL: noise_cli_random_seed_printed_and_reproducible: stderr was: $(head -c 200 "$tmp/err")"
    fi
else
    echo "FAIL: noise_cli_random_seed_printed_and_reproducible: --seed -1 failed: $(head -c 200 "$tmp/err")"
fi

# expect_error NAME WORD ARGS...: status 1, one stderr line containing WORD, no output file
expect_error() {
    local name=$1 word=$2 rc lines
    shift 2
    rm -f "$tmp/bad.safetensors"
    "$BIN" eval noise "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$word" "$tmp/err" && [ ! -e "$tmp/bad.safetensors" ]; then
        echo "PASS: $name"
    else
        echo "FAIL: $name: status $rc, $lines stderr lines (want 1 naming $word): $(head -c 300 "$tmp/err")"
    fi
}
expect_error noise_cli_bad_seed --seed --seed 12abc --shape 4 --out "$tmp/bad.safetensors"
expect_error noise_cli_seed_too_big --seed --seed 18446744073709551616 --shape 4 --out "$tmp/bad.safetensors"
expect_error noise_cli_zero_dim --shape --seed 1 --shape 1,0,4 --out "$tmp/bad.safetensors"
expect_error noise_cli_bad_shape --shape --seed 1 --shape 1,x --out "$tmp/bad.safetensors"
expect_error noise_cli_too_many_dims --shape --seed 1 --shape 1,1,1,1,1,1 --out "$tmp/bad.safetensors"
expect_error noise_cli_no_shape --shape --seed 1 --out "$tmp/bad.safetensors"
expect_error noise_cli_no_out --out --seed 1 --shape 4
expect_error noise_cli_unwritable "$tmp/nodir/x.safetensors" --seed 1 --shape 4 --out "$tmp/nodir/x.safetensors"
