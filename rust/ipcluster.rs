// SPDX-License-Identifier: GPL-2.0
//! ipcluster: active-active IP clustering.
//!
//! Every member of a cluster receives every packet for the cluster IP; a
//! netfilter hook hashes each flow into a work-set bucket and keeps only the
//! packets of the buckets this member owns (see `filter`). Clusters and
//! their bucket tables are configured over generic netlink (`control`),
//! per network namespace (`netns`). This file is the module root.
//!
//! The flow hash and the packet parser are the shared core's, compiled here
//! from the very same source `clusteradm` and `cargo test` use; the module
//! checks the core's test vectors when it loads.

use kernel::prelude::*;

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

mod bindings;
mod cluster;
mod control;
mod export;
mod filter;
mod hook;
mod netlink;
mod netns;
mod percpu;
mod rcu;
mod skb;
mod time;
mod unsent;

module! {
    type: IpCluster,
    name: "ipcluster",
    author: "ipcluster developers",
    description: "Active-active IP clustering: work-set filtering of a shared cluster IP",
    license: "GPL",
}

struct IpCluster;

impl kernel::Module for IpCluster {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // The module and clusteradm must agree on every bucket.
        if let Err(i) = hash::check_vectors() {
            pr_err!("flow hash self-test failed at vector {}\n", i);
            return Err(EINVAL);
        }
        netns::register()?;
        pr_info!(
            "loaded: flow hash self-test passed ({} vectors)\n",
            hash::VECTORS.len()
        );
        Ok(IpCluster)
    }
}

impl Drop for IpCluster {
    fn drop(&mut self) {
        netns::unregister();
        // Old bucket tables still waiting for their grace period.
        rcu::barrier();
        pr_info!("unloaded\n");
    }
}
