#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Closed on every end: three members with real daemons (tcp-export) and
# the example service (echo-member). A client opens connections to
# the cluster address (6,000 by default, IPC_CONNS to change: 20,000 take
# about ten minutes under TCG), 100 at a time; on each it reads the
# greeting, asks once, reads the answer and ends it with a RST, which the
# member's socket sends nothing for. Every connection's replicas go from
# every member (`clusteradm status`: tcp replicas 0) and so does its
# owner's bookkeeping (tcp exported 0), although the members keep at most
# 1,000 replicas, a third of the connections: connections a client resets
# cannot fill the store and leave new ones unprotected.
source "$(dirname "$0")/lib.sh"

MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
RESETS="python3 $IPC_TOP/tests/tools/resets.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
COUNT=${IPC_CONNS:-3000}
PARALLEL=100
MAX=$((COUNT / 3))
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3

declare -A pid app
member_conf() {
	daemon_conf "$1" "tcp-export"
	vm_timing
	handoff_conf "$1" $PORT
	echo "max_conns = $MAX"
}
member_server() { run_echo "$1" "$CLUSTER4:$PORT"; }
start_members 1 2 3
check_formed
field() { $MEMBERS field "$tmp" "$@"; }
# all KEY VALUE: every member's tcp KEY is VALUE.
all() {
	local i
	for i in 1 2 3; do
		[ "$(field "$i" tcp "$1")" = "$2" ] || { echo "m$i: tcp $1 $(field "$i" tcp "$1")"; return 1; }
	done
}
for i in 1 2 3; do b[$i]=$(field "$i" tcp replica_bytes); done

t0=$SECONDS
ip netns exec "$NS_CLIENT" $RESETS many "$CLUSTER4" $PORT "$COUNT" $PARALLEL >"$tmp/many" 2>&1
t1=$SECONDS
sed 's/^/    # /' "$tmp/many"
check "all $COUNT connections answered, then reset by the client" grep -q "done=$COUNT failed=0" "$tmp/many"
for i in 1 2 3; do
	check "m$i received replicas" test "$(field "$i" tcp replica_bytes)" -gt "${b[$i]}"
done
check "every member's replicas went" wait_for 120 all replicas 0
t2=$SECONDS
check "every owner's connection table is empty" all exported 0
check "no replica was refused (the store never filled)" all dropped 0
for i in 1 2 3; do
	check "m$i: no connection to port $PORT left in its kernel" test \
		"$(ip netns exec "$(member_ns "$i")" ss -Htn state connected "sport = :$PORT" | wc -l)" = 0
done
echo "    # $COUNT connections reset in $((t1 - t0)) s; the last replica gone $((t2 - t1)) s later"
for i in 1 2 3; do
	echo "    # m$i: $(python3 -c "import json; t = json.load(open('$tmp/run$i/1.json'))['tcp']; print(' '.join(f'{k}={t[k]}' for k in ('kernel_records', 'sent_records', 'replica_bytes', 'replicas', 'exported', 'dropped', 'forgotten')))")"
done

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
