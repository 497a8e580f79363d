#!/usr/bin/env bash
# `raylight-gen tokenize`: ids equal the golden ids from HF tokenizers (first
# column of tests/golden/tokenizer/ids.txt) for both tokenizer files, --clean
# applies Wan's cleaning, bad input is a one-line error with exit status 1.
set -u
BIN=${BUILD:-build}/raylight-gen
G=tests/golden/tokenizer
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
unhex() { [ "$1" = - ] || printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

n=0; good=0
while IFS=$'\t' read -r hex want _; do
    n=$((n + 1))
    [ $((n % 9)) -eq 1 ] || continue   # every 9th string keeps the test fast
    text=$(unhex "$hex"; printf x); text=${text%x}
    for f in tokenizer.json spiece.model; do
        got=$("$BIN" tokenize --tokenizer "$G/$f" --text "$text" 2>&1)
        if [ "$got" = "$want" ]; then good=$((good + 1)); else echo "  $f line $n: got '$got' want '$want'"; fi
    done
done <"$G/ids.txt"
check "tokenize matches tokenizers on $good sampled strings x 2 files" "[ $good -ge 60 ] && [ $good -eq $(( (n + 8) / 9 * 2 )) ]"

got=$("$BIN" tokenize --tokenizer "$G/tokenizer.json" --text '  Tom &amp;amp; Jerry  ' --clean)
want=$("$BIN" tokenize --tokenizer "$G/tokenizer.json" --text 'Tom & Jerry')
check "--clean unescapes twice and strips" "[ -n \"$got\" ] && [ \"$got\" = \"$want\" ]"

"$BIN" tokenize --tokenizer "$G/no-such.json" --text x >"$tmp/out" 2>"$tmp/err"; rc=$?
check "missing tokenizer: exit 1, one line naming the file" "[ $rc -eq 1 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -q no-such $tmp/err"
"$BIN" tokenize --tokenizer "$G/tokenizer.json" --text $'bad \xff' >"$tmp/out" 2>"$tmp/err"; rc=$?
check "invalid UTF-8 text: exit 1, error says UTF-8" "[ $rc -eq 1 ] && grep -q UTF-8 $tmp/err"
printf '{"model":{"type":"WordPiece","vocab":{}}}' >"$tmp/wp.json"
"$BIN" tokenize --tokenizer "$tmp/wp.json" --text x >"$tmp/out" 2>"$tmp/err"; rc=$?
check "other model type: exit 1, error names it" "[ $rc -eq 1 ] && grep -q WordPiece $tmp/err"
"$BIN" tokenize --text x >"$tmp/out" 2>"$tmp/err"; rc=$?
check "no --tokenizer: exit 1 naming the flag" "[ $rc -eq 1 ] && grep -q -- --tokenizer $tmp/err"
