# SPDX-License-Identifier: GPL-2.0
# ipcluster: build the module and clusteradm, run the tests and the demo.
#
#   make            ipcluster.ko (against the cached test kernel, or KDIR=)
#   make check      every test: host (cargo) and VM (real kernel)
#   make demo       boot the test kernel and show ipcluster working
#   make bench      benchmarks (ratios against a baseline of the same run)
#   make deb        Debian packages: ipcluster (tools, unit, man pages,
#                   completions) and ipcluster-dkms (the module's source)
#   make kernel-deb linux-image and linux-headers packages of Debian's 6.12
#                   kernel with Rust, for hosts that run the module
#
# KDIR=/path/to/a/rust-enabled/kernel/build builds against your own kernel.

SHELL := /bin/bash
TOP := $(CURDIR)
RUSTC_K := /usr/bin/rustc
RUSTDOC_K := /usr/bin/rustdoc
KMAKE = $(MAKE) -C "$$kdir" M=$(TOP) RUSTC=$(RUSTC_K) RUSTDOC=$(RUSTDOC_K) \
	$$(grep -q '^CONFIG_CC_IS_CLANG=y' "$$kdir/.config" && echo LLVM=-19)
# The kernel's bindgen must be 0.71.1 (cargo install), ahead of Debian's.
export PATH := $(HOME)/.cargo/bin:$(PATH)
export LIBCLANG_PATH := /usr/lib/llvm-19/lib
CARGO := cargo

.PHONY: all module tool deps kernel check lint test-host test-vm demo bench clean regen \
	man completions deb kernel-deb check-kernel-deb

all: module tool

deps:
	@scripts/deps.sh

# The kernel under test: built once into ~/.cache/ipcluster, then reused.
kernel: deps
	@scripts/kernel.sh debug >/dev/null

module: deps
	@kdir="$(KDIR)"; [ -n "$$kdir" ] || kdir=$$(scripts/kernel.sh debug) || exit 1; \
	$(KMAKE) modules
	@$(MAKE) -s -C tests/splat KDIR="$(KDIR)"

tool: deps
	@cd userspace-tool && $(CARGO) build --release --quiet

# The operators' kernel, as .debs (Documentation/packaging.md); prints the
# directory that holds them. About 40 minutes on 2 cores, once.
kernel-deb: deps
	@scripts/kernel.sh deb

# Its test: DKMS builds the module from the ipcluster-dkms package against
# the kernel-deb headers, and the VM boots that kernel and runs tests on it.
check-kernel-deb: kernel-deb deb
	@tests/host/kernel-deb.sh "$$(scripts/kernel.sh deb)"

# Man pages and shell completions, made from clusteradm's command-line
# definition by userspace-tool/xtask, into userspace-tool/target/.
man:
	@cd userspace-tool && rm -rf target/man && $(CARGO) run --quiet -p xtask -- man target/man

completions:
	@cd userspace-tool && $(CARGO) run --quiet -p xtask -- completions target/completions

# The .debs, into userspace-tool/target/debian/ (dpkg-deb; see
# Documentation/packaging.md).
deb: tool man completions
	@scripts/deb.sh

# The netlink ABI is generated from its YNL spec; regenerate after editing it.
regen: deps
	@scripts/ynl-regen.sh

# Kernel Rust through Debian's clippy of the same release as its rustc;
# userspace through rustup's clippy and rustfmt.
lint: deps
	@kdir="$(KDIR)"; [ -n "$$kdir" ] || kdir=$$(scripts/kernel.sh debug) || exit 1; \
	touch rust/ipcluster.rs && $(KMAKE) CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver modules
	@cd userspace-tool && $(CARGO) clippy --quiet --workspace --all-targets -- -D warnings
	@cd userspace-tool && $(CARGO) fmt --check
	@rustfmt --check --edition 2021 --config newline_style=Unix rust/ipcluster.rs

test-host: lint
	@scripts/ynl-regen.sh --check
	cd userspace-tool && $(CARGO) test --workspace
	@$(MAKE) --no-print-directory deb
	@kdir="$(KDIR)"; [ -n "$$kdir" ] || kdir=$$(scripts/kernel.sh debug) || exit 1; \
	tests/host/deb.sh "$$kdir"

test-vm: module tool
	@tests/vm/run.sh

check: test-host test-vm

demo: module tool
	@tests/vm/run.sh --demo

# Benchmarks on the bench kernel (no debug options): rates and ratios.
bench: tool
	@scripts/bench.sh

clean:
	@kdir="$(KDIR)"; [ -n "$$kdir" ] || kdir=$$(ls -d $${IPCLUSTER_CACHE:-$$HOME/.cache/ipcluster}/kernel-debug-* 2>/dev/null | head -n1); \
	[ -z "$$kdir" ] || $(KMAKE) clean
	@rm -f rust/bindings_generated.rs rust/uapi_generated.rs
	@cd userspace-tool && $(CARGO) clean
