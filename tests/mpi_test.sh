#!/usr/bin/env bash
# mpi_test.sh: several CPU ranks under mpirun (oversubscribed, so 2 cores do):
# renders of the tiny model and `eval dit` on the golden Wan DiT under each
# parallel plan must equal the one-process result within 1e-5 relative
# (raylight-gen compare --tol), Ulysses renders on make-tiny --heads 2; test_usp checks the sequence-parallel attention
# and the sliced DiT (token counts that do not divide) under mpirun; the plan
# refuses Ulysses 2 on the one-head tiny model with the plans that work; one
# failing rank (RAYLIGHT_TEST_FAIL_RANK) ends every rank non-zero within 30 s
# with its message; ranks started with other flags are named; --exchange-self
# gives the one-process result; --comm nccl is refused on CPU ranks; bench dit
# reports the exchange time per forward under a plan.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/raylight-gen
USP=$BUILD/tests/test_usp
G=tests/golden/wan_dit
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
if ! command -v mpirun >/dev/null; then
    echo "FAIL: mpi: mpirun not found (install the Debian package openmpi-bin)"
    exit 1
fi
for f in "$BIN" "$USP"; do
    if [ ! -x "$f" ]; then
        echo "FAIL: mpi: $f not found; build it first (make BUILD=$BUILD)"
        exit 1
    fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
MPI() { local np=$1; shift; timeout 60 mpirun -np "$np" --oversubscribe --bind-to none "$@"; }

# same latents/outputs as one process: name, reference, candidate
same() {
    if out=$("$BIN" compare "$3" "$2" --tol 1e-5 2>&1); then
        echo "PASS: $1 equals one process ($(echo "$out" | grep -o 'rel err [0-9.e+-]*'))"
    else
        echo "FAIL: $1 differs from one process: $out"
    fi
}

# -- the sequence-parallel attention and the sliced golden DiT (5 and 12 tokens)
for plan in "2 --ulysses 2" "2 --ring 2" "4 --ulysses 2 --ring 2" "3 --ring 3"; do
    set -- $plan; np=$1; shift
    MPI "$np" "$USP" "$@" >"$tmp/usp" 2>&1
    grep -E '^(PASS|FAIL): ' "$tmp/usp" | sed "s/^\(PASS\|FAIL\): /\1: np $np: /"
    grep -q '^PASS: ' "$tmp/usp" || echo "FAIL: test_usp np $np $*: $(tail -c 400 "$tmp/usp")"
done

# -- eval dit on the golden DiT (2 heads): one process vs each plan
for m in official_f32 diffusers_f16; do
    "$BIN" eval dit --weights "$G/$m.safetensors" --inputs "$G/$m.io.safetensors" --out "$tmp/$m.1.safetensors" \
        2>"$tmp/err" || echo "FAIL: eval dit $m, one process: $(cat "$tmp/err")"
done
for plan in "2 --ulysses 2" "2 --ring 2" "4 --ulysses 2 --ring 2" "4 --ring 4"; do
    set -- $plan; np=$1; shift
    m=official_f32; [ "$np" = 2 ] && [ "$1" = --ulysses ] && m=diffusers_f16
    rm -f "$tmp/out.safetensors"
    if MPI "$np" "$BIN" eval dit --weights "$G/$m.safetensors" --inputs "$G/$m.io.safetensors" \
           --out "$tmp/out.safetensors" "$@" >"$tmp/log" 2>&1; then
        same "eval dit $m, np $np $*" "$tmp/$m.1.safetensors:y" "$tmp/out.safetensors:y"
    else
        echo "FAIL: eval dit $m, np $np $*: $(tail -c 400 "$tmp/log")"
    fi
done

# -- --exchange-self (one rank runs the Ulysses all-to-all and a ring step with itself,
#    the ring merge op included): the same output as the plain forward, alone and under mpirun -np 1
for how in "solo" "mpirun"; do
    m=official_f32; rm -f "$tmp/self.safetensors"
    pre=(); [ $how = mpirun ] && pre=(MPI 1)
    if "${pre[@]}" "$BIN" eval dit --weights "$G/$m.safetensors" --inputs "$G/$m.io.safetensors" \
           --out "$tmp/self.safetensors" --exchange-self --comm mpi -v >"$tmp/log" 2>&1 \
       && grep -q "^exchanges .* s, attention" "$tmp/log"; then
        same "eval dit $m --exchange-self ($how)" "$tmp/$m.1.safetensors:y" "$tmp/self.safetensors:y"
    else
        echo "FAIL: eval dit --exchange-self ($how): $(tail -c 400 "$tmp/log")"
    fi
