#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Genuine datagrams where they do not belong, sent from outside the
# daemons (tests/tools/replay.py, sessions by tests/tools/session.py):
# three members with real daemons (tcp-export) and a client that opens
# connections, so that the members send each other sealed TCP state.
# Every datagram of the link is heard in the switch's namespace.
# - A sealed TCP state datagram heard on the link, sent again from its
#   sender's socket address: to its recipient's membership port (wrong
#   port), to its own port (replayed), to another member (unknown
#   session or bad tag); and from the client (unknown session).
# - Kinds that travel only sealed (a member keepalive, a "leave, stale
#   configuration", TCP state), signed by a member with its own key on
#   its own host: refused unopened (signed where sealed).
# - A member's certificate used from other hosts: its Hello is refused
#   (wrong address), so no session and nothing sealed.
# - A member's real session to the wrong port: TCP state to the
#   membership port, a keepalive to the TCP state port (wrong port).
# - A member restarts: what it heard before, sent to it again, is stale
#   (signed) or under a session it no longer has (sealed).
# - Everything heard, at the highest rate the client can send, for 30 s,
#   to every member's both ports.
# - A member with its own key and certificate, on its own host, claims
#   another member's id: signed (the master's keepalive listing one more
#   member and a new table; Hellos) and sealed through a session it
#   agreed as itself ("leave, stale configuration", a keepalive with the
#   next configuration version, one for a member no host holds, TCP state
#   and its acknowledgement): refused unopened (wrong id), no session
#   agreed under another's id.
# Each time: counted by reason, nobody declared dead, no member's view
# changes, the master stays master.
# IPC_PARTS=3,6 runs those parts alone (the cluster forms first either
# way); parts that send what part 1 heard are skipped without it.
source "$(dirname "$0")/lib.sh"

FLOWS="python3 $IPC_TOP/tests/tools/flows.py"
MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
REPLAY="python3 $IPC_TOP/tests/tools/replay.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
LINK=7400
TCP=$((LINK + 1))
FLOOD=${IPC_FLOOD:-30}
PARTS=${IPC_PARTS:-1,2,3,4,5,6}
tmp=$(mktemp -d)
pki=$tmp/pki
heard=$tmp/heard

setup_cluster 3

declare -A pid app
member_conf() {
	daemon_conf "$1" "tcp-export drain 600000"
	vm_timing 500
	handoff_conf "$1" $PORT
}
member_server() { run_echo "$1" "$CLUSTER4:$PORT"; }
field() { $MEMBERS field "$tmp" "$@"; }
rejected() { field "$1" rejected "$2"; }
# The membership as every member sees it: role, own id, member list.
view() { $MEMBERS view "$tmp" 1 2 3; }
deaths() { cat "$tmp"/m[123].log | grep -cE 'event="(member-down|lost-master)"'; }
# unchanged_for SECONDS BEFORE: the view stays BEFORE that long.
unchanged_for() {
	local end=$((SECONDS + $1)) now
	while [ "$SECONDS" -lt "$end" ]; do
		now=$(view)
		[ "$now" = "$2" ] || { printf 'before:\n%s\nnow:\n%s\n' "$2" "$now"; return 1; }
		sleep 0.5
	done
}
# ns_of ADDR: the index of the member at link address ADDR.
ns_of() {
	local i
	for i in 1 2 3; do [ "$(member4 "$i")" = "$1" ] && echo "$i"; done
}
comment() { sed 's/^/    # /'; }
# stage N: when part N starts, for the test's times.
stage() { echo "    # part $1 from ${SECONDS} s"; }
# heard_any WANT: part 1 heard datagrams WANT selects (replay.py list).
heard_any() { [ -s "$heard" ] && $REPLAY list "$heard" "$1" | grep -q .; }
# counted I REASON N: member I has counted at least N datagrams rejected
# for REASON.
counted() { [ "$(rejected "$1" "$2")" -ge "$3" ]; }
# tables: every member's table version and owners, as its status has them.
tables() {
	local i
	for i in 1 2 3; do echo "m$i $(field "$i" table_version) $(field "$i" owners)"; done
}
# replay CMD ARGS... from namespace NS: replay.py's CMD, its output shown.
replay() {
	local ns=$1
	shift
	ip netns exec "$ns" $REPLAY "$@" 2>&1 | comment
}
# claim N CMD ARGS...: replay.py's CMD ARGS from m$x's host, 3 times, in
# the background (its pid added to array c), its output in $tmp/claim.N.
claim() {
	local n=$1
	shift
	replay "$(member_ns "$x")" "$@" 3 >"$tmp/claim.$n" &
	c+=($!)
}

