//! ipcluster's kernel API: everything that speaks to `ipcluster.ko` (generic
//! netlink, family "ipcluster"), to the netfilter queue output commit
//! parks segments in, and to the socket diagnostics that abort a
//! connection.
//!
//! The operator CLI and the daemon both build on it; it knows nothing of
//! either. Values are checked here with the same rules whoever gives them
//! (the [`words`] parsers), so that `clusteradm cluster add` and the
//! daemon's `[cluster] add` accept exactly the same keywords.

pub mod abi;
pub mod addr;
pub mod attr;
pub mod bucket;
pub mod client;
pub mod cluster;
pub mod error;
pub mod mac;
pub mod nfqueue;
pub mod sockdiag;
pub mod sys;
pub mod table;
pub mod tcp;
pub mod words;

pub use client::Client;
pub use error::Error;

/// The shared core (`ipcluster-core`): the logic the kernel module compiles
/// too. The crates above this one reach it through here, so that the crate
/// graph is one chain: clusteradm → daemon → kapi → core.
pub use ipcluster_core as shared;
