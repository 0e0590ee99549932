#!/usr/bin/env bash
# sluicectl on a 2-node lab: every command (pool create/list/show/delete,
# egress create/list/show/delete/move) with table and JSON output (every
# JSON output parses with jq and says what etcd holds), and every error
# path with its exit status: 2 for invalid input, whether sluicectl
# rejects it itself (then also with no agent to talk to: -s /nonexistent)
# or the agent refuses it (overlapping ranges within a pool and across
# pools, IP outside the pool or taken, unknown pool/egress/node, pool
# exhausted, pool in use, with the egress named), 1 when the agent is
# unreachable.  No failed command changes anything in etcd.
#
# Usage: test-egress-ctl.sh BUILD_DIR LAB
# shellcheck disable=SC2317 # helpers are called through assert and eg_wait
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/egress-lib.sh
source "$(dirname "$0")/egress-lib.sh"
e2e_init "$@"
eg_init

lab up 2 >/dev/null || fatal "lab up 2"
OUT=$E2E_TMP/ctl.out
ERR=$E2E_TMP/ctl.err

# rc WANT MSG CMD...: CMD exits with status WANT (its output in $OUT and
# $ERR).
rc() {
    local want=$1 msg=$2 status
    shift 2
    "$@" >"$OUT" 2>"$ERR"
    status=$?
    if [ "$status" -eq "$want" ]; then
        pass "$msg (exit $status)"
        return 0
    fi
    fail "$msg (exit $status, want $want; command: $*)"
    e2e_show "$OUT"
    e2e_show "$ERR"
    return 1
}

# refused WANT PATTERN MSG CMD...: CMD exits with WANT and says PATTERN
# (extended regexp) on stderr.
refused() {
    local want=$1 pattern=$2 msg=$3
    shift 3
    rc "$want" "$msg" "$@" || return 1
    assert "  ... and says why: /$pattern/ ($(head -c 150 "$ERR"))" \
        grep -Eq -- "$pattern" "$ERR"
}

# client_refused PATTERN MSG ARGS...: sluicectl ARGS exits 2 saying
# PATTERN, and also does so with no agent to ask (checked client-side).
client_refused() {
    local pattern=$1 msg=$2
    shift 2
    refused 2 "$pattern" "$msg" ctl n1 "$@"
    rc 2 "  ... also with no agent (-s /nonexistent): rejected by sluicectl" \
        "$EG_CTL" -s /nonexistent "$@"
}

# The egress state in etcd (keys and values, minus the BFD-driven
# "applied" lists), for "nothing changed".
state() {
    lab etcdctl get --prefix /sluice/ \
        | awk 'NR % 2 == 1 {k = $0; next}
               k ~ "^/sluice/(pools|egresses|egress-ips|owners|moves)/" {
                   print k " = " $0 }'
}
json_ok() { jq -e . "$OUT" >/dev/null; }
jqo() { jq -r "$1" "$OUT"; }

# --- pools -----------------------------------------------------------------
echo "# pool create / list / show"
rc 0 "pool create p1 --ranges 198.18.0.100-198.18.0.110 --nodes n1,n2" \
    ctl n1 pool create p1 --ranges 198.18.0.100-198.18.0.110 --nodes n1,n2
rc 0 "pool create p2 --ranges 198.18.0.120/31,198.18.0.125 --nodes n2" \
    ctl n1 pool create p2 --ranges 198.18.0.120/31,198.18.0.125 --nodes n2
rc 0 "pool create p3 --ranges 198.18.0.128/30 --node-selector zone=a,tier=x" \
    ctl n1 pool create p3 --ranges 198.18.0.128/30 \
    --node-selector zone=a,tier=x
assert_eq "etcd holds pools/p1 as given" \
    '{"name":"p1","nodes":["n1","n2"],"ranges":["198.18.0.100-198.18.0.110"]}' \
    "$(lab etcdctl get --print-value-only /sluice/pools/p1 | jq -cS .)"

rc 0 "pool list" ctl n1 pool list
sed 's/^/    | /' "$OUT"
assert "pool list: header NAME RANGES NODES USED/TOTAL EGRESSES" \
    grep -Eq '^NAME +RANGES +NODES +USED/TOTAL +EGRESSES' "$OUT"
assert "pool list: p1 198.18.0.100-198.18.0.110 n1,n2 0/11" \
    grep -Eq '^p1 +198\.18\.0\.100-198\.18\.0\.110 +n1,n2 +0/11 ' "$OUT"
assert "pool list: p2 with both ranges, 0/3" \
    grep -Eq '^p2 +198\.18\.0\.120/31,198\.18\.0\.125 +n2 +0/3 ' "$OUT"
