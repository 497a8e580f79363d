#!/usr/bin/env bash
# fsdp_test.sh: --fsdp on 2 CPU ranks (mpirun -np 2 --oversubscribe). Each rank
# keeps half of every DiT block and umT5 layer and gathers a block before it
# runs; the gathered bytes are the whole model's, so results are bit-identical:
# - eval dit --fsdp (and --fsdp --offload-blocks 1) on golden DiTs writes the
#   bytes of the same plan without --fsdp, and equals one process within 1e-5;
#   every rank reads less of the file than one process does (eval dit -v);
# - tiny renders (2 heads) with --fsdp, --fsdp --offload-blocks 1, --fsdp
#   --ulysses 2, --fsdp --cfg-parallel give the latents of one process (the text
#   stage then runs the sharded umT5 on both ranks);
# - test_fsdp --mpi: a pass of sharded units over MPI hands out every unit's
#   exact bytes, and the gathers are nonblocking (MPI_Iallgather: rank 0 passes
#   begin and then meets rank 1 point to point before rank 1 enters begin);
# - --fsdp with one process is the plain run (same latents hash);
# - --fsdp --auto-plan prints the sharded plan; --offload-blocks past the block
#   count is refused with --fsdp too.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/raylight-gen
G=tests/golden/wan_dit
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
if ! command -v mpirun >/dev/null; then
    echo "FAIL: fsdp: mpirun not found (install the Debian package openmpi-bin)"
    exit 1
fi
if [ ! -x "$BIN" ]; then
    echo "FAIL: fsdp: $BIN not found; build it first (make BUILD=$BUILD)"
    exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
MPI() { timeout 60 mpirun -np 2 --oversubscribe --bind-to none "$@"; }
check() { if eval "$2"; then echo "PASS: $1"; else echo "FAIL: $1: $(tail -c 400 "$tmp/log" 2>/dev/null)"; fi; }
same() { # name, reference, candidate: within 1e-5 of one process
    if out=$("$BIN" compare "$3" "$2" --tol 1e-5 2>&1); then
        echo "PASS: $1 equals one process ($(echo "$out" | grep -o 'rel err [0-9.e+-]*'))"
    else
        echo "FAIL: $1 differs from one process: $out"
    fi
}

# -- the gathers themselves over MPI (nonblocking, exact bytes)
if [ -x "$BUILD/tests/test_fsdp" ]; then
    MPI "$BUILD/tests/test_fsdp" --mpi >"$tmp/gathers" 2>&1; rc=$?
    grep -E '^(PASS|FAIL): ' "$tmp/gathers" | sed 's/^\(PASS\|FAIL\): /\1: np 2: /'
    grep -q '^PASS: ' "$tmp/gathers" || echo "FAIL: test_fsdp --mpi np 2: $(tail -c 400 "$tmp/gathers")"
    [ $rc -eq 124 ] && echo "FAIL: test_fsdp --mpi np 2 timed out: gathers that block in begin wait for rank 1, which joins only after rank 0 has passed begin"
else
    echo "FAIL: fsdp: $BUILD/tests/test_fsdp not found; build it first (make BUILD=$BUILD)"
fi

# -- eval dit on golden DiTs (2 heads: the automatic plan is Ulysses 2)
for m in official_f32 comfy_fp8_scaled; do
    args=(eval dit --weights "$G/$m.safetensors" --inputs "$G/$m.io.safetensors" --backend cpu)
    "$BIN" "${args[@]}" --out "$tmp/$m.1.safetensors" -v >"$tmp/log1" 2>&1 ||
        echo "FAIL: eval dit $m, one process: $(tail -c 300 "$tmp/log1")"
    MPI "$BIN" "${args[@]}" --out "$tmp/$m.p.safetensors" >"$tmp/log" 2>&1 ||
        echo "FAIL: eval dit $m, np 2: $(tail -c 300 "$tmp/log")"
    flag_sets=("--fsdp --offload-blocks 1" "--fsdp"); [ $m = comfy_fp8_scaled ] && flag_sets=("--fsdp")
    for flags in "${flag_sets[@]}"; do
        rm -f "$tmp/$m.f.safetensors"
        if MPI "$BIN" "${args[@]}" --out "$tmp/$m.f.safetensors" $flags -v >"$tmp/log" 2>&1; then
            check "eval dit $m np 2 $flags writes the bytes of np 2 without --fsdp" \
                "cmp -s $tmp/$m.p.safetensors $tmp/$m.f.safetensors"
            same "eval dit $m np 2 $flags" "$tmp/$m.1.safetensors:y" "$tmp/$m.f.safetensors:y"
        else
            echo "FAIL: eval dit $m np 2 $flags: $(tail -c 400 "$tmp/log")"
        fi
    done
    whole=$(sed -n 's/^rank 0: read .*(\([0-9]*\) bytes).*/\1/p' "$tmp/log1")
    r0=$(sed -n 's/^rank 0: read .*(\([0-9]*\) bytes).*--fsdp.*/\1/p' "$tmp/log")
    r1=$(sed -n 's/^rank 1: read .*(\([0-9]*\) bytes).*--fsdp.*/\1/p' "$tmp/log")
    check "eval dit $m --fsdp: each rank reads less of the file than one process ($r0, $r1 < $whole bytes)" \
        "[ -n '$whole' ] && [ -n '$r0' ] && [ -n '$r1' ] && [ $r0 -lt $whole ] && [ $r1 -lt $whole ]"
