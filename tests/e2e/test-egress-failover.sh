#!/usr/bin/env bash
# Egress failover on 3 nodes: pool p1 on n2 and n3, egress e1 for pod
# web-1 on n1, which streams UDP probes (250/s) to the external host while
# the external host asks both pool nodes' MACs every 20 ms who answers ARP
# for the egress IP.
#
#  1. The holder dies (sluiced and ovs-vswitchd SIGKILLed): the probes
#     resume within 5 s through the other pool node, which `egress show`
#     then names, and which alone answers ARP; no probe ever leaves with
#     another source address.  The gap and the lost probes are printed.
#  2. The dead node comes back (ovs-vswitchd restarted, agent started): it
#     does not take the IP back, nor answer ARP for it; the probes' loss
#     meanwhile is printed.  `egress move e1 --to` it moves the IP there.
#  3. Partitions of the holder, with the lab restored between them:
#     (a) from the other nodes (tunnel packets dropped), not from etcd;
#     (b) from etcd, not from the nodes.  In each case the probes resume,
#     and once the handover settles exactly one node, the one etcd names
#     in owners/e1, answers ARP; who owns the IP, the gap and the overlap
#     window (time during which two nodes answered ARP) are printed; after
#     the heal, no two nodes answer ARP and the cut-off node does not take
#     the IP back.
#  4. A pool node that joins after its egress exists (lab node-add n4)
#     gets a BFD session with the other pool node within 5 s.
#
# Usage: test-egress-failover.sh BUILD_DIR LAB
# shellcheck disable=SC2317 # helpers are called through assert and eg_wait
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/egress-lib.sh
source "$(dirname "$0")/egress-lib.sh"
e2e_init "$@"
eg_init

RATE=250

lab up 3 >/dev/null || fatal "lab up 3"
lab pod-add n1 web-1 >/dev/null || fatal "adding web-1 on n1"
ctl n1 pool create p1 --ranges 198.18.0.100-198.18.0.120 --nodes n2,n3 \
    >/dev/null || fatal "sluicectl pool create p1"
ctl n1 egress create e1 --namespace default --pod 'web*' --pool p1 \
    >/dev/null || fatal "sluicectl egress create e1"
has_holder() { [ -n "$(eg_owner e1)" ]; }
eg_wait 5000 has_holder || fatal "e1 has no holder after 5 s"
EIP=$(eg_field e1 .ip)
H=$(eg_owner e1)
if [ "$H" = n2 ]; then O=n3; else O=n2; fi
echo "    e1: IP $EIP held by $H; the other pool node is $O"

# Both pool nodes' BFD sessions must be up before anything fails.
bfd_up() {
    lab vsctl "$1" --bare --columns=bfd_status find Interface \
        external_ids:sluice-role=bfd | grep -q 'state=up'
}
assert "BFD between n2 and n3 is up" eg_wait 10000 bfd_up n2
eg_prime n1 web-1 "$EG_EXT_IP"
assert "web-1 pings the external host" ping_ok "$LAB-n1-web-1" "$EG_EXT_IP" 2

