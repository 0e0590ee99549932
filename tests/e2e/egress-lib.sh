# shellcheck shell=bash
# Helpers for the egress tests (test-egress-*.sh), sourced after lib.sh,
# and for tests/bench/failover.sh (which uses only eg_write_tool).
#
#   eg_write_tool FILE     write the probe tool (python3) to FILE; see its
#                          usage below (send, recv, stream, arpwatch, arp)
#   eg_init                e2e tests: writes the tool to $EG_TOOL and sets
#                          EG_CTL (sluicectl) and the lab's addresses
#   ctl NODE ARGS...       sluicectl against NODE's control socket
#   eg_field NAME JQ       `egress show NAME -o json` | jq -r JQ (from n1)
#   eg_owner NAME          the node etcd names in owners/NAME ("" if none)
#   eg_owner_is NAME NODE  eg_owner NAME is NODE
#   eg_phy_mac NODE        the MAC of NODE's br-phy (where its kernel
#                          answers ARP for the egress IPs it holds)
#   eg_node_of_mac MAC     the node whose br-phy has MAC ("?" if none)
#   eg_arp_macs IP [N]     the MACs (sorted, one a line) that answered
#                          ARP requests for IP sent from the external host
#                          to each node's br-phy MAC (N rounds, default 3,
#                          50 ms apart; unicast requests are answered at
#                          once, broadcast ones after a random proxy ARP
#                          delay)
#   eg_busybox_arping IP   `busybox arping -c 2 -I eth0 IP` on the external
#                          host; prints the distinct MACs that answered
#   eg_src_of NAME         the source addresses (sorted, unique) of the
#                          ICMP echo requests in capture NAME
#   eg_kill_node NODE      kill NODE's sluiced and ovs-vswitchd (SIGKILL,
#                          by pid): the node is dead; EG_KILLED_MS is when
#                          (ms since the epoch)
#   eg_revive_node NODE    start NODE's ovs-vswitchd again (flow-restore-
#                          wait), give br-phy back its address, start the
#                          agent
#   eg_cut_tunnels NODE / eg_heal_tunnels NODE
#                          drop (in the underlay's bridge, ebtables) every
#                          Geneve/VXLAN packet to or from NODE: OVS's
#                          userspace datapath sends and receives tunnel
#                          packets with packet sockets, so netfilter in the
#                          node's namespace never sees them
#   eg_ping_src NAME NODE POD DST [COUNT]
#                          ping DST from POD while capturing on the
#                          external host; EG_SRC: the sources seen
#   eg_prime NODE POD DST  one ping that may be lost
#   eg_wait MS CMD...      poll CMD every 0.1 s for up to MS ms
#                          (EG_WAITED: how long it took)
#   eg_cut_etcd NODE / eg_heal_etcd NODE
#                          drop (iptables in NODE's namespace) NODE's TCP
#                          traffic to and from etcd (198.18.0.2:2379)
#   eg_capture_start NAME NETNS FILTER
#                          lib.sh's capture_start in immediate mode
#   eg_stream_start NAME NODE POD RATE SECONDS / eg_stream_wait NAME /
#   eg_stream_stop NAME / eg_stream_report NAME [T0_MS]
#                          numbered UDP probes from POD to the external
#                          host, and their report (gap, loss, sources)
#   eg_arpwatch_start NAME IP / eg_arpwatch_stop NAME /
#   eg_arpwatch_report NAME [T0_MS [FROM_MS [TO_MS]]] / eg_arp_summary JSON
#                          who answers ARP for IP, asked every 20 ms

# shellcheck disable=SC2034 # EG_* results are for the tests
EG_ETCD_IP=198.18.0.2
EG_EXT_IP=198.18.0.200

