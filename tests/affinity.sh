#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Client affinity (`cluster add ... affinity none|source|network [PREFIX]`)
# on three members serving TCP and UDP, and Debian's iperf3, whose control
# and data connections must reach one server:
# - source: every connection and datagram of one client (many source
#   ports, IPv4 and IPv6) is answered by one member, the one `clusteradm
#   which` predicts; `iperf3 -c CLUSTER` passes (TCP with 4 streams, UDP);
# - none: one client's connections spread over all three members; iperf3
#   passes when its control and data connection happen to hash to one
#   member; when they hash to two, each member holds one of them and the
#   test hangs (client ports chosen with `which`);
# - network 24: two clients of one /24 (and of one IPv6 /64) are answered
#   by one member;
# - bad values (network 33, an unknown affinity, a prefix without network)
#   are refused, by clusteradm and by the kernel with its reason, and
#   change nothing.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
GENL="python3 $IPC_TOP/tests/tools/genl.py"
PORT=7000
IPERF=5201
SEED=000102030405060708090a0b0c0d0e0f
N=${IPC_AFFINITY_CONNS:-60}
NS_CLIENT2=ipc-c2
CLIENT2_4=192.0.2.3 # in the client's /24
CLIENT2_6=2001:db8::3
tmp=$(mktemp -d)

load_module

adm() { ip netns exec ipc-m1 "$CLUSTERADM" "$@"; }

stop_servers() {
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
}

# cluster AFFINITY...: a fresh topology (three members, the client and a
# second client in its /24), cluster 1 with `affinity AFFINITY...`, the
# buckets spread, flows.py and iperf3 serving on every member.
cluster() {
	local i ns
	stop_servers
	setup_topology 3
	add_host "$NS_CLIENT2" "$CLIENT2_4" "$CLIENT2_6"
	for i in 1 2 3; do
		ns=$(member_ns "$i")
		ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
		ip -n "$ns" addr add "$CLUSTER6/128" dev eth0 nodad
		ip netns exec "$ns" "$CLUSTERADM" cluster add id 1 dev eth0 addr "$CLUSTER4" \
			addr6 "$CLUSTER6" seed "$SEED" member "$i" affinity "$@" >/dev/null
		ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1,2,3
		ip netns exec "$ns" $FLOWS serve "m$i" $PORT "$CLUSTER4" "$CLUSTER6" &
		ip netns exec "$ns" iperf3 -s -B "$CLUSTER4" -p $IPERF --forceflush \
			>"$tmp/iperf-m$i.log" 2>&1 &
	done
	for i in 1 2 3; do
		wait_for 10 ip netns exec "$(member_ns "$i")" ss -Htln "sport = :$PORT"
		wait_for 10 ip netns exec "$(member_ns "$i")" ss -Htln "sport = :$IPERF"
	done
	wait_for 10 ip netns exec "$NS_CLIENT2" ping -c1 -W1 "$(member4 3)"
}

# flows NAME NS SRC DST PROTO FIRST: N flows from NS (address SRC) to DST
# from source ports FIRST..; answers in $tmp/NAME.ans, the owners `which`
# predicts in $tmp/NAME.pred.
flows() {
	ip netns exec "$2" $FLOWS client "$4" $PORT "$5" "$6" "$N" >"$tmp/$1.ans"
	$FLOWS expect "$3" $PORT "$5" "$6" "$N" | adm -j which 1 - >"$tmp/$1.pred"
}

# answered_as_predicted NAME: every flow answered, each by its predicted owner.
answered_as_predicted() {
	awk '$2 == "-" {exit 1}' "$tmp/$1.ans" && $FLOWS compare "$tmp/$1.ans" "$tmp/$1.pred"
}

# members NAME...: how many members answered the flows of NAME...
members() {
	local n
	for n in "$@"; do awk '{print $2}' "$tmp/$n.ans"; done | sort -u | grep -c '^m'
}

# one_member NAME...: every flow answered as predicted, all by one member.
one_member() {
	local n
	for n in "$@"; do answered_as_predicted "$n" || return 1; done
	test "$(members "$@")" -eq 1
}

# show_has TEXT JSON_PY: `cluster show 1` says TEXT and its JSON passes
# the Python test JSON_PY (on `c`).
show_has() {
	adm cluster show 1 | grep -q -- "$1" &&
		adm -j cluster show 1 | python3 -c "import json, sys
c = json.load(sys.stdin)
c = c[0] if isinstance(c, list) else c
sys.exit(0 if $2 else 1)"
}

