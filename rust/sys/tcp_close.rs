// SPDX-License-Identifier: GPL-2.0
//! Every end of a TCP connection: the probe on the socket's move to
//! TCP_CLOSE (`rust/c/tcp_close.c` says why that is every end) hands each
//! established connection that ends to its namespace's [`Pernet`] state.
//! One probe serves every namespace; [`super::pernet`] registers it after
//! the pernet operations and removes it before them, and publishes each
//! namespace's state to it only between a successful init and the
//! pre-exit.

use super::bindings;
use super::pernet::Pernet;
use super::rcu::RcuGuard;
use kernel::error::to_result;
use kernel::ffi::c_void;
use kernel::prelude::*;

/// A TCP connection whose socket has just closed: addresses as IPv6 (IPv4
/// mapped), the peer's first; ports in host order.
pub(crate) struct Ended {
    /// The peer's address.
    pub(crate) peer: [u8; 16],
    /// The local address.
    pub(crate) local: [u8; 16],
    /// The peer's port.
    pub(crate) peer_port: u16,
    /// The local port.
    pub(crate) local_port: u16,
    /// An IPv6 connection.
    pub(crate) v6: bool,
}

/// Starts handing ends to `T`'s [`Pernet::tcp_closed`]. Module init only,
/// once, after the pernet operations for `T` are registered.
pub(super) fn register<T: Pernet>() -> Result {
    // SAFETY: called once; `closed::<T>` is only ever handed states that
    // `pernet` published for `T` (see `publish`).
    to_result(unsafe { bindings::ipcluster_tcp_close_register(Some(closed::<T>)) })
}

/// Stops it, waiting for probes still running. Module exit only, before
/// the pernet operations go; harmless if [`register`] failed.
pub(super) fn unregister() {
    // SAFETY: process context (module exit or a failed init); the glue
    // does nothing when no probe is registered.
    unsafe { bindings::ipcluster_tcp_close_unregister() }
}

/// Publishes `st` as `net`'s state to the probe, or takes it away (`None`).
///
/// # Safety
///
/// `net` is live with its pernet area allocated; `st` stays valid until a
/// grace period after it is taken away, and is a `T` for the `T` given to
/// [`register`].
pub(super) unsafe fn publish<T: Pernet>(net: *mut bindings::net, st: Option<*const T>) {
    let p = st.map_or(core::ptr::null(), |p| p.cast::<c_void>());
    // SAFETY: see the contract.
    unsafe { bindings::ipcluster_pernet_watch(net, p) }
}

/// The probe's call for one end.
///
/// # Safety
///
/// Called by the glue only, under RCU, with a state published for `T` by
/// [`publish`] and a valid connection that outlives the call.
unsafe extern "C" fn closed<T: Pernet>(st: *const c_void, c: *const bindings::ipcluster_tcp_conn) {
    // SAFETY: see the contract: the state is a live `T` for the duration
    // of the RCU read-side section the glue holds around this call.
    let (st, rcu, c) = unsafe { (&*st.cast::<T>(), RcuGuard::assume_held(), &*c) };
    let ended = Ended {
        peer: c.peer,
        local: c.local,
        peer_port: c.peer_port,
        local_port: c.local_port,
        v6: c.v6 != 0,
    };
    st.tcp_closed(&rcu, &ended);
}
