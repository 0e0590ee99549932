# Shared helpers for the end-to-end tests (sourced, not run).
#
# A test script is run as `test-NAME.sh BUILD_DIR LAB`: it brings up lab
# LAB with the build in BUILD_DIR, prints one line per assertion ("ok - ..."
# or "FAIL - ..."), tears the lab down whatever happens, and exits 0 only if
# every assertion passed.
#
#   e2e_init "$@"            parse the arguments, install the cleanup trap
#   on_cleanup CMD...        run CMD at exit (before the lab goes down;
#                            last registered runs first)
#   lab CMD ARGS...          deploy/lab/lab.sh CMD LAB ARGS...
#   assert MSG CMD...        pass if CMD exits 0, else fail showing its output
#   expect_fail MSG CMD...   pass if CMD exits non-zero
#   assert_eq MSG WANT GOT   pass if the strings are equal
#   pass MSG / fail MSG      count one assertion
#   fatal MSG                fail and stop the test (cleanup still runs)
#   e2e_finish               print the tally and exit 0/1

e2e_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_PASSED=0
E2E_FAILED=0
E2E_CLEANUPS=()

e2e_init() {
    local build=${1:-_build/plain}
    LAB=${2:-}
    E2E_NAME=$(basename "$0" .sh)
    if [ -z "$LAB" ]; then
        echo "usage: $0 BUILD_DIR LAB" >&2
        exit 2
    fi
    [[ $build = /* ]] || build=$e2e_top/$build
    export SLUICE_BUILD=$build
    BUILD=$build
    LAB_DIR=${SLUICE_LAB_ROOT:-/tmp}/sluice-lab-$LAB
    E2E_TMP=$(mktemp -d "/tmp/sluice-e2e-$LAB.XXXXXX")
    trap e2e_exit EXIT
    trap 'exit 130' INT TERM HUP
}

on_cleanup() {
    E2E_CLEANUPS+=("$*")
}

e2e_exit() {
    local status=$? i
    trap - EXIT INT TERM HUP
    for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${E2E_CLEANUPS[i]}" >/dev/null 2>&1 || true
    done
    if [ "$status" -ne 0 ] || [ "$E2E_FAILED" -gt 0 ]; then
        e2e_dump_logs
    fi
    "$e2e_top/deploy/lab/lab.sh" down "$LAB" >/dev/null 2>&1 || true
    rm -rf "$E2E_TMP"
    if [ "$status" -eq 0 ] && [ "$E2E_FAILED" -gt 0 ]; then
        status=1
    fi
    exit "$status"
}

# Shows the end of the lab's daemon logs (before the lab goes away).
e2e_dump_logs() {
    local log
    for log in "$LAB_DIR"/n*/sluiced.log "$LAB_DIR"/n*/ovs/ovs-vswitchd.log; do
        [ -s "$log" ] || continue
        echo "--- last lines of ${log#"$LAB_DIR"/}"
        tail -n 25 "$log" | sed 's/^/    /'
    done
}

lab() {
    local cmd=$1
    shift
    "$e2e_top/deploy/lab/lab.sh" "$cmd" "$LAB" "$@"
}

pass() {
    E2E_PASSED=$((E2E_PASSED + 1))
    echo "ok - $*"
}

fail() {
    E2E_FAILED=$((E2E_FAILED + 1))
    echo "FAIL - $*"
}

fatal() {
    fail "$*"
    echo "$E2E_NAME: stopped after a fatal failure"
    e2e_tally
    exit 1
}

# Shows (indented) what a failed command printed.
e2e_show() {
    [ -s "$1" ] && sed -n '1,20s/^/    | /p' "$1"
    return 0
}

assert() {
    local msg=$1 out=$E2E_TMP/assert.out
    shift
    if "$@" >"$out" 2>&1; then
        pass "$msg"
        return 0
    fi
    fail "$msg (command: $*)"
    e2e_show "$out"
    return 1
}

expect_fail() {
    local msg=$1 out=$E2E_TMP/assert.out
    shift
    if "$@" >"$out" 2>&1; then
        fail "$msg (command succeeded: $*)"
        e2e_show "$out"
        return 1
    fi
    pass "$msg"
    return 0
}

assert_eq() {
    local msg=$1 want=$2 got=$3
    if [ "$want" = "$got" ]; then
        pass "$msg"
        return 0
    fi
    fail "$msg (want '$want', got '$got')"
    return 1
}

e2e_tally() {
    echo "$E2E_NAME: $E2E_PASSED passed, $E2E_FAILED failed"
}

e2e_finish() {
    e2e_tally
    [ "$E2E_FAILED" -eq 0 ] && exit 0
    exit 1
}

# Time in milliseconds since the epoch.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# Helpers about the lab.

pod_exec() {
    local node=$1 pod=$2
    shift 2
    ip netns exec "$LAB-$node-$pod" "$@"
}

node_exec() {
    local node=$1
    shift
    ip netns exec "$LAB-$node" "$@"
}

# ipam_ips NODE: the addresses NODE's IPAM store lists, one a line.
ipam_ips() {
    jq -r '.allocations[].ip' "$LAB_DIR/$1/state/ipam.json"
}

# ipam_ids NODE: the "container_id ifname" pairs in NODE's IPAM store.
ipam_ids() {
    jq -r '.allocations[] | "\(.container_id) \(.ifname)"' \
        "$LAB_DIR/$1/state/ipam.json"
}

# ports NODE: the ports of br-int on NODE.
ports() {
    lab vsctl "$1" list-ports br-int
}

# flows NODE [MATCH]: br-int's flows, with table and port names.
flows() {
    lab ofctl "$1" dump-flows br-int --names ${2:+"$2"}
}

# ping_ok NETNS TARGET [COUNT]: ping must get every reply and no duplicate.
ping_ok() {
    local ns=$1 target=$2 count=${3:-2} out
    out=$(ip netns exec "$ns" ping -n -c "$count" -i 0.2 -W 2 "$target" 2>&1)
    local status=$?
    echo "$out" | tail -n 3
    [ "$status" -eq 0 ] || return 1
    echo "$out" | grep -q " $count received" || return 1
    if echo "$out" | grep -q duplicates; then
        echo "duplicate replies"
        return 1
    fi
    return 0
}

# cni_run NODE COMMAND CONTAINERID NETNS CONFIG_JSON: runs the real shim as
# a runtime would, for tests that need a configuration lab.sh's `cni` does
# not send (prevResult, GC's valid attachments).  Prints the shim's output.
cni_run() {
    local node=$1 command=$2 cid=$3 netns=$4 config=$5
    echo "$config" | env -i PATH="$PATH" CNI_COMMAND="$command" \
        ${cid:+CNI_CONTAINERID="$cid"} ${netns:+CNI_NETNS="$netns"} \
        CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin "$BUILD/plugin/sluice"
}

# cni_config NODE [CNI_VERSION]: the network configuration the lab uses.
cni_config() {
    jq -nc --arg sock "$LAB_DIR/$1/cni.sock" --arg v "${2:-1.1.0}" \
        '{cniVersion: $v, name: "sluice", type: "sluice",
          agentSocket: $sock}'
}

# is_cni_error TEXT: TEXT is a CNI error object (integer code, string msg).
is_cni_error() {
    echo "$1" | jq -e '(.code | type == "number") and (.code > 0)
        and (.msg | type == "string")' >/dev/null 2>&1
}

# wait_listen NETNS PORT: waits (up to 5 s) for a TCP listener.
wait_listen() {
    local ns=$1 port=$2 i
    for i in $(seq 1 100); do
        if ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q .; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# tcp_transfer SRC_NETNS DST_NETNS DST_IP: sends 1 MiB of random data over
# TCP from SRC to a listener in DST and checks it arrives intact.
tcp_transfer() {
    local src=$1 dst=$2 ip=$3 port=5001 in out pid
    in=$E2E_TMP/tcp.in
    out=$E2E_TMP/tcp.out
    head -c 1048576 /dev/urandom >"$in"
    rm -f "$out"
    ip netns exec "$dst" timeout 30 nc -l "$port" >"$out" </dev/null &
    pid=$!
    if ! wait_listen "$dst" "$port"; then
        echo "no listener on $port in $dst"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 1
    fi
    if ! ip netns exec "$src" timeout 30 nc -N "$ip" "$port" <"$in"; then
        echo "client failed"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 1
    fi
    wait "$pid"
    local a b
    a=$(sha256sum <"$in" | cut -d' ' -f1)
    b=$(sha256sum <"$out" | cut -d' ' -f1)
    echo "sent $(stat -c %s "$in") bytes sha256 $a"
    echo "got  $(stat -c %s "$out") bytes sha256 $b"
    [ "$a" = "$b" ]
}

# capture_start NAME NETNS FILTER: starts tcpdump on NETNS's eth0 (or on
# $CAPTURE_IF) writing to a file, and waits until it listens.
capture_start() {
    local name=$1 ns=$2 filter=$3 i
    local file=$E2E_TMP/cap.$name
    rm -f "$file.pcap" "$file.err"
    ip netns exec "$ns" tcpdump -i "${CAPTURE_IF:-eth0}" -Q in -n -U \
        -w "$file.pcap" "$filter" 2>"$file.err" &
    echo $! >"$file.pid"
    on_cleanup "capture_kill $name"
    for i in $(seq 1 100); do
        grep -q "listening on" "$file.err" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "tcpdump in $ns did not start: $(cat "$file.err")" >&2
    return 1
}

# capture_kill NAME: stops the capture NAME if it still runs.
capture_kill() {
    local file=$E2E_TMP/cap.$1
    [ -f "$file.pid" ] && kill -INT "$(cat "$file.pid")" 2>/dev/null
    rm -f "$file.pid"
}

# capture_stop NAME: stops the capture and prints how many packets it got
# (give packets in flight time to arrive before calling it).
capture_stop() {
    local file=$E2E_TMP/cap.$1 pid
    pid=$(cat "$file.pid")
    kill -INT "$pid" 2>/dev/null
    local i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    rm -f "$file.pid"
    tcpdump -n -r "$file.pcap" 2>/dev/null | wc -l
}

# capture_show NAME: prints the captured packets.
capture_show() {
    tcpdump -n -e -r "$E2E_TMP/cap.$1.pcap" 2>/dev/null | sed 's/^/    | /'
}

# icmp_in_echos NETNS: echo requests NETNS's kernel has received.
icmp_in_echos() {
    ip netns exec "$1" awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++)
        if ($i == "InEchos") c = i; h = 1 } else print $c }' /proc/net/snmp
}

