#!/usr/bin/env bash
# Overlay with Geneve tunnels: three nodes, two pods on each; all-pairs ping
# across nodes, TCP, and full MTU (see overlay-conn.sh).
#
# Usage: test-ov-geneve.sh BUILD_DIR LAB
TUNNEL=geneve
# shellcheck source=tests/e2e/overlay-conn.sh
source "$(dirname "$0")/overlay-conn.sh"