assert "pool list: p3 with its selector, 0/2 (a /30 less network and broadcast)" \
    grep -Eq '^p3 +198\.18\.0\.128/30 +.*zone=a.* +0/2 ' "$OUT"
rc 0 "pool list -o json" ctl n1 -o json pool list
assert "pool list -o json parses" json_ok
assert_eq "pool list -o json: 3 pools p1 p2 p3" "p1 p2 p3" \
    "$(jqo '[.pools[].pool.name] | sort | join(" ")')"
assert_eq "pool list -o json: p3's selector" '{"tier":"x","zone":"a"}' \
    "$(jq -cS '.pools[] | select(.pool.name == "p3") | .pool.node_selector' \
    "$OUT")"
rc 0 "pool show p1" ctl n1 pool show p1
assert "pool show p1 gives its ranges and usage 0/11" \
    sh -c "grep -q 198.18.0.100-198.18.0.110 $OUT && grep -q 0/11 $OUT"
rc 0 "pool show p1 -o json" ctl n1 pool show p1 -o json
assert "pool show -o json parses" json_ok
assert_eq "pool show -o json: total 11, used 0" "11 0" \
    "$(jqo '"\(.total) \(.used)"')"

# --- egresses --------------------------------------------------------------
echo "# egress create / list / show"
rc 0 "egress create e1 --namespace default --pod 'web*' --pool p1" \
    ctl n1 egress create e1 --namespace default --pod 'web*' --pool p1
E1_IP=$(grep -Eo '198\.18\.0\.[0-9]+' "$OUT")
echo "    e1 got $E1_IP"
assert "e1's IP is in p1" awk -v ip="${E1_IP##*.}" \
    'BEGIN {exit !(ip >= 100 && ip <= 110)}'
rc 0 "egress create e2 --ip 198.18.0.105 --pool p1 --pod-selector app=x --exempt ..." \
    ctl n1 egress create e2 --namespace 'kube-*' --pod-selector app=x,tier=web \
    --ip 198.18.0.105 --pool p1 --exempt 10.0.0.0/8,192.168.1.0/24
rc 0 "egress create e3 --pool p2 -o json" ctl n1 -o json egress create e3 \
    --pool p2
assert "egress create -o json parses" json_ok
E3_IP=$(jqo .ip)
echo "    e3 got $E3_IP"
case $E3_IP in
198.18.0.120 | 198.18.0.121 | 198.18.0.125) pass "e3's IP is in p2" ;;
*) fail "e3's IP '$E3_IP' is in p2" ;;
esac
assert_eq "etcd egress-ips/198.18.0.105 names e2" e2 \
    "$(lab etcdctl get --print-value-only /sluice/egress-ips/198.18.0.105)"
held() { [ -n "$(eg_owner e1)" ] && [ -n "$(eg_owner e2)" ] \
    && [ "$(eg_owner e3)" = n2 ]; }
assert "e1 and e2 are held, e3 by n2 (p2's only node)" eg_wait 5000 held

rc 0 "egress list" ctl n1 egress list
sed 's/^/    | /' "$OUT"
assert "egress list: header NAME IP NODE SINCE POOL PODS" \
    grep -Eq '^NAME +IP +NODE +SINCE +POOL +PODS' "$OUT"
assert "egress list: e1 with its IP, holder and since" \
    grep -Eq "^e1 +$E1_IP +$(eg_owner e1) +20[0-9-]+T[0-9:]+Z +p1 " "$OUT"
assert "egress list: e2 198.18.0.105" grep -Eq '^e2 +198\.18\.0\.105 ' "$OUT"
rc 0 "egress list -o json" ctl n1 egress list -o json
assert "egress list -o json parses" json_ok
assert_eq "egress list -o json: e1 e2 e3 with IP and node" \
    "e1 $E1_IP $(eg_owner e1),e2 198.18.0.105 $(eg_owner e2),e3 $E3_IP n2" \
    "$(jqo '[.egresses[] | "\(.egress.name) \(.ip) \(.node)"] | sort | join(",")')"
ctl n2 egress list -o json >"$E2E_TMP/list.n2" 2>&1
assert_eq "n2's agent lists the same egresses" \
    "$(jqo '[.egresses[] | {n: .egress.name, ip, node}] | sort_by(.n)')" \
    "$(jq -r '[.egresses[] | {n: .egress.name, ip, node}] | sort_by(.n)' \
    "$E2E_TMP/list.n2")"
rc 0 "egress show e2" ctl n1 egress show e2
assert "egress show e2 gives the selector, exemptions and IP" \
    sh -c "grep -q app=x $OUT && grep -q 10.0.0.0/8,192.168.1.0/24 $OUT \
        && grep -q 198.18.0.105 $OUT"
