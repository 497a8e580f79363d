#!/usr/bin/env bash
# --prompts-file on the tiny model (make-tiny, CPU, 2 steps, mostly 1-frame PNGs
# to stay fast): plain and JSON lines, numbered outputs from -o, per-line seeds
# equal to single renders with those seeds, a bad line refused before any work
# (naming FILE:LINE, nothing written), progress prefixes, --quiet, exit codes.
set -u
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/raylight-gen
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1: $(head -c 300 "$tmp/err" 2>/dev/null | tr '\n' ' ')"; fi; }
R() { "$BIN" --model tiny --model-dir "$tmp/m" --backend cpu --steps 2 --frames 1 "$@"; }
hash_of() { grep -o '"latents_hash":[[:space:]]*"[0-9a-f]*"' "$1" | sed -n "$2p" | grep -o '[0-9a-f]\{16\}'; }

"$BIN" make-tiny --out "$tmp/m" >"$tmp/out" 2>"$tmp/err" || bad "make-tiny"
mkdir -p "$tmp/o" "$tmp/q"
# Built without libavcodec (make FFMPEG=0), the 5-frame video goes to a PNG frame folder.
if "$BIN" version | grep -q 'libavcodec [0-9]'; then VID=boat.mp4 VIDF=boat.mp4 S3=s3.mp4
else VID=boat/ VIDF=boat/frame_00004.png S3=s3-frames/; fi

printf '# plain lines: one prompt each\na red fox in snow\n\n   \na cat on a sofa  \r\n' >"$tmp/plain.txt"
R --prompts-file "$tmp/plain.txt" --seed 3 -o "$tmp/o/p.png" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "plain lines render (blank and # lines skipped, CRLF)" "[ $rc -eq 0 ] && [ -s $tmp/o/p_0001.png ] && [ -s $tmp/o/p_0002.png ] && [ ! -e $tmp/o/p_0003.png ]"
check "plain lines keep the prompt text" "grep -aq 'a cat on a sofa' $tmp/o/p_0002.png && ! grep -aq 'sofa  ' $tmp/o/p_0002.png"
check "progress lines carry prompt k/K" "grep -q '^prompt 1/2: step 1/2 ' $tmp/err && grep -q '^prompt 2/2: step 2/2 ' $tmp/err"

cat >"$tmp/lines.jsonl" <<'J'
{"prompt": "a red fox in snow", "seed": 11}
{"prompt": "a dog", "seed": 12, "negative_prompt": "blurry", "steps": 3, "size": "256x128"}
# a comment between JSON lines
{"prompt": "a boat", "seed": "18446744073709551615", "frames": 5, "output": "__OUT__/__VID__"}
J
sed -i "s|__OUT__|$tmp/o|; s|__VID__|$VID|" "$tmp/lines.jsonl"
R --prompts-file "$tmp/lines.jsonl" -o "$tmp/o/j.png" --json >"$tmp/json" 2>"$tmp/err"; rc=$?
check "JSON lines render with per-line output" "[ $rc -eq 0 ] && [ -s $tmp/o/j_0001.png ] && [ -s $tmp/o/j_0002.png ] && [ -s $tmp/o/$VIDF ]"
check "--json prints an array of three summaries" "[ \$(grep -c '\"latents_hash\"' $tmp/json) -eq 3 ] && head -c1 $tmp/json | grep -q '\['"
R --prompt "a red fox in snow" --seed 11 -o "$tmp/s1.png" --json >"$tmp/s1" 2>"$tmp/err"
R --prompt "a dog" --seed 12 --negative-prompt blurry --steps 3 --size 256x128 -o "$tmp/s2.png" --json >"$tmp/s2" 2>"$tmp/err"
R --prompt "a boat" --seed 18446744073709551615 --frames 5 -o "$tmp/$S3" --json >"$tmp/s3" 2>"$tmp/err"
for k in 1 2 3; do
    a=$(hash_of "$tmp/json" $k); b=$(hash_of "$tmp/s$k" 1)
    check "line $k's latents equal a single render with its seed ($a)" "[ -n '$a' ] && [ '$a' = '$b' ]"
done
check "JSON line 2's size and seed are in the summary" "grep -q '\"width\":[[:space:]]*256' $tmp/json && grep -q '\"seed\":[[:space:]]*12,' $tmp/json"

