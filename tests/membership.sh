#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The membership daemon: three members with real `clusteradm daemon`s and
# the real module form a cluster by themselves (the master announces the
# cluster MAC, the applications' hook approves each join), spread the
# buckets while held connections stay up, and serve the buckets of a
# member that dies (kill -9 and link down) and of a dead master. A host
# without a certificate of the cluster's CA, or with a revoked one, cannot
# join, and its signed-by-nobody keepalives change nothing; a vetoed host
# cannot join; a host with a stale configuration is told to exit.
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
for i in 1 2 3 4; do "$CLUSTERADM" cert issue "$pki" "m$i" addr "$(member4 "$i")" >/dev/null; done
"$CLUSTERADM" cert ca "$tmp/rogue" >/dev/null
"$CLUSTERADM" cert issue "$tmp/rogue" m5 addr "$(member4 4)" >/dev/null

# The applications' hook: logs every call, vetoes the hosts listed in
# $tmp/veto.
cat >"$tmp/hook" <<-EOF
	#!/bin/sh
	echo "\$*" >>"$tmp/hook.log"
	[ "\$1" != approve ] || ! grep -qx "\$2" "$tmp/veto"
EOF
chmod +x "$tmp/hook"
touch "$tmp/veto"

# conf I CERT KEY CA [CONFIG]: member I's daemon configuration.
conf() {
	daemon_conf "$1" "" "$4" "$2" "$3"
	echo "revoked = \"$pki/revoked\""
	vm_timing 1000 1000 600
	cat <<-TOML
	config = ${5:-1}
	hook = "$tmp/hook"
	approve = true
	TOML
}

declare -A pid
start() { # start I [CERT KEY CA [CONFIG]]
	local i=$1
	conf "$i" "${2:-$pki/m$i.pem}" "${3:-$pki/m$i.key}" "${4:-$pki/ca.pem}" "${5:-1}" >"$tmp/m$i.toml"
	IPCLUSTER_LOG=info,ipcluster_daemon::run=debug run_daemon "$i"
}
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
formed() { $MEMBERS formed "$tmp" "$@"; }
# formed_within SECONDS I...: formed by then, or why not.
formed_within() { wait_for "$1" formed "${@:2}" || formed "${@:2}"; }
spread() { $MEMBERS spread "$tmp" "$@"; }
master_of() { $MEMBERS master "$tmp" "$@"; }
field() { $MEMBERS field "$tmp" "$@"; }
answered() { # 60 TCP flows from port FIRST, each answered by a member
	ip netns exec "$NS_CLIENT" $FLOWS client "$CLUSTER4" $PORT tcp "$1" 60 >"$tmp/answers"
	grep -v ' m[0-9]' "$tmp/answers" | sed 's/^/    # not answered: /'
	test "$(grep -c ' m[0-9]' "$tmp/answers")" = 60
}

# The client's neighbour entry for the cluster address, if any.
neigh_mac() { ip -n "$NS_CLIENT" -j neigh show "$CLUSTER4" | python3 -c 'import json,sys; print((json.load(sys.stdin) or [{}])[0].get("lladdr",""))'; }
announced() { test "$(neigh_mac)" = 01:00:5e:00:02:64; }
# The client holds a stale neighbour entry for the cluster address: the
# master's announcement (gratuitous ARP) corrects it.
ip -n "$NS_CLIENT" neigh replace "$CLUSTER4" lladdr 02:00:00:00:00:99 dev eth0 nud stale
for i in 1 2 3; do
	ip -n "$(member_ns "$i")" addr add "$CLUSTER4/32" dev eth0
	ip netns exec "$(member_ns "$i")" $FLOWS serve-held "m$i" $PORT "$CLUSTER4" &
done
start 1
check "a daemon alone makes itself master" wait_for 30 master_of 1
check "the master announces the cluster MAC" wait_for 10 announced
# Connections held from before the others join: rebalancing moves their
# buckets away from m1, again and again, and not one of them breaks.
ip netns exec "$NS_CLIENT" $FLOWS hold "$CLUSTER4" $PORT 15000 16 10 "sleep 2" >"$tmp/held" 2>&1 &
held=$!
sleep 2
start 2
start 3
check "the others join: one master" wait_for 30 master_of 1 2 3
m=$(master_of 1 2 3)
# One bucket moves per rebalancing round once its new owner has the table.
check "rebalancing spreads the buckets over all three" wait_for 120 spread 1 2 3
check "one table in every kernel, every bucket owned, all acknowledged" formed_within 60 1 2 3
check "the applications approved each join" \
	test "$(grep -c '^approve ' "$tmp/hook.log")" -ge 2
check "and heard of the members" grep -q '^member-up 3 ' "$tmp/hook.log"
wait "$held"
check "16 connections held through the rebalancing, all answered by their member" \
	test "$(grep -c '^round .* ok=16 reset=0 lost=0 moved=0' "$tmp/held")" -eq 10
grep -v '^round' "$tmp/held" | head -n 5 | sed 's/^/    /'
check "every flow is answered" answered 20000

