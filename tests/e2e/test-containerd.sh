#!/usr/bin/env bash
# A real runtime: a private containerd and `ctr run --cni` run a busybox
# container on the lab's node through a conflist with sluice first and the
# reference portmap plugin chained after it.  Checks that the container
# gets its address from sluice, that its traffic works, that portmap got
# sluice's result (its DNAT rule targets the container's address, and a
# connection to the mapped port reaches the container), and that removing
# the container runs DEL through the chain, which frees the address, the
# port and the mapping.
#
# ctr 1.6 reads the CNI configuration only from /etc/cni/net.d and the
# plugins only from /opt/cni/bin, and libcni caches results in
# /var/lib/cni.  So ctr runs in a private mount namespace (that of `ip
# netns exec` into the node) where those three directories are overlays
# whose upper layers live in the lab directory: nothing is written to the
# host's /etc, /opt or /var/lib.  The plugins therefore run in the node's
# network namespace, as they would on a real node, and portmap's iptables
# rules land there.
#
# Usage: test-containerd.sh BUILD_DIR LAB
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

GW=10.244.1.1
HOST_PORT=18080
CONTAINER_PORT=8080

# What this test needs from the machine; a missing piece is a failure that
# says exactly what is missing.
for tool in containerd ctr runc containerd-shim-runc-v2 busybox iptables; do
    command -v "$tool" >/dev/null || fatal "$tool is not installed (deploy/install-deps.sh)"
done
[ -x /usr/lib/cni/portmap ] \
    || fatal "/usr/lib/cni/portmap missing (package containernetworking-plugins)"
busybox_bin=$(command -v busybox)
ldd "$busybox_bin" 2>&1 | grep -q 'not a dynamic executable' \
    || fatal "$busybox_bin is not statically linked (package busybox-static)"
grep -qw overlay /proc/filesystems \
    || fatal "the kernel has no overlay filesystem (needed for private CNI dirs)"

lab up 1 >/dev/null || fatal "lab up"
lab pod-add n1 peer >"$E2E_TMP/peer.json" || fatal "ADD peer"
PEER=$(jq -r '.ips[0].address' "$E2E_TMP/peer.json" | cut -d/ -f1)

D=$LAB_DIR/ctrd
CTR_ID=c1
CNI_ID=$LAB-$CTR_ID          # ctr's CNI container id is NAMESPACE-ID
SOCK=$D/containerd.sock
mkdir -p "$D"/{root,state,runc,fifo,rootfs/bin,rootfs/res} \
    "$D"/cni/{etc/cni/net.d,opt/cni/bin,varlib,work-etc,work-opt,work-varlib}

# Host paths containerd creates whatever its configuration says (the shim's
# socket directory): remember which existed, remove only ours.
created_run=()
for p in /run/containerd /run/containerd/s; do
    [ -e "$p" ] || created_run+=("$p")
