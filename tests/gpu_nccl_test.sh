#!/usr/bin/env bash
# gpu_nccl_test.sh (make test-gpu): the NCCL path on the CUDA backend.
# One GPU: `eval dit` on the golden Wan DiT with --exchange-self (the Ulysses
# all-to-all and a ring step with itself as peer, the ring merge on the device)
# under `mpirun -np 1` with --comm nccl and with --comm mpi, and without mpirun:
# the NCCL and MPI runs equal each other (1e-6) and the plain forward (bf16,
# 2e-2); test_gpu_comm (the comm layer over NCCL at world size 1 against the
# host path) once more under mpirun -np 1; bench dit --exchange-self prints the
# exchange time. Several GPUs (nvidia-smi -L): eval dit under --ulysses 2 and
# --ring 2 over NCCL equals one process, --fsdp (with each of them, and with
# --offload-blocks 1) equals the same plan without it, and a failing rank ends
# both ranks.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/raylight-gen
G=tests/golden/wan_dit
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! command -v mpirun >/dev/null; then echo "FAIL: gpu_nccl: mpirun not found (openmpi-bin)"; exit 1; fi
MPI() { local np=$1; shift; timeout 120 mpirun -np "$np" --allow-run-as-root --bind-to none "$@"; }
cmp_tol() { # name, tol, a, b
    if out=$("$BIN" compare "$3" "$4" --tol "$2" 2>&1); then
        echo "PASS: $1 ($(echo "$out" | grep -o 'rel err [0-9.e+-]*'))"
    else
        echo "FAIL: $1: $out"
    fi
}
run() { # label, output file, command... (the command's failure is a FAIL line)
    local label=$1 out=$2; shift 2
    rm -f "$out"
    "$@" >"$tmp/log" 2>&1 || { echo "FAIL: $label: $(tail -c 600 "$tmp/log")"; return 1; }
}
E() { echo eval dit --backend cuda --weights "$G/$1.safetensors" --inputs "$G/$1.io.safetensors" --out "$2"; }

for m in official_f32 diffusers_f16; do
    run "eval dit $m plain" "$tmp/$m.ref" "$BIN" $(E $m "$tmp/$m.ref") || continue
    run "eval dit $m mpirun -np 1 --comm nccl --exchange-self" "$tmp/$m.nccl" \
        MPI 1 "$BIN" $(E $m "$tmp/$m.nccl") --comm nccl --exchange-self --verbose &&
        grep -q "exchanges of cuda tensors between 1 rank: nccl" "$tmp/log" &&
        echo "PASS: eval dit $m: --comm nccl under mpirun -np 1 took the NCCL path" ||
        echo "FAIL: eval dit $m: no NCCL line in: $(tail -c 400 "$tmp/log")"
    run "eval dit $m mpirun -np 1 --comm mpi --exchange-self" "$tmp/$m.mpi" \
        MPI 1 "$BIN" $(E $m "$tmp/$m.mpi") --comm mpi --exchange-self
    run "eval dit $m --comm nccl --exchange-self without mpirun" "$tmp/$m.solo" \
        "$BIN" $(E $m "$tmp/$m.solo") --comm nccl --exchange-self
    run "eval dit $m mpirun -np 1 --comm nccl (one-rank plan)" "$tmp/$m.nccl1" \
        MPI 1 "$BIN" $(E $m "$tmp/$m.nccl1") --comm nccl
    cmp_tol "eval dit $m: self exchange over nccl equals over mpi" 1e-6 "$tmp/$m.nccl:y" "$tmp/$m.mpi:y"
    cmp_tol "eval dit $m: nccl without mpirun equals under mpirun -np 1" 1e-6 "$tmp/$m.solo:y" "$tmp/$m.nccl:y"
    cmp_tol "eval dit $m: self exchange over nccl equals the plain forward (bf16)" 2e-2 "$tmp/$m.nccl:y" "$tmp/$m.ref:y"
    cmp_tol "eval dit $m: --comm nccl with a one-rank plan equals the plain forward" 1e-6 "$tmp/$m.nccl1:y" "$tmp/$m.ref:y"
done

