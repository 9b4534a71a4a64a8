#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# TCP survival, the kernel's part: a cluster made with tcp-export sends
# the failover state of each connection to its address (Fig. 7: Initial
# once, Essential on change, Closed at the end) on the tcp group, as
# `clusteradm tcp monitor` shows. The sequence numbers follow the bytes
# that really crossed; a cluster without tcp-export sends nothing.
# Closed comes too for ends the member's socket sends nothing for: the
# client's RST, a retransmission timeout; never for RSTs the socket
# refuses (spoofed: out of its window, or in it but not at its next byte).
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
PORT=7000
SEED=000102030405060708090a0b0c0d0e0f
tmp=$(mktemp -d)

load_module
setup_topology 1
ns=$(member_ns 1)
ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
ip -n "$ns" addr add "$CLUSTER6/128" dev eth0 nodad
check "cluster add ... tcp-export" ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 \
	addr "$CLUSTER4" addr6 "$CLUSTER6" seed "$SEED" member 1 tcp-export
ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1
check "cluster show lists tcp-export" bash -c \
	"ip netns exec $ns '$CLUSTERADM' cluster show 1 | grep -q tcp-export"
ip netns exec "$ns" $FLOWS serve-held m1 $PORT "$CLUSTER4" "$CLUSTER6" &
wait_for 10 ip netns exec "$ns" ss -Htln "sport = :$PORT"

# check_subscribed PID: waits until monitor PID has joined the tcp group,
# so that it sees every record from now on.
check_subscribed() {
	wait_for 10 subscribed "$ns" "$1" || echo "    # monitor $1 did not subscribe in 10 s"
}

# conn FAMILY DST SPORT: one connection, three questions ("?\n", 2 bytes
# each) and their answers ("m1\n", 3 bytes, after a greeting of 3), then
# closed; from the SYN-ACK on, rcv_nxt moves by 6 and snd_nxt by 12;
# the monitor's records of it are checked by tools/tcpstate.py.
conn() {
	local fam=$1 dst=$2 sport=$3 mon
	ip netns exec "$ns" "$CLUSTERADM" -j tcp monitor id 1 >"$tmp/$fam.json" &
	mon=$!
	check_subscribed "$mon"
	ip netns exec "$NS_CLIENT" $FLOWS hold "$dst" $PORT "$sport" 1 3 true >"$tmp/$fam.held"
	# The close's last segments, and their Closed record.
	wait_for 10 grep -q '"kind":"closed"' "$tmp/$fam.json"
	kill "$mon"
	check "$fam: the connection answered every question" grep -q '^round 3 ok=1 ' "$tmp/$fam.held"
	check "$fam: Initial, the SYN-ACK's state, Essential updates and Closed, the sequence numbers moving by the bytes sent" \
		python3 "$IPC_TOP/tests/tools/tcpstate.py" "$tmp/$fam.json" "$sport" $PORT 6 12
}
conn IPv4 "$CLUSTER4" 41000
conn IPv6 "$CLUSTER6" 42000

# monitor NAME: cluster 1's records from now on, into $tmp/NAME.json;
# sets mon.
RESETS="python3 $IPC_TOP/tests/tools/resets.py"
TCPSTATE="python3 $IPC_TOP/tests/tools/tcpstate.py"
monitor() {
	ip netns exec "$ns" "$CLUSTERADM" -j tcp monitor id 1 >"$tmp/$1.json" &
	mon=$!
	check_subscribed "$mon"
}
# Spoofed RSTs first: the connection answers on and nothing says Closed;
# then the client's own RST, under a second monitor: Closed.
monitor spoof
cat >"$tmp/phase2.sh" <<-EOF
	sleep 1; kill $mon
	ip netns exec $ns $CLUSTERADM -j tcp monitor id 1 >$tmp/rst.json & echo \$! >$tmp/rst.pid
	$(declare -f wait_for subscribed)
	wait_for 10 subscribed $ns \$(cat $tmp/rst.pid) || echo "not subscribed"
EOF
ip netns exec "$NS_CLIENT" $RESETS one "$CLUSTER4" $PORT 44000 ask spoof ask \
	"run:bash $tmp/phase2.sh" rst >"$tmp/rst.out" 2>&1
sed 's/^/    # /' "$tmp/rst.out"
wait_for 10 grep -q '"kind":"closed"' "$tmp/rst.json"
kill "$(cat "$tmp/rst.pid")"
check "spoofed RSTs: refused, the connection answers after them" \
	test "$(grep -c '^answered' "$tmp/rst.out")" = 2
check "spoofed RSTs: no Closed" $TCPSTATE closed "$tmp/spoof.json" 44000 $PORT "$tmp/spoof.json" no
check "the client's RST: Closed" $TCPSTATE closed "$tmp/spoof.json" 44000 $PORT "$tmp/rst.json" yes

# A retransmission timeout: the client stops hearing the member (its
# segments dropped at the client), so the member's answer is never
# acknowledged; a second later nothing of the client's reaches the member
# either; after tcp_retries2 (2 here: from 1.4 s after the first
# retransmission) the member's socket gives up. The client sends no
# timestamps: its retransmissions, echoing the member's timestamp from
# before, would make the member take its own for spurious and start over.
ip netns exec "$ns" sysctl -qw net.ipv4.tcp_retries2=2
ip netns exec "$NS_CLIENT" sysctl -qw net.ipv4.tcp_timestamps=0
cat >"$tmp/cut.nft" <<-EOF
	table inet cut {
		chain in {
			type filter hook input priority 0;
			tcp sport $PORT tcp dport 44001 drop
		}
		chain out {
			type filter hook output priority 0;
		}
	}
EOF
monitor timeout
ip netns exec "$NS_CLIENT" $RESETS one "$CLUSTER4" $PORT 44001 ask "run:nft -f $tmp/cut.nft" send \
	"run:sleep 1; nft add rule inet cut out tcp sport 44001 tcp dport $PORT drop; sleep 12" \
	>/dev/null 2>&1
kill "$mon"
ip netns exec "$NS_CLIENT" nft delete table inet cut
ip netns exec "$NS_CLIENT" sysctl -qw net.ipv4.tcp_timestamps=1
check "a retransmission timeout: Closed" \
	$TCPSTATE closed "$tmp/timeout.json" 44001 $PORT "$tmp/timeout.json" yes

# Another cluster address, without tcp-export: nothing is sent.
ip -n "$ns" addr add 192.0.2.101/32 dev eth0
ip netns exec "$ns" "$CLUSTERADM" cluster add id 2 dev eth0 addr 192.0.2.101 seed "$SEED" member 1 >/dev/null
ip netns exec "$ns" "$CLUSTERADM" table set 2 spread 1
ip netns exec "$ns" $FLOWS serve m1 7001 192.0.2.101 &
wait_for 10 ip netns exec "$ns" ss -Htln "sport = :7001"
ip netns exec "$ns" "$CLUSTERADM" -j tcp monitor >"$tmp/none.json" &
mon=$!
check_subscribed "$mon"
ip netns exec "$NS_CLIENT" $FLOWS client 192.0.2.101 7001 tcp 43000 5 >/dev/null
sleep 1
kill "$mon"
check "no records for a cluster without tcp-export" test ! -s "$tmp/none.json"

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
