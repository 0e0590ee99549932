#!/usr/bin/env bash
# Datapath throughput: iperf3 TCP, one stream, through sluice's datapath
# on lab nodes, against two references measured in the same run on the
# same machine:
#   - raw veth: a veth pair between two network namespaces, no OVS;
#   - bare OVS: a private ovsdb-server + ovs-vswitchd (deploy/lab/ovs.sh,
#     its own directory and network namespace), a netdev (userspace)
#     bridge br0 with two veth ports into two namespaces and one flow,
#     actions=NORMAL (after del-flows): the same userspace datapath as
#     the lab nodes, without sluice's pipeline.
# TX checksum offload is off on every veth end, as the userspace datapath
# needs (sluice does it on pod veths; so does the lab on its uplinks).
# sluice figures:
#   - same node: pod -> pod on n1 (geneve lab);
#   - across nodes, Geneve: pod on n1 -> pod on n2 (2-node geneve lab);
#   - across nodes, VXLAN: the same on a 2-node vxlan lab;
#   - egress: pod on n1 -> the external host (198.18.0.200) through an
#     egress whose pool is hosted by n2 (tunnel n1 -> n2, SNAT on n2, out
#     n2's uplink); the source the external host sees is checked.
# Each round measures every case of the lab (references included), in an
# order that rotates from round to round; the labs run one after the
# other (geneve, then vxlan), and each sluice figure is compared with the
# references measured in the rounds of its own lab.
#
#   datapath.sh [--quick] [--rounds N] [--time S] [--ref-mtu MTU]
#
# Default: 3 rounds of 10 s measurements; --quick: 3 rounds of 3 s.
# --ref-mtu: the MTU of the references' veths (default 1500, the kernel's;
# sluice's pods get the uplink MTU minus the tunnel overhead, printed).
# Prints every measurement, the medians (Gbit/s, receiver side) and the
# ratios sluice / reference; the target (same node >= 0.9 x bare OVS) is
# printed, not asserted.
. "$(dirname "$0")/lib.sh"

rounds=3
secs=
ref_mtu=1500
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=true ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --time) secs=${2:?--time needs a number of seconds}; shift ;;
    --ref-mtu) ref_mtu=${2:?--ref-mtu needs a number}; shift ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "datapath.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if $quick; then
    secs=${secs:-3}
else
    secs=${secs:-10}
fi
command -v iperf3 >/dev/null \
    || { echo "datapath.sh: iperf3 is needed (deploy/install-deps.sh)" >&2; exit 1; }
command -v ethtool >/dev/null \
    || { echo "datapath.sh: ethtool is needed" >&2; exit 1; }

bench_init datapath "${BENCH_LAB:-bnch-dp}"
# The two labs; bench_init checked only the base name.
lab_g=$lab-g
lab_x=$lab-x
for l in "$lab_g" "$lab_x"; do
    [ ! -e "$SLUICE_LAB_ROOT/sluice-lab-$l" ] \
        || bench_die "lab $l exists; remove it with: $lab_sh down $l"
done
ext_ip=198.18.0.200
ref_ovs=$work/ovs
ovs_sh=$top/deploy/lab/ovs.sh
ovs_started=false
labs_up=()
server_pids=()
records=$work/records
: >"$records"

# Stops what this script started (iperf3 servers by pid, the private OVS
# by its pid files, the labs); the namespaces and the work directory go
# with bench_cleanup.
dp_cleanup() {
    local pid l
    for pid in "${server_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    server_pids=()
    if $ovs_started; then
        "$ovs_sh" stop "$ref_ovs" >/dev/null 2>&1 \
            || echo "datapath: cannot stop the reference OVS" >&2
        ovs_started=false
    fi
    for l in "${labs_up[@]}"; do
        "$lab_sh" down "$l" >/dev/null 2>&1 \
            || echo "datapath: lab.sh down $l failed" >&2
    done
    labs_up=()
}
dp_exit() {
    local status=$?
    dp_cleanup
    (exit "$status")
    bench_cleanup
}
trap dp_exit EXIT

# veth_pair NS1 IF1 NS2 IF2 [MTU]: a veth pair between two namespaces,
# TX checksum offload off on both ends, both up.
veth_pair() {
    local ns1=$1 if1=$2 ns2=$3 if2=$4 mtu=${5:-}
    ip link add "$if1" netns "$ns1" type veth peer name "$if2" netns "$ns2" \
        || bench_die "cannot make veth $ns1/$if1 - $ns2/$if2"
    ip netns exec "$ns1" ethtool -K "$if1" tx off >/dev/null
    ip netns exec "$ns2" ethtool -K "$if2" tx off >/dev/null
    if [ -n "$mtu" ]; then
        ip -n "$ns1" link set "$if1" mtu "$mtu"
        ip -n "$ns2" link set "$if2" mtu "$mtu"
    fi
    ip -n "$ns1" link set "$if1" up
    ip -n "$ns2" link set "$if2" up
}

