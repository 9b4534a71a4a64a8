// SPDX-License-Identifier: GPL-2.0
//! ipcluster: active-active IP clustering.
//!
//! Every member of a cluster receives every packet for the cluster IP; a
//! netfilter hook hashes each flow into a work-set bucket and keeps only the
//! packets of the buckets this member owns (see `filter`). Clusters and
//! their bucket tables are configured over generic netlink (`control`),
//! per network namespace (`netns`). This file is the module root.
//!
//! The layers, each using only those below it:
//!
//! - `shared`: the flow hash, the packet parser and the TCP records,
//!   compiled from the very same source `clusteradm` and `cargo test`
//!   use; the module checks the hash's test vectors when it loads.
//! - `sys`: the kernel API behind typed wrappers: the raw bindings and
//!   every block that needs a `// SAFETY:` argument live there. The one
//!   exception is in `netns`: the promise the per-namespace state makes
//!   to `sys::pernet` (its `Pernet` trait).
//! - `cluster`: the model, a namespace's clusters.
//! - `filter`, `export`, `control`, `unsent`, `adopt`: the logic.
//! - `hook`, `ops`, `netns`: the wiring of the logic to netfilter, generic
//!   netlink and the pernet core.

use kernel::prelude::*;

pub mod shared;

mod adopt;
mod cluster;
mod control;
mod export;
mod filter;
mod hook;
mod netns;
mod ops;
mod sys;
mod unsent;

use shared::hash;

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
        sys::rcu::barrier();
        pr_info!("unloaded\n");
    }
}
