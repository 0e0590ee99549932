#!/usr/bin/env bash
# The sluice demo: a local multi-node lab.  Builds everything, brings up
# three nodes (network namespaces with their own OVS and sluiced) joined by
# Geneve tunnels through etcd, starts pods on each through the real CNI
# shim, shows cross-node ping and TCP and the flows that route between
# nodes, then creates an egress IP pool on n2 and n3 with sluicectl, shows
# an external host seeing the egress IP, kills the node holding it and
# measures how long the pod's traffic stops, and tears everything down.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deploy/build.sh

lab=demo
labsh=deploy/lab/lab.sh
cleanup() { "$labsh" down "$lab"; }
trap cleanup EXIT
"$labsh" down "$lab"

say() { printf '\n=== %s\n' "$*"; }

say "Three nodes, Geneve overlay, etcd"
"$labsh" up "$lab" 3 geneve

say "Pods on every node, attached through the CNI shim"
declare -A ip
for node in n1 n2 n3; do
    for pod in web db; do
        "$labsh" pod-add "$lab" "$node" "$pod-$node" default >/dev/null
        ip[$pod-$node]=$("$labsh" pod-ip "$lab" "$node" "$pod-$node")
        printf '  %-8s on %s: %s\n' "$pod-$node" "$node" "${ip[$pod-$node]}"
    done
done

say "Cross-node ping (every web pod to every db pod)"
for src in n1 n2 n3; do
    for dst in n1 n2 n3; do
        target=${ip[db-$dst]}
        # The first packet to a new tunnel end may go while OVS resolves
        # the underlay neighbour.
        "$labsh" pod-exec "$lab" "$src" "web-$src" ping -c 1 -W 1 "$target" \
            >/dev/null 2>&1 || true
        if "$labsh" pod-exec "$lab" "$src" "web-$src" ping -c 3 -i 0.2 -W 1 \
            "$target" >/dev/null; then
            printf '  web-%s -> db-%s (%s): ok\n' "$src" "$dst" "$target"
        else
            printf '  web-%s -> db-%s (%s): FAILED\n' "$src" "$dst" "$target"
            exit 1
        fi
    done
done

say "TCP across nodes: 1 MB from web-n1 to db-n3"
tmp=$(mktemp -d)
cleanup() { "$labsh" down "$lab"; rm -rf "$tmp"; }
head -c 1000000 /dev/urandom >"$tmp/tx"
"$labsh" pod-exec "$lab" n3 db-n3 timeout 20 nc -l -p 5001 >"$tmp/rx" &
rx=$!
sleep 0.3
"$labsh" pod-exec "$lab" n1 web-n1 timeout 20 nc -N -w 5 "${ip[db-n3]}" 5001 \
    <"$tmp/tx"
wait "$rx"
if cmp -s "$tmp/tx" "$tmp/rx"; then
    echo "  1 MB arrived intact"
else
    echo "  TCP transfer failed: $(stat -c %s "$tmp/rx") of 1000000 bytes arrived"
    exit 1
fi

say "How n1 reaches the other nodes (ovs-ofctl dump-flows br-int --names)"
"$labsh" ofctl "$lab" n1 dump-flows br-int --names --no-stats \
    | grep -E 'tun_src|tun_dst' | sed 's/^ */  /'

say "Egress: pool on n2 and n3, pods named web-* leave through it"
"$labsh" ctl "$lab" n1 pool create edge --ranges 198.18.0.100-198.18.0.110 \
    --nodes n2,n3
"$labsh" ctl "$lab" n1 egress create web-out --namespace default \
    --pod 'web-*' --pool edge
egress_ip=$("$labsh" ctl "$lab" n1 egress show web-out -o json | jq -r .ip)
holder=""
for _ in $(seq 1 50); do
    holder=$("$labsh" ctl "$lab" n1 egress show web-out -o json \
        | jq -r '.node // empty')
    [ -n "$holder" ] && break
    sleep 0.1
done
"$labsh" ctl "$lab" n1 egress list

say "What the external host (198.18.0.200) sees"
"$labsh" ext-exec "$lab" timeout 5 tcpdump -lnni eth0 -c 4 \
    'icmp[icmptype] == icmp-echo' 2>/dev/null >"$tmp/seen" &
dump=$!
sleep 0.5
for pod in web-n1 db-n1; do
    "$labsh" pod-exec "$lab" n1 "$pod" ping -c 1 -W 1 198.18.0.200 \
        >/dev/null 2>&1 || true
    "$labsh" pod-exec "$lab" n1 "$pod" ping -c 2 -i 0.2 198.18.0.200 \
        >/dev/null
done
wait "$dump" || true
awk '{print "  " $3 " -> " $5}' "$tmp/seen" | sort | uniq -c
echo "  (web-n1 leaves as $egress_ip, the egress IP; db-n1 as its node, 198.18.0.11)"

say "Failover: kill $holder (its agent and ovs-vswitchd) under a 200/s ping"
"$labsh" pod-exec "$lab" n1 web-n1 ping -D -i 0.005 -c 1000 -W 1 \
    198.18.0.200 >"$tmp/probe" 2>&1 &
probe=$!
sleep 1.5
"$labsh" agent-kill "$lab" "$holder"
kill -9 "$(cat "/tmp/sluice-lab-$lab/$holder/ovs/ovs-vswitchd.pid")"
wait "$probe" || true
gap=$(awk -F'[][]' '/bytes from/ {t = $2; if (p && t - p > g) g = t - p; p = t}
      END {printf "%d", g * 1000}' "$tmp/probe")
lost=$(grep -o '[0-9]* received' "$tmp/probe" | awk '{print 1000 - $1}')
new_holder=$("$labsh" ctl "$lab" n1 egress show web-out -o json | jq -r .node)
echo "  $egress_ip moved from $holder to $new_holder"
echo "  longest gap in replies: $gap ms ($lost of 1000 probes lost)"
"$labsh" ctl "$lab" n1 egress list

say "Done; tearing the lab down"