# server_start NETNS NAME: an iperf3 server in NETNS (port 5201), its
# output in $work/NAME.server.
server_start() {
    local ns=$1 name=$2 i
    ip netns exec "$ns" iperf3 -s -p 5201 >"$work/$name.server" 2>&1 &
    server_pids+=($!)
    for i in $(seq 1 100); do
        if ip netns exec "$ns" ss -Hltn 'sport = :5201' | grep -q .; then
            return 0
        fi
        sleep 0.05
    done
    bench_die "iperf3 server in $ns did not start: $(cat "$work/$name.server")"
}

# Stops the iperf3 servers (by pid).
servers_stop() {
    local pid
    for pid in "${server_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    server_pids=()
}

# The references: raw veth ($lab-va -> $lab-vb) and the bare OVS bridge
# ($lab-oa -> $lab-ob through br0 of an ovs-vswitchd in $lab-ro).
refs_up() {
    bench_netns_create "$lab-va" "$lab-vb" "$lab-ro" "$lab-oa" "$lab-ob"
    local ns
    for ns in "$lab-va" "$lab-vb" "$lab-ro" "$lab-oa" "$lab-ob"; do
        ip -n "$ns" link set lo up
    done
    veth_pair "$lab-va" eth0 "$lab-vb" eth0 "$ref_mtu"
    ip -n "$lab-va" addr add 10.97.0.1/24 dev eth0
    ip -n "$lab-vb" addr add 10.97.0.2/24 dev eth0

    ovs_started=true
    "$ovs_sh" start "$ref_ovs" "$lab-ro" \
        || bench_die "cannot start the reference OVS in $ref_ovs"
    veth_pair "$lab-oa" eth0 "$lab-ro" pa "$ref_mtu"
    veth_pair "$lab-ob" eth0 "$lab-ro" pb "$ref_mtu"
    "$ovs_sh" vsctl "$ref_ovs" add-br br0 \
        -- set bridge br0 datapath_type=netdev \
        -- add-port br0 pa -- add-port br0 pb \
        || bench_die "cannot make the reference bridge"
    OVS_RUNDIR=$ref_ovs ovs-ofctl del-flows br0 \
        || bench_die "ovs-ofctl del-flows br0 failed"
    OVS_RUNDIR=$ref_ovs ovs-ofctl add-flow br0 actions=NORMAL \
        || bench_die "ovs-ofctl add-flow br0 failed"
    ip -n "$lab-oa" addr add 10.98.0.1/24 dev eth0
    ip -n "$lab-ob" addr add 10.98.0.2/24 dev eth0
    # The datapath type really is netdev, and NORMAL the only flow.
    [ "$("$ovs_sh" vsctl "$ref_ovs" get bridge br0 datapath_type)" = netdev ] \
        || bench_die "reference br0 is not on the userspace datapath"
    local flows
    flows=$(OVS_RUNDIR=$ref_ovs ovs-ofctl dump-flows br0 --no-stats \
        | grep -c 'actions=NORMAL' || true)
    [ "$flows" = 1 ] || bench_die "reference br0 has $flows NORMAL flows"
    ping_ok "$lab-va" 10.97.0.2 || bench_die "raw veth reference: no ping"
    ping_ok "$lab-oa" 10.98.0.2 || bench_die "bare OVS reference: no ping"
}

refs_servers() {
    server_start "$lab-vb" veth
    server_start "$lab-ob" ovs
}

# ping_ok NETNS DST: DST answers a ping from NETNS within 10 s.
ping_ok() {
    local i
    for i in $(seq 1 20); do
        if ip netns exec "$1" ping -c 1 -W 0.5 "$2" >/dev/null 2>&1; then
            return 0
        fi
    done
    return 1
}

# measure PHASE ROUND CASE NETNS DST: one iperf3 run from NETNS to DST;
# appends "PHASE ROUND CASE GBITS RETRANSMITS" to the records.
measure() {
    local phase=$1 round=$2 case=$3 ns=$4 dst=$5 out try gbits retr
    out=$work/$phase.$round.$case.json
    for try in 1 2 3; do
        if ip netns exec "$ns" iperf3 -c "$dst" -p 5201 -t "$secs" -J \
            >"$out" 2>&1; then
            break
        fi
        # The server may still be busy with the previous test's end.
        [ "$try" -lt 3 ] \
            || bench_die "iperf3 $case ($ns -> $dst) failed: $(head -c 600 "$out")"
        sleep 1
    done
    read -r gbits retr < <(python3 - "$out" <<'PYEOF'
import json
import sys

with open(sys.argv[1]) as f:
    r = json.load(f)
end = r["end"]
print(f'{end["sum_received"]["bits_per_second"] / 1e9:.4f} '
      f'{end["sum_sent"].get("retransmits", 0)}')
PYEOF
    ) || bench_die "cannot read iperf3's output $out"
    echo "$phase $round $case $gbits $retr" >>"$records"
    bench_log "$phase round $round: $case $gbits Gbit/s ($retr retransmits)"
}

