#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Replicas trust nothing they have not checked: three members with real
# daemons (tcp-export) and echo-member, a client holding connections over
# all of them. One member turns forger: from its own host, with its own
# certificate and key, it sends the others TCP state it has no right to
# (tests/tools/member.py, records from tests/tools/records.py): a
# connection in another member's bucket (Initial, Essential, Data), a
# connection to 127.0.0.1 and one to an address that is not the
# cluster's, Initial, Essential, Data and Closed for the real connections
# of another member, and Data without end for a connection of its own
# bucket. Then the owner of the attacked connections crashes: its genuine
# connections answer from the survivors, none is reset, the forged ones
# are never restored, and each refusal is counted by reason
# (`clusteradm -j status`, tcp.refused).
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
RECORDS="python3 $IPC_TOP/tests/tools/records.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
HELD=${IPC_HELD:-30}
FIRST=25000
FAKE=192.0.2.77 # a client that does not exist
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3

declare -A pid app
member_conf() {
	# (A long drain: the held connections stay on their member through
	# the spread's moves; this test is about a crash.)
	daemon_conf "$1" "tcp-export drain 600000"
	vm_timing 500
	handoff_conf "$1" $PORT
	# Small enough for the forger's endless Data to reach.
	echo "max_conn_bytes = 65536"
}
member_server() { run_echo "$1" "$CLUSTER4:$PORT"; }

start_members 1 2 3
check_formed
field() { $MEMBERS field "$tmp" "$@"; }
# The master m$r keeps replicas and survives; m$a forges; m$o owns the
# attacked connections and crashes.
r=$($MEMBERS master "$tmp" 1 2 3)
a=$(for i in 1 2 3; do [ "$i" != "$r" ] && echo "$i"; done | head -n1)
o=$(for i in 1 2 3; do [ "$i" != "$r" ] && [ "$i" != "$a" ] && echo "$i"; done)
aid=$(field "$a" member) oid=$(field "$o" member)
echo "    # m$r keeps replicas, m$a (member $aid) forges, m$o (member $oid) crashes"

# pick ADDR OWNER N: N source ports of ADDR whose connections to the
# cluster port are in a bucket of member OWNER.
pick() {
	seq 30000 30999 | sed "s/^/$1 sport /; s/\$/ dport $PORT/" |
		ip netns exec "$(member_ns "$r")" "$CLUSTERADM" -j which 1 - |
		python3 -c "import json, sys
p = [30000 + k for k, l in enumerate(sys.stdin) if json.loads(l).get('owner') == $2]
print(' '.join(map(str, p[:$3])))"
}
foreign=$(pick $FAKE "$oid" 8)
own=$(pick 192.0.2.78 "$aid" 1)

# The forgery, between the client's first connections and its first
# round: everything m$a sends, to m$r, as member $aid from its own host.
cat >"$tmp/forge.sh" <<-EOF
	#!/bin/bash
	send() { ip netns exec $(member_ns "$a") python3 $IPC_TOP/tests/tools/member.py \
		$(member4 "$r") 7401 1 $pki m$a $aid | sed 's/^/    # /'; }
	# Connections in m$o's buckets, never opened.
	for p in $foreign; do
		$RECORDS $FAKE \$p $CLUSTER4 $PORT initial essential:5 data:in:500:10
	done | send
	# To 127.0.0.1 and to an address that is not the cluster's, whatever
	# their bucket.
	for d in 127.0.0.1 192.0.2.200; do
		$RECORDS $FAKE 40000 \$d $PORT initial essential:5
	done | send
	# The real connections of m$o: fed, closed, updated with a higher
	# generation; then taken over.
	real=\$(ip netns exec $(member_ns "$o") ss -Htn state established "( sport = :$PORT )" |
		awk '{print \$4}' | sed 's/.*://')
	echo "    # m$o serves \$(echo \$real | wc -w) of the connections"
	for p in \$real; do
		$RECORDS $CLIENT4 \$p $CLUSTER4 $PORT essential:99999 data:in:500:10 closed
	done | send
	for p in \$real; do $RECORDS $CLIENT4 \$p $CLUSTER4 $PORT initial; done | send
	# A connection of m$a's own bucket: its Initial, then Data without an
	# Essential and without end (200 KB, max_conn_bytes is 64 KiB).
	$RECORDS 192.0.2.78 $own $CLUSTER4 $PORT initial \$(for k in \$(seq 0 199); do
		echo data:in:\$((1000 + 1000 * k)):1000; done) | send
	# Records refused for ownership wait 5 s for a newer table, then go.
	sleep 7
