#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Bad input gets a clear error and changes nothing: invalid and random
# netlink requests, an unprivileged caller; truncated, fragmented and
# option-carrying packets; namespace deletion and rmmod under traffic.
source "$(dirname "$0")/lib.sh"

GENL="python3 $IPC_TOP/tests/tools/genl.py"
FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000

load_module
setup_topology 2
for i in 1 2; do
	ns=$(member_ns "$i")
	ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
	ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 addr "$CLUSTER4" seed "$SEED" member "$i"
	ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1,2
	ip netns exec "$ns" $FLOWS serve "m$i" $PORT "$CLUSTER4" &
done
wait_for 10 ip netns exec ipc-m2 ss -Htln "sport = :$PORT"
state() { ip netns exec ipc-m1 "$CLUSTERADM" -j cluster show; ip netns exec ipc-m1 "$CLUSTERADM" -j table show 1; }
before=$(state)
ifi=$(ip netns exec ipc-m1 cat /sys/class/net/eth0/ifindex)

# expect_err WANT_ERRNO WANT_TEXT CMD ATTRS...: one crafted request.
expect_err() {
	local want=$1 text=$2 out
	shift 2
	out=$(ip netns exec ipc-m1 $GENL send "$@")
	[ "${out%% *}" = "$want" ] && [[ "$out" == *"$text"* ]] || { echo "got: $out"; return 1; }
}
le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
# Attribute numbers (include/uapi/linux/ipcluster.h): 1 id, 2 ifindex,
# 3 addr4, 5 mac, 6 mode, 7 hash, 8 seed, 9 bucket-bits, 11 table,
# 14 forwarder, 15 members.
check "table of the wrong length: EINVAL with a reason" \
	expect_err 22 "one u16 owner per bucket" 4 "1:$(le32 1)" 11:00010002
check "bucket-bits over the maximum: rejected by policy" \
	expect_err 34 "" 1 "2:$(le32 "$ifi")" 3:c0000265 5:01005e000265 7:01000000 "9:$(le32 13)"
check "no interface: EINVAL with a reason" \
	expect_err 22 "interface" 1 3:c0000265 5:01005e000265 7:01000000
check "no such interface: ENODEV" \
	expect_err 19 "no such interface" 1 "2:$(le32 999)" 3:c0000265 5:01005e000265 7:01000000
check "multicast mode with a unicast MAC: EINVAL" \
	expect_err 22 "multicast MAC" 1 "2:$(le32 "$ifi")" 3:c0000265 5:02005e000265 7:01000000
check "unicast mode with a multicast MAC: EINVAL" \
	expect_err 22 "unicast MAC" 1 "2:$(le32 "$ifi")" 3:c0000265 5:01005e000265 "6:$(le32 1)" 7:01000000
check "unknown mode: rejected by policy (ERANGE)" \
	expect_err 34 "" 1 "2:$(le32 "$ifi")" 3:c0000265 5:01005e000265 "6:$(le32 3)" 7:01000000
check "member MACs not in 8-byte records: EINVAL with a reason" \
	expect_err 22 "members" 4 "1:$(le32 1)" 15:01000200000000
check "a multicast member MAC: EINVAL" \
	expect_err 22 "multicast MAC" 4 "1:$(le32 1)" 15:0100010000000001
check "a member listed twice: EINVAL" \
	expect_err 22 "each once" 4 "1:$(le32 1)" 15:01000200000000010100020000000002
check "forwarder over the maximum member id: rejected by policy" \
	expect_err 34 "" 4 "1:$(le32 1)" "14:$(le32 70000)"
check "keyed hash without a seed: EINVAL" \
	expect_err 22 "seed" 1 "2:$(le32 "$ifi")" 3:c0000265 5:01005e000265
check "duplicate cluster id: EEXIST" \
	expect_err 17 "exists" 1 "1:$(le32 1)" "2:$(le32 "$ifi")" 3:c0000266 5:01005e000266 7:01000000
check "same address twice on one interface: EEXIST" \
	expect_err 17 "address" 1 "2:$(le32 "$ifi")" 3:c0000264 5:01005e000264 7:01000000
check "unknown cluster: ENOENT" expect_err 2 "no such cluster" 2 "1:$(le32 77)"
check "attribute of the wrong size: rejected by policy" expect_err 22 "invalid attribute length" 2 "1:0100"
check "clusteradm names the kernel's reason" bash -c \
	"ip netns exec ipc-m1 $CLUSTERADM cluster del 77 2>&1 | grep -q 'No such file or directory: no such cluster'"
check "an unprivileged caller cannot change a cluster" bash -c \
	"! ip netns exec ipc-m1 setpriv --reuid=65534 --regid=65534 --clear-groups $CLUSTERADM table set 1 spread 2 2>/dev/null"
check "2000 random requests: no crash" ip netns exec ipc-m1 $GENL fuzz 2000 7
check "and nothing changed" test "$(state)" = "$before"

