#!/usr/bin/env bash
# Install everything ipcluster needs to build and test, idempotently.
# Debian bookworm, as root (or via sudo). Safe to run again: it only
# installs what is missing and keeps the kernel Rust toolchain pinned.
set -euo pipefail

RUST_WEB_VER=1.85.0+dfsg3-1~deb12u3
BINDGEN_VER=0.71.1
VNG_VER=1.42

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
stamp_dir=${IPCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipcluster}
stamp="$stamp_dir/deps-$(sha256sum "$0" | cut -c1-16)"

if [ -e "$stamp" ] && [ -x /usr/bin/rustc ] && command -v vng >/dev/null; then
	exit 0
fi

pkgs=(
	# kernel build
	linux-source-6.12 build-essential flex bison bc cpio kmod libelf-dev
	libssl-dev dwarves rsync xz-utils
	# clang-built kernel (KASAN + Rust) and bindgen's libclang
	clang-19 lld-19 llvm-19 libclang-19-dev
	# VM
	qemu-system-x86 udev
	# tests: netns topologies, traffic, baselines
	iproute2 iputils-ping iptables nftables socat tcpdump ethtool procps python3-pip
	# make deb and its test: render the man pages, build the module by DKMS
	man-db groff-base dkms
	# make kernel-deb: Debian's kernel configuration, and what the
	# kernel's bindeb-pkg runs
	linux-config-6.12 debhelper fakeroot
	# check-kernel-deb: virtme-ng's initramfs for a kernel whose virtio
	# and 9p drivers are modules
	busybox-static
	# tests: a real multi-connection protocol (client affinity)
	iperf3
	# tests: an unmodified server that takes restored connections (adoption),
	# and a load generator that keeps its connections busy across a crash
	nginx wrk
	# tests: scrape the metrics endpoint, and read it with Prometheus' own
	# OpenMetrics parser
	curl python3-prometheus-client
	# the tests' tools that speak the cluster link (Ed25519, X25519,
	# HKDF, ChaCha20-Poly1305), for Debian's python3
	python3-cryptography
	# tests: the kernel's YNL CLI reads the netlink spec (checked against
	# the kernel's schema)
	python3-yaml python3-jsonschema
)
kernel_rust=(rustc-web rust-web-src libstd-rust-web-dev rust-web-clippy)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
for p in "${kernel_rust[@]}"; do
	v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
	[ "$v" = "$RUST_WEB_VER" ] || missing+=("$p=$RUST_WEB_VER")
done

if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-mark unhold "${kernel_rust[@]}" >/dev/null 2>&1 || true
	$SUDO apt-get update -qq
	# --no-install-recommends: a Recommends (cargo-web) would drag the
	# kernel's rustc to a newer release than the tree was configured with.
	$SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades "${missing[@]}"
fi
$SUDO apt-mark hold "${kernel_rust[@]}" >/dev/null

if ! bindgen --version 2>/dev/null | grep -q "$BINDGEN_VER"; then
	cargo install --locked bindgen-cli --version "$BINDGEN_VER"
fi
if ! command -v vng >/dev/null; then
	pip3 install --quiet "virtme-ng==$VNG_VER" 2>/dev/null ||
		pip3 install --quiet --break-system-packages "virtme-ng==$VNG_VER"
fi

mkdir -p "$stamp_dir"
touch "$stamp"
