#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Package a configured kernel tree as linux-image and linux-headers .debs
# (the kernel's bindeb-pkg), into the tree's parent directory. Called by
# scripts/kernel.sh deb.
#
#   kernel-deb-pkg.sh SRC OUT MAKE...     MAKE: the make command line
#
# The kernel's headers package is made for C modules: it lacks what an
# external Rust module builds with (the kernel crates' metadata and the
# macros crate rustc loads, rust/bindgen_parameters) and the .config that
# DKMS and our dkms-make.sh read. They are added here, and the package is
# rebuilt with its size and checksums updated.
set -euo pipefail

src=$1
out=$2
shift 2
mk=("$@")
home=$(dirname "$out")
ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)

rm -f "$home"/*.deb "$home"/*.buildinfo "$home"/*.changes
"${mk[@]}" -C "$src" O="$out" KDEB_PKGVERSION="$ver+ipcluster1" bindeb-pkg
# Userspace headers are the distribution's; ours would replace them.
rm -f "$home"/linux-libc-dev_*.deb

krel=$(cat "$out/include/config/kernel.release")
deb=$(ls "$home"/linux-headers-"$krel"_*.deb)
tmp=$home/headers.tmp
rm -rf "$tmp"
dpkg-deb -R "$deb" "$tmp"
dst=$tmp/usr/src/linux-headers-$krel
install -m 644 "$out/.config" "$dst/.config"
install -d "$dst/rust"
install -m 644 -t "$dst/rust" "$out"/rust/*.rmeta "$out/rust/libmacros.so" "$src/rust/bindgen_parameters"
(cd "$tmp" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
	>"$tmp/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$tmp" | cut -f1)
sed -i "s/^Installed-Size:.*/Installed-Size: $size/" "$tmp/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$tmp" "$deb" >/dev/null
rm -rf "$tmp"
ls "$home"/*.deb
