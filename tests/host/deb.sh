#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The packages of `make deb`, as an operator gets them: extracted with
# dpkg-deb, the binary runs, every man page renders without a warning and
# is found by man, the completions load, and the DKMS source refuses a
# kernel without Rust with its reason and builds ipcluster.ko against the
# test kernel. Run by `make check` (its host part) after `make deb`.
#
#   tests/host/deb.sh [KDIR [KODIR]]  KDIR: a Rust kernel's build tree or
#                               headers for the DKMS build (without it, that
#                               is skipped); KODIR: where to copy the module
#                               DKMS built (tests/host/kernel-deb.sh)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=userspace-tool/target/debian
kdir=${1:-}
kodir=${2:-}
. tests/host/lib.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
deb=$(ls "$out"/ipcluster_*.deb 2>/dev/null | head -n1)
dkms_deb=$(ls "$out"/ipcluster-dkms_*_all.deb 2>/dev/null | head -n1)
[ -n "$deb" ] && [ -n "$dkms_deb" ] || { echo "deb.sh: run make deb first" >&2; exit 2; }
root=$tmp/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -x "$dkms_deb" "$tmp/dkms"
version=$(dpkg-deb -f "$deb" Version)

has_files() {
	local f
	for f in usr/sbin/clusteradm usr/bin/echo-member lib/systemd/system/ipcluster@.service \
		usr/share/man/man8/clusteradm.8.gz usr/share/man/man8/clusteradm-cluster.8.gz \
		usr/share/man/man5/ipcluster.toml.5.gz \
		usr/share/bash-completion/completions/clusteradm \
		usr/share/zsh/vendor-completions/_clusteradm \
		usr/share/fish/vendor_completions.d/clusteradm.fish \
		usr/share/doc/ipcluster/examples/ipcluster.example.toml \
		usr/share/doc/ipcluster/copyright; do
		[ -e "$root/$f" ] || { echo "missing $f"; return 1; }
	done
}
check "the package holds the binaries, unit, man pages, completions, example" has_files

runs() {
	local v
	v=$("$root/usr/sbin/clusteradm" --version) || return 1
	echo "  $v"
	[ "$v" = "clusteradm ${version%-*}" ]
}
check "the extracted clusteradm --version says the package's version" runs

# groff's warnings (-ww) go to standard error: any line there fails.
renders() {
	local page err n=0
	for page in "$root"/usr/share/man/man*/*.gz; do
		err=$(zcat "$page" | groff -man -Tutf8 -ww -z 2>&1) || return 1
		[ -z "$err" ] || { echo "$page: $err"; return 1; }
		err=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || return 1
		[ -z "$err" ] || { echo "$page: $err"; return 1; }
		n=$((n + 1))
	done
	echo "  $n pages"
	[ "$n" -ge 10 ]
}
check "every man page renders without a warning (groff -ww, man -l)" renders

found() {
	local p q
	p=$(MANPATH=$root/usr/share/man man -w clusteradm) || return 1
	q=$(MANPATH=$root/usr/share/man man -w ipcluster.toml) || return 1
	[ "$p" = "$root/usr/share/man/man8/clusteradm.8.gz" ] &&
		[ "$q" = "$root/usr/share/man/man5/ipcluster.toml.5.gz" ] &&
		MANPATH=$root/usr/share/man man -w clusteradm-table >/dev/null
}
check "man -w finds clusteradm(8), clusteradm-table(8), ipcluster.toml(5)" found

completes() {
	bash -c "source '$root/usr/share/bash-completion/completions/clusteradm' && \
		COMP_WORDS=(clusteradm clu) COMP_CWORD=1 COMP_LINE='clusteradm clu' COMP_POINT=14 && \
		_clusteradm clusteradm clu clusteradm && echo \"\${COMPREPLY[*]}\"" | grep -qx cluster
}
check "bash completes 'clusteradm clu' to cluster" completes

dkms_files() {
	local src=$tmp/dkms/usr/src/ipcluster-${version%-*}
	grep -q "^PACKAGE_VERSION=\"${version%-*}\"" "$src/dkms.conf" &&
		grep -q '^BUILD_EXCLUSIVE_CONFIG="CONFIG_RUST"' "$src/dkms.conf" &&
		[ -x "$src/dkms-make.sh" ] && [ -e "$src/Kbuild" ] && [ -e "$src/rust/ipcluster.rs" ] &&
		[ -e "$src/userspace-tool/core/src/hash.rs" ]
}
check "the DKMS package holds dkms.conf, its build script and the module's source" dkms_files

# A kernel tree whose configuration has no Rust, as Debian's own kernels.
refuses() {
	local src=$tmp/dkms/usr/src/ipcluster-${version%-*} err
	mkdir -p "$tmp/norust"
	printf 'CONFIG_HAVE_RUST=y\nCONFIG_RUSTC_VERSION=0\n' >"$tmp/norust/.config"
	err=$(cd "$src" && ./dkms-make.sh "$tmp/norust" 6.12.0-norust 2>&1) && return 1
	echo "  $err"
	grep -q "without CONFIG_RUST=y" <<<"$err"
}
check "dkms-make.sh refuses a kernel without CONFIG_RUST, saying so" refuses

# DKMS itself, on private trees: it reads dkms.conf and runs its MAKE line.
dkms_refuses() {
	local err
	mkdir -p "$tmp/norust" "$tmp/dkms-tree"
	printf 'CONFIG_HAVE_RUST=y\nCONFIG_RUSTC_VERSION=0\n' >"$tmp/norust/.config"
	err=$(dkms build -m ipcluster -v "${version%-*}" -k 6.12.0-norust --kernelsourcedir "$tmp/norust" \
		--dkmstree "$tmp/dkms-tree" --sourcetree "$tmp/dkms/usr/src" 2>&1)
	local rc=$?
	echo "  dkms exit $rc: $(grep -m1 BUILD_EXCLUSIVE <<<"$err")"
	[ $rc = 77 ] && grep -q "BUILD_EXCLUSIVE directive which does not match" <<<"$err"
}

# The module, built by DKMS from the package's source against KDIR.
builds() {
	local kver t0 ko
	kver=$(cat "$kdir/include/config/kernel.release") || return 1
	t0=$SECONDS
	dkms build -m ipcluster -v "${version%-*}" -k "$kver" --kernelsourcedir "$kdir" \
		--dkmstree "$tmp/dkms-tree" --sourcetree "$tmp/dkms/usr/src" >"$tmp/build.log" 2>&1 ||
		{ tail -n 20 "$tmp/build.log" "$tmp/dkms-tree/ipcluster/${version%-*}/build/make.log"; return 1; }
	echo "  built in $((SECONDS - t0)) s"
	ko=$(find "$tmp/dkms-tree/ipcluster/${version%-*}/$kver" -name 'ipcluster.ko*' | head -n1)
	[ -n "$ko" ] && modinfo -F vermagic "$ko" | grep -q "^$kver " || return 1
	[ -z "$kodir" ] || { mkdir -p "$kodir" && cp "$ko" "$kodir/"; }
}
if command -v dkms >/dev/null; then
	check "DKMS skips a kernel without CONFIG_RUST, saying why (BUILD_EXCLUSIVE_CONFIG)" dkms_refuses
	if [ -n "$kdir" ]; then
		check "DKMS builds ipcluster.ko from the package's source against $kdir" builds
	else
		skip "the DKMS build (no KDIR given)"
	fi
else
	skip "the DKMS runs (dkms is not installed: scripts/deps.sh installs it)" 2
fi

summary deb