eg_write_tool() {
    cat >"$1" <<'PYEOF'
"""Probe tool of the egress tests.

  send DST PORT RATE SECONDS SENT_FILE
      send UDP datagrams "SEQ" to DST:PORT at RATE per second for SECONDS
      (or until SIGTERM); writes the number sent and the end time (ns) to
      SENT_FILE at the end
  recv PORT OUT_FILE
      record UDP arrivals "T_NS SEQ SRC_IP" (until SIGTERM)
  stream OUT_FILE SENT_FILE [T0_MS]
      report of a recv record (JSON): received, lost, sources, the longest
      gap between arrivals (after T0_MS, ms since the epoch, if given),
      when traffic resumed after T0_MS, and the silence between the last
      arrival and the sender's end
  arpwatch IFACE IP INTERVAL_MS OUT_FILE [MAC...]
      every INTERVAL_MS (until SIGTERM), send an ARP request for IP from
      IFACE's address, broadcast or, with MACs, to each MAC; record
      "T_NS KIND MAC" per round of requests ("req") and per answer ("rep")
      or gratuitous ARP ("garp") about IP
  arp OUT_FILE [T0_MS [FROM_MS [TO_MS]]]
      report of an arpwatch record (JSON), or of its part from FROM_MS to
      TO_MS after T0_MS, times in ms after T0_MS: per
      MAC the first and last answer and the number of answers; the rounds
      of requests answered by two MACs, the first and last of them, and
      the overlap window (how long requests were answered by two MACs)
  arpcount IFACE IP N INTERVAL_MS [MAC...]
      send N requests, INTERVAL_MS apart, for IP (broadcast, or to each
      MAC) and print each answering MAC (one a line)
"""

import fcntl
import json
import signal
import socket
import struct
import sys
import time

stop = False


def on_term(signum, frame):
    global stop
    stop = True


def send(dst, port, rate, seconds, sent_file):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    interval = 1.0 / float(rate)
    start = time.monotonic()
    end = start + float(seconds)
    seq = 0
    while not stop:
        now = time.monotonic()
        if now >= end:
            break
        due = start + seq * interval
        if due > now:
            time.sleep(due - now)
            continue
        try:
            s.sendto(b"%d" % seq, (dst, int(port)))
        except OSError:
            pass
        seq += 1
    with open(sent_file, "w") as f:
        f.write("%d %d\n" % (seq, time.time_ns()))


def recv(port, out_file):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    s.settimeout(0.2)
    with open(out_file, "w", buffering=1) as out:
        while not stop:
            try:
                data, addr = s.recvfrom(2048)
            except socket.timeout:
                continue
            except InterruptedError:
                continue
            out.write("%d %s %s\n" % (time.time_ns(), data.decode(errors="replace"),
                                      addr[0]))


def stream(out_file, sent_file, t0_ms=None):
    arrivals = []
    with open(out_file) as f:
        for line in f:
            p = line.split()
            if len(p) == 3 and p[1].isdigit():
                arrivals.append((int(p[0]) / 1e6, int(p[1]), p[2]))
    sent, end = None, None
    try:
        with open(sent_file) as f:
            p = f.read().split()
        sent = int(p[0])
        end = int(p[1]) / 1e6 if len(p) > 1 else None
    except (OSError, ValueError, IndexError):
        pass
    seqs = {a[1] for a in arrivals}
    sources = {}
    for a in arrivals:
        sources[a[2]] = sources.get(a[2], 0) + 1
    rep = {"sent": sent, "received": len(arrivals), "unique": len(seqs),
           "lost": (sent - len(seqs)) if sent is not None else None,
           "sources": sources}
    t0 = float(t0_ms) if t0_ms else None
    gap, gap_start, gap_end = 0.0, None, None
    for prev, cur in zip(arrivals, arrivals[1:]):
        if t0 is not None and cur[0] < t0:
            continue
        if cur[0] - prev[0] > gap:
            gap, gap_start, gap_end = cur[0] - prev[0], prev[0], cur[0]
    rep["gap_ms"] = round(gap, 1)
    # Silence at the end: the probes stopped arriving before the sender
    # stopped (traffic resumed, then was lost again).
    if end is not None:
        last = arrivals[-1][0] if arrivals else (t0 or end)
        rep["tail_silence_ms"] = round(max(0.0, end - last), 1)
    if t0 is not None:
        rep["gap_start_after_t0_ms"] = (round(gap_start - t0, 1)
                                        if gap_start else None)
        rep["resumed_after_t0_ms"] = (round(gap_end - t0, 1)
                                      if gap_end else None)
        rep["after_t0"] = sum(1 for a in arrivals if a[0] >= t0)
        # Sequence numbers lost around T0: missing between the last one
        # before the gap and the first one after it.
        if gap_start is not None:
            before = max(a[1] for a in arrivals if a[0] <= gap_start)
            after = min(a[1] for a in arrivals if a[0] >= gap_end)
            rep["lost_in_gap"] = max(0, after - before - 1)
        if arrivals:
            rep["last_source"] = arrivals[-1][2]
    print(json.dumps(rep, sort_keys=True))


SIOCGIFHWADDR = 0x8927
SIOCGIFADDR = 0x8915
ETH_P_ARP = 0x0806


def iface_info(s, iface):
    req = struct.pack("256s", iface.encode()[:15])
    mac = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, req)[18:24]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ip = fcntl.ioctl(u.fileno(), SIOCGIFADDR, req)[20:24]
    u.close()
    return mac, ip


