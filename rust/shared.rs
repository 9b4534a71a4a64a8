// SPDX-License-Identifier: GPL-2.0
//! The shared core: the flow hash, the packet parser, the bucket rules and
//! the TCP failover records, compiled here from the very same source
//! `clusteradm` and `cargo test` use (`userspace-tool/core`). These files
//! are `core`-only, entirely safe Rust; they refer to each other as
//! siblings (`super::`), so they sit together under this module.

#[path = "../userspace-tool/core/src/buckets.rs"]
pub mod buckets;
#[path = "../userspace-tool/core/src/hash.rs"]
pub mod hash;
#[path = "../userspace-tool/core/src/packet.rs"]
pub mod packet;
#[path = "../userspace-tool/core/src/siphash.rs"]
pub mod siphash;
#[path = "../userspace-tool/core/src/tcpstate.rs"]
pub mod tcpstate;