# A host whose certificate another CA issued (trusting that CA, it makes
# itself master of its own cluster and sends its keepalives and "other
# master exists" to ours), and a revoked one. Neither has the cluster
# address: whatever table it makes itself serves nothing.
start 4 "$tmp/rogue/m5.pem" "$tmp/rogue/m5.key" "$tmp/rogue/ca.pem"
sleep 5
check "a stranger's certificate does not join" formed_within 20 1 2 3
untrusted() { [ "$(field "$m" rejected untrusted)" -gt 0 ]; }
check "its messages were ignored as untrusted" wait_for 10 untrusted
kill -9 "${pid[4]}"
"$CLUSTERADM" cert revoke "$pki" m4 >/dev/null
sleep 5 # the daemons reread the revocation list every second
start 4
sleep 3
check "a revoked certificate does not join" formed_within 20 1 2 3
kill -9 "${pid[4]}"

# A host the applications veto, with a good certificate (for m4's host).
"$CLUSTERADM" cert issue "$pki" m5 addr "$(member4 4)" >/dev/null
member4 4 >"$tmp/veto"
start 4 "$pki/m5.pem" "$pki/m5.key"
check "a vetoed host does not join" wait_for 20 grep -q 'refused.*Vetoed' "$tmp/m4.log"
check "and the cluster stays as it was" formed 1 2 3
kill -9 "${pid[4]}"

# A host with an older configuration version is told to exit.
: >"$tmp/veto"
start 4 "$pki/m5.pem" "$pki/m5.key" "$pki/ca.pem" 0
check "a host with a stale configuration is told to exit" \
	wait_for 20 grep -q "configuration version 0 is stale" "$tmp/m4.log"
check "and does" wait_for 5 bash -c "! kill -0 ${pid[4]}"

# 5 % loss on every member's link for a minute: the interval adapts, and
# nobody is declared dead.
events() { cat "$tmp"/m[123].log | grep -cE 'event="(member-down|lost-master|master)"'; }
before=$(events)
for i in 1 2 3; do
	ip netns exec "$(member_ns "$i")" tc qdisc add dev eth0 root netem loss 5%
done
for i in 1 2 3; do lines[$i]=$(wc -l <"$tmp/m$i.log"); done
sleep 60
check "5 % loss for 60 s: no death declared, no new master" test "$(events)" = "$before"
check "the master measured the loss" $MEMBERS lossy "$tmp" "$m"
# What the daemons saw meanwhile: their own pauses (a stalled emulated
# VM) and any event, for a run that failed above.
for i in 1 2 3; do
	tail -n +"$((lines[$i] + 1))" "$tmp/m$i.log" | grep -E 'paused|event=' |
		sed -E 's/^[0-9-]+T([0-9:.]{8}).*(ms=[0-9]+|event="[a-z-]+").*/\1 \2/' |
		tr '\n' ' ' | sed "s/^/    # m$i during the loss: /"
	echo
done
for i in 1 2 3; do
	ip netns exec "$(member_ns "$i")" tc qdisc del dev eth0 root
done
check "and the master is still m$m" test "$(master_of 1 2 3)" = "$m"

# A partition: m3 alone makes itself master; healed, one master again.
ip -n "$NS_SW" link set p-ipc-m3 nomaster
check "partitioned, m3 makes itself master" wait_for 30 master_of 3
ip -n "$NS_SW" link set p-ipc-m3 master br0
check "healed: one master and one table again" formed_within 60 1 2 3
m=$(master_of 1 2 3)

# A member dies: kill -9 and its link goes down.
v=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
rest=$(for i in 1 2 3; do [ "$i" != "$v" ] && echo "$i"; done | xargs)
kill -9 "${pid[$v]}"
ip -n "$(member_ns "$v")" link set eth0 down
check "m$v dies: the survivors take its buckets" formed_within 60 $rest
check "every flow is answered without m$v" answered 21000

# The master dies.
kill -9 "${pid[$m]}"
ip -n "$(member_ns "$m")" link set eth0 down
last=$(for i in $rest; do [ "$i" != "$m" ] && echo "$i"; done)
check "the master m$m dies: m$last takes over every bucket" formed_within 60 "$last"
check "every flow is answered by m$last" answered 22000

for i in 1 2 3 4; do sed 's/^/    # m'"$i"': /' "$tmp/m$i.log" | grep -E "event|WARN|ERROR" | head -n 8; done
for i in 1 2 3; do
	echo "    # m$i installed $(grep -c 'table installed' "$tmp/m$i.log") tables"
	grep -o 'why=[A-Za-z]*' "$tmp/m$i.log" | sort | uniq -c | sed "s/^/    # m$i ignored: /"
	grep -E 'event=|WARN' "$tmp/m$i.log" | head -n 6 | sed "s/^/    # m$i: /"
done
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
if [ "$_failed" != 0 ]; then
	# The daemons' logs, for whoever looks into it.
	mkdir -p "$IPC_TOP/results/membership"
	cp "$tmp"/m*.log "$IPC_TOP/results/membership/"
fi
rm -rf "$tmp"
finish
