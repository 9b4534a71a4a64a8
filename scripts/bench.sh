#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: the benchmarks, on the bench kernel (the test kernel without
# its debug options), each printing rates and ratios against a baseline
# measured in the same run. Not tests: nothing here passes or fails on
# speed.
#
#   scripts/bench.sh [SECONDS] [ROUNDS]
#   IPC_BENCH=link|store|datapath|failover|tcp  only one of them; IPC_FAILOVER_RUNS=10,
#   IPC_TCP_MODES="none async", IPC_TCP_ROUNDS=3, IPC_TCP_STALL=N crashes (tcp.sh); IPC_TCP_PERF=1:
#   where the daemons spend their CPU during each mode's pump (perf, if installed)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p results
if [ "${IPC_BENCH:-all}" = all ] || [ "${IPC_BENCH:-all}" = link ]; then
echo "# link: CPU per datagram on the cluster link, signed (Ed25519) against sealed (ChaCha20-Poly1305), on the host"
(cd userspace-tool && cargo test --release --quiet -p ipcluster-daemon bench_link -- \
	--ignored --nocapture 2>&1) | grep '^link:' | tee results/bench-link.log
[ "${IPC_BENCH:-all}" = link ] && exit 0
fi
if [ "${IPC_BENCH:-all}" = all ] || [ "${IPC_BENCH:-all}" = store ]; then
echo "# store: heap bytes per replicated connection in the replica store, 1,000,000 connections, on the host"
(cd userspace-tool && cargo test --release --quiet -p ipcluster-daemon bench_store -- \
	--ignored --nocapture 2>&1) | grep '^store:' | tee results/bench-store.log
[ "${IPC_BENCH:-all}" = store ] && exit 0
fi

kdir=$(scripts/kernel.sh bench)

# The module for the bench kernel, built from a copy so that the tree's
# ipcluster.ko stays the test kernel's.
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
mkdir -p "$build/userspace-tool/core"
cp -r Kbuild rust include "$build/"
cp -r userspace-tool/core/src "$build/userspace-tool/core/"
make -s -C "$kdir" M="$build" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
	$(grep -q '^CONFIG_CC_IS_CLANG=y' "$kdir/.config" && echo LLVM=-19) modules
mkdir -p results
cp "$build/ipcluster.ko" results/ipcluster-bench.ko

accel=(--disable-kvm)
[ "${IPC_KVM:-0}" = 1 ] && accel=()
if [ "${IPC_BENCH:-all}" = all ] || [ "${IPC_BENCH:-all}" = datapath ]; then
echo "# datapath: pktgen into a member's receive path (netif_receive), 64-byte UDP, one vCPU (${accel[*]:-kvm})"
# One vCPU: sender and member share it, so a cheaper receive path shows as
# a higher rate instead of hiding behind an idle second CPU.
vng --run "$kdir" --user root "${accel[@]}" --cpus 1 --memory 2G --append no5lvl \
	--cwd "$top" --exec "tests/bench/pktgen.sh results/ipcluster-bench.ko \
	userspace-tool/target/release/clusteradm ${1:-4} ${2:-5}" 2>&1 | tee results/bench.log
fi

if [ "${IPC_BENCH:-all}" = all ] || [ "${IPC_BENCH:-all}" = failover ]; then
echo "# failover: three real daemons, default keepalive settings, kill -9 + link down (${accel[*]:-kvm})"
vng --run "$kdir" --user root "${accel[@]}" --cpus 2 --memory 2G --append no5lvl \
	--cwd "$top" --exec "tests/bench/failover.sh results/ipcluster-bench.ko ${IPC_FAILOVER_RUNS:-10}" \
	2>&1 | tee results/bench-failover.log
fi

if [ "${IPC_BENCH:-all}" = all ] || [ "${IPC_BENCH:-all}" = tcp ]; then
echo "# tcp: echo throughput, update size and stall at failover; no export, async, output commit (${accel[*]:-kvm})"
vng --run "$kdir" --user root "${accel[@]}" --cpus 2 --memory 2G --append no5lvl \
	--cwd "$top" --exec "env IPC_TCP_MODES='${IPC_TCP_MODES:-none async commit}' IPC_TCP_ROUNDS='${IPC_TCP_ROUNDS:-3}' IPC_TCP_PERF='${IPC_TCP_PERF:-0}' IPC_TCP_STALL='${IPC_TCP_STALL:-1}' tests/bench/tcp.sh results/ipcluster-bench.ko ${IPC_TCP_SECONDS:-10}" \
	2>&1 | tee results/bench-tcp.log
fi
