#!/bin/sh
# Builds the fuzz targets with clang + libFuzzer in BUILD_DIR and runs each
# for SECONDS (default 30), starting from its seed corpus.
# Usage: tests/fuzz/run-fuzz.sh BUILD_DIR OVS_DIR [SECONDS]
set -eu
build=$1
ovs=$2
seconds=${3:-30}
src=$(cd "$(dirname "$0")/../.." && pwd)

mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
    san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
    "$src/configure" -q CC=clang --enable-fuzz --with-ovs="$ovs" \
        CFLAGS="-g -O1 $san -fsanitize=fuzzer-no-link" LDFLAGS="$san"
fi
make -s -j2 tests/fuzz/fuzz-shim tests/fuzz/fuzz-egress \
    tests/fuzz/fuzz-ctl-response tests/fuzz/fuzz-etcd-wire \
    tests/fuzz/fuzz-ovsdb tests/fuzz/fuzz-cni-request
for target in shim egress ctl-response etcd-wire ovsdb \
    cni-request; do
    work=$(mktemp -d)
    cp "$src/tests/fuzz/corpus/$target"/* "$work/"
    echo "fuzz-$target: ${seconds}s"
    "./tests/fuzz/fuzz-$target" -max_total_time="$seconds" \
        -max_len=65536 -print_final_stats=1 "$work" 2>&1 | tail -n 12
    rm -rf "$work"
done
