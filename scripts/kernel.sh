#!/usr/bin/env bash
# Build (once) and print the path of the ipcluster test kernel.
#
#   scripts/kernel.sh [debug|bench]
#
# debug: KASAN, lockdep, PROVE_RCU (the VM tests); bench: the same kernel
# without the debug options (make bench). The build lives in a cache outside
# the repo, keyed by the kernel source version and everything that shapes the
# config, so later runs reuse it. Only the last line on stdout is the path.
set -euo pipefail

flavour=${1:-debug}
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${IPCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipcluster}
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
export PATH=$HOME/.cargo/bin:$PATH # bindgen 0.71.1
mk=(make -s LLVM=-19 RUSTC=$RUSTC RUSTDOC=$RUSTDOC -j"$(nproc)")

frags=("$top/tests/config")
[ "$flavour" = debug ] && frags+=("$top/tests/config.debug")
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
rustver=$($RUSTC --version)
key=$( (echo "$srcver $rustver $flavour"; cat "${frags[@]}" "$0") | sha256sum | cut -c1-12)
src=$cache/linux-source-$srcver
out=$cache/kernel-$flavour-$key

if [ -e "$out/.ipcluster-built" ]; then
	echo "$out"
	exit 0
fi

# One build at a time: two callers (make check beside make bench, or two
# worktrees) would otherwise extract into and build in the same
# directories at once. The second waits, then finds the first's build.
mkdir -p "$cache"
exec 9>"$cache/.kernel.lock"
if ! flock -n 9; then
	echo "kernel.sh: waiting for another build in $cache" >&2
	flock 9
fi
if [ -e "$out/.ipcluster-built" ]; then
	echo "$out"
	exit 0
fi
if [ ! -e "$src/.extracted" ]; then
	echo "kernel.sh: extracting linux-source $srcver" >&2
	rm -rf "$src" "$src.tmp" && mkdir -p "$src.tmp"
	tar -xJf /usr/src/linux-source-6.12.tar.xz -C "$src.tmp" --strip-components=1
	touch "$src.tmp/.extracted"
	mv "$src.tmp" "$src"
fi

echo "kernel.sh: configuring $flavour kernel in $out" >&2
rm -rf "$out"
# Start from an earlier build of this flavour when there is one: Kbuild
# tracks which objects depend on which options, so a changed config then
# rebuilds only what it touches.
prev=$(ls -td "$cache/kernel-$flavour-"*/ 2>/dev/null | head -n1 || true)
if [ -n "$prev" ] && [ -e "$prev/.ipcluster-built" ]; then
	cp -a "$prev" "$out"
	rm -f "$out/.ipcluster-built"
else
	mkdir -p "$out"
fi
"${mk[@]}" -C "$src" O="$out" defconfig kvm_guest.config >&2
(cd "$out" && "$src/scripts/kconfig/merge_config.sh" -m -O "$out" .config "${frags[@]}" >/dev/null)
"${mk[@]}" -C "$src" O="$out" olddefconfig >&2

# Every option asked for must have stuck: a silent Kconfig dependency would
# otherwise give a kernel the tests cannot trust.
bad=0
while IFS= read -r line; do
	case "$line" in CONFIG_*=n) want="# ${line%=n} is not set" ;; CONFIG_*) want=$line ;; *) continue ;; esac
	if [ "${line#*=}" = n ]; then
		grep -q "^${line%=n}=" "$out/.config" && { echo "kernel.sh: $line did not stick" >&2; bad=1; }
	else
		grep -qx "$want" "$out/.config" || { echo "kernel.sh: $line did not stick" >&2; bad=1; }
	fi
done < <(cat "${frags[@]}" | sed 's/#.*//' | grep '^CONFIG_')
[ $bad = 0 ] || exit 1

echo "kernel.sh: building (about 20 minutes on 2 cores, once)" >&2
start=$(date +%s)
"${mk[@]}" -C "$src" O="$out" >&2
echo "kernel.sh: built in $(( $(date +%s) - start ))s" >&2
touch "$out/.ipcluster-built"
# Keep only this build of the flavour.
for old in "$cache/kernel-$flavour-"*; do
	[ "$old" = "$out" ] || rm -rf "$old"
done
echo "$out"
