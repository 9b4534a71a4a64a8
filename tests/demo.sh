#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The demo (`make demo`, tests/vm/demo.sh) runs and shows what it says:
# three daemons form the cluster, the master's crash is covered, and
# every idle keep-alive connection answers after it, the dead master's
# from the survivors (adopted onto their nginx), none reset.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
HELD=30

IPC_HELD=$HELD bash "$IPC_TOP/tests/vm/demo.sh" >"$tmp/out" 2>&1
rc=$?
sed 's/^/    # /' "$tmp/out"
check "the demo ran to its end" test $rc = 0
check "the daemons formed the cluster" grep -qE "^formed: 3 members, master m[123] " "$tmp/out"
check "the bucket grid shows all three members" \
	grep -qE "^  buckets: m1 [0-9]+, m2 [0-9]+, m3 [0-9]+$" "$tmp/out"
check "the client's connections reached all three" \
	grep -qE "^$HELD connections held, answered by: m1 [0-9]+, m2 [0-9]+, m3 [0-9]+$" "$tmp/out"
check "the survivors took every bucket of the master" \
	grep -qE "^the survivors own all [1-9][0-9]* of m[123]'s buckets after [0-9.]+ s$" "$tmp/out"
check "... and the grid after shows only them" \
	bash -c "grep -E '^  buckets: ' '$tmp/out' | tail -n1 | grep -qE '^  buckets: m[123] [0-9]+, m[123] [0-9]+$'"
check "every connection answered after the crash, the master's from a survivor, none reset" \
	grep -qE "^after the crash: $HELD of $HELD answered, [1-9][0-9]* by a new member, 0 reset, 0 closed, 0 lost" "$tmp/out"
moved=$(sed -n 's/^after the crash: .* answered, \([0-9]*\) by a new member.*/\1/p' "$tmp/out")
adopted=$(($(sed -n 's/^  m[123] ([a-z]*): [0-9]* restored, \([0-9]*\) adopted.*/\1/p' "$tmp/out" | paste -sd+)))
check "the survivors' status counts them adopted ($adopted of ${moved:-?})" test "${adopted:-0}" -ge "${moved:-1}"
check "... and none reset" bash -c "! grep -qE '^  m[123] \(.*\): .* [1-9][0-9]* reset' '$tmp/out'"
check "the demo unloaded the module" bash -c "grep -qx 'ipcluster.ko unloaded' '$tmp/out' && ! grep -q '^ipcluster ' /proc/modules"
rm -rf "$tmp"
finish
