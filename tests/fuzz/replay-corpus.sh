#!/bin/sh
# Replays every seed corpus through its fuzz target.
set -e
for target in shim egress ctl-response etcd-wire ovsdb \
    cni-request; do
    "$top_builddir/tests/fuzz/fuzz-$target" \
        "$top_srcdir"/tests/fuzz/corpus/"$target"/*
done
