#!/usr/bin/env bash
# Egress failover: on a 3-node lab (pool on n2 and n3, egress e1 for pod
# web-1 on n1), web-1 streams numbered UDP probes to the external host
# (a python3 sender in the pod, a receiver on the external host recording
# arrival times and sequence numbers) while the node holding the egress IP
# is killed (sluiced and ovs-vswitchd SIGKILLed).  The gap is the longest
# interval without arrivals after the kill; the probes lost are the
# sequence numbers missing across it.  The killed node is then brought
# back (ovs-vswitchd restarted with flow-restore-wait, agent started)
# while the probes stream on: its fail-back loss is counted.  Then `egress
# move` puts the IP back on it (the loss of the move is counted too) and
# the next round kills it again; with --alternate the IP stays where it
# is and the next round kills the other node.  This is done with the
# default detector settings, then with the fastest BFD interval
# (SLUICE_LAB_AGENT_EXTRA, a new lab).
#
#   failover.sh [--quick] [--rounds N] [--rate PPS] [--fast-interval MS]
#               [--alternate]
#
# Default: 10 rounds per setting, 500 probes/s, fastest interval 50 ms;
# --quick: 3 rounds.  Prints min/median/max gap and loss per setting, the
# fail-back loss and the detector settings; the targets (median <= 300 ms
# with the defaults, <= 150 ms with the fastest setting, max < 1 s,
# fail-back loss 0) are printed, not asserted.  Exits 1 only if a
# failover did not happen (no traffic 5 s after a kill).
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/egress-lib.sh
. "$bench_dir/../e2e/egress-lib.sh"

rounds=
rate=500
fast=50
alternate=false
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=true ;;
    --alternate) alternate=true ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --rate) rate=${2:?--rate needs a number}; shift ;;
    --fast-interval) fast=${2:?--fast-interval needs a number}; shift ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "failover.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if $quick; then
    rounds=${rounds:-3}
else
    rounds=${rounds:-10}
fi

bench_init failover "${BENCH_LAB:-bnch-fo}"
tool=$work/probe.py
eg_write_tool "$tool"
lab_dir=$SLUICE_LAB_ROOT/sluice-lab-$lab
ext_ip=198.18.0.200
bg_pids=()

L() {
    local cmd=$1
    shift
    "$lab_sh" "$cmd" "$lab" "$@"
}

owner() {
    L etcdctl get --print-value-only /sluice/owners/e1 \
        | jq -r '.node // empty' 2>/dev/null || true
}

owner_is() {
    [ "$(owner)" = "$1" ]
}

# bfd_up NODE: NODE's BFD session toward the other pool node is up.
bfd_up() {
    L vsctl "$1" --bare --columns=bfd_status find Interface \
        external_ids:sluice-role=bfd 2>/dev/null | grep -q 'state=up'
}

registered() {
    L etcdctl get "/sluice/nodes/$1" | grep -q .
}

# wait_for MS CMD...: polls CMD every 20 ms for up to MS ms.
wait_for() {
    local limit=$1 t0
    shift
    t0=$(now_ms)
    until "$@" >/dev/null 2>&1; do
        [ $(($(now_ms) - t0)) -lt "$limit" ] || return 1
        sleep 0.02
    done
}

kill_node() {
    local node=$1 agent vswitchd
    agent=$(cat "$lab_dir/$node/sluiced.pid")
    vswitchd=$(cat "$lab_dir/$node/ovs/ovs-vswitchd.pid")
    kill -KILL "$agent" "$vswitchd" || bench_die "cannot kill $node"
    killed_ms=$(now_ms)
    rm -f "$lab_dir/$node/sluiced.pid"
}

revive_node() {
    local node=$1
    L ovs-restart "$node" >/dev/null
    L node-exec "$node" ip addr replace "198.18.0.$((10 + ${node#n}))/24" \
        dev br-phy
    L node-exec "$node" ip link set br-phy up
    L agent-start "$node" >/dev/null
}

# stream_start NAME: web-1 sends $rate probes/s until stream_stop NAME.
stream_start() {
    local name=$1 i
    rm -f "$work/$name.rx" "$work/$name.sent"
    ip netns exec "$lab-ext" python3 "$tool" recv 9000 "$work/$name.rx" &
    rx_pid=$!
    bg_pids+=("$rx_pid")
    for i in $(seq 1 100); do
        ip netns exec "$lab-ext" ss -Hlun 'sport = :9000' | grep -q . && break
        sleep 0.02
    done
    ip netns exec "$lab-n1-web-1" python3 "$tool" send "$ext_ip" 9000 \
        "$rate" 600 "$work/$name.sent" &
    tx_pid=$!
    bg_pids+=("$tx_pid")
}

