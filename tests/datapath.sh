#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The work-set filter in each delivery mode: three members on a bridge
# answer one cluster IP. Every TCP connection and UDP request is answered
# by the member `clusteradm which` predicts, the per-bucket counters agree
# across members, no member sends a RST, and neighbours resolve the cluster
# IP to what the mode announces. In multicast mode, a new table also moves
# new flows, and ping gets exactly one answer.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
PORT=7000
N=${IPC_FLOWS:-500}
SEED=000102030405060708090a0b0c0d0e0f
tmp=$(mktemp -d)

rsts() { ip netns exec "$1" nstat -az TcpOutRsts | awk '/TcpOutRsts/ {print $2}'; }
# no_rst I: member I sent no RST since the flows began; else what may
# tell why (seen once in a while, not understood yet): the RSTs as its
# OUTPUT chain logged them, the flows answered only after a failed try,
# its TCP counters that moved.
no_rst() {
	local i=$1
	[ "$(rsts "$(member_ns "$i")")" = "${rst0[$i]}" ] && return 0
	dmesg | grep "ipc-rst-m$i " | tail -n 4
	awk 'NF > 2' "$tmp"/*.ans | head -n 4
	ip netns exec "$(member_ns "$i")" nstat -az | awk '$2 > 0 && /^Tcp/ {printf "%s=%s ", $1, $2}'
	return 1
}
mac_of() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
neigh_mac() { ip -n "$NS_CLIENT" -j neigh show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("lladdr",""))'; }

# flows MODE NAME DST SRC PROTO FIRST: N flows, answers vs predictions.
flows() {
	local mode=$1 name=$2 dst=$3 src=$4 proto=$5 first=$6
	ip netns exec "$NS_CLIENT" $FLOWS client "$dst" $PORT "$proto" "$first" "$N" >"$tmp/$name.ans"
	$FLOWS expect "$src" $PORT "$proto" "$first" "$N" |
		ip netns exec ipc-m1 "$CLUSTERADM" -j which 1 - >"$tmp/$name.pred"
	check "$mode $name: $N flows, each answered by the predicted owner" \
		$FLOWS compare "$tmp/$name.ans" "$tmp/$name.pred"
}

# mode MODE: a fresh topology, the cluster in MODE, the checks.
mode() {
	local m=$1 i ns forward=() macs=
	setup_topology 3
	if [ "$m" = forward ]; then
		for i in 1 2 3; do
			macs+="${macs:+,}$i=$(mac_of "$(member_ns "$i")" eth0)"
		done
		forward=(forwarder 1 macs "$macs")
	fi
	for i in 1 2 3; do
		ns=$(member_ns "$i")
		ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
		ip -n "$ns" addr add "$CLUSTER6/128" dev eth0 nodad
		check "$m: m$i: cluster add" ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 \
			dev eth0 addr "$CLUSTER4" addr6 "$CLUSTER6" seed "$SEED" member "$i" mode "$m"
		ip netns exec "$ns" iptables -A OUTPUT -p tcp --tcp-flags RST RST \
			-j LOG --log-prefix "ipc-rst-m$i " --log-tcp-sequence 2>/dev/null
		ip netns exec "$ns" ip6tables -A OUTPUT -p tcp --tcp-flags RST RST \
			-j LOG --log-prefix "ipc-rst-m$i " --log-tcp-sequence 2>/dev/null
		check "$m: m$i: table set" ip netns exec "$ns" "$CLUSTERADM" table set 1 \
			spread 1,2,3 "${forward[@]}"
		ip netns exec "$ns" $FLOWS serve "m$i" $PORT "$CLUSTER4" "$CLUSTER6" &
	done
	for i in 1 2 3; do
		wait_for 10 ip netns exec "$(member_ns "$i")" ss -Htln "sport = :$PORT"
	done
	ip netns exec ipc-m1 "$CLUSTERADM" cluster show
	for i in 1 2 3; do rst0[$i]=$(rsts "$(member_ns "$i")"); done

	if [ "$m" = multicast ]; then
		# What reaches PRE_ROUTING on m2 (a chain ahead of ours, -450):
		# others' whole packets were dropped at ingress already.
		ip netns exec ipc-m2 nft -f - <<-NFT
		table ip seen {
			chain pre {
				type filter hook prerouting priority -450;
				ip daddr $CLUSTER4 udp dport $PORT counter
			}
		}
		NFT
	fi
	flows "$m" tcp4 "$CLUSTER4" "$CLIENT4" tcp 20000
	flows "$m" udp4 "$CLUSTER4" "$CLIENT4" udp 20000
	if [ "$m" = multicast ]; then
		local seen kept again
		seen=$(ip netns exec ipc-m2 nft list table ip seen | sed -nE 's/.*packets ([0-9]+).*/\1/p')
		kept=$(grep -c ' m2\( \|$\)' "$tmp/udp4.ans")
		# A lost answer is asked again (flows.py), and the answer file
		# lists each try that failed after the answer: those came too.
		again=$(awk '$2 == "m2" { n += NF - 2 } END { print n + 0 }' "$tmp/udp4.ans")
		check "$m: m2's PRE_ROUTING saw only its own $kept of $N datagrams (saw $seen, $again asked again)" \
			test "$seen" -ge "$kept" -a "$seen" -le $((kept + again + 3)) -a "$kept" -lt $((N / 2))
		ip netns exec ipc-m2 nft delete table ip seen
	fi
	flows "$m" tcp6 "$CLUSTER6" "$CLIENT6" tcp 30000
	flows "$m" udp6 "$CLUSTER6" "$CLIENT6" udp 30000

	for i in 1 2 3; do
		ip netns exec "$(member_ns "$i")" "$CLUSTERADM" -j bucket show 1 >"$tmp/m$i.buckets"
	done
	check "$m: per-bucket counters agree across members" \
		$FLOWS counters "$m" 1024 "$tmp/m1.buckets" "$tmp/m2.buckets" "$tmp/m3.buckets"
	check "$m: ≥ $((2 * N)) new TCP flows counted" bash -c \
		"python3 -c 'import json,sys; f=sum(b[\"flows\"] for b in json.load(open(\"$tmp/m1.buckets\"))); sys.exit(f < 2*$N)'"
	for i in 1 2 3; do
		check "$m: m$i sent no RST" no_rst "$i"
	done

	local want
	case $m in
	multicast) want=01:00:5e:00:02:64 ;;
	unicast) want=02:bf:00:00:00:01 ;; # 02:bf + the cluster id
	forward) want=$(mac_of ipc-m1 eth0) ;;
	esac
	check "$m: the client resolves the cluster IP to $want" test "$(neigh_mac "$CLUSTER4")" = "$want"
	check "$m: the client resolves the cluster IPv6 to $want" test "$(neigh_mac "$CLUSTER6")" = "$want"
	if [ "$m" = unicast ]; then
		check "$m: the switch never learnt the cluster MAC, so it floods it" bash -c \
			"! bridge -n $NS_SW fdb show br br0 | grep -qi $want"
	fi
	if [ "$m" = multicast ]; then
		# A new table moves new flows to their new owners.
		for i in 1 2 3; do
			ip netns exec "$(member_ns "$i")" "$CLUSTERADM" table set 1 spread 3,1,2
		done
		flows "$m" tcp4-moved "$CLUSTER4" "$CLIENT4" tcp 40000
		check "$m: moved flows went to new owners" bash -c \
			"! cmp -s <(cut -d' ' -f2 $tmp/tcp4.ans | head -n 50) <(cut -d' ' -f2 $tmp/tcp4-moved.ans | head -n 50)"
		# ICMP to the cluster IP: exactly one member answers each echo.
		check "$m: ping the cluster IP: one answer per echo" bash -c \
			"ip netns exec $NS_CLIENT ping -c 5 -i 0.2 -W 2 $CLUSTER4 | grep -q ' 0% packet loss' &&
			 ! ip netns exec $NS_CLIENT ping -c 5 -i 0.2 -W 2 $CLUSTER4 | grep -q DUP"
	fi
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
}

load_module
sysctl -qw net.netfilter.nf_log_all_netns=1 2>/dev/null
for m in ${IPC_MODES:-multicast unicast forward}; do
	mode "$m"
done
rm -rf "$tmp"
finish
