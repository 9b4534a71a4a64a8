#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Genuine datagrams where they do not belong, sent from outside the
# daemons: three members with real daemons (tcp-export) and a client
# that opens connections so that the members replicate TCP state.
# - A TCP state datagram signed with a member's own key, its counter far
#   ahead of the member's, sent to another member's membership port; and
#   a real TCP state datagram heard on the link (port + 1), replayed to
#   the membership port: each is rejected as "wrong port" and moves no
#   replay window, so the sender's keepalives still count (none replayed)
#   and nobody is declared dead.
# - A member's certificate (bound to its link address) used from other
#   hosts: a keepalive in its name from another member's host to the
#   master, a "leave, stale configuration" from the master's host to a
#   member, TCP state from the client: each rejected as "wrong address";
#   nothing changes, nobody leaves.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
REPLAY="python3 $IPC_TOP/tests/tools/replay.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
LINK=7400
GROUP=239.255.73.1
tmp=$(mktemp -d)
pki=$tmp/pki

load_module
setup_topology 3
ip -n "$NS_SW" link set br0 type bridge mcast_snooping 0

declare -A pid app
start() { # start I: member I's service and daemon
	local i=$1
	{
		daemon_conf "$i" "tcp-export drain 600000"
		vm_timing 500
		handoff_conf "$i" $PORT
	} >"$tmp/m$i.toml"
	run_echo "$i" "$CLUSTER4:$PORT"
	run_daemon "$i"
}
field() { $MEMBERS field "$tmp" "$@"; }
# The membership as every member sees it: role, own id, member list.
view() {
	local i
	for i in 1 2 3; do
		echo "m$i $(field "$i" role) $(field "$i" member) $(field "$i" members)"
	done
}
deaths() { cat "$tmp"/m[123].log | grep -cE 'event="(member-down|lost-master)"'; }
# unchanged_for SECONDS BEFORE: the view stays BEFORE that long.
unchanged_for() {
	local end=$((SECONDS + $1)) now
	while [ "$SECONDS" -lt "$end" ]; do
		now=$(view)
		[ "$now" = "$2" ] || { printf 'before:\n%s\nnow:\n%s\n' "$2" "$now"; return 1; }
		sleep 0.5
	done
}
# ns_of ID: the index of the member whose id is ID.
ns_of() {
	local i
	for i in 1 2 3; do [ "$(field "$i" member)" = "$1" ] && echo "$i"; done
}

cluster_pki 1 2 3
for i in 1 2 3; do start "$i"; done
check "the cluster forms and spreads" wait_for 120 $MEMBERS spread "$tmp" 1 2 3
check "one table, all acknowledged" wait_for 180 $MEMBERS formed "$tmp" 1 2 3

# 1. TCP state signed by m2's key, to m1's membership port, its counter
# 10^12 ahead of the wall clock (where m2's counters start).
id2=$(field 2 member)
before=$(view) dead0=$(deaths)
wp0=$(field 1 rejected wrong_port) rp0=$(field 1 rejected replayed)
ip netns exec "$NS_CLIENT" $REPLAY forge "$(member4 1)" $LINK 1 "$pki" m2 "$id2" tcp-state 5 |
	sed 's/^/    # /'
check "TCP state on the membership port: nothing changes for 8 s" unchanged_for 8 "$before"
check "... counted as wrong port" test "$(field 1 rejected wrong_port)" -ge $((wp0 + 5))
check "... m2's keepalives still count (none replayed)" test "$(field 1 rejected replayed)" = "$rp0"
check "... nobody declared dead" test "$(deaths)" = "$dead0"

# 2. A real TCP state datagram, heard on the link while the client opens
# connections, replayed to another member's membership port.
ip netns exec "$NS_CLIENT" $REPLAY capture $GROUP $((LINK + 1)) eth0 "$tmp/captured" 60 \
	>"$tmp/capture.out" 2>&1 &
cap=$!
sleep 1
ip netns exec "$NS_CLIENT" $FLOWS client "$CLUSTER4" $PORT tcp 40000 30 >/dev/null 2>&1
wait $cap
check "a TCP state datagram is heard on the link" test -s "$tmp/captured"
if [ -s "$tmp/captured" ]; then
	read -r sid saddr <"$tmp/capture.out"
	s=$(ns_of "$sid")
	t=$(for i in 1 2 3; do [ "$i" != "$s" ] && echo "$i"; done | head -n1)
	echo "    # captured member $sid's (m$s, $saddr) TCP state; replayed to m$t:$LINK"
	before=$(view) dead0=$(deaths)
	wp0=$(field "$t" rejected wrong_port) rp0=$(field "$t" rejected replayed)
	ip netns exec "$NS_CLIENT" $REPLAY send "$(member4 "$t")" $LINK "$tmp/captured" 5 |
		sed 's/^/    # /'
	check "replayed TCP state on the membership port: nothing changes for 8 s" \
		unchanged_for 8 "$before"
	check "... counted as wrong port" test "$(field "$t" rejected wrong_port)" -ge $((wp0 + 5))
	check "... m$s's keepalives still count (none replayed)" \
		test "$(field "$t" rejected replayed)" = "$rp0"
	check "... nobody declared dead" test "$(deaths)" = "$dead0"
else
	skip "replayed TCP state on the membership port" "nothing captured"
fi

# 3. Member x's certificate from elsewhere (m is the master, y the third).
m=$($MEMBERS master "$tmp" 1 2 3)
x=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
y=$(for i in 1 2 3; do [ "$i" != "$m" ] && [ "$i" != "$x" ] && echo "$i"; done)
idx=$(field "$x" member) idm=$(field "$m" member)
echo "    # m$x's certificate used from m$y's host, the master m$m's and the client"
before=$(view) dead0=$(deaths)
wam0=$(field "$m" rejected wrong_address) way0=$(field "$y" rejected wrong_address)
ign0=$(field "$y" tcp ignored)
# Without the binding the master would tell m$y's host to leave (a
# keepalive of member $idx from an address not its own), and m$y would
# exit for good (the master telling it its configuration is stale).
ip netns exec "$(member_ns "$y")" $REPLAY forge "$(member4 "$m")" $LINK 1 "$pki" "m$x" "$idx" \
	member-alive 3 | sed 's/^/    # /'
ip netns exec "$(member_ns "$m")" $REPLAY forge "$(member4 "$y")" $LINK 1 "$pki" "m$x" "$idm" \
	leave-stale 3 | sed 's/^/    # /'
ip netns exec "$NS_CLIENT" $REPLAY forge "$(member4 "$y")" $((LINK + 1)) 1 "$pki" "m$x" "$idx" \
	tcp-state 3 | sed 's/^/    # /'
check "a certificate from another host: nothing changes for 8 s" unchanged_for 8 "$before"
check "... counted as wrong address by the master" \
	test "$(field "$m" rejected wrong_address)" -ge $((wam0 + 3))
check "... and by m$y" test "$(field "$y" rejected wrong_address)" -ge $((way0 + 6))
check "... m$y still runs" kill -0 "${pid[$y]}"
check "... its TCP state never reached the replicas" test "$(field "$y" tcp ignored)" = "$ign0"
check "... nobody declared dead" test "$(deaths)" = "$dead0"

grep -hE "WARN|ERROR" "$tmp"/m[123].log | head -n 10 | sed 's/^/    # /'
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
