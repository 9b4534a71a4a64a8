#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Build ipcluster.ko here against KDIR, a kernel's build tree or headers:
#
#   dkms-make.sh KDIR [KERNELVER]     (what dkms.conf's MAKE runs; DKMS
#                                     appends CC= and LD= for a clang-built
#                                     kernel, which LLVM= below covers)
#   dkms-make.sh --clean KDIR
#
# A Rust module builds only against a kernel built with CONFIG_RUST=y, with
# the rustc that built the kernel (RUSTC=, else rustc on PATH) and, for a
# clang-built kernel, a clang of the same major version. Each is checked
# first, so that a missing one is said plainly rather than by the compiler.
set -eu

die() {
	echo "ipcluster: $*" >&2
	exit 1
}

if [ "${1:-}" = --clean ]; then
	exec make -C "$2" M="$PWD" clean
fi
kdir=${1:?usage: dkms-make.sh KDIR [KERNELVER]}
kver=${2:-$(basename "$kdir")}
cfg=$kdir/.config
[ -r "$cfg" ] || die "$cfg is missing: install the headers of kernel $kver"
grep -q '^CONFIG_RUST=y' "$cfg" ||
	die "kernel $kver was built without CONFIG_RUST=y. ipcluster.ko is a Rust module and builds only against a kernel with Rust support (Debian's own kernels have none); see the README's 'Building against your own kernel'."

# The kernel's rustc, as CONFIG_RUSTC_VERSION (e.g. 108500 for 1.85.0).
want=$(sed -n 's/^CONFIG_RUSTC_VERSION=//p' "$cfg")
rustc=""
for r in ${RUSTC:-} rustc /usr/bin/rustc; do
	# Kconfig's encoding: major * 100000 + minor * 100 + patch.
	v=$("$r" --version 2>/dev/null |
		sed -n 's/^rustc \([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*/\1 * 100000 + \2 * 100 + \3/p')
	[ -n "$v" ] || continue
	if [ "$(($v))" = "$want" ]; then
		rustc=$(command -v "$r")
		break
	fi
done
[ -n "$rustc" ] ||
	die "kernel $kver was built with rustc version $want (CONFIG_RUSTC_VERSION); no such rustc found (set RUSTC=, or install it: Debian's rustc-web for 1.85)"

# The module's own bindings are made at build time (Kbuild's BINDGEN).
command -v "${BINDGEN:-bindgen}" >/dev/null ||
	die "bindgen is not installed: the module makes its kernel bindings with it (cargo install --locked bindgen-cli --version 0.71.1; Debian's 0.60 is too old)"

llvm=""
if grep -q '^CONFIG_CC_IS_CLANG=y' "$cfg"; then
	major=$(sed -n 's/^CONFIG_CLANG_VERSION=\([0-9]*\)[0-9][0-9][0-9][0-9]$/\1/p' "$cfg")
	if command -v "clang-$major" >/dev/null; then
		llvm=LLVM=-$major
	elif command -v clang >/dev/null; then
		llvm=LLVM=1
	else
		die "kernel $kver was built with clang $major, which is not installed (clang-$major)"
	fi
fi

exec make -C "$kdir" M="$PWD" RUSTC="$rustc" $llvm modules
