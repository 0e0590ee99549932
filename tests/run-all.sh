#!/usr/bin/env bash
# The full test suite, from a fresh clone on a fresh Debian 12 machine (as
# root): installs what it needs, builds libopenvswitch (cached), builds
# sluice, runs the unit and integration tests plainly and under
# ASan+UBSan, fuzzes every parser briefly, checks `make distcheck`, and
# runs the end-to-end tests on the local lab.
#
# Usage: tests/run-all.sh [--quick]     (--quick skips distcheck and fuzzing)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
fuzz_seconds=${SLUICE_FUZZ_SECONDS:-20}

passed=0
failed=0
failures=()

step() {
    local name=$1
    shift
    local start=$SECONDS
    echo "=== $name"
    if "$@"; then
        echo "=== $name: ok ($((SECONDS - start)) s)"
        passed=$((passed + 1))
    else
        echo "=== $name: FAILED ($((SECONDS - start)) s)"
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

show_failed_logs() {
    local dir=$1
    find "$dir" -name '*.log' -path '*tests*' 2>/dev/null | while read -r log; do
        if grep -q '^FAIL\|^ERROR' "${log%.log}.trs" 2>/dev/null; then
            echo "--- $log"
            tail -n 60 "$log"
        fi
    done
}

build() {
    local dir=$1
    shift
    mkdir -p "$dir"
    (cd "$dir" && "$top/configure" -q --with-ovs="$ovs" "$@" \
        && make -s -j2) || return 1
}

check() {
    local dir=$1
    (cd "$dir" && make -s -j2 check) || { show_failed_logs "$dir"; return 1; }
}

step "install dependencies" deploy/install-deps.sh || exit 1
ovs=$(deploy/build-ovs.sh) || { echo "libopenvswitch build failed"; exit 1; }
echo "libopenvswitch: $ovs"
step "autoreconf" autoreconf -fi || exit 1

step "build" build _build/plain || exit 1
step "unit and integration tests" check _build/plain

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
step "build with ASan+UBSan" build _build/asan CFLAGS="-g -O1 $san" \
    LDFLAGS="$san"
step "unit and integration tests under ASan+UBSan" check _build/asan

if [ "$quick" -eq 0 ]; then
    step "fuzz (${fuzz_seconds}s per target)" \
        tests/fuzz/run-fuzz.sh _build/fuzz "$ovs" "$fuzz_seconds"
    step "make distcheck" make -C _build/plain -s distcheck
fi

if [ -x tests/e2e/run.sh ]; then
    step "end-to-end tests on the lab" tests/e2e/run.sh _build/plain
fi

echo
if [ "$failed" -gt 0 ]; then
    echo "failed steps: ${failures[*]}"
fi
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
