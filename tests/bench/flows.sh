#!/usr/bin/env bash
# Flow programming on a node of a simulated cluster: P local pods, N
# remote nodes and M egresses.  Measures the flow-mods a single pod ADD
# sends with 10 and with N remote nodes, how fast the node absorbs N node
# joins (and leaves) from its etcd watch, and a full resync (agent
# restart) against `ovs-ofctl --bundle add-flows` of the same flow set.
#
# The cluster: remote nodes are fake records nodes/fakeNNNNN written into
# the lab's etcd (fakenodes.py: underlay 198.19.0.0/16, pod subnets
# 10.128.0.0/9 as /24s; no lease, no agent behind them); each gives every
# node 2 flows.  The egresses (lib.sh, egresses_create) alternate between
# a pool hosted by n1 (n1 claims them: 3 SNAT flows each) and one whose
# addresses fake nodes 1 and 2 hold (n1 steers to them through the
# tunnel); each pod is selected by one of them (one steering flow per
# pod).  All of it is removed at the end, the nodes' leave timed.
#
# Resync: sluiced is stopped and started again (`ip netns exec NODE
# sluiced`, as the lab starts it).  Measured from just before its start
# to (a) its "ready" log line, written on the barrier reply of its first
# sync bundle, and (b) the moment every flow the node had before is back
# under the new round's cookie: the benchmark polls the bridge's aggregate
# flow count for that cookie (ovs-ofctl dump-aggregate, every ~10-20 ms;
# the time is the midpoint between the last poll short of the full count
# and the first one at it).  Reference: the same flows, dumped with
# `ovs-ofctl dump-flows --no-stats` and written back with `ovs-ofctl
# --bundle add-flows` of that file, started the same way.  Both with the
# flows still on the bridge (sluiced's restart case) and on an emptied
# bridge (`del-flows` first, untimed).  More restarts, untimed: one
# watches the bridge's total flow count for a dip (flows deleted before
# their replacements are in), the other counts the OpenFlow messages of
# a resync (ovs-vswitchd's coverage counter ofproto_recv_openflow); three
# of each.
#
# Flow-mods per ADD: during one pod ADD (the node's first pod, with 10
# remote nodes; pod P+1 with 10 remote nodes; pod P+2 with N) the
# benchmark counts the OFPT_FLOW_MODs ovs-vswitchd received, bare or
# inside bundles, the bundles committed and all messages, from its vconn
# debug log; and how many flows the table gained.  Same for one DEL.
#
#   flows.sh [--quick] [--pods P] [--reps R] [--remote-nodes N]
#            [--egresses M]
#
# Default: 250 pods, 1000 remote nodes, 50 egresses, 5 repetitions;
# --quick: 2 repetitions.  Timings are not asserted.
. "$(dirname "$0")/lib.sh"

n_pods=250
reps=
n_remote=1000
n_egresses=50
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=true ;;
    --pods) n_pods=${2:?--pods needs a number}; shift ;;
    --reps) reps=${2:?--reps needs a number}; shift ;;
    --remote-nodes) n_remote=${2:?--remote-nodes needs a number}; shift ;;
    --egresses) n_egresses=${2:?--egresses needs a number}; shift ;;
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
[[ $n_remote =~ ^[0-9]+$ ]] && [ "$n_remote" -le 32767 ] \
    || bench_die "--remote-nodes must be 0..32767"
[[ $n_egresses =~ ^[0-9]+$ ]] || bench_die "--egresses must be a number"
n_small=$((n_remote < 10 ? n_remote : 10))

bench_init flows "${BENCH_LAB:-bnch-flw}"
bench_lab_up
mgmt=unix:$node_dir/ovs/br-int.mgmt
vswitchd_ctl=$node_dir/ovs/ovs-vswitchd.ctl
# Message counts come from vconn's debug log: all of it.
ovs-appctl -t "$vswitchd_ctl" vlog/disable-rate-limit vconn >/dev/null
vswitchd_log=$node_dir/ovs/ovs-vswitchd.log
agent_log=$node_dir/sluiced.log
records=$work/records
: >"$records"

ofctl() {
    ovs-ofctl -O OpenFlow15 "$@"
}

