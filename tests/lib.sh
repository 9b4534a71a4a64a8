#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Helpers for ipcluster's VM tests, in the manner of kselftest's net/lib.sh:
# KTAP sub-results, namespaces, and the standard cluster topology.
#
# The topology: a "switch" namespace holding bridge br0, a client namespace
# and N member namespaces, each host linked to the bridge by a veth pair
# (eth0 inside the host). Addresses come from the documentation ranges:
#   client    192.0.2.2     2001:db8::2
#   member i  192.0.2.(10+i)  2001:db8::(10+i)   (namespace ipc-m$i)
#   cluster   192.0.2.100   2001:db8::100
set -u

ksft_pass=0
ksft_fail=1
ksft_skip=4

IPC_TOP=${IPC_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# IPC_KO: another build of the module (tests/host/kernel-deb.sh: DKMS's).
IPC_KO=${IPC_KO:-$IPC_TOP/ipcluster.ko}
CLUSTERADM=$IPC_TOP/userspace-tool/target/release/clusteradm
CLUSTER4=192.0.2.100
CLUSTER6=2001:db8::100
CLIENT4=192.0.2.2
CLIENT6=2001:db8::2
NS_SW=ipc-sw
NS_CLIENT=ipc-c

_checks=0
_failed=0
_skipped=0

# check DESCRIPTION COMMAND...: run COMMAND, report a KTAP sub-result,
# with the test's seconds so far (where a slow test spends its time).
check() {
	local desc=$1
	shift
	_checks=$((_checks + 1))
	local out
	if out=$("$@" 2>&1); then
		echo "    ok $_checks $desc # ${SECONDS}s"
	else
		echo "    not ok $_checks $desc # ${SECONDS}s"
		[ -z "$out" ] || printf '%s\n' "$out" | head -n 20 | sed 's/^/    # /'
		_failed=$((_failed + 1))
	fi
}

# skip DESCRIPTION REASON
skip() {
	_checks=$((_checks + 1))
	_skipped=$((_skipped + 1))
	echo "    ok $_checks $1 # SKIP $2"
}

# End a test script: exit 0, 1 on any failed check, 4 if all skipped.
finish() {
	cleanup_all_ns
	echo "    1..$_checks"
	[ "$_failed" -eq 0 ] || exit $ksft_fail
	[ "$_checks" -gt 0 ] && [ "$_skipped" -eq "$_checks" ] && exit $ksft_skip
	exit $ksft_pass
}

member_ns() { echo "ipc-m$1"; }
member4() { echo "192.0.2.$((10 + $1))"; }
member6() { echo "2001:db8::$((10 + $1))"; }

# add_host NS ADDR4 ADDR6: a namespace plugged into the switch's bridge.
add_host() {
	local ns=$1 a4=$2 a6=$3
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" link add eth0 type veth peer name "p-$ns" netns "$NS_SW"
	ip -n "$NS_SW" link set "p-$ns" master br0 up
	ip -n "$ns" addr add "$a4/24" dev eth0
	ip -n "$ns" addr add "$a6/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
}

# setup_topology N: the switch, the client and members 1..N.
setup_topology() {
	local n=$1 i
	cleanup_all_ns
	ip netns add "$NS_SW"
	ip -n "$NS_SW" link add br0 type bridge
	ip -n "$NS_SW" link set br0 up
	add_host "$NS_CLIENT" "$CLIENT4" "$CLIENT6"
	for i in $(seq 1 "$n"); do
		add_host "$(member_ns "$i")" "$(member4 "$i")" "$(member6 "$i")"
	done
	# Bridge ports forward once they are up; wait for the client to reach
	# the last member rather than sleeping.
	wait_for 10 ip netns exec "$NS_CLIENT" ping -c1 -W1 "$(member4 "$n")"
}

# daemon_conf I ADD [CA CERT KEY]: the start of member I's `clusteradm
# daemon` configuration: cluster 1 on eth0 at $CLUSTER4 with seed $SEED and
# the `cluster add` keywords ADD, its link, and its certificate (by default
# $pki/mI.pem of $pki's CA). The caller appends its own sections.
daemon_conf() {
	local i=$1 add=$2 ca=${3:-$pki/ca.pem} cert=${4:-$pki/m$1.pem} key=${5:-$pki/m$1.key}
	cat <<-TOML
	[cluster]
	add = "id 1 dev eth0 addr $CLUSTER4 seed $SEED $add"
	[link]
	dev = "eth0"
	addr = "$(member4 "$i")"
	[pki]
	ca = "$ca"
	cert = "$cert"
	key = "$key"
	TOML
}

# cluster_pki N...: a CA in $pki, a certificate for each member I given
# (bound to its link address and to member id I), and the cluster address
# on each one's eth0.
cluster_pki() {
	local i
	"$CLUSTERADM" cert ca "$pki" >/dev/null
	for i in "$@"; do
		"$CLUSTERADM" cert issue "$pki" "m$i" addr "$(member4 "$i")" id "$i" >/dev/null
		ip -n "$(member_ns "$i")" addr add "$CLUSTER4/32" dev eth0
	done
}

# setup_cluster N: the module loaded, the topology with members 1..N, the
# bridge passing multicast to every port (no IGMP snooping: the link has
# no querier), and cluster_pki for members 1..N.
setup_cluster() {
	load_module
	setup_topology "$1"
	ip -n "$NS_SW" link set br0 type bridge mcast_snooping 0
	cluster_pki $(seq 1 "$1")
}

# handoff_conf I PORT...: the [tcp] section handing member I's restored
# connections to those ports to its echo (run_echo).
handoff_conf() {
	local i=$1 p list=""
	shift
	for p in "$@"; do list+="${list:+, }$p = \"$tmp/m$i.handoff\""; done
	printf '[tcp]\nhandoff = { %s }\n' "$list"
}

# run_echo I LISTEN...: member I's echo-member serving LISTEN (see its
# --help), taking restored connections on $tmp/mI.handoff; sets app[I].
run_echo() {
	local i=$1
	shift
	rm -f "$tmp/m$i.handoff"
	ip netns exec "$(member_ns "$i")" "$IPC_TOP/userspace-tool/target/release/echo-member" \
		"m$i" "$tmp/m$i.handoff" "$@" &
	app[$i]=$!
}

# run_nginx I PORT: Debian's nginx, unmodified, as member I's server on
# PORT (in the foreground, its files in $tmp, answering every request
# with "mI"); keep-alive connections stay open through a test. /slow
# answers the same after a rate limit (limit_req) of 25 requests a
# second in all, so that most of a busy client's requests wait there,
# read and not answered. Its worker runs as root, to read the test's files
# in $tmp (mode 0700). Sets app[I], nginx's master; a crash kills its
# worker too (pgrep -P).
run_nginx() {
	local i=$1
	mkdir -p "$tmp/www$i"
	echo "m$i" >"$tmp/www$i/slow"
	cat >"$tmp/nginx$i.conf" <<-CONF
	user root;
	pid $tmp/nginx$i.pid;
	error_log $tmp/nginx$i.err;
	worker_processes 1;
	events {}
	http {
		access_log off;
		client_body_temp_path $tmp/nginx$i.body;
		keepalive_timeout 600s;
		keepalive_requests 10000000;
		limit_req_zone \$server_port zone=slow:64k rate=25r/s;
		server {
			listen $2;
			location / { return 200 "m$i\n"; }
			location = /slow {
				root $tmp/www$i;
				limit_req zone=slow burst=100000;
			}
		}
	}
	CONF
	ip netns exec "$(member_ns "$i")" nginx -e "$tmp/nginx$i.err" -c "$tmp/nginx$i.conf" \
		-g "daemon off;" &
	app[$i]=$!
}

# run_daemon I: member I's daemon on $tmp/mI.toml, with a fresh run
# directory $tmp/runI and its log in $tmp/mI.log; sets pid[I].
run_daemon() {
	local i=$1
	rm -rf "$tmp/run$i"
	mkdir -p "$tmp/run$i"
	IPCLUSTER_RUN_DIR=$tmp/run$i ip netns exec "$(member_ns "$i")" \
		"$CLUSTERADM" daemon "$tmp/m$i.toml" 2>"$tmp/m$i.log" &
	pid[$i]=$!
}

# start_members I...: each member I in turn as the caller defines it: its
# daemon's configuration, printed by the caller's member_conf I, written
# to $tmp/mI.toml; its server, started by the caller's member_server I
# (which sets app[I] for a crash to kill); then its daemon (run_daemon).
start_members() {
	local i
	for i in "$@"; do
		member_conf "$i" >"$tmp/m$i.toml"
		member_server "$i"
		run_daemon "$i"
	done
}

# check_formed [SECONDS]: check that members 1, 2 and 3 form a cluster and
# spread its buckets (within 120 s), then that they agree on one table,
# every member acknowledging it (within SECONDS, 180 by default). $MEMBERS
# is the caller's tests/tools/members.py.
check_formed() {
	check "the cluster forms and spreads" wait_for 120 $MEMBERS spread "$tmp" 1 2 3
	check "one table, all acknowledged" wait_for "${1:-180}" $MEMBERS formed "$tmp" 1 2 3
}

# Keepalive timing for daemons in the emulated VM (TCG, a debug kernel),
# which stalls a process for a second or two (the daemons log "paused"):
# keepalives twenty times slower than the 50 ms default and at least three
# of them missing before a death, so that a sender's stall plus a lost
# keepalive is no death. (The protocol's timing at the defaults is what
# the simulations and the failover benchmark measure.) Rebalancing every
# 10 ms spreads the buckets quickly.
# vm_timing [PERIOD_MS [JOIN_WAIT_MS OFFER_WAIT_MS]]: that [protocol].
vm_timing() {
	local period=${1:-1000}
	cat <<-TOML
	[protocol]
	period_ms = $period
	join_wait_ms = ${2:-$((2 * period))}
	offer_wait_ms = ${3:-$((6 * period / 5))}
	min_interval = 3
	rebalance_ms = 10
	TOML
}

# memory_cgroup NAME: this shell, and what it starts from then on, in
# cgroup NAME with the memory controller on, as systemd runs a service:
# the sockets its tasks make are charged to it (sk_memcg).
memory_cgroup() {
	local root=/sys/fs/cgroup
	mountpoint -q $root || mount -t cgroup2 cgroup2 $root
	echo +memory >$root/cgroup.subtree_control
	mkdir -p "$root/$1"
	echo $$ >"$root/$1/cgroup.procs"
}

cleanup_all_ns() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '/^ipc-/ {print $1}'); do
		ip netns del "$ns"
	done
}

