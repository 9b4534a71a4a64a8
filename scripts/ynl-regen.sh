#!/usr/bin/env bash
# Regenerates the netlink ABI from its one definition,
# Documentation/netlink/specs/ipcluster.yaml, with the kernel's own YNL
# generator (tools/net/ynl in the kernel source):
#   include/uapi/linux/ipcluster.h   the uapi header
#   rust/netlink-gen.[ch]            the kernel's policies, ops and family
#
#   scripts/ynl-regen.sh [--check]   --check: fail if anything is stale
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${IPCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipcluster}
# The kernel source comes with the test kernel (extracted by kernel.sh).
src=$(ls -d "$cache"/linux-source-*/ 2>/dev/null | head -n1 || true)
if [ -z "$src" ]; then
	"$top/scripts/kernel.sh" debug >/dev/null
	src=$(ls -d "$cache"/linux-source-*/ | head -n1)
fi
gen=$src/tools/net/ynl/ynl-gen-c.py

# The generator finds its schema next to the spec's parent directory and
# names the spec's path in its output: run it from a tree shaped like the
# kernel's.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Documentation/netlink/specs" "$work/out"
cp "$src"/Documentation/netlink/genetlink*.yaml "$work/Documentation/netlink/"
cp "$top/Documentation/netlink/specs/ipcluster.yaml" "$work/Documentation/netlink/specs/"
touch "$work/MAINTAINERS" # the generator finds the tree root by it
spec=Documentation/netlink/specs/ipcluster.yaml
(
	cd "$work"
	timeout 60 python3 "$gen" --mode uapi --header --spec $spec -o out/ipcluster.h
	timeout 60 python3 "$gen" --mode kernel --header --spec $spec -o out/netlink-gen.h
	timeout 60 python3 "$gen" --mode kernel --source --spec $spec -o out/netlink-gen.c
) >/dev/null

stale=0
put() {
	if ! cmp -s "$work/out/$1" "$top/$2"; then
		if [ "${check:-0}" = 1 ]; then
			echo "ynl-regen: $2 is stale; run scripts/ynl-regen.sh" >&2
			stale=1
		else
			cp "$work/out/$1" "$top/$2"
		fi
	fi
}
[ "${1:-}" = --check ] && check=1
put ipcluster.h include/uapi/linux/ipcluster.h
put netlink-gen.h rust/netlink-gen.h
put netlink-gen.c rust/netlink-gen.c
exit $stale
