#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The failover benchmark, run inside the bench VM (scripts/bench.sh): three
# real `clusteradm daemon`s with the default keepalive settings (50 ms
# period, 150 ms join wait, 100 ms offer wait; only rebalancing is sped up,
# so that each run's cluster spreads in seconds). Each run kills (-9, link
# down) a member, then the master, and measures from the kill:
#   member   until every survivor's kernel has a table in which the dead
#            member owns nothing (its buckets served again)
#   master   until a survivor is master
#   master-served  until every survivor's kernel has a table without the
#            dead master
# from the daemons' logs (wall clock, microseconds). Prints p50 and p99
# (nearest rank) over the runs.
#
#   failover.sh KO [RUNS]
source "$(dirname "$0")/../lib.sh"
IPC_KO=$1
runs=${2:-10}
SEED=000102030405060708090a0b0c0d0e0f
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3
for i in 1 2 3; do
	{
		daemon_conf "$i" ""
		printf '[protocol]\nrebalance_ms = 10\n'
	} >"$tmp/m$i.toml"
done

declare -A pid
# (Each kill is waited for, quietly: bash would report the job it
# killed, "Killed", on the bench's output.)
kill_host() {
	{
		kill -9 "${pid[$1]}"
		wait "${pid[$1]}" || true
	} 2>/dev/null
	ip -n "$(member_ns "$1")" link set eth0 down
}
now() { date +%s.%N; }

member=() master=() master_served=() failed=0
for r in $(seq 1 "$runs"); do
	for i in 1 2 3; do
		ip -n "$(member_ns "$i")" link set eth0 up
		run_daemon "$i"
	done
	if ! wait_for 120 $MEMBERS spread "$tmp" 1 2 3 || ! wait_for 60 $MEMBERS formed "$tmp" 1 2 3; then
		echo "# run $r: the cluster did not form"
		failed=$((failed + 1))
	else
		m=$($MEMBERS master "$tmp" 1 2 3)
		v=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
		last=$(for i in 1 2 3; do [ "$i" != "$m" ] && [ "$i" != "$v" ] && echo "$i"; done)
		vid=$($MEMBERS field "$tmp" "$v" member)
		mid=$($MEMBERS field "$tmp" "$m" member)
		t0=$(now)
		kill_host "$v"
		wait_for 10 $MEMBERS formed "$tmp" "$m" "$last"
		member+=("$($MEMBERS served "$tmp" "$t0" "$vid" "$m" "$last")")
		t0=$(now)
		kill_host "$m"
		wait_for 10 $MEMBERS formed "$tmp" "$last"
		master+=("$($MEMBERS newmaster "$tmp" "$t0" "$last")")
		master_served+=("$($MEMBERS served "$tmp" "$t0" "$mid" "$last")")
		echo "# run $r: member ${member[-1]} s, master ${master[-1]} s, its buckets ${master_served[-1]} s"
	fi
	{
		for i in 1 2 3; do kill -9 "${pid[$i]}"; done
		wait "${pid[@]}" || true
	} 2>/dev/null
	wait 2>/dev/null
done

python3 - "${member[*]}" "${master[*]}" "${master_served[*]}" <<-'EOF'
	import math, sys
	def pct(v, p):
	    v = sorted(v)
	    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
	for name, arg, goal in (("member death -> its buckets served", sys.argv[1], 300),
	                        ("master death -> new master", sys.argv[2], 500),
	                        ("master death -> its buckets served", sys.argv[3], 500)):
	    v = [float(x) * 1000 for x in arg.split() if x and x[0].isdigit()]
	    if not v:
	        print(f"{name}: no measurement")
	        continue
	    print(f"{name}: p50 {pct(v, 50):.0f} ms, p99 {pct(v, 99):.0f} ms "
	          f"over {len(v)} runs (goal p99 <= {goal} ms)")
EOF
echo "# $failed of $runs runs did not form"
cleanup_all_ns
rm -rf "$tmp"