# wait_for SECONDS COMMAND...: retry COMMAND until it succeeds. When it
# never does, the last lines it printed say why (a TAP comment on stderr).
wait_for() {
	local deadline=$((SECONDS + $1)) out
	shift
	out=$(mktemp)
	until "$@" >"$out" 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 3 "$out" | sed "s/^/    # gave up waiting: /" >&2
			rm -f "$out"
			return 1
		fi
		sleep 0.2
	done
	rm -f "$out"
}

# subscribed NS PID: PID holds a netlink socket in NS that has joined a
# multicast group. /proc/net/netlink shows the first 32 group ids, which
# hold every family's groups on the kernels tested; its tenth column is
# the socket's inode, the one PID's fd links name.
subscribed() {
	local inodes
	inodes=$(find "/proc/$2/fd" -lname 'socket:*' -printf '%l ' 2>/dev/null | tr -dc '0-9 ')
	[ -n "$inodes" ] || return 1
	ip netns exec "$1" awk -v inodes="$inodes" '
		BEGIN { n = split(inodes, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
		NR > 1 && $4 != "00000000" && ($10 in want) { found = 1 }
		END { exit !found }' /proc/net/netlink
}

module_loaded() { grep -q '^ipcluster ' /proc/modules; }

load_module() {
	module_loaded || insmod "$IPC_KO"
}

unload_module() {
	! module_loaded || rmmod ipcluster
}
