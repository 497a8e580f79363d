#!/usr/bin/env bash
# FSDP on several GPUs: Wan 14B bf16 (random full-size weights) at 832x480x33,
# one rank per GPU under mpirun: plain (every GPU holds every block), --fsdp,
# and --fsdp with 10, 20 and 40 blocks' shards in pinned host memory. Each rank
# runs the whole forward (no sequence parallelism), so the time is that of one
# GPU plus the gathers. One line per run: peak device memory per GPU (the largest
# over the ranks), pinned host memory (rank 0), ms per forward and the time in
# gathers. Figures only, never pass/fail (copy them into docs/perf.md).
# Usage: scripts/bench-memory.sh GPUS [BUILD_DIR] [ITERS]
#   (env: MODEL=14b|1.3b, SIZE=832x480, FRAMES=33, BACKEND=cuda, OFFLOADS="10 20 40",
#    MPIRUN="mpirun" and MPIRUN_ARGS for the launcher)
set -u
cd "$(dirname "$0")/.."
usage() { echo "usage: scripts/bench-memory.sh GPUS [BUILD_DIR] [ITERS]   (GPUS: ranks, one per GPU, >= 1)" >&2; }
if [ $# -lt 1 ] || [ $# -gt 3 ]; then usage; exit 2; fi
GPUS=$1
case "$GPUS" in ''|*[!0-9]*) echo "bench-memory: GPUS '$GPUS' is not a number" >&2; usage; exit 2 ;; esac
if [ "$GPUS" -lt 1 ]; then echo "bench-memory: GPUS must be at least 1" >&2; usage; exit 2; fi
B=${2:-${BUILD:-build}}/raylight-gen
ITERS=${3:-3}
case "$ITERS" in ''|*[!0-9]*|0) echo "bench-memory: ITERS '$ITERS' is not a positive number" >&2; usage; exit 2 ;; esac
if [ ! -x "$B" ]; then echo "bench-memory: $B not found; build it first (make)" >&2; exit 2; fi
LAUNCH=()
if [ "$GPUS" -gt 1 ]; then
    command -v "${MPIRUN:-mpirun}" >/dev/null || { echo "bench-memory: ${MPIRUN:-mpirun} not found" >&2; exit 2; }
    # shellcheck disable=SC2206
    LAUNCH=("${MPIRUN:-mpirun}" -np "$GPUS" ${MPIRUN_ARGS:---bind-to none})
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
common=(bench dit --model "${MODEL:-14b}" --size "${SIZE:-832x480}" --frames "${FRAMES:-33}" --iters "$ITERS" --warmup 1
        --backend "${BACKEND:-cuda}")
echo "${MODEL:-14b} ${SIZE:-832x480}x${FRAMES:-33} on $GPUS GPU(s), $ITERS forwards each (weights in the backend's dtype: bf16 on CUDA)"
run() {
    local label=$1; shift
    local out
    if out=$("${LAUNCH[@]}" "$B" "${common[@]}" "$@" 2>&1); then
        # "dit 14b ...: 1234.5 ms/forward, ... peak 15.2 GiB (weights ...), ..., offload N blocks (X pinned host),
        #  fsdp W ranks, gathers G ms/forward"
        local line ms peak pinned gat
        line=$(grep 'ms/forward' <<<"$out" | head -n 1)
        ms=$(sed -n 's/.*: \([0-9.]*\) ms\/forward.*/\1/p' <<<"$line")
        peak=$(sed -n 's/.* peak \([0-9.]* [KMGT]*i*B\) (weights.*/\1/p' <<<"$line")
        pinned=$(sed -n 's/.*(\(.*\) pinned host).*/\1/p' <<<"$line")
        gat=$(sed -n 's/.*gathers \([0-9.]*\) ms\/forward.*/\1/p' <<<"$line")
        printf '%-26s peak/GPU %-11s pinned %-11s %10s ms/forward  gathers %s ms\n' "$label" "$peak" "$pinned" "$ms" \
            "${gat:-0}"
    else
        printf '%-26s failed: %s\n' "$label" "$(grep -m 1 'error' <<<"$out" || tail -n 1 <<<"$out")"
    fi
}
run "plain"
if [ "$GPUS" -gt 1 ]; then
    run "--fsdp" --fsdp
    for n in ${OFFLOADS:-10 20 40}; do run "--fsdp --offload-blocks $n" --fsdp --offload-blocks "$n"; done
else
    echo "(one GPU: --fsdp has nothing to shard; the offload figures are scripts/bench-offload.sh's)"
fi
