#!/usr/bin/env bash
# Builds libopenvswitch.a from Debian's openvswitch-source tarball into a
# cache directory keyed by the tarball's checksum, and prints that directory
# (the value for ./configure --with-ovs=DIR).  A warm cache is reused as is.
#
# libopenvswitch defines json_array, json_equal, json_integer, json_object,
# json_real and json_string, which are also jansson's public functions.  The
# cached archive has OVS's copies renamed to ovs_json_* so that one binary
# can link both libraries.
set -euo pipefail

tarball=${OVS_TARBALL:-/usr/src/openvswitch/openvswitch.tar.gz}
cache_root=${SLUICE_OVS_CACHE:-/var/cache/sluice}

if [ ! -r "$tarball" ]; then
    echo "build-ovs: $tarball not found (apt-get install openvswitch-source)" >&2
    exit 1
fi

sum=$(sha256sum "$tarball" | cut -c1-16)
dir="$cache_root/ovs-$sum"
if [ -f "$dir/.sluice-ready" ]; then
    echo "$dir"
    exit 0
fi

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/build.log"

fail() {
    echo "build-ovs: build failed, last lines of $log:" >&4
    tail -n 30 "$log" >&4
}
trap 'fail; rm -rf "$work"' ERR

exec 3>&1 4>&2 >"$log" 2>&1
tar -xzf "$tarball" -C "$work"
src="$work/openvswitch"
cd "$src"
./configure --enable-static --disable-shared CFLAGS="-O2 -g -fPIC"
make include/odp-netlink.h include/odp-netlink-macros.h \
    lib/vswitch-idl.h lib/ovsdb-server-idl.h
make -j"$(nproc)" lib/libopenvswitch.la
syms="$work/json-syms"
for f in json_array json_equal json_integer json_object json_real \
         json_string; do
    echo "$f ovs_$f"
done > "$syms"
objcopy --redefine-syms="$syms" lib/.libs/libopenvswitch.a
exec 1>&3 2>&4 3>&- 4>&-
cd /

rm -rf "$dir"
mv "$src" "$dir"
touch "$dir/.sluice-ready"
echo "$dir"
