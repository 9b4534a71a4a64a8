// SPDX-License-Identifier: GPL-2.0
//! `tcp-adopt`: when a member dies, its connections are restored by their
//! new owner's daemon (TCP repair); one that no hand-off socket claims is
//! queued here on the application's own listener for its address and
//! port, so an unmodified server accepts it as a connection of its own.
//! The operation takes the descriptor: a connection it cannot queue is
//! reset at once, never left open.

use crate::sys::genl::Request;
use crate::sys::tcp_adopt::{adopt, prepare, Refusal};
use crate::sys::uapi::*;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::{c_str, fmt};

/// tcp-adopt (do): the request names a descriptor of the sending task.
pub(crate) fn tcp_adopt(req: &Request) -> Result {
    let Some(fd) = req.u32(IPCLUSTER_A_TCP_ADOPT_FD) else {
        return Err(req.fail(None, c_str!("want the descriptor (fd)"), EINVAL));
    };
    let (local, r) = adopt(req, fd);
    let Err(why) = r else { return Ok(()) };
    let what = match why {
        Refusal::BadFd => "not a socket descriptor of the caller",
        Refusal::NotTcp => "not a TCP socket of this namespace",
        Refusal::Busy => "the socket's file is open elsewhere too",
        Refusal::NotEstablished => "not an established connection",
        Refusal::Repair => "still in repair mode",
        Refusal::Memcg => "charged to a memory cgroup: prepare it first (tcp-adopt-prepare)",
        Refusal::Unacked => "bytes sent are not acknowledged yet, which accept() would not charge",
        Refusal::NotFresh => "not a fresh socket: connected already, or holding memory",
        Refusal::NoListener => "no listener for",
        Refusal::Family => "the listener is of another address family, for",
        Refusal::Full => "the accept queue is full, of the listener for",
        Refusal::NoMem => "no memory",
        Refusal::Closed => "the listener closed; the connection was reset, for",
    };
    let about_listener = matches!(
        why,
        Refusal::NoListener | Refusal::Family | Refusal::Full | Refusal::Closed
    );
    let msg = if about_listener {
        CString::try_from_fmt(fmt!("{what} {local}"))
    } else {
        CString::try_from_fmt(fmt!("{what}"))
    };
    let err = why.error();
    Err(match msg {
        Ok(m) => req.fail_with(&m, err),
        Err(_) => err,
    })
}

/// tcp-adopt-prepare (do): the request names a fresh socket of the sender.
pub(crate) fn tcp_adopt_prepare(req: &Request) -> Result {
    let Some(fd) = req.u32(IPCLUSTER_A_TCP_ADOPT_FD) else {
        return Err(req.fail(None, c_str!("want the descriptor (fd)"), EINVAL));
    };
    prepare(req, fd).map_err(|why| {
        let msg = match why {
            Refusal::BadFd => c_str!("not a socket descriptor of the caller"),
            Refusal::NotTcp => c_str!("not a TCP socket of this namespace"),
            _ => c_str!("not a fresh socket: connected already, or holding memory"),
        };
        req.fail(None, msg, why.error())
    })
}
