#!/usr/bin/env bash
# Block swap on one GPU: Wan 14B bf16 (random full-size weights) at 832x480x33,
# plain and with 10, 20, 30, 40 blocks offloaded, then under --vram-limit 16
# --auto-plan. One line per run: offload, peak device memory, pinned host memory,
# ms per forward. Figures only, never pass/fail (copy them into docs/perf.md).
# Usage: scripts/bench-offload.sh [BUILD_DIR] [ITERS]
set -u
cd "$(dirname "$0")/.."
B=${1:-${BUILD:-build}}/raylight-gen
ITERS=${2:-3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
common=(bench dit --model 14b --size 832x480 --frames 33 --iters "$ITERS" --warmup 1 --backend cuda)
run() {
    local label=$1; shift
    local out
    if out=$("$B" "${common[@]}" "$@" 2>&1); then
        # "dit 14b ...: 1234.5 ms/forward, ... peak 15.2 GiB (weights ...), ..., offload N blocks (X pinned host)"
        local line ms peak pinned plan
        line=$(grep 'ms/forward' <<<"$out")
        ms=$(sed -n 's/.*: \([0-9.]*\) ms\/forward.*/\1/p' <<<"$line")
        peak=$(sed -n 's/.* peak \([0-9.]* [KMGT]*i*B\) (weights.*/\1/p' <<<"$line")
        pinned=$(sed -n 's/.*(\(.*\) pinned host).*/\1/p' <<<"$line")
        plan=$(sed -n 's/^auto-plan: //p' <<<"$out")
        printf '%-28s peak %-11s pinned %-11s %10s ms/forward\n' "$label" "$peak" "$pinned" "$ms"
        [ -n "$plan" ] && echo "    auto-plan: $plan"
    else
        printf '%-28s failed: %s\n' "$label" "$(tail -n 1 <<<"$out")"
    fi
}
for n in 0 10 20 30 40; do run "--offload-blocks $n" --offload-blocks "$n"; done
run "--vram-limit 16 --auto-plan" --vram-limit 16 --auto-plan