vconn_debug() {
    ovs-appctl -t "$vswitchd_ctl" vlog/set "vconn:file:$1" >/dev/null
}

# count_messages LOG: prints "FLOW-MODS BUNDLES MESSAGES" received, from
# vconn debug lines; MESSAGES counts those of the connections that sent
# flow changes (not the benchmark's own ovs-ofctl requests).
count_messages() {
    awk '
        /\|vconn\|DBG\|.*: received: / {
            conn = $0
            sub(/^.*\|vconn\|DBG\|/, "", conn)
            sub(/: received: .*/, "", conn)
            msgs[conn]++
            if (/received: OFPT_(FLOW_MOD|BUNDLE)/) {
                writer[conn] = 1
            }
            if (/received: OFPT_BUNDLE_CONTROL/) {
                ctrl++
            }
        }
        /^OFPT_FLOW_MOD|received: OFPT_FLOW_MOD/ {
            mods++
        }
        END {
            for (c in writer) {
                total += msgs[c]
            }
            printf "%d %d %d\n", mods, int(ctrl / 2), total
        }' "$1"
}

# count_mods PLAN KEY: runs PLAN (one CNI call) and records
# "KEY FLOW-MODS BUNDLES MESSAGES FLOW-CHANGE CALL-MS".
count_mods() {
    local plan=$1 key=$2 before after offset i
    before=$(n_flows_of "$mgmt")
    vconn_debug dbg
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
    vconn_debug info
    grep -q 'OFPT_BARRIER_REPLY' "$work/mods-log" \
        || bench_die "$key: no barrier reply in $vswitchd_log"
    after=$(n_flows_of "$mgmt")
    echo "$key $(count_messages "$work/mods-log")" \
        "$((after > before ? after - before : before - after))" \
        "$(awk -F'\t' '{print $4 / 1000}' "$work/mods-res")" >>"$records"
}

# one_call KEY COMMAND I: one CNI call for pod I, its flow-mods counted.
one_call() {
    local key=$1 command=$2 pod
    pod=$(pod_name "$3")
    plan_call s m "$command" "$pod" >"$work/plan"
    count_mods "$work/plan" "$key"
}

# take_round: with sluiced stopped, makes the flows on the bridge the
# previous round of the agent's next start, whoever installed them: sets
# the bridge's external_ids:sluice-round (which sluiced reads at start and
# whose flows its first sync deletes) to the round in their cookies (bits
# 63..56).  Flows the reference restored keep the cookies of the dump, an
# older round than the one the bridge names.  Prints the agent's next
# round.
take_round() {
    local cookie r
    cookie=$(ofctl dump-flows "$mgmt" --no-stats \
        | awk 'match($0, /cookie=0x[0-9a-f]+/) && !c {
                   c = substr($0, RSTART + 7, RLENGTH - 7)
               }
               END {print c}')
    [ -n "$cookie" ] || bench_die "no flows on $mgmt"
    r=$(((cookie >> 56) & 0xff))
    "$lab_sh" vsctl "$lab" n1 set bridge br-int \
        "external_ids:sluice-round=\"$r\""
    echo $((r > 0 && r < 255 ? r + 1 : 1))
}

# agent_settle: waits until sluiced is idle (agent_quiet), registered in
# etcd (after losing its lease, if it did: a busy agent misses its
# keepalives) and the bridge's flows have not changed for 1 s.
agent_settle() {
    local i
    agent_quiet "$(cat "$node_dir/sluiced.pid")"
    for i in $(seq 1 600); do
        if awk '/\|cluster\|node n1: lost etcd lease/ {lost = 1}
                /\|cluster\|node n1: registered in etcd/ {lost = 0}
                END {exit lost}' "$agent_log"; then
            break
        fi
        sleep 0.1
    done
    wait_flows_settled "$mgmt" 1 >/dev/null
}

