#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# In the VM booted on the operators' kernel (make kernel-deb), with the
# module DKMS built from the ipcluster-dkms package installed where DKMS
# installs it: the system finds and loads it by name, with the modules it
# depends on, and it works (tests/host/kernel-deb.sh then runs other tests
# on this kernel). Not one of make check's tests: it needs that kernel.
source "$(dirname "$0")/../lib.sh"

krel=$(uname -r)
check "the kernel is the packaged one ($krel)" test "$krel" = "${IPC_KIMG##*/vmlinuz-}"
check "it has Rust" grep -q ' [tT] rust_helper_' /proc/kallsyms
unload_module
mark=$(dmesg | wc -l)
check "modprobe ipcluster" modprobe ipcluster
check "it is DKMS's build, from updates/dkms, for $krel" bash -c \
	"modinfo -n ipcluster | grep -q '/updates/dkms/' && modinfo -F vermagic ipcluster | grep -q '^$krel '"
check "the modules it depends on came with it" \
	bash -c "grep -q '^nf_defrag_ipv4 ' /proc/modules && grep -q '^nf_defrag_ipv6 ' /proc/modules"
# (Unsigned, as any module DKMS builds: the kernel says so once, and
# marks itself tainted.)
echo "    # $(dmesg | tail -n +$((mark + 1)) | grep -m1 'module verification' | sed 's/^\[[ 0-9.]*\] //')"
check "hash self-test passed in the kernel" \
	bash -c "dmesg | tail -n +$((mark + 1)) | grep -q 'ipcluster: loaded: flow hash self-test passed'"
setup_topology 1
ns=$(member_ns 1)
ip -n "$ns" addr add "$CLUSTER4/32" dev eth0
check "clusteradm makes a cluster in it" ip netns exec "$ns" "$CLUSTERADM" cluster add \
	id 1 dev eth0 addr "$CLUSTER4" seed 5eed5eed5eed5eed5eed5eed5eed5eed member 1
check "... and gives member 1 every bucket" ip netns exec "$ns" "$CLUSTERADM" table set 1 spread 1
check "the member answers on the cluster address" \
	ip netns exec "$NS_CLIENT" ping -c2 -W2 -i0.2 "$CLUSTER4"
cleanup_all_ns
check "rmmod ipcluster" rmmod ipcluster
finish
