//! ipcluster's per-host membership daemon (`clusteradm daemon CONFIG`): it
//! creates the kernel's cluster, runs the membership protocol with the
//! other members over the cluster link, installs the bucket tables the
//! master decides, takes over the buckets of members that die and, for a
//! cluster that exports TCP state, replicates its connections and restores
//! those of the dead.
//!
//! - [`run`]: the daemon's start (`config` read, the kernel cluster made,
//!   certificates loaded, survival started) and its loop.
//! - `membership`: the protocol as a state machine without I/O, and its
//!   messages on the wire; `wire`: the signed datagrams both of the
//!   cluster link's users share.
//! - `survival`: TCP survival (replication, output commit, restores) on
//!   a thread and a port of its own.
//! - `metrics`: the same numbers as `clusteradm status`'s, served to
//!   Prometheus.
//! - [`state`]: what the daemon tells `clusteradm status`; [`cert`]: the
//!   cluster's certificates, which `clusteradm cert` also manages.

mod addr;
mod announce;
pub mod cert;
mod config;
mod membership;
mod metrics;
mod run;
pub mod state;
mod survival;
mod sys;
mod wire;

pub use run::run;

/// The kernel API (`ipcluster-kapi`), and through it the shared core: the
/// CLI reaches both through this crate, so that the crate graph is one
/// chain: clusteradm → daemon → kapi → core.
pub use ipcluster_kapi as kapi;
use kapi::shared;
