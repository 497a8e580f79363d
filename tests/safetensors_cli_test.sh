#!/usr/bin/env bash
# safetensors_cli_test.sh: `raylight-gen info FILE` over the parser corpus
# (tests/corpus/safetensors, made by scripts/make-bad-safetensors.py).
# Every bad-*.safetensors must exit with status 1 and print exactly one line on
# stderr, naming the file; every good-*.safetensors and the Python-written
# golden file must exit 0 and list their tensors. A sharded index pointing at a
# good file opens; one whose shard name leaves its directory is refused.
# Uses $BUILD/raylight-gen (BUILD defaults to build; BUILD=build-asan runs it
# under AddressSanitizer). Prints PASS:/FAIL: lines for tests/run.sh.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/raylight-gen
CORPUS=tests/corpus/safetensors

if [ ! -x "$BIN" ]; then
    echo "FAIL: safetensors_cli: $BIN not found; build it first (make BUILD=$BUILD)"
    exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# expect_fail NAME FILE [TAG]: status 1, one stderr line naming FILE (TAG keeps
# the scratch files of parallel runs apart)
expect_fail() {
    local name=$1 file=$2 tag=${3:-one} rc lines
    "$BIN" info "$file" >"$tmp/out.$tag" 2>"$tmp/err.$tag"
    rc=$?
    lines=$(wc -l <"$tmp/err.$tag")
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$file" "$tmp/err.$tag"; then
        echo "PASS: $name"
    else
        echo "FAIL: $name: exit status $rc, $lines stderr lines (want 1, one line naming $file): $(head -c 400 "$tmp/err.$tag" | tr '\n' ' ')"
    fi
}

# expect_ok NAME FILE WANT_TENSORS: status 0, the tensor count line says WANT_TENSORS
expect_ok() {
    local name=$1 file=$2 want=$3 rc
    "$BIN" info "$file" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q "^$want tensors" "$tmp/out"; then
        echo "PASS: $name"
    else
        echo "FAIL: $name: exit status $rc, want 0 and '$want tensors': $(cat "$tmp/err" "$tmp/out" | head -c 400 | tr '\n' ' ')"
    fi
}

# The bad files run 8 at a time (process start-up dominates), reported in order.
nbad=0
for f in "$CORPUS"/bad-*.safetensors; do
    [ -f "$f" ] || continue
    nbad=$((nbad + 1))
    expect_fail "info refuses $(basename "$f")" "$f" "$nbad" >"$tmp/res.$nbad" &
    [ $((nbad % 8)) -eq 0 ] && wait
done
wait
for i in $(seq 1 "$nbad"); do cat "$tmp/res.$i"; done
[ "$nbad" -ge 40 ] && echo "PASS: safetensors_cli corpus has $nbad bad files" ||
    echo "FAIL: safetensors_cli: only $nbad bad files in $CORPUS (run scripts/make-bad-safetensors.py)"

# good files: the tensor count is how many entries the header has besides __metadata__
expect_ok "info reads good-basic" "$CORPUS/good-basic.safetensors" 2
expect_ok "info reads good-empty" "$CORPUS/good-empty.safetensors" 0
expect_ok "info reads good-metadata" "$CORPUS/good-metadata.safetensors" 1
expect_ok "info reads good-zero-size" "$CORPUS/good-zero-size.safetensors" 2
expect_ok "info reads good-all-dtypes" "$CORPUS/good-all-dtypes.safetensors" 7
expect_ok "info reads good-unaligned" "$CORPUS/good-unaligned.safetensors" 4
expect_ok "info reads the Python-written golden file" tests/golden/safetensors/torch_small.safetensors 9

# sharded: an index next to two shards
cp "$CORPUS/good-basic.safetensors" "$tmp/m-00001-of-00002.safetensors"
cp "$CORPUS/good-zero-size.safetensors" "$tmp/m-00002-of-00002.safetensors"
cat >"$tmp/m.safetensors.index.json" <<'EOF'
{"metadata": {"total_size": 28}, "weight_map": {"a.weight": "m-00001-of-00002.safetensors",
 "b.bias": "m-00001-of-00002.safetensors", "z": "m-00002-of-00002.safetensors", "s": "m-00002-of-00002.safetensors"}}
EOF
expect_ok "info reads a sharded index.json" "$tmp/m.safetensors.index.json" 4
cat >"$tmp/evil.safetensors.index.json" <<'EOF'
{"weight_map": {"a.weight": "../m-00001-of-00002.safetensors"}}
EOF
expect_fail "info refuses an index whose shard leaves its directory" "$tmp/evil.safetensors.index.json"
expect_fail "info refuses a missing file" "$tmp/no-such-file.safetensors"
exit 0
