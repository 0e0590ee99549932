#!/usr/bin/env bash
# An agent restart on one node while other nodes talk to it: during a ping
# flood (every 2 ms) from n1/a to n2/a and a slow 5 MiB TCP transfer from
# n1/b to n2/b, n2's agent is killed (SIGKILL) and started again.  No ping
# is lost and the transfer arrives intact; neither n1's flows for n2 nor
# n2's flows for n1 are ever deleted (ovs-ofctl monitor: the restarted
# agent must not drop its peers' flows before it knows its peers again),
# and n2 stays registered once its old lease has expired.
#
# Usage: test-ov-restart.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/overlay-lib.sh
source "$(dirname "$0")/overlay-lib.sh"
e2e_init "$@"

N2_IP=198.18.0.12
FLOOD_COUNT=3500    # at 2 ms intervals: 7 s or more
TCP_BYTES=5242880   # 80 chunks of 64 KiB, 0.1 s apart: 8 s or more

lab up 2 >/dev/null || fatal "lab up 2"
ov_pods n1 n2 -- a b || fatal "adding pods"
ov_prime "$LAB-n1-a" "${OV_IP[n2/a]}"
ov_prime "$LAB-n2-a" "${OV_IP[n1/a]}"
assert "n1/a pings n2/a" ov_ping "$LAB-n1-a" "${OV_IP[n2/a]}" 3
assert "n1/b pings n2/b" ov_ping "$LAB-n1-b" "${OV_IP[n2/b]}" 3
assert "n1 has its 2 flows for n2" ov_tun_flows_are n1 "$N2_IP" 2
lease() {
    lab etcdctl get /sluice/nodes/n2 -w fields | sed -n 's/^"Lease" : //p'
}
lease_before=$(lease)

# Flow changes on both nodes: a peer's flows must never be deleted (a flow
# replaced by an identical one of the new round is not a deletion).
ov_monitor_start n1 n1 || fatal "ovs-ofctl monitor on n1"
ov_monitor_start n2 n2 || fatal "ovs-ofctl monitor on n2"
bg_start flood sh -c "ip netns exec $LAB-n1-a ping -n -q -i 0.002 -W 1 \
    -c $FLOOD_COUNT ${OV_IP[n2/a]} >$E2E_TMP/flood.out 2>&1"
slow_tcp() {
    ov_tcp slow "$LAB-n1-b" "$LAB-n2-b" "${OV_IP[n2/b]}" "$TCP_BYTES" 0.1 \
        >"$E2E_TMP/tcp.result" 2>&1
}
bg_start tcp slow_tcp
sleep 1.5
t0=$(now_ms)
assert "SIGKILL n2's agent" lab agent-kill n2
sleep 0.3
assert "start n2's agent again (until it answers STATUS)" lab agent-start n2
echo "    n2's agent was back $(($(now_ms) - t0)) ms after the kill"
if bg_running flood && bg_running tcp; then
    pass "the flood and the transfer were still running when n2's agent was ready"
else
    fail "the flood or the transfer ended before n2's agent was ready: make them longer"
fi
if bg_wait flood; then :; fi
stats=$(grep 'packets transmitted' "$E2E_TMP/flood.out")
echo "    flood n1/a -> n2/a: $stats"
sent=$(echo "$stats" | awk '{print $1}')
got=$(echo "$stats" | awk '{print $4}')
assert_eq "flood: all $FLOOD_COUNT pings sent" "$FLOOD_COUNT" "$sent"
assert_eq "flood: no ping lost across n2's agent restart" "$sent" "$got"
bg_wait tcp
status=$?
sed 's/^/    /' "$E2E_TMP/tcp.result"
assert_eq "5 MiB over TCP (n1/b -> n2/b) arrived intact across the restart" \
    0 "$status"

assert "n1 has its 2 flows for n2" ov_tun_flows_are n1 "$N2_IP" 2
assert "n2 has its 2 flows for n1" ov_tun_flows_are n2 198.18.0.11 2
assert "n2 is registered" ov_etcd_has_nodes n1 n2
sleep 0.5
ov_monitor_deleted n1 "tun_src=$N2_IP|nw_dst=10\.244\.2\.0/24" \
    >"$E2E_TMP/del.n1"
ov_monitor_deleted n2 "tun_src=198\.18\.0\.11|nw_dst=10\.244\.1\.0/24" \
    >"$E2E_TMP/del.n2"
assert "n1 never deleted its flows for n2 (ovs-ofctl monitor)" \
    sh -c "cat $E2E_TMP/del.n1; test ! -s $E2E_TMP/del.n1"
assert "n2's restarted agent never deleted its flows for n1 (ovs-ofctl monitor)" \
    sh -c "cat $E2E_TMP/del.n2; test ! -s $E2E_TMP/del.n2"
lease_after=$(lease)
echo "    n2's record: lease $lease_before before the kill, $lease_after now"

# The killed agent's lease expires 10 s after its last keep-alive: n2's
# record and n1's flows for n2 must outlive it.
while [ $(($(now_ms) - t0)) -lt 12000 ]; do
    sleep 0.5
done
assert "n2 is still registered 12 s after the kill" ov_etcd_has_nodes n1 n2
assert "n1 still has its 2 flows for n2 12 s after the kill" \
    ov_tun_flows_are n1 "$N2_IP" 2
assert "n1/a pings n2/a" ov_ping "$LAB-n1-a" "${OV_IP[n2/a]}" 3
assert "n2/b pings n1/b" ov_ping "$LAB-n2-b" "${OV_IP[n1/b]}" 3
assert "a pod added on n2 after the restart" ov_pods n2 -- c
assert "it pings n1/a" ov_ping "$LAB-n2-c" "${OV_IP[n1/a]}" 3

e2e_finish
