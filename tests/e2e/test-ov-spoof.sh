#!/usr/bin/env bash
# Tunnel traffic is accepted only from registered nodes.  For Geneve and
# VXLAN in turn: the external host (198.18.0.200, not a node) sends
# encapsulated ICMP echo requests to n1's node IP for a pod on n1.  They
# are decapsulated by OVS and dropped by the Classifier's
# `in_port=sluice-tun0 actions=drop` flow (its n_packets grows by at least
# as many), and the pod receives nothing.  As a control, once the external
# host is registered as a node in etcd the very same packets reach the pod;
# once that record is gone they are dropped again.  (n1's datapath flows are flushed before each
# reading of the drop counter, so that it counts only what it should.)
#
# Usage: test-ov-spoof.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/overlay-lib.sh
source "$(dirname "$0")/overlay-lib.sh"
e2e_init "$@"

EXT_IP=198.18.0.200
N1_IP=198.18.0.11
N=5
INNER_SRC=10.244.9.5
GW_MAC=$(ov_gw_mac 10.244.1.1)
DROP_MATCH='in_port="sluice-tun0" actions=drop'

# echos_wait NETNS MIN: polls (up to 3 s) until NETNS's kernel has counted
# MIN echo requests; prints the last count.
echos_wait() {
    local n i
    for i in $(seq 1 30); do
        n=$(icmp_in_echos "$1")
        [ "$n" -ge "$2" ] && break
        sleep 0.1
    done
    echo "$n"
}
# drops_wait MIN: the same for the tunnel drop flow's n_packets on n1.
drops_wait() {
    local n i
    for i in $(seq 1 30); do
        n=$(ov_flow_packets n1 "$DROP_MATCH")
        [ "${n:-0}" -ge "$1" ] && break
        sleep 0.1
    done
    echo "${n:-0}"
}

# settle: flushes n1's datapath flows.  OVS credits the packets a datapath
# flow has carried to the OpenFlow rules only later, and to the rules the
# flow translates to at that time: packets accepted just before a peer is
# removed would otherwise show up on the drop flow afterwards.
settle() {
    ovs-appctl -t "$LAB_DIR/n1/ovs/ovs-vswitchd.ctl" revalidator/purge \
        >/dev/null
}

# inject_case TUNNEL WHAT EXPECT: sends N packets from the external host;
# EXPECT is "drop" or "accept".
inject_case() {
    local tunnel=$1 what=$2 expect=$3 d0 e0 d1 e1 n_cap
    settle || fail "revalidator/purge on n1"
    d0=$(drops_wait 0)
    e0=$(icmp_in_echos "$LAB-n1-a")
    ov_capture_start spoof "$LAB-n1-a" eth0 "icmp and src host $INNER_SRC" \
        || fatal "tcpdump in n1/a"
    ov_inject "$tunnel" "$LAB-ext" "$N1_IP" "$GW_MAC" "$INNER_SRC" \
        "${OV_IP[n1/a]}" "$N" || fail "$what: sending from $EXT_IP failed"
    if [ "$expect" = drop ]; then
        d1=$(drops_wait $((d0 + N)))
        sleep 0.3
        e1=$(icmp_in_echos "$LAB-n1-a")
        n_cap=$(ov_capture_stop spoof)
        echo "    $what: tunnel drop flow n_packets $d0 -> $d1," \
            "pod echo requests $e0 -> $e1, captured in the pod: $n_cap"
        assert "$what: n1's tunnel drop flow counted the $N packets" \
            test "$d1" -ge $((d0 + N))
        assert_eq "$what: the pod's kernel got no echo request" "$e0" "$e1"
        assert_eq "$what: nothing from $INNER_SRC reached the pod's eth0" \
            0 "$n_cap"
    else
        e1=$(echos_wait "$LAB-n1-a" $((e0 + N)))
        n_cap=$(ov_capture_stop spoof)
        settle || fail "revalidator/purge on n1"
        d1=$(ov_flow_packets n1 "$DROP_MATCH")
        echo "    $what: tunnel drop flow n_packets $d0 -> $d1," \
            "pod echo requests $e0 -> $e1, captured in the pod: $n_cap"
        assert_eq "$what: the pod's kernel got the $N echo requests" \
            $((e0 + N)) "$e1"
        assert_eq "$what: the capture in the pod saw them" "$N" "$n_cap"
        assert_eq "$what: the tunnel drop flow did not count them" "$d0" "$d1"
    fi
}

fake_record() {
    printf '{"name":"ext","ip":"%s","pod_cidr":"10.244.9.0/24",' "$EXT_IP"
    printf '"tunnel_type":"%s","labels":""}' "$1"
}

for TUNNEL in geneve vxlan; do
    echo "--- $TUNNEL"
    lab up 1 "$TUNNEL" >/dev/null || fatal "lab up 1 $TUNNEL"
    ov_pods n1 -- a || fatal "adding a pod"
    # No IPv6 chatter: the pod's counters move only for this test.
    lab pod-exec n1 a sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1
    assert_eq "$TUNNEL: n1's tunnel port is a $TUNNEL port" "$TUNNEL" \
        "$(lab vsctl n1 get interface sluice-tun0 type)"
    assert "$TUNNEL: n1 (alone) accepts tunnel traffic from no address" \
        test "$(flows n1 table=Classifier | grep -c tun_src=)" -eq 0

    inject_case "$TUNNEL" "$TUNNEL from unregistered $EXT_IP" drop

    assert "$TUNNEL: register $EXT_IP as node 'ext' in etcd" \
        lab etcdctl put /sluice/nodes/ext "$(fake_record "$TUNNEL")"
    assert "$TUNNEL: n1 accepts tunnel traffic from $EXT_IP" ov_wait 5000 \
        ov_tun_flows_are n1 "$EXT_IP" 2
    inject_case "$TUNNEL" "$TUNNEL from registered $EXT_IP (control)" accept

    assert "$TUNNEL: remove node 'ext' from etcd" \
        lab etcdctl del /sluice/nodes/ext
    assert "$TUNNEL: n1 no longer accepts tunnel traffic from $EXT_IP" \
        ov_wait 5000 ov_tun_flows_are n1 "$EXT_IP" 0
    inject_case "$TUNNEL" "$TUNNEL from $EXT_IP, unregistered again" drop

    "$e2e_top/deploy/lab/lab.sh" down "$LAB" >/dev/null 2>&1 \
        || fatal "lab down"
done

e2e_finish
