#!/usr/bin/env bash
# Pods on one node through the real shim: ADD results, pod<->pod and
# pod<->host traffic (ICMP and TCP), CHECK, DEL (address and port freed,
# idempotent), address reuse, a full pool, and GC.
#
# Usage: test-pods.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

N=20
# A /27 (29 pod addresses) so that the test can fill the pool and see a
# freed address handed out again; it is inside 10.244.1.0/24 all the same.
export SLUICE_LAB_POD_PREFIX=27
POOL_SIZE=29
GW=10.244.1.1

lab up 1 >/dev/null || fatal "lab up"

declare -A RESULT IP VETH
PODS=()

# check_result POD JSON: the ADD result is a valid CNI 1.1 success result
# for POD.
check_result() {
    local pod=$1 json=$2
    echo "$json" | jq -e --arg netns "/var/run/netns/$LAB-n1-$pod" '
        .cniVersion == "1.1.0"
        and (.interfaces | type == "array" and length == 2)
        and all(.interfaces[]; (.name | type == "string" and length > 0
                                and length < 16))
        and (.interfaces[0].sandbox // "") == ""
        and .interfaces[1].name == "eth0"
        and .interfaces[1].sandbox == $netns
        and (.interfaces[1].mac | test("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"))
        and (.ips | type == "array" and length == 1)
        and (.ips[0] | has("version") | not)
        and .ips[0].interface == 1
        and (.ips[0].address
             | test("^10\\.244\\.1\\.([2-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])/(2[4-9]|3[0-2])$"))
        and .ips[0].gateway == "10.244.1.1"
        and (.routes | type == "array")
        and all(.routes[]; .dst | type == "string")
        and (.dns | type == "object")' >/dev/null
}

# add_pod POD: ADD through the shim; records the result.  Returns the
# shim's status.
add_pod() {
    local pod=$1 out status
    out=$(lab pod-add n1 "$pod" 2>"$E2E_TMP/add.err")
    status=$?
    RESULT[$pod]=$out
    if [ "$status" -eq 0 ]; then
        IP[$pod]=$(echo "$out" | jq -r '.ips[0].address' | cut -d/ -f1)
        VETH[$pod]=$(echo "$out" | jq -r '.interfaces[0].name')
        PODS+=("$pod")
    fi
    return "$status"
}

# drop_pod POD: forgets POD (it was deleted).
drop_pod() {
    local p kept=()
    for p in "${PODS[@]}"; do
        [ "$p" = "$1" ] || kept+=("$p")
    done
    PODS=("${kept[@]}")
}

# --- 20 pods -------------------------------------------------------------
bad=0
for i in $(seq 1 "$N"); do
    if ! add_pod "p$i"; then
        fail "ADD p$i: ${RESULT[p$i]} $(cat "$E2E_TMP/add.err")"
        bad=1
    elif ! check_result "p$i" "${RESULT[p$i]}"; then
        fail "ADD p$i: result is not a valid CNI 1.1 result: ${RESULT[p$i]}"
        bad=1
    fi
done
[ "$bad" -eq 0 ] || fatal "not every ADD gave a valid result"
pass "$N ADDs through the shim, each a valid CNI 1.1 result in 10.244.1.0/24"

dups=$(for p in "${PODS[@]}"; do echo "${IP[$p]}"; done | sort | uniq -d)
assert_eq "the $N pods got distinct addresses" "" "$dups"

bad=0
for p in "${PODS[@]}"; do
    have=$(pod_exec n1 "$p" ip -4 -o addr show dev eth0 | awk '{print $4}')
    want=$(echo "${RESULT[$p]}" | jq -r '.ips[0].address')
    mac=$(pod_exec n1 "$p" cat /sys/class/net/eth0/address)
    want_mac=$(echo "${RESULT[$p]}" | jq -r '.interfaces[1].mac')
    gw=$(pod_exec n1 "$p" ip -4 route show default | awk '{print $3}')
    if [ "$have" != "$want" ] || [ "$mac" != "$want_mac" ] \
        || [ "$gw" != "$GW" ]; then
        fail "pod $p: eth0 $have/$mac via $gw, result says $want/$want_mac"
        bad=1
    fi
done
[ "$bad" -eq 0 ] && pass "each pod's eth0 has the address, MAC and default route of its result"

bad=0
for p in "${PODS[@]}"; do
    ports n1 | grep -qx "${VETH[$p]}" || { bad=1; fail "no port ${VETH[$p]} for $p"; }
done
[ "$bad" -eq 0 ] && pass "each pod's host veth is a port of br-int"

# --- traffic -------------------------------------------------------------
# Pings run in parallel; each must get every reply and no duplicate.
ping_batch() {
    local label=$1 i=0 bad=0 ns target
    shift
    local -a pids=() what=()
    while [ $# -gt 0 ]; do
        ns=$1 target=$2
        shift 2
        ping_ok "$ns" "$target" >"$E2E_TMP/ping.$i" 2>&1 &
        pids+=($!)
        what+=("$ns -> $target")
        i=$((i + 1))
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[i]}"; then
            fail "$label: ping ${what[i]}"
            e2e_show "$E2E_TMP/ping.$i"
            bad=1
        fi
    done
    [ "$bad" -eq 0 ] && pass "$label (${#pids[@]} pings)"
}

args=()
for i in $(seq 1 "$N"); do
    j=$((i % N + 1))
    args+=("$LAB-n1-p$i" "${IP[p$j]}")
done
ping_batch "each pod pings another pod" "${args[@]}"

args=()
RANDOM=7
for k in $(seq 1 12); do
    a=$((RANDOM % N + 1))
    b=$((RANDOM % N + 1))
    [ "$a" -ne "$b" ] || b=$((a % N + 1))
    args+=("$LAB-n1-p$a" "${IP[p$b]}")
done
ping_batch "sample of pod pairs ping" "${args[@]}"

args=()
for p in "${PODS[@]}"; do
    args+=("$LAB-n1-$p" "$GW" "$LAB-n1" "${IP[$p]}")
done
ping_batch "pod <-> host (gateway $GW on the node) pings both ways" \
    "${args[@]}"

assert "TCP pod -> pod: 1 MiB arrives intact" \
    tcp_transfer "$LAB-n1-p1" "$LAB-n1-p2" "${IP[p2]}"
assert "TCP pod -> host: 1 MiB arrives intact" \
    tcp_transfer "$LAB-n1-p3" "$LAB-n1" "$GW"
assert "TCP host -> pod: 1 MiB arrives intact" \
    tcp_transfer "$LAB-n1" "$LAB-n1-p4" "${IP[p4]}"

# --- CHECK ---------------------------------------------------------------
check_with_prev() {
    local pod=$1 prev=$2 config
    config=$(cni_config n1 | jq -c --argjson prev "$prev" '. + {prevResult: $prev}')
    cni_run n1 CHECK "$LAB-n1-$pod" "/var/run/netns/$LAB-n1-$pod" "$config"
}
assert "CHECK after ADD succeeds (no prevResult)" lab cni n1 p1 CHECK
assert "CHECK after ADD succeeds (prevResult = the ADD result)" \
    check_with_prev p1 "${RESULT[p1]}"
out=$(check_with_prev p1 "${RESULT[p2]}")
status=$?
if [ "$status" -ne 0 ] && is_cni_error "$out"; then
    pass "CHECK with a prevResult naming another address fails with a CNI error"
else
    fail "CHECK with a wrong prevResult: status $status, output $out"
fi

# --- DEL -----------------------------------------------------------------
victim=p5
vip=${IP[$victim]}
vveth=${VETH[$victim]}
assert "DEL $victim succeeds" lab pod-del n1 "$victim"
expect_fail "DEL $victim: the IPAM store no longer lists $vip" \
    grep -qx "$vip" <(ipam_ips n1)
expect_fail "DEL $victim: the IPAM store no longer lists its container" \
    grep -q "^$LAB-n1-$victim " <(ipam_ids n1)
expect_fail "DEL $victim: port $vveth left br-int" grep -qx "$vveth" <(ports n1)
expect_fail "DEL $victim: no flow matches $vip any more" \
    grep -Eq "(nw_dst|nw_src|arp_spa|arp_tpa)=$vip([, ]|$)" <(flows n1)
expect_fail "DEL $victim: host veth $vveth is gone" \
    node_exec n1 ip link show "$vveth"
assert "DEL $victim again succeeds (idempotent, netns gone)" \
    lab cni n1 "$victim" DEL
assert "DEL of a container the agent never saw succeeds" \
    cni_run n1 DEL "$LAB-n1-never" "" "$(cni_config n1)"
drop_pod "$victim"

# The pool hands a released address out again once the others are used.
reused=""
for k in $(seq 1 "$POOL_SIZE"); do
    add_pod "q$k" || break
    if [ "${IP[q$k]}" = "$vip" ]; then
        reused=q$k
        break
    fi
done
if [ -n "$reused" ]; then
    pass "a new pod ($reused) got the freed address $vip"
    assert "$reused with the reused address pings a pod" \
        ping_ok "$LAB-n1-$reused" "${IP[p1]}"
    assert "the host pings $reused at the reused address" \
        ping_ok "$LAB-n1" "$vip"
else
    fail "no new pod got the freed address $vip (last: ${RESULT[q$k]})"
fi

# The pool is now full: ADD fails with a CNI error and leaks nothing.
n_ports=$(ports n1 | wc -l)
n_ips=$(ipam_ips n1 | wc -l)
assert_eq "the pool of $POOL_SIZE addresses is full" "$POOL_SIZE" "$n_ips"
out=$(lab pod-add n1 full 2>/dev/null)
status=$?
if [ "$status" -ne 0 ] && is_cni_error "$out"; then
    pass "ADD on a full pool fails with a CNI error ($(echo "$out" | jq -c '{code, msg}'))"
else
    fail "ADD on a full pool: status $status, output $out"
fi
assert_eq "the failed ADD left no port" "$n_ports" "$(ports n1 | wc -l)"
assert_eq "the failed ADD left no address" "$n_ips" "$(ipam_ips n1 | wc -l)"
expect_fail "the failed ADD left no eth0 in the pod" \
    ip -n "$LAB-n1-full" link show eth0
lab cni n1 full DEL >/dev/null 2>&1
ip netns delete "$LAB-n1-full" 2>/dev/null

# --- CHECK fails once the host veth is gone; DEL still cleans up ---------
broken=p7
bip=${IP[$broken]}
assert "node: delete $broken's host veth ${VETH[$broken]}" \
    node_exec n1 ip link del "${VETH[$broken]}"
out=$(lab cni n1 "$broken" CHECK 2>/dev/null)
status=$?
if [ "$status" -ne 0 ] && is_cni_error "$out"; then
    pass "CHECK fails with a CNI error once the host veth is gone ($(echo "$out" | jq -c '{code, msg}'))"
else
    fail "CHECK after the host veth was deleted: status $status, output $out"
fi
assert "DEL $broken (veth already gone) succeeds" lab pod-del n1 "$broken"
expect_fail "DEL $broken: port ${VETH[$broken]} left br-int" \
    grep -qx "${VETH[$broken]}" <(ports n1)
expect_fail "DEL $broken: address $bip released" grep -qx "$bip" <(ipam_ips n1)
drop_pod "$broken"

# --- GC ------------------------------------------------------------------
gone=p9
valid=()
for p in "${PODS[@]}"; do
    [ "$p" != "$gone" ] && valid+=("$LAB-n1-$p")
done
gc_config() {
    printf '%s\n' "$@" | jq -R . | jq -sc --argjson base "$(cni_config n1)" \
        '$base + {"cni.dev/valid-attachments":
                  map({containerID: ., ifname: "eth0"})}'
}
ports_before=$(ports n1 | wc -l)
assert "GC with all attachments but $gone valid succeeds" \
    cni_run n1 GC "" "" "$(gc_config "${valid[@]}")"
expect_fail "GC: port ${VETH[$gone]} of $gone is gone" \
    grep -qx "${VETH[$gone]}" <(ports n1)
expect_fail "GC: address ${IP[$gone]} of $gone is released" \
    grep -qx "${IP[$gone]}" <(ipam_ips n1)
assert_eq "GC detached exactly one port" "$((ports_before - 1))" \
    "$(ports n1 | wc -l)"
want=$(printf '%s eth0\n' "${valid[@]}" | sort)
assert_eq "GC: the IPAM store holds exactly the valid attachments" \
    "$want" "$(ipam_ids n1 | sort)"

args=()
for p in "${PODS[@]}"; do
    [ "$p" != "$gone" ] && args+=("$LAB-n1" "${IP[$p]}")
done
ping_batch "after GC every other pod still answers the host" "${args[@]}"
assert "after GC pods still reach each other" \
    ping_ok "$LAB-n1-p1" "${IP[p2]}"

assert "a second identical GC succeeds" \
    cni_run n1 GC "" "" "$(gc_config "${valid[@]}")"
assert_eq "the second GC detached nothing" "$((ports_before - 1))" \
    "$(ports n1 | wc -l)"

e2e_finish
