#!/usr/bin/env python3
"""Statistics and reports of the benchmarks in tests/bench/.

Each benchmark ends its output with "RESULT" lines, one per figure:

    RESULT BENCH | WHAT | sluice X UNIT | reference Y UNIT | ratio R | target T

where the ratio is always sluice / reference.  run.sh collects them.

Subcommands (called by the benchmark scripts):
    check-ips N FILE...        CNI ADD results: N addresses, all distinct
    attach RESULTS             latency report of attach.sh
    storm RESULTS N FAILURES MSGS   report of storm.sh
    restart LOG OFFSET T0-MS   times of one agent restart, from its log
    flows RECORDS              report of flows.sh
    footprint RECORDS          report of footprint.sh
    markdown RESULTS CMD MACHINE   RESULT lines as a markdown table
"""

import datetime
import json
import math
import re
import statistics
import sys


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with at least p% of the
    values at or below it."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[k - 1]


def ratio(a, b):
    return a / b if b else float("nan")


def fmt(x, digits=2):
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:.{digits}f}"


def result(bench, what, ours, ref, unit, target, digits=2, ratio_value=None):
    r = ratio(ours, ref) if ratio_value is None else ratio_value
    ref_s = f"{fmt(ref, digits)} {unit}" if isinstance(ref, float) else ref
    print(f"RESULT {bench} | {what} | sluice {fmt(ours, digits)} {unit} | "
          f"reference {ref_s} | ratio {fmt(r)} | target {target}")


def read_calls(file_name):
    """cnirun output: (tag, command, status, wall_ms, cpu_ms) per call, and
    {(tag, command): total_ms} for storms."""
    calls, totals = [], {}
    with open(file_name) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "total":
                totals[(fields[1], fields[2])] = int(fields[3]) / 1000.0
            else:
                calls.append((fields[0], fields[1], int(fields[2]),
                              int(fields[3]) / 1000.0,
                              int(fields[4]) / 1000.0))
    return calls, totals


def check_ips(n, files):
    ips = []
    for name in files:
        with open(name) as f:
            res = json.load(f)
        for ip in res.get("ips", []):
            ips.append(ip["address"].split("/")[0])
    dups = sorted({ip for ip in ips if ips.count(ip) > 1})
    if len(files) != n or len(ips) != n or dups:
        print(f"check-ips: {len(files)} results, {len(ips)} addresses "
              f"(expected {n}), duplicates: {dups or 'none'}",
              file=sys.stderr)
        sys.exit(1)