start_members 1 2 3
check_formed
# m$m is the master; m$x and m$y are not, and m$y restarts later.
m=$($MEMBERS master "$tmp" 1 2 3)
x=$(for i in 1 2 3; do [ "$i" != "$m" ] && echo "$i"; done | head -n1)
y=$(for i in 1 2 3; do [ "$i" != "$m" ] && [ "$i" != "$x" ] && echo "$i"; done)
idx=$(field "$x" member) idm=$(field "$m" member)
echo "    # m$m is the master, m$x and m$y are not"

# 1. The link as a host on the switch hears it, while the client opens
# connections and holds them: TCP state (some to m$y) and keepalives.
part_1() {
	ip netns exec "$NS_SW" $REPLAY capture "$heard" 60 "tcp-state@$(member4 "$y")" \
		master-alive member-alive >"$tmp/capture.out" 2>&1 &
	cap=$!
	# (The client's connections send their state at once: not before the
	# capture hears.)
	wait_for 60 grep -q '^capturing' "$tmp/capture.out"
	ip netns exec "$NS_CLIENT" $FLOWS hold "$CLUSTER4" $PORT 40000 30 1 \
		"while kill -0 $cap 2>/dev/null; do sleep 0.5; done" >"$tmp/held" 2>&1 &
	held=$!
	wait $cap
	heard_ok=$?
	check "heard on the link: master keepalives" heard_any master-alive
	check "... and member keepalives" heard_any member-alive
	comment <"$tmp/capture.out"
	[ $heard_ok = 0 ] || for i in 1 2 3; do
		echo "m$i sent $(field "$i" tcp sent_records) TCP state records"
	done | comment
	wait $held
	grep '^round' "$tmp/held" | comment
}

# 2. One sealed TCP state datagram to m$y, from its sender's socket
# address (spoofed by the client) and from the client's own.
part_2() {
	n=
	heard_any "tcp-state@$(member4 "$y")" &&
		read -r n _ src sport _ _ sid < <($REPLAY list "$heard" "tcp-state@$(member4 "$y")" | head -n1)
	if [ -n "${n:-}" ]; then
		s=$(ns_of "$src")
		u=$(for i in 1 2 3; do [ "$i" != "$s" ] && [ "$i" != "$y" ] && echo "$i"; done)
		echo "    # m$s's (member $sid, $src:$sport) TCP state to m$y, sent again"
		before=$(view) dead0=$(deaths)
		wp0=$(rejected "$y" wrong_port) rp0=$(rejected "$y" replayed) us0=$(rejected "$y" unknown_session)
		other0=$(($(rejected "$u" unknown_session) + $(rejected "$u" bad_tag)))
		replay "$NS_CLIENT" send "$heard" "$n" "$(member4 "$y")" $LINK 5
		replay "$NS_CLIENT" send "$heard" "$n" "$(member4 "$y")" $TCP 5
		replay "$NS_CLIENT" send "$heard" "$n" "$(member4 "$u")" $TCP 5
		replay "$NS_CLIENT" send --here "$heard" "$n" "$(member4 "$y")" $TCP 5
		check "sealed TCP state sent again: nothing changes for 8 s" unchanged_for 8 "$before"
		check "... to m$y's membership port: counted as wrong port" \
			test "$(rejected "$y" wrong_port)" -ge $((wp0 + 5))
		check "... to its own port: counted as replayed" test "$(rejected "$y" replayed)" -ge $((rp0 + 5))
		check "... to m$u: counted as unknown session or bad tag" \
			test $(($(rejected "$u" unknown_session) + $(rejected "$u" bad_tag))) -ge $((other0 + 5))
		check "... from the client's address: counted as unknown session" \
			test "$(rejected "$y" unknown_session)" -ge $((us0 + 5))
		check "... nobody declared dead" test "$(deaths)" = "$dead0"
	else
		skip "sealed TCP state sent again" "none heard"
	fi
}