# The cases of a phase, "CASE NETNS DST" a line.
cases_g() {
    echo "veth $lab-va 10.97.0.2"
    echo "ovs $lab-oa 10.98.0.2"
    echo "same $lab_g-n1-a1 $ip_a2"
    echo "geneve $lab_g-n1-a1 $ip_b1"
    echo "egress $lab_g-n1-e1 $ext_ip"
}

cases_x() {
    echo "veth $lab-va 10.97.0.2"
    echo "ovs $lab-oa 10.98.0.2"
    echo "vxlan $lab_x-n1-a1 $ip_b1"
}

# run_rounds PHASE: $rounds rounds of every case of PHASE, the order
# rotated by one each round.
run_rounds() {
    local phase=$1 r k n lines
    mapfile -t lines < <("cases_$phase")
    n=${#lines[@]}
    for r in $(seq 1 "$rounds"); do
        for k in $(seq 0 $((n - 1))); do
            # shellcheck disable=SC2086 # three words
            measure "$phase" "$r" ${lines[$(((k + r - 1) % n))]}
        done
    done
}

# txcsum_check NETNS IF: warns if TX checksum offload is on.
txcsum_check() {
    if ip netns exec "$1" ethtool -k "$2" 2>/dev/null \
        | grep -q '^tx-checksumming: on'; then
        bench_log "warning: TX checksum offload is on on $2 in $1"
    fi
}

# lab_start LAB TUNNEL: a 2-node lab; pods a1 (n1) and b1 (n2), and, on
# the geneve lab, a2 (n1), e1 (n1) with egress e (pool p on n2).
lab_start() {
    local l=$1 tunnel=$2 i
    labs_up+=("$l")
    "$lab_sh" up "$l" 2 "$tunnel" >/dev/null \
        || bench_die "lab.sh up $l 2 $tunnel failed"
    "$lab_sh" pod-add "$l" n1 a1 >/dev/null || bench_die "pod-add a1 failed"
    "$lab_sh" pod-add "$l" n2 b1 >/dev/null || bench_die "pod-add b1 failed"
    ip_b1=$("$lab_sh" pod-ip "$l" n2 b1)
    pod_mtu=$(ip -n "$l-n1-a1" -o link show eth0 \
        | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
    txcsum_check "$l-n1-a1" eth0
    txcsum_check "$l-n2-b1" eth0
    ping_ok "$l-n1-a1" "$ip_b1" || bench_die "$l: a1 cannot ping b1"
    server_start "$l-n2-b1" "$l-b1"
    if [ "$tunnel" = geneve ]; then
        "$lab_sh" pod-add "$l" n1 a2 >/dev/null \
            || bench_die "pod-add a2 failed"
        "$lab_sh" pod-add "$l" n1 e1 >/dev/null \
            || bench_die "pod-add e1 failed"
        ip_a2=$("$lab_sh" pod-ip "$l" n1 a2)
        txcsum_check "$l-n1-a2" eth0
        ping_ok "$l-n1-a1" "$ip_a2" || bench_die "$l: a1 cannot ping a2"
        server_start "$l-n1-a2" "$l-a2"
        "$lab_sh" ctl "$l" n1 pool create p \
            --ranges 198.18.0.100-198.18.0.110 --nodes n2 >/dev/null \
            || bench_die "cannot create pool p"
        "$lab_sh" ctl "$l" n1 egress create e --namespace default \
            --pod e1 --pool p >/dev/null || bench_die "cannot create egress e"
        for i in $(seq 1 100); do
            eip=$("$lab_sh" ctl "$l" n1 -o json egress show e \
                | jq -r '.ip // empty' 2>/dev/null || true)
            owner=$("$lab_sh" etcdctl "$l" get --print-value-only \
                /sluice/owners/e | jq -r '.node // empty' 2>/dev/null || true)
            [ -n "$eip" ] && [ "$owner" = n2 ] && break
            sleep 0.1
        done
        if [ -z "$eip" ] || [ "$owner" != n2 ]; then
            bench_die "egress e: ip '$eip', held by '$owner' (not n2)"
        fi
        ping_ok "$l-n1-e1" "$ext_ip" || bench_die "$l: e1 cannot ping $ext_ip"
        server_start "$l-ext" "$l-ext"
    fi
}

# egress_check: every connection the external host's server accepted came
# from the egress IP.
egress_check() {
    local srcs
    srcs=$(sed -n 's/.*Accepted connection from \([0-9.]*\),.*/\1/p' \
        "$work/$lab_g-ext.server" | sort -u | tr '\n' ' ')
    [ "$srcs" = "$eip " ] \
        || bench_die "the external host saw sources '$srcs', not $eip"
}

lab_stop() {
    servers_stop
    "$lab_sh" down "$1" >/dev/null || bench_die "lab.sh down $1 failed"
    labs_up=()
}

bench_log "references: raw veth and bare OVS (netdev, NORMAL), MTU $ref_mtu"
refs_up

bench_log "geneve lab: same node, across nodes, egress; $rounds rounds of" \
    "$secs s"
lab_start "$lab_g" geneve
mtu_g=$pod_mtu
refs_servers
run_rounds g
egress_check
lab_stop "$lab_g"

bench_log "vxlan lab: across nodes; $rounds rounds of $secs s"
lab_start "$lab_x" vxlan
mtu_x=$pod_mtu
refs_servers
run_rounds x
servers_stop

python3 - "$records" "$secs" "$rounds" "$ref_mtu" "$mtu_g" "$mtu_x" \
    "${eip:-?}" <<'PYEOF'
import statistics
import sys

records, secs, rounds, ref_mtu, mtu_g, mtu_x, eip = sys.argv[1:8]
recs = {}
with open(records) as f:
    for line in f:
        phase, rnd, case, gbits, retr = line.split()
        recs.setdefault((phase, case), []).append(
            (int(rnd), float(gbits), int(retr)))


def med(phase, case):
    return statistics.median(g for _r, g, _t in recs[(phase, case)])


def per_round_ratios(phase, case, ref):
    a = {r: g for r, g, _t in recs[(phase, case)]}
    b = {r: g for r, g, _t in recs[(phase, ref)]}
    return [a[r] / b[r] for r in sorted(a) if b.get(r)]


names = {
    "veth": "raw veth (no OVS)",
    "ovs": "bare OVS bridge, netdev, one NORMAL flow",
    "same": "sluice pod -> pod, same node",
    "geneve": "sluice pod -> pod, across nodes, Geneve",
    "vxlan": "sluice pod -> pod, across nodes, VXLAN",
    "egress": f"sluice pod -> external host via egress IP {eip} (n1 -> n2)",
}
print()
print(f"datapath: iperf3 TCP, 1 stream, {secs} s per measurement, "
      f"{rounds} rounds; Gbit/s received (retransmits); references' MTU "
      f"{ref_mtu}, sluice pods' MTU {mtu_g} (geneve lab) / {mtu_x} "
      "(vxlan lab)")
for phase, lab in (("g", "geneve lab"), ("x", "vxlan lab")):
    for case in ("veth", "ovs", "same", "geneve", "egress", "vxlan"):
        if (phase, case) not in recs:
            continue
        vals = " ".join(f"{g:.2f} ({t})"
                        for _r, g, t in sorted(recs[(phase, case)]))
        print(f"  {lab:10} {names[case]:62} median "
              f"{med(phase, case):6.2f}: {vals}")
for phase, case in (("g", "same"), ("g", "geneve"), ("g", "egress"),
                    ("x", "vxlan")):
    for ref in ("ovs", "veth"):
        rs = per_round_ratios(phase, case, ref)
        print(f"  {case} / {ref} per round: "
              + " ".join(f"{x:.2f}" for x in rs))

what = {
    "same": "pod -> pod, same node",
    "geneve": "pod -> pod, across nodes, Geneve",
    "vxlan": "pod -> pod, across nodes, VXLAN",
    "egress": "pod -> external host through an egress (tunnel to the "
              "egress node, SNAT)",
}
print()
for phase, case in (("g", "same"), ("g", "geneve"), ("x", "vxlan"),
                    ("g", "egress")):
    s = med(phase, case)
    for ref, ref_name, target in (
            ("ovs", "bare OVS NORMAL", ">= 0.9" if case == "same" else "-"),
            ("veth", "raw veth", "-")):
        r = med(phase, ref)
        print(f"RESULT datapath | TCP throughput, 1 stream, {what[case]}, "
              f"median of {rounds} x {secs} s, vs {ref_name} | sluice "
              f"{s:.2f} Gbit/s | reference {r:.2f} Gbit/s ({ref_name}) | "
              f"ratio {s / r:.2f} | target {target}")
PYEOF