stream_stop() {
    kill -TERM "$tx_pid" 2>/dev/null || true
    wait "$tx_pid" 2>/dev/null || true
    sleep 0.2
    kill -TERM "$rx_pid" 2>/dev/null || true
    wait "$rx_pid" 2>/dev/null || true
    bg_pids=()
}

# The probes are stopped (by pid) before the lab goes.
stop_all() {
    local pid
    for pid in "${bg_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
}
# shellcheck disable=SC2154 # fo_status is set in the trap
trap 'fo_status=$?; set +e; stop_all; (exit $fo_status); bench_cleanup' EXIT

# setup: a 3-node lab with pool p1 (n2, n3), egress e1, pod web-1 on n1.
setup() {
    lab_owned=true
    L up 3 >/dev/null || bench_die "lab.sh up $lab 3 failed"
    L pod-add n1 web-1 >/dev/null || bench_die "cannot add pod web-1"
    L ctl n1 pool create p1 --ranges 198.18.0.100-198.18.0.120 \
        --nodes n2,n3 >/dev/null || bench_die "cannot create pool p1"
    L ctl n1 egress create e1 --namespace default --pod 'web*' --pool p1 \
        >/dev/null || bench_die "cannot create egress e1"
    wait_for 5000 owner || bench_die "e1 has no holder after 5 s"
    eip=$(L ctl n1 -o json egress show e1 | jq -r .ip)
    wait_for 10000 bfd_up n2 || bench_die "no BFD session between n2 and n3"
    wait_for 10000 bfd_up n3 || bench_die "no BFD session between n3 and n2"
    ip netns exec "$lab-n1-web-1" ping -c 1 -W 1 "$ext_ip" >/dev/null 2>&1 \
        || true
}

# run_setting TAG: the rounds on the running lab; appends one line per
# round to $work/TAG.rounds: "GAP_MS LOST_IN_GAP LOST FAILBACK_LOST
# MOVE_LOST OK" (MOVE_LOST -1 with --alternate).
run_setting() {
    local tag=$1 r h o rep back mv ok
    : >"$work/$tag.rounds"
    for r in $(seq 1 "$rounds"); do
        h=$(owner)
        if [ "$h" = n2 ]; then o=n3; else o=n2; fi
        wait_for 10000 bfd_up "$o" \
            || bench_log "round $r: $o's BFD session is not up"
        stream_start "kill$r"
        sleep 1
        kill_node "$h"
        ok=1
        if ! wait_for 5000 owner_is "$o"; then
            bench_log "round $r: $o did not take e1 over within 5 s"
            ok=0
        fi
        sleep 1
        stream_stop
        rep=$(python3 "$tool" stream "$work/kill$r.rx" "$work/kill$r.sent" \
            "$killed_ms")
        echo "$rep" >"$work/$tag.kill$r.json"
        # A failover counts if the probes came back, kept arriving until
        # the end (at most 200 ms of silence) and all came from the egress
        # IP.
        if [ "$(echo "$rep" | jq -r '.after_t0')" = 0 ] \
            || [ "$(echo "$rep" | jq -r '.tail_silence_ms > 200')" = true ] \
            || [ "$(echo "$rep" | jq -r '.sources | keys | join(" ")')" != "$eip" ]; then
            bench_log "round $r: no failover: $rep"
            ok=0
        fi

        # The killed node comes back while the probes stream.
        stream_start "back$r"
        sleep 0.5
        revive_node "$h"
        wait_for 10000 registered "$h" \
            || bench_log "round $r: $h did not register again"
        wait_for 10000 bfd_up "$h" \
            || bench_log "round $r: $h's BFD session did not come up"
        sleep 0.5
        stream_stop
        back=$(python3 "$tool" stream "$work/back$r.rx" "$work/back$r.sent")
        owner_is "$o" \
            || bench_log "round $r: e1 went back to $h after it came back"

        # The IP is moved back to the node that came back, which the next
        # round kills again.
        mv='{"lost": -1}'
        if ! $alternate; then
            stream_start "move$r"
            sleep 0.5
            L ctl n1 egress move e1 --to "$h" >/dev/null \
                || bench_log "round $r: egress move e1 --to $h failed"
            wait_for 5000 owner_is "$h" \
                || bench_log "round $r: e1 did not move to $h within 5 s"
            sleep 0.5
            stream_stop
            mv=$(python3 "$tool" stream "$work/move$r.rx" "$work/move$r.sent")
        fi
        echo "$rep" | jq -r --argjson back "$back" --argjson mv "$mv" \
            --arg ok "$ok" \
            '"\(.gap_ms) \(.lost_in_gap // 0) \(.lost) \($back.lost) \($mv.lost) \($ok)"' \
            >>"$work/$tag.rounds"
        bench_log "$tag round $r/$rounds: killed $h, $o took over; gap" \
            "$(echo "$rep" | jq -r .gap_ms) ms, $(echo "$rep" | jq -r \
            '.lost_in_gap // 0') probes lost; lost while $h came back" \
            "$(echo "$back" | jq -r .lost), while moved back" \
            "$(echo "$mv" | jq -r .lost)"
    done
}

