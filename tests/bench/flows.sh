#!/usr/bin/env bash
# Flow programming: a full resync of a node with P local pods, and the
# flow-mods a single pod ADD sends.
#
# Resync: sluiced is stopped and started again; its time is from just
# before its start (`ip netns exec NODE sluiced`, as the lab starts it) to
# the "ready" line of its log, which it writes on the barrier reply that
# ends its sync bundle (log times have ms resolution); the log also gives
# the time from "syncing N flows" (bundle encoded and sent) to "ready".
# Reference: the flows installed by sluiced, dumped with `ovs-ofctl
# dump-flows --no-stats` and written back with `ovs-ofctl --bundle
# add-flows` of that file, started the same way (`ip netns exec NODE`).
# Both are measured with the flows still on the bridge (sluiced's restart
# case) and on an emptied bridge (`del-flows` first, untimed).
#
# Flow-mods per ADD: ovs-vswitchd's vconn module logs at debug level every
# OpenFlow message it receives; during one pod ADD (the node's first pod,
# then its P+1th) the benchmark counts the OFPT_FLOW_MODs received, bare or
# inside bundles, the bundles committed and all messages; and how many
# flows the table gained (dump-flows before and after).  Same for one DEL.
#
#   flows.sh [--quick] [--pods P] [--reps R]
#            [--remote-nodes N] [--egresses N]    (not implemented yet)
#
# Default: 250 pods, 5 repetitions; --quick: 250 pods, 2 repetitions.
# Timings are not asserted.
. "$(dirname "$0")/lib.sh"

n_pods=250
reps=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=true ;;
    --pods) n_pods=${2:?--pods needs a number}; shift ;;
    --reps) reps=${2:?--reps needs a number}; shift ;;
    --remote-nodes | --egresses)
        # TODO(#6): remote nodes (1000 peers: tunnel flows per node) and
        # egresses, once the agent learns them; the resync and flow-mod
        # counts must then be measured with them present.
        echo "flows.sh: $1: not implemented yet" >&2
        exit 2
        ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "flows.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if $quick; then
    reps=${reps:-2}
else
    reps=${reps:-5}
fi

bench_init flows "${BENCH_LAB:-bnch-flw}"
bench_lab_up
mgmt=unix:$node_dir/ovs/br-int.mgmt
vswitchd_ctl=$node_dir/ovs/ovs-vswitchd.ctl
vswitchd_log=$node_dir/ovs/ovs-vswitchd.log
agent_log=$node_dir/sluiced.log
records=$work/records
: >"$records"

ofctl() {
    ovs-ofctl -O OpenFlow15 "$@"
}

n_flows_now() {
    ofctl dump-flows "$mgmt" --no-stats | grep -c 'actions=' || true
}

# count_mods PLAN KEY: runs PLAN (one CNI call) and records
# "KEY FLOW-MODS BUNDLES MESSAGES FLOW-CHANGE CALL-MS".
count_mods() {
    local plan=$1 key=$2 before after offset i
    before=$(n_flows_now)
    ovs-appctl -t "$vswitchd_ctl" vlog/set vconn:file:dbg >/dev/null
    offset=$(stat -c %s "$vswitchd_log")
    "$work/cnirun" seq "$plan" >"$work/mods-res"
    check_statuses "$work/mods-res" "$key call"
    # ovs-vswitchd logs asynchronously: wait for the barrier reply that
    # ends the call's flow changes.
    for i in $(seq 1 50); do
        tail -c +"$((offset + 1))" "$vswitchd_log" >"$work/mods-log"
        grep -q 'sent ([^)]*): OFPT_BARRIER_REPLY' "$work/mods-log" && break
        sleep 0.1
    done
    ovs-appctl -t "$vswitchd_ctl" vlog/set vconn:file:info >/dev/null
    grep -q 'OFPT_BARRIER_REPLY' "$work/mods-log" \
        || bench_die "$key: no barrier reply in $vswitchd_log"
    after=$(n_flows_now)
    echo "$key" \
        "$(grep -cE '^OFPT_FLOW_MOD|received: OFPT_FLOW_MOD' \
            "$work/mods-log")" \
        "$(grep -c 'received: OFPT_BUNDLE_CONTROL' "$work/mods-log" \
            | awk '{print int($1 / 2)}')" \
        "$(grep -c '|vconn|DBG|.*: received: ' "$work/mods-log")" \
        "$((after > before ? after - before : before - after))" \
        "$(awk -F'\t' '{print $4 / 1000}' "$work/mods-res")" >>"$records"
}

