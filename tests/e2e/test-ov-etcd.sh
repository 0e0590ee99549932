#!/usr/bin/env bash
# An etcd outage of 10 s.  While etcd is down: cross-node traffic that was
# flowing goes on with no loss; a pod added on n1 attaches (IPAM is local)
# and reaches local pods and, since routes are per node subnet, pods on
# other nodes; an agent restarted while etcd is down (n2) keeps its node's
# cross-node traffic.  Once etcd is back: every node record is back within
# 15 s, and a node change made in etcd (a node record added, then removed)
# reaches every node, so the watches resumed.
#
# Usage: test-ov-etcd.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/overlay-lib.sh
source "$(dirname "$0")/overlay-lib.sh"
e2e_init "$@"

OUTAGE_MS=10000
FAKE_IP=198.18.0.250
lab up 3 >/dev/null || fatal "lab up 3"
ov_pods n1 n2 n3 -- a || fatal "adding pods"
pids=()
for src in n1 n2 n3; do
    for dst in n1 n2 n3; do
        [ "$src" = "$dst" ] && continue
        ov_prime "$LAB-$src-a" "${OV_IP[$dst/a]}" &
        pids+=($!)
    done
done
wait "${pids[@]}"
assert "n1/a pings n2/a" ov_ping "$LAB-n1-a" "${OV_IP[n2/a]}" 3
assert "n3/a pings n1/a" ov_ping "$LAB-n3-a" "${OV_IP[n1/a]}" 3
assert "all nodes registered" ov_etcd_has_nodes n1 n2 n3

# --- etcd down ---------------------------------------------------------
t0=$(now_ms)
assert "stop etcd" lab etcd-stop
expect_fail "etcd does not answer" \
    timeout 5 "$e2e_top/deploy/lab/lab.sh" etcdctl "$LAB" \
    --command-timeout=1s get /sluice/nodes/n1
bg_start flood1 sh -c "ip netns exec $LAB-n1-a ping -n -q -i 0.05 -W 1 \
    -c 140 ${OV_IP[n2/a]} >$E2E_TMP/flood1.out 2>&1"
bg_start flood2 sh -c "ip netns exec $LAB-n3-a ping -n -q -i 0.05 -W 1 \
    -c 140 ${OV_IP[n1/a]} >$E2E_TMP/flood2.out 2>&1"

ta=$(now_ms)
assert "a pod added on n1 while etcd is down" ov_pods n1 -- c
echo "    its ADD took $(($(now_ms) - ta)) ms; address ${OV_IP[n1/c]:-none}"
assert "it pings n1/a (same node)" ov_ping "$LAB-n1-c" "${OV_IP[n1/a]}" 3
ov_prime "$LAB-n1-c" "${OV_IP[n2/a]}"
assert "it pings n2/a across nodes while etcd is down" \
    ov_ping "$LAB-n1-c" "${OV_IP[n2/a]}" 3
assert "n3/a pings it across nodes while etcd is down" \
    ov_ping "$LAB-n3-a" "${OV_IP[n1/c]}" 3

for f in flood1 flood2; do
    bg_wait "$f"
    stats=$(grep 'packets transmitted' "$E2E_TMP/$f.out")
    echo "    $f during the outage: $stats"
    assert "$f: 140 pings, 0% loss while etcd is down" \
        grep -q '^140 packets transmitted, 140 received' <<<"$stats"
done

# An agent restarted while etcd is away cannot learn its peers: the
# datapath should still keep routing to them (as it does for a running
# agent).
assert "kill n2's agent while etcd is down" lab agent-kill n2
assert "n2's agent starts again while etcd is down" lab agent-start n2
sleep 0.5
assert "n1/a pings n2/a after n2's agent restarted without etcd" \
    ov_ping "$LAB-n1-a" "${OV_IP[n2/a]}" 3
assert "n2/a pings n3/a after n2's agent restarted without etcd" \
    ov_ping "$LAB-n2-a" "${OV_IP[n3/a]}" 3
echo "    n2's flows for n1 / n3: $(ov_tun_flows n2 198.18.0.11) /" \
    "$(ov_tun_flows n2 198.18.0.13) (2 each before the outage)"

while [ $(($(now_ms) - t0)) -lt $OUTAGE_MS ]; do
    sleep 0.2
done

# --- etcd back ---------------------------------------------------------
t1=$(now_ms)
assert "start etcd after $((t1 - t0)) ms" lab etcd-start
if ov_wait 15000 ov_etcd_has_nodes n1 n2 n3; then
    pass "all three node records are in etcd ${OV_WAITED} ms after the restart"
else
    fail "node records 15 s after etcd came back: $(ov_etcd_nodes)"
fi
for node in n1 n2 n3; do
    for peer in n1 n2 n3; do
        [ "$node" = "$peer" ] && continue
        peer_ip=198.18.0.$((10 + ${peer#n}))
        assert "$node has its 2 flows for $peer" ov_wait 5000 \
            ov_tun_flows_are "$node" "$peer_ip" 2
    done
done
assert "n1/c (added during the outage) pings n2/a" \
    ov_ping "$LAB-n1-c" "${OV_IP[n2/a]}" 3
ov_prime "$LAB-n1-c" "${OV_IP[n3/a]}"
assert "n1/c (added during the outage) pings n3/a" \
    ov_ping "$LAB-n1-c" "${OV_IP[n3/a]}" 3
assert "n2/a pings n1/a" ov_ping "$LAB-n2-a" "${OV_IP[n1/a]}" 3

# The watches resumed: a node that joins and leaves now is seen by all.
assert "register a node 'fake' at $FAKE_IP in etcd" lab etcdctl put \
    /sluice/nodes/fake "{\"name\":\"fake\",\"ip\":\"$FAKE_IP\",
    \"pod_cidr\":\"10.244.250.0/24\",\"tunnel_type\":\"geneve\",\"labels\":\"\"}"
for node in n1 n2 n3; do
    if ov_wait 5000 ov_tun_flows_are "$node" "$FAKE_IP" 2; then
        pass "$node installed its 2 flows for fake (${OV_WAITED} ms)"
    else
        fail "$node has $(ov_tun_flows "$node" "$FAKE_IP") flows for fake"
    fi
done
assert "remove fake's record" lab etcdctl del /sluice/nodes/fake
for node in n1 n2 n3; do
    if ov_wait 5000 ov_tun_flows_are "$node" "$FAKE_IP" 0; then
        pass "$node removed its flows for fake (${OV_WAITED} ms)"
    else
        fail "$node still has $(ov_tun_flows "$node" "$FAKE_IP") flows for fake"
    fi
done

e2e_finish
