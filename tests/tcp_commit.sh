#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# TCP survival with output commit: three members whose daemons hold every
# segment of a connection to the cluster address (netfilter queue) until
# another member acknowledged the state and bytes it reveals. A client
# holds idle connections over all members and streams random chunks
# through a plain echo on others, all the time; a member crashes (link
# down, kill -9 of its daemon and service), then the master: every idle
# connection answers from its new owner, every stream goes on byte-exact,
# connections restored once survive the second failover, nothing is
# reset. Every daemon loses every fifth of its kernel's messages that
# carry bytes out, as an overflowing export socket would: output commit
# asks the kernel for those bytes before their state commits, and the
# streams still go on byte-exact. (Forged state updates: tcp_survival.sh.)
source "$(dirname "$0")/lib.sh"

# Under TCG (two emulated CPUs with KASAN) a stream of 20 stalled for good
# in some runs, until two causes were found (a member that joined the
# commit's view counted as holding every message in flight; a bucket
# handed on by a rebalancing move after a death restored a second time
# from a stale replica): since, 5 runs of 5 passed (176-238 s). On
# failure it prints what the daemons did with the stream that stopped.

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
RAW=7001
HELD=${IPC_HELD:-200}
STREAMS=${IPC_STREAMS:-20}
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3
export IPCLUSTER_FAULT_LOSE_EXPORTS=${IPC_LOSE_EXPORTS:-5}

declare -A pid app
member_conf() {
	# (A long drain: the held connections and streams must outlive any
	# rebalancing move, which leaves them on their member for the drain
	# time only; this test is about crashes.)
	daemon_conf "$1" "tcp-export commit 1 drain 600000"
	# (Three daemons sign and check a datagram per turn of replication
	# on two emulated CPUs: slower than membership.sh.)
	vm_timing 1000
	handoff_conf "$1" $PORT $RAW
}
member_server() { run_echo "$1" "$CLUSTER4:$PORT" "raw:$CLUSTER4:$RAW"; }
field() { $MEMBERS field "$tmp" "$@"; }

start_members 1 2 3
# (The spread moves ~680 buckets, one per tick: 200 ms at this period.)
check_formed 240
check "the kernel cluster holds segments in queue 1" \
	bash -c "ip netns exec $(member_ns 1) $CLUSTERADM cluster show | grep -q 'commit 1'"
m=$($MEMBERS master "$tmp" 1 2 3)
v=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
last=$(for i in 1 2 3; do [ "$i" != "$m" ] && [ "$i" != "$v" ] && echo "$i"; done)

# The crashes happen between the client's rounds of questions on the idle
# connections; the streams run all the while.
cat >"$tmp/rounds.sh" <<-EOF
	#!/bin/bash
	case \$ROUND in
	2) ip -n $(member_ns "$v") link set eth0 down; kill -9 ${pid[$v]} ${app[$v]}
	   $(declare -f wait_for); wait_for 60 $MEMBERS formed $tmp $m $last ;;
	3) ip -n $(member_ns "$m") link set eth0 down; kill -9 ${pid[$m]} ${app[$m]}
	   $(declare -f wait_for); wait_for 60 $MEMBERS formed $tmp $last ;;
	esac
	sleep 2
EOF
chmod +x "$tmp/rounds.sh"
rst0=$(ip netns exec "$NS_CLIENT" nstat -az TcpExtTCPAbortOnData TcpEstabResets | awk '{s += $2} END {print s}')
ip netns exec "$NS_CLIENT" $FLOWS hold "$CLUSTER4" $PORT 25000 "$HELD" 3 "$tmp/rounds.sh" \
	"$STREAMS" $RAW 26000 "${IPC_THINK_MS:-250}" 2>&1 | tee "$tmp/held" |
	grep --line-buffered -v ': m[0-9]$' | sed -u 's/^/    # /'
check "all $HELD connections answered with everyone alive" \
	grep -q "^round 1 ok=$HELD reset=0 lost=0 moved=0" "$tmp/held"
check "m$v crashed: every idle connection still answers, none reset" \
	grep -qE "^round 2 ok=[0-9]+ reset=0 lost=0 moved=[1-9]" "$tmp/held"
check "the master m$m crashed: every idle connection still answers, none reset" \
	grep -qE "^round 3 ok=[0-9]+ reset=0 lost=0 moved=[1-9]" "$tmp/held"
# m$v's connections restored on m$m in round 2 move again in round 3.
twice() {
	grep "^# round 2: .* of m$v: m$m\$" "$tmp/held" | awk '{print $5}' | sort >"$tmp/r2"
	grep "^# round 3: .* of m$v: m$last\$" "$tmp/held" | awk '{print $5}' | sort >"$tmp/r3"
	n=$(comm -12 "$tmp/r2" "$tmp/r3" | wc -l)
	echo "    # $n connections of m$v restored on m$m, then on m$last"
	[ "$n" -ge 1 ] && [ "$n" = "$(wc -l <"$tmp/r2")" ]
}
check "connections restored once survive a second failover" twice
check "all $STREAMS streams went on byte-exact through both crashes" \
	grep -qE "^streams ok=$STREAMS bad=0 " "$tmp/held"
check "the client saw no reset" test "$(ip netns exec "$NS_CLIENT" nstat -az TcpExtTCPAbortOnData TcpEstabResets | awk '{s += $2} END {print s}')" = "$rst0"
check "m$last restored connections with their queues' bytes" \
	test "$(field "$last" tcp restored_with_bytes)" -ge 1
refetched=0 reexported=0
for i in 1 2 3; do
	refetched=$((refetched + $(field "$i" tcp refetched)))
	reexported=$((reexported + $(field "$i" tcp reexported)))
done
check "the bytes of the exports lost ($refetched) were asked of the kernel again" \
	test "$refetched" -ge 1
check "so were the records of connections whose held segments waited for them ($reexported)" \
	test "$reexported" -ge 1
for i in "$m" "$last"; do
	echo "    # m$i: $(python3 -c "import json; t = json.load(open('$tmp/run$i/1.json'))['tcp']; print({k: t[k] for k in ('restored', 'restored_with_bytes', 'failed', 'expired', 'resent', 'waiting', 'queued_bytes', 'unsent', 'refetched', 'reexported')})" 2>/dev/null)"
done
grep -hE "WARN|ERROR" "$tmp"/m[123].log | head -n 10 | sed 's/^/    # /'
# A stream that did not go on, or a held connection lost: what each
# member's daemon did with it, and its bucket on the last member.
for p in $(sed -nE 's/^# stream from ([0-9]+):.*/\1/p; s/^# round [0-9]+: sport ([0-9]+) of .*: lost$/\1/p' "$tmp/held" | sort -u); do
	for i in 1 2 3; do
		grep -E "sport=$p\b" "$tmp/m$i.log" | sed "s/^/    # m$i, port $p: /"
		ip netns exec "$(member_ns "$i")" ss -Htni "( dport = :$p )" | sed "s/^/    # m$i, port $p: /"
	done
	ip netns exec "$(member_ns "$last")" "$CLUSTERADM" which 1 "$CLIENT4" sport "$p" \
		dport "$( [ "$p" -ge 26000 ] && echo $RAW || echo $PORT)" | sed "s/^/    # port $p: /"
done
grep -hE "not restored|passed" "$tmp"/m[123].log | head -n 10 | sed 's/^/    # /'
for i in 1 2 3; do
	grep -E "membership|restored a" "$tmp/m$i.log" | head -n 30 | sed "s/^/    # m$i: /"
done

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
