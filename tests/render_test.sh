#!/usr/bin/env bash
# End-to-end smoke renders of the tiny model (make-tiny) on the CPU: MP4, PNG,
# PNG frames, saved latents, determinism of a seed, the JSON summary, and the
# bad-input errors (one line naming the flag, exit 1, nothing half-written).
set -u
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/raylight-gen
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1: $(head -c 300 "$tmp/err" 2>/dev/null | tr '\n' ' ')"; fi; }
R() { "$BIN" --model tiny --model-dir "$tmp/m" --backend cpu "$@"; }
# Built without libavcodec (make FFMPEG=0), videos go to PNG frame folders instead.
V=mp4; "$BIN" version | grep -q 'libavcodec: not built' && V=frames/

"$BIN" make-tiny --out "$tmp/m" >"$tmp/out" 2>"$tmp/err"
check "make-tiny writes the four files" "[ -s $tmp/m/tokenizer.json ] && [ -s $tmp/m/wan_dit_tiny.safetensors ] && [ -s $tmp/m/umt5_tiny.safetensors ] && [ -s $tmp/m/wan_vae_tiny.safetensors ]"

R --prompt "a red fox in snow" --seed 42 -o "$tmp/fox.$V" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "render to MP4 exits 0" "[ $rc -eq 0 ]"
if [ "$V" = mp4 ] && command -v ffprobe >/dev/null; then
    probe=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=width,height,nb_read_frames,r_frame_rate \
            -show_entries format_tags=title -of default=nw=1 "$tmp/fox.mp4" 2>&1)
    check "MP4 has 9 frames of 128x128 at 16 fps and the prompt" \
        "echo '$probe' | grep -q nb_read_frames=9 && echo '$probe' | grep -q width=128 && echo '$probe' | grep -q 'r_frame_rate=16/1' && echo '$probe' | grep -q 'a red fox in snow'"
fi
hash1=$(grep -o 'latents hash [0-9a-f]*' "$tmp/err")
check "summary prints the seed and the latents hash" "[ -n '$hash1' ] && grep -q 'seed 42' $tmp/err"

R --prompt "a red fox in snow" --seed 42 -o "$tmp/again.$V" >"$tmp/out" 2>"$tmp/err2"
check "the same seed gives the same latents" "grep -q '$hash1' $tmp/err2"
R --prompt "a red fox in snow" --seed 43 -o "$tmp/other.$V" >"$tmp/out" 2>"$tmp/err2"
check "another seed gives other latents" "! grep -q '$hash1' $tmp/err2"

R --prompt "a cat" --seed 1 --frames 1 -o "$tmp/cat.png" --save-latents "$tmp/lat.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "one frame to PNG with saved latents" "[ $rc -eq 0 ] && [ -s $tmp/cat.png ]"
"$BIN" info "$tmp/lat.safetensors" >"$tmp/info" 2>&1
check "latents file holds 'latents' f32 [16, 1, 16, 16]" "grep -qE '^latents +f32 +\[16, 1, 16, 16\]' $tmp/info"
check "PNG carries the prompt in a tEXt chunk" "grep -aq 'a cat' $tmp/cat.png"

R --prompt "a dog" --seed 2 --steps 2 -o "$tmp/frames/" --json >"$tmp/json" 2>"$tmp/err"; rc=$?
check "PNG frames into a directory" "[ $rc -eq 0 ] && [ -s $tmp/frames/frame_00000.png ] && [ -s $tmp/frames/frame_00008.png ] && [ ! -e $tmp/frames/frame_00009.png ]"
OMP_NUM_THREADS=1 R --prompt "a dog" --seed 2 --steps 2 -o "$tmp/frames1/" >"$tmp/out" 2>"$tmp/err"; rc=$?
same=1; for f in "$tmp"/frames/frame_*.png; do cmp -s "$f" "$tmp/frames1/$(basename "$f")" || same=0; done
check "PNG frames encoded in parallel equal the one-thread ones" "[ $rc -eq 0 ] && [ $same -eq 1 ]"
mkdir -p "$tmp/frames2/frame_00003.png"
R --prompt "a dog" --seed 2 --steps 2 -o "$tmp/frames2/" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "a frame that cannot be written fails naming it" "[ $rc -ne 0 ] && grep -q 'frame_00003.png' $tmp/err"
check "--json summary with per-stage timings" "grep -q '\"stages\"' $tmp/json && grep -q '\"dit\"' $tmp/json && grep -q '\"latents_hash\"' $tmp/json"
check "--json gives the time of one DiT pass" "grep -Eq '\"dit_pass_seconds\":[[:space:]]*[0-9.]*[1-9]' $tmp/json"
R --prompt "a dog" --seed 2 --steps 2 -o "$tmp/tcpu/" --json --text-backend cpu >"$tmp/json2" 2>"$tmp/err"; rc=$?
h1=$(grep -o '"latents_hash":[^,]*' "$tmp/json"); h2=$(grep -o '"latents_hash":[^,]*' "$tmp/json2")
check "--text-backend cpu renders the same latents" "[ $rc -eq 0 ] && [ -n \"$h1\" ] && [ \"$h1\" = \"$h2\" ]"

