# Helpers for the multi-node overlay tests (test-ov-*.sh), sourced after
# lib.sh.
#
#   ov_pods NODES... -- PODS...   add PODS on every NODE; records addresses in
#                                 OV_IP[NODE/POD]
#   ov_ping NETNS TARGET COUNT [PING_ARGS...]
#                                 ping at 0.1 s intervals: every reply, no
#                                 duplicate (prints the summary)
#   ov_prime NETNS TARGET         one probe that may be lost (the first
#                                 packet to a new tunnel destination may go
#                                 while OVS resolves the underlay neighbour);
#                                 returns whether it got its answer
#   ov_wait MS CMD...             poll CMD every 0.1 s for up to MS ms;
#                                 OV_WAITED is the time it took (ms)
#   ov_tun_flows NODE IP          how many of NODE's br-int flows match
#                                 tun_src=IP or set tun_dst to IP
#   ov_tun_flows_are NODE IP N    ov_tun_flows NODE IP is N
#   ov_etcd_nodes                 node names registered in etcd (sorted)
#   ov_etcd_has_nodes NAMES...    etcd has exactly these node records
#   ov_tcp NAME SRC_NS DST_NS DST_IP BYTES [CHUNK_DELAY]
#                                 send BYTES of random data over TCP and
#                                 check they arrive intact; with
#                                 CHUNK_DELAY, the sender pauses that many
#                                 seconds after every 64 KiB
#   ov_inject KIND FROM_NS NODE_IP INNER_DST_MAC INNER_SRC INNER_DST COUNT
#                                 send COUNT Geneve (KIND=geneve, UDP 6081)
#                                 or VXLAN (UDP 4789) packets from FROM_NS's
#                                 kernel to NODE_IP, each carrying an ICMP
#                                 echo request INNER_SRC -> INNER_DST in an
#                                 Ethernet frame to INNER_DST_MAC
#   ov_gw_mac GATEWAY_IP          the MAC sluice gives a gateway (0a:58 + IP)
#   ov_flow_packets NODE MATCH    n_packets of br-int's one flow whose line
#                                 contains MATCH (a fixed string)
#   ov_capture_start NAME NETNS IFNAME FILTER
#                                 start tcpdump (inbound packets, immediate
#                                 mode) and wait until it listens
#   ov_capture_stop NAME          stop it; print how many packets it got
#   ov_monitor_start NAME NODE    start `ovs-ofctl monitor br-int watch:` on
#                                 NODE (every flow added, changed, deleted)
#   ov_monitor_deleted NAME REGEX stop monitor NAME; print the flow deletions
#                                 it saw whose line matches REGEX

# shellcheck disable=SC2034 # OV_IP and OV_WAITED are for the tests
declare -A OV_IP
OV_WAITED=0

ov_pods() {
    local nodes=() node pod
    while [ "$1" != -- ]; do
        nodes+=("$1")
        shift
    done
    shift
    for node in "${nodes[@]}"; do
        for pod in "$@"; do
            lab pod-add "$node" "$pod" >"$E2E_TMP/$node-$pod.json" \
                2>"$E2E_TMP/$node-$pod.err" || {
                cat "$E2E_TMP/$node-$pod.err"
                return 1
            }
            OV_IP[$node/$pod]=$(jq -r '.ips[0].address' \
                "$E2E_TMP/$node-$pod.json" | cut -d/ -f1)
        done
    done
}

ov_ping() {
    local ns=$1 target=$2 count=$3 out status
    shift 3
    out=$(ip netns exec "$ns" ping -n -c "$count" -i 0.1 -W 2 "$@" \
        "$target" 2>&1)
    status=$?
    echo "$out" | tail -n 3
    [ "$status" -eq 0 ] || return 1
    echo "$out" | grep -q " $count received, 0% packet loss" || return 1
    if echo "$out" | grep -q duplicates; then
        echo "duplicate replies"
        return 1
    fi
    return 0
}

ov_prime() {
    ip netns exec "$1" ping -n -c 1 -W 1 "$2" >/dev/null 2>&1
}

ov_wait() {
    local limit=$1 t0
    shift
    t0=$(now_ms)
    while :; do
        if "$@" >/dev/null 2>&1; then
            OV_WAITED=$(($(now_ms) - t0))
            return 0
        fi
        if [ $(($(now_ms) - t0)) -ge "$limit" ]; then
            OV_WAITED=$(($(now_ms) - t0))
            return 1
        fi
        sleep 0.1
    done
}

