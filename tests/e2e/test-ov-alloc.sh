#!/usr/bin/env bash
# Pod subnets allocated through etcd: three nodes with configured pod CIDRs
# 10.244.{1,2,3}.0/24, then n4 and n5 added at the same time without one
# (`lab.sh node-add --allocate`), so that both agents allocate a /24 from
# cluster_cidr 10.244.0.0/16 with a compare-and-swap.  Each gets one subnet
# of its own under /sluice/subnets/ (none collides with another node's),
# advertises it in its node record, gives its pods addresses from it, and
# the other nodes route it: pods on n4 reach pods on n1..n3 and back.  A
# restarted agent keeps its subnet: n4 from its local state, n5 (state
# removed) from etcd.
#
# Usage: test-ov-alloc.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/overlay-lib.sh
source "$(dirname "$0")/overlay-lib.sh"
e2e_init "$@"

lab up 3 >/dev/null || fatal "lab up 3"
ov_pods n1 n2 n3 -- a || fatal "adding pods"

# subnets_of NODE: the subnets (A.B.C.D/P) etcd records for NODE.
subnets_of() {
    lab etcdctl get --prefix /sluice/subnets/ \
        | paste - - | awk -v n="$1" '$2 == n { print $1 }' \
        | sed -E 's|^/sluice/subnets/||; s|-([0-9]+)$|/\1|' | sort
}
record_cidr() {
    lab etcdctl get --print-value-only "/sluice/nodes/$1" | jq -r .pod_cidr
}

lab node-add n4 --allocate >"$E2E_TMP/add4.out" 2>&1 &
p4=$!
lab node-add n5 --allocate >"$E2E_TMP/add5.out" 2>&1 &
p5=$!
wait $p4
s4=$?
wait $p5
s5=$?
assert_eq "n4 (no pod_cidr) added and ready" 0 "$s4" || e2e_show "$E2E_TMP/add4.out"
assert_eq "n5 (no pod_cidr) added at the same time and ready" 0 "$s5" \
    || e2e_show "$E2E_TMP/add5.out"
if [ "$s4" -ne 0 ] || [ "$s5" -ne 0 ]; then
    fatal "the allocating nodes did not start"
fi
assert "n4's sluiced.json has no pod_cidr" \
    jq -e 'has("pod_cidr") | not' "$LAB_DIR/n4/sluiced.json"
grep -h "belongs to node" "$LAB_DIR"/n[45]/sluiced.log | sed 's/^/    race: /'

echo "    /sluice/subnets/:" \
    "$(lab etcdctl get --prefix /sluice/subnets/ | paste - - | tr '\t\n' '=,')"
S4=$(subnets_of n4)
S5=$(subnets_of n5)
echo "    n4 allocated '$S4', n5 allocated '$S5'"
for n in n1 n2 n3; do
    assert_eq "$n holds exactly its configured subnet" \
        "10.244.${n#n}.0/24" "$(subnets_of "$n")"
done
assert "n4 holds exactly one /24 of 10.244.0.0/16" \
    grep -qxE '10\.244\.[0-9]{1,3}\.0/24' <<<"$S4"
assert "n5 holds exactly one /24 of 10.244.0.0/16" \
    grep -qxE '10\.244\.[0-9]{1,3}\.0/24' <<<"$S5"
assert "n4's and n5's subnets differ from each other and from n1..n3's" \
    test "$(printf '%s\n' 10.244.1.0/24 10.244.2.0/24 10.244.3.0/24 \
        "$S4" "$S5" | sort -u | wc -l)" -eq 5
assert_eq "n4's node record advertises it" "$S4" "$(record_cidr n4)"
assert_eq "n5's node record advertises it" "$S5" "$(record_cidr n5)"
assert "n4's agent logged it as its pod subnet" \
    grep -qF "node n4: pod subnet $S4" "$LAB_DIR/n4/sluiced.log"

[ -n "$S4" ] || fatal "n4 has no subnet: stopping"
prefix4=${S4%.0/24}
assert "a pod on n4" ov_pods n4 -- a
assert "its address is in $S4" \
    grep -qE "^${prefix4//./\\.}\.[0-9]+$" <<<"${OV_IP[n4/a]:-none}"
for n in n1 n2 n3; do
    assert "$n routes $S4 to n4" \
        ov_wait 5000 sh -c "'$e2e_top/deploy/lab/lab.sh' ofctl $LAB $n \
            dump-flows br-int | grep -q 'nw_dst=$S4 .*198.18.0.14->tun_dst'"
done
pids=()
for n in n1 n2 n3; do
    ov_prime "$LAB-n4-a" "${OV_IP[$n/a]}" &
    pids+=($!)
    ov_prime "$LAB-$n-a" "${OV_IP[n4/a]}" &
    pids+=($!)
done
wait "${pids[@]}"
for n in n1 n2 n3; do
    assert "n4/a pings $n/a" ov_ping "$LAB-n4-a" "${OV_IP[$n/a]}" 3
    assert "$n/a pings n4/a" ov_ping "$LAB-$n-a" "${OV_IP[n4/a]}" 3
done

# --- restarts keep the subnet ----------------------------------------------
assert "restart n4's agent" sh -c "'$e2e_top/deploy/lab/lab.sh' agent-stop \
    $LAB n4 && '$e2e_top/deploy/lab/lab.sh' agent-start $LAB n4"
assert_eq "n4 still holds exactly $S4" "$S4" "$(subnets_of n4)"
assert "n4's record advertises $S4 again" \
    ov_wait 5000 test "$(record_cidr n4)" = "$S4"
assert_eq "n4/a kept its address" "${OV_IP[n4/a]}" "$(lab pod-ip n4 a)"
assert "n1/a pings n4/a after the restart" \
    ov_ping "$LAB-n1-a" "${OV_IP[n4/a]}" 3

# n5 forgets its local state: it must find its subnet in etcd by its name.
assert "stop n5's agent and remove its state" sh -c "'$e2e_top/deploy/lab/lab.sh' \
    agent-stop $LAB n5 && rm -rf '$LAB_DIR/n5/state'"
assert "start n5's agent again" lab agent-start n5
assert_eq "n5 still holds exactly $S5" "$S5" "$(subnets_of n5)"
assert "n5's agent logged $S5 again" \
    test "$(grep -cF "node n5: pod subnet $S5" "$LAB_DIR/n5/sluiced.log")" -eq 2
assert "n5's record advertises $S5" \
    ov_wait 5000 sh -c "'$e2e_top/deploy/lab/lab.sh' etcdctl $LAB get \
        --print-value-only /sluice/nodes/n5 | jq -e '.pod_cidr == \"$S5\"'"
assert_eq "five subnets in etcd, one per node" 5 \
    "$(lab etcdctl get --prefix --keys-only /sluice/subnets/ | grep -c .)"

e2e_finish
