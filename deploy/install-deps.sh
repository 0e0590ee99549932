#!/usr/bin/env bash
# Installs every Debian 12 package that building sluice, its tests, its
# benchmarks and the local lab need.  Idempotent: packages already present
# are left alone and apt is not touched when nothing is missing.
set -euo pipefail

packages=(
    # Build.
    build-essential autoconf automake libtool pkg-config clang
    libjansson-dev libuv1-dev libnl-3-dev libnl-route-3-dev check
    libcurl4-openssl-dev
    # libopenvswitch, built from source (see deploy/build-ovs.sh).
    openvswitch-source libssl-dev libcap-ng-dev python3
    # Daemons and tools for the lab and the e2e tests.
    openvswitch-switch etcd-server etcd-client iproute2 tcpdump iperf3
    containernetworking-plugins containerd runc busybox-static
    ethtool procps psmisc jq util-linux iputils-ping netcat-openbsd
    iptables
)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: must run as root (apt-get install)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

# Package scripts must not start the distribution's daemons: the lab and
# the tests run every daemon themselves with private run directories.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    own_policy=1
fi
trap 'if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi' EXIT

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
