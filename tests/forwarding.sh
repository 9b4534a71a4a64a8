#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The forwarding filter: three members route between a client network and
# a server network as one gateway (a cluster IP on each side). Forwarded
# traffic is filtered by the symmetric hash, so both directions of every
# flow cross the same member: each member's stateful firewall (conntrack,
# INVALID dropped, no loose pickup) lets every connection through, and the
# set of client ports each member forwards one way equals the set it
# forwards the other way. The symmetric hash looks at addresses only (the
# patent's source ⊕ destination), so the server has eight addresses for the
# flows to spread over the members.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
SEED=000102030405060708090a0b0c0d0e0f
GW_S=198.51.100.100
SERVER=198.51.100.2
PORT=7000
N=${IPC_FWD_FLOWS:-64}

load_module
setup_topology 3
ip -n "$NS_SW" link add br1 type bridge
ip -n "$NS_SW" link set br1 up
plug() { # NS IFNAME ADDR: another interface, on the server-side bridge
	ip -n "$1" link add "$2" type veth peer name "q-$1" netns "$NS_SW"
	ip -n "$NS_SW" link set "q-$1" master br1 up
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" link set "$2" up
}
ip netns add ipc-s
ip -n ipc-s link set lo up
plug ipc-s eth0 "$SERVER"
SERVERS=$(seq -f "198.51.100.%g" 2 9)
for a in $SERVERS; do ip -n ipc-s addr add "$a/24" dev eth0 2>/dev/null; done
ip -n ipc-s route add 192.0.2.0/24 via "$GW_S"
ip -n "$NS_CLIENT" route add 198.51.100.0/24 via "$CLUSTER4"

for i in 1 2 3; do
	ns=$(member_ns "$i")
	plug "$ns" eth1 "198.51.100.$((10 + i))"
	ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
	ip -n "$ns" addr add "$GW_S/32" dev eth1
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_tcp_loose=0
	ip netns exec "$ns" nft -f - <<-NFT
	table inet fw {
		set c2s { type inet_service; flags dynamic; }
		set s2c { type inet_service; flags dynamic; }
		chain forward {
			type filter hook forward priority 0; policy accept;
			ct state invalid counter drop
			iifname "eth0" tcp dport $PORT add @c2s { tcp sport }
			iifname "eth1" tcp sport $PORT add @s2c { tcp dport }
		}
	}
	NFT
	check "m$i: gateway cluster on the client side filters forwarding on both sides" \
		ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 addr "$CLUSTER4" seed "$SEED" \
		member "$i" fwd-dev eth0 fwd-dev eth1
	check "m$i: gateway cluster on the server side" \
		ip netns exec "$ns" "$CLUSTERADM" cluster add id 2 dev eth1 addr "$GW_S" seed "$SEED" member "$i"
	for id in 1 2; do
		ip netns exec "$ns" "$CLUSTERADM" table set "$id" spread 1,2,3
	done
done
check "a second cluster cannot filter the same interface" bash -c \
	"! ip netns exec ipc-m1 $CLUSTERADM cluster add id 3 dev eth0 addr 192.0.2.101 seed $SEED fwd-dev eth1 2>&1 >/dev/null"

ip netns exec ipc-s $FLOWS serve srv $PORT $SERVERS &
wait_for 10 ip netns exec ipc-s ss -Htln "sport = :$PORT"
wait_for 10 ip netns exec "$NS_CLIENT" ping -c1 -W1 "$SERVER"

sport=20000
: >/tmp/fwd.ans
for a in $SERVERS; do
	ip netns exec "$NS_CLIENT" $FLOWS client "$a" $PORT tcp $sport $((N / 8)) >>/tmp/fwd.ans
	sport=$((sport + N / 8))
done
check "$N connections through the cluster gateway, all answered" bash -c \
	"[ \$(grep -c ' srv\$' /tmp/fwd.ans) -eq $N ]"

ports() { ip netns exec "$1" nft -j list set inet fw "$2" |
	python3 -c 'import json,sys; print(sorted(e for x in json.load(sys.stdin)["nftables"] if "set" in x for e in x["set"].get("elem", [])))'; }
total=0
busy=0
for i in 1 2 3; do
	ns=$(member_ns "$i")
	c2s=$(ports "$ns" c2s)
	check "m$i forwarded both directions of the same flows" test "$c2s" = "$(ports "$ns" s2c)"
	n=$(python3 -c "print(len($c2s))")
	echo "    # m$i forwarded $n flows"
	total=$((total + n))
	[ "$n" -eq 0 ] || busy=$((busy + 1))
	check "m$i's firewall dropped nothing as invalid" bash -c \
		"ip netns exec $ns nft list chain inet fw forward | grep -q 'ct state invalid counter packets 0'"
done
check "every flow was forwarded by exactly one member" test "$total" = "$N"
check "the flows spread over more than one member" test "$busy" -ge 2

rm -f /tmp/fwd.ans
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
finish
