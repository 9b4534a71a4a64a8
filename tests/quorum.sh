#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The optional quorum ([protocol] quorum = "majority", members = 3): three
# members with real daemons; a partition of the cluster link only (the
# client still reaches every member) leaves one member alone, first a
# member, then the master. The lone member makes itself master and serves
# nothing (its kernel owns no bucket, it answers no flow), the other two
# serve every bucket and every flow is answered once; healed, one master
# and one table again.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
LINK=7400
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3

declare -A pid
member_conf() {
	daemon_conf "$1" ""
	vm_timing 1000 1000 600
	printf 'quorum = "majority"\nmembers = 3\n'
}
member_server() { ip netns exec "$(member_ns "$1")" $FLOWS serve "m$1" $PORT "$CLUSTER4" & }
start_members 1 2 3

formed() { $MEMBERS formed "$tmp" "$@"; }
formed_within() { wait_for "$1" formed "${@:2}" || formed "${@:2}"; }
master_of() { $MEMBERS master "$tmp" "$@"; }
idle() { $MEMBERS idle "$tmp" "$1"; }
# answered FIRST [LONE]: 60 TCP flows from port FIRST, each answered once,
# none by member LONE.
answered() {
	ip netns exec "$NS_CLIENT" $FLOWS client "$CLUSTER4" $PORT tcp "$1" 60 >"$tmp/answers"
	grep -v ' m[0-9]' "$tmp/answers" | sed 's/^/    # not answered: /'
	[ "$(grep -c ' m[0-9]' "$tmp/answers")" = 60 ] || return 1
	[ -z "${2:-}" ] || ! grep -q " m$2\$" "$tmp/answers"
}
# cut I / heal I: member I's cluster link (both ports, both ways) cut or
# restored; its client traffic passes.
cut() {
	ip netns exec "$(member_ns "$1")" nft -f - <<-NFT
	table inet quorum {
		chain in { type filter hook input priority 0; udp dport { $LINK, $((LINK + 1)) } drop; }
		chain out { type filter hook output priority 0; udp dport { $LINK, $((LINK + 1)) } drop; }
	}
	NFT
}
heal() { ip netns exec "$(member_ns "$1")" nft delete table inet quorum; }
quorum_lost() { grep -q 'event="quorum-lost"' "$tmp/m$1.log"; }

check "the cluster forms with a quorum of two" formed_within 120 1 2 3
check "every flow is answered" answered 20000

partition() { # partition LONE WHAT: LONE alone, then healed
	local lone=$1 rest
	rest=$(for i in 1 2 3; do [ "$i" != "$lone" ] && echo "$i"; done | xargs)
	cut "$lone"
	check "$2 m$lone alone: it makes itself master" wait_for 60 master_of "$lone"
	check "... and serves nothing (its kernel owns no bucket)" wait_for 30 idle "$lone"
	check "... its log says the quorum is lost" quorum_lost "$lone"
	check "... m${rest// /, m} serve every bucket" formed_within 60 $rest
	check "... every flow is answered once, none by m$lone" answered 21000 "$lone"
	heal "$lone"
	check "healed: one master and one table again" formed_within 90 1 2 3
	check "... every flow is answered" answered 22000
}
m=$(master_of 1 2 3)
lone=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
partition "$lone" "a member:"
partition "$(master_of 1 2 3)" "the master:"

kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
finish