done

# -- tiny renders, 2 heads, 144x112, 1 frame (63 tokens), 3 steps
"$BIN" make-tiny --out "$tmp/m2" --text-dim 64 --heads 2 >/dev/null 2>"$tmp/log" || echo "FAIL: make-tiny --heads 2: $(cat "$tmp/log")"
R() { "$@" --model tiny --model-dir "$tmp/m2" --backend cpu --prompt "a red fox in snow" --seed 7 --steps 3 -q --size 144x112 --frames 1; }
R "$BIN" -o "$tmp/h1.png" --save-latents "$tmp/h1.safetensors" 2>"$tmp/log" || echo "FAIL: render, one process: $(cat "$tmp/log")"
for plan in "--fsdp" "--fsdp --offload-blocks 1" "--fsdp --ulysses 2" "--fsdp --ring 2 --offload-blocks 2" "--fsdp --cfg-parallel"; do
    rm -f "$tmp/lat.safetensors"
    if R MPI "$BIN" -o "$tmp/o.png" --save-latents "$tmp/lat.safetensors" $plan >"$tmp/log" 2>&1; then
        same "render np 2 $plan" "$tmp/h1.safetensors" "$tmp/lat.safetensors"
    else
        echo "FAIL: render np 2 $plan: $(tail -c 400 "$tmp/log")"
    fi
done
R MPI "$BIN" -o "$tmp/o.png" --fsdp --json >"$tmp/json" 2>"$tmp/log"
check "render np 2 --fsdp --json reports fsdp_ranks 2 and the bytes read per stage" \
    "grep -q '\"fsdp_ranks\":[[:space:]]*2' $tmp/json && grep -q '\"weight_bytes_read\"' $tmp/json"

# -- one process: --fsdp is the plain run
R "$BIN" -o "$tmp/w1.png" --fsdp --json >"$tmp/json1" 2>"$tmp/log"
R "$BIN" -o "$tmp/w0.png" --json >"$tmp/json0" 2>>"$tmp/log"
h1=$(grep -o '"latents_hash":[^,]*' "$tmp/json1"); h0=$(grep -o '"latents_hash":[^,]*' "$tmp/json0")
check "--fsdp with one process is the plain run ($h1)" \
    "[ -n '$h1' ] && [ '$h1' = '$h0' ] && grep -q '\"fsdp_ranks\":[[:space:]]*1' $tmp/json1"

# -- the planner and refusals under mpirun
MPI "$BIN" --model tiny --model-dir "$tmp/m2" --backend cpu --prompt "a red fox in snow" --seed 7 --steps 1 \
    --size 144x112 --frames 1 -o "$tmp/a.png" --fsdp --vram-limit 1 --auto-plan >"$tmp/log" 2>&1; rc=$?
check "--fsdp --vram-limit 1 --auto-plan prints the sharded plan and runs" \
    "[ $rc -eq 0 ] && grep -q 'auto-plan: fsdp over 2 ranks (all 2 blocks sharded on the device): predicted peak' $tmp/log"
R MPI "$BIN" -o "$tmp/b.png" --fsdp --offload-blocks 3 >"$tmp/log" 2>&1; rc=$?
check "--fsdp --offload-blocks 3 on a 2-block model is refused" \
    "[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q -- '--offload-blocks 3: the model has 2 blocks' $tmp/log"
