#!/usr/bin/env bash
# Pod attach/detach latency: N sequential CNI ADDs, then N DELs, through
# the real sluice shim into a running agent on a lab node, against the
# reference bridge + host-local plugins called the same way (see
# cnirun.c).  Calls of the two alternate, so that both see the same
# machine.  Pod network namespaces are made before, and removed after,
# each round, untimed.
#
#   attach.sh [--quick] [-n N] [--rounds R]
#
# Default: 3 rounds of 100 pods; --quick: 1 round of 20.  Prints p50/p90/
# p99 of ADD and DEL for both and the ratios; timings are not asserted.
. "$(dirname "$0")/lib.sh"

n=
rounds=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=true ;;
    -n) n=${2:?-n needs a number}; shift ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "attach.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if $quick; then
    n=${n:-20} rounds=${rounds:-1}
else
    n=${n:-100} rounds=${rounds:-3}
fi

bench_init attach "${BENCH_LAB:-bnch-att}"
bench_lab_up
bench_ref_up
results=$work/results

# Warm-up, not measured: the reference creates its bridge on its first
# ADD, and both sides' binaries get into the page cache.
pods=(w1 w2)
mapfile -t names < <(pod_netns s "${pods[@]}"; pod_netns r "${pods[@]}")
bench_netns_create "${names[@]}"
for side in s r; do
    for p in "${pods[@]}"; do
        plan_call "$side" warm ADD "$p"
        plan_call "$side" warm DEL "$p"
    done
done >"$work/plan"
"$work/cnirun" seq "$work/plan" >"$work/warm"
check_statuses "$work/warm" "warm-up calls"
bench_netns_delete "${names[@]}"

: >"$results"
for round in $(seq 1 "$rounds"); do
    bench_log "round $round of $rounds: $n pods per plugin"
    pods=()
    for i in $(seq 1 "$n"); do
        pods+=("a$round-$i")
    done
    mapfile -t names < <(pod_netns s "${pods[@]}"; pod_netns r "${pods[@]}")
    bench_netns_create "${names[@]}"
    : >"$work/plan"
    for command in ADD DEL; do
        i=0
        for p in "${pods[@]}"; do
            # Alternate which plugin goes first.
            if [ $((i++ % 2)) = 0 ]; then order="s r"; else order="r s"; fi
            for side in $order; do
                plan_call "$side" "$side.$round.$p" "$command" "$p" \
                    >>"$work/plan"
            done
        done
    done
    "$work/cnirun" seq "$work/plan" >"$work/round"
    check_statuses "$work/round" "the calls of round $round"
    cat "$work/round" >>"$results"
    wait_veths_gone
    bench_netns_delete "${names[@]}"
done

agent_log_check
python3 "$report_py" attach "$results"