# the comm layer over NCCL at world size 1 under mpirun (run.sh runs it alone too)
if [ -x "$BUILD/tests/test_gpu_comm" ]; then
    MPI 1 "$BUILD/tests/test_gpu_comm" >"$tmp/comm" 2>&1
    grep -E '^(PASS|FAIL): ' "$tmp/comm" | sed 's/^\(PASS\|FAIL\): /\1: mpirun -np 1: /'
    grep -q '^PASS: ' "$tmp/comm" || echo "FAIL: test_gpu_comm under mpirun -np 1: $(tail -c 400 "$tmp/comm")"
fi

# the exchange cost share on one GPU (a figure; the run itself must work)
if MPI 1 "$BIN" bench dit --backend cuda --weights "$G/official_f32.safetensors" --size 256x256 --frames 5 \
       --iters 3 --comm nccl --exchange-self >"$tmp/log" 2>&1 && grep -q "exchanges .* ms/forward" "$tmp/log"; then
    echo "PASS: bench dit --exchange-self over nccl reports the exchange time"
    grep "ms/forward" "$tmp/log" | sed 's/^/  /'
else
    echo "FAIL: bench dit --exchange-self over nccl: $(tail -c 400 "$tmp/log")"
fi

# several GPUs: the equivalence over NCCL between ranks, and failure handling
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "${ngpu:-0}" -ge 2 ]; then
    m=official_f32
    for plan in "--ulysses 2" "--ring 2"; do
        if run "eval dit $m np 2 $plan over nccl" "$tmp/np2.nccl" MPI 2 "$BIN" $(E $m "$tmp/np2.nccl") $plan --comm nccl &&
           run "eval dit $m np 2 $plan over mpi" "$tmp/np2.mpi" MPI 2 "$BIN" $(E $m "$tmp/np2.mpi") $plan --comm mpi; then
            cmp_tol "eval dit $m np 2 $plan: nccl equals mpi" 1e-6 "$tmp/np2.nccl:y" "$tmp/np2.mpi:y"
            cmp_tol "eval dit $m np 2 $plan over nccl equals one process (bf16)" 2e-2 "$tmp/np2.nccl:y" "$tmp/$m.ref:y"
        fi
    done
    # --fsdp over NCCL: the gathers on the comm stream give the unsharded blocks' bytes, alone
    # and beside the USP exchanges (two communicators in flight at once)
    for plan in "--ulysses 2" "--ring 2" "--ring 2 --offload-blocks 1"; do
        if run "eval dit $m np 2 $plan over nccl" "$tmp/np2.plain" MPI 2 "$BIN" $(E $m "$tmp/np2.plain") $plan --comm nccl &&
           run "eval dit $m np 2 $plan --fsdp over nccl" "$tmp/np2.fsdp" \
               MPI 2 "$BIN" $(E $m "$tmp/np2.fsdp") $plan --fsdp --comm nccl; then
            cmp_tol "eval dit $m np 2 $plan --fsdp over nccl equals the plan without --fsdp" 1e-6 "$tmp/np2.fsdp:y" \
                "$tmp/np2.plain:y"
        fi
    done
    "$BIN" make-tiny --out "$tmp/tiny" --text-dim 64 >/dev/null 2>&1
    t0=$(date +%s)
    RAYLIGHT_TEST_FAIL_RANK=1 MPI 2 "$BIN" --model tiny --model-dir "$tmp/tiny" --backend cuda --comm nccl --ring 2 \
        --prompt fox --seed 7 --steps 2 --size 144x112 --frames 1 -o "$tmp/f.png" >"$tmp/log" 2>&1; rc=$?
    dt=$(( $(date +%s) - t0 ))
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $dt -le 30 ] && grep -q "rank 1: --dit" "$tmp/log"; then
        echo "PASS: a failure on rank 1 ends both NCCL ranks (exit $rc after ${dt} s) with its message"
    else
        echo "FAIL: a failure on rank 1 over nccl (rc $rc after ${dt} s): $(tail -c 400 "$tmp/log")"
    fi
else
    echo "  (${ngpu:-0} GPU visible: the np 2 NCCL equivalence runs on a machine with several)"
fi
exit 0
