#!/usr/bin/env bash
# Runs every benchmark of tests/bench/ one after the other, then repeats
# all their RESULT lines (figure, sluice, reference measured in the same
# run, ratio, target).  A failing benchmark does not stop the others; the
# exit status is then 1.
#
#   run.sh [--quick] [--markdown FILE]
#
# --quick: short runs, for development.  --markdown FILE: also write the
# results as a markdown snippet (table, machine, command) to FILE.
# Environment: as for the benchmarks (SLUICE_BUILD, ...).  Needs root.
set -uo pipefail

bench_dir=$(cd "$(dirname "$0")" && pwd)
quick=()
markdown=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=(--quick) ;;
    --markdown) markdown=${2:?--markdown needs a file}; shift ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

command="tests/bench/run.sh${quick[*]:+ ${quick[*]}}"
log=$(mktemp "${TMPDIR:-/tmp}/sluice-bench-run.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
for bench in attach storm flows footprint failover datapath; do
    echo "=== $bench.sh ${quick[*]}"
    start=$SECONDS
    if ! "$bench_dir/$bench.sh" "${quick[@]}" 2>&1 | tee -a "$log"; then
        echo "=== $bench.sh FAILED"
        status=1
    fi
    echo "=== $bench.sh: $((SECONDS - start)) s"
    echo
done

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
ovs=$(ovs-vswitchd --version | awk 'NR == 1 {print $NF}')
plugins=$(dpkg-query -W -f '${Version}' containernetworking-plugins \
    2>/dev/null || echo unknown)
machine="$(nproc) CPUs ($cpu), Linux $(uname -r), Open vSwitch $ovs,"
machine+=" containernetworking-plugins $plugins"
echo "=== summary: $machine"
grep '^RESULT ' "$log"
if [ -n "$markdown" ]; then
    python3 "$bench_dir/report.py" markdown "$log" "$command" "$machine" \
        >"$markdown"
    echo "markdown written to $markdown" >&2
fi
exit $status
