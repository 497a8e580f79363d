#!/usr/bin/env bash
# offload_test.sh: the block-swap flags through the command line on the CPU:
# `eval dit --offload-blocks 0/1/2` on a golden DiT writes byte-identical files
# (and y matches diffusers within 1e-4); --vram-limit refuses with a sentence
# naming the limit and the flags that help; --auto-plan prints its plan, and
# refuses without --vram-limit, together with --offload-blocks, or when nothing
# fits; --offload-blocks past the block count is refused. Prints PASS:/FAIL: lines.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/raylight-gen
CMP=$BUILD/tests/test_wan_dit
G=tests/golden/wan_dit
for f in "$BIN" "$CMP"; do
    if [ ! -x "$f" ]; then
        echo "FAIL: offload: $f not found; build it first (make BUILD=$BUILD)"
        exit 1
    fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
E() { "$BIN" eval dit --weights "$G/comfy_bf16.safetensors" --inputs "$G/comfy_bf16.io.safetensors" --backend cpu "$@"; }
check() { if eval "$2"; then echo "PASS: $1"; else echo "FAIL: $1: $(head -c 400 "$tmp/err" 2>/dev/null)"; fi; }

for n in 0 1 2; do E --out "$tmp/y$n.safetensors" --offload-blocks "$n" >"$tmp/out" 2>"$tmp/err"; done
check "eval dit --offload-blocks 1 and 2 write the bytes of --offload-blocks 0" \
    "cmp -s $tmp/y0.safetensors $tmp/y1.safetensors && cmp -s $tmp/y0.safetensors $tmp/y2.safetensors"
check "eval dit --offload-blocks 2 matches diffusers" "$CMP --compare $tmp/y2.safetensors $G/comfy_bf16.io.safetensors >$tmp/err 2>&1"

E --out "$tmp/l.safetensors" --vram-limit 0.0005 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--vram-limit refuses with a sentence naming the limit and the flags" \
    "[ $rc -ne 0 ] && [ ! -e $tmp/l.safetensors ] && grep -q 'out of memory under --vram-limit 524.29 KiB' $tmp/err && grep -q -- '--offload-blocks N' $tmp/err && grep -q -- '--auto-plan' $tmp/err"

E --out "$tmp/a.safetensors" --vram-limit 1 --auto-plan >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--auto-plan prints its plan and runs" \
    "[ $rc -eq 0 ] && grep -q 'auto-plan: no offload (all 2 blocks on the device): predicted peak' $tmp/err && cmp -s $tmp/y0.safetensors $tmp/a.safetensors"

E --out "$tmp/b.safetensors" --vram-limit 0.0005 --auto-plan >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--auto-plan says when nothing fits, with the numbers" \
    "[ $rc -ne 0 ] && grep -q 'nothing fits in --vram-limit 524.29 KiB: even with all 2 blocks offloaded' $tmp/err && grep -q 'activations for 18 tokens' $tmp/err"

E --out "$tmp/c.safetensors" --auto-plan >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--auto-plan without --vram-limit is refused" "[ $rc -ne 0 ] && grep -q -- '--auto-plan needs --vram-limit' $tmp/err"

E --out "$tmp/c.safetensors" --auto-plan --vram-limit 1 --offload-blocks 1 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--auto-plan with --offload-blocks is refused" "[ $rc -ne 0 ] && grep -q 'not both' $tmp/err"

E --out "$tmp/c.safetensors" --offload-blocks 3 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--offload-blocks past the block count is refused" \
    "[ $rc -ne 0 ] && grep -q -- '--offload-blocks 3: the model has 2 blocks; give 0..2' $tmp/err"
