# shellcheck shell=bash
# Common code of the benchmarks in tests/bench/, sourced by each of them.
#
# A benchmark calls bench_init, which makes a private work directory,
# builds the timing helper (cnirun.c) and installs a trap that removes
# everything the benchmark made, even on failure: the lab (bench_lab_up),
# the network namespaces it created (bench_netns_create), the work
# directory.  Nothing is shared with other labs or tests: every name starts
# with the benchmark's lab name.
#
# Environment: SLUICE_BUILD (build tree, default _build/plain),
# SLUICE_LAB_ROOT (lab state, default /tmp), BENCH_REF_CNI_PATH (reference
# plugins, default /usr/lib/cni), CC.

set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$bench_dir/../.." && pwd)
build=${SLUICE_BUILD:-$top/_build/plain}
[[ $build = /* ]] || build=$top/$build
export SLUICE_BUILD=$build
export SLUICE_LAB_ROOT=${SLUICE_LAB_ROOT:-/tmp}
lab_sh=$top/deploy/lab/lab.sh
ref_cni=${BENCH_REF_CNI_PATH:-/usr/lib/cni}
report_py=$bench_dir/report.py

# shellcheck disable=SC2034 # set and read by the benchmarks
quick=false
work=
lab=
lab_owned=false

bench_die() {
    echo "$bench_name: $*" >&2
    exit 1
}

bench_log() {
    echo "[$bench_name] $*" >&2
}

# bench_init NAME LAB: checks prerequisites, makes the work directory and
# the cleanup trap.  LAB is the lab's name (1-10 characters).
bench_init() {
    bench_name=$1
    lab=$2
    [ "$(id -u)" = 0 ] || bench_die "must run as root (network namespaces)"
    [ -x "$build/agent/sluiced" ] && [ -x "$build/plugin/sluice" ] \
        || bench_die "no build in $build (run deploy/build.sh or make)"
    [ -x "$ref_cni/bridge" ] && [ -x "$ref_cni/host-local" ] \
        || bench_die "reference plugins bridge and host-local not in" \
            "$ref_cni (apt-get install containernetworking-plugins)"
    command -v python3 >/dev/null || bench_die "python3 is needed"
    [ ! -e "$SLUICE_LAB_ROOT/sluice-lab-$lab" ] \
        || bench_die "lab $lab exists; remove it with: $lab_sh down $lab"

    work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-$bench_name.XXXXXX")
    : >"$work/netns"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$work/cnirun" \
        "$bench_dir/cnirun.c" || bench_die "cannot build cnirun"
}

bench_cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$work" ] && [ -s "$work/netns" ]; then
        sed 's/^/netns delete /' "$work/netns" \
            | ip -force -batch - >/dev/null 2>&1
    fi
    if $lab_owned; then
        "$lab_sh" down "$lab" >/dev/null 2>&1 \
            || echo "$bench_name: lab.sh down $lab failed" >&2
    fi
    if [ -n "$work" ]; then
        rm -rf "$work"
    fi
    exit "$status"
}

# bench_lab_up: starts a one-node lab; node n1 then serves CNI requests.
bench_lab_up() {
    lab_owned=true
    "$lab_sh" up "$lab" 1 >/dev/null || bench_die "lab.sh up $lab failed"
    node_dir=$SLUICE_LAB_ROOT/sluice-lab-$lab/n1
    node_ns=$lab-n1
    sluice_conf=$work/sluice.json
    printf '{"cniVersion":"1.0.0","name":"sluice","type":"sluice",%s}\n' \
        "\"agentSocket\":\"$node_dir/cni.sock\"" >"$sluice_conf"
}

# bench_ref_up: makes the reference's "host": a network namespace in which
# the bridge plugin creates its bridge and host ends, and the reference's
# network configuration.
bench_ref_up() {
    ref_ns=$lab-rh
    bench_netns_create "$ref_ns"
    ip -n "$ref_ns" link set lo up
    ref_conf=$work/ref.json
    mkdir -p "$work/ref-ipam"
    local ipam
    ipam='{"type":"host-local","subnet":"10.99.0.0/16",'
    ipam+="\"dataDir\":\"$work/ref-ipam\"}"
    printf '{"cniVersion":"1.0.0","name":"ref","type":"bridge",%s%s}\n' \
        '"bridge":"refbr0","isGateway":true,"ipMasq":false,' \
        "\"ipam\":$ipam" >"$ref_conf"
}

# bench_netns_create NAME...: creates network namespaces (removed by the
# cleanup if not before).
bench_netns_create() {
    printf '%s\n' "$@" >>"$work/netns"
    printf 'netns add %s\n' "$@" | ip -batch - \
        || bench_die "cannot create network namespaces"
}

# bench_netns_delete NAME...
bench_netns_delete() {
    printf 'netns delete %s\n' "$@" | ip -force -batch - >/dev/null 2>&1 \
        || true
    local tmp=$work/netns.tmp
    printf '%s\n' "$@" | grep -vxFf - "$work/netns" >"$tmp" || true
    mv "$tmp" "$work/netns"
}

# plan_call SIDE TAG COMMAND POD [OUT]: prints a cnirun plan line for
# calling SIDE's plugin (s: the sluice shim, r: the reference bridge
# plugin) for pod POD, whose network namespace is $lab-SIDE-POD.  Both are
# run the same way: from within the node's (host's) network namespace,
# with the same CNI_ARGS.
plan_call() {
    local side=$1 tag=$2 command=$3 pod=$4 out=${5:--} netns plugin conf
    local cni_path
    case $side in
    s)
        netns=/var/run/netns/$node_ns
        plugin=$build/plugin/sluice
        conf=$sluice_conf
        cni_path=/opt/cni/bin
        ;;
    r)
        netns=/var/run/netns/$ref_ns
        plugin=$ref_cni/bridge
        conf=$ref_conf
        cni_path=$ref_cni
        ;;
    *) bench_die "plan_call: bad side $side" ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tag" "$netns" \
        "$plugin" "$conf" "$command" "$lab-$side-$pod" \
        "/var/run/netns/$lab-$side-$pod" eth0 \
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=$pod" \
        "$cni_path" "$out"
}

# pod_netns SIDE POD...: prints the pods' network namespace names.
pod_netns() {
    local side=$1 pod
    shift
    for pod in "$@"; do
        echo "$lab-$side-$pod"
    done
}

# check_statuses FILE WHAT: fails unless every call in cnirun output FILE
# succeeded; shows the first failures' output.
check_statuses() {
    local file=$1 what=$2 failed
    failed=$(awk -F'\t' '$1 != "total" && $3 != 0' "$file" | wc -l)
    if [ "$failed" -ne 0 ]; then
        echo "$bench_name: $failed of $what failed:" >&2
        awk -F'\t' '$1 != "total" && $3 != 0' "$file" | head -5 >&2
        return 1
    fi
}

# links NETNS ARGS...: lists links (ip -o link show ARGS) of NETNS, one a
# line, retrying a dump that links changing under it interrupted.
links() {
    local netns=$1 i
    shift
    for i in 1 2 3 4 5 6 7 8 9 10; do
        if ip -n "$netns" -o link show "$@" >"$work/links" \
            2>"$work/links.err" && [ ! -s "$work/links.err" ]; then
            cat "$work/links"
            return 0
        fi
        sleep 0.05
    done
    bench_die "cannot list the links of $netns: $(cat "$work/links.err")"
}

# side_ports SIDE: prints the number of pod ports on SIDE's bridge.
side_ports() {
    if [ "$1" = s ]; then
        "$lab_sh" vsctl "$lab" n1 --bare --columns=name find Interface \
            external_ids:sluice-ifname=eth0 | grep -c . || true
    else
        links "$ref_ns" master refbr0 | wc -l
    fi
}

# wait_veths_gone: waits until the node has no pod veth left (sluiced
# deletes them in the background after answering DEL), so that a
# measurement does not overlap with the previous one's clean-up.
wait_veths_gone() {
    local i
    for i in $(seq 1 200); do
        if ! links "$node_ns" type veth | awk -F': ' '{print $2}' \
            | grep -qv '^uplink@'; then
            return 0
        fi
        sleep 0.05
    done
    bench_log "warning: pod veths still on node n1 after 10 s"
}

# storm SIDE N ROUND RESULTS: attaches N pods of SIDE at once, then
# detaches the attached ones all at once; appends the calls (tags
# SIDE.ROUND) to RESULTS.  Checks that the ADDs that succeeded got
# distinct addresses, that the plugin's bridge has a port for each of them
# and none after the DELs.  Failed calls do not stop the benchmark: they
# are counted in $work/failures ("SIDE COMMAND N-FAILED N-CALLS"), their
# output is kept in $work/failure-msgs, and the report shows them; the
# pods they leave are detached by sequential DELs, untimed, so that the
# next storm starts from a clean node.
storm() {
    local side=$1 n=$2 round=$3 results=$4 i p pods=() out ok=() left=()
    local statuses n_failed
    for i in $(seq 1 "$n"); do
        pods+=("st$round-$i")
    done
    mapfile -t names < <(pod_netns "$side" "${pods[@]}")
    bench_netns_create "${names[@]}"
    out=$work/storm-$side-$round
    mkdir -p "$out"
    for p in "${pods[@]}"; do
        plan_call "$side" "$side.$round" ADD "$p" "$out/$p.add"
    done >"$work/plan-add"

    "$work/cnirun" storm "$work/plan-add" >"$work/res-add"
    mapfile -t statuses < <(awk -F'\t' '$1 != "total" {print $3}' \
        "$work/res-add")
    for i in "${!pods[@]}"; do
        p=${pods[$i]}
        if [ "${statuses[$i]}" = 0 ]; then
            ok+=("$p")
        else
            left+=("$p")
            { cat "$out/$p.add"; echo; } >>"$work/failure-msgs"
        fi
    done
    n_failed=$((n - ${#ok[@]}))
    echo "$side ADD $n_failed $n" >>"$work/failures"
    if [ "$n_failed" -gt 0 ]; then
        bench_log "$n_failed of $n concurrent ADDs failed ($side)"
    fi
    if [ ${#ok[@]} -gt 0 ]; then
        local files=()
        for p in "${ok[@]}"; do
            files+=("$out/$p.add")
        done
        python3 "$report_py" check-ips ${#ok[@]} "${files[@]}"
    fi
    local ports
    ports=$(side_ports "$side")
    [ "$ports" -eq ${#ok[@]} ] \
        || bench_die "$side: $ports ports on the bridge after" \
            "${#ok[@]} successful ADDs"

    # The attached pods, at once.
    for p in "${ok[@]}"; do
        plan_call "$side" "$side.$round" DEL "$p" "$out/$p.del"
    done >"$work/plan-del"
    "$work/cnirun" storm "$work/plan-del" >"$work/res-del"
    mapfile -t statuses < <(awk -F'\t' '$1 != "total" {print $3}' \
        "$work/res-del")
    n_failed=0
    for i in "${!ok[@]}"; do
        p=${ok[$i]}
        if [ "${statuses[$i]}" != 0 ]; then
            n_failed=$((n_failed + 1))
            left+=("$p")
            { cat "$out/$p.del"; echo; } >>"$work/failure-msgs"
        fi
    done
    echo "$side DEL $n_failed ${#ok[@]}" >>"$work/failures"
    if [ "$n_failed" -gt 0 ]; then
        bench_log "$n_failed of ${#ok[@]} concurrent DELs failed ($side)"
    fi

    # Whatever failed is detached one by one, untimed.
    if [ ${#left[@]} -gt 0 ]; then
        for p in "${left[@]}"; do
            plan_call "$side" cleanup DEL "$p"
        done >"$work/plan-left"
        "$work/cnirun" seq "$work/plan-left" >"$work/res-left"
        check_statuses "$work/res-left" "clean-up DELs ($side)" \
            || bench_die "cannot detach the pods of failed calls"
    fi
    [ "$(side_ports "$side")" -eq 0 ] \
        || bench_die "$side: ports left on the bridge after the DELs"
    wait_veths_gone
    # Totals are tagged with the side, round and command.
    sed "s/^total\t/total\t$side.$round\tADD\t/" "$work/res-add" \
        >>"$results"
    sed "s/^total\t/total\t$side.$round\tDEL\t/" "$work/res-del" \
        >>"$results"
    bench_netns_delete "${names[@]}"
    rm -rf "$out"
}

# storm_failed: true if a storm call failed.
storm_failed() {
    [ -f "$work/failures" ] && awk '$3 > 0 {bad = 1} END {exit !bad}' \
        "$work/failures"
}

# now_ms: wall-clock time in milliseconds (no fork).
now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# agent_log_check: reports the warnings and errors in sluiced's log, which
# a benchmark should not cause (the storms' expected retries aside).
agent_log_check() {
    local log=$node_dir/sluiced.log n
    # A stopping agent says it is no longer ready: not a problem.
    awk '/\|(WARN|ERR)\|/ && !(stopping && /not ready/) {print}
         {stopping = /: stopping/}' "$log" >"$work/agent-warnings"
    n=$(wc -l <"$work/agent-warnings")
    if [ "$n" -gt 0 ]; then
        bench_log "sluiced logged $n warnings/errors; the first ones:"
        head -5 "$work/agent-warnings" >&2
    fi
}

# A simulated cluster around node n1, for flows.sh and footprint.sh: fake
# remote nodes (records in etcd, see fakenodes.py; no agent behind them)
# and egresses that select the benchmark's pods.  Everything is removed by
# cluster_cleanup, and with the lab's etcd anyway.
etcd_endpoint=198.18.0.2:2379
etcd_prefix=/sluice/
n_egress=0

# fake_nodes ARGS...: fakenodes.py against the lab's etcd (reached from
# node n1's namespace, over the underlay).
fake_nodes() {
    "$lab_sh" node-exec "$lab" n1 python3 "$bench_dir/fakenodes.py" \
        "$etcd_endpoint" "$etcd_prefix" "$@"
}

# pod_name I: the name of the benchmark's pod number I.  With M egresses,
# pod I is b(I mod M)-I, which egress e(I mod M) selects (glob bK-*), so
# that every pod has steering flows and the egresses share them evenly.
pod_name() {
    if [ "$n_egress" -gt 0 ]; then
        printf 'b%03d-%d\n' $(($1 % n_egress)) "$1"
    else
        printf 'b-%d\n' "$1"
    fi
}

# egresses_create M: two pools of egress IPs, bench-local (hosted by n1)
# and, if fake nodes 1 and 2 exist, bench-remote (hosted by them); M
# egresses e000... alternating between them.  n1 claims and hosts the
# local ones (SNAT flows) and steers its pods to them; the remote ones are
# given to fake nodes 1 and 2 by writing their owners/ records, and n1
# steers its pods through the tunnel to them.
egresses_create() {
    local m=$1 k name pool owner remote=false
    [ "$m" -le 500 ] || bench_die "at most 500 egresses (pool sizes)"
    n_egress=$m
    [ "$m" -gt 0 ] || return 0
    "$lab_sh" ctl "$lab" n1 pool create bench-local \
        --ranges 198.18.100.1-198.18.100.254 --nodes n1 >/dev/null \
        || bench_die "cannot create pool bench-local"
    if [ "$(fake_nodes count)" -ge 2 ]; then
        remote=true
        "$lab_sh" ctl "$lab" n1 pool create bench-remote \
            --ranges 198.18.101.1-198.18.101.254 \
            --nodes fake00001,fake00002 >/dev/null \
            || bench_die "cannot create pool bench-remote"
    fi
    for k in $(seq 0 $((m - 1))); do
        name=$(printf 'e%03d' "$k")
        pool=bench-local
        if $remote && [ $((k % 2)) = 1 ]; then
            pool=bench-remote
        fi
        "$lab_sh" ctl "$lab" n1 egress create "$name" --pool "$pool" \
            --namespace bench --pod "$(printf 'b%03d-*' "$k")" >/dev/null \
            || bench_die "cannot create egress $name"
        if [ "$pool" = bench-remote ]; then
            owner=$(printf 'fake%05d' $((k % 4 == 1 ? 1 : 2)))
            "$lab_sh" etcdctl "$lab" put "${etcd_prefix}owners/$name" \
                "{\"node\":\"$owner\",\"since\":\"2026-01-01T00:00:00Z\"}" \
                >/dev/null || bench_die "cannot set the owner of $name"
        fi
    done
}

# egresses_delete: removes the egresses, their pools and the owners/
# records egresses_create wrote.
egresses_delete() {
    local k
    [ "$n_egress" -gt 0 ] || return 0
    for k in $(seq 0 $((n_egress - 1))); do
        "$lab_sh" ctl "$lab" n1 egress delete "$(printf 'e%03d' "$k")" \
            >/dev/null || bench_die "cannot delete egress e$k"
    done
    "$lab_sh" ctl "$lab" n1 pool delete bench-local >/dev/null \
        || bench_die "cannot delete pool bench-local"
    if "$lab_sh" ctl "$lab" n1 pool show bench-remote >/dev/null 2>&1; then
        "$lab_sh" ctl "$lab" n1 pool delete bench-remote >/dev/null \
            || bench_die "cannot delete pool bench-remote"
    fi
    "$lab_sh" etcdctl "$lab" del --prefix "${etcd_prefix}owners/e" \
        >/dev/null || bench_die "cannot delete the owners/ records"
    n_egress=0
}

# cluster_cleanup: removes the egresses, pools and fake nodes.
cluster_cleanup() {
    egresses_delete
    fake_nodes delete
}

# n_flows_of MGMT [COOKIE/MASK]: the number of flows on the bridge whose
# OpenFlow management socket is MGMT (with that cookie), from one
# aggregate statistics request.
n_flows_of() {
    local out
    out=$(ovs-ofctl -O OpenFlow15 dump-aggregate "$1" ${2:+"cookie=$2"}) \
        || bench_die "dump-aggregate $1 failed"
    echo "${out##*flow_count=}"
}

# wait_flows_settled MGMT [SECONDS]: waits until the bridge's flow count
# has not changed for SECONDS (default 0.5; at most 60 s in all) and
# prints it.
wait_flows_settled() {
    local mgmt=$1 n last=-1 same=0 i polls
    polls=$(awk -v s="${2:-0.5}" 'BEGIN {print int(s * 10 + 0.5)}')
    for i in $(seq 1 600); do
        n=$(n_flows_of "$mgmt")
        if [ "$n" = "$last" ]; then
            same=$((same + 1))
            if [ "$same" -ge "$polls" ]; then
                echo "$n"
                return 0
            fi
        else
            same=0
            last=$n
        fi
        sleep 0.1
    done
    bench_die "flows on $mgmt still changing after 60 s"
}

# agent_quiet PID: waits (at most 120 s) until process PID has used less
# than 10 ms of CPU in 0.5 s: a busy agent may hold back the OpenFlow
# messages it has queued, so a bridge whose flows stopped changing is not
# enough.
agent_quiet() {
    local pid=$1 c0 c1 i
    for i in $(seq 1 240); do
        c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        sleep 0.5
        c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        # Clock ticks of 10 ms.
        if [ $((c1 - c0)) -lt 1 ]; then
            return 0
        fi
    done
    bench_log "warning: pid $pid still busy after 120 s"
}

# wait_log_count LOG OFFSET REGEX N: waits (at most 60 s) until LOG has N
# lines matching REGEX after byte OFFSET.
wait_log_count() {
    local log=$1 offset=$2 regex=$3 n=$4 i
    for i in $(seq 1 1200); do
        if [ "$(tail -c +"$((offset + 1))" "$log" | grep -cE "$regex")" \
            -ge "$n" ]; then
            return 0
        fi
        sleep 0.05
    done
    bench_die "$log: fewer than $n lines like '$regex' after 60 s"
}
