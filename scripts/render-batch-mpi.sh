#!/usr/bin/env bash
# Renders every prompt of a prompt list in one run (each model loaded once),
# under mpirun with NP processes (one per GPU), or as one plain process when NP
# is 1 or mpirun is not installed.
#
# Usage: scripts/render-batch-mpi.sh PROMPTS_FILE [NP] [raylight-gen flags...]
#   PROMPTS_FILE  one prompt a line, or JSON lines ({"prompt": ..., "seed": N,
#                 "size": "WxH", "frames": N, "steps": N, "output": "x.mp4"});
#                 blank lines and '#' comments are skipped
#   NP            processes (default 1)
# Environment: RAYLIGHT_GEN (default build/raylight-gen), MODEL (default wan1.3b),
# RAYLIGHT_MODELS (where the model files are), OUT (default renders/out.mp4: a line
# without "output" writes renders/out_0001.mp4, renders/out_0002.mp4, ...).
# Example:
#   RAYLIGHT_MODELS=~/ComfyUI/models scripts/render-batch-mpi.sh prompts.txt 2 --steps 30 --seed 7
set -u
[ $# -ge 1 ] && [ "$1" != -h ] && [ "$1" != --help ] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
prompts=$1; shift
np=1
if [ $# -ge 1 ] && [[ "$1" =~ ^[0-9]+$ ]]; then np=$1; shift; fi
[ "$np" -ge 1 ] || { echo "render-batch-mpi: NP must be at least 1, not $np" >&2; exit 1; }
BIN=${RAYLIGHT_GEN:-$(dirname "$0")/../build/raylight-gen}
OUT=${OUT:-renders/out.mp4}
[ -r "$prompts" ] || { echo "render-batch-mpi: cannot read the prompt list $prompts" >&2; exit 1; }
[ -x "$BIN" ] || { echo "render-batch-mpi: $BIN not found: run make (or set RAYLIGHT_GEN)" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"

cmd=("$BIN" --model "${MODEL:-wan1.3b}" --prompts-file "$prompts" -o "$OUT" "$@")
if [ "$np" -gt 1 ] && command -v mpirun >/dev/null 2>&1; then
    extra=()
    [ "$(id -u)" -eq 0 ] && extra+=(--allow-run-as-root) # containers often run as root
    exec mpirun "${extra[@]}" -np "$np" "${cmd[@]}"
fi
[ "$np" -gt 1 ] && echo "render-batch-mpi: mpirun not found; rendering with one process" >&2
exec "${cmd[@]}"