# agent_restart KEY: stops sluiced, starts it again and records
# "KEY TOTAL-MS SYNC-MS N-FLOWS".  With KEY s-empty, empties the bridge
# while sluiced is stopped.
agent_restart() {
    local key=$1 offset t0 i times
    "$lab_sh" agent-stop "$lab" n1
    if [ "$key" = s-empty ]; then
        ofctl del-flows "$mgmt"
    fi
    offset=$(stat -c %s "$agent_log")
    t0=$(now_ms)
    ip netns exec "$node_ns" "$build/agent/sluiced" \
        --config "$node_dir/sluiced.json" >>"$agent_log" 2>&1 &
    echo $! >"$node_dir/sluiced.pid"
    for i in $(seq 1 120); do
        sleep 0.25
        if times=$(python3 "$report_py" restart "$agent_log" "$offset" \
            "$t0"); then
            echo "$key $times" >>"$records"
            return 0
        fi
    done
    bench_die "sluiced not ready 30 s after its start (see $agent_log)"
}

# ref_add_flows KEY: records "KEY MS" for ovs-ofctl --bundle add-flows of
# the dumped flows.  With KEY r-empty, empties the bridge first.
ref_add_flows() {
    local key=$1 t0 t1
    if [ "$key" = r-empty ]; then
        ofctl del-flows "$mgmt"
    fi
    t0=${EPOCHREALTIME/./}
    ip netns exec "$node_ns" ovs-ofctl -O OpenFlow15 --bundle add-flows \
        "$mgmt" "$work/flows.txt"
    t1=${EPOCHREALTIME/./}
    echo "$key $(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100))" \
        >>"$records"
}

# Flow-mods of the node's first pod.
bench_netns_create "$(pod_netns s m1)"
plan_call s m ADD m1 >"$work/plan"
count_mods "$work/plan" mods-first

# The other pods, then the P+1th: its ADD, and its DEL.
bench_log "attaching $n_pods pods"
pods=()
for i in $(seq 2 "$n_pods"); do
    pods+=("f$i")
done
mapfile -t names < <(pod_netns s "${pods[@]}" last)
bench_netns_create "${names[@]}"
for p in "${pods[@]}"; do
    plan_call s f ADD "$p"
done >"$work/plan"
"$work/cnirun" seq "$work/plan" >"$work/res"
check_statuses "$work/res" "$n_pods ADDs"
plan_call s m ADD last >"$work/plan"
count_mods "$work/plan" mods-last
plan_call s m DEL last >"$work/plan"
count_mods "$work/plan" mods-del

echo "pods $n_pods" >>"$records"
echo "flows $(n_flows_now)" >>"$records"
ofctl dump-flows "$mgmt" --no-stats --no-names | sed 's/^ *//' \
    | grep 'actions=' >"$work/flows.txt"

for rep in $(seq 1 "$reps"); do
    bench_log "resync $rep of $reps"
    if [ $((rep % 2)) = 1 ]; then
        agent_restart s-full
        ref_add_flows r-full
        agent_restart s-empty
        ref_add_flows r-empty
    else
        ref_add_flows r-full
        agent_restart s-full
        ref_add_flows r-empty
        agent_restart s-empty
    fi
done
# Leave the node as sluiced wants it (and check that it still is).
agent_restart s-final

agent_log_check
python3 "$report_py" flows "$records"
