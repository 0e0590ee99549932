#!/usr/bin/env python3
"""Fake remote nodes for the benchmarks in tests/bench/.

Writes node records as a sluice agent registers them (see agent/cluster.c),
but not bound to a lease, straight into etcd through its JSON gateway (one
HTTP connection, up to 100 records per transaction), and removes them.

    fakenodes.py ENDPOINT PREFIX put FIRST LAST
    fakenodes.py ENDPOINT PREFIX delete
    fakenodes.py ENDPOINT PREFIX count

ENDPOINT is host:port of etcd (run it where that address is reachable,
e.g. `ip netns exec LAB-ul`), PREFIX the agents' key prefix (/sluice/).
Node i (FIRST <= i <= LAST, 1..32767) is nodes/fakeNNNNN with underlay
address 198.19.(i / 250).(i % 250 + 1) and pod subnet 10.(128 + i / 256).
(i % 256).0/24, inside 10.128.0.0/9: neither collides with a lab's
198.18.0.0/24 underlay or 10.244.0.0/16 cluster.  `delete` removes every
nodes/fake* key; `count` prints how many there are.
"""

import base64
import http.client
import json
import sys

TXN_OPS = 100  # etcd allows 128 operations per transaction by default.


def b64(s):
    return base64.b64encode(s.encode()).decode()


def prefix_end(key):
    """The range_end that covers every key starting with 'key'."""
    return key[:-1] + chr(ord(key[-1]) + 1)


def record(i):
    name = f"fake{i:05d}"
    return name, json.dumps({
        "name": name,
        "ip": f"198.19.{i // 250}.{i % 250 + 1}",
        "pod_cidr": f"10.{128 + i // 256}.{i % 256}.0/24",
        "tunnel_type": "geneve",
        "labels": "",
    }, separators=(",", ":"))


def call(conn, path, body):
    conn.request("POST", path, json.dumps(body),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        sys.exit(f"fakenodes.py: {path}: HTTP {resp.status}: {data[:200]}")
    return json.loads(data)


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    host, port = argv[1].rsplit(":", 1)
    prefix, cmd = argv[2], argv[3]
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    fake = prefix + "nodes/fake"
    if cmd == "put":
        first, last = int(argv[4]), int(argv[5])
        if not 1 <= first <= last <= 32767:
            sys.exit("fakenodes.py: nodes are numbered 1..32767")
        ops = []
        for i in range(first, last + 1):
            name, value = record(i)
            ops.append({"request_put": {"key": b64(prefix + "nodes/" + name),
                                        "value": b64(value)}})
        for k in range(0, len(ops), TXN_OPS):
            call(conn, "/v3/kv/txn", {"success": ops[k:k + TXN_OPS]})
    elif cmd == "delete":
        call(conn, "/v3/kv/deleterange",
             {"key": b64(fake), "range_end": b64(prefix_end(fake))})
    elif cmd == "count":
        r = call(conn, "/v3/kv/range",
                 {"key": b64(fake), "range_end": b64(prefix_end(fake)),
                  "count_only": True})
        print(int(r.get("count", 0)))
    else:
        sys.exit(f"fakenodes.py: unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
