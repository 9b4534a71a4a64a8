//! One module per command object: each parses its verbs' keywords, asks
//! the kernel (or reads the daemon's state), and prints text or JSON.

pub(crate) mod bucket;
pub(crate) mod cert;
pub(crate) mod cluster;
pub(crate) mod hash;
pub(crate) mod status;
pub(crate) mod table;
pub(crate) mod tcp;
pub(crate) mod which;
