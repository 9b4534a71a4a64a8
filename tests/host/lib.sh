# SPDX-License-Identifier: GPL-2.0
# Helpers for the host tests (tests/host/*.sh): one line per result, and a
# summary whose exit status is the tests'.
pass=0
fail=0
skipped=0

# check DESCRIPTION COMMAND...: run COMMAND, report ok or FAIL.
check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok: $what"
		pass=$((pass + 1))
	else
		echo "FAIL: $what"
		fail=$((fail + 1))
	fi
}

# skip REASON N: N results not run, and why.
skip() {
	echo "skip: $1"
	skipped=$((skipped + ${2:-1}))
}

# summary NAME: the last line, and the exit status.
summary() {
	echo "$1: $pass passed, $fail failed, $skipped skipped"
	[ "$fail" = 0 ]
}
