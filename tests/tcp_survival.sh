#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# TCP survival: three members with real daemons (tcp-export) and the
# example failover-aware service (echo-member). A client holds idle
# connections spread over all of them; a member crashes (kill -9 of its
# daemon and service, link down): every connection it served answers its
# next request from the member that took its bucket, and nothing is reset;
# so do connections whose handshake it had not finished (the client's ACK
# dropped: the member had only sent its SYN-ACK). Then the same with the
# master as the victim. Before that: forged state updates change nothing.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
HELD=${IPC_HELD:-30}
HALF=30 HALF_FIRST=26000
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3

declare -A pid app
member_conf() {
	# (A long drain: the held connections must outlive any rebalancing
	# move, which leaves them on their member for the drain time only;
	# this test is about crashes.)
	daemon_conf "$1" "tcp-export drain 600000"
	# (Half membership.sh's period: the survival tests measure how soon
	# connections answer again.)
	vm_timing 500
	handoff_conf "$1" $PORT
}
member_server() { run_echo "$1" "$CLUSTER4:$PORT"; }

"$CLUSTERADM" cert issue "$pki" m9 addr "$CLIENT4" >/dev/null # a host of the CA, no member
start_members 1 2 3
# (The spread moves ~680 buckets, one per tick: 100 ms at this period.)
check_formed
m=$($MEMBERS master "$tmp" 1 2 3)
v=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
last=$(for i in 1 2 3; do [ "$i" != "$m" ] && [ "$i" != "$v" ] && echo "$i"; done)
field() { $MEMBERS field "$tmp" "$@"; }

# Forged state updates (tests/tools/forge.py): a Hello with a member's
# certificate and a wrong signature, TCP state signed where it must be
# sealed, a stranger's Hello, garbage, and a host of the CA that is no
# member claiming to be one through a session of its own (twice: a
# replay). None may leave a replica behind.
"$CLUSTERADM" cert ca "$tmp/rogue" >/dev/null
"$CLUSTERADM" cert issue "$tmp/rogue" m5 >/dev/null
sleep 2
before=$(field "$last" tcp replicas)
ip netns exec "$NS_CLIENT" python3 "$IPC_TOP/tests/tools/forge.py" "$(member4 "$last")" 7401 1 \
	"$pki" "$tmp/rogue" | sed 's/^/    # /'
# at_least N KEY...: the last member's status field KEY is N or more (the
# status file is written once a second).
at_least() { [ "$(field "$last" "${@:2}")" -ge "$1" ]; }
check "forged: a wrong signature is rejected" wait_for 10 at_least 1 rejected bad_signature
check "forged: signed TCP state is rejected" wait_for 10 at_least 1 rejected signed_where_sealed
check "forged: a replay is rejected" wait_for 10 at_least 1 rejected replayed
check "forged: a stranger is rejected" wait_for 10 at_least 1 rejected untrusted
check "forged: garbage is rejected" wait_for 10 at_least 2 rejected malformed
check "forged: a host that is no member is ignored" wait_for 10 at_least 1 tcp ignored
check "forged: no replica was made of them" test "$(field "$last" tcp replicas)" = "$before"

# The crashes happen between the client's rounds: round 1 asks with
# everyone alive, round 2 after m$v's crash, round 3 after the master's.
# A crash: the link goes down first (a dying host sends no FIN), then the
# daemon and the service are killed. Before m$v's, the client opens $HALF
# connections whose handshake it does not finish (its ACK dropped) and asks
# on them once the survivors have a table.
cat >"$tmp/half.nft" <<-EOF
	table inet half {
		chain out {
			type filter hook output priority 0;
			tcp sport $HALF_FIRST-$((HALF_FIRST + HALF - 1)) tcp flags == ack drop
		}
	}
EOF
cat >"$tmp/rounds.sh" <<-EOF
	#!/bin/bash
	$(declare -f wait_for)
	# (Each crash waits 2 s: replication is asynchronous here, and the
	# last answers' state must reach the replicas for the connections to
	# be at rest when their member dies.)
	case \$ROUND in
	2) echo "# round 2 from \${SECONDS} s"; nft -f $tmp/half.nft
	   $FLOWS half $CLUSTER4 $PORT $HALF_FIRST $HALF $tmp/half.go >$tmp/half 2>&1 &
	   wait_for 30 grep -q handshakes $tmp/half; sleep 2
	   echo "# handshakes sent after \${SECONDS} s"
	   ip -n $(member_ns "$v") link set eth0 down; kill -9 ${pid[$v]} ${app[$v]}
	   nft delete table inet half
	   wait_for 30 $MEMBERS formed $tmp $m $last; touch $tmp/half.go
	   echo "# m$v crashed, the others formed after \${SECONDS} s" ;;
	3) sleep 2; ip -n $(member_ns "$m") link set eth0 down; kill -9 ${pid[$m]} ${app[$m]}
	   wait_for 30 $MEMBERS formed $tmp $last ;;
	esac
	sleep 1
EOF
chmod +x "$tmp/rounds.sh"
# The client's resets, either way: received on an established connection,
# or its own (a close with unread bytes).
client_resets() {
	ip netns exec "$NS_CLIENT" nstat -az TcpExtTCPAbortOnData TcpEstabResets |
		awk '$1 ~ /^Tcp/ {printf "%s=%s ", $1, $2}'
}
rst0=$(client_resets)
ip netns exec "$NS_CLIENT" $FLOWS hold "$CLUSTER4" $PORT 25000 "$HELD" 3 "$tmp/rounds.sh" >"$tmp/held" 2>&1
grep -v '^round' "$tmp/held" | head -n 12 | sed 's/^/    # /'
grep '^round' "$tmp/held" | sed 's/^/    # /'
check "all $HELD connections answered with everyone alive" \
	grep -q "^round 1 ok=$HELD reset=0 lost=0 moved=0" "$tmp/held"
check "m$v crashed: every connection still answers, none reset" \
	grep -qE "^round 2 ok=[0-9]+ reset=0 lost=0 moved=[1-9]" "$tmp/held"
check "the master m$m crashed: every connection still answers, none reset" \
	grep -qE "^round 3 ok=[0-9]+ reset=0 lost=0 moved=[1-9]" "$tmp/held"
touch "$tmp/half.go"
wait_for 60 grep -q '^half ' "$tmp/half"
grep -E '^half|^# ' "$tmp/half" | head -n 12 | sed 's/^/    # /'
check "m$v crashed: every connection in its handshake answers from the new owner" \
	grep -qE "^half restored=[1-9][0-9]* greeted=[0-9]+ reset=0 lost=0" "$tmp/half"
rst=$(client_resets)
echo "    # client resets before: $rst0; after: $rst"
check "the client saw no reset" test "$rst" = "$rst0"
check "m$last restored connections" bash -c \
	"python3 -c 'import json,sys; sys.exit(json.load(open(\"$tmp/run$last/1.json\"))[\"tcp\"][\"restored\"] < 1)'"
grep -hE "restor|WARN|ERROR" "$tmp"/m[123].log | head -n 10 | sed 's/^/    # /'

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
