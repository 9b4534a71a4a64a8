#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The demo, inside the VM: load ipcluster.ko, build a small cluster
# topology, show the module hooked into it and traffic flowing.
source "$(dirname "$0")/../lib.sh"
set -e
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "kernel $(uname -r), loading ipcluster.ko"
insmod "$IPC_KO"
dmesg | grep ipcluster | tail -n 3
say "module"
grep '^ipcluster ' /proc/modules
say "a bridge, a client and three members, each in its own namespace"
setup_topology 3
ip -n "$NS_SW" -br link show master br0
for i in 1 2 3; do
	ip netns exec "$NS_CLIENT" ping -c1 -W2 "$(member4 "$i")" | grep 'bytes from'
done
say "clusteradm"
"$CLUSTERADM" --version
say "unloading"
cleanup_all_ns
rmmod ipcluster
dmesg | grep ipcluster | tail -n 1
