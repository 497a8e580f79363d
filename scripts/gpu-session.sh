#!/usr/bin/env bash
# One device call: build a clean tree for sm_90, run `make test-gpu`, then the
# attention variants and the benches. Used by the lead on the lent GPU machine:
#   git archive HEAD > build-dev/src.tar  (here; carry build-dev and deps)
#   bash scripts/gpu-session.sh build-dev/src.tar [test|bench|offload|all]...
# Prints figures and PASS/FAIL lines; copies logs to $OUT when it is set.
set -u
TAR=$1; shift
SRC=/tmp/rl-src
W=$PWD
export PATH=$PATH:/usr/local/cuda/bin
if [ ! -x $SRC/build-gpu/raylight-gen ]; then
    rm -rf $SRC && mkdir -p $SRC && tar -xf "$TAR" -C $SRC && cp -r deps $SRC/ && cp -r .whl $SRC/ 2>/dev/null
    ( cd $SRC && time make -j16 BUILD=build-gpu CUDA=1 FFMPEG=0 \
        CUDA_ARCHS="-gencode arch=compute_90,code=sm_90" build-gpu/raylight-gen \
        $(ls tests/test_*.c | sed 's|tests/\(.*\)\.c|build-gpu/tests/\1|') >/tmp/build.log 2>&1 ) \
        || { tail -40 /tmp/build.log; exit 1; }
fi
cd $SRC
B=build-gpu
log() { if [ -n "${OUT:-}" ]; then tee -a "$OUT/$1.log"; else cat; fi; }
for what in "$@"; do
case $what in
test) make --no-print-directory BUILD=$B CUDA=1 FFMPEG=0 CUDA_ARCHS="-gencode arch=compute_90,code=sm_90" test-gpu 2>&1 \
        | log test | grep -v '^PASS' | tail -60 ;;
att) RL_TEST_ATT_BENCH=1 timeout 300 $B/tests/test_gpu_attention 2>&1 | log att | grep -E 'BENCH|FAIL|passed' | head -60 ;;
bench) for a in "attention --heads 40 --tokens 14040 --head-dim 128 --iters 5" \
              "attention --heads 40 --tokens 32760 --head-dim 128 --iters 3" \
              "dit --model 14b --size 832x480 --frames 33 --iters 3" \
              "dit --model 14b --size 832x480 --frames 81 --iters 2" \
              "dit --model 1.3b --size 832x480 --frames 81 --iters 3"; do
          echo "+ raylight-gen bench $a"; $B/raylight-gen bench $a 2>&1 | tail -4
      done | log bench ;;
prof) N="ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base"
      $N $B/raylight-gen bench dit --model 14b --size 832x480 --frames 33 --iters 1 --warmup 0 2>/dev/null \
        | python3 $W/scripts/ncu-summary.py fill_normal | head -40 | log prof
      $N --launch-count 6000 $B/raylight-gen bench vae --size 832x480 --frames 9 2>/dev/null \
        | python3 $W/scripts/ncu-summary.py fill_normal | head -40 | log prof ;;
render) # one GPU end to end on random full-size Wan 14B weights, plain and under --vram-limit 16
      R="$B/raylight-gen --model wan14b --random-weights --size 832x480 --frames 33 --steps 2 --seed 5 -v --json"
      $R --prompt "a red fox in snow" -o /tmp/r-plain/ >/tmp/r-plain.json 2>/tmp/r-plain.err; echo "plain rc=$?"
      tail -4 /tmp/r-plain.err | log render
      $R --prompt "a red fox in snow" -o /tmp/r-lim/ --vram-limit 16 --auto-plan >/tmp/r-lim.json 2>/tmp/r-lim.err; echo "limited rc=$?"
      grep -i "plan\|done" /tmp/r-lim.err | tail -3 | log render
      grep -h '"latents_hash"\|"peak_bytes"\|"seconds"\|offload_blocks' /tmp/r-plain.json /tmp/r-lim.json | tr -d ' \t' | log render
      [ -n "${OUT:-}" ] && cp /tmp/r-plain.json /tmp/r-lim.json /tmp/r-plain.err /tmp/r-lim.err "$OUT/" ;;
usp) bash scripts/bench-usp.sh 1 $B 2>&1 | log usp ;;
vae) $B/raylight-gen bench vae --size 832x480 --frames 81 2>&1 | log vae ;;
offload) bash scripts/bench-offload.sh $B 2 2>&1 | log offload ;;
*) echo "unknown step $what" ;;
esac
done