done
remove_run_dirs() {
    local i
    for ((i = ${#created_run[@]} - 1; i >= 0; i--)); do
        rmdir "${created_run[i]}" 2>/dev/null
    done
}
on_cleanup remove_run_dirs

# --- containerd ----------------------------------------------------------
cat >"$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/opt"
EOF
containerd --config "$D/config.toml" >"$D/containerd.log" 2>&1 &
CONTAINERD_PID=$!

ctr_() {
    ctr -a "$SOCK" -n "$LAB" "$@"
}

# Stops what the test started, by PID: the container's task, the ctr
# client, containerd, and any runc shim of this containerd (found by the
# -address argument naming this lab's socket).
stop_containerd() {
    ctr_ task kill -s SIGKILL "$CTR_ID" >/dev/null 2>&1
    sleep 0.2
    ctr_ task rm -f "$CTR_ID" >/dev/null 2>&1
    ctr_ container rm "$CTR_ID" >/dev/null 2>&1
    [ -n "${CTR_PID:-}" ] && kill "$CTR_PID" 2>/dev/null
    kill "$CONTAINERD_PID" 2>/dev/null
    local i pid
    for i in $(seq 1 50); do
        kill -0 "$CONTAINERD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$CONTAINERD_PID" 2>/dev/null
    for pid in $(shim_pids); do
        kill "$pid" 2>/dev/null
    done
    rmdir /sys/fs/cgroup/*/"$LAB-$CTR_ID" 2>/dev/null
}
shim_pids() {
    local f
    for f in /proc/[0-9]*/cmdline; do
        tr '\0' '\n' <"$f" 2>/dev/null | grep -qx -- "$SOCK" \
            && basename "$(dirname "$f")"
    done
}
on_cleanup stop_containerd

up=0
for i in $(seq 1 100); do
    if ctr_ version >/dev/null 2>&1; then
        up=1
        break
    fi
    kill -0 "$CONTAINERD_PID" 2>/dev/null || break
    sleep 0.1
done
if [ "$up" -ne 1 ]; then
    sed 's/^/    | /' "$D/containerd.log" | tail -n 20
    fatal "containerd did not start (log above)"
fi
pass "private containerd started (root, state and sockets in $D)"

# --- rootfs and CNI configuration -----------------------------------------
cp "$busybox_bin" "$D/rootfs/bin/busybox"
for applet in $("$busybox_bin" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$D/rootfs/bin/$applet"
done

cp "$BUILD/plugin/sluice" "$D/cni/opt/cni/bin/sluice"
ln -s /usr/lib/cni/portmap "$D/cni/opt/cni/bin/portmap"
# ctr 1.6 sends no port mappings of its own (its libcni injects
# capability arguments only when the runtime gives some), so portmap's
# runtimeConfig is written in the configuration.
jq -n --arg sock "$LAB_DIR/n1/cni.sock" --argjson hp "$HOST_PORT" \
    --argjson cp "$CONTAINER_PORT" '{
    cniVersion: "1.0.0",
    name: "sluice-e2e",
    plugins: [
        {type: "sluice", agentSocket: $sock},
        {type: "portmap", capabilities: {portMappings: true},
         runtimeConfig: {portMappings: [
             {hostPort: $hp, containerPort: $cp, protocol: "tcp"}]}}
    ]}' >"$D/cni/etc/cni/net.d/10-sluice-e2e.conflist"

# The container: reports its address and pings, serves one TCP connection
# on CONTAINER_PORT into /res/recv, and exits when /res/stop appears.
script="ip -4 -o addr show dev eth0 >/res/addr
ping -c 3 -W 2 $PEER >/res/ping.peer 2>&1; echo \$? >/res/ping.peer.rc
ping -c 3 -W 2 $GW >/res/ping.gw 2>&1; echo \$? >/res/ping.gw.rc
nc -l -p $CONTAINER_PORT >/res/recv &
touch /res/ready
while [ ! -e /res/stop ]; do sleep 0.1; done"

# ctr in the node's netns, with the private /etc/cni, /opt/cni, /var/lib/cni.
ov() {
    echo "mount -t overlay overlay -o lowerdir=$1,upperdir=$D/cni/$2,workdir=$D/cni/work-$2 $1"
}
ip netns exec "$LAB-n1" sh -c "$(ov /etc etc) && $(ov /opt opt) && $(ov /var/lib varlib) &&
    exec ctr -a $SOCK -n $LAB run --cni --rm --rootfs --runc-root $D/runc \
        --fifo-dir $D/fifo --cgroup /$LAB-$CTR_ID $D/rootfs $CTR_ID \
        /bin/sh -c '$script'" >"$D/ctr.out" 2>"$D/ctr.err" &
CTR_PID=$!

ready=0
for i in $(seq 1 150); do
    [ -e "$D/rootfs/res/ready" ] && { ready=1; break; }
    kill -0 "$CTR_PID" 2>/dev/null || break
    sleep 0.1
done
if [ "$ready" -ne 1 ]; then
    sed 's/^/    | ctr: /' "$D/ctr.err" | tail -n 20
    fatal "the container did not come up through ctr run --cni (ctr's errors above)"
fi
pass "ctr run --cni started the container through the sluice + portmap chain"

# --- while it runs -------------------------------------------------------
CIP=$(awk '{split($4, a, "/"); print a[1]}' "$D/rootfs/res/addr")
case $CIP in
10.244.1.*) pass "the container got an address from sluice: $CIP" ;;
*) fail "the container's eth0 address is '$CIP' ($(cat "$D/rootfs/res/addr"))" ;;
esac
assert_eq "the IPAM store lists container $CNI_ID with $CIP" "$CIP" \
    "$(jq -r --arg id "$CNI_ID" '.allocations[] | select(.container_id == $id) | .ip' \
        "$LAB_DIR/n1/state/ipam.json")"
port=$(lab vsctl n1 --bare --columns=name find Interface \
    "external_ids:sluice-container-id=$CNI_ID")
if [ -n "$port" ] && ports n1 | grep -qx "$port"; then
    pass "the container's host veth $port is a port of br-int"
else
    fail "no br-int port for container $CNI_ID"
fi
assert_eq "the container pinged the lab pod $PEER" 0 \
    "$(cat "$D/rootfs/res/ping.peer.rc")" || e2e_show "$D/rootfs/res/ping.peer"
assert_eq "the container pinged the gateway $GW" 0 \
    "$(cat "$D/rootfs/res/ping.gw.rc")" || e2e_show "$D/rootfs/res/ping.gw"
assert "the lab pod pings the container" ping_ok "$LAB-n1-peer" "$CIP"

dnat() {
    node_exec n1 iptables -t nat -S | grep -- "--to-destination $CIP:$CONTAINER_PORT"
}
assert "portmap got sluice's result: DNAT :$HOST_PORT -> $CIP:$CONTAINER_PORT in the node" dnat
token="sluice-e2e-$RANDOM-$RANDOM"
assert "a connection to the node's port $HOST_PORT is accepted" \
    sh -c "echo $token | ip netns exec $LAB-n1 nc -N -w 5 $GW $HOST_PORT"
for i in $(seq 1 30); do
    grep -q "$token" "$D/rootfs/res/recv" 2>/dev/null && break
    sleep 0.1
done
assert_eq "the data sent to the mapped port reached the container" \
    "$token" "$(cat "$D/rootfs/res/recv" 2>/dev/null)"

# --- container removal: DEL through the chain ------------------------------
touch "$D/rootfs/res/stop"
exited=0
for i in $(seq 1 200); do
    kill -0 "$CTR_PID" 2>/dev/null || { exited=1; break; }
    sleep 0.1
done
if [ "$exited" -eq 1 ]; then
    wait "$CTR_PID"
    status=$?
    CTR_PID=
    assert_eq "ctr run --rm exited with status 0" 0 "$status"
else
    fail "ctr run did not exit 20 s after the container was told to stop"
fi
if grep -qi 'error' "$D/ctr.err"; then
    fail "ctr reported errors (the CNI DEL among them?)"
    e2e_show "$D/ctr.err"
else
    pass "ctr reported no error when it removed the container's network"
fi
expect_fail "DEL freed the container's address $CIP" \
    grep -qx "$CIP" <(ipam_ips n1)
expect_fail "DEL: the IPAM store no longer lists $CNI_ID" \
    grep -q "^$CNI_ID " <(ipam_ids n1)
if [ -n "$port" ]; then
    expect_fail "DEL removed port $port from br-int" grep -qx "$port" <(ports n1)
fi
expect_fail "removal ran portmap's DEL too: its DNAT rule is gone" dnat
expect_fail "ctr left no CNI configuration on the host" test -e /etc/cni/net.d/10-sluice-e2e.conflist
assert "the lab pod still pings the gateway" ping_ok "$LAB-n1-peer" "$GW"

e2e_finish
