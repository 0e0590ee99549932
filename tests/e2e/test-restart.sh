#!/usr/bin/env bash
# Restarts: (a) sluiced killed with SIGKILL and started again during a ping
# flood between two pods loses no packet, installs a new flow round and
# deletes the old one, and keeps serving the pods it had; (b) after an
# ovs-vswitchd restart traffic comes back (the time it takes is printed,
# not asserted), every flow is back and flow-restore-wait is cleared.
#
# Usage: test-restart.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

GW=10.244.1.1
FLOOD_COUNT=3000     # at 2 ms intervals: 6 s
lab up 1 >/dev/null || fatal "lab up"
for p in a b; do
    lab pod-add n1 "$p" >"$E2E_TMP/$p.json" || fatal "ADD $p"
done
AIP=$(jq -r '.ips[0].address' "$E2E_TMP/a.json" | cut -d/ -f1)
BIP=$(jq -r '.ips[0].address' "$E2E_TMP/b.json" | cut -d/ -f1)
BVETH=$(jq -r '.interfaces[0].name' "$E2E_TMP/b.json")

round() {
    lab vsctl n1 get bridge br-int external_ids:sluice-round | tr -d '"'
}
# cookie_rounds: the distinct rounds (cookie bits 63..56) of br-int's flows.
cookie_rounds() {
    local c
    flows n1 | grep -o 'cookie=0x[0-9a-f]*' | cut -d= -f2 | sort -u \
        | while read -r c; do echo $((c >> 56)); done | sort -u
}
n_flows() {
    flows n1 | grep -c 'cookie='
}

assert "a pings b before the restarts" ping_ok "$LAB-n1-a" "$BIP"

# --- (a) agent restart ---------------------------------------------------
round1=$(round)
assert_eq "every flow carries the bridge's round $round1 before the restart" \
    "$round1" "$(cookie_rounds | tr '\n' ' ' | sed 's/ $//')"
flows1=$(n_flows)

bg_start flood sh -c "ip netns exec $LAB-n1-a ping -n -q -i 0.002 -W 1 \
    -c $FLOOD_COUNT $BIP >$E2E_TMP/flood.out 2>&1"
sleep 1
assert "SIGKILL sluiced" lab agent-kill n1
sleep 0.3
assert "start sluiced again (until it answers STATUS)" lab agent-start n1
if bg_running flood; then
    pass "the flood was still running when the new agent was ready"
else
    fail "the flood ended before the new agent was ready: make it longer"
fi
bg_wait flood
stats=$(grep 'packets transmitted' "$E2E_TMP/flood.out")
echo "    flood during the agent restart: $stats"
sent=$(echo "$stats" | awk '{print $1}')
got=$(echo "$stats" | awk '{print $4}')
assert_eq "flood: all $FLOOD_COUNT packets sent" "$FLOOD_COUNT" "$sent"
assert_eq "flood: no packet lost across the agent restart" "$sent" "$got"

# The new round's flows are in and the stale round's are gone (the new
# agent deletes them once its own are installed: poll briefly).
round2=$(round)
assert_eq "the bridge's round went from $round1 to $((round1 + 1))" \
    "$((round1 + 1))" "$round2"
for i in $(seq 1 50); do
    [ "$(cookie_rounds | tr '\n' ' ')" = "$round2 " ] && break
    sleep 0.1
done
assert_eq "every flow now carries round $round2 (no stale-round flow)" \
    "$round2" "$(cookie_rounds | tr '\n' ' ' | sed 's/ $//')"
assert_eq "the same number of flows as before ($flows1)" "$flows1" \
    "$(n_flows)"

assert "a pings b after the agent restart" ping_ok "$LAB-n1-a" "$BIP"
assert "b pings the gateway after the agent restart" \
    ping_ok "$LAB-n1-b" "$GW"
assert "CHECK of a pod added before the restart succeeds" lab cni n1 a CHECK
assert "a new pod can be added after the restart" lab pod-add n1 c
CIP=$(lab pod-ip n1 c)
assert "the new pod pings a pod from before the restart" \
    ping_ok "$LAB-n1-c" "$AIP"
assert "a pod from before the restart pings the new pod" \
    ping_ok "$LAB-n1-b" "$CIP"

# --- (b) ovs-vswitchd restart -------------------------------------------
flows2=$(n_flows)
t0=$(now_ms)
assert "restart ovs-vswitchd" lab ovs-restart n1
t1=$(now_ms)
back=""
while [ $(($(now_ms) - t0)) -lt 20000 ]; do
    if ip netns exec "$LAB-n1-a" ping -n -c 1 -W 0.1 "$BIP" >/dev/null 2>&1
    then
        back=$(now_ms)
        break
    fi
done
if [ -n "$back" ]; then
    echo "ovs-vswitchd restart: traffic back after $((back - t0)) ms" \
        "(the restart command took $((t1 - t0)) ms)"
    pass "traffic between two pods came back within 20 s of the restart"
else
    fail "no traffic between two pods within 20 s of the vswitchd restart"
fi

frw=""
for _ in $(seq 1 100); do
    frw=$(lab vsctl n1 get Open_vSwitch . other_config)
    echo "$frw" | grep -q flow-restore-wait || break
    sleep 0.1
done
expect_fail "flow-restore-wait is cleared again (other_config: $frw)" \
    grep -q flow-restore-wait <<<"$frw"
assert_eq "all $flows2 flows are back" "$flows2" "$(n_flows)"
assert "a pings b after the vswitchd restart" ping_ok "$LAB-n1-a" "$BIP"
assert "c pings the gateway after the vswitchd restart" \
    ping_ok "$LAB-n1-c" "$GW"
assert "the node pings a after the vswitchd restart" \
    ping_ok "$LAB-n1" "$AIP"
assert "a new pod can be added after the vswitchd restart" \
    lab pod-add n1 d
assert "the new pod pings a" ping_ok "$LAB-n1-d" "$AIP"
assert "DEL of a pod from before both restarts succeeds" lab pod-del n1 b
expect_fail "its port is gone" grep -qx "$BVETH" <(ports n1)
expect_fail "its address is released" grep -qx "$BIP" <(ipam_ips n1)

e2e_finish
