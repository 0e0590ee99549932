#!/usr/bin/env bash
# The sluice demo.  Builds everything, then shows the CNI shim answering a
# runtime: VERSION locally, and an ADD while no agent listens (CNI error 11,
# "try again later").  Later milestones grow this into the multi-node lab.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deploy/build.sh
shim=_build/plain/plugin/sluice

echo "--- CNI VERSION, answered by the shim itself:"
echo '{"cniVersion":"1.1.0"}' | CNI_COMMAND=VERSION "$shim"

echo "--- CNI ADD with no agent listening:"
config='{"cniVersion":"1.1.0","name":"demo","type":"sluice","agentSocket":"/run/sluice-demo-none.sock"}'
set +e
echo "$config" | CNI_COMMAND=ADD CNI_CONTAINERID=demo1 CNI_NETNS=/var/run/netns/demo \
    CNI_IFNAME=eth0 "$shim"
echo "(exit status $?)"
