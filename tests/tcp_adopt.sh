#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Adoption: restored connections go onto the application's own listener.
# Three members with daemons (tcp-export) and no [tcp] handoff; each runs
# Debian's nginx, unmodified (a configuration of its own: the port, and
# an answer naming the member). A client holds idle
# keep-alive connections spread over all three; a member crashes (link
# down, kill -9 of its daemon and server): every connection it held
# answers its next request from a survivor, whose daemon restored it and
# queued it on the server's listener (tcp-adopt), none reset. A second
# port only the victim served (a plain Python http.server,
# tests/tools/http_member.py): its connections find no listener on the
# survivors and are reset at once, counted, never left hanging. Daemons
# and servers run in a memory cgroup, as under systemd.
source "$(dirname "$0")/lib.sh"
memory_cgroup ipc-tcp-adopt

KEEPALIVE="python3 $IPC_TOP/tests/tools/keepalive.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=8080 ONLY=8081
HELD=${IPC_HELD:-50} ONLY_TRIES=18
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3

declare -A pid app
member_conf() {
	daemon_conf "$1" "tcp-export drain 600000"
	vm_timing 1000
}
member_server() { run_nginx "$1" $PORT; }
start_members 1 2 3
field() { $MEMBERS field "$tmp" "$@"; }
# sum KEY...: the survivors' status field KEY, added up.
sum() { echo $(($(field "$m" "$@") + $(field "$w" "$@"))); }
# (Records of a connection are kept only by a member whose table gives
# its bucket to their sender: clients start once every table agrees.)
check_formed
# The victim is not the master (metrics.sh crashes a master); the master
# m and the other member w survive.
m=$($MEMBERS master "$tmp" 1 2 3)
v=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
w=$((6 - m - v))
# Port $ONLY: a server on the victim only.
ip netns exec "$(member_ns "$v")" python3 "$IPC_TOP/tests/tools/http_member.py" \
	"m$v" 0.0.0.0 $ONLY &
only=$!
wait_for 10 ip netns exec "$(member_ns "$v")" ss -Hltn "( sport = :$ONLY )"
for i in 1 2 3; do
	wait_for 10 ip netns exec "$(member_ns "$i")" ss -Hltn "( sport = :$PORT )"
done

# A crash kills nginx's master and its worker alike.
workers=$(pgrep -P "${app[$v]}" | tr '\n' ' ')
cat >"$tmp/rounds.sh" <<-EOF
	#!/bin/bash
	$(declare -f wait_for)
	# (2 s first: the last answers' state reaches the replicas.)
	case \$ROUND in
	2) sleep 2; ip -n $(member_ns "$v") link set eth0 down; kill -9 ${pid[$v]} ${app[$v]} $workers $only
	   wait_for 60 $MEMBERS formed $tmp $m $w
	   echo "# m$v crashed, m$m and m$w formed after \${SECONDS} s" ;;
	esac
	sleep 2
	EOF
chmod +x "$tmp/rounds.sh"
client_resets() {
	ip netns exec "$NS_CLIENT" nstat -az TcpEstabResets | awk '$1 ~ /^Tcp/ {print $2}'
}
rst0=$(client_resets)
ip netns exec "$NS_CLIENT" $KEEPALIVE "$CLUSTER4" 30000 2 "$tmp/rounds.sh" \
	$PORT "$HELD" $ONLY $ONLY_TRIES >"$tmp/held" 2>&1
sed 's/^/    # /' "$tmp/held" | head -n 30
only_held=$(sed -n "s/^# port $ONLY: \([0-9]*\) connections.*/\1/p" "$tmp/held")
check "all $HELD connections, on all three members, answered with everyone alive" \
	grep -qE "^# port $PORT: $HELD connections held, by member: \{'m1': [1-9][0-9]*, 'm2': [1-9][0-9]*, 'm3': [1-9][0-9]*\}" "$tmp/held"
check "... and again with everyone alive" \
	grep -q "^round 1 port $PORT ok=$HELD moved=0 reset=0 closed=0 lost=0" "$tmp/held"
held_v=$(sed -n "s/^# port $PORT: .*'m$v': \([0-9]*\).*/\1/p" "$tmp/held")
check "m$v crashed: every connection answers, m$v's $held_v from m$m and m$w, none reset" \
	grep -qE "^round 2 port $PORT ok=$((HELD - held_v)) moved=$held_v reset=0 closed=0 lost=0" "$tmp/held"
check "m$m and m$w adopted every connection of m$v on port $PORT" \
	test "$(sum tcp adopted)" = "$held_v"
check "connections to a port with no listener on m$m and m$w were held" test "${only_held:-0}" -ge 1
check "... and are reset at once, none hangs" \
	grep -qE "^round 2 port $ONLY ok=0 moved=0 reset=$only_held closed=0 lost=0 slowest=[0-2]\." "$tmp/held"
check "m$m and m$w counted them reset" test "$(sum tcp reset)" = "${only_held:-1}"
check "nothing was handed off" test "$(sum tcp handed_off)" = 0
rst=$(client_resets)
echo "    # client resets of established connections: before $rst0, after $rst"
check "the client saw exactly those resets" test "$((rst - rst0))" -eq "${only_held:-0}"
# tcp-adopt (command 10) itself, from a process that is not a daemon:
# a descriptor it does not have, one that is no socket (its stdin, which
# stays open), no descriptor at all, and a caller without CAP_NET_ADMIN.
GENL="python3 $IPC_TOP/tests/tools/genl.py"
ns=$(member_ns "$m")
check "tcp-adopt of a descriptor the caller lacks: EBADF" bash -c \
	"out=\$(ip netns exec $ns $GENL send 10 01:e7030000); echo \$out; [[ \$out == '9 not a socket descriptor'* ]]"
check "tcp-adopt of a file that is no socket: EINVAL, the file left open" bash -c \
	"out=\$(ip netns exec $ns $GENL send 10 01:00000000 </dev/null); echo \$out; [[ \$out == '22 not a TCP socket'* ]]"
check "tcp-adopt without a descriptor: EINVAL" bash -c \
	"out=\$(ip netns exec $ns $GENL send 10); echo \$out; [[ \$out == '22 want the descriptor'* ]]"
check "tcp-adopt without CAP_NET_ADMIN: EPERM" bash -c \
	"out=\$(ip netns exec $ns setpriv --reuid=65534 --regid=65534 --clear-groups $GENL send 10 01:00000000); echo \$out; [[ \$out == '1 '* ]]"
# tcp-adopt-prepare (command 11): a fresh socket is released from the
# caller's memory cgroup; one connected is not; a namespace's own root is
# refused (a socket released is charged to no cgroup until accepted).
check "tcp-adopt-prepare of a fresh socket: done" bash -c \
	"out=\$(ip netns exec $ns $GENL sock 11); echo \$out; [[ \$out == '0 '* ]]"
check "tcp-adopt-prepare of a connected socket: EINVAL" bash -c \
	"out=\$(ip netns exec $ns $GENL sock 11 127.0.0.1:$PORT); echo \$out; [[ \$out == '22 not a fresh socket'* ]]"
check "tcp-adopt-prepare as root of a user namespace: EPERM" bash -c \
	"out=\$(ip netns exec $ns unshare -Urn $GENL sock 11); echo \$out; [[ \$out == '1 '* ]]"
grep -hE "restored a|reset a|WARN|ERROR" "$tmp"/m[123].log | head -n 8 | sed 's/^/    # /'

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