def attach(file_name):
    calls, _ = read_calls(file_name)
    by = {}
    rounds = {}
    for tag, command, status, wall, _cpu in calls:
        side, rnd, _pod = tag.split(".")
        by.setdefault((side, command), []).append(wall)
        rounds.setdefault((side, command, rnd), []).append(wall)
    n_rounds = len({k[2] for k in rounds})
    n = len(by[("s", "ADD")])
    print(f"attach: {n} CNI ADDs then {n} DELs per plugin "
          f"({n_rounds} round(s) of {n // max(n_rounds, 1)}), sequential, "
          "sluice and reference calls interleaved;")
    print("wall time of the plugin process (fork to exit), ms")
    print(f"{'':10}{'sluice':>10}{'reference':>12}{'ratio':>8}")
    for command in ("ADD", "DEL"):
        for p in (50, 90, 99):
            s = percentile(by[("s", command)], p)
            r = percentile(by[("r", command)], p)
            print(f"{command} p{p:<6}{fmt(s):>10}{fmt(r):>12}"
                  f"{fmt(ratio(s, r)):>8}")
    for command in ("ADD", "DEL"):
        rs = [ratio(percentile(rounds[("s", command, k)], 50),
                    percentile(rounds[("r", command, k)], 50))
              for k in sorted({k[2] for k in rounds})]
        print(f"{command} p50 ratio per round: min {fmt(min(rs))}, "
              f"median {fmt(statistics.median(rs))}, max {fmt(max(rs))}")
    # ADD latency as pods accumulate on the node: first and last quarter.
    per_round = n // max(n_rounds, 1)
    q = max(per_round // 4, 1)
    quarters = {}
    for tag, command, status, wall, _cpu in calls:
        side, _rnd, pod = tag.split(".")
        i = int(pod.split("-")[-1])
        if command == "ADD" and (i <= q or i > per_round - q):
            quarters.setdefault((side, i <= q), []).append(wall)
    if per_round >= 4:
        for first, what in ((True, f"0-{q - 1}"),
                            (False, f"{per_round - q}-{per_round - 1}")):
            s = percentile(quarters[("s", first)], 50)
            r = percentile(quarters[("r", first)], 50)
            print(f"ADD p50 with {what} pods already attached: sluice "
                  f"{fmt(s)} ms, reference {fmt(r)} ms, ratio "
                  f"{fmt(ratio(s, r))}")
    targets = {"ADD": "<= 0.5 (p50)", "DEL": "<= 0.3 (p50)"}
    for command in ("ADD", "DEL"):
        for p in (50, 90, 99):
            result("attach", f"CNI {command} p{p} latency",
                   percentile(by[("s", command)], p),
                   percentile(by[("r", command)], p), "ms",
                   targets[command] if p == 50 else "-")


def storm(file_name, n, failures_file, msgs_file):
    calls, totals = read_calls(file_name)
    failed = {}
    try:
        with open(failures_file) as f:
            for line in f:
                side, command, n_failed, n_calls = line.split()
                k = (side, command)
                a, b = failed.get(k, (0, 0))
                failed[k] = (a + int(n_failed), b + int(n_calls))
    except FileNotFoundError:
        pass
    walls, rates = {}, {}
    n_ok = {}
    for tag, command, status, wall, _cpu in calls:
        if status == 0:
            n_ok[(tag, command)] = n_ok.get((tag, command), 0) + 1
    for (tag, command), ms in totals.items():
        side, _rnd = tag.split(".")
        walls.setdefault((side, command), []).append(ms)
        # Failed calls end early: only successful ones count as pods done.
        rates.setdefault((side, command), []).append(
            n_ok.get((tag, command), 0) / ms * 1000)
    lat = {}
    for tag, command, status, wall, _cpu in calls:
        if status == 0:
            lat.setdefault((tag.split(".")[0], command), []).append(wall)
    n_rounds = len(walls[("s", "ADD")])
    n_failed = sum(a for a, _ in failed.values())
    print(f"storm: {n} concurrent ADDs, then {n} concurrent DELs, "
          f"{n_rounds} round(s) per plugin, plugins alternating; "
          + ("every call succeeded" if not n_failed
             else f"{n_failed} calls FAILED (see below)")
          + "; no duplicate address, bridge port counts checked")
    print(f"{'total wall time, ms':28}{'min':>9}{'median':>9}{'p99':>9}"
          f"{'pods/s':>9}   per-call p50/p99 ms")
    names = {"s": "sluice", "r": "reference"}
    for command in ("ADD", "DEL"):
        for side in ("s", "r"):
            w = walls[(side, command)]
            med = statistics.median(w)
            print(f"{names[side] + ' ' + command:28}{fmt(min(w), 1):>9}"
                  f"{fmt(med, 1):>9}{fmt(percentile(w, 99), 1):>9}"
                  f"{fmt(statistics.median(rates[(side, command)]), 0):>9}   "
                  f"{fmt(percentile(lat[(side, command)], 50), 1)}/"
                  f"{fmt(percentile(lat[(side, command)], 99), 1)}")
    if n_rounds < 100:
        print("(p99 of fewer than 100 rounds is their maximum)")
    if n_failed:
        msgs = {}
        try:
            with open(msgs_file) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        msgs[line] = msgs.get(line, 0) + 1
        except FileNotFoundError:
            pass
        print("failed calls, most frequent messages:")
        for msg, count in sorted(msgs.items(), key=lambda x: -x[1])[:3]:
            print(f"  {count} x {msg}")
    print("(pods/s: median over rounds of successful calls / wall time; "
          "the DELs are those of the pods attached)")
    for command in ("ADD", "DEL"):
        s = statistics.median(rates[("s", command)])
        r = statistics.median(rates[("r", command)])
        result("storm", f"{n} concurrent {command}s, median rate", s, r,
               "pods/s", ">= 100 pods/s" if command == "ADD" else "-",
               digits=0)
    fs = [failed.get(("s", c), (0, 0)) for c in ("ADD", "DEL")]
    fr = [failed.get(("r", c), (0, 0)) for c in ("ADD", "DEL")]
    print(f"RESULT storm | failed calls (ADD + DEL) | sluice "
          f"{fs[0][0] + fs[1][0]} of {fs[0][1] + fs[1][1]} | reference "
          f"{fr[0][0] + fr[1][0]} of {fr[0][1] + fr[1][1]} | ratio n/a | "
          "target 0")


TS_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z\|")


def log_ms(line):
    m = TS_RE.match(line)
    if not m:
        return None
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
    t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() * 1000.0


def restart(log, offset, t0_ms):
    """Prints 'TOTAL-MS SYNC-MS N-FLOWS' for the restart whose log starts at
    'offset': TOTAL from t0 to "ready", SYNC from "syncing N flows" to
    "ready".  Exits 1 if the log has no "ready" yet."""
    with open(log, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    sync_ms = n_flows = None
    phases = {}
    patterns = (
        ("started", r"\|agent\|node \S+: started "),
        ("ovsdb", r"\|agent\|node \S+: connected to ovsdb-server"),
        ("round", r"\|agent\|node \S+: flow round "),
    )
    for line in text.splitlines():
        for name, pattern in patterns:
            if name not in phases and re.search(pattern, line):
                phases[name] = log_ms(line) - t0_ms
        m = re.search(r"\|ofctl\|.*: syncing (\d+) flows", line)
        if m and sync_ms is None:
            sync_ms, n_flows = log_ms(line), int(m.group(1))
        if re.search(r"\|agent\|node \S+: ready \(", line):
            ready = log_ms(line)
            if sync_ms is None:
                sys.exit(2)
            print(f"{ready - t0_ms:.1f} {ready - sync_ms:.1f} {n_flows} "
                  + " ".join(f"{phases.get(name, float('nan')):.1f}"
                             for name, _ in patterns)
                  + f" {sync_ms - t0_ms:.1f}")
            return
    sys.exit(1)


def read_records(file_name):
    """Lines 'KEY VALUE...' into {KEY: [[VALUE...], ...]}."""
    recs = {}
    with open(file_name) as f:
        for line in f:
            fields = line.split()
            if fields:
                recs.setdefault(fields[0], []).append(fields[1:])
    return recs


def col(recs, key, i=0):
    return [float(r[i]) for r in recs.get(key, [])]


def mmp(values, digits=1):
    return (f"{fmt(min(values), digits)} / "
            f"{fmt(statistics.median(values), digits)} / "
            f"{fmt(percentile(values, 99), digits)}")


def flows(file_name):
    recs = read_records(file_name)
    n_pods = int(recs["pods"][0][0])
    n_flows = int(recs["flows"][0][0])
    n_remote, n_small = (int(x) for x in recs["remote-nodes"][0])
    n_egresses = int(recs["egresses"][0][0])
    n_reps = len(recs["s-full"])
    tables = ", ".join(f"{r[0]} {r[1]}" for r in recs.get("table", []))
    print(f"flows: node with {n_pods} local pods, {n_remote} remote nodes, "
          f"{n_egresses} egresses: {n_flows} flows on br-int ({tables}); "
          f"{n_reps} repetitions, sluice and reference alternating")
    print("times in ms: min / median / p99 "
          "(p99 of fewer than 100 repetitions is their maximum)")
    rows = [
        ("s-full", 7, "sluiced restart -> every flow back, flows present"),
        ("s-full", 0, "  sluiced restart -> \"ready\""),
        ("s-full", 1, "  of which: sync bundle sent -> barrier reply"),
        ("r-full", 0, "ovs-ofctl --bundle add-flows, flows present"),
        ("s-empty", 7, "sluiced restart -> every flow back, bridge emptied"),
        ("s-empty", 0, "  sluiced restart -> \"ready\""),
        ("s-empty", 1, "  of which: sync bundle sent -> barrier reply"),
        ("r-empty", 0, "ovs-ofctl --bundle add-flows, bridge emptied"),
    ]
    for key, i, what in rows:
        print(f"  {what:54} {mmp(col(recs, key, i))}")
    for key, what in (("s-full", "flows present"),
                      ("s-empty", "bridge emptied")):
        med = {i: statistics.median(col(recs, key, i)) for i in range(8)}
        print(f"  sluiced restart phases, {what}, median ms since start: "
              f"\"started\" {fmt(med[3], 0)}, ovsdb connected "
              f"{fmt(med[4], 0)}, pods recovered and flows built "
              f"{fmt(med[5], 0)}, bundle sent {fmt(med[6], 0)}, ready "
              f"{fmt(med[0], 0)}, every flow back {fmt(med[7], 0)}")
    synced = sorted({int(r[2]) for k in ("s-full", "s-empty")
                     for r in recs[k]})
    print(f"  the sync bundle before \"ready\" held {synced} of the "
          f"{n_flows} flows; the rest came in later bundles")
    if "gap" in recs:
        gaps = "; ".join(f"{r[1]} flows for {r[0]} ms" for r in recs["gap"])
        tables = {r[0]: int(r[1]) for r in recs.get("table", [])}
        dip = ", ".join(f"{r[0]} {r[1]}/{tables.get(r[0], '?')}"
                        for r in recs.get("dip", []))
        print(f"  {len(recs['gap'])} restarts with the flows present, "
              f"fewest flows on the bridge (of {n_flows}) and how long it "
              f"had fewer (polled every ~10-20 ms): {gaps}"
              + (f"; per table during the first dip: {dip}" if dip else ""))
    # Each bundle is open + its flow-mods + commit + barrier; each flow
    # goes once, plus the stale round's deletion; plus a hello.
    counts = [(int(r[0]), int(r[1]) if len(r) > 1 else -1,
               max(round((int(r[0]) - (n_flows + 1) - 1) / 3), 1))
              for r in recs.get("s-count", [])]
    if counts:
        print(f"  {len(counts)} restarts (flows present) left alone, no "
              "polling: OpenFlow messages sent (with "
              f"{n_flows + 1} flow-mods: about how many bundles, each "
              "open, flow-mods, commit, barrier) and flows in the first "
              "sync bundle: "
              + "; ".join(f"{m} (~{b}), {syn}" for m, syn, b in counts)
              + f"; ovs-ofctl --bundle add-flows: {recs['r-full'][0][1]} "
              f"messages, {n_flows} flow-mods in 1 bundle")
    for name, key, what in (
            (f"ADD of the node's first pod, {n_small} remote nodes",
             "mods-first", "added"),
            (f"ADD of pod {n_pods + 1}, {n_small} remote nodes",
             "mods-small", "added"),
            (f"DEL of pod {n_pods + 1}, {n_small} remote nodes",
             "mods-small-del", "removed"),
            (f"ADD of pod {n_pods + 1}, {n_remote} remote nodes",
             "mods-last", "added"),
            (f"DEL of pod {n_pods + 1}, {n_remote} remote nodes",
             "mods-del", "removed")):
        mods, bundles, msgs, changes = (int(x) for x in recs[key][0][:4])
        print(f"  {name}: {mods} flow-mods in {bundles} bundle(s), {msgs} "
              f"OpenFlow messages in all; {changes} flows {what}; the call "
              f"took {fmt(float(recs[key][0][4]), 1)} ms")
    print("  (counted from ovs-vswitchd's vconn debug log: every "
          "OFPT_FLOW_MOD it received, bare or in a bundle)")
    if "join" in recs:
        n, ms, change = (int(x) for x in recs["join"][0][:3])
        print(f"  {n} remote nodes joined (etcd watch): flows settled {ms} "
              f"ms after the etcd write; {change} flows added")
    if "leave" in recs:
        n, ms, change, mods, bundles, msgs = (
            int(x) for x in recs["leave"][0][:6])
        print(f"  {n} remote nodes left (etcd watch): flows settled {ms} ms "
              f"after the etcd delete (vconn debug log on); {change} flows "
              f"removed with {mods} flow-mods in {bundles} bundle(s), "
              f"{msgs} OpenFlow messages")
    for r in recs.get("s-timeout", []):
        print(f"  WARNING: a restart ({r[0]}) had restored only {r[1]} of "
              f"the {n_flows} flows after 30 s (counted as 30 s)")
    if "flows-after-restarts" in recs:
        after = int(recs["flows-after-restarts"][0][0])
        if after != n_flows:
            print(f"  WARNING: {after} flows after the restarts, not "
                  f"{n_flows}")
    if "flows-after-cleanup" in recs:
        print(f"  after removing the egresses and remote nodes: "
              f"{recs['flows-after-cleanup'][0][0]} flows")

    lost = int(recs["lease-lost"][0][0]) if "lease-lost" in recs else 0
    if lost:
        print(f"  WARNING: sluiced lost its etcd lease {lost} time(s) (no "
              "keepalive for 10 s: its event loop was busy); it withdrew "
              "its egress IPs and registered again")
    cluster = f"{n_pods} pods, {n_remote} nodes, {n_egresses} egresses"
    for mode, what in (("full", "flows present"), ("empty", "bridge emptied")):
        s = statistics.median(col(recs, f"s-{mode}", 7))
        r = statistics.median(col(recs, f"r-{mode}", 0))
        result("flows", f"full resync of {n_flows} flows ({cluster}; "
               f"{what}), median restart -> every flow back vs ovs-ofctl",
               s, r, "ms", "<= 1.0", digits=1)
    s = statistics.median(col(recs, "s-full", 0))
    r = statistics.median(col(recs, "r-full", 0))
    result("flows", f"restart -> \"ready\" (flows present; its sync bundle "
           f"holds {'/'.join(str(x) for x in synced)} of {n_flows} flows)",
           s, r, "ms", "-", digits=1)
    s = statistics.median(col(recs, "s-empty", 7))
    r = statistics.median(col(recs, "r-empty", 0))
    result("flows", "resync rate (bridge emptied), median", n_flows / s * 1000,
           n_flows / r * 1000, "flows/s", ">= 1.0", digits=0)
    if "gap" in recs:
        worst = min(recs["gap"], key=lambda r: int(r[1]))
        print(f"RESULT flows | restart with flows present: fewest flows on "
              f"the bridge and for how long (worst of {len(recs['gap'])}) | "
              f"sluice {worst[1]} of {n_flows}; {worst[0]} ms | reference "
              f"{n_flows} of {n_flows} (add-flows replaces in place) | "
              "ratio n/a | target no dip (no flow flush)")
    if counts:
        ref = int(recs["r-full"][0][1])
        msgs = statistics.median(m for m, _, _ in counts)
        print(f"RESULT flows | OpenFlow messages (bundles) per resync, "
              f"median of {len(counts)} unobserved restarts | sluice "
              f"{msgs:.0f} (~{max(round((msgs - n_flows - 2) / 3), 1)}) | "
              f"reference {ref} (1) | ratio {fmt(msgs / ref)} | target -")
    a, b, c = (int(recs[k][0][0])
               for k in ("mods-first", "mods-small", "mods-last"))
    print(f"RESULT flows | flow-mods per pod ADD (first pod, {n_small} nodes "
          f"/ pod {n_pods + 1}, {n_small} nodes / pod {n_pods + 1}, "
          f"{n_remote} nodes) | sluice {a} / {b} / {c} | reference n/a | "
          "ratio n/a | target <= 10, constant")
    if "lease-lost" in recs:
        print(f"RESULT flows | etcd lease lost by sluiced during the run | "
              f"sluice {lost} | reference n/a | ratio n/a | target 0")
    if "join" in recs:
        n, ms = (int(x) for x in recs["join"][0][:2])
        print(f"RESULT flows | {n} remote nodes join (etcd write -> flows "
              f"settled) | sluice {ms} ms | reference n/a | ratio n/a | "
              "target -")
    if "leave" in recs:
        n, ms, _change, _mods, bundles = (int(x) for x in recs["leave"][0][:5])
        print(f"RESULT flows | {n} remote nodes leave (etcd delete -> flows "
              f"settled; OpenFlow bundles) | sluice {ms} ms; {bundles} "
              "bundles | reference n/a | ratio n/a | target -")


def footprint(file_name):
    recs = read_records(file_name)
    mb = 1024.0

    def one(key, i=0):
        return float(recs[key][0][i])

    n_storm = int(one("storm-pods"))
    n_pods = int(one("pods"))
    idle_s = one("idle-seconds")
    print(f"footprint: sluiced (pid from the lab), idle windows of "
          f"{fmt(idle_s, 0)} s")
    for key, what in (("idle0", "0 pods"), ("idle250", f"{n_pods} pods")):
        print(f"  RSS idle, {what + ':':11} {fmt(one('rss-' + key) / mb, 1)} "
              f"MB: anonymous {fmt(one('anon-' + key) / mb, 1)} MB, files "
              f"(binary and shared libraries) "
              f"{fmt(one('file-' + key) / mb, 1)} MB; PSS "
              f"{fmt(one('pss-' + key) / mb, 1)} MB")
    print(f"  RSS peak (VmHWM) after {len(recs['s-storm-cpu'])} storm(s) of "
          f"{n_storm} pods: {fmt(one('hwm-storm') / mb, 1)} MB; after "
          f"{n_pods} pods: {fmt(one('hwm-idle250') / mb, 1)} MB")
    print(f"  CPU idle, 0 pods:          {fmt(one('cpu-idle0'), 2)} "
          "% of a core")
    print(f"  CPU idle, {n_pods} pods:        "
          f"{fmt(one('cpu-idle250'), 2)} % of a core")
    # CPU per pod attached (and detached), median over the storms.
    n_rounds = len(recs["s-storm-cpu"])
    s_rows = [[float(x) for x in r] for r in recs["s-storm-cpu"]]
    agent, vswitchd, ovsdb, shim = (
        statistics.median(r[i] / r[4] for r in s_rows) for i in range(4))
    s_total = statistics.median(sum(r[:4]) / r[4] for r in s_rows)
    r_cpu = statistics.median(float(r[0]) / float(r[1])
                              for r in recs["r-storm-cpu"])
    print(f"  CPU for a storm of {n_storm} ADDs + DELs, ms per pod attached "
          f"and detached (median of {n_rounds}):")
    print(f"    sluice: sluiced {fmt(agent)}, ovs-vswitchd {fmt(vswitchd)}, "
          f"ovsdb-server {fmt(ovsdb)}, shim processes {fmt(shim)}; total "
          f"{fmt(s_total)} (medians of each)")
    print(f"    reference: bridge + host-local processes {fmt(r_cpu)}")
    cluster = None
    if "cluster" in recs:
        n_remote, n_egresses, f0, f1, f2 = (int(x)
                                            for x in recs["cluster"][0][:5])
        cpu_nodes, cpu_egresses, wall_nodes, wall_egresses = (
            float(x) for x in recs["cluster"][0][5:9])
        cluster = f"{n_pods} pods + {n_remote} remote nodes + {n_egresses} egresses"
        print(f"  then {n_remote} remote nodes: flows {f0} -> {f1}, sluiced "
              f"CPU {fmt(cpu_nodes, 0)} ms (wall {fmt(wall_nodes, 0)} ms "
              f"with ~1 s of settling waits); then {n_egresses} egresses "
              f"(sluicectl, one after the other): flows -> {f2}, sluiced CPU "
              f"{fmt(cpu_egresses, 0)} ms (wall {fmt(wall_egresses, 0)} ms)")
        if "rss-nodes" in recs:
            print(f"  RSS with {n_pods} pods + {n_remote} remote nodes, "
                  f"before the egresses: "
                  f"{fmt(one('rss-nodes') / mb, 1)} MB, anonymous "
                  f"{fmt(one('rss-nodes', 1) / mb, 1)} MB")
        if "lease-lost" in recs and int(recs["lease-lost"][0][0]):
            print(f"  WARNING: sluiced lost its etcd lease "
                  f"{recs['lease-lost'][0][0]} time(s) meanwhile")
        print(f"  RSS idle, {cluster}: "
              f"{fmt(one('rss-idlecluster') / mb, 1)} MB: anonymous "
              f"{fmt(one('anon-idlecluster') / mb, 1)} MB, files "
              f"{fmt(one('file-idlecluster') / mb, 1)} MB, PSS "
              f"{fmt(one('pss-idlecluster') / mb, 1)} MB; peak (VmHWM) "
              f"{fmt(one('hwm-idlecluster') / mb, 1)} MB; CPU idle "
              f"{fmt(one('cpu-idlecluster'), 2)} % of a core")
    result("footprint", f"sluiced RSS, {n_pods} local pods, idle",
           one("rss-idle250") / mb, "none (no daemon)", "MB",
           "< 20 MB", digits=1, ratio_value=float("nan"))
    result("footprint", "of which anonymous (not shared libraries)",
           one("anon-idle250") / mb, "none (no daemon)", "MB",
           "-", digits=1, ratio_value=float("nan"))
    result("footprint", f"sluiced RSS peak, {n_storm}-pod storm",
           one("hwm-storm") / mb, "none (no daemon)", "MB", "< 20 MB",
           digits=1, ratio_value=float("nan"))
    if cluster:
        result("footprint", f"sluiced RSS, {cluster}, idle",
               one("rss-idlecluster") / mb, "none (no daemon)", "MB",
               "< 20 MB", digits=1, ratio_value=float("nan"))
        result("footprint", "of which anonymous (not shared libraries)",
               one("anon-idlecluster") / mb, "none (no daemon)", "MB",
               "-", digits=1, ratio_value=float("nan"))
        result("footprint", f"sluiced CPU idle, {cluster}",
               one("cpu-idlecluster"), "none (no daemon)", "% of a core",
               "-", ratio_value=float("nan"))
        print(f"RESULT footprint | sluiced CPU to absorb {n_remote} node "
              f"joins / to create {n_egresses} egresses next to them | "
              f"sluice {fmt(cpu_nodes, 0)} ms / {fmt(cpu_egresses, 0)} ms | "
              "reference none (no daemon) | ratio n/a | target -")
    result("footprint", f"sluiced CPU idle, {n_pods} pods",
           one("cpu-idle250"), "none (no daemon)", "% of a core", "-",
           ratio_value=float("nan"))
    result("footprint", "CPU per pod ADD+DEL in a storm, all processes",
           s_total, r_cpu, "ms", "-")


def markdown(file_name, command, machine):
    """The RESULT lines of a run as a markdown snippet."""
    rows = []
    with open(file_name) as f:
        for line in f:
            if line.startswith("RESULT "):
                fields = [x.strip() for x in line[7:].split(" | ")]
                if len(fields) == 6:
                    rows.append(fields)
    print("### Benchmarks\n")
    print(f"Measured by `{command}` on {machine}.  sluice and the reference "
          "(`bridge` + `host-local` from containernetworking-plugins, or "
          "`ovs-ofctl`) run side by side in the same run; the ratio is "
          "sluice / reference.  Timings are not asserted.\n")
    print("| benchmark | figure | sluice | reference | ratio | target |")
    print("|---|---|---|---|---|---|")
    for bench, what, ours, ref, r, target in rows:
        def strip(x, word):
            return x[len(word):].strip() if x.startswith(word) else x
        print(f"| {bench} | {what} | {strip(ours, 'sluice')} | "
              f"{strip(ref, 'reference')} | {strip(r, 'ratio')} | "
              f"{strip(target, 'target')} |")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmd, args = argv[1], argv[2:]
    if cmd == "check-ips":
        check_ips(int(args[0]), args[1:])
    elif cmd == "attach":
        attach(args[0])
    elif cmd == "storm":
        storm(args[0], int(args[1]), args[2], args[3])
    elif cmd == "restart":
        restart(args[0], int(args[1]), float(args[2]))
    elif cmd == "flows":
        flows(args[0])
    elif cmd == "footprint":
        footprint(args[0])
    elif cmd == "markdown":
        markdown(args[0], args[1], args[2])
    else:
        print(f"report.py: unknown command {cmd}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
