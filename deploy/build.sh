#!/usr/bin/env bash
# Installs the dependencies, builds libopenvswitch (cached) and builds
# sluice in _build/plain.  Used by the demo; prints progress on stderr.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deploy/install-deps.sh >&2
ovs=$(deploy/build-ovs.sh)
if [ ! -f _build/plain/Makefile ]; then
    autoreconf -fi >&2
    mkdir -p _build/plain
    (cd _build/plain && "$top/configure" -q --with-ovs="$ovs") >&2
fi
make -C _build/plain -s -j2 >&2