# spoof_drops NODE: packets SpoofGuard's table-miss flow has dropped.
spoof_drops() {
    flows "$1" table=SpoofGuard | grep -E 'priority=0[ ,]' \
        | sed -E 's/.*n_packets=([0-9]+).*/\1/'
}

# spoof_drops_wait NODE MIN: polls (up to 3 s) until spoof_drops reaches
# MIN, since ovs-vswitchd updates OpenFlow counters from the datapath only
# every few hundred ms; prints the last value.
spoof_drops_wait() {
    local node=$1 min=$2 i n
    for i in $(seq 1 30); do
        n=$(spoof_drops "$node")
        [ "$n" -ge "$min" ] && break
        sleep 0.1
    done
    echo "$n"
}

# bg_start NAME CMD...: runs CMD in the background (killed at cleanup if
# it still runs); bg_wait NAME waits for it and returns its status;
# bg_running NAME tells whether it still runs.
bg_start() {
    local name=$1
    shift
    "$@" &
    echo $! >"$E2E_TMP/bg.$name.pid"
    on_cleanup "bg_kill $name"
}

bg_running() {
    [ -f "$E2E_TMP/bg.$1.pid" ] && kill -0 "$(cat "$E2E_TMP/bg.$1.pid")" 2>/dev/null
}

bg_wait() {
    local pid status
    pid=$(cat "$E2E_TMP/bg.$1.pid")
    wait "$pid"
    status=$?
    rm -f "$E2E_TMP/bg.$1.pid"
    return "$status"
}

bg_kill() {
    [ -f "$E2E_TMP/bg.$1.pid" ] && kill "$(cat "$E2E_TMP/bg.$1.pid")" 2>/dev/null
    rm -f "$E2E_TMP/bg.$1.pid"
}