# interval: the BFD interval the agents use (from their log).
interval() {
    sed -n 's/.*BFD toward node .* every \([0-9]*\) ms.*/\1/p' \
        "$lab_dir"/n2/sluiced.log | tail -n 1
}

bench_log "default detector settings: $rounds rounds, $rate probes/s"
setup
default_ms=$(interval)
run_setting default
L down >/dev/null
lab_owned=false

bench_log "fastest setting: egress_bfd_interval_ms $fast"
export SLUICE_LAB_AGENT_EXTRA="{\"egress_bfd_interval_ms\": $fast}"
setup
fast_ms=$(interval)
[ "$fast_ms" = "$fast" ] \
    || bench_log "warning: the agents use BFD every $fast_ms ms, not $fast"
run_setting fast
unset SLUICE_LAB_AGENT_EXTRA

python3 - "$work" "$default_ms" "$fast_ms" "$rate" "$rounds" <<'PYEOF'
import statistics
import sys

work, default_ms, fast_ms, rate, rounds = sys.argv[1:6]
nan = float("nan")


def load(tag):
    rows = []
    with open(f"{work}/{tag}.rounds") as f:
        for line in f:
            gap, lost_gap, lost, back, move, ok = line.split()
            rows.append((float(gap), int(lost_gap), int(lost),
                         int(back), int(move), ok == "1"))
    return rows


def mmm(values, unit=""):
    if not values:
        return "none"
    return (f"min {min(values):g}{unit} / median "
            f"{statistics.median(values):g}{unit} / max {max(values):g}{unit}")


failed = 0
print()
print(f"detector: BFD on per-peer tunnel ports (detect multiplier 3); "
      f"probes {rate}/s from web-1 (n1) to the external host; "
      f"{rounds} kills per setting")
results = []
for tag, interval, target in (("default", default_ms, 300),
                              ("fast", fast_ms, 150)):
    rows = load(tag)
    good = [r for r in rows if r[5]]
    failed += len(rows) - len(good)
    gaps = [r[0] for r in good]
    lost = [r[1] for r in good]
    back = [r[3] for r in rows]
    move = [r[4] for r in rows if r[4] >= 0]
    label = "default" if tag == "default" else "fastest"
    print(f"{label} (egress_bfd_interval_ms {interval}): {len(good)} of "
          f"{len(rows)} failovers resumed; gap {mmm(gaps, ' ms')}; probes "
          f"lost {mmm(lost)}; lost while the killed node came back: "
          f"{' '.join(str(b) for b in back)}"
          + (f"; lost while moved back: {' '.join(str(m) for m in move)}"
             if move else ""))
    results.append((label, interval, target, gaps, lost, back, move))

print()
for label, interval, target, gaps, lost, back, move in results:
    detect = 3 * int(interval)
    med = statistics.median(gaps) if gaps else nan
    mx = max(gaps) if gaps else nan
    what = f"BFD {interval} ms ({label})"
    print(f"RESULT failover | egress failover gap, {what}, median of "
          f"{len(gaps)} | sluice {med:.1f} ms | reference {detect}.0 ms "
          f"(3 x BFD interval) | ratio {med / detect:.2f} | "
          f"target <= {target} ms")
    print(f"RESULT failover | egress failover gap, {what}, max | sluice "
          f"{mx:.1f} ms | reference {detect}.0 ms (3 x BFD interval) | "
          f"ratio {mx / detect:.2f} | target < 1000 ms")
    med_lost = statistics.median(lost) if lost else nan
    print(f"RESULT failover | probes lost per failover at {rate}/s, {what}, "
          f"median | sluice {med_lost:g} probes | reference n/a | ratio n/a "
          f"| target -")
    print(f"RESULT failover | fail-back loss (killed node back), {what}, "
          f"total of {len(back)} | sluice {sum(back)} probes | reference n/a "
          f"| ratio n/a | target 0")
    if move:
        print(f"RESULT failover | egress move back loss, {what}, total of "
              f"{len(move)} | sluice {sum(move)} probes | reference n/a | "
              f"ratio n/a | target 0")
sys.exit(1 if failed else 0)
PYEOF
