#!/usr/bin/env bash
# A node leaving and rejoining the overlay: n3's agent is stopped (SIGTERM)
# -> its record leaves etcd when its lease expires and n1 and n2 remove
# their flows for n3 (the time this took is printed); n3's pods keep their
# datapath meanwhile, and n1 no longer accepts tunnel traffic from n3.  The
# agent is started again -> n1 and n2 get their flows for n3 back and
# traffic between n3's pods and the other nodes' works again.
#
# Usage: test-ov-leave.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/overlay-lib.sh
source "$(dirname "$0")/overlay-lib.sh"
e2e_init "$@"

N3_IP=198.18.0.13
lab up 3 >/dev/null || fatal "lab up 3"
ov_pods n1 n2 -- a || fatal "adding pods"
ov_pods n3 -- a b || fatal "adding pods on n3"

for src in n1 n2 n3; do
    for dst in n1 n2 n3; do
        [ "$src" = "$dst" ] || ov_prime "$LAB-$src-a" "${OV_IP[$dst/a]}"
    done
done
assert "n1/a pings n3/a" ov_ping "$LAB-n1-a" "${OV_IP[n3/a]}" 3
assert "n3/b pings n2/a" ov_ping "$LAB-n3-b" "${OV_IP[n2/a]}" 3
for node in n1 n2; do
    assert "$node has its 2 flows for n3 (tun_src and tun_dst $N3_IP)" \
        ov_wait 5000 ov_tun_flows_are "$node" "$N3_IP" 2
done
n3_flows=$(flows n3 | grep -c cookie=)

# --- n3 leaves -----------------------------------------------------------
t0=$(now_ms)
assert "stop n3's agent (SIGTERM)" lab agent-stop n3
t_stopped=$(now_ms)
if ov_etcd_has_nodes n1 n2; then
    echo "    n3's record left etcd as the agent stopped (lease revoked)"
else
    echo "    n3's record is still in etcd after the stop (lease not" \
        "revoked: it goes when the lease expires)"
fi
gone_etcd="" gone_n1="" gone_n2=""
while [ $(($(now_ms) - t0)) -lt 20000 ]; do
    [ -n "$gone_etcd" ] || { ov_etcd_has_nodes n1 n2 && gone_etcd=$(now_ms); }
    [ -n "$gone_n1" ] || { ov_tun_flows_are n1 "$N3_IP" 0 && gone_n1=$(now_ms); }
    [ -n "$gone_n2" ] || { ov_tun_flows_are n2 "$N3_IP" 0 && gone_n2=$(now_ms); }
    [ -n "$gone_etcd" ] && [ -n "$gone_n1" ] && [ -n "$gone_n2" ] && break
    sleep 0.1
done
ms() { [ -n "$1" ] && echo "$(($1 - t0)) ms" || echo "not within 20 s"; }
echo "    after SIGTERM to n3's agent (the stop took $((t_stopped - t0)) ms):"
echo "      n3's record gone from etcd: $(ms "$gone_etcd")"
echo "      n1's flows for n3 removed:  $(ms "$gone_n1")"
echo "      n2's flows for n3 removed:  $(ms "$gone_n2")"
assert "n3's record left etcd within 15 s (lease TTL 10 s)" \
    test -n "$gone_etcd" -a $((${gone_etcd:-0} - t0)) -le 15000
assert "n1 removed its flows for n3 within 15 s" \
    test -n "$gone_n1" -a $((${gone_n1:-0} - t0)) -le 15000
assert "n2 removed its flows for n3 within 15 s" \
    test -n "$gone_n2" -a $((${gone_n2:-0} - t0)) -le 15000
assert_eq "n1 and n2 keep their records" "n1 n2" "$(ov_etcd_nodes)"
assert "n1's flows for n2 are still there" ov_tun_flows_are n1 198.18.0.12 2
assert "n1/a still pings n2/a" ov_ping "$LAB-n1-a" "${OV_IP[n2/a]}" 3

# n3 has no agent, but its datapath keeps its flows and serves its pods.
assert_eq "n3 kept its $n3_flows flows" "$n3_flows" \
    "$(flows n3 | grep -c cookie=)"
assert "n3/a pings n3/b while n3's agent is down" \
    ov_ping "$LAB-n3-a" "${OV_IP[n3/b]}" 3
assert "n3/a pings n3's gateway while n3's agent is down" \
    ov_ping "$LAB-n3-a" 10.244.3.1 3
expect_fail "n1 drops tunnel traffic from departed n3 (n3/a -> n1/a)" \
    ov_ping "$LAB-n3-a" "${OV_IP[n1/a]}" 2

# --- n3 rejoins ------------------------------------------------------------
t0=$(now_ms)
assert "start n3's agent again" lab agent-start n3
back_n1="" back_n2=""
while [ $(($(now_ms) - t0)) -lt 10000 ]; do
    [ -n "$back_n1" ] || { ov_tun_flows_are n1 "$N3_IP" 2 && back_n1=$(now_ms); }
    [ -n "$back_n2" ] || { ov_tun_flows_are n2 "$N3_IP" 2 && back_n2=$(now_ms); }
    [ -n "$back_n1" ] && [ -n "$back_n2" ] && break
    sleep 0.1
done
echo "    after starting n3's agent: n1's flows back $(ms "$back_n1")," \
    "n2's $(ms "$back_n2")"
assert "n1 has its 2 flows for n3 again" test -n "$back_n1"
assert "n2 has its 2 flows for n3 again" test -n "$back_n2"
assert "n3 is registered again" ov_wait 5000 ov_etcd_has_nodes n1 n2 n3
assert_eq "n3/a kept its address" "${OV_IP[n3/a]}" "$(lab pod-ip n3 a)"
assert "n1/a pings n3/a" ov_ping "$LAB-n1-a" "${OV_IP[n3/a]}" 3
assert "n2/a pings n3/b" ov_ping "$LAB-n2-a" "${OV_IP[n3/b]}" 3
assert "n3/a pings n1/a" ov_ping "$LAB-n3-a" "${OV_IP[n1/a]}" 3
assert "1 MiB over TCP from n3/b to n1/a arrives intact" \
    tcp_transfer "$LAB-n3-b" "$LAB-n1-a" "${OV_IP[n1/a]}"

e2e_finish