# random base seed: each line gets its own seed; --quiet prints nothing
printf 'a\nb\n' >"$tmp/two.txt"
R --prompts-file "$tmp/two.txt" -o "$tmp/q/r.png" --json --quiet >"$tmp/json" 2>"$tmp/err"; rc=$?
check "--quiet batch: exit 0, nothing on stderr" "[ $rc -eq 0 ] && [ ! -s $tmp/err ]"
check "random seed: the two lines get different latents" "[ '$(hash_of "$tmp/json" 1)' != '$(hash_of "$tmp/json" 2)' ]"

# -o dir/: one numbered frame directory per prompt, missing directories created
R --prompts-file "$tmp/two.txt" --frames 5 -o "$tmp/new/frames/" -q >"$tmp/out" 2>"$tmp/err"; rc=$?
check "-o dir/ gives dir/0001/ and dir/0002/ of 5 frames" "[ $rc -eq 0 ] && [ -s $tmp/new/frames/0001/frame_00004.png ] && [ -s $tmp/new/frames/0002/frame_00004.png ]"
R --prompts-file "$tmp/two.txt" --frames 5 -o "$tmp/two.txt/frames/" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "-o under a file is refused before any work" "[ $rc -eq 1 ] && grep -q 'two.txt is a file, not a directory' $tmp/err && ! grep -q step $tmp/err"

# bad lines: one error naming FILE:LINE, exit 1, nothing rendered for any line
expect_bad() { # name, pattern, file contents
    printf '%b' "$3" >"$tmp/bad.txt"; rm -rf "$tmp/b"; mkdir -p "$tmp/b"
    R --prompts-file "$tmp/bad.txt" -o "$tmp/b/x.png" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$2" "$tmp/err" && [ -z "$(ls "$tmp/b")" ]; then ok "$1"
    else bad "$1: status $rc: $(head -c 300 "$tmp/err" | tr '\n' ' ')"; fi
}
expect_bad "bad frames on line 3 named before any work" "bad.txt:3: --frames 8" 'a\n\n{"prompt": "b", "frames": 8}\n'
expect_bad "unknown JSON key names the line" "bad.txt:2: unknown key \"sede\"" 'a\n{"prompt": "b", "sede": 1}\n'
expect_bad "broken JSON names the line" "bad.txt:1: a line starting with '{'" '{"prompt": "b",\nc\n'
expect_bad "size not a multiple of 16 names the line" "bad.txt:2: --size 100x96" 'a\n{"prompt": "b", "size": "100x96"}\n'
expect_bad "missing prompt names the line" "bad.txt:1: \"prompt\" is missing" '{"seed": 3}\n'
expect_bad "a key given twice names the line" 'bad.txt:1: "prompt" is given twice' '{"prompt": "a", "prompt": "b"}\n'
expect_bad "two lines with one output" "bad.txt:2: output .*b/y.png is also the output of .*bad.txt:1" \
    "{\"prompt\": \"a\", \"output\": \"$tmp/b/y.png\"}\n{\"prompt\": \"b\", \"output\": \"$tmp/b/y.png\"}\n"
expect_bad "not UTF-8 names the line" "bad.txt:2: not valid UTF-8" 'a\nb\xff\n'
expect_bad "a file of comments only" "no prompts" '# nothing\n\n'
expect_bad "many frames into one .png" "bad.txt:1: -o .*x_0001.png: a .png holds one image" '{"prompt": "a", "frames": 5}\n'

# exit codes: 0 done (and --help), 1 every error, usage errors included
"$BIN" --help >/dev/null 2>&1; check "--help exits 0" "[ $? -eq 0 ]"
"$BIN" --no-such-flag >/dev/null 2>"$tmp/err"; rc=$?
check "an unknown flag exits 1 with one line" "[ $rc -eq 1 ] && [ \$(wc -l <$tmp/err) -eq 1 ]"
"$BIN" --prompt x --prompts-file "$tmp/two.txt" >/dev/null 2>"$tmp/err"; rc=$?
check "--prompt with --prompts-file exits 1" "[ $rc -eq 1 ] && grep -q 'not both' $tmp/err"
R --prompts-file "$tmp/none.txt" >/dev/null 2>"$tmp/err"; rc=$?
check "a missing --prompts-file exits 1 naming it" "[ $rc -eq 1 ] && grep -q 'none.txt: cannot open' $tmp/err"
"$BIN" --help 2>&1 | grep -q 'Exit status: 0 done, 1 any error'; check "--help documents the exit status" "[ $? -eq 0 ]"
exit 0
