#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# ipcluster.ko loads (its flow hash agrees with the shared core's vectors),
# hooks every namespace without disturbing traffic, survives namespaces
# coming and going, and unloads cleanly, twice over.
source "$(dirname "$0")/lib.sh"

unload_module
mark=$(dmesg | wc -l)
check "insmod ipcluster.ko" insmod "$IPC_KO"
check "hash self-test passed in the kernel" \
	bash -c "dmesg | tail -n +$((mark + 1)) | grep -q 'ipcluster: loaded: flow hash self-test passed'"

setup_topology 3
for i in 1 2 3; do
	check "client reaches member $i over IPv4" \
		ip netns exec "$NS_CLIENT" ping -c2 -W2 -i0.2 "$(member4 "$i")"
	check "client reaches member $i over IPv6" \
		ip netns exec "$NS_CLIENT" ping -6 -c2 -W2 -i0.2 "$(member6 "$i")"
done

# A TCP stream through the hook, checked byte for byte.
payload=$(mktemp)
head -c 1000000 /dev/urandom >"$payload"
ip netns exec ipc-m1 socat -u TCP-LISTEN:5001,reuseaddr OPEN:"$payload.got",creat,trunc &
srv=$!
wait_for 5 ip netns exec ipc-m1 ss -Htln 'sport = :5001'
check "1 MB over TCP arrives intact" \
	ip netns exec "$NS_CLIENT" socat -u OPEN:"$payload" TCP:"$(member4 1)":5001
wait "$srv"
check "received bytes match" cmp "$payload" "$payload.got"
rm -f "$payload" "$payload.got"

# Namespaces created after the module, and deleted under it.
check "new namespace while loaded" ip netns add ipc-late
check "delete namespace while loaded" ip netns del ipc-late
check "delete a member namespace under traffic" bash -c "
	ip netns exec $NS_CLIENT ping -f -c 2000 -W1 $(member4 2) >/dev/null 2>&1 &
	sleep 1; ip netns del $(member_ns 2); wait; true"

check "rmmod with live namespaces" rmmod ipcluster
check "dmesg says unloaded" bash -c "dmesg | tail -n 5 | grep -q 'ipcluster: unloaded'"
check "insmod again" insmod "$IPC_KO"
check "traffic still flows" ip netns exec "$NS_CLIENT" ping -c1 -W2 "$(member4 3)"
cleanup_all_ns
check "rmmod after namespaces are gone" rmmod ipcluster
finish
