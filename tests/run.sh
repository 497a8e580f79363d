#!/usr/bin/env bash
# Runs every test program (build/tests/test_*) and shell test (tests/*_test.sh),
# counts their PASS:/FAIL: lines (details of failing programs shown; VERBOSE=1 shows all) and ends with exactly one line "N passed, N failed".
# A program that dies without reporting (crash, non-zero exit with no FAIL line)
# counts as one failure. Usage: tests/run.sh [gpu]
set -u
BUILD=${BUILD:-build}
export BUILD
cd "$(dirname "$0")/.."
pass=0; fail=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

run_one() { # name, command...
    local name=$1; shift
    "$@" >"$log" 2>&1
    local rc=$?
    local p f
    p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log")
    if [ -n "${VERBOSE:-}" ]; then
        grep -E '^(PASS|FAIL): |^  ' "$log" || true
    elif [ "$f" -gt 0 ]; then
        grep -E '^(PASS|FAIL): |^  ' "$log" | grep -v '^PASS: ' || true
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL: $name exited with status $rc without reporting a failure; its output ends:"
        tail -n 15 "$log" | sed 's/^/    /'
        f=$((f + 1))
    fi
    echo "  $name: $p passed, $f failed"
    pass=$((pass + p)); fail=$((fail + f))
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$(basename "$t")" in
        test_gpu_*) [ "${1:-}" = gpu ] || continue ;;
    esac
    run_one "$(basename "$t")" "$t"
done
for t in tests/*_test.sh; do
    [ -f "$t" ] || continue
    case "$(basename "$t")" in
        gpu_*) [ "${1:-}" = gpu ] || continue ;;
    esac
    run_one "$(basename "$t")" bash "$t"
done
# The parser corpus once more under AddressSanitizer (make test builds build-asan/).
if [ -x "${ASAN_BUILD:-build-asan}/raylight-gen" ] && [ "${1:-}" != gpu ]; then
    run_one "safetensors_cli_test.sh under ASan" env BUILD="${ASAN_BUILD:-build-asan}" \
        ASAN_OPTIONS=detect_leaks=0 bash tests/safetensors_cli_test.sh
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
