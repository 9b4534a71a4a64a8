#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Buckets drain when they change hands: connections a member already holds
# stay with it however often the table moves their bucket, while new
# connections go to the new owner; when the drain time is over the table
# rules again. Tables are set by hand here (the membership test moves them
# with the daemons), over IPv4 and IPv6, in multicast and unicast mode.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
PORT=7000
SEED=000102030405060708090a0b0c0d0e0f
HELD=${IPC_HELD:-12}
tmp=$(mktemp -d)

load_module

rsts() { ip netns exec "$1" nstat -az TcpOutRsts | awk '/TcpOutRsts/ {print $2}'; }

# The table of round R: every bucket one member further than in round R-1.
cat >"$tmp/rotate.sh" <<-EOF
	#!/bin/bash
	order=(1,2,3 2,3,1 3,1,2)
	for i in 1 2 3; do
		ip netns exec ipc-m\$i "$CLUSTERADM" table set 1 spread \${order[\$((ROUND % 3))]} &
	done
	wait
EOF
chmod +x "$tmp/rotate.sh"

# cluster MODE DRAIN: a fresh topology, members serving, the first table.
cluster() {
	local i ns
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
	setup_topology 3
	for i in 1 2 3; do
		ns=$(member_ns "$i")
		ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
		ip -n "$ns" addr add "$CLUSTER6/128" dev eth0 nodad
		ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 addr "$CLUSTER4" \
			addr6 "$CLUSTER6" seed "$SEED" member "$i" mode "$1" drain "$2" >/dev/null
		ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1,2,3
		ip netns exec "$ns" $FLOWS serve-held "m$i" $PORT "$CLUSTER4" "$CLUSTER6" &
	done
	for i in 1 2 3; do
		wait_for 10 ip netns exec "$(member_ns "$i")" ss -Htln "sport = :$PORT"
	done
	for i in 1 2 3; do rst0[$i]=$(rsts "$(member_ns "$i")"); done
}

# held NAME DST FIRST ROUNDS CMD [N]: N (HELD) connections through ROUNDS rounds.
held() {
	ip netns exec "$NS_CLIENT" $FLOWS hold "$2" $PORT "$3" "${6:-$HELD}" "$4" "$5" >"$tmp/$1" 2>&1
	grep -v "^round [2-9]" "$tmp/$1" | head -n 6 | sed "s/^/    # /"
}
all_ok() { # all_ok FILE ROUNDS: every connection answered by its member, each round
	test "$(grep -c "^round .* ok=$HELD reset=0 lost=0 moved=0" "$1")" -eq "$2"
}

# Ten moves in multicast mode; unicast mode runs the same filter: four.
for mode in multicast unicast; do
	moves=10
	[ "$mode" = multicast ] || moves=4
	cluster "$mode" 600s
	held "$mode.v4" "$CLUSTER4" 20000 $moves "$tmp/rotate.sh"
	check "$mode: $HELD IPv4 connections stay with their member through $moves table moves" \
		all_ok "$tmp/$mode.v4" $moves
	if [ "$mode" = multicast ]; then
		held "$mode.v6" "$CLUSTER6" 30000 10 "$tmp/rotate.sh"
		check "$mode: $HELD IPv6 connections stay with their member through 10 table moves" \
			all_ok "$tmp/$mode.v6" 10
	fi
	# The last round (10 or 4) left order 2,3,1: new flows follow it.
	ip netns exec "$NS_CLIENT" $FLOWS client "$CLUSTER4" $PORT tcp 40000 60 >"$tmp/new.ans"
	$FLOWS expect "$CLIENT4" $PORT tcp 40000 60 |
		ip netns exec ipc-m1 "$CLUSTERADM" -j which 1 - >"$tmp/new.pred"
	check "$mode: new connections go to the new owners meanwhile" \
		$FLOWS compare "$tmp/new.ans" "$tmp/new.pred"
	check "$mode: draining buckets are listed" bash -c \
		"ip netns exec ipc-m1 '$CLUSTERADM' -j bucket show 1 | python3 -c \
		'import json,sys; sys.exit(not all(0 < b[\"drain_ms\"] <= 600000 for b in json.load(sys.stdin)))'"
	for i in 1 2 3; do
		check "$mode: m$i sent no RST" test "$(rsts "$(member_ns "$i")")" = "${rst0[$i]}"
	done
