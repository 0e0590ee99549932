#!/usr/bin/env bash
# Egress datapath on 3 nodes, configured with sluicectl: pool p1
# (198.18.0.100-198.18.0.120, nodes n2 and n3) and egress e1 (pods web* in
# namespace default).  Pods web-1 and db-1 on n1 exist before e1, web-2 on
# n2 is added after it.  Checked with tcpdump on the external host
# (198.18.0.200): web-1's and web-2's pings arrive from e1's IP (the one
# `egress show` gives), db-1's (unselected) from n1's address; TCP through
# the egress delivers 1 MiB intact; only the holder (its br-phy MAC)
# answers ARP for the egress IP; `egress list` shows IP, holder, since and
# both pods.  A second egress e2 (namespace other, --exempt
# 198.18.0.200/32) sends its pod's traffic to 198.18.0.201 from e2's IP but
# to the exempt 198.18.0.200 from the node's address.  Deleting e1 gives
# web-1 and web-2 their nodes' addresses back and nobody answers ARP for
# the old egress IP any more.  Restarting the agents of n1 and of the
# holder keeps web-1 on the egress IP.
#
# Usage: test-egress-datapath.sh BUILD_DIR LAB
# shellcheck disable=SC2317 # helpers are called through assert and eg_wait
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/egress-lib.sh
source "$(dirname "$0")/egress-lib.sh"
e2e_init "$@"
eg_init

EXT=198.18.0.200
EXT2=198.18.0.201
N1_IP=198.18.0.11
N2_IP=198.18.0.12

lab up 3 >/dev/null || fatal "lab up 3"
lab pod-add n1 web-1 >/dev/null || fatal "adding web-1 on n1"
lab pod-add n1 db-1 >/dev/null || fatal "adding db-1 on n1"
# A second address on the external host: a destination e2 does not exempt.
lab ext-exec ip addr add "$EXT2/24" dev eth0 || fatal "adding $EXT2"

# --- configuration ---------------------------------------------------------
assert "sluicectl pool create p1 (198.18.0.100-198.18.0.120 on n2,n3)" \
    ctl n1 pool create p1 --ranges 198.18.0.100-198.18.0.120 --nodes n2,n3
assert "sluicectl egress create e1 (default/web*, pool p1)" \
    ctl n1 egress create e1 --namespace default --pod 'web*' --pool p1
lab pod-add n2 web-2 >/dev/null || fatal "adding web-2 on n2"

has_holder() { [ -n "$(eg_field e1 '.node // empty')" ]; }
assert "e1 gets a holder within 5 s" eg_wait 5000 has_holder
EIP=$(eg_field e1 .ip)
HOLDER=$(eg_field e1 .node)
echo "    e1: IP $EIP, held by $HOLDER (egress show e1 -o json)"
case $EIP in
198.18.0.1[0-1][0-9] | 198.18.0.120) pass "e1's IP $EIP is in p1's range" ;;
*) fatal "e1's IP '$EIP' is not in p1's range" ;;
esac
case $HOLDER in
n2 | n3) pass "e1's holder $HOLDER is a node of p1" ;;
*) fatal "e1's holder '$HOLDER' is not n2 or n3" ;;
esac
assert_eq "etcd owners/e1 names the same holder" "$HOLDER" "$(eg_owner e1)"

# --- sources seen outside --------------------------------------------------
for p in "n1 web-1" "n2 web-2" "n1 db-1"; do
    # shellcheck disable=SC2086 # node and pod
    eg_prime $p "$EXT"
done
assert "web-1 (n1) pings $EXT through e1" eg_ping_src w1 n1 web-1 "$EXT"
assert_eq "web-1's pings arrive from the egress IP" "$EIP" "$EG_SRC"
assert "web-2 (n2) pings $EXT through e1" eg_ping_src w2 n2 web-2 "$EXT"
assert_eq "web-2's pings arrive from the egress IP" "$EIP" "$EG_SRC"
assert "db-1 (n1, not selected) pings $EXT" eg_ping_src d1 n1 db-1 "$EXT"
assert_eq "db-1's pings arrive from n1's address (masquerade)" \
    "$N1_IP" "$EG_SRC"

eg_capture_start tcp "$LAB-ext" \
    "tcp dst port 5001 and tcp[tcpflags] & tcp-syn != 0" \
    || fatal "tcpdump on the external host"
assert "1 MiB over TCP from web-1 to a listener on $EXT arrives intact" \
    tcp_transfer "$LAB-n1-web-1" "$LAB-ext" "$EXT"
capture_stop tcp >/dev/null
syn_src=$(tcpdump -n -r "$E2E_TMP/cap.tcp.pcap" 2>/dev/null \
    | awk '{sub(/\.[0-9]+$/, "", $3); print $3}' | sort -u | tr '\n' ' ')
assert_eq "the TCP connection comes from the egress IP" "$EIP " "$syn_src"

# --- ARP -------------------------------------------------------------------
holder_mac=$(eg_phy_mac "$HOLDER")
bb=$(eg_busybox_arping "$EIP" | tr '\n' ' ')
echo "    busybox arping $EIP: answered by ${bb:-nobody}(holder $HOLDER's" \
    "br-phy is $holder_mac)"
assert_eq "arping $EIP: answered by exactly the holder's br-phy MAC" \
    "$holder_mac " "$bb"
