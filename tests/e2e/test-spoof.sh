#!/usr/bin/env bash
# Pods cannot spoof: a pod sending with another pod's IP, with another
# pod's MAC, or ARPing with another pod's IP is dropped (SpoofGuard's
# table-miss counter grows by at least what reached the switch port) and
# nobody receives it; the legitimate pods keep working.
#
# Usage: test-spoof.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

GW=10.244.1.1
lab up 1 >/dev/null || fatal "lab up"
for p in victim attacker target; do
    lab pod-add n1 "$p" >"$E2E_TMP/$p.json" || fatal "ADD $p"
    # No IPv6 chatter: SpoofGuard's drop counter then moves only for what
    # the attacker does.
    pod_exec n1 "$p" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1
done
field() { jq -r "$2" "$E2E_TMP/$1.json"; }
VIP=$(field victim '.ips[0].address' | cut -d/ -f1)
VMAC=$(field victim '.interfaces[1].mac')
AIP=$(field attacker '.ips[0].address' | cut -d/ -f1)
AMAC=$(field attacker '.interfaces[1].mac')
AVETH=$(field attacker '.interfaces[0].name')
TIP=$(field target '.ips[0].address' | cut -d/ -f1)
TMAC=$(field target '.interfaces[1].mac')
# shellcheck disable=SC2086 # split the address into its four bytes
VIP_HEX=0x$(printf '%02x' ${VIP//./ })
NS_V=$LAB-n1-victim
NS_A=$LAB-n1-attacker
NS_T=$LAB-n1-target
NS_N=$LAB-n1

# Everyone talks legitimately first, so that neighbours are resolved the
# ordinary way (the attacker then uses what it learned).
assert "attacker pings target (control)" ping_ok "$NS_A" "$TIP"
assert "attacker pings the gateway (control)" ping_ok "$NS_A" "$GW"
assert "victim pings target (control)" ping_ok "$NS_V" "$TIP"
assert "node pings victim (control)" ping_ok "$NS_N" "$VIP"

# spoof_case NAME COUNT FILTER CMD...: runs the attacker's CMD, which sends
# COUNT spoofed frames matching the tcpdump FILTER and must fail (it gets
# no answer).  Checks that at least COUNT such frames reached the
# attacker's switch port, that SpoofGuard's table miss dropped at least as
# many, that the target pod saw nothing from the victim's addresses, that
# neither the target's nor the node's kernel counted an echo request, and
# that the victim got no reply meant for its address.
spoof_case() {
    local name=$1 count=$2 filter=$3 drops0 drops1 t0 t1 n0 n1
    local sent got_t got_v
    shift 3
    drops0=$(spoof_drops n1)
    t0=$(icmp_in_echos "$NS_T")
    n0=$(icmp_in_echos "$NS_N")
    CAPTURE_IF=$AVETH capture_start port "$NS_N" "$filter" || return 1
    capture_start target "$NS_T" "src host $VIP or ether src $VMAC" || return 1
    capture_start victim "$NS_V" "icmp or arp" || return 1
    expect_fail "$name: the spoofer gets no answer" "$@"
    cp "$E2E_TMP/assert.out" "$E2E_TMP/spoofer.out"
    sleep 0.2
    sent=$(capture_stop port)
    got_t=$(capture_stop target)
    got_v=$(capture_stop victim)
    if [ "$sent" -ge "$count" ]; then
        pass "$name: $sent spoofed frames reached the switch port"
    else
        fail "$name: only $sent of $count spoofed frames reached the switch port"
        e2e_show "$E2E_TMP/spoofer.out"
    fi
    [ "$sent" -ge "$count" ] || sent=$count
    drops1=$(spoof_drops_wait n1 $((drops0 + sent)))
    t1=$(icmp_in_echos "$NS_T")
    n1=$(icmp_in_echos "$NS_N")
    if [ $((drops1 - drops0)) -ge "$sent" ]; then
        pass "$name: SpoofGuard's table miss dropped them ($((drops1 - drops0)) packets)"
    else
        fail "$name: SpoofGuard's table miss dropped $((drops1 - drops0)) packets, $sent were sent"
    fi
    if [ "$got_t" -eq 0 ]; then
        pass "$name: the target pod received nothing spoofed"
    else
        fail "$name: the target pod received $got_t spoofed packets"
        capture_show target
    fi
    assert_eq "$name: the target pod's kernel got no echo request" "$t0" "$t1"
    assert_eq "$name: the node's kernel got no echo request" "$n0" "$n1"
    if [ "$got_v" -eq 0 ]; then
        pass "$name: the victim received no reply to the spoofed packets"
    else
        fail "$name: the victim received $got_v packets caused by the spoofer"
        capture_show victim
    fi
}

spoof_ping() {
    pod_exec n1 attacker ping -n -c 4 -i 0.1 -W 1 "$@"
}
spoof_arping() {
    pod_exec n1 attacker busybox arping -c 2 -w 2 -I eth0 "$@"
}
ARP_FROM_VIP="arp and arp[14:4] = $VIP_HEX"

# --- IP spoofing ---------------------------------------------------------
pod_exec n1 attacker ip addr add "$VIP/32" dev eth0
spoof_case "IP spoof to a pod" 4 "icmp and src host $VIP" \
    spoof_ping -I "$VIP" "$TIP"
spoof_case "IP spoof to the host" 4 "icmp and src host $VIP" \
    spoof_ping -I "$VIP" "$GW"

# The node's end of the attacker's veth is a kernel interface whose MAC the
# pod sees in the frames that end sends (IPv6 MLD/RS at link-up).  Frames
# sent straight to that MAC must not get into the node's stack, which
# would route them to the target, past SpoofGuard.
hostmac=$(node_exec n1 cat "/sys/class/net/$AVETH/address")
pod_exec n1 attacker ip route add "$TIP/32" via "$GW" src "$VIP"
pod_exec n1 attacker ip neigh replace "$GW" lladdr "$hostmac" dev eth0
spoof_case "IP spoof to a pod sent to the host end of the veth ($hostmac)" \
    4 "icmp and src host $VIP" spoof_ping -I "$VIP" "$TIP"
spoof_case "IP spoof to the host sent to the host end of the veth" \
    4 "icmp and src host $VIP" spoof_ping -I "$VIP" "$GW"
pod_exec n1 attacker ip route del "$TIP/32"
pod_exec n1 attacker ip neigh del "$GW" dev eth0

# --- ARP spoofing --------------------------------------------------------
node_neigh() {
    node_exec n1 ip neigh show "$VIP" dev sluice-gw0 | awk '{print $3}'
}
neigh0=$(node_neigh)
spoof_case "ARP with the victim's IP for the gateway" 2 "$ARP_FROM_VIP" \
    spoof_arping -s "$VIP" "$GW"
spoof_case "ARP with the victim's IP for a pod" 2 "$ARP_FROM_VIP" \
    spoof_arping -s "$VIP" "$TIP"
spoof_case "gratuitous ARP claiming the victim's IP" 1 "$ARP_FROM_VIP" \
    sh -c "ip netns exec $NS_A busybox arping -U -c 2 -w 2 -I eth0 \
        -s $VIP $VIP | grep 'Received [1-9]'"
assert_eq "the node's neighbour entry for the victim is unchanged" \
    "$neigh0" "$(node_neigh)"
assert "control: ARP with the attacker's own IP gets the gateway's answer" \
    pod_exec n1 attacker busybox arping -f -c 3 -w 2 -I eth0 -s "$AIP" "$GW"
pod_exec n1 attacker ip addr del "$VIP/32" dev eth0

# --- MAC spoofing --------------------------------------------------------
assert "attacker takes the victim's MAC $VMAC" \
    pod_exec n1 attacker ip link set eth0 address "$VMAC"
# (Changing the MAC flushed the neighbours; the attacker knows the target.)
pod_exec n1 attacker ip neigh replace "$TIP" lladdr "$TMAC" dev eth0
spoof_case "MAC spoof (own IP) to a pod" 4 "icmp and ether src $VMAC" \
    spoof_ping "$TIP"
pod_exec n1 attacker ip addr add "$VIP/32" dev eth0
spoof_case "MAC and IP spoof to a pod" 4 \
    "icmp and ether src $VMAC and src host $VIP" spoof_ping -I "$VIP" "$TIP"
spoof_case "ARP from the victim's MAC and IP" 2 \
    "$ARP_FROM_VIP and ether src $VMAC" spoof_arping -s "$VIP" "$GW"
pod_exec n1 attacker ip addr del "$VIP/32" dev eth0

# --- the legitimate pods are unaffected ----------------------------------
assert "victim still pings target" ping_ok "$NS_V" "$TIP"
assert "victim still pings the gateway" ping_ok "$NS_V" "$GW"
assert "node still pings victim" ping_ok "$NS_N" "$VIP"
assert "target pings victim" ping_ok "$NS_T" "$VIP"
pod_exec n1 attacker ip link set eth0 address "$AMAC"
assert "attacker with its own MAC back works again" \
    ping_ok "$NS_A" "$TIP"

e2e_finish
