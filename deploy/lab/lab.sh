#!/usr/bin/env bash
# The local lab: simulated sluice nodes on one machine.
#
# Each node is a network namespace with its own ovsdb-server and
# ovs-vswitchd (userspace datapath) and its own sluiced.  Nodes share an
# underlay: a Linux bridge in the lab's underlay namespace, 198.18.0.0/24.
# On each node the uplink sits on the netdev bridge br-phy, whose internal
# port holds the node's address 198.18.0.(10+i) (OVS userspace tunnelling
# needs that).  etcd runs in the underlay namespace at 198.18.0.2:2379, and
# an "external" host namespace sits on the underlay at 198.18.0.200.
# Pods are network namespaces attached through the real CNI shim, exactly
# as a runtime would call it.  Every name starts with the lab's name, so
# labs (and tests) never collide, and `down` removes exactly what `up` made.
#
#   lab.sh up LAB NODES [geneve|vxlan]
#                                  start NODES nodes (n1, n2, ...)
#   lab.sh down LAB                stop and remove everything of LAB
#   lab.sh node-add LAB NODE [--allocate]
#                                  add one more node to a running lab, like
#                                  `up` does; with --allocate its
#                                  sluiced.json has no pod_cidr, so that the
#                                  agent allocates a subnet from
#                                  cluster_cidr through etcd
#   lab.sh pod-add LAB NODE POD [NAMESPACE [LABELS]]
#                                  attach pod POD on NODE (prints the CNI
#                                  result); LABELS is k=v,k=v
#   lab.sh pod-del LAB NODE POD    detach it and remove its namespace
#   lab.sh pod-ip LAB NODE POD     print the pod's IPv4 address
#   lab.sh cni LAB NODE POD CMD    run the shim with CNI_COMMAND=CMD
#   lab.sh pod-exec LAB NODE POD CMD...   run CMD in the pod's namespace
#   lab.sh node-exec LAB NODE CMD...      run CMD in the node's namespace
#   lab.sh ext-exec LAB CMD...     run CMD in the external host's namespace
#   lab.sh etcdctl LAB ARGS...     etcdctl against the lab's etcd
#   lab.sh etcd-stop|etcd-start LAB
#   lab.sh agent-start|agent-stop|agent-kill LAB NODE
#   lab.sh ovs-restart LAB NODE    restart ovs-vswitchd (flow-restore-wait)
#   lab.sh ofctl LAB NODE ARGS...  ovs-ofctl for the node (e.g. dump-flows
#                                  br-int --names)
#   lab.sh vsctl LAB NODE ARGS...  ovs-vsctl on the node's database
#   lab.sh ctl LAB NODE ARGS...    sluicectl against the node's agent
#
# Environment: SLUICE_BUILD (build tree, default _build/plain),
# SLUICE_LAB_ROOT (state, default /tmp), SLUICE_LAB_POD_PREFIX (prefix
# length of each node's pod CIDR 10.244.I.0/P given to `up`, default 24),
# SLUICE_LAB_AGENT_EXTRA (a JSON object merged into each new node's
# sluiced.json, e.g. '{"egress_bfd_interval_ms": 50}').
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BUILD:-$top/_build/plain}
[[ $build = /* ]] || build=$top/$build
lab_root=${SLUICE_LAB_ROOT:-/tmp}
pod_prefix=${SLUICE_LAB_POD_PREFIX:-24}
ovs_sh=$top/deploy/lab/ovs.sh

cmd=${1:?usage: lab.sh COMMAND LAB ...}
lab=${2:?usage: lab.sh COMMAND LAB ...}
shift 2
case $lab in
*[!a-z0-9-]* | ???????????*)
    echo "lab.sh: lab name must be 1-10 characters of a-z, 0-9, -" >&2
    exit 2
    ;;
esac
dir=$lab_root/sluice-lab-$lab

die() {
    echo "lab.sh: $*" >&2
    exit 1
}

node_index() {
    local node=$1
    [[ $node =~ ^n([0-9]+)$ ]] || die "node must be n1, n2, ...: $node"
    echo "${BASH_REMATCH[1]}"
}

node_ns() { echo "$lab-$1"; }
node_dir() { echo "$dir/$1"; }
pod_ns() { echo "$lab-$1-$2"; }
underlay_ns() { echo "$lab-ul"; }
ext_ns() { echo "$lab-ext"; }
node_ip() { echo "198.18.0.$((10 + $(node_index "$1")))"; }
etcd_ip=198.18.0.2
ext_ip=198.18.0.200

etcd_start() {
    local ul
    ul=$(underlay_ns)
    ip netns exec "$ul" etcd --name "$lab" --data-dir "$dir/etcd" \
        --listen-client-urls "http://$etcd_ip:2379" \
        --advertise-client-urls "http://$etcd_ip:2379" \
        --listen-peer-urls http://127.0.0.1:2380 \
        --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster "$lab=http://127.0.0.1:2380" \
        --log-level warn --logger zap >>"$dir/etcd.log" 2>&1 &
    echo $! >"$dir/etcd.pid"
    local i
    for i in $(seq 1 100); do
        if ip netns exec "$ul" etcdctl --endpoints "http://$etcd_ip:2379" \
            endpoint health >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    die "etcd did not become healthy (see $dir/etcd.log)"
}

etcd_stop() {
    local pid i
    [ -f "$dir/etcd.pid" ] || return 0
    pid=$(cat "$dir/etcd.pid")
    rm -f "$dir/etcd.pid"
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Adds a veth from namespace NS (named IFNAME there) to the underlay bridge.
underlay_link() {
    local ns=$1 ifname=$2 port=$3 ul
    ul=$(underlay_ns)
    ip link add "$port" netns "$ul" type veth peer name "$ifname" netns "$ns"
    ip -n "$ul" link set "$port" master ul0 up
    ip netns exec "$ns" ethtool -K "$ifname" tx off >/dev/null
    ip netns exec "$ul" ethtool -K "$port" tx off >/dev/null
    ip -n "$ns" link set "$ifname" up
}

cni_config() {
    local node=$1
    printf '{"cniVersion":"1.1.0","name":"sluice","type":"sluice",'
    printf '"agentSocket":"%s/cni.sock"}' "$(node_dir "$node")"
}

agent_start() {
    local node=$1 nd
    nd=$(node_dir "$node")
    ip netns exec "$(node_ns "$node")" "$build/agent/sluiced" \
        --config "$nd/sluiced.json" >>"$nd/sluiced.log" 2>&1 &
    echo $! >"$nd/sluiced.pid"
}

# Waits until NODE's agent answers STATUS with success.
agent_wait_ready() {
    local node=$1 i
    for i in $(seq 1 200); do
        if cni_call "$node" STATUS "" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.05
    done
    die "agent on $node not ready after 10 s (see $(node_dir "$node")/sluiced.log)"
}

agent_stop() {
    local node=$1 signal=${2:-TERM} nd pid i
    nd=$(node_dir "$node")
    [ -f "$nd/sluiced.pid" ] || return 0
    pid=$(cat "$nd/sluiced.pid")
    rm -f "$nd/sluiced.pid"
    kill -"$signal" "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# cni_call NODE COMMAND POD: runs the shim as a runtime would.
cni_call() {
    local node=$1 command=$2 pod=$3 ns args
    ns=${4:-default}
    args="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$pod"
    cni_config "$node" | env -i PATH="$PATH" CNI_COMMAND="$command" \
        CNI_CONTAINERID="$lab-$node-$pod" \
        CNI_NETNS="/var/run/netns/$(pod_ns "$node" "$pod")" \
        CNI_IFNAME=eth0 CNI_ARGS="$args" CNI_PATH=/opt/cni/bin \
        "$build/plugin/sluice"
}

# node_create NODE TUNNEL [allocate]: creates NODE (namespace, uplink, OVS,
# sluiced.json) and starts its agent.  The node's pod CIDR is 10.244.I.0/P,
# or, with "allocate", left out of sluiced.json so that the agent allocates
# one from cluster_cidr through etcd.
node_create() {
    local node=$1 tunnel=$2 allocate=${3:-} i nd ns cidr_line
    i=$(node_index "$node")
    cidr_line=$'\n'"    \"pod_cidr\": \"10.244.$i.0/$pod_prefix\","
    [ "$allocate" != allocate ] || cidr_line=
    nd=$(node_dir "$node")
    ns=$(node_ns "$node")
    mkdir -p "$nd"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    underlay_link "$ns" uplink "$lab-$node"

    "$ovs_sh" start "$nd/ovs" "$ns"
    # br-phy keeps a MAC of its own: were it the uplink's, the node's
    # kernel would also take the frames OVS reads from the uplink and
    # answer every packet twice.
    "$ovs_sh" vsctl "$nd/ovs" add-br br-phy \
        -- set bridge br-phy datapath_type=netdev fail-mode=standalone \
        -- add-port br-phy uplink
    ip -n "$ns" addr add "$(node_ip "$node")/24" dev br-phy
    ip -n "$ns" link set br-phy up
    # The kernel must not answer ARP on the uplink for addresses it
    # does not own (OVS answers for egress IPs).
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1

    cat >"$nd/sluiced.json" <<EOF
{
    "node_name": "$node",
    "node_ip": "$(node_ip "$node")",
    "tunnel_type": "$tunnel",$cidr_line
    "etcd_endpoints": "http://$etcd_ip:2379",
    "cluster_cidr": "10.244.0.0/16",
    "ovs_rundir": "$nd/ovs",
    "cni_socket": "$nd/cni.sock",
    "ctl_socket": "$nd/ctl.sock",
    "state_dir": "$nd/state",
    "log_level": "info"
}
EOF
    if [ -n "${SLUICE_LAB_AGENT_EXTRA:-}" ]; then
        jq --argjson extra "$SLUICE_LAB_AGENT_EXTRA" '. + $extra' \
            "$nd/sluiced.json" >"$nd/sluiced.json.tmp" \
            || die "SLUICE_LAB_AGENT_EXTRA is not a JSON object"
        mv "$nd/sluiced.json.tmp" "$nd/sluiced.json"
    fi
    agent_start "$node"
}

lab_up() {
    local n_nodes=${1:?usage: lab.sh up LAB NODES [geneve|vxlan]}
    local tunnel=${2:-geneve} i node nd ns ul ext
    [ -x "$build/agent/sluiced" ] || die "no build in $build (run deploy/build.sh)"
    [ ! -e "$dir" ] || die "lab $lab exists ($dir); run: lab.sh down $lab"
    [[ $pod_prefix =~ ^(2[4-9]|30)$ ]] \
        || die "SLUICE_LAB_POD_PREFIX must be 24-30: $pod_prefix"
    mkdir -p "$dir"
    ul=$(underlay_ns)
    ip netns add "$ul"
    ip -n "$ul" link set lo up
    # A fixed MAC: by default a bridge takes the lowest MAC of its ports,
    # so it would change as nodes join, and nodes that resolved etcd's
    # address before would lose etcd until their neighbour entry expires.
    ip -n "$ul" link add ul0 address 02:00:c6:12:00:02 type bridge
    ip -n "$ul" addr add "$etcd_ip/24" dev ul0
    ip -n "$ul" link set ul0 up
    etcd_start

    ext=$(ext_ns)
    ip netns add "$ext"
    ip -n "$ext" link set lo up
    underlay_link "$ext" eth0 "$lab-ext"
    ip -n "$ext" addr add "$ext_ip/24" dev eth0

    for i in $(seq 1 "$n_nodes"); do
        node_create "n$i" "$tunnel"
    done
    for i in $(seq 1 "$n_nodes"); do
        agent_wait_ready "n$i"
    done
    echo "lab $lab: $n_nodes nodes up, $tunnel tunnels ($dir)"
}

lab_down() {
    local nd node ns pids=()
    [ -d "$dir" ] || return 0
    # The nodes stop in parallel: ovs-vswitchd takes seconds to exit.
    for nd in "$dir"/n*; do
        [ -d "$nd" ] || continue
        node=$(basename "$nd")
        (
            agent_stop "$node"
            "$ovs_sh" stop "$nd/ovs" || true
        ) &
        pids+=($!)
    done
    [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}" || true
    etcd_stop
    for ns in $(ip netns list | awk '{print $1}'); do
        case $ns in
        "$lab"-*) ip netns delete "$ns" ;;
        esac
    done
    rm -rf "$dir"
}

pod_add() {
    local node=$1 pod=$2 ns=${3:-default} labels=${4:-} pns config
    node_index "$node" >/dev/null
    pns=$(pod_ns "$node" "$pod")
    ip netns add "$pns"
    ip -n "$pns" link set lo up
    if [ -n "$labels" ]; then
        config=$(cni_config "$node" | jq -c --arg l "$labels" \
            '. + {args: {cni: {labels: ($l | split(",") | map(split("=") | {key: .[0], value: .[1]}))}}}')
        echo "$config" | env -i PATH="$PATH" CNI_COMMAND=ADD \
            CNI_CONTAINERID="$lab-$node-$pod" CNI_NETNS="/var/run/netns/$pns" \
            CNI_IFNAME=eth0 \
            CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$pod" \
            "$build/plugin/sluice"
    else
        cni_call "$node" ADD "$pod" "$ns"
    fi
}

pod_del() {
    local node=$1 pod=$2
    cni_call "$node" DEL "$pod" >/dev/null
    ip netns delete "$(pod_ns "$node" "$pod")" 2>/dev/null || true
}

case $cmd in
up) lab_up "$@" ;;
node-add)
    [ -d "$dir" ] || die "no lab $lab"
    node=${1:?usage: lab.sh node-add LAB NODE [--allocate]}
    case ${2:-} in
    "") allocate= ;;
    --allocate) allocate=allocate ;;
    *) die "usage: lab.sh node-add LAB NODE [--allocate]" ;;
    esac
    [ ! -e "$(node_dir "$node")" ] || die "node $node exists"
    node_create "$node" "$(jq -r .tunnel_type "$dir/n1/sluiced.json")" \
        "$allocate"
    agent_wait_ready "$node"
    ;;
down) lab_down ;;
pod-add) pod_add "$@" ;;
pod-del) pod_del "$@" ;;
pod-ip)
    ip -n "$(pod_ns "$1" "$2")" -4 -o addr show dev eth0 \
        | awk '{split($4, a, "/"); print a[1]}'
    ;;
cni) cni_call "$1" "$3" "$2" ;;
pod-exec)
    node=$1 pod=$2
    shift 2
    ip netns exec "$(pod_ns "$node" "$pod")" "$@"
    ;;
node-exec)
    node=$1
    shift
    ip netns exec "$(node_ns "$node")" "$@"
    ;;
ext-exec) ip netns exec "$(ext_ns)" "$@" ;;
etcdctl)
    ip netns exec "$(underlay_ns)" env ETCDCTL_API=3 etcdctl \
        --endpoints "http://$etcd_ip:2379" "$@"
    ;;
etcd-start) etcd_start ;;
etcd-stop) etcd_stop ;;
agent-start)
    agent_start "$1"
    agent_wait_ready "$1"
    ;;
agent-stop) agent_stop "$1" ;;
agent-kill) agent_stop "$1" KILL ;;
ovs-restart) "$ovs_sh" restart-vswitchd "$(node_dir "$1")/ovs" "$(node_ns "$1")" ;;
ofctl)
    node=$1
    shift
    OVS_RUNDIR=$(node_dir "$node")/ovs ovs-ofctl -O OpenFlow15 "$@"
    ;;
ctl)
    node=$1
    shift
    "$build/agent/sluicectl" -s "$(node_dir "$node")/ctl.sock" "$@"
    ;;
vsctl)
    node=$1
    shift
    ovs-vsctl --db="unix:$(node_dir "$node")/ovs/db.sock" "$@"
    ;;
*) die "unknown command $cmd" ;;
esac
