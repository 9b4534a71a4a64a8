// SPDX-License-Identifier: GPL-2.0
//! Per network namespace life: what the pernet core's callbacks
//! (`sys::pernet`) do for ipcluster. Every namespace gets a [`NetState`]
//! and the hooks of [`hook::ops`]; an interface going away takes its
//! clusters with it; a namespace going away takes them all; a TCP
//! connection's end goes to the export.

use crate::cluster::NetState;
use crate::control;
use crate::export;
use crate::hook;
use crate::sys::net::{Net, Rtnl};
use crate::sys::nf::{HookOps, NET_HOOKS};
use crate::sys::pernet::{self, Pernet};
use crate::sys::rcu::RcuGuard;
use crate::sys::tcp_close::Ended;
use kernel::prelude::*;

// SAFETY: the only `Ingress` registrations made for a namespace (by
// `control`, for its clusters' interfaces) live in its NetState's
// `Registry`, so none outlives the state.
unsafe impl Pernet for NetState {
    fn new(net: Net) -> impl PinInit<Self> {
        NetState::new(net)
    }

    fn hooks() -> [HookOps; NET_HOOKS] {
        hook::ops()
    }

    fn dev_gone(&self, rtnl: &Rtnl, ifindex: i32) {
        control::dev_gone(self, rtnl, ifindex);
    }

    fn tcp_closed(&self, rcu: &RcuGuard, c: &Ended) {
        export::ended(self, rcu, c);
    }

    fn exit(&self) {
        control::shutdown(self);
    }
}

/// Registers the pernet operations (every namespace gets its state) and
/// the netlink family.
pub(crate) fn register() -> Result {
    pernet::register::<NetState>()
}

/// Unregisters both: every namespace's state goes.
pub(crate) fn unregister() {
    pernet::unregister();
}
