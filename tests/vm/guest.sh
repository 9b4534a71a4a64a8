#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the test VM: each test script in turn, as KTAP, failing any
# test during which the kernel logged a splat. Last line: "N passed, N failed".
#
#   guest.sh [--inject-splat] TEST...   (paths relative to the repo)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
export IPC_TOP=$top

inject=0
if [ "${1:-}" = --inject-splat ]; then
	inject=1
	shift
fi

# Splats: anything the kernel's debug options or BUG/WARN machinery print.
splat_re='BUG:|WARNING:|KASAN:|UBSAN:|general protection fault|Oops|Kernel panic|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|rcu_.*detected stall|Call Trace:'

sysctl -qw kernel.printk="4 4 1 7" 2>/dev/null
boot_splats=$(dmesg | grep -E "$splat_re")

echo "TAP version 13"
echo "1..$#"
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
	splat=$(dmesg | tail -n +"$((mark + 1))" | grep -E -A30 "$splat_re" | head -n 60)
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
if [ -n "$boot_splats" ]; then
	echo "# splats while booting:"
	printf '%s\n' "$boot_splats" | sed 's/^/# /'
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ $failed = 0 ]