# owners FIRST: the owners `which` gives the client's TCP connections to
# iperf3 from ports FIRST..FIRST+19, one a line.
owners() {
	local port
	for port in $(seq "$1" $(($1 + 19))); do
		echo "$CLIENT4 sport $port dport $IPERF proto tcp"
	done | adm -j which 1 - | python3 -c 'import json, sys
for l in sys.stdin: print(json.loads(l)["owner"])'
}

# ports same|different P0 Q0: a control port P (from P0) and a data port Q
# (from Q0) for the client whose connections to iperf3 `which` puts on
# one member or on two; prints "P Q OWNER_OF_P OWNER_OF_Q". Each use takes
# ports of its own: a port in TIME_WAIT would not connect again.
ports() {
	owners "$2" >"$tmp/p.own"
	owners "$3" >"$tmp/q.own"
	python3 - "$@" "$tmp/p.own" "$tmp/q.own" <<-'EOF'
	import sys
	want, p0, q0, pf, qf = sys.argv[1:]
	p, q = open(pf).read().split(), open(qf).read().split()
	for i, a in enumerate(p):
	    for j, b in enumerate(q):
	        if (a == b) == (want == "same"):
	            print(int(p0) + i, int(q0) + j, a, b)
	            sys.exit(0)
	sys.exit(1)
	EOF
}

# conn_on I PORT: member I holds an established connection from the
# client's port PORT to iperf3.
conn_on() {
	ip netns exec "$(member_ns "$1")" ss -Htn state established \
		"( sport = :$IPERF and dport = :$2 )" | grep -q .
}

# iperf_from P Q ARGS...: iperf3 from the client with control port P (the
# only ephemeral port left) and data port Q, at most 20 s.
iperf_from() {
	local p=$1 q=$2
	shift 2
	ip netns exec "$NS_CLIENT" sysctl -qw net.ipv4.ip_local_port_range="$p $p"
	ip netns exec "$NS_CLIENT" timeout 20 iperf3 -c "$CLUSTER4" -p $IPERF --cport "$q" "$@"
}

# --- source -----------------------------------------------------------
cluster source
check "source: cluster show says affinity source (text and JSON)" \
	show_has "affinity source" 'c["affinity"] == "source" and "affinity_prefix4" not in c'
flows src.tcp "$NS_CLIENT" "$CLIENT4" "$CLUSTER4" tcp 20000
flows src.udp "$NS_CLIENT" "$CLIENT4" "$CLUSTER4" udp 21000
check "source: $N TCP connections and $N UDP requests of one client (as many source ports) answered by one member, the one which predicts" \
	one_member src.tcp src.udp
flows src.tcp6 "$NS_CLIENT" "$CLIENT6" "$CLUSTER6" tcp 22000
check "source: $N IPv6 TCP connections of one client answered by one member, as predicted" \
	one_member src.tcp6
flows src.c2 "$NS_CLIENT2" "$CLIENT2_4" "$CLUSTER4" tcp 23000
check "source: another client's connections go to one member too, as predicted" \
	one_member src.c2
check "source: iperf3 -c CLUSTER (TCP, 4 parallel streams) passes" \
	ip netns exec "$NS_CLIENT" timeout 60 iperf3 -c "$CLUSTER4" -p $IPERF -P 4 -t 2
check "source: iperf3 -c CLUSTER -u (UDP data, TCP control) passes" \
	ip netns exec "$NS_CLIENT" timeout 60 iperf3 -c "$CLUSTER4" -p $IPERF -u -b 2M -t 2

# --- none -------------------------------------------------------------
cluster none
check "none: cluster show says affinity none (text and JSON)" \
	show_has "affinity none" 'c["affinity"] == "none"'
flows none.tcp "$NS_CLIENT" "$CLIENT4" "$CLUSTER4" tcp 20000
spread() { answered_as_predicted none.tcp && test "$(members none.tcp)" -eq 3; }
check "none: $N TCP connections of one client spread over all 3 members, each as predicted" spread
read -r p q _ _ < <(ports same 41000 42000)
check "none: iperf3 passes when which puts its control (port $p) and data (port $q) connections on one member" \
	iperf_from "$p" "$q" -t 2
read -r p q own_p own_q < <(ports different 43000 44000)
iperf_from "$p" "$q" -t 2 >"$tmp/split.out" 2>&1 &
split=$!
check "none: iperf3's control connection (port $p) is held by member $own_p, as which predicts" \
	wait_for 15 conn_on "$own_p" "$p"
check "none: its data connection (port $q) by member $own_q: the test is split over two servers" \
	wait_for 15 conn_on "$own_q" "$q"
