#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the test kernel (virtme-ng over the host's root) and runs the VM
# tests in it with the freshly built ipcluster.ko and clusteradm.
#
#   tests/vm/run.sh [--demo] [--splat-self-test] [TEST...]
#
# With no TEST, runs every tests/*.sh and ends by checking, in the same
# boot, that a deliberate WARN is caught. --splat-self-test adds a second
# boot that loads a module which WARNs before a passing test: the run must
# fail on it.
# IPC_KVM=1 uses KVM (it hangs on some hosts; TCG is the default).
# KDIR=... runs another kernel build tree; IPC_KIMG=.../boot/vmlinuz-VER an
# installed kernel image, its modules from ../lib/modules/VER beside it
# (tests/host/kernel-deb.sh).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

demo=0
self_test=0
check=()
tests=()
for a in "$@"; do
	case "$a" in
	--demo) demo=1 ;;
	--splat-self-test) self_test=1 ;;
	*) tests+=("$a") ;;
	esac
done
if [ ${#tests[@]} = 0 ]; then
	for t in tests/*.sh; do
		[ "$(basename "$t")" = lib.sh ] || tests+=("$t")
	done
	check=(--splat-check)
fi

if [ -n "${IPC_KIMG:-}" ]; then
	kernel=$IPC_KIMG
else
	kdir=${KDIR:-$(scripts/kernel.sh debug)} || exit 2
	kernel=$kdir
	# The kernel's YNL CLI (tests/ynl.sh), from the source the kernel was built from.
	: "${IPC_YNL:=$(ls -d "$(dirname "$kdir")"/linux-source-*/tools/net/ynl 2>/dev/null | head -n1)}"
	export IPC_YNL
fi
for f in ipcluster.ko userspace-tool/target/release/clusteradm tests/splat/splat_on_load.ko; do
	[ -e "$f" ] || { echo "run.sh: $f is not built (make module tool)" >&2; exit 2; }
done

accel=(--disable-kvm)
[ "${IPC_KVM:-0}" = 1 ] && accel=()
mkdir -p results

klines='^\[ *[0-9]+\.[0-9]+\] '
# What else the serial console shows before the kernel's own lines.
boot_noise='^(virtme|fuse:|early console|input_(data|len)|output(_len)?:|kernel_total_size|'
boot_noise+='needed_size|trampoline_32bit|(Physical|Virtual|Poking) KASLR|Decompressing|Booting the kernel|$)'

# The root file system is the host's, over 9p (--force-9p: the same on a
# host that has virtiofsd), read-only. virtme-ng mounts it uncached, so
# that every lookup, stat and read in the guest is a round trip to QEMU;
# the tests start thousands of processes (python3 above all, which reads
# hundreds of files to start). Nothing changes the host's files while the
# guest runs, so the guest may cache them (a later rootflags= overrides
# virtme-ng's).
rootflags=rootflags=version=9p2000.L,trans=virtio,access=any,msize=524288,cache=loose

# vm TITLE LOG ARGS...: boot, run tests/vm/guest.sh ARGS, keep the log.
vm() {
	local log=results/$1.log
	shift
	echo "# booting $kernel (${accel[*]:-kvm})" >&2
	# no5lvl: TCG's CPU offers 5-level paging, and with it an interrupt
	# that lands while the boot CPU is identified trips KASAN in the IRQ
	# core (a wild access in do_raw_spin_lock from handle_edge_irq, seen
	# about one boot in four on a loaded host). Servers run 4-level paging.
	# --verbose: the kernel's console joins the output (the log keeps it;
	# the terminal gets the tests' output only), for an oops in softirq
	# context ends the guest at once and only the console saw it. guest.sh
	# then lowers the console to errors.
	vng --run "$kernel" --user root "${accel[@]}" --cpus 2 --memory 4G --verbose \
		--force-9p --append "no5lvl $rootflags" --cwd "$top" --rwdir "$top/results" --exec "$*" 2>&1 |
		tee "$log" | grep --line-buffered -vE "$klines|$boot_noise"
	return "${PIPESTATUS[0]}"
}

if [ $demo = 1 ]; then
	vm demo tests/vm/demo.sh
	exit $?
fi

start=$SECONDS
# The guest learns how it is emulated, and the tests' IPC_* settings
# (IPC_CONNS=20000 ...): the guest's command line does not inherit ours.
knobs=$(env | grep -E '^IPC_[A-Z0-9_]+=[A-Za-z0-9_.,:/~-]*$' | grep -v '^IPC_ACCEL=' | tr '\n' ' ')
vm tests env $knobs IPC_ACCEL="$([ ${#accel[@]} = 0 ] && echo kvm || echo tcg)" \
	tests/vm/guest.sh "${check[@]}" "${tests[@]}"
rc=$?
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' results/tests.log | tail -n1)
if [ -z "$summary" ]; then
	echo "run.sh: the VM run ended without a summary (exit $rc), in $(grep -E '^# [a-z0-9_]+$' results/tests.log | tail -n 1)"
	# An oops with KASAN's report runs past the last 60 lines: its
	# first lines, which name the fault, come first.
	oops='(BUG|Oops|WARNING|general protection|stack segment|invalid opcode|Unable to handle)'
	first=$(grep -nE "$klines$oops" results/tests.log | head -n 1 | cut -d: -f1)
	if [ -n "$first" ]; then
		echo "# the kernel's report, from its first line:"
		tail -n "+$first" results/tests.log | grep -E "$klines" | head -n 120 | sed 's/^/# /'
	else
		echo "# the kernel's last words:"
		grep -E "$klines" results/tests.log | tail -n 60 | sed 's/^/# /'
	fi
	rc=1
fi
passed=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${summary:-0 passed}")
failed=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"${summary:-0 passed, 1 failed}")

if [ $self_test = 1 ]; then
	echo "# splat self-test: a module that WARNs on load must fail the run"
	if vm splat-self-test tests/vm/guest.sh --inject-splat tests/vm/idle.sh >/dev/null; then
		echo "not ok splat-self-test # the injected WARNING went unnoticed"
		failed=$((failed + 1))
	elif grep -q 'not ok 1 idle # kernel splat' results/splat-self-test.log; then
		echo "ok splat-self-test # the injected WARNING failed the run"
		passed=$((passed + 1))
	else
		echo "not ok splat-self-test # the run failed, but not on the splat"
		tail -n 20 results/splat-self-test.log | sed 's/^/# /'
		failed=$((failed + 1))
	fi
fi
# The failures again, last: what shows of a long log is its tail.
grep -hE '^not ok ' results/tests.log | sed 's/^/# failed: /'
echo "# VM tests took $((SECONDS - start))s; logs in results/"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ $rc = 0 ]
