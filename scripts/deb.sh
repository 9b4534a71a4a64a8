#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build ipcluster's Debian packages with dpkg-deb (no cargo-deb to compile):
#
#   ipcluster_VERSION_ARCH.deb    clusteradm, echo-member, the systemd unit,
#                                 the man pages, the shell completions and
#                                 the example configuration
#   ipcluster-dkms_VERSION_all.deb the module's source and dkms.conf
#
# into userspace-tool/target/debian/. Expects the release binaries (make
# tool) and the generated man pages and completions (make man completions);
# `make deb` does all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
ut=$top/userspace-tool
out=$ut/target/debian
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ut/clusteradm/Cargo.toml" | head -n1)
debver=$version-1
arch=$(dpkg --print-architecture)
maint="ipcluster maintainers <ipcluster@example.invalid>"

for f in "$ut/target/release/clusteradm" "$ut/target/release/echo-member" \
	"$ut/target/man/man8/clusteradm.8" "$ut/target/completions/bash/clusteradm"; do
	[ -e "$f" ] || { echo "deb.sh: $f is not built (make deb builds it)" >&2; exit 2; }
done

# copyright FILE: the short Debian copyright file.
copyright() {
	mkdir -p "$(dirname "$1")"
	cat >"$1" <<-EOC
	Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
	Upstream-Name: ipcluster

	Files: *
	Copyright: the ipcluster authors
	License: GPL-2.0-only
	 On Debian systems, the full text of the GNU General Public License
	 version 2 can be found in /usr/share/common-licenses/GPL-2.
	EOC
}

# The newest glibc symbol version the binaries use: the lowest libc6 that
# runs them.
glibc_needed() {
	objdump -T "$@" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1
}

build_tools() {
	local root=$out/ipcluster
	rm -rf "$root"
	install -D -m 0755 -s "$ut/target/release/clusteradm" "$root/usr/sbin/clusteradm"
	install -D -m 0755 -s "$ut/target/release/echo-member" "$root/usr/bin/echo-member"
	install -D -m 0644 "$ut/clusteradm/systemd/ipcluster@.service" \
		"$root/lib/systemd/system/ipcluster@.service"
	local page
	for page in "$ut"/target/man/man*/*.[0-9]; do
		local sec=${page##*.}
		install -D -m 0644 "$page" "$root/usr/share/man/man$sec/$(basename "$page")"
		gzip -9n "$root/usr/share/man/man$sec/$(basename "$page")"
	done
	install -D -m 0644 "$ut/target/completions/bash/clusteradm" \
		"$root/usr/share/bash-completion/completions/clusteradm"
	install -D -m 0644 "$ut/target/completions/zsh/_clusteradm" \
		"$root/usr/share/zsh/vendor-completions/_clusteradm"
	install -D -m 0644 "$ut/target/completions/fish/clusteradm.fish" \
		"$root/usr/share/fish/vendor_completions.d/clusteradm.fish"
	install -D -m 0644 "$ut/clusteradm/ipcluster.example.toml" \
		"$root/usr/share/doc/ipcluster/examples/ipcluster.example.toml"
	copyright "$root/usr/share/doc/ipcluster/copyright"
	install -d -m 0755 "$root/etc/ipcluster"

	mkdir -p "$root/DEBIAN"
	cat >"$root/DEBIAN/control" <<-EOC
	Package: ipcluster
	Version: $debver
	Architecture: $arch
	Maintainer: $maint
	Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
	Depends: libc6 (>= $(glibc_needed "$root/usr/sbin/clusteradm" "$root/usr/bin/echo-member")), libgcc-s1
	Recommends: ipcluster-dkms (= $debver)
	Section: net
	Priority: optional
	Description: active-active IP clustering: clusteradm and the membership daemon
	 N hosts answer one cluster IP together: each keeps the packets of the
	 flows its member owns (the ipcluster kernel module, in ipcluster-dkms).
	 clusteradm configures the module and runs the membership daemon
	 (systemd unit ipcluster@NAME, configuration /etc/ipcluster/NAME.toml,
	 see ipcluster.toml(5)); echo-member is the example failover-aware
	 service.
	EOC
	# systemd finds a newly installed template unit only after a reload.
	cat >"$root/DEBIAN/postinst" <<-'EOC'
	#!/bin/sh
	set -e
	if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null || true
	fi
	EOC
	chmod 0755 "$root/DEBIAN/postinst"
	dpkg-deb --root-owner-group -Zxz --build "$root" "$out/ipcluster_${debver}_$arch.deb" >/dev/null
	echo "$out/ipcluster_${debver}_$arch.deb"
}

build_dkms() {
	local root=$out/ipcluster-dkms
	local src=$root/usr/src/ipcluster-$version
	rm -rf "$root"
	mkdir -p "$src"
	# The module's sources as committed, and the shared core's files it
	# compiles (rust/shared.rs), at the same relative paths.
	git -C "$top" ls-files -z Kbuild rust include userspace-tool/core/src |
		xargs -0 -I{} install -D -m 0644 "$top/{}" "$src/{}"
	install -m 0755 packaging/dkms/dkms-make.sh "$src/dkms-make.sh"
	sed "s/@VERSION@/$version/" packaging/dkms/dkms.conf >"$src/dkms.conf"
	copyright "$root/usr/share/doc/ipcluster-dkms/copyright"

	mkdir -p "$root/DEBIAN"
	cat >"$root/DEBIAN/control" <<-EOC
	Package: ipcluster-dkms
	Version: $debver
	Architecture: all
	Maintainer: $maint
	Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
	Depends: dkms, make
	Section: kernel
	Priority: optional
	Description: active-active IP clustering: the ipcluster kernel module (DKMS)
	 The source of ipcluster.ko, a Rust kernel module, built by DKMS for
	 each installed kernel. It needs a kernel built with CONFIG_RUST=y and
	 its headers, and the same rustc, bindgen and (for a clang-built
	 kernel) clang the kernel was built with; on a kernel without Rust
	 the build stops and says so.
	EOC
	cat >"$root/DEBIAN/postinst" <<-EOC
	#!/bin/sh
	set -e
	if [ "\$1" = configure ]; then
		dkms add -m ipcluster -v $version >/dev/null 2>&1 || true
		# A kernel without Rust fails the build with its reason; the
		# package stays installed for the kernels that have it.
		dkms autoinstall >/dev/null 2>&1 || dkms status -m ipcluster || true
	fi
	EOC
	cat >"$root/DEBIAN/prerm" <<-EOC
	#!/bin/sh
	set -e
	dkms remove -m ipcluster -v $version --all >/dev/null 2>&1 || true
	EOC
	chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"
	dpkg-deb --root-owner-group -Zxz --build "$root" "$out/ipcluster-dkms_${debver}_all.deb" >/dev/null
	echo "$out/ipcluster-dkms_${debver}_all.deb"
}

mkdir -p "$out"
build_tools
build_dkms