rc 0 "egress show e2 -o json" ctl n1 egress show e2 -o json
assert "egress show -o json parses" json_ok
assert_eq "egress show -o json: e2's definition" \
    '{"exempt":["10.0.0.0/8","192.168.1.0/24"],"ip":"198.18.0.105","name":"e2","namespace":"kube-*","pod_selector":{"app":"x","tier":"web"},"pool":"p1"}' \
    "$(jq -cS .egress "$OUT")"
rc 0 "pool show p1 -o json" ctl n1 pool show p1 -o json
assert_eq "pool p1: used 2, egresses e1 e2" "2 e1 e2" \
    "$(jqo '"\(.used) \(.egresses | sort | join(" "))"')"

# --- errors: nothing may change -------------------------------------------
echo "# errors"
state >"$E2E_TMP/state.before"
refused 2 "overlap.*p1|p1.*overlap" \
    "pool create: range overlapping pool p1 -> 2" \
    ctl n1 pool create p4 --ranges 198.18.0.110-198.18.0.115
refused 2 "overlap.*p2|p2.*overlap" \
    "pool create: CIDR overlapping a range of pool p2 -> 2" \
    ctl n1 pool create p4 --ranges 198.18.0.124/30
client_refused "overlap" "pool create: two overlapping ranges of one pool" \
    pool create p4 --ranges 198.18.0.140-198.18.0.150,198.18.0.148/30
refused 2 "exists" "pool create: existing name p1 -> 2" \
    ctl n1 pool create p1 --ranges 198.18.0.160/30
client_refused "host bits" "pool create: CIDR with host bits set" \
    pool create p4 --ranges 198.18.0.141/30
client_refused "prefix" "pool create: CIDR /33" \
    pool create p4 --ranges 198.18.0.140/33
client_refused "after end|start" "pool create: range start after end" \
    pool create p4 --ranges 198.18.0.150-198.18.0.140
client_refused "not an IPv4" "pool create: range 198.18.0.300-198.18.0.310" \
    pool create p4 --ranges 198.18.0.300-198.18.0.310
client_refused "name" "pool create: bad name P_4!" \
    pool create 'P_4!' --ranges 198.18.0.140/30
client_refused "name" "pool create: name of 64 characters" \
    pool create "$(printf 'p%.0s' $(seq 1 64))" --ranges 198.18.0.140/30
client_refused "selector|key=value" "pool create: bad node selector" \
    pool create p4 --ranges 198.18.0.140/30 --node-selector zone
client_refused "ranges" "pool create without --ranges" pool create p4

refused 2 "outside" "egress create: --ip outside --pool p1 -> 2" \
    ctl n1 egress create e4 --ip 198.18.0.150 --pool p1
refused 2 "198\.18\.0\.105|e2|taken|use" \
    "egress create: IP already held by e2 -> 2" \
    ctl n1 egress create e4 --ip 198.18.0.105 --pool p1
refused 2 "p1" "egress create: pinned IP inside pool p1 without --pool -> 2" \
    ctl n1 egress create e4 --ip 198.18.0.106
refused 2 "nope" "egress create: unknown pool -> 2" \
    ctl n1 egress create e4 --pool nope
refused 2 "exists" "egress create: existing name e1 -> 2" \
    ctl n1 egress create e1 --pool p1
state >"$E2E_TMP/state.after"
assert "none of these failed commands changed etcd (pools, egresses, IPs, owners, moves)" \
    diff "$E2E_TMP/state.before" "$E2E_TMP/state.after"
ctl n1 egress create e4 --pool p2 >/dev/null 2>&1 \
    || fail "egress create e4 --pool p2 (2nd of p2's 3 addresses)"
ctl n1 egress create e5 --pool p2 >/dev/null 2>&1 \
    || fail "egress create e5 --pool p2 (3rd of p2's 3 addresses)"
held45() { [ -n "$(eg_owner e4)" ] && [ -n "$(eg_owner e5)" ]; }
eg_wait 5000 held45 || fail "e4 and e5 are held within 5 s"
state >"$E2E_TMP/state.before"
refused 2 "free|exhaust" "egress create: pool p2 exhausted -> 2" \
    ctl n1 egress create e6 --pool p2
client_refused "prefix" "egress create: exempt CIDR /33" \
    egress create e6 --pool p1 --exempt 10.0.0.0/33
client_refused "host bits" "egress create: exempt CIDR with host bits" \
    egress create e6 --pool p1 --exempt 10.0.0.1/8
client_refused "not an IPv4|CIDR" "egress create: exempt 'ten'" \
    egress create e6 --pool p1 --exempt ten
client_refused "glob" "egress create: bad pod glob 'web['" \
    egress create e6 --pool p1 --pod 'web['
client_refused "glob" "egress create: bad namespace glob 'a[b'" \
    egress create e6 --pool p1 --namespace 'a[b'