def arp_socket(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                      socket.htons(ETH_P_ARP))
    s.bind((iface, ETH_P_ARP))
    mac, ip = iface_info(s, iface)
    return s, mac, ip


def arp_request(mac, ip, target):
    return (b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip
            + b"\x00" * 6 + target)


def arp_parse(frame, mac, target):
    """("rep"|"garp", sender MAC) for an ARP frame about 'target', else
    None."""
    if len(frame) < 42:
        return None
    op = struct.unpack("!H", frame[20:22])[0]
    sha, spa = frame[22:28], frame[28:32]
    tha, tpa = frame[32:38], frame[38:42]
    if spa != target:
        return None
    smac = ":".join("%02x" % b for b in sha)
    if tpa == spa:
        return ("garp", smac)
    if op == 2 and (tha == mac or frame[0:6] == mac):
        return ("rep", smac)
    return None


def arpwatch(iface, target_ip, interval_ms, out_file, *macs):
    s, mac, ip = arp_socket(iface)
    target = socket.inet_aton(target_ip)
    bcast = arp_request(mac, ip, target)
    # Requests sent to each node's MAC are answered at once by a node that
    # answers for IP (the kernel delays its proxy ARP answers to broadcast
    # requests by up to neigh proxy_delay).
    reqs = [bytes.fromhex(m.replace(":", "")) + bcast[6:] for m in macs]
    reqs = reqs or [bcast]
    interval = float(interval_ms) / 1000.0
    nxt = time.monotonic()
    with open(out_file, "w", buffering=1) as out:
        while not stop:
            now = time.monotonic()
            if now >= nxt:
                for r in reqs:
                    s.send(r)
                out.write("%d req -\n" % time.time_ns())
                nxt += interval
                if nxt < now:
                    nxt = now + interval
            s.settimeout(max(0.0005, min(0.005, nxt - time.monotonic())))
            try:
                frame = s.recv(2048)
            except (socket.timeout, InterruptedError):
                continue
            r = arp_parse(frame, mac, target)
            if r:
                out.write("%d %s %s\n" % (time.time_ns(), r[0], r[1]))


