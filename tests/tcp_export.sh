#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# TCP survival, the kernel's part: a cluster made with tcp-export sends
# the failover state of each connection to its address (Fig. 7: Initial
# once, Essential on change, Closed at the end) on the tcp group, as
# `clusteradm tcp monitor` shows. The sequence numbers follow the bytes
# that really crossed; a cluster without tcp-export sends nothing.
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

# conn FAMILY DST SPORT: one connection, three questions ("?\n", 2 bytes
# each) and their answers ("m1\n", 3 bytes, after a greeting of 3), then
# closed; from the SYN-ACK on, rcv_nxt moves by 6 and snd_nxt by 12;
# the monitor's records of it are checked by tools/tcpstate.py.
conn() {
	local fam=$1 dst=$2 sport=$3 mon
	ip netns exec "$ns" "$CLUSTERADM" -j tcp monitor id 1 >"$tmp/$fam.json" &
	mon=$!
	sleep 1 # the monitor has joined the group
	ip netns exec "$NS_CLIENT" $FLOWS hold "$dst" $PORT "$sport" 1 3 true >"$tmp/$fam.held"
	sleep 1 # the close's last segments
	kill "$mon"
	check "$fam: the connection answered every question" grep -q '^round 3 ok=1 ' "$tmp/$fam.held"
	check "$fam: Initial, the SYN-ACK's state, Essential updates and Closed, the sequence numbers moving by the bytes sent" \
		python3 "$IPC_TOP/tests/tools/tcpstate.py" "$tmp/$fam.json" "$sport" $PORT 6 12
}
conn IPv4 "$CLUSTER4" 41000
conn IPv6 "$CLUSTER6" 42000

# Another cluster address, without tcp-export: nothing is sent.
ip -n "$ns" addr add 192.0.2.101/32 dev eth0
ip netns exec "$ns" "$CLUSTERADM" cluster add id 2 dev eth0 addr 192.0.2.101 seed "$SEED" member 1 >/dev/null
ip netns exec "$ns" "$CLUSTERADM" table set 2 spread 1
ip netns exec "$ns" $FLOWS serve m1 7001 192.0.2.101 &
wait_for 10 ip netns exec "$ns" ss -Htln "sport = :7001"
ip netns exec "$ns" "$CLUSTERADM" -j tcp monitor >"$tmp/none.json" &
mon=$!
sleep 1
ip netns exec "$NS_CLIENT" $FLOWS client 192.0.2.101 7001 tcp 43000 5 >/dev/null
sleep 1
kill "$mon"
check "no records for a cluster without tcp-export" test ! -s "$tmp/none.json"

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
