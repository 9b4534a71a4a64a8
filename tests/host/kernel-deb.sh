#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The operators' kernel (make kernel-deb) as an operator gets it: the image
# and headers packages, extracted with dpkg-deb into a root of their own;
# the headers hold what a Rust module builds with; DKMS builds ipcluster.ko
# from the ipcluster-dkms package against them (tests/host/deb.sh); the
# module goes where DKMS installs it, and the VM boots the packaged kernel,
# loads the module by name and runs tests on it. make check-kernel-deb.
#
#   tests/host/kernel-deb.sh DIR     DIR: where make kernel-deb put the .debs
set -uo pipefail
cd "$(dirname "$0")/../.."
debs=${1:?usage: kernel-deb.sh DIR}
. tests/host/lib.sh

image=$(ls "$debs"/linux-image-*_amd64.deb 2>/dev/null | grep -v -- -dbg_ | head -n1)
headers=$(ls "$debs"/linux-headers-*_amd64.deb 2>/dev/null | head -n1)
[ -n "$image" ] && [ -n "$headers" ] || { echo "kernel-deb.sh: no packages in $debs (make kernel-deb)" >&2; exit 2; }
krel=$(dpkg-deb -f "$image" Package)
krel=${krel#linux-image-}
# Under the cache, not /tmp: the guest sees the host's files, but a /tmp
# of its own.
root=$debs/root
rm -rf "$root"
dpkg-deb -x "$image" "$root"
dpkg-deb -x "$headers" "$root"
hdr=$root/usr/src/linux-headers-$krel
echo "# $krel: $(basename "$image") ($(du -h "$image" | cut -f1)), $(basename "$headers") ($(du -h "$headers" | cut -f1))"

packages() {
	[ "$(dpkg-deb -f "$headers" Version)" = "$(dpkg-deb -f "$image" Version)" ] &&
		! ls "$debs"/linux-libc-dev_*.deb >/dev/null 2>&1 &&
		[ -e "$root/boot/vmlinuz-$krel" ] && [ -e "$root/lib/modules/$krel/modules.order" ]
}
check "image and headers packages of $krel, one version, no linux-libc-dev" packages

configured() {
	local cfg=$root/boot/config-$krel
	grep -qx CONFIG_RUST=y "$cfg" && grep -qx CONFIG_NETFILTER_NETLINK_QUEUE=m "$cfg" &&
		grep -qx CONFIG_CC_IS_GCC=y "$cfg" && ! grep -q '^CONFIG_KASAN=y' "$cfg" &&
		! grep -q '^CONFIG_DEBUG_INFO_DWARF' "$cfg" && echo "  $(find "$root/lib/modules/$krel" -name '*.ko*' | wc -l) modules"
}
check "its configuration: Rust, GCC, the module's needs, no debug options" configured

rusty() {
	local f
	for f in .config rust/libkernel.rmeta rust/libcore.rmeta rust/libmacros.so rust/bindgen_parameters \
		scripts/target.json Module.symvers include/config/auto.conf; do
		[ -e "$hdr/$f" ] || { echo "  missing $f"; return 1; }
	done
	grep -q '^rust_' "$hdr/Module.symvers" || grep -q '	_R' "$hdr/Module.symvers"
}
check "the headers hold what a Rust module builds with" rusty

# DKMS builds the module from the package's source, by tests/host/deb.sh.
dkms_dir=$root/lib/modules/$krel/updates/dkms
check "DKMS builds ipcluster.ko against the packaged headers (tests/host/deb.sh)" \
	bash -c "tests/host/deb.sh '$hdr' '$dkms_dir' | sed 's/^/  /'; test \${PIPESTATUS[0]} = 0"
ko=$(ls "$dkms_dir"/ipcluster.ko* 2>/dev/null | head -n1)
check "depmod finds it where DKMS installs it" \
	bash -c "depmod -b '$root' '$krel' && grep -q '^updates/dkms/ipcluster.ko[.a-z]*:' '$root/lib/modules/$krel/modules.dep'"

# The VM on that kernel: tests/vm/kernel_deb.sh, then tests that exercise
# the datapath, the netlink family and TCP repair on it.
vm_tests=(tests/vm/kernel_deb.sh tests/module_lifecycle.sh tests/ynl.sh tests/tcp_survival.sh)
if [ -n "$ko" ]; then
	ynl=$(ls -d "$(dirname "$debs")"/linux-source-*/tools/net/ynl 2>/dev/null | head -n1)
	check "the VM boots $krel and passes ${vm_tests[*]}" \
		env IPC_KIMG="$root/boot/vmlinuz-$krel" IPC_KO="$ko" IPC_YNL="$ynl" tests/vm/run.sh "${vm_tests[@]}"
else
	skip "the VM run (no module was built)"
fi
summary kernel-deb
