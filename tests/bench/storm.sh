#!/usr/bin/env bash
# Pod storm: N CNI ADDs started at once (all processes forked first, then
# released together), then N DELs at once, through the real sluice shim
# into a running agent on a lab node; the same with the reference bridge +
# host-local plugins.  Checks that every call succeeds (failures are
# counted and reported, and make the exit status 1), that no address is
# given twice and that the bridge has a pod port for each successful ADD
# and none after the DELs.  Rounds alternate between the plugins.
#
#   storm.sh [--quick] [-n N] [--rounds R]
#
# Default: 5 rounds of 200 pods per plugin; --quick: 1 round.  Prints the
# total wall time (min/median/p99) and the rate in pods/s; timings are not
# asserted.
. "$(dirname "$0")/lib.sh"

n=200
rounds=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=true ;;
    -n) n=${2:?-n needs a number}; shift ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "storm.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if $quick; then
    rounds=${rounds:-1}
else
    rounds=${rounds:-5}
fi

bench_init storm "${BENCH_LAB:-bnch-stm}"
bench_lab_up
bench_ref_up
results=$work/results
: >"$results"

for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="s r"; else order="r s"; fi
    for side in $order; do
        bench_log "round $round of $rounds: $side, $n pods"
        storm "$side" "$n" "$round" "$results"
    done
done

agent_log_check
python3 "$report_py" storm "$results" "$n" "$work/failures" \
    "$work/failure-msgs"
if storm_failed; then
    exit 1
fi