done

# -- --comm: nccl on CPU ranks is refused with a sentence saying what to use
"$BIN" eval dit --weights "$G/official_f32.safetensors" --inputs "$G/official_f32.io.safetensors" \
    --out "$tmp/n.safetensors" --comm nccl >"$tmp/log" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q -- "--comm nccl needs the CUDA backend.*use --comm mpi" "$tmp/log" && [ ! -e "$tmp/n.safetensors" ]; then
    echo "PASS: --comm nccl on the CPU backend is refused with what to use"
else
    echo "FAIL: --comm nccl on the CPU backend (rc $rc): $(cat "$tmp/log")"
fi
RAYLIGHT_COMM=bogus "$BIN" eval dit --weights "$G/official_f32.safetensors" --inputs "$G/official_f32.io.safetensors" \
    --out "$tmp/n.safetensors" >"$tmp/log" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q -- "--comm 'bogus' is unknown; use auto, mpi or nccl" "$tmp/log"; then
    echo "PASS: RAYLIGHT_COMM=bogus is refused naming the flag"
else
    echo "FAIL: RAYLIGHT_COMM=bogus (rc $rc): $(cat "$tmp/log")"
fi

# -- bench dit under a plan: the exchange time per forward in the text line and in --json
if MPI 2 "$BIN" bench dit --backend cpu --weights "$G/official_f32.safetensors" --size 64x64 --frames 5 --iters 2 \
       --warmup 1 --ring 2 --json >"$tmp/log" 2>&1 && grep -q '"comm_ms_per_forward":' "$tmp/log" \
       && grep -q '"ring":	2' "$tmp/log" && grep -q '"comm":	"mpi"' "$tmp/log"; then
    echo "PASS: bench dit --ring 2 --json on 2 CPU ranks reports comm_ms_per_forward"
else
    echo "FAIL: bench dit --ring 2 --json on 2 CPU ranks: $(tail -c 600 "$tmp/log")"
fi
if MPI 2 "$BIN" bench dit --backend cpu --weights "$G/official_f32.safetensors" --size 64x64 --frames 1 --iters 1 \
       --warmup 0 --cfg-parallel >"$tmp/log" 2>&1 && grep -q "cfg 2 x ulysses 1 x ring 1.*ms/forward, exchanges [0-9.]* ms/forward" "$tmp/log"; then
    echo "PASS: bench dit --cfg-parallel on 2 CPU ranks prints ms and exchanges per forward"
else
    echo "FAIL: bench dit --cfg-parallel on 2 CPU ranks: $(tail -c 600 "$tmp/log")"
fi

# -- renders of the tiny model (1 head of 128): 144x112, 1 frame = 63 tokens (divides by no
#    world size here), and 128x128, 5 frames = 128 tokens
"$BIN" make-tiny --out "$tmp/m" --text-dim 64 >/dev/null 2>"$tmp/err" || echo "FAIL: make-tiny: $(cat "$tmp/err")"
R() { "$@" --model tiny --model-dir "$tmp/m" --backend cpu --prompt "a red fox in snow" --seed 7 --steps 3 -q; }
R "$BIN" --size 144x112 --frames 1 -o "$tmp/a1.png" --save-latents "$tmp/a1.safetensors" 2>"$tmp/err" ||
    echo "FAIL: render, one process: $(cat "$tmp/err")"
R "$BIN" --size 128x128 --frames 5 -o "$tmp/b1.png/" --save-latents "$tmp/b1.safetensors" 2>"$tmp/err" ||
    echo "FAIL: render 5 frames, one process: $(cat "$tmp/err")"