# 3. Members' own keys on their own hosts, but a member's certificate
# from another host, and a real session to the wrong port. Without the
# address binding the master would tell m$y's host to leave (a keepalive
# of member $idx from an address not its own), and m$y would exit for
# good (the master telling it its configuration is stale).
part_3() {
	before=$(view) dead0=$(deaths)
	for c in signed_where_sealed wrong_address wrong_port; do
		eval "${c}_m=\$(rejected $m $c) ${c}_y=\$(rejected $y $c)"
	done
	ign0=$(field "$y" tcp ignored)
	echo "    # sealed-only kinds signed by m$x (to the master, m$y) and by the master (to m$y)"
	replay "$(member_ns "$x")" forge "$(member4 "$m")" $LINK 1 "$pki" "m$x" "$idx" member-alive 3
	replay "$(member_ns "$m")" forge "$(member4 "$y")" $LINK 1 "$pki" "m$m" "$idm" leave-stale 3
	replay "$(member_ns "$x")" forge "$(member4 "$y")" $TCP 1 "$pki" "m$x" "$idx" tcp-state 3
	echo "    # m$x's certificate from m$y's host, the master's and the client"
	# (At once: each waits 2 s for the answers to its two Hellos.)
	replay "$(member_ns "$y")" sealed "$(member4 "$m")" $LINK 1 "$pki" "m$x" "$idx" member-alive 3 \
		>"$tmp/wrong_address.1" &
	w1=$!
	replay "$(member_ns "$m")" sealed "$(member4 "$y")" $LINK 1 "$pki" "m$x" "$idm" leave-stale 3 \
		>"$tmp/wrong_address.2" &
	w2=$!
	replay "$NS_CLIENT" sealed "$(member4 "$y")" $TCP 1 "$pki" "m$x" "$idx" tcp-state 3 \
		>"$tmp/wrong_address.3" &
	w3=$!
	wait $w1 $w2 $w3
	cat "$tmp"/wrong_address.[123]
	echo "    # m$x's own sessions to the wrong ports: TCP state to m$y's, a keepalive to the master's"
	replay "$(member_ns "$x")" sealed "$(member4 "$y")" $LINK 1 "$pki" "m$x" "$idx" tcp-state 3 \
		>"$tmp/wrong_port.out"
	replay "$(member_ns "$x")" sealed "$(member4 "$m")" $TCP 1 "$pki" "m$x" "$idx" member-alive 3 \
		>>"$tmp/wrong_port.out"
	cat "$tmp/wrong_port.out"
	check "nothing changes for 8 s" unchanged_for 8 "$before"
	check "signed where sealed: counted by the master" \
		test "$(rejected "$m" signed_where_sealed)" -ge $((signed_where_sealed_m + 3))
	check "... and by m$y" test "$(rejected "$y" signed_where_sealed)" -ge $((signed_where_sealed_y + 6))
	check "a certificate from another host: counted as wrong address by the master" \
		test "$(rejected "$m" wrong_address)" -ge $((wrong_address_m + 2))
	check "... and by m$y" test "$(rejected "$y" wrong_address)" -ge $((wrong_address_y + 4))
	check "... no session agreed" test "$(cat "$tmp"/wrong_address.[123] | grep -c '# no session')" = 3
	check "the wrong port through real sessions (agreed)" \
		test "$(grep -c '# session' "$tmp/wrong_port.out")" = 2
	check "... counted by m$y" \
		test "$(rejected "$y" wrong_port)" -ge $((wrong_port_y + 3))
	check "... and by the master" test "$(rejected "$m" wrong_port)" -ge $((wrong_port_m + 3))
	check "m$y still runs" kill -0 "${pid[$y]}"
	check "no TCP state reached m$y's replicas" test "$(field "$y" tcp ignored)" = "$ign0"
	check "nobody declared dead" test "$(deaths)" = "$dead0"
}

# 4. m$y restarts; what it heard before comes again, from the senders'
# socket addresses: the master's keepalive (signed, from before its
# start) and TCP state to it (sealed with keys it no longer has).
part_4() {
	if ! heard_any master-alive; then
		skip "old traffic to the restarted m$y" "nothing heard (part 1 did not run)"
		return
	fi
	kill "${pid[$y]}"
	wait "${pid[$y]}" 2>/dev/null
	run_daemon "$y"
	check "m$y restarts and rejoins" wait_for 120 $MEMBERS formed "$tmp" 1 2 3
	before=$(view) dead0=$(deaths)
	st0=$(rejected "$y" stale) us0=$(rejected "$y" unknown_session)
	read -r ma _ < <($REPLAY list "$heard" master-alive | head -n1)
	replay "$NS_CLIENT" send "$heard" "$ma" "$(member4 "$y")" $LINK 3
	for n in $($REPLAY list "$heard" "tcp-state@$(member4 "$y")" | awk '{print $1}' | head -n 3); do
		replay "$NS_CLIENT" send "$heard" "$n" "$(member4 "$y")" $TCP 1
	done
	check "old traffic to the restarted m$y: nothing changes for 8 s" unchanged_for 8 "$before"
	check "... its keepalive counted as stale" test "$(rejected "$y" stale)" -ge $((st0 + 3))
	if heard_any "tcp-state@$(member4 "$y")"; then
		check "... TCP state as unknown session" test "$(rejected "$y" unknown_session)" -ge $((us0 + 1))
	else
		skip "... TCP state as unknown session" "no sealed TCP state captured (see part 1)"
	fi
	check "... m$y is a member" test "$(field "$y" role)" = member
	check "... nobody declared dead" test "$(deaths)" = "$dead0"
}

