#!/usr/bin/env bash
# A smoke render other projects' CI can call: builds raylight-gen when the
# binary is missing, writes the tiny random models (make-tiny), renders them to
# an MP4 (PNG frames when built without libavcodec) on the CPU, and checks the
# result (with ffprobe when it is installed: 9 frames of 128x128 at 16 fps).
# Exits 0 when all is well, non-zero with a one-line reason otherwise.
#
# Usage: scripts/ci-smoke-render.sh [OUT_DIR]      (default: $BUILD/smoke)
# Environment: BUILD (build directory, default build), RAYLIGHT_GEN (a binary to
# use instead of $BUILD/raylight-gen), RAYLIGHT_BACKEND (default cpu), STEPS (3).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${RAYLIGHT_GEN:-$BUILD/raylight-gen}
OUT=${1:-$BUILD/smoke}
die() { echo "ci-smoke-render: FAILED: $*" >&2; exit 1; }

if [ ! -x "$BIN" ]; then
    [ -n "${RAYLIGHT_GEN:-}" ] && die "RAYLIGHT_GEN=$BIN is not an executable"
    echo "ci-smoke-render: building $BIN" >&2
    make -j"$(nproc 2>/dev/null || echo 2)" BUILD="$BUILD" "$BIN" >"${TMPDIR:-/tmp}/ci-smoke-build.$$" 2>&1 ||
        { tail -n 20 "${TMPDIR:-/tmp}/ci-smoke-build.$$" >&2; rm -f "${TMPDIR:-/tmp}/ci-smoke-build.$$"; die "make failed"; }
    rm -f "${TMPDIR:-/tmp}/ci-smoke-build.$$"
fi
mkdir -p "$OUT" || die "cannot create $OUT"
"$BIN" make-tiny --out "$OUT/tiny" >"$OUT/make-tiny.log" 2>&1 || die "make-tiny: $(tail -n 1 "$OUT/make-tiny.log")"

if "$BIN" version 2>/dev/null | grep -q 'libavcodec [0-9]'; then out=$OUT/smoke.mp4; else out=$OUT/smoke-frames/; fi
rm -rf "$OUT/smoke.mp4" "$OUT/smoke-frames"
start=$(date +%s.%N)
"$BIN" --model tiny --model-dir "$OUT/tiny" --backend "${RAYLIGHT_BACKEND:-cpu}" --prompt "a red fox in snow" \
    --seed 42 --steps "${STEPS:-3}" -o "$out" >"$OUT/render.log" 2>&1 || die "render: $(tail -n 1 "$OUT/render.log")"
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

if [ "$out" = "$OUT/smoke.mp4" ]; then
    [ -s "$out" ] || die "$out was not written"
    if command -v ffprobe >/dev/null 2>&1; then
        probe=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries \
                stream=codec_name,width,height,nb_read_frames,r_frame_rate,pix_fmt -of default=nw=1 "$out" 2>&1) ||
            die "ffprobe cannot read $out: $probe"
        for want in codec_name=h264 width=128 height=128 nb_read_frames=9 r_frame_rate=16/1 pix_fmt=yuv420p; do
            echo "$probe" | grep -qx "$want" || die "$out: expected $want, ffprobe says: $(echo "$probe" | tr '\n' ' ')"
        done
        checked="ffprobe: h264 yuv420p 128x128, 9 frames, 16 fps"
    else
        checked="ffprobe not installed, size only"
    fi
else
    n=$(ls "$out" 2>/dev/null | grep -c '^frame_[0-9]*\.png$')
    [ "$n" -eq 9 ] || die "$out holds $n PNG frames, expected 9"
    checked="9 PNG frames (built without libavcodec)"
fi
echo "ci-smoke-render: OK: $out in ${secs} s ($checked)"