# Packets. A TCP header cut short: dropped and counted on every member.
trunc() {
	ip netns exec "$NS_CLIENT" python3 - <<-PY
	import socket, struct
	s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
	src, dst = socket.inet_aton("$CLIENT4"), socket.inet_aton("$CLUSTER4")
	for n in range(20):
	    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 30, n, 0, 64, 6, 0, src, dst)
	    s.sendto(ip + b"\x9c\x40\x1b\x58" + bytes(6), ("$CLUSTER4", 0))
	PY
}
malformed() { ip netns exec "$1" "$CLUSTERADM" -j cluster show 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["malformed"])'; }
check "send 20 truncated TCP segments" trunc
for i in 1 2; do
	check "m$i counted them as malformed" bash -c "[ \$(ip netns exec $(member_ns "$i") $CLUSTERADM -j cluster show 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"malformed\"])') -ge 20 ]"
done

# Fragmented UDP: reassembled before the hook, answered by the owner.
big() {
	ip netns exec "$NS_CLIENT" python3 - <<-PY
	import socket
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind(("", 45000)); s.settimeout(3)
	s.sendto(b"x" * 4000, ("$CLUSTER4", $PORT))
	print(s.recvfrom(64)[0].decode().strip())
	PY
}
want=$(ip netns exec ipc-m1 "$CLUSTERADM" -j which 1 "$CLIENT4" sport 45000 dport $PORT proto udp |
	python3 -c 'import json,sys; print("m%d" % json.load(sys.stdin)["owner"])')
check "a 4000-byte datagram in fragments is answered by its owner ($want)" test "$(big)" = "$want"
check "IP options (record route): one echo reply, no duplicate" bash -c \
	"out=\$(ip netns exec $NS_CLIENT ping -R -c 3 -i 0.3 -W 2 $CLUSTER4); echo \"\$out\" | grep -q ' 0% packet loss' && ! echo \"\$out\" | grep -q DUP"

# A cluster goes with its interface: deleted, or moved to another namespace.
ip -n ipc-m1 link add u0 type veth peer name u1
ip -n ipc-m1 link add u2 type veth peer name u3
ip -n ipc-m1 link set u0 up
ip -n ipc-m1 link set u2 up
check "a unicast cluster on a spare interface" ip netns exec ipc-m1 "$CLUSTERADM" cluster add \
	id 5 dev u0 addr 198.51.100.1 mode unicast hash seed
check "a multicast cluster on another, exporting TCP state" ip netns exec ipc-m1 "$CLUSTERADM" \
	cluster add id 6 dev u2 addr 198.51.100.2 hash seed tcp-export
# tcp-unsent (command 9; attributes 1 cluster-id, 2 records): the request
# names a connection by its Initial record and asks from a Data head's
# sequence number (userspace-tool/core/src/tcpstate.rs).
initial=01 initial+=00b40500000000 initial+=0102030405060708
initial+=00000000000000000000ffffc0000202 initial+=00000000000000000000ffffc6336402
initial+=3075581b00000000
head=040100000000000001020304050607080000000000000000
check "tcp-unsent on a cluster without tcp-export: EINVAL with a reason" \
	expect_err 22 "does not export" 9 "1:$(le32 5)" "2:$initial$head"
check "tcp-unsent with garbage for records: EINVAL with a reason" \
	expect_err 22 "Initial record" 9 "1:$(le32 6)" 2:0102030405
check "tcp-unsent with a Data head that carries bytes: EINVAL" \
	expect_err 22 "Initial record" 9 "1:$(le32 6)" "2:$initial${head:0:8}01000000${head:16}ff"
check "tcp-unsent for a connection nobody has: ENOENT with a reason" \
	expect_err 2 "no established connection" 9 "1:$(le32 6)" "2:$initial$head"
check "delete the interface: its cluster is gone" bash -c \
	"ip -n ipc-m1 link del u0 && ! ip netns exec ipc-m1 $CLUSTERADM cluster show 5 2>/dev/null"
check "move the interface away: its cluster is gone" bash -c \
	"ip -n ipc-m1 link set u2 netns $NS_CLIENT && ! ip netns exec ipc-m1 $CLUSTERADM cluster show 6 2>/dev/null"
check "the other clusters stay" ip netns exec ipc-m1 "$CLUSTERADM" cluster show 1
ip -n ipc-m1 link add u4 type veth peer name u5
check "a unicast cluster of 4096 buckets left for rmmod" ip netns exec ipc-m1 "$CLUSTERADM" cluster add \
	id 7 dev u4 addr 198.51.100.3 mode unicast hash seed buckets 4096

# Teardown under traffic.
ip netns exec "$NS_CLIENT" ping -f -W 1 "$CLUSTER4" >/dev/null 2>&1 &
flood=$!
sleep 1
check "delete a member namespace under traffic" ip netns del ipc-m2
sleep 1
check "rmmod under traffic" rmmod ipcluster
kill $flood 2>/dev/null
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
check "insmod again" insmod "$IPC_KO"
cleanup_all_ns
check "rmmod" rmmod ipcluster
finish
