#!/usr/bin/env bash
# Footprint of sluiced: resident memory (VmRSS, and its peak VmHWM, from
# /proc/PID/status; VmRSS split into RssAnon, the agent's own memory, and
# RssFile, mostly shared libraries) and CPU time (the sum of its threads'
# run times, from /proc/PID/task/*/schedstat), idle with no pods, during
# storms of N concurrent ADDs then DELs, and idle with P pods.  PSS (from
# /proc/PID/smaps_rollup) charges each shared page to the processes that
# map it in equal parts.  For the storms, the CPU of everything that
# attaches pods is compared: sluiced, ovs-vswitchd, ovsdb-server and the
# shim processes, against the reference bridge + host-local processes
# (their rusage, from cnirun).  Last, with the P pods attached, N remote
# nodes and M egresses are added (fake node records and egresses
# selecting the pods, as in flows.sh; see lib.sh): sluiced's CPU to
# absorb them, then an idle window with them.
#
#   footprint.sh [--quick] [--pods P] [--remote-nodes N] [--egresses M]
#
# Default: idle windows of 10 s, 3 storms of 200 pods per plugin, 250
# pods, 1000 remote nodes, 50 egresses; --quick: 3 s windows, 1 storm.
# Nothing is asserted.
. "$(dirname "$0")/lib.sh"

n_pods=250
n_storm=200
n_remote=1000
n_egresses=50
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=true ;;
    --pods) n_pods=${2:?--pods needs a number}; shift ;;
    --remote-nodes) n_remote=${2:?--remote-nodes needs a number}; shift ;;
    --egresses) n_egresses=${2:?--egresses needs a number}; shift ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "footprint.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if $quick; then
    window=3 rounds=1
else
    window=10 rounds=3
fi

[[ $n_remote =~ ^[0-9]+$ ]] && [ "$n_remote" -le 32767 ] \
    || bench_die "--remote-nodes must be 0..32767"
[[ $n_egresses =~ ^[0-9]+$ ]] || bench_die "--egresses must be a number"

bench_init footprint "${BENCH_LAB:-bnch-fp}"
bench_lab_up
bench_ref_up
records=$work/records
results=$work/results
: >"$records"

agent_pid=$(cat "$node_dir/sluiced.pid")
vswitchd_pid=$(cat "$node_dir/ovs/ovs-vswitchd.pid")
ovsdb_pid=$(cat "$node_dir/ovs/ovsdb-server.pid")
[ "$(cat "/proc/$agent_pid/comm")" = sluiced ] \
    || bench_die "pid $agent_pid from $node_dir/sluiced.pid is not sluiced"