for plan in "2 a --ring 2" "2 a --cfg-parallel" "2 a" "4 a --ring 2 --cfg-parallel" "4 a --ring 4" "2 b --ring 2"; do
    set -- $plan; np=$1; c=$2; shift 2
    size="--size 144x112 --frames 1"; [ "$c" = b ] && size="--size 128x128 --frames 5"
    rm -f "$tmp/lat.safetensors"
    if R MPI "$np" "$BIN" $size -o "$tmp/o$np.png/" --save-latents "$tmp/lat.safetensors" "$@" >"$tmp/log" 2>&1; then
        same "render ${size#--size }, np $np ${*:-(automatic plan)}" "$tmp/${c}1.safetensors" "$tmp/lat.safetensors"
    else
        echo "FAIL: render np $np $*: $(tail -c 400 "$tmp/log")"
    fi
done

# -- Ulysses on a tiny model with 2 heads (make-tiny --heads 2), 63 tokens
"$BIN" make-tiny --out "$tmp/m2" --text-dim 64 --heads 2 >/dev/null 2>"$tmp/err" || echo "FAIL: make-tiny --heads 2: $(cat "$tmp/err")"
R2() { "$@" --model tiny --model-dir "$tmp/m2" --backend cpu --prompt "a red fox in snow" --seed 7 --steps 3 -q --size 144x112 --frames 1; }
R2 "$BIN" -o "$tmp/h1.png" --save-latents "$tmp/h1.safetensors" 2>"$tmp/err" || echo "FAIL: 2-head render, one process: $(cat "$tmp/err")"
for plan in "2 --ulysses 2" "4 --ulysses 2 --ring 2" "4 --ulysses 2 --cfg-parallel"; do
    set -- $plan; np=$1; shift
    rm -f "$tmp/lat.safetensors"
    if R2 MPI "$np" "$BIN" -o "$tmp/o$np.png" --save-latents "$tmp/lat.safetensors" "$@" >"$tmp/log" 2>&1; then
        same "render 2 heads 144x112, np $np $*" "$tmp/h1.safetensors" "$tmp/lat.safetensors"
    else
        echo "FAIL: 2-head render np $np $*: $(tail -c 400 "$tmp/log")"
    fi
done

# -- the plan refuses what cannot work, listing what can
R MPI 2 "$BIN" --size 144x112 --frames 1 -o "$tmp/u.png" --ulysses 2 >"$tmp/log" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "1 attention head does not divide by 2" "$tmp/log" && grep -q -- "--ulysses 1 --ring 2" "$tmp/log"; then
    echo "PASS: --ulysses 2 on the one-head tiny model is refused with the plans that work"
else
    echo "FAIL: --ulysses 2 on the one-head tiny model (rc $rc): $(tail -c 400 "$tmp/log")"
fi

# -- one failing rank ends every rank, non-zero, within 30 s, with its message
t0=$(date +%s)
RAYLIGHT_TEST_FAIL_RANK=1 R MPI 2 "$BIN" --size 144x112 --frames 1 -o "$tmp/f.png" --ring 2 >"$tmp/log" 2>&1; rc=$?
dt=$(( $(date +%s) - t0 ))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $dt -le 30 ] && grep -q "rank 1: --dit .*RAYLIGHT_TEST_FAIL_RANK" "$tmp/log" \
   && [ ! -e "$tmp/f.png" ]; then
    echo "PASS: a failure on rank 1 ends all ranks (exit $rc after ${dt} s) with its message"
else
    echo "FAIL: a failure on rank 1 (rc $rc after ${dt} s): $(tail -c 400 "$tmp/log")"
fi

# -- ranks started with other flags are named at start
MPI 2 bash -c 'extra=; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && extra="--steps 4"; exec "$0" "$@" $extra' \
    "$BIN" --model tiny --model-dir "$tmp/m" --backend cpu --prompt fox --seed 7 --steps 3 -o "$tmp/d.png" \
    >"$tmp/log" 2>&1; rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1 was started with other arguments" "$tmp/log" && [ ! -e "$tmp/d.png" ]; then
    echo "PASS: a rank started with other flags is named (exit $rc)"
else
    echo "FAIL: a rank started with other flags (rc $rc): $(tail -c 400 "$tmp/log")"
fi
