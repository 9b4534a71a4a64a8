#!/usr/bin/env bash
# Build (once) and print the path of an ipcluster kernel.
#
#   scripts/kernel.sh [debug|bench|deb]
#
# debug: KASAN, lockdep, PROVE_RCU (the VM tests); bench: the same kernel
# without the debug options (make bench); both small VM kernels built with
# clang, and the path printed is the build tree. deb: the operators' kernel
# (make kernel-deb), Debian's own configuration and compiler plus Rust and
# packaging/kernel/config, packaged as linux-image and linux-headers .debs;
# the path printed is the directory that holds them (the build tree is its
# linux/). A build lives in a cache outside the repo, keyed by the kernel
# source version and everything that shapes the config, so later runs reuse
# it. Only the last line on stdout is the path.
set -euo pipefail

flavour=${1:-debug}
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${IPCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipcluster}
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
export PATH=$HOME/.cargo/bin:$PATH # bindgen 0.71.1
mk=(make -s RUSTC=$RUSTC RUSTDOC=$RUSTDOC -j"$(nproc)")

case $flavour in
debug) frags=("$top/tests/config" "$top/tests/config.debug") ;;
bench) frags=("$top/tests/config") ;;
deb)
	frags=("$top/packaging/kernel/config")
	debconfig=/usr/src/linux-config-6.12/config.amd64_none_amd64.xz
	[ -r $debconfig ] || { echo "kernel.sh: $debconfig is missing (linux-config-6.12)" >&2; exit 1; }
	;;
*) echo "usage: kernel.sh [debug|bench|deb]" >&2; exit 2 ;;
esac
# The VM kernels are clang-built (KASAN with Rust needs it); the operators'
# kernel is built with Debian's GCC, as Debian builds its own.
[ "$flavour" = deb ] || mk+=(LLVM=-19)
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
rustver=$($RUSTC --version)
key=$( (echo "$srcver $rustver $flavour"; cat "${frags[@]}" "$0") | sha256sum | cut -c1-12)
src=$cache/linux-source-$srcver
home=$cache/kernel-$flavour-$key
out=$home
[ "$flavour" = deb ] && out=$home/linux

if [ -e "$out/.ipcluster-built" ]; then
	echo "$home"
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
	echo "$home"
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
rm -rf "$home"
# Start from an earlier build of this flavour when there is one: Kbuild
# tracks which objects depend on which options, so a changed config then
# rebuilds only what it touches.
prev=$(ls -td "$cache/kernel-$flavour-"*/ 2>/dev/null | head -n1 || true)
[ "$flavour" = deb ] && [ -n "$prev" ] && prev=$prev/linux
mkdir -p "$(dirname "$out")"
if [ -n "$prev" ] && [ -e "$prev/.ipcluster-built" ]; then
	cp -a "$prev" "$out"
	rm -f "$out/.ipcluster-built"
else
	mkdir -p "$out"
fi
if [ "$flavour" = deb ]; then
	# Debian's configuration with every module the fragment does not
	# name turned off (as mod2noconfig, but the options of the modules
	# kept stay as Debian set them); its built-in options stay.
	xzcat $debconfig | awk '
		NR == FNR { if (/^CONFIG_[A-Z0-9_]+=m$/) keep[substr($0, 1, index($0, "=") - 1)] = 1; next }
		/^CONFIG_[A-Z0-9_]+=m$/ && !(substr($0, 1, index($0, "=") - 1) in keep) {
			print "# " substr($0, 1, index($0, "=") - 1) " is not set"; next }
		{ print }' "${frags[@]}" - >"$out/.config"
else
	"${mk[@]}" -C "$src" O="$out" defconfig kvm_guest.config >&2
fi
(cd "$out" && "$src/scripts/kconfig/merge_config.sh" -m -O "$out" .config "${frags[@]}" >/dev/null)
"${mk[@]}" -C "$src" O="$out" olddefconfig >&2

# Every option asked for must have stuck: a silent Kconfig dependency would
# otherwise give a kernel the tests cannot trust.
bad=0
while IFS= read -r line; do
	case "$line" in CONFIG_*=n) ;; CONFIG_*) ;; *) continue ;; esac
	if [ "${line#*=}" = n ]; then
		grep -q "^${line%=n}=" "$out/.config" && { echo "kernel.sh: $line did not stick" >&2; bad=1; }
	elif [ "${line#*=}" = m ]; then
		# A module another built-in option selects is built in: as good.
		grep -qxE "${line%=m}=[my]" "$out/.config" || { echo "kernel.sh: $line did not stick" >&2; bad=1; }
	else
		grep -qxF "$line" "$out/.config" || { echo "kernel.sh: $line did not stick" >&2; bad=1; }
	fi
done < <(cat "${frags[@]}" | sed 's/#.*//' | grep '^CONFIG_')
[ $bad = 0 ] || exit 1

start=$(date +%s)
if [ "$flavour" = deb ]; then
	echo "kernel.sh: building the packages (about 40 minutes on 2 cores, once)" >&2
	"$top/scripts/kernel-deb-pkg.sh" "$src" "$out" "${mk[@]}" >&2
else
	echo "kernel.sh: building (about 20 minutes on 2 cores, once)" >&2
	"${mk[@]}" -C "$src" O="$out" >&2
fi
echo "kernel.sh: built in $(( $(date +%s) - start ))s" >&2
touch "$out/.ipcluster-built"
# Keep only this build of the flavour.
for old in "$cache/kernel-$flavour-"*; do
	[ "$old" = "$home" ] || rm -rf "$old"
done
echo "$home"
