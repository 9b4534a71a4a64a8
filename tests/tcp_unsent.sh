#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Output commit keeps what the application wrote but its socket had not
# sent yet, and a connection half-closed or closed. Two members with
# output commit; a client sends a plain echo 1 MB and its FIN, and reads
# nothing, through a window of a few KiB: the echo has read everything
# and the end of the stream, and closed; its answer and its FIN wait in
# its socket, never sent, yet the client holds the acknowledgement of
# every byte of the question and of its FIN. The member serving it
# crashes: the survivor restores the connection with the whole answer
# (asked of the kernel with tcp-unsent and replicated before the state
# that showed it) and both FINs, and the client reads it back byte-exact,
# then the end of the stream.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
SEED=000102030405060708090a0b0c0d0e0f
RAW=7001
SPORT=27000
BYTES=${IPC_UNSENT_BYTES:-1000000}
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 2

declare -A pid app
member_conf() {
	daemon_conf "$1" "tcp-export commit 1 drain 600000"
	vm_timing 1000
	handoff_conf "$1" $RAW
}
member_server() {
	# Room in the echo's socket for its whole answer from the start: the
	# echo never waits to write (what it read and holds unwritten is its
	# own state, which no one replicates).
	ip netns exec "$(member_ns "$1")" sysctl -qw net.ipv4.tcp_wmem="4096 4194304 8388608"
	run_echo "$1" "raw:$CLUSTER4:$RAW"
}
start_members 1 2
field() { $MEMBERS field "$tmp" "$@"; }
check "the cluster forms and spreads" wait_for 120 $MEMBERS spread "$tmp" 1 2

# Once the answer is written, the member serving the connection (found by
# its socket) crashes: link down, kill -9 of its daemon and echo.
cat >"$tmp/crash.sh" <<-EOF
	#!/bin/bash
	$(declare -f wait_for)
	pid=(- ${pid[1]} ${pid[2]}) app=(- ${app[1]} ${app[2]})
	for i in 1 2; do
		ip netns exec ipc-m\$i ss -Htn "( sport = :$RAW )" | grep -q . && v=\$i
	done
	echo \$v >$tmp/victim
	unsent() { $MEMBERS field $tmp \$v tcp unsent; }
	enough() { [ "\$(unsent)" -ge $((BYTES / 2)) ]; }
	wait_for 30 enough
	unsent >$tmp/unsent
	ip -n ipc-m\$v link set eth0 down
	kill -9 \${pid[v]} \${app[v]}
	wait_for 60 $MEMBERS formed $tmp \$((3 - v))
EOF
chmod +x "$tmp/crash.sh"

rst0=$(ip netns exec "$NS_CLIENT" nstat -az TcpExtTCPAbortOnData TcpEstabResets | awk '{s += $2} END {print s}')
ip netns exec "$NS_CLIENT" $FLOWS backlog "$CLUSTER4" $RAW $SPORT $BYTES "$tmp/crash.sh" half 2>&1 |
	tee "$tmp/backlog" | sed -u 's/^/    # /'
v=$(cat "$tmp/victim" 2>/dev/null)
s=$((3 - ${v:-1}))
echo "    # m$v served the connection; it replicated $(cat "$tmp/unsent" 2>/dev/null) bytes not sent yet"
check "m$v replicated the answer its socket had not sent (tcp-unsent)" \
	test "$(cat "$tmp/unsent" 2>/dev/null || echo 0)" -ge $((BYTES / 2))
check "m$v crashed: the client read the whole answer, byte-exact, and the end of the stream from m$s" \
	grep -q "^backlog ok" "$tmp/backlog"
check "m$s restored the connection with its queues' bytes" \
	test "$(field "$s" tcp restored_with_bytes)" -ge 1
# The echo had closed the connection (finished: the daemon closes it
# too), or the crash came between the client's FIN and the echo's close
# (handed back to the echo, which reads the end of the stream and closes).
echo "    # m$s: $(field "$s" tcp finished) finished, $(field "$s" tcp handed_off) handed off"
no_socket() { ! ip netns exec "$(member_ns "$s")" ss -Htn "( sport = :$RAW )" | grep -q .; }
check "m$s closed it once its bytes and FIN went" wait_for 30 no_socket
no_export() { [ "$(field "$s" tcp exported)" = 0 ]; }
check "m$s exports it no more (Closed)" wait_for 30 no_export
check "the client saw no reset" test "$(ip netns exec "$NS_CLIENT" nstat -az TcpExtTCPAbortOnData TcpEstabResets | awk '{s += $2} END {print s}')" = "$rst0"
grep -hE "WARN|ERROR|restored a" "$tmp"/m[12].log | head -n 10 | sed 's/^/    # /'

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