ov_tun_flows() {
    local ip=${2//./\\.}
    flows "$1" | grep -cE "tun_src=${ip}[ ,]|${ip}->tun_dst|tun_dst=${ip}[ ,]" \
        || true
}

ov_tun_flows_are() {
    [ "$(ov_tun_flows "$1" "$2")" -eq "$3" ]
}

ov_etcd_nodes() {
    lab etcdctl get --prefix --keys-only /sluice/nodes/ \
        | sed -n 's|^/sluice/nodes/||p' | sort | tr '\n' ' ' | sed 's/ $//'
}

ov_etcd_has_nodes() {
    [ "$(ov_etcd_nodes)" = "$*" ]
}

ov_tcp() {
    local name=$1 src=$2 dst=$3 ip=$4 bytes=$5 delay=${6:-} port=5201 pid
    local in=$E2E_TMP/$name.in out=$E2E_TMP/$name.out chunks i
    head -c "$bytes" /dev/urandom >"$in"
    rm -f "$out"
    ip netns exec "$dst" timeout 60 nc -l "$port" >"$out" </dev/null &
    pid=$!
    if ! wait_listen "$dst" "$port"; then
        echo "no listener on $port in $dst"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 1
    fi
    if [ -n "$delay" ]; then
        chunks=$(((bytes + 65535) / 65536))
        for ((i = 0; i < chunks; i++)); do
            dd if="$in" bs=65536 skip="$i" count=1 status=none
            sleep "$delay"
        done | ip netns exec "$src" timeout 60 nc -N "$ip" "$port"
    else
        ip netns exec "$src" timeout 60 nc -N "$ip" "$port" <"$in"
    fi
    local status=$?
    if [ "$status" -ne 0 ]; then
        echo "sender failed (status $status)"
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

ov_gw_mac() {
    # shellcheck disable=SC2086 # split the address into its four bytes
    printf '0a:58:%02x:%02x:%02x:%02x\n' ${1//./ }
}

ov_flow_packets() {
    flows "$1" | grep -F -- "$2" | head -n 1 \
        | sed -nE 's/.*n_packets=([0-9]+).*/\1/p'
}

ov_inject() {
    local kind=$1 ns=$2
    shift 2
    ip netns exec "$ns" python3 - "$kind" "$@" <<'PYEOF'
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


kind, node_ip, dst_mac, src_ip, dst_ip, count = sys.argv[1:7]
icmp = struct.pack('!BBHHH', 8, 0, 0, 0x5e1c, 1) + b'sluice-e2e-spoof' * 4
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                 socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
frame = (bytes.fromhex(dst_mac.replace(':', ''))
         + bytes.fromhex('0a580af40905') + b'\x08\x00' + ip + icmp)
if kind == 'geneve':
    # Version 0, no options, protocol Transparent Ethernet Bridging, VNI 0.
    header, port = struct.pack('!BBHI', 0, 0, 0x6558, 0), 6081
else:
    # Flags: VNI valid; VNI 0.
    header, port = struct.pack('!BBHI', 0x08, 0, 0, 0), 4789
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK: UDP checksum 0
for _ in range(int(count)):
    s.sendto(header + frame, (node_ip, port))
PYEOF
}

ov_monitor_start() {
    local name=$1 node=$2 file=$E2E_TMP/monitor.$1
    bg_start "monitor-$name" sh -c "OVS_RUNDIR='$LAB_DIR/$node/ovs' exec \
        ovs-ofctl -O OpenFlow15 monitor br-int watch: >'$file' 2>&1"
    # The reply listing the flows already there comes first.
    ov_wait 5000 grep -q INITIAL "$file"
}

ov_monitor_deleted() {
    local name=$1 regex=$2
    bg_kill "monitor-$name"
    grep 'event=DELETED' "$E2E_TMP/monitor.$name" | grep -E -- "$regex" \
        | cut -c1-160
    return 0
}

ov_capture_start() {
    local name=$1 ns=$2 ifname=$3 filter=$4 file=$E2E_TMP/ovcap.$1
    rm -f "$file.pcap" "$file.err"
    # Immediate mode: packets reach the file as they come, not when a
    # buffer block fills or times out (1 s), so stopping loses none.
    bg_start "ovcap-$name" ip netns exec "$ns" tcpdump -i "$ifname" -Q in \
        -n -U --immediate-mode -w "$file.pcap" "$filter" 2>"$file.err"
    ov_wait 5000 grep -q "listening on" "$file.err" && return 0
    echo "tcpdump in $ns did not start: $(cat "$file.err")" >&2
    return 1
}

ov_capture_stop() {
    local file=$E2E_TMP/ovcap.$1 pid
    pid=$(cat "$E2E_TMP/bg.ovcap-$1.pid")
    sleep 0.2
    kill -INT "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$E2E_TMP/bg.ovcap-$1.pid"
    tcpdump -n -r "$file.pcap" 2>/dev/null | wc -l
}