done

# A short drain: the connections survive a move while it lasts; once it is
# over, the new owner holds the table's word and resets them. (20 s: the
# emulated VM takes seconds to set three tables.)
cluster multicast 20s
cat >"$tmp/expire.sh" <<-EOF
	#!/bin/bash
	case \$ROUND in
	1) ROUND=1 $tmp/rotate.sh ;;
	2) sleep 21 ;;
	esac
EOF
chmod +x "$tmp/expire.sh"
held expire "$CLUSTER4" 20000 2 "$tmp/expire.sh" 6
check "a move within the drain time breaks nothing" grep -q "^round 1 ok=6 reset=0 lost=0 moved=0" "$tmp/expire"
check "after the drain time the new owners reset them" grep -q "^round 2 ok=0 reset=6" "$tmp/expire"
check "bucket show lists no drain after it" bash -c \
	"ip netns exec ipc-m1 '$CLUSTERADM' -j bucket show 1 | python3 -c \
	'import json,sys; sys.exit(any(\"drain_ms\" in b for b in json.load(sys.stdin)))'"

# A member gone: its buckets go to the others and drain from it, as after
# any move; once the others are told it is gone (table set gone, as the
# daemon does once it has restored the dead member's connections) those
# drains end, and a segment of a connection of the gone member meets the
# new owner's stack, which resets it, instead of being dropped until the
# drain ends; the drains from live members go on.
cluster multicast 600s
cat >"$tmp/gone.sh" <<-EOF
	#!/bin/bash
	ip -n ipc-m3 link set eth0 down
	for i in 1 2; do
		ip netns exec ipc-m\$i "$CLUSTERADM" table set 1 spread 1,2
		ip netns exec ipc-m\$i "$CLUSTERADM" -j bucket show 1 >$tmp/before\$i.json
		ip netns exec ipc-m\$i "$CLUSTERADM" table set 1 gone 3
		ip netns exec ipc-m\$i "$CLUSTERADM" -j bucket show 1 >$tmp/after\$i.json
	done
EOF
chmod +x "$tmp/gone.sh"
held gone "$CLUSTER4" 21000 1 "$tmp/gone.sh" 24
on3=$(sed -n "s/.*'m3': \([0-9]*\).*/\1/p" "$tmp/gone")
check "m3 gone: its ${on3:-0} connections reset by their new owners, the others' answer" \
	grep -q "^round 1 ok=$((24 - ${on3:-0})) reset=${on3:-x} lost=0 moved=0" "$tmp/gone"
# Spread 1,2,3 to 1,2: bucket b moves iff b mod 3 != b mod 2, from m3 iff
# b mod 3 = 2.
drains() { # drains FILE FROM3: whether FILE lists exactly the drains expected
	python3 -c 'import json, sys
got = {b["index"] for b in json.load(open(sys.argv[1])) if "drain_ms" in b}
want = {b for b in range(1024) if b % 3 != b % 2 and (sys.argv[2] == "1" or b % 3 != 2)}
sys.exit(got != want)' "$1" "$2"
}
check "the move drains every bucket that changed hands" drains "$tmp/before1.json" 1
check "gone 3 ends those from m3 only (m1, m2)" \
	bash -c "$(declare -f drains); drains $tmp/after1.json 0 && drains $tmp/after2.json 0"

# No drain at all (drain 0): a move resets connections at once.
cluster multicast 0
held nodrain "$CLUSTER4" 20000 1 "$tmp/rotate.sh" 6
check "with drain 0 a move resets every connection" grep -q "^round 1 ok=0 reset=6" "$tmp/nodrain"

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
