#!/usr/bin/env bash
# Runs every end-to-end test (tests/e2e/test-*.sh) on the local lab, one
# after the other, each with its own lab named PREFIXNN-NAME cut to 10
# characters (NN numbers the tests; PREFIX is $SLUICE_E2E_PREFIX, default
# "e2").  Prints each
# test's output, checks that the test left no lab behind, and ends with the
# line "N passed, M failed".  Exits non-zero if any test failed.
#
# Usage: tests/e2e/run.sh BUILD_DIR [TEST...]   (TEST: e.g. pods, spoof)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:?usage: tests/e2e/run.sh BUILD_DIR [TEST...]}
shift
[[ $build = /* ]] || build=$top/$build
prefix=${SLUICE_E2E_PREFIX:-e2}
lab_root=${SLUICE_LAB_ROOT:-/tmp}
test_timeout=${SLUICE_E2E_TIMEOUT:-240}

if [ "$(id -u)" -ne 0 ]; then
    echo "e2e: must run as root (network namespaces, OVS)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -x "$build/agent/sluiced" ] || [ ! -x "$build/plugin/sluice" ]; then
    echo "e2e: no build in $build (run deploy/build.sh)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

tests=()
if [ $# -gt 0 ]; then
    for t in "$@"; do
        tests+=("$here/test-$t.sh")
    done
else
    tests=("$here"/test-*.sh)
fi

passed=0
failed=0
failures=()
declare -A labs
index=0
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    name=${name#test-}
    # A number keeps labs apart when test names share their first letters.
    index=$((index + 1))
    lab=$prefix$(printf %02d "$index")-$name
    lab=${lab:0:10}
    lab=${lab%-}
    if [ -n "${labs[$lab]:-}" ]; then
        echo "e2e: tests ${labs[$lab]} and $name would share lab $lab" >&2
        failed=$((failed + 1))
        failures+=("$name")
        continue
    fi
    labs[$lab]=$name
    echo "=== e2e $name (lab $lab)"
    start=$SECONDS
    if [ ! -f "$t" ]; then
        echo "no such test: $t"
        status=1
    elif [ -e "$lab_root/sluice-lab-$lab" ]; then
        echo "lab $lab already exists ($lab_root/sluice-lab-$lab): another" \
            "run in progress, or a leftover (deploy/lab/lab.sh down $lab)"
        status=1
    else
        timeout -k 20 "$test_timeout" bash "$t" "$build" "$lab"
        status=$?
        [ "$status" -eq 124 ] && echo "timed out after $test_timeout s"
        # The test must have removed its lab, whatever happened.
        leftover=$(ip netns list | awk '{print $1}' | grep "^$lab-")
        if [ -e "$lab_root/sluice-lab-$lab" ] || [ -n "$leftover" ]; then
            echo "test left lab $lab behind (${leftover//$'\n'/ }); removing it"
            "$top/deploy/lab/lab.sh" down "$lab" >/dev/null 2>&1
            status=1
        fi
    fi
    if [ "$status" -eq 0 ]; then
        echo "=== e2e $name: ok ($((SECONDS - start)) s)"
        passed=$((passed + 1))
    else
        echo "=== e2e $name: FAILED ($((SECONDS - start)) s)"
        failed=$((failed + 1))
        failures+=("$name")
    fi
done

echo
[ "$failed" -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
