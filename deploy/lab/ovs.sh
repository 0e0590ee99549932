#!/usr/bin/env bash
# Runs a private Open vSwitch (ovsdb-server + ovs-vswitchd, userspace
# datapath) whose sockets, database, logs and pid files all live in DIR.
#
#   ovs.sh start DIR [NETNS [--flow-restore-wait]]
#                              start both daemons (inside NETNS if given)
#   ovs.sh stop DIR            stop the daemons started in DIR, by pid
#   ovs.sh restart-vswitchd DIR [NETNS]
#                              stop ovs-vswitchd and start it again with
#                              flow-restore-wait set, as a node reboot would
#   ovs.sh vsctl DIR ARGS...   ovs-vsctl against DIR's database
#
# A restarted ovs-vswitchd (restart-vswitchd, or start with
# --flow-restore-wait on a node that already has sluice state) comes up
# with other_config:flow-restore-wait=true, so that it forwards nothing
# until sluiced has installed its flows and cleared it.  A node's first
# start has no flows to wait for.
set -euo pipefail

cmd=${1:?usage: ovs.sh start|stop|vsctl DIR ...}
dir=${2:?usage: ovs.sh start|stop|vsctl DIR ...}
shift 2

export OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_LOGDIR=$dir OVS_SYSCONFDIR=$dir
schema=/usr/share/openvswitch/vswitch.ovsschema

vsctl() {
    ovs-vsctl --db="unix:$dir/db.sock" --timeout=10 "$@"
}

stop_pidfile() {
    local pidfile=$1 pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
}

# Runs a daemon (in $netns if set); its start-up chatter goes to a file
# that is shown only if it fails.
netns_run() {
    local status=0
    if [ -n "${netns:-}" ]; then
        ip netns exec "$netns" "$@" 2>>"$dir/start.log" || status=$?
    else
        "$@" 2>>"$dir/start.log" || status=$?
    fi
    if [ "$status" -ne 0 ]; then
        cat "$dir/start.log" >&2
    fi
    return "$status"
}

start_vswitchd() {
    if [ "${flow_restore_wait:-}" = --flow-restore-wait ]; then
        vsctl --no-wait set Open_vSwitch . \
            other_config:flow-restore-wait=true
    fi
    netns_run ovs-vswitchd "unix:$dir/db.sock" \
        --pidfile="$dir/ovs-vswitchd.pid" \
        --unixctl="$dir/ovs-vswitchd.ctl" \
        --log-file="$dir/ovs-vswitchd.log" -vconsole:off --detach --no-chdir
}

case $cmd in
start)
    netns=${1:-}
    flow_restore_wait=${2:-}
    mkdir -p "$dir"
    [ -f "$dir/conf.db" ] || ovsdb-tool create "$dir/conf.db" "$schema"
    netns_run ovsdb-server "$dir/conf.db" \
        --remote="punix:$dir/db.sock" \
        --pidfile="$dir/ovsdb-server.pid" \
        --unixctl="$dir/ovsdb-server.ctl" \
        --log-file="$dir/ovsdb-server.log" -vconsole:off --detach --no-chdir
    vsctl --no-wait init
    start_vswitchd
    ;;
restart-vswitchd)
    netns=${1:-}
    flow_restore_wait=--flow-restore-wait
    stop_pidfile "$dir/ovs-vswitchd.pid"
    start_vswitchd
    ;;
stop)
    stop_pidfile "$dir/ovs-vswitchd.pid"
    stop_pidfile "$dir/ovsdb-server.pid"
    ;;
vsctl)
    vsctl "$@"
    ;;
*)
    echo "ovs.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