def arp(out_file, t0_ms=None, from_ms=None, to_ms=None):
    reqs, reps, garps = [], [], []
    t0 = float(t0_ms) if t0_ms else 0.0
    lo = t0 + float(from_ms) if from_ms else float("-inf")
    hi = t0 + float(to_ms) if to_ms else float("inf")
    with open(out_file) as f:
        for line in f:
            p = line.split()
            if len(p) != 3:
                continue
            t = int(p[0]) / 1e6
            if t < lo or t > hi:
                continue
            if p[1] == "req":
                reqs.append(t)
            elif p[1] == "rep":
                reps.append((t, p[2]))
            elif p[1] == "garp":
                garps.append((t, p[2]))
    macs = {}
    for t, m in reps:
        e = macs.setdefault(m, {"first_ms": t, "last_ms": t, "answers": 0})
        e["last_ms"] = t
        e["answers"] += 1
    # Each answer belongs to the latest request sent before it.
    slots = {}
    i = 0
    for t, m in reps:
        while i + 1 < len(reqs) and reqs[i + 1] <= t:
            i += 1
        slots.setdefault(i, set()).add(m)
    double = sorted(k for k, v in slots.items() if len(v) > 1)
    # The overlap window: how long requests were answered by two MACs
    # (each such request counts until the next one was sent).
    overlap = 0.0
    for k in double:
        if k + 1 < len(reqs):
            overlap += reqs[k + 1] - reqs[k]
        elif k > 0:
            overlap += reqs[k] - reqs[k - 1]
    for e in macs.values():
        e["first_ms"] = round(e["first_ms"] - t0, 1)
        e["last_ms"] = round(e["last_ms"] - t0, 1)
    unanswered = [k for k in range(len(reqs)) if k not in slots]
    rep = {"requests": len(reqs), "macs": macs,
           "requests_answered_by_two": len(double),
           "overlap_ms": round(overlap, 1),
           "unanswered": len(unanswered),
           "garps": [[round(t - t0, 1), m] for t, m in garps]}
    if len(double):
        rep["first_double_ms"] = round(reqs[double[0]] - t0, 1)
        rep["last_double_ms"] = round(reqs[double[-1]] - t0, 1)
    if reps:
        rep["last_mac"] = reps[-1][1]
    print(json.dumps(rep, sort_keys=True))


def arpcount(iface, target_ip, n, interval_ms, *macs):
    s, mac, ip = arp_socket(iface)
    target = socket.inet_aton(target_ip)
    bcast = arp_request(mac, ip, target)
    reqs = [bytes.fromhex(m.replace(":", "")) + bcast[6:] for m in macs]
    reqs = reqs or [bcast]
    interval = float(interval_ms) / 1000.0
    for _ in range(int(n)):
        for r in reqs:
            s.send(r)
        end = time.monotonic() + interval
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                frame = s.recv(2048)
            except socket.timeout:
                break
            r = arp_parse(frame, mac, target)
            if r and r[0] == "rep":
                print(r[1], flush=True)


def main(argv):
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    cmds = {"send": send, "recv": recv, "stream": stream,
            "arpwatch": arpwatch, "arp": arp, "arpcount": arpcount}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
PYEOF
}

eg_init() {
    EG_TOOL=$E2E_TMP/egress-probe.py
    eg_write_tool "$EG_TOOL"
    EG_CTL=$BUILD/agent/sluicectl
    [ -x "$EG_CTL" ] || fatal "no sluicectl in $BUILD/agent"
}

ctl() {
    local node=$1
    shift
    "$EG_CTL" -s "$LAB_DIR/$node/ctl.sock" "$@"
}

eg_field() {
    ctl n1 -o json egress show "$1" | jq -r "$2"
}

eg_owner() {
    lab etcdctl get --print-value-only "/sluice/owners/$1" \
        | jq -r '.node // empty' 2>/dev/null
}

eg_owner_is() {
    [ "$(eg_owner "$1")" = "$2" ]
}

eg_phy_mac() {
    node_exec "$1" cat /sys/class/net/br-phy/address
}

eg_node_of_mac() {
    local nd node
    for nd in "$LAB_DIR"/n*; do
        node=$(basename "$nd")
        if [ "$(node_exec "$node" cat /sys/class/net/br-phy/address \
            2>/dev/null)" = "$1" ]; then
            echo "$node"
            return 0
        fi
    done
    echo "?"
}

eg_arp_macs() {
    local ip=$1 macs=() nd
    for nd in "$LAB_DIR"/n*; do
        macs+=("$(eg_phy_mac "$(basename "$nd")")")
    done
    ip netns exec "$LAB-ext" python3 "$EG_TOOL" arpcount eth0 "$ip" \
        "${2:-3}" 50 "${macs[@]}" | sort -u
}

eg_busybox_arping() {
    lab ext-exec busybox arping -c 2 -I eth0 "$1" 2>&1 \
        | sed -n 's/.*reply from [0-9.]* \[\([0-9a-fA-F:]*\)\].*/\1/p' \
        | tr 'A-F' 'a-f' | sort -u
}

eg_src_of() {
    tcpdump -n -r "$E2E_TMP/cap.$1.pcap" 'icmp[icmptype] == icmp-echo' \
        2>/dev/null | awk '{print $3}' | sort -u
}

