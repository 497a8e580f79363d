#!/usr/bin/env bash
# The scripts other people call: scripts/ci-smoke-render.sh (a tiny render checked
# with ffprobe; a broken binary must make it fail) and scripts/render-batch-mpi.sh
# (a prompt list with one process and, when mpirun is installed, two), and
# scripts/bench-usp.sh (its arguments; a run on the golden DiT with CPU ranks).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1: $(head -c 300 "$tmp/err" 2>/dev/null | tr '\n' ' ')"; fi; }

BUILD=$BUILD STEPS=2 bash scripts/ci-smoke-render.sh "$tmp/smoke" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "ci-smoke-render.sh renders and checks the tiny model" "[ $rc -eq 0 ] && grep -q '^ci-smoke-render: OK' $tmp/out"
printf '#!/bin/sh\nexit 3\n' >"$tmp/broken"; chmod +x "$tmp/broken"
RAYLIGHT_GEN=$tmp/broken bash scripts/ci-smoke-render.sh "$tmp/smoke2" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "ci-smoke-render.sh fails (non-zero, one reason) with a broken binary" "[ $rc -ne 0 ] && grep -q 'FAILED: make-tiny' $tmp/err"

printf 'a red fox in snow\n{"prompt": "a cat", "seed": 5}\n' >"$tmp/list.txt"
export RAYLIGHT_GEN=$BUILD/raylight-gen MODEL=tiny RAYLIGHT_MODELS=$tmp/smoke/tiny
OUT=$tmp/r1/x.png bash scripts/render-batch-mpi.sh "$tmp/list.txt" 1 --backend cpu --steps 2 --frames 1 --seed 1 \
    >"$tmp/out" 2>"$tmp/err"; rc=$?
check "render-batch-mpi.sh with one process" "[ $rc -eq 0 ] && [ -s $tmp/r1/x_0001.png ] && [ -s $tmp/r1/x_0002.png ]"
if command -v mpirun >/dev/null 2>&1; then
    OUT=$tmp/r2/x.png bash scripts/render-batch-mpi.sh "$tmp/list.txt" 2 --backend cpu --steps 2 --frames 1 --seed 1 \
        >"$tmp/out" 2>"$tmp/err"; rc=$?
    check "render-batch-mpi.sh under mpirun -np 2" "[ $rc -eq 0 ] && [ -s $tmp/r2/x_0001.png ] && [ -s $tmp/r2/x_0002.png ]"
    check "the two runs wrote the same images" "cmp -s $tmp/r1/x_0002.png $tmp/r2/x_0002.png"
fi
bash scripts/render-batch-mpi.sh "$tmp/missing.txt" 1 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "render-batch-mpi.sh refuses a missing list" "[ $rc -eq 1 ] && grep -q 'cannot read the prompt list' $tmp/err"
# scripts/bench-usp.sh: argument handling, and the whole run on the golden DiT with 1 and 2 CPU ranks
bash scripts/bench-usp.sh abc "$BUILD" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bench-usp.sh refuses a GPU count that is not a number" "[ $rc -eq 1 ] && grep -q 'must be a positive integer' $tmp/err"
bash scripts/bench-usp.sh 0 "$BUILD" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bench-usp.sh refuses 0 GPUs" "[ $rc -eq 1 ] && grep -q \"got '0'\" $tmp/err"
bash scripts/bench-usp.sh 2 "$tmp/nowhere" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bench-usp.sh names a missing binary" "[ $rc -eq 1 ] && grep -q 'nowhere/raylight-gen not found' $tmp/err"
if ! command -v nvidia-smi >/dev/null 2>&1; then
    bash scripts/bench-usp.sh "" "$BUILD" >"$tmp/out" 2>"$tmp/err"; rc=$?
    check "bench-usp.sh without a count and without GPUs asks for the count" "[ $rc -eq 1 ] && grep -q 'give the GPU count' $tmp/err"
fi
U=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 BACKEND=cpu ITERS=1 WARMUP=0 SIZES=64x64x5
   MODEL_ARGS="--weights tests/golden/wan_dit/official_f32.safetensors")
"${U[@]}" bash scripts/bench-usp.sh 1 "$BUILD" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bench-usp.sh 1 on a CPU rank: the plain and the self-exchange lines" \
    "[ $rc -eq 0 ] && [ \$(grep -c 'ms/forward .*x .* ms exchanges/forward' $tmp/out) -eq 2 ] && ! grep -q failed $tmp/out"
if command -v mpirun >/dev/null 2>&1; then
    "${U[@]}" bash scripts/bench-usp.sh 2 "$BUILD" >"$tmp/out" 2>"$tmp/err"; rc=$?
    check "bench-usp.sh 2 on CPU ranks: 1 rank, self exchange, ulysses 2, ring 2, cfg-parallel" \
        "[ $rc -eq 0 ] && [ \$(grep -c 'ms/forward .*x .* ms exchanges/forward' $tmp/out) -eq 5 ] && ! grep -q failed $tmp/out \
         && grep -q '^  ring 2 ' $tmp/out && grep -q 'cfg-parallel' $tmp/out"
    sed 's/^/    /' "$tmp/out"
fi
# scripts/bench-memory.sh GPUS [BUILD_DIR] [ITERS]: argument handling (the runs themselves need GPUs)
bash scripts/bench-memory.sh >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bench-memory.sh without GPUS prints its usage (exit 2)" "[ $rc -eq 2 ] && grep -q 'usage: scripts/bench-memory.sh GPUS' $tmp/err"
bash scripts/bench-memory.sh two >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bench-memory.sh refuses a GPU count that is not a number" "[ $rc -eq 2 ] && grep -q \"GPUS 'two' is not a number\" $tmp/err"
bash scripts/bench-memory.sh 2 "$BUILD" 0 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bench-memory.sh refuses 0 iterations" "[ $rc -eq 2 ] && grep -q \"ITERS '0'\" $tmp/err"
bash scripts/bench-memory.sh 2 "$tmp/nowhere" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bench-memory.sh names a missing binary" "[ $rc -eq 2 ] && grep -q 'nowhere/raylight-gen not found' $tmp/err"
exit 0