# 5. A flood of everything heard, from its senders' socket addresses, to
# every member's both ports, while the view is watched.
part_5() {
	if ! heard_any master-alive; then
		skip "a flood of what was heard" "nothing heard (part 1 did not run)"
		return
	fi
	before=$(view) dead0=$(deaths)
	ip netns exec "$NS_CLIENT" $REPLAY flood "$heard" "$FLOOD" $LINK,$TCP \
		"$(member4 1)" "$(member4 2)" "$(member4 3)" >"$tmp/flood.out" 2>&1 &
	flood=$!
	check "a flood for ${FLOOD} s: nothing changes" unchanged_for "$FLOOD" "$before"
	wait $flood
	comment <"$tmp/flood.out"
	for i in 1 2 3; do
		python3 -c "import json; r = json.load(open('$tmp/run$i/1.json'))['rejected']
print('m$i rejected', ' '.join(f'{k}={v}' for k, v in r.items() if v))" | comment
	done
	check "... nobody declared dead" test "$(deaths)" = "$dead0"
	check "... m$m is still the master" test "$($MEMBERS master "$tmp" 1 2 3)" = "$m"
	check "... one table, all acknowledged" wait_for 60 $MEMBERS formed "$tmp" 1 2 3
}

# 6. m$x, with its own key and certificate on its own host, claims
# another member's id. Signed: the master's keepalive to m$y, listing one
# more member and a table that gives that member every bucket; Hellos as
# the master (to m$y) and as m$y (to the master), so no session is agreed
# under their ids. Sealed, through sessions m$x agreed as itself: as the
# master to m$y, "leave, stale configuration" (m$y would exit for good),
# TCP state and its acknowledgement; as m$y to the master, a keepalive
# with the next configuration version (the master would stop, stale);
# as member 4, which no host holds (as one declared dead), a keepalive.
# Each is refused unopened, as wrong id, and nothing changes.
part_6() {
	local idy wy wm
	idy=$(field "$y" member)
	before=$(view) dead0=$(deaths) tables0=$(tables)
	ign0=$(field "$y" tcp ignored) bytes0=$(field "$y" tcp replica_bytes)
	wy=$(rejected "$y" wrong_id) wm=$(rejected "$m" wrong_id)
	echo "    # m$x (member $idx) as the master (member $idm) and as m$y (member $idy)"
	# All at once: each takes seconds to start under emulation.
	c=()
	claim 1 forge "$(member4 "$y")" $LINK 1 "$pki" "m$x" "$idm" "master-alive:$tmp/run$m/1.json"
	claim 2 sealed "$(member4 "$y")" $LINK 1 "$pki" "m$x" "$idm" leave-stale
	claim 3 sealed "$(member4 "$m")" $TCP 1 "$pki" "m$x" "$idy" tcp-ack
	claim 4 sealed --claim "$idm" "$(member4 "$y")" $LINK 1 "$pki" "m$x" "$idx" leave-stale
	claim 5 sealed --claim "$idm" "$(member4 "$y")" $TCP 1 "$pki" "m$x" "$idx" tcp-state,tcp-ack
	claim 6 sealed --claim "$idy" "$(member4 "$m")" $LINK 1 "$pki" "m$x" "$idx" member-alive:2
	claim 7 sealed --claim 4 "$(member4 "$m")" $LINK 1 "$pki" "m$x" "$idx" member-alive
	wait "${c[@]}"
	cat "$tmp"/claim.[1-7]
	check "the master's keepalive, signed by m$x, sent to m$y" grep -q '# sent 3' "$tmp/claim.1"
	check "Hellos as the master and as m$y: no session agreed" \
		test "$(cat "$tmp"/claim.[23] | grep -c '# no session')" = 2
	check "sessions agreed as m$x, used as others" \
		test "$(cat "$tmp"/claim.[4-7] | grep -c '# session')" = 4
	# Every datagram refused is counted once, by one reason, and the
	# daemons send none that is refused as wrong id: a count that rises
	# by what was sent counts each of them.
	check "m$y counts each as wrong id (3 keepalives, 2 Hellos, 3 leaves, 6 TCP state and acks)" \
		wait_for 20 counted "$y" wrong_id $((wy + 14))
	check "the master too (2 Hellos, 6 keepalives)" wait_for 20 counted "$m" wrong_id $((wm + 8))
	check "nothing changes for 8 s" unchanged_for 8 "$before"
	check "... every member's table the same" test "$(tables)" = "$tables0"
	check "... m$y still runs" kill -0 "${pid[$y]}"
	check "... no TCP state reached m$y's replicas" \
		test "$(field "$y" tcp ignored) $(field "$y" tcp replica_bytes)" = "$ign0 $bytes0"
	check "... nobody declared dead" test "$(deaths)" = "$dead0"
}

for p in 1 2 3 4 5 6; do
	case ",$PARTS," in
	*",$p,"*)
		stage "$p"
		"part_$p"
		;;
	esac
done

stage end
grep -hE "WARN|ERROR" "$tmp"/m[123].log | head -n 10 | comment
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