# status_kb PID FIELD: prints FIELD (VmRSS, VmHWM, ...) of PID in kB.
status_kb() {
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# cpu_ms PID: CPU time of PID's threads so far, in ms.
cpu_ms() {
    cat /proc/"$1"/task/*/schedstat \
        | awk '{ns += $1} END {printf "%.1f", ns / 1e6}'
}

# idle KEY: records the RSS, peak RSS and CPU use of sluiced over an idle
# window.
idle() {
    local key=$1 c0 c1 t0 t1
    c0=$(cpu_ms "$agent_pid")
    t0=${EPOCHREALTIME/./}
    sleep "$window"
    c1=$(cpu_ms "$agent_pid")
    t1=${EPOCHREALTIME/./}
    {
        echo "rss-$key $(status_kb "$agent_pid" VmRSS)"
        echo "hwm-$key $(status_kb "$agent_pid" VmHWM)"
        echo "anon-$key $(status_kb "$agent_pid" RssAnon)"
        echo "file-$key $(status_kb "$agent_pid" RssFile)"
        echo "pss-$key $(awk '$1 == "Pss:" {print $2}' \
            "/proc/$agent_pid/smaps_rollup")"
    } >>"$records"
    awk -v c0="$c0" -v c1="$c1" -v t="$((t1 - t0))" -v k="$key" \
        'BEGIN {printf "cpu-%s %.3f\n", k, (c1 - c0) / (t / 1000) * 100}' \
        >>"$records"
}

echo "storm-pods $n_storm" >>"$records"
echo "pods $n_pods" >>"$records"
echo "idle-seconds $window" >>"$records"

bench_log "idle, no pods (${window} s)"
idle idle0

for round in $(seq 1 "$rounds"); do
    bench_log "storm $round of $rounds: $n_storm pods per plugin"
    if [ $((round % 2)) = 1 ]; then order="s r"; else order="r s"; fi
    for side in $order; do
        : >"$results"
        a0=$(cpu_ms "$agent_pid") v0=$(cpu_ms "$vswitchd_pid")
        d0=$(cpu_ms "$ovsdb_pid")
        storm "$side" "$n_storm" "$round" "$results"
        a1=$(cpu_ms "$agent_pid") v1=$(cpu_ms "$vswitchd_pid")
        d1=$(cpu_ms "$ovsdb_pid")
        plugins=$(awk -F'\t' '$1 != "total" {ms += $5 / 1000}
                              END {printf "%.1f", ms}' "$results")
        attached=$(awk -F'\t' '$2 == "ADD" && $3 == 0' "$results" | wc -l)
        if [ "$side" = s ]; then
            echo "s-storm-cpu $(awk "BEGIN {print $a1 - $a0}")" \
                "$(awk "BEGIN {print $v1 - $v0}")" \
                "$(awk "BEGIN {print $d1 - $d0}")" "$plugins" \
                "$attached" >>"$records"
        else
            echo "r-storm-cpu $plugins $attached" >>"$records"
        fi
    done
done
echo "hwm-storm $(status_kb "$agent_pid" VmHWM)" >>"$records"

bench_log "attaching $n_pods pods"
# Named for the egresses that come later (pod_name).
n_egress=$n_egresses
pods=()
for i in $(seq 1 "$n_pods"); do
    pods+=("$(pod_name "$i")")
done
mapfile -t names < <(pod_netns s "${pods[@]}")
bench_netns_create "${names[@]}"
for p in "${pods[@]}"; do
    plan_call s f ADD "$p"
done >"$work/plan"
"$work/cnirun" seq "$work/plan" >"$work/res"
check_statuses "$work/res" "$n_pods ADDs"
bench_log "idle, $n_pods pods (${window} s)"
idle idle250

if [ "$n_remote" -gt 0 ] || [ "$n_egresses" -gt 0 ]; then
    bench_log "adding $n_remote remote nodes and $n_egresses egresses"
    mgmt=unix:$node_dir/ovs/br-int.mgmt
    flows0=$(n_flows_of "$mgmt")
    a0=$(cpu_ms "$agent_pid")
    t0=${EPOCHREALTIME/./}
    if [ "$n_remote" -gt 0 ]; then
        fake_nodes put 1 "$n_remote"
        wait_log_count "$node_dir/sluiced.log" 0 \
            '\|agent\|node n1: peer fake[0-9]+ joined' "$n_remote"
    fi
    agent_quiet "$agent_pid"
    flows1=$(wait_flows_settled "$mgmt")
    a1=$(cpu_ms "$agent_pid")
    t1=${EPOCHREALTIME/./}
    echo "rss-nodes $(status_kb "$agent_pid" VmRSS)" \
        "$(status_kb "$agent_pid" RssAnon)" >>"$records"
    egresses_create "$n_egresses"
    agent_quiet "$agent_pid"
    flows2=$(wait_flows_settled "$mgmt")
    a2=$(cpu_ms "$agent_pid")
    t2=${EPOCHREALTIME/./}
    # The settling waits (0.5 s of CPU quiet, 0.5 s of stable flows) are
    # in the wall times.
    echo "cluster $n_remote $n_egresses $flows0 $flows1 $flows2" \
        "$(awk "BEGIN {print $a1 - $a0, $a2 - $a1}")" \
        "$(((t1 - t0) / 1000)) $(((t2 - t1) / 1000))" >>"$records"
    bench_log "idle, $n_pods pods, $n_remote nodes, $n_egresses egresses" \
        "(${window} s)"
    idle idlecluster
    echo "lease-lost $(grep -c '|cluster|node n1: lost etcd lease' \
        "$node_dir/sluiced.log")" >>"$records"
    cluster_cleanup
fi

agent_log_check
python3 "$report_py" footprint "$records"
if storm_failed; then
    bench_log "some storm calls failed:"
    grep . "$work/failure-msgs" | sort | uniq -c | sort -rn | head -3 >&2
    exit 1
fi