uni=$(eg_arp_macs "$EIP" | tr '\n' ' ')
assert_eq "ARP requests for $EIP sent to every node's MAC: only $HOLDER answers" \
    "$holder_mac " "$uni"

# --- sluicectl egress list -------------------------------------------------
pods_listed() {
    [ "$(eg_field e1 '.pods | sort | join(",")')" = "default/web-1,default/web-2" ]
}
if eg_wait 5000 pods_listed; then
    pass "egress show e1 lists pods default/web-1 and default/web-2"
else
    fail "egress show e1 lists pods default/web-1 and default/web-2 (got" \
        "$(eg_field e1 '.pods | join(",")'))"
fi
ctl n1 egress list >"$E2E_TMP/list" 2>&1
sed 's/^/    | /' "$E2E_TMP/list"
since=$(eg_field e1 '.since // empty')
assert "egress show e1 has a 'since' timestamp ($since)" \
    test -n "$since"
line=$(awk '$1 == "e1"' "$E2E_TMP/list")
assert "egress list: e1's line has IP $EIP, node $HOLDER, since and both pods" \
    sh -c "echo '$line' | grep -w -- '$EIP' | grep -w -- '$HOLDER' \
        | grep -F -- '$since' | grep -F default/web-1 | grep -qF default/web-2"

# --- agent restarts --------------------------------------------------------
# w1_via_egress: one ping from web-1 arrives from the egress IP.
w1_via_egress() {
    eg_ping_src w1r n1 web-1 "$EXT" 1 && [ "$EG_SRC" = "$EIP" ]
}
for node in n1 "$HOLDER"; do
    assert "restart $node's agent (SIGKILL, start)" \
        sh -c "$e2e_top/deploy/lab/lab.sh agent-kill $LAB $node \
            && $e2e_top/deploy/lab/lab.sh agent-start $LAB $node"
    if eg_wait 5000 w1_via_egress; then
        pass "web-1's pings arrive from the egress IP after $node's agent restart"
    else
        fail "web-1's pings arrive from the egress IP after $node's agent" \
            "restart (got: ${EG_SRC:-nothing}; n1's steering:" \
            "$(flows n1 table=EgressMark | grep -o 'nw_src=[^ ]* actions=[^,]*' \
            | tr '\n' ' '))"
    fi
done
assert_eq "$HOLDER still holds e1" "$HOLDER" "$(eg_owner e1)"
only_holder_arp() {
    [ "$(eg_arp_macs "$EIP" 2 | tr '\n' ' ')" = "$holder_mac " ]
}
assert "only $HOLDER answers ARP for $EIP after the restarts" \
    eg_wait 2000 only_holder_arp

# --- exemption -------------------------------------------------------------
lab pod-add n1 x-1 other >/dev/null || fatal "adding other/x-1 on n1"
assert "sluicectl egress create e2 (other/*, pool p1, --exempt $EXT/32)" \
    ctl n1 egress create e2 --namespace other --pool p1 --exempt "$EXT/32"
e2_held() { [ -n "$(eg_field e2 '.node // empty')" ]; }
assert "e2 gets a holder within 5 s" eg_wait 5000 e2_held
EIP2=$(eg_field e2 .ip)
echo "    e2: IP $EIP2, held by $(eg_field e2 .node)"
assert "e2's IP differs from e1's" test "$EIP2" != "$EIP"
eg_prime n1 x-1 "$EXT2"
eg_prime n1 x-1 "$EXT"
assert "other/x-1 (n1) pings $EXT2 through e2" eg_ping_src x2 n1 x-1 "$EXT2"
assert_eq "x-1's pings to $EXT2 arrive from e2's IP" "$EIP2" "$EG_SRC"
assert "other/x-1 pings the exempt $EXT" eg_ping_src xe n1 x-1 "$EXT"
assert_eq "x-1's pings to the exempt $EXT arrive from n1's address" \
    "$N1_IP" "$EG_SRC"
assert "web-1 still pings $EXT" eg_ping_src w1b n1 web-1 "$EXT"
assert_eq "web-1 (e1, no exemption) still leaves with e1's IP" "$EIP" "$EG_SRC"

# --- deleting e1 -----------------------------------------------------------
assert "sluicectl egress delete e1" ctl n1 egress delete e1
gone() { ! lab etcdctl get --prefix --keys-only /sluice/ | grep -Eq "/e1$|/$EIP$"; }
assert "e1's keys (egresses/, owners/, egress-ips/$EIP) leave etcd" \
    eg_wait 5000 gone
w1_node_ip() {
    eg_ping_src w1c n1 web-1 "$EXT" 1 && [ "$EG_SRC" = "$N1_IP" ]
}
if eg_wait 5000 w1_node_ip; then
    pass "web-1's pings arrive from n1's address after e1 is deleted ($EG_WAITED ms)"
else
    fail "web-1's pings arrive from n1's address after e1 is deleted (got ${EG_SRC:-nothing})"
fi
assert "web-2 pings $EXT" eg_ping_src w2c n2 web-2 "$EXT"
assert_eq "web-2's pings arrive from n2's address after e1 is deleted" \
    "$N2_IP" "$EG_SRC"
no_arp() { [ -z "$(eg_arp_macs "$EIP" 2)" ]; }
assert "no node answers ARP for $EIP any more" eg_wait 3000 no_arp
assert_eq "egress list no longer shows e1" "" \
    "$(ctl n1 egress list | awk '$1 == "e1"')"

e2e_finish
