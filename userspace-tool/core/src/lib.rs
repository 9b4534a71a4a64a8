// SPDX-License-Identifier: GPL-2.0
//! ipcluster's pure logic: the flow hash and its work-set buckets, the bucket
//! table's assignment rules, the adaptive keepalive maths, the master
//! election rule and the membership protocol's wire format.
//!
//! Everything here is `core`-only Rust with no `unsafe`, no allocation and no
//! floating point, so the kernel module compiles the very same files (each
//! pulled in with `#[path]`) and `cargo test` covers them on the host.
#![no_std]

pub mod buckets;
pub mod election;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod hash;
pub mod keepalive;
pub mod packet;
pub mod proto;
pub mod siphash;
pub mod tcpstate;