eg_kill_node() {
    local node=$1 agent vswitchd pid i
    agent=$(cat "$LAB_DIR/$node/sluiced.pid") || return 1
    vswitchd=$(cat "$LAB_DIR/$node/ovs/ovs-vswitchd.pid") || return 1
    kill -KILL "$agent" || return 1
    kill -KILL "$vswitchd" || return 1
    EG_KILLED_MS=$(now_ms)
    rm -f "$LAB_DIR/$node/sluiced.pid"
    # Dead once a zombie (reaping may take a while here) or gone.
    for pid in "$agent" "$vswitchd"; do
        for i in $(seq 1 200); do
            [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] \
                && break
            [ -e "/proc/$pid" ] || break
            sleep 0.01
        done
    done
}

eg_revive_node() {
    local node=$1 i
    i=${node#n}
    lab ovs-restart "$node" || return 1
    node_exec "$node" ip addr replace "198.18.0.$((10 + i))/24" dev br-phy \
        || return 1
    node_exec "$node" ip link set br-phy up || return 1
    lab agent-start "$node"
}

eg_cut_tunnels() {
    local port=$LAB-$1 p
    for p in 6081 4789; do
        ip netns exec "$LAB-ul" ebtables -A FORWARD -p IPv4 -i "$port" \
            --ip-proto udp --ip-dport "$p" -j DROP || return 1
        ip netns exec "$LAB-ul" ebtables -A FORWARD -p IPv4 -o "$port" \
            --ip-proto udp --ip-dport "$p" -j DROP || return 1
    done
}

eg_heal_tunnels() {
    ip netns exec "$LAB-ul" ebtables -F FORWARD
}

eg_cut_etcd() {
    node_exec "$1" iptables -w -I OUTPUT -p tcp -d "$EG_ETCD_IP" \
        --dport 2379 -j DROP || return 1
    node_exec "$1" iptables -w -I INPUT -p tcp -s "$EG_ETCD_IP" \
        --sport 2379 -j DROP
}

eg_heal_etcd() {
    node_exec "$1" iptables -w -D OUTPUT -p tcp -d "$EG_ETCD_IP" \
        --dport 2379 -j DROP
    node_exec "$1" iptables -w -D INPUT -p tcp -s "$EG_ETCD_IP" \
        --sport 2379 -j DROP
}

# eg_ping_src NAME NODE POD DST [COUNT]: POD on NODE pings DST (default 3
# times, every reply expected) while the external host captures the echo
# requests for DST; prints the ping summary and the sources seen, and sets
# EG_SRC to them (sorted, unique, space-separated).  Fails if a ping is
# lost.
eg_ping_src() {
    local name=$1 node=$2 pod=$3 dst=$4 count=${5:-3} status=0
    EG_SRC=
    eg_capture_start "$name" "$LAB-ext" \
        "icmp[icmptype] == icmp-echo and dst host $dst" || return 1
    ping_ok "$LAB-$node-$pod" "$dst" "$count" || status=1
    sleep 0.2
    capture_stop "$name" >/dev/null
    EG_SRC=$(eg_src_of "$name" | tr '\n' ' ' | sed 's/ $//')
    echo "sources seen at $dst: ${EG_SRC:-none}"
    return "$status"
}

# eg_prime NODE POD DST: one ping that may be lost (the first packet to a
# new tunnel end may go while OVS resolves the underlay neighbour).
eg_prime() {
    ip netns exec "$LAB-$1-$2" ping -n -c 1 -W 1 "$3" >/dev/null 2>&1 || true
}

# eg_wait MS CMD...: polls CMD every 0.1 s for up to MS ms; EG_WAITED is
# the time it took (ms).
eg_wait() {
    local limit=$1 t0
    shift
    t0=$(now_ms)
    while :; do
        if "$@" >/dev/null 2>&1; then
            EG_WAITED=$(($(now_ms) - t0))
            return 0
        fi
        if [ $(($(now_ms) - t0)) -ge "$limit" ]; then
            EG_WAITED=$(($(now_ms) - t0))
            return 1
        fi
        sleep 0.1
    done
}

# eg_capture_start NAME NETNS FILTER: capture_start (lib.sh) in immediate
# mode, so that capture_stop right after the traffic misses nothing (tcpdump
# otherwise hands packets over in blocks, up to a second late).
eg_capture_start() {
    local name=$1 ns=$2 filter=$3 i
    local file=$E2E_TMP/cap.$name
    rm -f "$file.pcap" "$file.err"
    ip netns exec "$ns" tcpdump -i eth0 -Q in -n -U --immediate-mode \
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

# eg_stream_start NAME NODE POD RATE SECONDS: a receiver on the external
# host (UDP port 9000) records arrivals while POD on NODE sends RATE
# datagrams per second for SECONDS.  eg_stream_wait NAME waits for the
# sender and stops the receiver (eg_stream_stop NAME stops the sender
# first); eg_stream_report NAME [T0_MS] prints the
# tool's JSON report (see "stream" in the tool).
eg_stream_start() {
    local name=$1 node=$2 pod=$3 rate=$4 seconds=$5 i
    rm -f "$E2E_TMP/$name.rx" "$E2E_TMP/$name.sent"
    bg_start "$name-rx" ip netns exec "$LAB-ext" python3 "$EG_TOOL" recv \
        9000 "$E2E_TMP/$name.rx"
    for i in $(seq 1 100); do
        ip netns exec "$LAB-ext" ss -Hlun 'sport = :9000' | grep -q . && break
        sleep 0.05
    done
    bg_start "$name-tx" ip netns exec "$LAB-$node-$pod" python3 "$EG_TOOL" \
        send "$EG_EXT_IP" 9000 "$rate" "$seconds" "$E2E_TMP/$name.sent"
}

eg_stream_wait() {
    bg_wait "$1-tx"
    sleep 0.2
    bg_kill "$1-rx"
    local i
    for i in $(seq 1 50); do
        [ -s "$E2E_TMP/$1.sent" ] && break
        sleep 0.1
    done
}

eg_stream_stop() {
    [ -f "$E2E_TMP/bg.$1-tx.pid" ] \
        && kill -TERM "$(cat "$E2E_TMP/bg.$1-tx.pid")" 2>/dev/null
    eg_stream_wait "$1"
}

eg_stream_report() {
    python3 "$EG_TOOL" stream "$E2E_TMP/$1.rx" "$E2E_TMP/$1.sent" ${2:+"$2"}
}

# eg_arpwatch_start NAME IP: the external host asks every node's br-phy
# MAC for IP every 20 ms and records who answers; eg_arpwatch_stop NAME;
# eg_arpwatch_report NAME [T0_MS [FROM_MS [TO_MS]]] prints the tool's JSON
# report (see "arp" in the tool).
eg_arpwatch_start() {
    local name=$1 ip=$2 macs=() nd
    for nd in "$LAB_DIR"/n*; do
        macs+=("$(eg_phy_mac "$(basename "$nd")")")
    done
    rm -f "$E2E_TMP/$name.arp"
    bg_start "$name-arp" ip netns exec "$LAB-ext" python3 "$EG_TOOL" \
        arpwatch eth0 "$ip" 20 "$E2E_TMP/$name.arp" "${macs[@]}"
}

eg_arpwatch_stop() {
    bg_kill "$1-arp"
    sleep 0.1
}

eg_arpwatch_report() {
    local name=$1
    shift
    python3 "$EG_TOOL" arp "$E2E_TMP/$name.arp" "$@"
}

# eg_arp_summary JSON: one line about an arpwatch report, MACs as nodes.
eg_arp_summary() {
    local json=$1 mac out=""
    for mac in $(echo "$json" | jq -r '.macs | keys[]'); do
        out+="$(eg_node_of_mac "$mac") answered $(echo "$json" | jq -r \
            --arg m "$mac" '.macs[$m] | "\(.answers) times, \(.first_ms)..\(.last_ms) ms"'); "
    done
    echo "${out}requests answered by two nodes: $(echo "$json" \
        | jq -r .requests_answered_by_two), overlap window" \
        "$(echo "$json" | jq -r .overlap_ms) ms"
}
