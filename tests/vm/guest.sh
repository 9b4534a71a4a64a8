#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the test VM: each test script in turn, as KTAP, failing any
# test during which the kernel logged a splat. Last line: "N passed, N failed".
#
#   guest.sh [--inject-splat] [--splat-check] TEST...   (paths relative to the repo)
#
# --inject-splat loads a module that WARNs before the first test (that test
# must then fail); --splat-check ends the run by loading it and checking that
# the detector catches the WARN.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
export IPC_TOP=$top

inject=0
splat_check=0
while :; do
	case "${1:-}" in
	--inject-splat) inject=1 ;;
	--splat-check) splat_check=1 ;;
	*) break ;;
	esac
	shift
done

# Splats: anything the kernel's debug options or BUG/WARN machinery print.
splat_re='BUG:|WARNING:|KASAN:|UBSAN:|general protection fault|Oops|Kernel panic|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|rcu_.*detected stall|Call Trace:'

# splats_since LINE: the splats logged after dmesg line LINE, with context.
splats_since() {
	dmesg | tail -n +"$(($1 + 1))" | grep -E -A30 "$splat_re" | head -n 60
}

sysctl -qw kernel.printk="4 4 1 7" 2>/dev/null
boot_splats=$(splats_since 0)

# The flow hash's secret is drawn on its first use, and a static key is
# then patched in place (net_get_random_once). Under TCG, a vCPU inside
# flow_hash_from_keys while that patch was made once took the patch's
# int3 as a fatal trap, in a softirq, early in a test. RPS on lo for one
# ping draws the secret here, while nothing else runs.
rps=/sys/class/net/lo/queues/rx-0/rps_cpus
if [ -w $rps ]; then
	ip link set lo up
	echo 1 >$rps
	ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1
	echo 0 >$rps
fi

# Receive timestamps are another: enabled while any socket asks for them
# (every ping does) and patched out again when the last one closes, in a
# workqueue, while the tests' traffic runs (an int3 taken in netif_rx
# once). A socket that asks for them for the whole run keeps the key on.
python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_TIMESTAMP", 29), 1)
time.sleep(1 << 30)' &

echo "TAP version 13"
echo "1..$(($# + splat_check))"
passed=0
failed=0
n=0
for t in "$@"; do
	n=$((n + 1))
	name=$(basename "$t" .sh)
	echo "# $name"
	mark=$(dmesg | wc -l)
	if [ $inject = 1 ] && [ $n = 1 ]; then
		insmod "$top/tests/splat/splat_on_load.ko"
	fi
	start=$SECONDS
	timeout --kill-after=10 900 bash "$top/$t"
	rc=$?
	splat=$(splats_since "$mark")
	took="$((SECONDS - start))s"
	if [ -n "$splat" ]; then
		echo "not ok $n $name # kernel splat ($took)"
		printf '%s\n' "$splat" | sed 's/^/# /'
		failed=$((failed + 1))
	elif [ $rc = 0 ]; then
		echo "ok $n $name # $took"
		passed=$((passed + 1))
	elif [ $rc = 4 ]; then
		echo "ok $n $name # SKIP"
		passed=$((passed + 1))
	else
		echo "not ok $n $name # exit $rc ($took)"
		dmesg | tail -n +"$((mark + 1))" | tail -n 20 | sed 's/^/# dmesg: /'
		failed=$((failed + 1))
	fi
done
if [ $splat_check = 1 ]; then
	n=$((n + 1))
	mark=$(dmesg | wc -l)
	insmod "$top/tests/splat/splat_on_load.ko" && rmmod splat_on_load
	if splats_since "$mark" | grep -q 'splat_on_load'; then
		echo "ok $n splat-detector # a deliberate WARN was caught"
		passed=$((passed + 1))
	else
		echo "not ok $n splat-detector # a deliberate WARN went unnoticed"
		failed=$((failed + 1))
	fi
fi
if [ -n "$boot_splats" ]; then
	echo "# splats while booting:"
	printf '%s\n' "$boot_splats" | sed 's/^/# /'
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ $failed = 0 ]
