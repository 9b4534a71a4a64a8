#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Output commit with too little room (`[tcp] max_conns`): a member
# acknowledges the messages of connections its store had no room for and
# names them, and their owner fails closed; an owner that cannot track
# one of its own for replication does the same. Three members with output
# commit, each tracking at most MAX of its own connections and keeping at
# most MAX of the others'; a client opens more than that. Every
# connection both other members kept answers; every other is reset at
# once (none hangs), as many as the owners counted; the messages behind
# them were not held up.
source "$(dirname "$0")/lib.sh"

MEMBERS="python3 $IPC_TOP/tests/tools/members.py"
SEED=000102030405060708090a0b0c0d0e0f
PORT=7000
MAX=3
N=${IPC_UNKEPT_CONNS:-24}
tmp=$(mktemp -d)
pki=$tmp/pki

setup_cluster 3

declare -A pid app
member_conf() {
	daemon_conf "$1" "tcp-export commit 1 drain 600000"
	vm_timing 1000
	handoff_conf "$1" $PORT
	echo "max_conns = $MAX"
}
member_server() { run_echo "$1" "$CLUSTER4:$PORT"; }
start_members 1 2 3
field() { $MEMBERS field "$tmp" "$@"; }
check_formed

# N connections one after the other, each asked a question and kept open:
# answered (the echo), reset (refused in the handshake, or reset after),
# or silent for 20 s.
ip netns exec "$NS_CLIENT" python3 - "$CLUSTER4" $PORT "$N" "$tmp/go" >"$tmp/conns" 2>&1 <<-'PY' &
	import os, socket, sys, time
	host, port, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
	kept, out, slow = [], {"answered": 0, "reset": 0, "silent": 0}, 0.0
	for i in range(n):
	    s = socket.socket()
	    s.settimeout(20)
	    t = time.monotonic()
	    try:
	        s.connect((host, port))
	        s.sendall(b"q%d\n" % i)
	        got = s.recv(100)
	        how = "answered" if got else "reset"
	        kept.append(s)
	    except (ConnectionRefusedError, ConnectionResetError):
	        how = "reset"
	    except socket.timeout:
	        how = "silent"
	    out[how] += 1
	    if how == "answered":
	        slow = max(slow, time.monotonic() - t)
	    print(f"# conn {i} sport {s.getsockname()[1]}: {how}", flush=True)
	print(" ".join(f"{k}={v}" for k, v in out.items()), f"slowest={slow:.2f}", flush=True)
	while not os.path.exists(go):
	    time.sleep(0.1)
	for s in kept:
	    s.close()
	PY
client=$!
wait_for 600 grep -q '^answered=' "$tmp/conns"
sed 's/^/    # /' "$tmp/conns"
read -r answered reset silent slow < <(sed -nE 's/^answered=([0-9]+) reset=([0-9]+) silent=([0-9]+) slowest=([0-9.]+)/\1 \2 \3 \4/p' "$tmp/conns")
check "no connection hung" test "${silent:-1}" = 0
check "some were reset: the members had no room for them" test "${reset:-0}" -ge 1
check "at most $MAX of each member's connections answered" test "${answered:-99}" -le $((3 * MAX))
# sum KEY N: the members' tcp KEY add up to N.
sum() { [ "$(($(field 1 tcp "$1") + $(field 2 tcp "$1") + $(field 3 tcp "$1")))" = "$2" ]; }
check "the owners reset as many as were reset ($reset)" wait_for 10 sum unkept "${reset:-x}"
check "every connection that answered has its two replicas ($answered)" \
	wait_for 10 sum replicas "$((2 * ${answered:-x}))"
check "the connections kept answered at once (slowest ${slow}s)" \
	python3 -c "import sys; sys.exit(not float('${slow:-99}') < 5)"
for i in 1 2 3; do
	echo "    # m$i: $(python3 -c "import json; t = json.load(open('$tmp/run$i/1.json'))['tcp']; print({k: t[k] for k in ('exported', 'replicas', 'dropped', 'unkept', 'waiting', 'expired', 'resent')}, t['refused'])" 2>/dev/null)"
done
grep -h "no room" "$tmp"/m[123].log | head -n 4 | sed 's/^/    # /'

touch "$tmp/go"
wait "$client"
check "once the client closed them, every replica went" wait_for 30 sum replicas 0
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
rm -rf "$tmp"
finish
