#!/usr/bin/env bash
# Installs the Debian packages raylight-gen builds and tests with. Idempotent:
# packages already installed are left alone, and it says what it does.
# Usage: scripts/install-deps.sh          (as root, or with sudo available)
set -euo pipefail
PKGS=(
  build-essential pkg-config    # gcc, make
  libcjson-dev                  # JSON: safetensors headers, tokenizer.json, configs
  libstb-dev                    # stb_image_write: PNG output
  libopenmpi-dev openmpi-bin    # one process per GPU under mpirun
  libavcodec-dev libavformat-dev libswscale-dev libavutil-dev  # MP4 (H.264) output
  clang libclang-rt-14-dev      # make fuzz: libFuzzer + AddressSanitizer
  ffmpeg                        # ffprobe: the tests check the MP4s written
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages are already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
echo "CUDA: the CUDA toolkit (nvcc, cuBLAS, NCCL) is not a Debian package here; without it 'make' builds the CPU backend only."
