#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What a user without CAP_NET_ADMIN over a namespace can do there: no
# reading of the tcp or events groups, no cluster; in a user namespace of
# their own, no more than 64 clusters per network namespace (the rule any
# namespace keeps). tcp-unsent reads only connections to a cluster's
# address, and a raw socket's TCP-protocol packets from a cluster address
# are never read as a TCP socket's segments.
source "$(dirname "$0")/lib.sh"

GENL="python3 $IPC_TOP/tests/tools/genl.py"
SEED=000102030405060708090a0b0c0d0e0f
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
MAX_CLUSTERS=64
PORT=7100
SPORT=30000

load_module
setup_topology 1
ns=$(member_ns 1)
ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 addr "$CLUSTER4" seed "$SEED" \
	member 1 tcp-export
ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1

# refused WANT CMD...: CMD fails and its message matches WANT (a regex).
refused() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "succeeded: $out"
		return 1
	fi
	grep -Eq "$want" <<<"$out" || { echo "got: $out"; return 1; }
}
# joins GROUP WANT [PREFIX...]: joining GROUP gives errno WANT (0: joined).
joins() {
	local group=$1 want=$2 out
	shift 2
	out=$(ip netns exec "$ns" "$@" $GENL join "$group")
	[ "$out" = "$want" ] || { echo "got: $out"; return 1; }
}

# The groups: connections' state and bytes, and the clusters' changes.
check "an unprivileged tcp monitor is refused (EPERM)" \
	refused "not permitted|os error 1" ip netns exec "$ns" $NOBODY "$CLUSTERADM" tcp monitor count 0
check "root's tcp monitor subscribes" ip netns exec "$ns" "$CLUSTERADM" tcp monitor count 0
for g in tcp events; do
	check "an unprivileged process cannot join the $g group (EPERM)" joins "$g" 1 $NOBODY
	check "root can" joins "$g" 0
done

# Clusters: none without CAP_NET_ADMIN; at most 64 per namespace.
check "an unprivileged cluster add is refused (EPERM)" refused "Operation not permitted" \
	ip netns exec "$ns" $NOBODY "$CLUSTERADM" cluster add dev eth0 addr 198.51.100.9 mode forward
# fill N: N forward-mode clusters on lo, then one more: refused with the
# reason (run as root in a new namespace, or as a user in their own).
fill() {
	local i
	ip link set lo up
	for i in $(seq 1 "$1"); do
		"$CLUSTERADM" cluster add dev lo addr "10.0.$((i / 250)).$((i % 250 + 1))" mode forward ||
			return 1
	done
	refused "too many clusters in this namespace" \
		"$CLUSTERADM" cluster add dev lo addr 10.1.0.1 mode forward
}
ip netns add ipc-cap
check "$MAX_CLUSTERS clusters in a namespace; one more: ENOSPC with a reason" \
	ip netns exec ipc-cap bash -c "$(declare -f fill refused); CLUSTERADM=$CLUSTERADM fill $MAX_CLUSTERS"
check "another namespace still has room" ip netns exec "$ns" "$CLUSTERADM" cluster add \
	dev eth0 addr 198.51.100.9 mode forward
ip netns del ipc-cap
if $NOBODY unshare -Urn true 2>/dev/null; then
	check "in its own user namespace, a user makes $MAX_CLUSTERS clusters, not one more" \
		$NOBODY unshare -Urn bash -c "$(declare -f fill refused); CLUSTERADM=$CLUSTERADM fill $MAX_CLUSTERS"
	check "and there, as its admin, joins the tcp group" \
		test "$($NOBODY unshare -Urn $GENL join tcp)" = 0
else
	skip "a user in its own user namespace: $MAX_CLUSTERS clusters, not one more" \
		"the kernel has no unprivileged user namespaces (CONFIG_USER_NS)"
fi

# tcp-unsent (command 9) for an established connection of the namespace
# that is not to the cluster's address: from the client to m1's own.
ip netns exec "$ns" python3 -c "
import socket, time
s = socket.create_server(('$(member4 1)', $PORT))
c = s.accept()[0]
time.sleep(60)" &
wait_for 10 ip netns exec "$ns" ss -Htln "sport = :$PORT"
ip netns exec "$NS_CLIENT" python3 -c "
import socket, time
s = socket.create_connection(('$(member4 1)', $PORT), source_address=('$CLIENT4', $SPORT))
time.sleep(60)" &
check "a connection to m1's own address" wait_for 10 bash -c \
	"ip netns exec $ns ss -Htn state established '( sport = :$PORT )' | grep -q ."
le16() { printf '%02x%02x' $(($1 & 255)) $(($1 >> 8)); }
# Initial: kind 1, IPv4, MSS 1460, id, client, m1, ports; Data head: out, 0 bytes from 0.
initial=0100b40500000000 initial+=0102030405060708
initial+=00000000000000000000ffffc0000202 initial+=00000000000000000000ffffc000020b
initial+=$(le16 $SPORT)$(le16 $PORT)00000000
head=040100000000000001020304050607080000000000000000
check "tcp-unsent for it: EPERM, not the cluster's address" bash -c \
	"out=\$(ip netns exec $ns $GENL send 9 01:01000000 02:$initial$head); echo \$out; [[ \$out == '1 '*\"cluster's address\"* ]]"

# A raw socket's packets with IP protocol 6, from the cluster address,
# through LOCAL_OUT of a tcp-export cluster: short, and not a TCP socket's.
raw() {
	ip netns exec "$ns" python3 - <<-PY
	import socket, struct
	tcp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
	tcp.bind(("$CLUSTER4", 0))
	hdr = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
	src, dst = socket.inet_aton("$CLUSTER4"), socket.inet_aton("$CLIENT4")
	for n in range(24):
	    tcp.sendto(bytes(n), ("$CLIENT4", 0))
	    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + n % 8, n, 0, 64, 6, 0, src, dst)
	    hdr.sendto(ip + bytes(n % 8), ("$CLIENT4", 0))
	PY
}
check "raw TCP-protocol packets from the cluster address (tcp-export): sent" raw
check "and the cluster is still there" ip netns exec "$ns" "$CLUSTERADM" cluster show 1

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
finish
