#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The membership daemon: three members with real `clusteradm daemon`s and
# the real module form a cluster by themselves, spread the buckets, and
# serve the buckets of a member that dies (kill -9 and link down) and of
# a dead master. A host without a certificate of the cluster's CA, or
# with a revoked one, cannot join, and its signed-by-nobody keepalives
# change nothing.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
tmp=$(mktemp -d)
pki=$tmp/pki

load_module
setup_topology 4
# Multicast on the link reaches every port without IGMP queriers.
ip -n "$NS_SW" link set br0 type bridge mcast_snooping 0

"$CLUSTERADM" cert ca "$pki" >/dev/null
for i in 1 2 3 4; do "$CLUSTERADM" cert issue "$pki" "m$i" >/dev/null; done
"$CLUSTERADM" cert ca "$tmp/rogue" >/dev/null
"$CLUSTERADM" cert issue "$tmp/rogue" m5 >/dev/null

# conf I CERT KEY CA: member I's daemon configuration.
conf() {
	cat <<-TOML
	[cluster]
	add = "id 1 dev eth0 addr $CLUSTER4 seed $SEED"
	[link]
	dev = "eth0"
	addr = "$(member4 "$1")"
	[pki]
	ca = "$4"
	cert = "$2"
	key = "$3"
	revoked = "$pki/revoked"
	[protocol]
	# The emulated VM can stall a process for a few hundred milliseconds:
	# slower keepalives than the 50 ms default, so stalls are not deaths.
	period_ms = 250
	join_wait_ms = 600
	offer_wait_ms = 400
	rebalance_ms = 10
	TOML
}

declare -A pid
start() { # start I [CERT KEY CA]
	local i=$1 ns
	ns=$(member_ns "$i")
	conf "$i" "${2:-$pki/m$i.pem}" "${3:-$pki/m$i.key}" "${4:-$pki/ca.pem}" >"$tmp/m$i.toml"
	mkdir -p "$tmp/run$i"
	IPCLUSTER_RUN_DIR=$tmp/run$i ip netns exec "$ns" "$CLUSTERADM" daemon "$tmp/m$i.toml" \
		2>"$tmp/m$i.log" &
	pid[$i]=$!
}
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
formed() { $MEMBERS formed "$tmp" "$@"; }
spread() { $MEMBERS spread "$tmp" "$@"; }
master_of() { $MEMBERS master "$tmp" "$@"; }
field() { $MEMBERS field "$tmp" "$@"; }
answered() { # 60 TCP flows from port FIRST, each answered by a member
	ip netns exec "$NS_CLIENT" $FLOWS client "$CLUSTER4" $PORT tcp "$1" 60 | grep -c ' m[0-9]' | grep -qx 60
}

for i in 1 2 3; do
	ip -n "$(member_ns "$i")" addr add "$CLUSTER4/32" dev eth0
	ip netns exec "$(member_ns "$i")" $FLOWS serve "m$i" $PORT "$CLUSTER4" &
	start "$i"
done
check "three daemons elect one master by themselves" wait_for 30 master_of 1 2 3
m=$(master_of 1 2 3)
# One bucket moves per rebalancing round once its new owner has the table.
check "rebalancing spreads the buckets over all three" wait_for 120 spread 1 2 3
check "one table in every kernel, every bucket owned, all acknowledged" wait_for 60 formed 1 2 3
check "every flow is answered" answered 20000

# A host whose certificate another CA issued (trusting that CA, it makes
# itself master of its own cluster and sends its keepalives and "other
# master exists" to ours), and a revoked one. Neither has the cluster
# address: whatever table it makes itself serves nothing.
start 4 "$tmp/rogue/m5.pem" "$tmp/rogue/m5.key" "$tmp/rogue/ca.pem"
sleep 5
check "a stranger's certificate does not join" wait_for 20 formed 1 2 3
check "its messages were ignored as untrusted" \
	test "$(field "$m" rejected untrusted)" -gt 0
kill -9 "${pid[4]}"
"$CLUSTERADM" cert revoke "$pki" m4 >/dev/null
sleep 2 # the daemons reread the revocation list every second
start 4
sleep 3
check "a revoked certificate does not join" wait_for 20 formed 1 2 3
kill -9 "${pid[4]}"

# A member dies: kill -9 and its link goes down.
v=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
rest=$(for i in 1 2 3; do [ "$i" != "$v" ] && echo "$i"; done | xargs)
kill -9 "${pid[$v]}"
ip -n "$(member_ns "$v")" link set eth0 down
check "m$v dies: the survivors take its buckets" wait_for 20 formed $rest
check "every flow is answered without m$v" answered 21000

# The master dies.
kill -9 "${pid[$m]}"
ip -n "$(member_ns "$m")" link set eth0 down
last=$(for i in $rest; do [ "$i" != "$m" ] && echo "$i"; done)
check "the master m$m dies: m$last takes over every bucket" wait_for 20 formed "$last"
check "every flow is answered by m$last" answered 22000

for i in 1 2 3 4; do sed 's/^/    # m'"$i"': /' "$tmp/m$i.log" | grep -E "event|WARN|ERROR" | head -n 8; done
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
