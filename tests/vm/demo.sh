#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The demo, inside the VM: three members answer one cluster IP together;
# each flow is served by exactly one of them, the one the table names.
source "$(dirname "$0")/../lib.sh"
set -e
FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "kernel $(uname -r): loading ipcluster.ko"
insmod "$IPC_KO"
dmesg | grep ipcluster | tail -n 1
say "a bridge, a client ($CLIENT4) and three members, each in its own namespace"
setup_topology 3
for i in 1 2 3; do
	ns=$(member_ns "$i")
	ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
	ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 addr "$CLUSTER4" \
		seed 5eed5eed5eed5eed5eed5eed5eed5eed member "$i"
	ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1,2,3
	ip netns exec "$ns" $FLOWS serve "member-$i" 7000 "$CLUSTER4" &
done
sleep 1
say "member 1's view: the cluster and its bucket table (* = mine)"
ip netns exec ipc-m1 "$CLUSTERADM" cluster show
ip netns exec ipc-m1 "$CLUSTERADM" table show 1 | head -n 5
say "ten TCP connections to $CLUSTER4:7000 from the client; who answers:"
ip netns exec "$NS_CLIENT" $FLOWS client "$CLUSTER4" 7000 tcp 50000 10 | while read -r sport who; do
	pred=$(ip netns exec ipc-m1 "$CLUSTERADM" which 1 "$CLIENT4" sport "$sport" dport 7000)
	printf '  sport %s -> %-9s  (clusteradm which: %s)\n' "$sport" "$who" "$pred"
done
say "the client's ARP entry: the cluster's multicast MAC"
ip -n "$NS_CLIENT" neigh show "$CLUSTER4"
say "member 2's buckets that saw traffic (every member counts every packet; non-owners drop)"
ip netns exec ipc-m2 "$CLUSTERADM" bucket show 1 nonzero | head -n 8
say "give member 3's buckets to members 1 and 2: new flows move"
for i in 1 2 3; do ip netns exec "$(member_ns "$i")" "$CLUSTERADM" table set 1 spread 1,2; done
ip netns exec "$NS_CLIENT" $FLOWS client "$CLUSTER4" 7000 tcp 51000 6 | sed 's/^/  sport /'
say "unloading"
kill $(jobs -p)
cleanup_all_ns
rmmod ipcluster
dmesg | grep ipcluster | tail -n 1
