#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The metrics endpoint: three members with daemons (tcp-export, no
# hand-off: restored connections go onto each member's own server), each
# serving `[metrics] listen` on its own link address. curl scrapes each
# from the member's namespace, and Prometheus' own OpenMetrics parser
# (Debian's python3-prometheus-client) reads every scrape. A client holds
# idle keep-alive connections spread over the three; the master crashes
# (link down, kill -9 of its daemon and server): the survivors' scrapes
# show the members down to two, the lost master, the election, the new
# tables, and the connections restored. Every member sees every packet
# (multicast mode), so each survivor counts the packets to every member's
# buckets, the dead master's among them.
source "$(dirname "$0")/lib.sh"

OM="/usr/bin/python3 $IPC_TOP/tests/tools/openmetrics.py"
KEEPALIVE="python3 $IPC_TOP/tests/tools/keepalive.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=8080 MPORT=9464
HELD=${IPC_HELD:-24}
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3

declare -A pid app
member_conf() {
	daemon_conf "$1" "tcp-export drain 600000"
	vm_timing 1000
	printf '[metrics]\nlisten = "%s:%s"\n' "$(member4 "$1")" $MPORT
}
member_server() {
	ip netns exec "$(member_ns "$1")" python3 "$IPC_TOP/tests/tools/http_member.py" \
		"m$1" 0.0.0.0 $PORT &
	app[$1]=$!
}
start_members 1 2 3

# scrape I NAME: member I's metrics, scraped from its namespace, in $tmp/NAME.
scrape() {
	ip netns exec "$(member_ns "$1")" curl -sSf --max-time 10 -o "$tmp/$2" \
		"http://$(member4 "$1"):$MPORT/metrics"
}
# metric NAME SAMPLE [LABEL=VALUE...]: a sample's value in scrape NAME.
metric() { $OM get "$tmp/$1" "${@:2}"; }
# members_are N I: member I's endpoint shows N members (its state is
# written, and so rendered, once a second); in $tmp/mI.prom.
members_are() { scrape "$2" "m$2.prom" && test "$(metric "m$2.prom" ipcluster_members)" = "$1"; }
# num NAME SAMPLE [LABEL=VALUE...]: the same, 0 if there is no such sample.
num() { metric "$@" 2>/dev/null || echo 0; }
event() { num "m$1.prom" ipcluster_membership_events_total "event=$2"; }

check "the cluster forms and spreads" wait_for 120 $MEMBERS spread "$tmp" 1 2 3
for i in 1 2 3; do
	check "m$i's endpoint shows three members" wait_for 10 members_are 3 "$i"
	check "... in text Prometheus' parser reads" $OM check "$tmp/m$i.prom"
	cp "$tmp/m$i.prom" "$tmp/before$i.prom"
done
$OM check "$tmp/m1.prom" | sed 's/^/    # m1: /'
m=$($MEMBERS master "$tmp" 1 2 3)
check "exactly one endpoint shows a master, m$m's" test \
	"$(metric m1.prom ipcluster_master)$(metric m2.prom ipcluster_master)$(metric m3.prom ipcluster_master)" \
	= "$(for i in 1 2 3; do echo -n $((i == m)); done)"
ctype=$(ip netns exec "$(member_ns "$m")" curl -s -o /dev/null -w '%{content_type}' \
	"http://$(member4 "$m"):$MPORT/metrics")
check "served as OpenMetrics text" test "${ctype%%;*}" = application/openmetrics-text
check "every series carries the cluster label" \
	bash -c "! grep -v '^#' '$tmp/m$m.prom' | grep -v 'cluster=\"1\"'"
check "a path other than /metrics is not found" bash -c \
	"ip netns exec $(member_ns "$m") curl -s -o /dev/null -w '%{http_code}' http://$(member4 "$m"):$MPORT/ | grep -qx 404"
survivors=$(for i in 1 2 3; do [ "$i" = "$m" ] || echo -n "$i "; done)
for i in 1 2 3; do
	wait_for 10 ip netns exec "$(member_ns "$i")" ss -Hltn "( sport = :$PORT )"
done

# The crash: the master's link, daemon and server at once.
cat >"$tmp/rounds.sh" <<-EOF
	#!/bin/bash
	$(declare -f wait_for)
	# (2 s first: the last answers' state reaches the replicas.)
	case \$ROUND in
	2) sleep 2; ip -n $(member_ns "$m") link set eth0 down; kill -9 ${pid[$m]} ${app[$m]}
	   wait_for 60 $MEMBERS formed $tmp $survivors
	   echo "# m$m crashed, the others formed after \${SECONDS} s" ;;
	esac
	sleep 2
	EOF
chmod +x "$tmp/rounds.sh"
ip netns exec "$NS_CLIENT" $KEEPALIVE "$CLUSTER4" 30000 2 "$tmp/rounds.sh" \
	$PORT "$HELD" >"$tmp/held" 2>&1
sed 's/^/    # /' "$tmp/held" | head -n 10
moved=$(sed -n "s/^round 2 port $PORT .*moved=\([0-9]*\).*/\1/p" "$tmp/held")
check "m$m's connections moved to the survivors" test "${moved:-0}" -ge 1

n=$($MEMBERS master "$tmp" $survivors)
for i in $survivors; do
	check "m$i's endpoint shows two members" wait_for 10 members_are 2 "$i"
	check "... in text Prometheus' parser reads" $OM check "$tmp/m$i.prom"
	check "m$i installed new tables" test "$(metric "m$i.prom" ipcluster_tables_installed_total)" -gt \
		"$(metric "before$i.prom" ipcluster_tables_installed_total)"
done
# A survivor counts the lost master when its own watchdog fires; one
# that hears the new master first just follows it.
lost=0
for i in $survivors; do
	lost=$((lost + $(event "$i" lost-master) - $(num "before$i.prom" \
		ipcluster_membership_events_total event=lost-master)))
done
check "the survivors counted the lost master" test "$lost" -ge 1
check "the election: m$n shows itself master" test "$(metric "m$n.prom" ipcluster_master)" = 1
check "... and counted becoming master" test "$(event "$n" master)" -gt "$(metric "before$n.prom" \
	ipcluster_membership_events_total event=master)"
restored=0 adopted=0
for i in $survivors; do
	restored=$((restored + $(num "m$i.prom" ipcluster_tcp_restored_total)))
	adopted=$((adopted + $(num "m$i.prom" ipcluster_tcp_adopted_total)))
done
echo "    # moved $moved, restored $restored, adopted $adopted"
check "the survivors' endpoints count every moved connection restored" test "$restored" -ge "${moved:-1}"
check "... and adopted onto their servers" test "$adopted" -ge "${moved:-1}"
# Per member, the packets to the buckets it owned, as each survivor's
# kernel counted them: the members holding buckets now (the client's
# packets went to them before the crash and after it), and the dead
# master, whose connections moved: its count stays though it owns none.
for i in $survivors; do
	holders=$($OM each "$tmp/m$i.prom" ipcluster_member_buckets member |
		awk '$2 > 0 { print $1 }' | sort -n | xargs)
	check "m$i's endpoint shows buckets held by the survivors only" \
		test "$holders" = "$(echo $survivors)"
	for id in $holders $m; do
		check "m$i counted packets to member $id's buckets" \
			test "$(num "m$i.prom" ipcluster_member_packets_total member=$id)" -gt 0
	done
done
grep -hE "serving metrics|WARN|ERROR" "$tmp"/m[123].log | head -n 8 | sed 's/^/    # /'

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
