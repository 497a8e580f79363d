#!/usr/bin/env bash
# bench-usp.sh (make bench): the Wan 14B DiT forward (random full-size bf16
# weights) split over N GPUs with sequence parallelism, one line per plan:
# ms per forward, speedup over the 1-GPU run, and exchange (communication) ms
# per forward. Plans: 1 GPU, 1 GPU exchanging with itself (--exchange-self: the
# cost of the all-to-all and a ring step as a share of the plain 1-GPU forward,
# measurable on one GPU; that run also computes the ring's second attention, so
# its own ms/forward is not a plan to use), then for N > 1: ulysses N, ring N, each ulysses u x ring N/u, and
# cfg-parallel (cfg 2 x ulysses N/2: a guided step's two forwards on two groups;
# its figures are per forward, half a step). Sizes: 832x480x81, and also
# 1280x720x81 with 8 GPUs. Figures only, never pass/fail (see docs/parallel.md).
#
# Usage: scripts/bench-usp.sh [NGPUS] [BUILD_DIR]
#   NGPUS     default: every GPU nvidia-smi -L lists
#   BUILD_DIR default: $BUILD or build
# Environment: ITERS (2), WARMUP (1), BACKEND (cuda; cpu runs CPU ranks, for
#   tests), COMM (nccl on cuda, mpi on cpu), MODEL_ARGS ("--model 14b"; e.g.
#   "--weights small.safetensors"), SIZES ("832x480x81 ..." as WxHxFRAMES),
#   MPIRUN_ARGS (extra mpirun flags, e.g. a hostfile).
set -u
cd "$(dirname "$0")/.."
N=${1:-}
B=${2:-${BUILD:-build}}/raylight-gen
ITERS=${ITERS:-2}
WARMUP=${WARMUP:-1}
BACKEND=${BACKEND:-cuda}
COMM=${COMM:-$([ "$BACKEND" = cuda ] && echo nccl || echo mpi)}
MODEL_ARGS=${MODEL_ARGS:---model 14b}
usage="usage: scripts/bench-usp.sh [NGPUS] [BUILD_DIR]"
if [ -z "$N" ]; then
    N=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
    if [ "${N:-0}" -lt 1 ]; then
        echo "bench-usp: no GPU is visible (nvidia-smi -L lists none); give the GPU count: $usage" >&2
        exit 1
    fi
fi
case $N in
    '' | *[!0-9]* | 0*) echo "bench-usp: the GPU count must be a positive integer (got '$N'); $usage" >&2; exit 1 ;;
esac
if [ ! -x "$B" ]; then
    echo "bench-usp: $B not found; build it first (make BUILD=${B%/raylight-gen})" >&2
    exit 1
fi
if [ "$N" -gt 1 ] && ! command -v mpirun >/dev/null 2>&1; then
    echo "bench-usp: mpirun not found (install openmpi-bin) for $N ranks" >&2
    exit 1
fi
SIZES=${SIZES:-832x480x81$([ "$N" -ge 8 ] && echo " 1280x720x81")}
mpi=(mpirun --bind-to none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
[ "$BACKEND" = cpu ] && mpi+=(--oversubscribe)
read -r -a extra <<<"${MPIRUN_ARGS:-}"
unit=GPU; [ "$BACKEND" = cpu ] && unit=rank
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1 | sed "s/^/GPU: /;s/\$/ (x $N)/"

base=
# label, ranks, bench dit flags...: one line of figures
line() {
    local label=$1 np=$2; shift 2
    local out ms comm
    local cmd=("$B" bench dit --backend "$BACKEND" $MODEL_ARGS --size "$size" --frames "$frames" --iters "$ITERS"
               --warmup "$WARMUP" --comm "$COMM" "$@")
    if [ "$np" -gt 1 ]; then cmd=("${mpi[@]}" "${extra[@]}" -np "$np" "${cmd[@]}"); fi
    if out=$(OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "${cmd[@]}" 2>&1); then
        # "...: 1234.5 ms/forward, exchanges 12.34 ms/forward (1.0%), ..."
        ms=$(sed -n 's/.*: \([0-9.]*\) ms\/forward, exchanges .*/\1/p' <<<"$out" | tail -1)
        comm=$(sed -n 's/.* exchanges \([0-9.]*\) ms\/forward.*/\1/p' <<<"$out" | tail -1)
    fi
    if [ -z "${ms:-}" ]; then
        printf '  %-34s failed: %s\n' "$label" "$(grep -m1 'error:' <<<"${out:-}" || tail -n 1 <<<"${out:-no output}")"
        return
    fi
    [ -z "$base" ] && base=$ms
    # the self-exchange forward also runs the ring's second attention: its share is of the plain forward
    local of=$ms; [ -n "${SHARE_OF_BASE:-}" ] && of=$base
    printf '  %-34s %10.1f ms/forward %7.2fx %10.2f ms exchanges/forward (%s)\n' "$label" "$ms" \
        "$(awk -v b="$base" -v m="$ms" 'BEGIN { print (m > 0 ? b / m : 0) }')" "$comm" \
        "$(awk -v c="$comm" -v m="$of" 'BEGIN { printf "%.1f%%", (m > 0 ? 100 * c / m : 0) }')"
}

for s in $SIZES; do
    size=${s%x*}; frames=${s##*x}
    base=
    echo "$s over $N $unit(s), --comm $COMM ($ITERS timed, $WARMUP warmup):"
    line "1 $unit" 1 --ulysses 1 --ring 1
    SHARE_OF_BASE=1 line "1 $unit, self exchange" 1 --ulysses 1 --ring 1 --exchange-self
    [ "$N" -gt 1 ] || continue
    line "ulysses $N" "$N" --ulysses "$N" --ring 1
    line "ring $N" "$N" --ulysses 1 --ring "$N"
    for ((u = 2; u < N; u++)); do
        [ $((N % u)) -eq 0 ] && line "ulysses $u x ring $((N / u))" "$N" --ulysses "$u" --ring $((N / u))
    done
    if [ $((N % 2)) -eq 0 ]; then
        line "cfg 2 x ulysses $((N / 2)) (cfg-parallel)" "$N" --cfg-parallel --ulysses $((N / 2)) --ring 1
    fi
done
