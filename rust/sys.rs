// SPDX-License-Identifier: GPL-2.0
//! The kernel API as ipcluster uses it: typed wrappers over the raw
//! bindings (made by bindgen from `include/ipcluster_glue.h`) and over the
//! C glue in `rust/c/`. Every unsafe block of the module is here: each
//! type states its invariants in an `# Invariants` section, and every
//! `// SAFETY:` comment rests on those or on the callee's contract. The
//! one obligation left to the layers above is [`pernet::Pernet`], an
//! unsafe trait.
//!
//! Nothing here knows what a cluster is. The layers above hand their
//! per-namespace state, their netfilter hooks and their netlink handlers
//! to [`pernet`], [`nf`] and [`genl`] through traits and macros.

mod bindings;
pub(crate) mod genl;
pub(crate) mod net;
pub(crate) mod nf;
pub(crate) mod percpu;
pub(crate) mod pernet;
pub(crate) mod rcu;
pub(crate) mod skb;
pub(crate) mod tcp;
pub(crate) mod tcp_adopt;
pub(crate) mod tcp_close;
pub(crate) mod time;
pub(crate) mod uapi;