wait "$split"
rc=$?
echo "    # iperf3 exit status $rc (124: stopped by timeout)"
check "none: so iperf3 does not complete: each server waits for what went to the other" \
	test "$rc" -ne 0

# --- network ----------------------------------------------------------
cluster network 24
check "network 24: cluster show says affinity network 24 64 (text and JSON)" \
	show_has "affinity network 24 64" \
	'c["affinity"] == "network" and c["affinity_prefix4"] == 24 and c["affinity_prefix6"] == 64'
flows net.c1 "$NS_CLIENT" "$CLIENT4" "$CLUSTER4" tcp 20000
flows net.c2 "$NS_CLIENT2" "$CLIENT2_4" "$CLUSTER4" tcp 21000
check "network 24: two clients of one /24 ($CLIENT4, $CLIENT2_4) answered by one member, as predicted" \
	one_member net.c1 net.c2
flows net.c1v6 "$NS_CLIENT" "$CLIENT6" "$CLUSTER6" tcp 22000
flows net.c2v6 "$NS_CLIENT2" "$CLIENT2_6" "$CLUSTER6" tcp 23000
check "network 24: two clients of one IPv6 /64 answered by one member, as predicted" \
	one_member net.c1v6 net.c2v6
same_bucket() { test "$(adm which 1 "$1" sport 1)" = "$(adm which 1 "$2" sport 2)"; }
check "network 24: which puts 192.0.2.250 in the clients' bucket too" \
	same_bucket 192.0.2.250 "$CLIENT4"

# --- bad values -------------------------------------------------------
before=$(adm -j cluster show)
bad_cli() { # bad_cli TEXT WORDS...: cluster add refused (exit 2) saying TEXT
	local text=$1 out rc
	shift
	out=$(adm cluster add id 2 dev eth0 addr 192.0.2.101 seed "$SEED" "$@" 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" -eq 2 ] && [[ "$out" == *"$text"* ]]
}
check "clusteradm refuses affinity network 33: an IPv4 prefix is 1 to 32" \
	bad_cli 'invalid "affinity" value "network 33": an IPv4 prefix is 1 to 32' affinity network 33
check "clusteradm refuses affinity network 24 129" \
	bad_cli 'an IPv6 prefix is 1 to 128' affinity network 24 129
check "clusteradm refuses an unknown affinity" \
	bad_cli 'expected none, source or network' affinity sticky
ifi=$(ip netns exec ipc-m1 cat /sys/class/net/eth0/ifindex)
le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
# expect_err WANT_ERRNO WANT_TEXT ATTRS...: a crafted cluster-new (cmd 1)
# for 192.0.2.101 with the seed hash and ATTRS (19 affinity, 20 and 21
# its prefixes).
expect_err() {
	local want=$1 text=$2 out
	shift 2
	out=$(ip netns exec ipc-m1 $GENL send 1 "2:$(le32 "$ifi")" 3:c0000265 5:01005e000265 \
		7:01000000 "$@")
	echo "got: $out"
	[ "${out%% *}" = "$want" ] && [[ "$out" == *"$text"* ]]
}
check "kernel: affinity-prefix4 33 refused by the policy (ERANGE, integer out of range)" \
	expect_err 34 "integer out of range" "19:$(le32 2)" "20:$(le32 33)"
check "kernel: affinity-prefix6 0 refused by the policy (ERANGE)" \
	expect_err 34 "integer out of range" "19:$(le32 2)" "21:$(le32 0)"
check "kernel: an unknown affinity refused by the policy (ERANGE)" \
	expect_err 34 "integer out of range" "19:$(le32 3)"
check "kernel: a prefix without affinity network refused (EINVAL, with the reason)" \
	expect_err 22 "an affinity prefix needs affinity network" "19:$(le32 1)" "20:$(le32 24)"
check "kernel: a prefix without any affinity refused too" \
	expect_err 22 "an affinity prefix needs affinity network" "21:$(le32 48)"
check "the refused requests changed nothing" \
	test "$before" = "$(adm -j cluster show)"
accepted() {
	ip netns exec ipc-m1 $GENL send 1 "1:$(le32 3)" "2:$(le32 "$ifi")" 3:c0000266 \
		5:01005e000266 7:01000000 "19:$(le32 2)" "20:$(le32 16)" "21:$(le32 48)" | grep -q '^0 ' &&
		adm cluster show 3 | grep -q 'affinity network 16 48'
}
check "kernel: affinity network with prefixes 16 and 48 accepted and reported" accepted

stop_servers
rm -rf "$tmp"
finish
