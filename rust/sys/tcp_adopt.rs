// SPDX-License-Identifier: GPL-2.0
//! Adoption: a connection the daemon restored goes onto the accept queue
//! of the application's own listener (`rust/c/tcp_adopt.c` does the
//! kernel's part), so an unmodified server's next `accept()` returns it.

use super::bindings;
use super::genl::Request;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use kernel::prelude::*;

/// Why a socket was not adopted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a socket descriptor of the caller.
    BadFd,
    /// Not a TCP socket of the request's namespace.
    NotTcp,
    /// Its file is open elsewhere too (a duplicate, a call in progress).
    Busy,
    /// Not (or no longer) an established connection.
    NotEstablished,
    /// Still in repair mode.
    Repair,
    /// Charged to a memory cgroup, which `accept()` would not move.
    Memcg,
    /// Bytes sent not yet acknowledged, with socket memory accounting on:
    /// `accept()` would not charge them.
    Unacked,
    /// Preparing: connected already, or holding memory.
    NotFresh,
    /// No listener for its local address and port.
    NoListener,
    /// The listener is of the other address family.
    Family,
    /// The listener's accept queue is full.
    Full,
    /// No memory for the request socket.
    NoMem,
    /// The listener closed meanwhile: the connection was reset and freed,
    /// and the caller's descriptor no longer refers to it.
    Closed,
}

impl Refusal {
    /// The error number the operation answers with.
    pub(crate) fn error(self) -> Error {
        let e = |n: u32| Error::from_errno(-(n as i32));
        match self {
            Refusal::BadFd => EBADF,
            Refusal::NotTcp
            | Refusal::Busy
            | Refusal::NotEstablished
            | Refusal::Repair
            | Refusal::NotFresh
            | Refusal::Family => EINVAL,
            Refusal::Unacked => EAGAIN,
            Refusal::Memcg => e(bindings::EOPNOTSUPP),
            Refusal::NoListener => ENOENT,
            Refusal::Full => e(bindings::ENOBUFS),
            Refusal::NoMem => ENOMEM,
            Refusal::Closed => e(bindings::ECONNABORTED),
        }
    }
}

/// The socket's local address and port; unspecified when the descriptor
/// was no TCP socket of the namespace.
pub(crate) type Local = SocketAddr;

/// Takes descriptor `fd` from the task that sent `req` and moves the
/// established TCP socket behind it onto the accept queue of the listener
/// for its local address and port in the request's namespace. The
/// descriptor is closed whatever the outcome; a connection refused is
/// reset (by the kernel when the listener closed meanwhile).
pub(crate) fn adopt(req: &Request, fd: u32) -> (Local, Result<(), Refusal>) {
    let mut c = bindings::ipcluster_tcp_conn::default();
    let fd = i32::try_from(fd).unwrap_or(-1);
    // SAFETY: a generic netlink doit runs in the sending task, so `fd`
    // is looked up among that task's descriptors; the request holds its
    // namespace alive for the call (Request's invariant); `c` outlives
    // the call, which writes only it.
    let why = unsafe { bindings::ipcluster_tcp_adopt(req.net_ptr(), fd, &mut c) };
    let ip = if c.v6 != 0 {
        IpAddr::V6(Ipv6Addr::from(c.local))
    } else {
        let l = &c.local;
        IpAddr::V4(Ipv4Addr::new(l[12], l[13], l[14], l[15]))
    };
    let local = SocketAddr::new(ip, c.local_port);
    let r = match why {
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_OK => Ok(()),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_BAD_FD => Err(Refusal::BadFd),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_NOT_TCP => Err(Refusal::NotTcp),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_BUSY => Err(Refusal::Busy),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_REPAIR => Err(Refusal::Repair),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_MEMCG => Err(Refusal::Memcg),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_NO_LISTENER => Err(Refusal::NoListener),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_FAMILY => Err(Refusal::Family),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_FULL => Err(Refusal::Full),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_NOMEM => Err(Refusal::NoMem),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_CLOSED => Err(Refusal::Closed),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_UNACKED => Err(Refusal::Unacked),
        _ => Err(Refusal::NotEstablished),
    };
    (local, r)
}

/// Releases the fresh TCP socket behind descriptor `fd` of the task that
/// sent `req` from that task's memory cgroup, so that the server that
/// accepts it once adopted is charged for it instead.
pub(crate) fn prepare(req: &Request, fd: u32) -> Result<(), Refusal> {
    let fd = i32::try_from(fd).unwrap_or(-1);
    // SAFETY: as in `adopt`: the doit runs in the sending task, and the
    // request holds its namespace alive for the call.
    let why = unsafe { bindings::ipcluster_tcp_adopt_prepare(req.net_ptr(), fd) };
    match why {
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_OK => Ok(()),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_BAD_FD => Err(Refusal::BadFd),
        bindings::ipcluster_adopt_IPCLUSTER_ADOPT_NOT_TCP => Err(Refusal::NotTcp),
        _ => Err(Refusal::NotFresh),
    }
}