EOF
cat >"$tmp/rounds.sh" <<-EOF
	#!/bin/bash
	$(declare -f wait_for)
	# (2 s first: the last answers' state reaches the replicas.)
	case \$ROUND in
	1) sleep 2; bash $tmp/forge.sh ;;
	2) sleep 2; ip -n $(member_ns "$o") link set eth0 down; kill -9 ${pid[$o]} ${app[$o]}
	   wait_for 30 $MEMBERS formed $tmp $r $a ;;
	esac
	sleep 1
EOF
chmod +x "$tmp/rounds.sh"
client_resets() {
	ip netns exec "$NS_CLIENT" nstat -az TcpExtTCPAbortOnData TcpEstabResets |
		awk '$1 ~ /^Tcp/ {printf "%s=%s ", $1, $2}'
}
rst0=$(client_resets)
ip netns exec "$NS_CLIENT" $FLOWS hold "$CLUSTER4" $PORT $FIRST "$HELD" 2 "$tmp/rounds.sh" >"$tmp/held" 2>&1
grep -v '^round' "$tmp/held" | head -n 12 | sed 's/^/    # /'
grep '^round' "$tmp/held" | sed 's/^/    # /'
refused() { field "$r" tcp refused "$1"; }
python3 -c "import json; print('    # m$r tcp:', json.dumps(json.load(open('$tmp/run$r/1.json'))['tcp']))"
check "all $HELD connections answered with everyone alive, after the forgery" \
	grep -q "^round 1 ok=$HELD reset=0 lost=0 moved=0" "$tmp/held"
check "m$o crashed: every connection still answers, none reset" \
	grep -qE "^round 2 ok=[0-9]+ reset=0 lost=0 moved=[1-9]" "$tmp/held"
rst=$(client_resets)
check "the client saw no reset" test "$rst" = "$rst0"
check "refused: connections in another member's bucket (not_owner)" \
	test "$(refused not_owner)" -ge 8
check "refused: 127.0.0.1 and a foreign address (foreign_destination)" \
	test "$(refused foreign_destination)" -ge 2
check "refused: Essential, Data, Closed for m$o's connections (not_replica_owner)" \
	test "$(refused not_replica_owner)" -ge 1
check "refused: Data without end (conn_bytes)" test "$(refused conn_bytes)" -ge 1
check "nothing waits any more" test "$(refused waiting)" = 0
check "m$r restored m$o's connections" test "$(field "$r" tcp restored)" -ge 1
# No socket for a forged connection on any survivor, restored or not.
forged() {
	local i
	for i in "$r" "$a"; do
		ip netns exec "$(member_ns "$i")" ss -Htan
	done | grep -E "$FAKE|192\.0\.2\.78|127\.0\.0\.1:$PORT|192\.0\.2\.200" | grep -v LISTEN
}
left=$(forged)
[ -n "$left" ] && echo "$left" | sed 's/^/    # /'
check "no forged connection was restored" test -z "$left"
check "no restore was refused either (none reached a restore)" test \
	"$(refused restore_foreign_destination)$(refused restore_bad_id)$(refused restore_not_mine)" = 000
grep -hE "restor|WARN|ERROR" "$tmp"/m[123].log | head -n 10 | sed 's/^/    # /'

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