registered() {
    lab etcdctl get /sluice/nodes/"$1" | grep -q .
}
# only_arp_from NODE: the external host's ARP requests for the egress IP
# are answered by NODE's br-phy MAC and by nobody else.
only_arp_from() {
    [ "$(eg_arp_macs "$EIP" 2 | tr '\n' ' ')" = "$(eg_phy_mac "$1") " ]
}
arp_answerers() {
    local m out=""
    for m in $(eg_arp_macs "$EIP" 2); do
        out+="$(eg_node_of_mac "$m") "
    done
    echo "${out:-nobody}"
}
# report NAME T0 WHAT: prints the stream report of NAME relative to T0.
report() {
    local r
    r=$(eg_stream_report "$1" "$2")
    echo "$r" >"$E2E_TMP/$1.json"
    echo "    $3: $(echo "$r" | jq -r '"sent \(.sent), received \(.unique), lost \(.lost); longest gap \(.gap_ms) ms (\(.lost_in_gap // 0) probes), traffic back \(.resumed_after_t0_ms) ms after the event, silent for the last \(.tail_silence_ms) ms; sources \(.sources | to_entries | map("\(.key) x\(.value)") | join(", "))"')"
}
json() { jq -r "$2" "$E2E_TMP/$1.json"; }
# resumed_within NAME MS: after the event, the probes of stream NAME came
# back within MS ms and kept arriving until the sender stopped (no more
# than 200 ms of silence at the end).
resumed_within() {
    local back tail
    back=$(json "$1" '.resumed_after_t0_ms // empty')
    tail=$(json "$1" '.tail_silence_ms // empty')
    echo "back after ${back:-never} ms; silent for the last ${tail:-?} ms"
    [ -n "$back" ] && [ -n "$tail" ] && [ "$(json "$1" .after_t0)" -gt 0 ] \
        && awk -v b="$back" -v l="$2" -v t="$tail" \
            'BEGIN {exit !(b <= l && t <= 200)}'
}

# --- 1. the holder dies -----------------------------------------------------
echo "# 1. holder $H dies"
eg_arpwatch_start kill "$EIP"
eg_stream_start kill n1 web-1 "$RATE" 5
sleep 1.5
assert "kill $H's sluiced and ovs-vswitchd (SIGKILL)" eg_kill_node "$H"
t_kill=$EG_KILLED_MS
eg_stream_wait kill
eg_arpwatch_stop kill
report kill "$t_kill" "probes web-1 -> external host around the kill"
ARP=$(eg_arpwatch_report kill "$t_kill")
echo "    ARP: $(eg_arp_summary "$ARP")"
assert "the probes resumed within 5 s of the kill and kept flowing" \
    resumed_within kill 5000
assert_eq "every probe arrived from the egress IP" "$EIP" \
    "$(json kill '.sources | keys | join(" ")')"
assert_eq "egress show e1 names $O as the new holder" "$O" \
    "$(eg_field e1 .node)"
assert_eq "etcd owners/e1 names $O" "$O" "$(eg_owner e1)"
assert "only $O answers ARP for $EIP" eg_wait 2000 only_arp_from "$O"

# --- 2. the dead node comes back ----------------------------------------------
echo "# 2. $H comes back"
eg_arpwatch_start back "$EIP"
eg_stream_start back n1 web-1 "$RATE" 5
sleep 1
t_back=$(now_ms)
assert "restart $H's ovs-vswitchd and agent" eg_revive_node "$H"
echo "    $H's agent ready $(($(now_ms) - t_back)) ms after the restart began"
eg_stream_wait back
eg_arpwatch_stop back
report back "$t_back" "probes while $H comes back"
ARP=$(eg_arpwatch_report back "$t_back")
echo "    ARP: $(eg_arp_summary "$ARP")"
echo "    fail-back loss: $(json back .lost) probes (target 0)"
assert "$H is registered again" eg_wait 5000 registered "$H"
assert_eq "$H did not take e1 back (owners/e1)" "$O" "$(eg_owner e1)"
assert_eq "egress show e1 still names $O" "$O" "$(eg_field e1 .node)"
echo "    ARP answered by: $(arp_answerers)"
assert "only $O answers ARP for $EIP after $H is back" only_arp_from "$O"
assert_eq "every probe arrived from the egress IP while $H came back" \
    "$EIP" "$(json back '.sources | keys | join(" ")')"

echo "# 2b. egress move e1 --to $H"
eg_stream_start move n1 web-1 "$RATE" 4
sleep 1
t_move=$(now_ms)
assert "sluicectl egress move e1 --to $H" ctl n1 egress move e1 --to "$H"
assert "owners/e1 names $H within 5 s" eg_wait 5000 eg_owner_is e1 "$H"
echo "    e1 moved to $H in $(($(now_ms) - t_move)) ms"
eg_stream_wait move
report move "$t_move" "probes during the move"
assert_eq "egress show e1 names $H" "$H" "$(eg_field e1 .node)"
assert "only $H answers ARP for $EIP after the move" \
    eg_wait 2000 only_arp_from "$H"
assert "the probes flow after the move" resumed_within move 5000
assert "moves/e1 is cleared" eg_wait 3000 sh -c \
    "! $e2e_top/deploy/lab/lab.sh etcdctl $LAB get /sluice/moves/e1 | grep -q ."

# --- 3. partitions ----------------------------------------------------------
# partition NAME SECONDS CUT HEAL: the holder X is cut off with "CUT X"
# while probes stream and ARP is watched; waits up to SECONDS for owners/e1
# to change and for the handover to settle, reports, heals with "HEAL X",
# waits for X to be registered, and watches ARP 4 s more.
changed() { ! eg_owner_is e1 "$1"; }
partition() {
    local name=$1 seconds=$2 cut=$3 heal=$4 x t_cut t_settled t_heal owner
    x=$(eg_owner e1)
    eg_arpwatch_start "$name" "$EIP"
    eg_stream_start "$name" n1 web-1 "$RATE" 60
    sleep 1
    t_cut=$(now_ms)
    assert "cut holder $x off ($cut)" "$cut" "$x"
    on_cleanup "$heal $x"
    if eg_wait $((seconds * 1000)) changed "$x"; then
        echo "    owners/e1 changed $(($(now_ms) - t_cut)) ms after the cut"
    else
        echo "    owners/e1 still names $x $seconds s after the cut"
    fi
    owner=$(eg_owner e1)
    echo "    owner of $EIP (etcd owners/e1): ${owner:-none}"
    if [ -n "$owner" ] && eg_wait 5000 only_arp_from "$owner"; then
        pass "once settled, only the owner $owner answers ARP for $EIP"
    else
        fail "once settled, only the owner ${owner:-none} answers ARP for" \
            "$EIP (answered by: $(arp_answerers))"
    fi
    t_settled=$(now_ms)
    sleep 0.5
    eg_stream_stop "$name"
    report "$name" "$t_cut" "probes around the cut"
    ARP=$(eg_arpwatch_report "$name" "$t_cut" -1000 $((t_settled - t_cut)))
    echo "    ARP until settled: $(eg_arp_summary "$ARP")"
    echo "    overlap window (two nodes answering ARP) during the handover:" \
        "$(echo "$ARP" | jq -r .overlap_ms) ms"
    assert "the probes resumed within $seconds s of the cut and kept flowing" \
        resumed_within "$name" $((seconds * 1000))
    assert "the new holder $owner is not the cut-off $x" \
        test -n "$owner" -a "$owner" != "$x"

    t_heal=$(now_ms)
    assert "heal $x ($heal)" "$heal" "$x"
    assert "$x is registered in etcd (within 15 s of the heal)" \
        eg_wait 15000 registered "$x"
    sleep 4
    eg_arpwatch_stop "$name"
    ARP=$(eg_arpwatch_report "$name" "$t_heal" 0)
    echo "    ARP after the heal: $(eg_arp_summary "$ARP")"
    assert_eq "after the heal, no ARP request for $EIP is answered by two nodes" \
        0 "$(echo "$ARP" | jq -r .requests_answered_by_two)"
    assert_eq "$x did not take e1 back once healed" "$owner" "$(eg_owner e1)"
    assert "only $owner answers ARP for $EIP after the heal" \
        only_arp_from "$owner"
}

echo "# 3a. holder cut off from the other nodes, not from etcd"
partition parta 5 eg_cut_tunnels eg_heal_tunnels
assert "BFD between n2 and n3 is up again" eg_wait 10000 bfd_up n2

echo "# 3b. holder cut off from etcd, not from the nodes"
partition partb 20 eg_cut_etcd eg_heal_etcd

# --- 4. a pool node that joins later ---------------------------------------
echo "# 4. pool node n4 joins after its egress exists"
# bfd_state NODE PEER_IP: the state of NODE's BFD session toward PEER_IP.
bfd_state() {
    local port
    # shellcheck disable=SC2086 # the address split into its four bytes
    port=$(printf 'sbfd-%02x%02x%02x%02x' ${2//./ })
    lab vsctl "$1" get Interface "$port" bfd_status:state 2>/dev/null \
        | tr -d '"'
}
bfd_pair_up() {
    [ "$(bfd_state n3 198.18.0.14)" = up ] \
        && [ "$(bfd_state n4 198.18.0.13)" = up ]
}
ctl n1 pool create p2 --ranges 198.18.0.130-198.18.0.135 --nodes n3,n4 \
    >/dev/null || fail "sluicectl pool create p2 (n3, n4)"
ctl n1 egress create e2 --namespace default --pod 'api*' --pool p2 \
    >/dev/null || fail "sluicectl egress create e2"
assert "n3 holds e2 (n4 does not exist yet)" eg_wait 5000 eg_owner_is e2 n3
assert "lab node-add n4" lab node-add n4
if eg_wait 5000 bfd_pair_up; then
    pass "BFD between n3 and n4 is up $EG_WAITED ms after n4 joined"
else
    fail "BFD between n3 and n4 is up within 5 s of n4 joining (n3 toward" \
        "n4: '$(bfd_state n3 198.18.0.14)', n4 toward n3:" \
        "'$(bfd_state n4 198.18.0.13)'): without it n4 cannot take e2" \
        "over when n3 dies"
fi

e2e_finish