client_refused "name" "egress create: bad name E6" egress create E6 --pool p1
client_refused "not an IPv4" "egress create: --ip 1.2.3" \
    egress create e6 --ip 1.2.3
client_refused "key=value|selector" "egress create: bad pod selector" \
    egress create e6 --pool p1 --pod-selector app
client_refused "--ip|--pool" "egress create without --ip or --pool" \
    egress create e6

refused 2 "e1|e2" "pool delete p1 while in use -> 2, naming the egress" \
    ctl n1 pool delete p1
refused 2 "nope" "pool delete: unknown pool -> 2" ctl n1 pool delete nope
refused 2 "nope" "pool show: unknown pool -> 2" ctl n1 pool show nope
refused 2 "nope" "egress show: unknown egress -> 2" ctl n1 egress show nope
refused 2 "nope" "egress delete: unknown egress -> 2" \
    ctl n1 egress delete nope
refused 2 "nope" "egress move: unknown egress -> 2" \
    ctl n1 egress move nope --to n1
refused 2 "n9" "egress move: unknown node -> 2" ctl n1 egress move e1 --to n9
refused 2 "eligible|n1" "egress move: node not in the pool (e3 to n1) -> 2" \
    ctl n1 egress move e3 --to n1
client_refused "--to" "egress move without --to" egress move e1
client_refused "command" "no command"
client_refused "command" "pool without a subcommand" pool
client_refused "command" "unknown command" pool frob
client_refused "unexpected|argument" "extra argument" pool list extra
client_refused "format|yaml" "-o yaml" -o yaml pool list

rc 1 "agent unreachable (-s /nonexistent) -> 1" \
    "$EG_CTL" -s /nonexistent pool list
assert "  ... and says so" grep -qi "connect\|agent" "$ERR"
rc 1 "agent unreachable (SLUICE_CTL_SOCKET=/nonexistent) -> 1" \
    env SLUICE_CTL_SOCKET=/nonexistent "$EG_CTL" egress list
rc 0 "SLUICE_CTL_SOCKET names the agent's socket -> 0" \
    env SLUICE_CTL_SOCKET="$LAB_DIR/n1/ctl.sock" "$EG_CTL" egress list
rc 0 "-s wins over SLUICE_CTL_SOCKET" env SLUICE_CTL_SOCKET=/nonexistent \
    "$EG_CTL" -s "$LAB_DIR/n1/ctl.sock" egress list
state >"$E2E_TMP/state.after"
assert "none of these failed commands changed etcd (pools, egresses, IPs, owners, moves)" \
    diff "$E2E_TMP/state.before" "$E2E_TMP/state.after"

# --- move and delete -------------------------------------------------------
echo "# egress move / delete, pool delete"
from=$(eg_owner e1)
if [ "$from" = n1 ]; then to=n2; else to=n1; fi
rc 0 "egress move e1 --to $to (from $from)" ctl n1 egress move e1 --to "$to"
assert "owners/e1 names $to within 5 s" eg_wait 5000 eg_owner_is e1 "$to"
assert_eq "egress show e1 names $to" "$to" "$(eg_field e1 .node)"
no_move() { ! lab etcdctl get /sluice/moves/e1 | grep -q .; }
assert "moves/e1 is cleared once done" eg_wait 3000 no_move
rc 0 "egress move e1 -o json" ctl n1 -o json egress move e1 --to "$to"
assert "egress move -o json parses" json_ok

rc 0 "egress delete e1" ctl n1 egress delete e1
assert_eq "e1's keys left etcd" "" "$(lab etcdctl get --prefix --keys-only \
    /sluice/ | grep -E "/e1(/|$)|/$E1_IP$")"
rc 0 "pool show p1 -o json" ctl n1 -o json pool show p1
assert_eq "pool p1: used 1 (e2)" "1 e2" \
    "$(jqo '"\(.used) \(.egresses | join(" "))"')"
for e in e2 e3 e4 e5; do
    ctl n1 egress delete "$e" >/dev/null 2>&1 || fail "egress delete $e"
done
rc 0 "pool delete p3 -o json" ctl n1 -o json pool delete p3
assert "pool delete -o json parses" json_ok
rc 0 "pool delete p1 (no longer in use)" ctl n1 pool delete p1
rc 0 "pool delete p2" ctl n1 pool delete p2
rc 0 "pool list -o json" ctl n1 -o json pool list
assert_eq "no pool left" 0 "$(jqo '.pools | length')"
rc 0 "egress list -o json" ctl n1 -o json egress list
assert_eq "no egress left" 0 "$(jqo '.egresses | length')"
assert_eq "no egress state left in etcd" "" "$(state)"

e2e_finish
