#!/usr/bin/env bash
# CLI behaviour: help lists every flag with its default, bad flags and values are
# one-line errors naming the flag with exit status 1, version and info work.
set -u
BIN=${BUILD:-build}/raylight-gen
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# --help: every flag of the render table, each with a default
"$BIN" --help >"$tmp/help" 2>&1; rc=$?
check "help exits 0" "[ $rc -eq 0 ]"
for f in --model --model-dir --dit --t5 --vae --tokenizer --prompt --negative-prompt --size --frames --steps \
         --cfg --shift --sampler --seed --output --fps --crf --save-latents --backend --verbose --json; do
    grep -qE -- "(^|[ ,])$f( |$)" "$tmp/help" || bad "help lists $f"
done
ok "help lists every render flag"
n_opts=$(grep -cE '^  (-[a-z], )?--' "$tmp/help")
n_def=$(grep -cE '^  (-[a-z], )?--.*\(default: ' "$tmp/help")
check "help gives a default for each of the $n_opts flags" "[ $n_opts -gt 20 ] && [ $n_def -eq $((n_opts - 1)) ]"
grep -q "default: 50" "$tmp/help" && grep -q "default: unipc" "$tmp/help" && ok "help shows default values" || bad "help shows default values"

# unknown flag and bad values: exit 1, one line naming the flag
"$BIN" --no-such-flag >"$tmp/out" 2>"$tmp/err"; rc=$?
check "unknown flag exits 1" "[ $rc -eq 1 ]"
check "unknown flag is named in one line" "[ \$(wc -l <$tmp/err) -eq 1 ] && grep -q -- '--no-such-flag' $tmp/err"
"$BIN" --steps abc --prompt x >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bad integer names the flag" "[ $rc -eq 1 ] && grep -q -- '--steps' $tmp/err && grep -q abc $tmp/err"
"$BIN" --cfg 1e999 --prompt x >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bad number names the flag" "[ $rc -eq 1 ] && grep -q -- '--cfg' $tmp/err"
"$BIN" --frames 0 --prompt x >"$tmp/out" 2>"$tmp/err"; rc=$?
check "out-of-range value names the flag and range" "[ $rc -eq 1 ] && grep -q -- '--frames' $tmp/err && grep -q 'between' $tmp/err"
"$BIN" --steps >"$tmp/out" 2>"$tmp/err"; rc=$?
check "missing value names the flag" "[ $rc -eq 1 ] && grep -q -- '--steps needs a value' $tmp/err"
RAYLIGHT_STEPS=x "$BIN" --prompt x >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bad environment twin names the variable" "[ $rc -eq 1 ] && grep -q RAYLIGHT_STEPS $tmp/err"
"$BIN" frobnicate >"$tmp/out" 2>"$tmp/err"; rc=$?
check "unknown command exits 1 naming it" "[ $rc -eq 1 ] && grep -q frobnicate $tmp/err"
"$BIN" info >"$tmp/out" 2>"$tmp/err"; rc=$?
check "info without a file is an error" "[ $rc -eq 1 ] && [ \$(wc -l <$tmp/err) -eq 1 ]"
"$BIN" info "$tmp/does-not-exist.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "info on a missing file names it" "[ $rc -eq 1 ] && grep -q does-not-exist $tmp/err && [ \$(wc -l <$tmp/err) -eq 1 ]"
"$BIN" info --help >"$tmp/out" 2>&1; rc=$?
check "info --help" "[ $rc -eq 0 ] && grep -q 'usage: raylight-gen info' $tmp/out"
"$BIN" eval --help >"$tmp/out" 2>&1; rc=$?
check "eval --help lists targets" "[ $rc -eq 0 ] && grep -q 'targets:' $tmp/out"

# version
"$BIN" version >"$tmp/out" 2>&1; rc=$?
check "version prints version, backends, libraries" \
  "[ $rc -eq 0 ] && grep -q '^raylight-gen [0-9]' $tmp/out && grep -q '^backends: cpu' $tmp/out && grep -q cJSON $tmp/out && grep -q MPI $tmp/out"
exit 0
