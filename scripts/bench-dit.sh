#!/usr/bin/env bash
# make bench: our CUDA DiT, attention and VAE on random full-size weights, and
# the same work through PyTorch (scripts/bench/torch_wan.py) when torch and
# diffusers are importable, on the same GPU. Prints figures; never fails on time.
# Usage: scripts/bench-dit.sh [BUILD_DIR]   (figures go to docs/perf.md by hand)
set -u
cd "$(dirname "$0")/.."
B=${1:-${BUILD:-build}}/raylight-gen
torch_ok=0
python3 -c "import torch, diffusers; assert torch.cuda.is_available()" 2>/dev/null && torch_ok=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
run() { echo "+ $*"; "$@" || echo "  (failed with status $?)"; }
run "$B" bench attention --heads 40 --tokens 14040 --head-dim 128 --iters 5
run "$B" bench attention --heads 40 --tokens 32760 --head-dim 128 --iters 3
run "$B" bench dit --model 14b --size 832x480 --frames 33 --iters 3
run "$B" bench dit --model 14b --size 832x480 --frames 81 --iters 2
run "$B" bench dit --model 1.3b --size 832x480 --frames 81 --iters 3
run "$B" bench vae --size 832x480 --frames 81
if [ $torch_ok = 1 ]; then
    T=scripts/bench/torch_wan.py
    run python3 $T attention --tokens 14040
    run python3 $T attention --tokens 32760
    run python3 $T dit --model 14b --frames 33
    run python3 $T dit --model 14b --frames 81 --iters 3
    run python3 $T dit --model 1.3b --frames 81
    run python3 $T vae --frames 81 --dtype f32
else
    echo "PyTorch with CUDA and diffusers not importable: no yardstick figures"
fi
