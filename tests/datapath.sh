#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The work-set filter: three members on a bridge answer one cluster IP in
# multicast mode. Every TCP connection and UDP request is answered by the
# member `clusteradm which` predicts, the per-bucket counters agree across
# members, no member sends a RST, and a new table moves new flows.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
PORT=7000
N=${IPC_FLOWS:-500}
SEED=000102030405060708090a0b0c0d0e0f
tmp=$(mktemp -d)

load_module
setup_topology 3
for i in 1 2 3; do
	ns=$(member_ns "$i")
	ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
	ip -n "$ns" addr add "$CLUSTER6/128" dev eth0 nodad
	check "m$i: cluster add" ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 \
		addr "$CLUSTER4" addr6 "$CLUSTER6" seed "$SEED" member "$i"
	check "m$i: table set spread 1,2,3" ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1,2,3
	ip netns exec "$ns" $FLOWS serve "m$i" $PORT "$CLUSTER4" "$CLUSTER6" &
done
for i in 1 2 3; do
	wait_for 10 ip netns exec "$(member_ns "$i")" ss -Htln "sport = :$PORT"
done
ip netns exec ipc-m1 "$CLUSTERADM" cluster show
ip netns exec ipc-m1 "$CLUSTERADM" table show 1 | head -n 4

rsts() { ip netns exec "$1" nstat -az TcpOutRsts | awk '/TcpOutRsts/ {print $2}'; }
for i in 1 2 3; do rst0[$i]=$(rsts "$(member_ns "$i")"); done

# flows NAME DST SRC PROTO FIRST: N flows, answers vs predictions.
flows() {
	local name=$1 dst=$2 src=$3 proto=$4 first=$5
	ip netns exec "$NS_CLIENT" $FLOWS client "$dst" $PORT "$proto" "$first" "$N" >"$tmp/$name.ans"
	$FLOWS expect "$src" $PORT "$proto" "$first" "$N" |
		ip netns exec ipc-m1 "$CLUSTERADM" -j which 1 - >"$tmp/$name.pred"
	check "$name: $N flows, each answered by the predicted owner" \
		$FLOWS compare "$tmp/$name.ans" "$tmp/$name.pred"
}
flows tcp4 "$CLUSTER4" "$CLIENT4" tcp 20000
flows udp4 "$CLUSTER4" "$CLIENT4" udp 20000
flows tcp6 "$CLUSTER6" "$CLIENT6" tcp 30000
flows udp6 "$CLUSTER6" "$CLIENT6" udp 30000

for i in 1 2 3; do
	ip netns exec "$(member_ns "$i")" "$CLUSTERADM" -j bucket show 1 >"$tmp/m$i.buckets"
done
check "per-bucket counters agree: owners drop nothing, others drop all" \
	$FLOWS counters 1024 "$tmp/m1.buckets" "$tmp/m2.buckets" "$tmp/m3.buckets"
check "every member counted ≥ $((2 * N)) new TCP flows" bash -c \
	"python3 -c 'import json,sys; f=sum(b[\"flows\"] for b in json.load(open(\"$tmp/m1.buckets\"))); sys.exit(f < 2*$N)'"
for i in 1 2 3; do
	check "m$i sent no RST" test "$(rsts "$(member_ns "$i")")" = "${rst0[$i]}"
done

# A new table moves new flows to their new owners.
for i in 1 2 3; do
	ip netns exec "$(member_ns "$i")" "$CLUSTERADM" table set 1 spread 3,1,2
done
flows tcp4-moved "$CLUSTER4" "$CLIENT4" tcp 40000
check "moved flows went to new owners" bash -c \
	"! cmp -s <(cut -d' ' -f2 $tmp/tcp4.ans | head -n 50) <(cut -d' ' -f2 $tmp/tcp4-moved.ans | head -n 50)"

# ICMP to the cluster IP: exactly one member answers each echo.
check "ping the cluster IP: one answer per echo" bash -c \
	"ip netns exec $NS_CLIENT ping -c 5 -i 0.2 -W 2 $CLUSTER4 | grep -q ' 0% packet loss' &&
	 ! ip netns exec $NS_CLIENT ping -c 5 -i 0.2 -W 2 $CLUSTER4 | grep -q DUP"
check "client's ARP entry for the cluster IP is the cluster MAC" bash -c \
	"ip -n $NS_CLIENT neigh show $CLUSTER4 | grep -q '01:00:5e:00:02:64'"
check "client's neighbour entry for the cluster IPv6 is the cluster MAC" bash -c \
	"ip -n $NS_CLIENT -6 neigh show $CLUSTER6 | grep -q '33:33:00:00:01:00\|01:00:5e:00:02:64'"

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