for s in euler dpm++; do
    R --prompt "a dog" --seed 2 --steps 3 --sampler $s -o "$tmp/$s.$V" >"$tmp/out" 2>"$tmp/err"; rc=$?
    check "sampler $s renders" "[ $rc -eq 0 ] && [ -e $tmp/$s.$V ]"
done
R --prompt "a dog" --seed 2 --steps 2 --cfg 1 -o "$tmp/nocfg.$V" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "guidance off (--cfg 1) renders" "[ $rc -eq 0 ]"

# bad input: exit 1, one line naming the flag, no output file
expect_err() { # name, pattern, output path, args...
    local name=$1 pat=$2 outp=$3; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$pat" "$tmp/err" && [ ! -e "$outp" ]; then ok "$name"
    else bad "$name: status $rc: $(head -c 300 "$tmp/err" | tr '\n' ' ')"; fi
}
expect_err "size not a multiple of 16" "--size" "$tmp/e1.mp4" R --prompt x --size 100x64 -o "$tmp/e1.mp4"
expect_err "frames not 4k+1" "--frames 8" "$tmp/e2.mp4" R --prompt x --frames 8 -o "$tmp/e2.mp4"
expect_err "steps < 1" "--steps" "$tmp/e3.mp4" R --prompt x --steps 0 -o "$tmp/e3.mp4"
expect_err "--text-backend naming another device" "--text-backend cuda" "$tmp/tb.$V" R --prompt x --text-backend cuda -o "$tmp/tb.$V"
expect_err "unwritable output" "$tmp/no/dir/e4.mp4" "$tmp/no/dir/e4.mp4" R --prompt x -o "$tmp/no/dir/e4.mp4"
expect_err "unknown model lists the known ones" "wan2.1-t2v-14b" "$tmp/e5.mp4" "$BIN" --model wan99 --prompt x -o "$tmp/e5.mp4"
expect_err "missing model file names the flag and the paths" "--dit FILE" "$tmp/e6.mp4" \
    "$BIN" --model wan14b --model-dir "$tmp/empty" --prompt x -o "$tmp/e6.mp4"
expect_err "a DiT file given as the VAE" "wan_dit_tiny" "$tmp/e7.$V" R --prompt x --vae "$tmp/m/wan_dit_tiny.safetensors" -o "$tmp/e7.$V"
expect_err "unknown sampler" "--sampler\|sampler" "$tmp/e8.mp4" R --prompt x --sampler heun -o "$tmp/e8.mp4"
expect_err "no prompt" "--prompt" "$tmp/e9.mp4" R -o "$tmp/e9.mp4"
expect_err "--random-weights needs --model" "--random-weights needs --model" "$tmp/e10.mp4" \
    "$BIN" --random-weights --prompt x --dit a --t5 b --vae c --tokenizer d -o "$tmp/e10.mp4"

# --random-weights: no files (an empty model dir), the tiny sizes made in memory,
# the built-in tokenizer; the same seed gives the same latents twice.
RR() { "$BIN" --model tiny --model-dir "$tmp/empty" --random-weights --backend cpu --steps 2 --frames 5 --seed 9 "$@"; }
RR --prompt "a fox" -o "$tmp/rw1/" --json >"$tmp/rw1.json" 2>"$tmp/err"; rc=$?
check "--random-weights renders without model files" "[ $rc -eq 0 ] && [ -s $tmp/rw1/frame_00004.png ]"
RR --prompt "a fox" -o "$tmp/rw2/" --json >"$tmp/rw2.json" 2>"$tmp/err"
h1=$(grep -o '"latents_hash":[[:space:]]*"[0-9a-f]*"' "$tmp/rw1.json"); h2=$(grep -o '"latents_hash":[[:space:]]*"[0-9a-f]*"' "$tmp/rw2.json")
check "--random-weights is deterministic ($h1)" "[ -n '$h1' ] && [ '$h1' = '$h2' ]"
RR --prompt "a fox" -o "$tmp/rw3/" --json --vram-limit 1 --auto-plan >"$tmp/rw3.json" 2>"$tmp/err"
h3=$(grep -o '"latents_hash":[[:space:]]*"[0-9a-f]*"' "$tmp/rw3.json")
check "--random-weights under --vram-limit --auto-plan plans from the named size, same latents" "[ '$h1' = '$h3' ] && grep -q 'auto-plan' $tmp/err"
ls "$tmp" | grep -q '\.part$' && bad "no .part file left behind" || ok "no .part file left behind"
exit 0
