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