# agent_restart KEY: stops sluiced, starts it again and records
# "KEY READY-MS SYNC-MS N-SYNCED STARTED OVSDB ROUND BUNDLE-SENT
# COMPLETE-MS"; READY-MS and the phases from its log (report.py restart),
# COMPLETE-MS when the new round has as many flows as the bridge had
# ($n_flows).  With KEY s-empty, empties the bridge while sluiced is
# stopped.
agent_restart() {
    local key=$1 offset t0 i times round cookie out n prev end
    local complete=""
    "$lab_sh" agent-stop "$lab" n1
    round=$(take_round)
    cookie=$(printf '0x%02x00000000000000/0xff00000000000000' "$round")
    if [ "$key" = s-empty ]; then
        ofctl del-flows "$mgmt"
    fi
    offset=$(stat -c %s "$agent_log")
    t0=${EPOCHREALTIME/./}
    ip netns exec "$node_ns" "$build/agent/sluiced" \
        --config "$node_dir/sluiced.json" >>"$agent_log" 2>&1 &
    echo $! >"$node_dir/sluiced.pid"
    prev=$t0
    for i in $(seq 1 3000); do
        out=$(ofctl dump-aggregate "$mgmt" "cookie=$cookie" 2>/dev/null) \
            || out=
        end=${EPOCHREALTIME/./}
        n=${out##*flow_count=}
        if [ "$n" = "$n_flows" ]; then
            complete=$(((prev + end) / 2 - t0))
            break
        fi
        prev=$end
        sleep 0.01
    done
    if [ -z "$complete" ]; then
        bench_log "sluiced restored $n of $n_flows flows in 30 s"
        echo "s-timeout $key $n" >>"$records"
        complete=30000000
    fi
    for i in $(seq 1 120); do
        if times=$(python3 "$report_py" restart "$agent_log" "$offset" \
            "$((t0 / 1000))"); then
            echo "$key $times $((complete / 1000)).$((complete % 1000 / 100))" \
                >>"$records"
            return 0
        fi
        sleep 0.25
    done
    bench_die "sluiced not ready 30 s after its start (see $agent_log)"
}

# restart_gap: restarts sluiced with its flows on the bridge, untimed, and
# watches the bridge's total flow count (every ~10-20 ms): records "gap
# MS MIN" for how long it stayed below the $n_flows the node had (first
# poll below to first poll back, 0 if none saw a dip) and its minimum;
# and, from one dump taken during the dip, "dip TABLE N" for each table.
restart_gap() {
    local i n t_dip="" t_back="" min=$n_flows dumped=false
    "$lab_sh" agent-stop "$lab" n1
    take_round >/dev/null
    ip netns exec "$node_ns" "$build/agent/sluiced" \
        --config "$node_dir/sluiced.json" >>"$agent_log" 2>&1 &
    echo $! >"$node_dir/sluiced.pid"
    for i in $(seq 1 3000); do
        n=$(n_flows_of "$mgmt")
        if [ "$n" -lt "$min" ]; then
            min=$n
        fi
        if [ "$n" -lt "$n_flows" ] && [ -z "$t_dip" ]; then
            t_dip=${EPOCHREALTIME/./}
        fi
        if [ -n "$t_dip" ] && ! $dumped; then
            ofctl dump-flows "$mgmt" --no-stats --names \
                >"$work/dip-flows" || true
            dumped=true
        fi
        if [ -n "$t_dip" ] && [ "$n" = "$n_flows" ]; then
            t_back=${EPOCHREALTIME/./}
            break
        fi
        # No dip for 3 s: there was none, or it was too short to see.
        if [ -z "$t_dip" ] && [ "$i" -gt 150 ]; then
            break
        fi
        sleep 0.01
    done
    if [ -n "$t_dip" ] && [ -z "$t_back" ]; then
        bench_die "$n of $n_flows flows 30 s after a restart"
    fi
    echo "gap $(((${t_back:-0} - ${t_dip:-0}) / 1000)) $min" >>"$records"
    if $dumped && ! grep -q '^dip ' "$records"; then
        for f in Classifier SpoofGuard ARPResponder Conntrack L3Forwarding \
            EgressMark SNAT Output; do
            echo "dip $f $(grep -c ", table=$f, " "$work/dip-flows")"
        done >>"$records"
    fi
}

# restart_messages: restarts sluiced with its flows on the bridge, untimed
# and unobserved (no polling, no debug log, which would change the order
# in which its OpenFlow and etcd answers arrive), and records
# "s-count MESSAGES SYNCED": the OpenFlow messages ovs-vswitchd received
# (coverage counter ofproto_recv_openflow) until 3 s after "ready", and
# the flows in its first sync bundle (from its log).
restart_messages() {
    local c0 c1 offset
    "$lab_sh" agent-stop "$lab" n1
    take_round >/dev/null
    offset=$(stat -c %s "$agent_log")
    c0=$(ovs-appctl -t "$vswitchd_ctl" coverage/read-counter \
        ofproto_recv_openflow)
    ip netns exec "$node_ns" "$build/agent/sluiced" \
        --config "$node_dir/sluiced.json" >>"$agent_log" 2>&1 &
    echo $! >"$node_dir/sluiced.pid"
    wait_log_count "$agent_log" "$offset" '\|agent\|node n1: ready' 1
    sleep 3
    c1=$(ovs-appctl -t "$vswitchd_ctl" coverage/read-counter \
        ofproto_recv_openflow)
    echo "s-count $((c1 - c0)) $(tail -c +"$((offset + 1))" "$agent_log" \
        | sed -n 's/.*|ofctl|.*: syncing \([0-9]*\) flows.*/\1/p' \
        | head -1)" >>"$records"
}

# ref_add_flows KEY: records "KEY MS MESSAGES" for ovs-ofctl --bundle
# add-flows of the dumped flows.  With KEY r-empty, empties the bridge first.
ref_add_flows() {
    local key=$1 t0 t1 c0 c1
    if [ "$key" = r-empty ]; then
        ofctl del-flows "$mgmt"
    fi
    c0=$(ovs-appctl -t "$vswitchd_ctl" coverage/read-counter \
        ofproto_recv_openflow)
    t0=${EPOCHREALTIME/./}
    ip netns exec "$node_ns" ovs-ofctl -O OpenFlow15 --bundle add-flows \
        "$mgmt" "$work/flows.txt"
    t1=${EPOCHREALTIME/./}
    c1=$(ovs-appctl -t "$vswitchd_ctl" coverage/read-counter \
        ofproto_recv_openflow)
    echo "$key $(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100))" \
        "$((c1 - c0))" >>"$records"
}

# nodes_change WHAT FIRST LAST KEY: puts (WHAT put) or deletes (WHAT
# delete: all) fake nodes FIRST..LAST and records "KEY N-NODES MS
# FLOW-CHANGE", the time from the etcd write to the last change of the
# bridge's flows (polled every ~20 ms; the count must then stay put for
# 0.25 s during which sluiced used no CPU).  A delete also counts the OpenFlow messages sent meanwhile
# ("... FLOW-MODS BUNDLES MESSAGES", from the vconn debug log, which slows
# ovs-vswitchd a little).
nodes_change() {
    local what=$1 first=$2 last=$3 key=$4 before n m t0 t_last offset i
    local same=0 vlog_offset regex agent_pid cpu_then=-1
    before=$(n_flows_of "$mgmt")
    offset=$(stat -c %s "$agent_log")
    if [ "$what" = delete ]; then
        vconn_debug dbg
        vlog_offset=$(stat -c %s "$vswitchd_log")
    fi
    t0=${EPOCHREALTIME/./}
    if [ "$what" = put ]; then
        fake_nodes put "$first" "$last"
        regex='\|agent\|node n1: peer fake[0-9]+ joined'
    else
        fake_nodes delete
        regex='\|agent\|node n1: peer fake[0-9]+ left'
    fi
    t_last=$t0
    n=$before
    agent_pid=$(cat "$node_dir/sluiced.pid")
    for i in $(seq 1 3000); do
        m=$(n_flows_of "$mgmt")
        if [ "$m" != "$n" ]; then
            t_last=${EPOCHREALTIME/./}
            n=$m
            same=0
        else
            same=$((same + 1))
            # The agent must also have been idle meanwhile (no CPU
            # used since 25 polls ago).
            if [ $((same % 25)) = 1 ]; then
                cpu_then=$(awk '{print $14 + $15}' "/proc/$agent_pid/stat")
                same=1
            fi
            if [ "$same" -ge 25 ] && [ "$(tail -c +"$((offset + 1))" \
                "$agent_log" | grep -cE "$regex")" -ge \
                $((last - first + 1)) ] && [ "$(awk '{print $14 + $15}' \
                "/proc/$agent_pid/stat")" = "$cpu_then" ]; then
                break
            fi
        fi
        sleep 0.01
    done
    echo "$key $((last - first + 1)) $(((t_last - t0) / 1000))" \
        "$((n > before ? n - before : before - n))" >"$work/nodes-rec"
    if [ "$what" = delete ]; then
        tail -c +"$((vlog_offset + 1))" "$vswitchd_log" >"$work/nodes-log"
        vconn_debug info
        echo "$(cat "$work/nodes-rec") $(count_messages "$work/nodes-log")" \
            >>"$records"
    else
        cat "$work/nodes-rec" >>"$records"
    fi
}

echo "remote-nodes $n_remote $n_small" >>"$records"
echo "egresses $n_egresses" >>"$records"

# A small cluster first: 10 remote nodes, the egresses.
if [ "$n_small" -gt 0 ]; then
    bench_log "$n_small remote nodes"
    fake_nodes put 1 "$n_small"
    wait_log_count "$agent_log" 0 '\|agent\|node n1: peer fake[0-9]+ joined' \
        "$n_small"
fi
if [ "$n_egresses" -gt 0 ]; then
    bench_log "$n_egresses egresses"
    egresses_create "$n_egresses"
fi
wait_flows_settled "$mgmt" >/dev/null

# Flow-mods of the node's first pod.
mapfile -t names < <(for i in $(seq 1 $((n_pods + 2))); do
    pod_netns s "$(pod_name "$i")"
done)
bench_netns_create "${names[@]}"
one_call mods-first ADD 1

# The other pods, then pod P+1 (ADD and DEL) with 10 remote nodes.
bench_log "attaching $n_pods pods"
for i in $(seq 2 "$n_pods"); do
    plan_call s f ADD "$(pod_name "$i")"
done >"$work/plan"
"$work/cnirun" seq "$work/plan" >"$work/res"
check_statuses "$work/res" "$n_pods ADDs"
one_call mods-small ADD $((n_pods + 1))
one_call mods-small-del DEL $((n_pods + 1))

# N remote nodes; pod P+2 (ADD and DEL) with them.
if [ "$n_remote" -gt "$n_small" ]; then
    bench_log "$((n_remote - n_small)) more remote nodes"
    nodes_change put $((n_small + 1)) "$n_remote" join
fi
agent_settle
one_call mods-last ADD $((n_pods + 2))
one_call mods-del DEL $((n_pods + 2))

n_flows=$(wait_flows_settled "$mgmt" 1)
echo "pods $n_pods" >>"$records"
echo "flows $n_flows" >>"$records"
for f in Classifier SpoofGuard ARPResponder Conntrack L3Forwarding \
    EgressMark SNAT Output; do
    echo "table $f $(ofctl dump-flows "$mgmt" "table=$f" --no-stats \
        | grep -c 'actions=')"
done >>"$records"
ofctl dump-flows "$mgmt" --no-stats --no-names | sed 's/^ *//' \
    | grep 'actions=' >"$work/flows.txt"
[ "$(wc -l <"$work/flows.txt")" = "$n_flows" ] \
    || bench_die "dumped $(wc -l <"$work/flows.txt") flows, not $n_flows"

for rep in $(seq 1 "$reps"); do
    bench_log "resync $rep of $reps ($n_flows flows)"
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
# Two more, untimed: the flows missing during a restart, and the
# messages it sends.  The last leaves the node as sluiced wants it.
for rep in 1 2 3; do
    restart_gap
done
for rep in 1 2 3; do
    restart_messages
done
agent_settle
echo "flows-after-restarts $(n_flows_of "$mgmt")" >>"$records"

# Remove the cluster: the egresses, then the nodes (timed).
bench_log "removing the egresses and the remote nodes"
egresses_delete
wait_flows_settled "$mgmt" >/dev/null
if [ "$n_remote" -gt 0 ]; then
    nodes_change delete 1 "$n_remote" leave
fi
cluster_cleanup
n_left=$(wait_flows_settled "$mgmt")
echo "flows-after-cleanup $n_left" >>"$records"

echo "lease-lost $(grep -c '|cluster|node n1: lost etcd lease' \
    "$agent_log")" >>"$records"
agent_log_check
python3 "$report_py" flows "$records"
