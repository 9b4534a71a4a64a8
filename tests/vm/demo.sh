#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The demo, inside the VM: three members, each running Debian's nginx
# unmodified, form a cluster by themselves and answer one cluster address
# together. A client holds idle HTTP/1.1 keep-alive connections; the
# master crashes (link down, kill -9 of its daemon and nginx); the
# survivors take its buckets and restore its connections onto their own
# nginx, and every connection answers its next request. tests/demo.sh
# runs this and checks what it prints.
source "$(dirname "$0")/../lib.sh"
DEMO="python3 $IPC_TOP/tests/tools/demo.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=80
HELD=${IPC_HELD:-30}
tmp=$(mktemp -d)
pki=$tmp/pki
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
	echo "demo: $*"
	exit 1
}

# nginx_conf I: member I's nginx on port $PORT in the foreground, its
# files in $tmp, answering "mI"; keep-alive connections stay open.
nginx_conf() {
	cat <<-CONF
	pid $tmp/nginx$1.pid;
	error_log $tmp/nginx$1.err;
	worker_processes 1;
	events {}
	http {
		access_log off;
		client_body_temp_path $tmp/nginx$1.body;
		keepalive_timeout 600s;
		keepalive_requests 100000;
		server {
			listen $PORT;
			location / { return 200 "m$1\n"; }
		}
	}
	CONF
}

say "kernel $(uname -r): loading ipcluster.ko"
load_module
say "a switch, a client ($CLIENT4) and three members, each in its own namespace"
setup_topology 3
ip -n "$NS_SW" link set br0 type bridge mcast_snooping 0
cluster_pki 1 2 3
echo "certificates from \`clusteradm cert\`; each member: \`clusteradm daemon\` and nginx on port $PORT"
declare -A pid app
start=$SECONDS
for i in 1 2 3; do
	{
		daemon_conf "$i" "tcp-export drain 600000"
		vm_timing 1000
	} >"$tmp/m$i.toml"
	nginx_conf "$i" >"$tmp/nginx$i.conf"
	ip netns exec "$(member_ns "$i")" nginx -e "$tmp/nginx$i.err" -c "$tmp/nginx$i.conf" \
		-g "daemon off;" &
	app[$i]=$!
	run_daemon "$i"
done

say "the daemons find each other on the link, elect a master and share the buckets"
wait_for 120 $MEMBERS spread "$tmp" 1 2 3 || die "the cluster did not form"
wait_for 60 $MEMBERS formed "$tmp" 1 2 3 || die "the members did not agree"
m=$($MEMBERS master "$tmp" 1 2 3)
echo "formed: 3 members, master m$m (after $((SECONDS - start)) s)"
echo "who owns each of the 1024 buckets (16 rows of 64, the owner's member id):"
$DEMO grid "$m"
for i in 1 2 3; do
	wait_for 10 ip netns exec "$(member_ns "$i")" ss -Hltn "( sport = :$PORT )" ||
		die "m$i's nginx is not listening"
done

# crash: run by the client between its two requests on each connection.
# The master's link goes down and its daemon and nginx (master and
# worker) are killed; the survivors must notice, elect, and take over.
crash() {
	sleep 3 # the last requests' TCP state reaches the replicas
	say "m$v (the master) crashes: link down, kill -9 of its daemon and nginx"
	local took
	took=$($DEMO takeover "$v" "ip -n $vns link set eth0 down; kill -9 $victims" $survivors) ||
		exit 1
	echo "the survivors own all ${took#* } of m$v's buckets after ${took% *} s"
	wait_for 60 $MEMBERS formed "$tmp" $survivors || exit 1
	echo "new master: m$($MEMBERS master "$tmp" $survivors)"
	$DEMO grid "${survivors%% *}"
}
v=$m
vns=$(member_ns "$v")
survivors=$(for i in 1 2 3; do [ "$i" = "$v" ] || echo -n "$i "; done)
victims="${pid[$v]} ${app[$v]} $(pgrep -P "${app[$v]}" | tr '\n' ' ')"
export -f crash say wait_for
export DEMO MEMBERS tmp v vns survivors victims IPC_TOP

say "a client holds $HELD idle HTTP/1.1 keep-alive connections to $CLUSTER4:$PORT"
# The shell's own "Killed" notices of the crashed member's processes go
# to /dev/null; the client's errors to the terminal.
exec 3>&2 2>/dev/null
ip netns exec "$NS_CLIENT" $DEMO client "$CLUSTER4" $PORT "$HELD" 30000 crash 2>&3 ||
	die "the client failed"
exec 2>&3 3>&-
say "the survivors' daemons (clusteradm -j status): connections restored through TCP repair"
$DEMO counts "$tmp" $survivors
for i in $survivors; do
	grep -m 2 "restored a connection" "$tmp/m$i.log" |
		sed -E "s/^[^T]*T([0-9:.]{12}).*(restored a connection sport=[0-9]+ dport=[0-9]+).*(how=[A-Za-z]+).*/  m$i's log: \1 \2 \3/"
done

say "cleaning up"
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
cleanup_all_ns
rm -rf "$tmp"
rmmod ipcluster && echo "ipcluster.ko unloaded"
