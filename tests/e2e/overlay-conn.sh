# The body of test-ov-geneve.sh and test-ov-vxlan.sh (sourced with TUNNEL
# set): three nodes joined by TUNNEL tunnels, two pods on each.
#   - the tunnel port is of type TUNNEL and every node is registered with it;
#   - every pod pings every other pod, across nodes and on the same node
#     (each ordered pair of nodes is primed with one probe that may be lost,
#     then every ping must get all its replies), and the underlay carries
#     the traffic on TUNNEL's UDP port;
#   - 1 MiB over TCP across nodes arrives intact;
#   - full MTU: pods have MTU 1450 (1500 - 50); a 1450-byte DF ping
#     (-s 1422) crosses nodes both ways, a 1451-byte one (-s 1423) fails
#     locally with "message too long"; 5 MiB over TCP arrives intact.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/overlay-lib.sh
source "$(dirname "$0")/overlay-lib.sh"
e2e_init "$@"

case $TUNNEL in
geneve) UDP_PORT=6081 ;;
vxlan) UDP_PORT=4789 ;;
*) fatal "unknown tunnel type $TUNNEL" ;;
esac
NODES=(n1 n2 n3)
PODS=(a b)

lab up 3 "$TUNNEL" >/dev/null || fatal "lab up 3 $TUNNEL"
ov_pods "${NODES[@]}" -- "${PODS[@]}" || fatal "adding pods"
for node in "${NODES[@]}"; do
    for pod in "${PODS[@]}"; do
        echo "    $node/$pod: ${OV_IP[$node/$pod]}"
    done
done

# --- tunnel type -----------------------------------------------------------
for node in "${NODES[@]}"; do
    assert_eq "$node's tunnel port is a $TUNNEL port" "$TUNNEL" \
        "$(lab vsctl "$node" get interface sluice-tun0 type)"
done
registered() {
    lab etcdctl get --prefix --print-value-only /sluice/nodes/ \
        | jq -r .tunnel_type | sort | tr '\n' ' '
}
assert "all three nodes are registered in etcd" ov_wait 5000 \
    ov_etcd_has_nodes n1 n2 n3
assert_eq "they are registered with tunnel type $TUNNEL" \
    "$TUNNEL $TUNNEL $TUNNEL " "$(registered)"
for node in "${NODES[@]}"; do
    for peer in "${NODES[@]}"; do
        [ "$node" != "$peer" ] || continue
        peer_ip=198.18.0.$((10 + ${peer#n}))
        assert "$node has its 2 flows for $peer ($peer_ip)" ov_wait 5000 \
            ov_tun_flows_are "$node" "$peer_ip" 2
    done
done

# --- all pairs ping ----------------------------------------------------
ov_capture_start underlay "$LAB-n2" uplink "udp dst port $UDP_PORT" \
    || fatal "tcpdump on n2's uplink"
# The six primes run in parallel, and so do the pings of the six pods
# (each pod pings its five peers one after the other).
pids=()
for src in "${NODES[@]}"; do
    for dst in "${NODES[@]}"; do
        [ "$src" != "$dst" ] || continue
        { ov_prime "$LAB-$src-a" "${OV_IP[$dst/a]}" || echo lost; } \
            >"$E2E_TMP/prime.$src.$dst" &
        pids+=($!)
    done
done
wait "${pids[@]}"
lost=$(cat "$E2E_TMP"/prime.* | grep -c lost)
echo "    priming: $lost of 6 first probes to a new tunnel destination lost"
ping_from() {
    local src=$1 sp=$2 dst dp
    for dst in "${NODES[@]}"; do
        for dp in "${PODS[@]}"; do
            [ "$src/$sp" != "$dst/$dp" ] || continue
            if ov_ping "$LAB-$src-$sp" "${OV_IP[$dst/$dp]}" 3 \
                >"$E2E_TMP/ping.$src.$sp.$dst.$dp" 2>&1; then
                echo ok
            else
                echo "ping.$src.$sp.$dst.$dp $src/$sp pings $dst/$dp" \
                    "(${OV_IP[$dst/$dp]})"
            fi
        done
    done
}
pids=()
for src in "${NODES[@]}"; do
    for sp in "${PODS[@]}"; do
        ping_from "$src" "$sp" >"$E2E_TMP/pings.$src.$sp" &
        pids+=($!)
    done
done
wait "${pids[@]}"
n_pairs=$(cat "$E2E_TMP"/pings.* | wc -l)
bad=0
while read -r file what; do
    [ "$file" != ok ] || continue
    bad=$((bad + 1))
    fail "$what"
    e2e_show "$E2E_TMP/$file"
done < <(cat "$E2E_TMP"/pings.*)
assert_eq "30 ordered pod pairs pinged" 30 "$n_pairs"
assert_eq "all $n_pairs ordered pod pairs ping each other with 0% loss" \
    0 "$bad"
n_tun=$(ov_capture_stop underlay)
assert "n2's uplink received $TUNNEL traffic (UDP $UDP_PORT): $n_tun packets" \
    test "$n_tun" -gt 0

# --- TCP ---------------------------------------------------------------
assert "1 MiB over TCP from n1/a to n3/b arrives intact" \
    tcp_transfer "$LAB-n1-a" "$LAB-n3-b" "${OV_IP[n3/b]}"

# --- MTU ---------------------------------------------------------------
for node in "${NODES[@]}"; do
    mtu=$(pod_exec "$node" a cat /sys/class/net/eth0/mtu)
    assert_eq "$node/a's eth0 has MTU 1450 (uplink 1500 - 50)" 1450 "$mtu"
done
assert_eq "the underlay uplink has MTU 1500" 1500 \
    "$(node_exec n1 cat /sys/class/net/uplink/mtu)"
assert "1450-byte DF ping (-s 1422) from n1/a to n2/b" \
    ov_ping "$LAB-n1-a" "${OV_IP[n2/b]}" 3 -M "do" -s 1422
assert "1450-byte DF ping (-s 1422) from n3/b to n1/a" \
    ov_ping "$LAB-n3-b" "${OV_IP[n1/a]}" 3 -M "do" -s 1422
out=$(pod_exec n1 a ping -n -c 1 -W 1 -M "do" -s 1423 "${OV_IP[n2/b]}" 2>&1)
status=$?
echo "$out" | grep -i 'too long' | sed 's/^/    /'
if [ "$status" -ne 0 ] && echo "$out" | grep -q "message too long"; then
    pass "1451-byte DF ping (-s 1423) fails locally: message too long"
else
    fail "1451-byte DF ping (-s 1423) must fail with 'message too long'"
    echo "$out" | sed 's/^/    | /'
fi
assert "5 MiB over TCP from n2/a to n3/a arrives intact" \
    ov_tcp bulk "$LAB-n2-a" "$LAB-n3-a" "${OV_IP[n3/a]}" 5242880
assert "5 MiB over TCP from n3/b to n1/b arrives intact" \
    ov_tcp bulk2 "$LAB-n3-b" "$LAB-n1-b" "${OV_IP[n1/b]}" 5242880

e2e_finish
