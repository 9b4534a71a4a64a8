// SPDX-License-Identifier: GPL-2.0
//! Network namespaces, their interfaces and RTNL.

use super::bindings;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;

/// A network namespace.
///
/// # Invariants
///
/// `self.0` is a live `struct net`. A `Net` is made only by the pernet
/// core's callbacks ([`super::pernet`]) for the namespace they are called
/// for, and kept only in that namespace's state, which is freed before the
/// namespace is (in its pernet exit); or taken from a netlink request, a
/// dump or a hooked packet, each of which holds its namespace for the call.
#[derive(Clone, Copy)]
pub(crate) struct Net(NonNull<bindings::net>);

// SAFETY: a `struct net` is shared kernel-wide; the calls made through
// `Net` are thread-safe kernel APIs.
unsafe impl Send for Net {}
// SAFETY: as above.
unsafe impl Sync for Net {}

impl Net {
    /// A handle on `net`; `None` if it is null.
    ///
    /// # Safety
    ///
    /// `net` is null or a live namespace that outlives every use of the
    /// handle (see the type's invariants).
    pub(super) unsafe fn from_raw(net: *mut bindings::net) -> Option<Self> {
        NonNull::new(net).map(Net)
    }

    /// The namespace, for a C helper; live while `self` is used.
    pub(super) fn as_ptr(&self) -> *mut bindings::net {
        self.0.as_ptr()
    }

    /// Makes the namespace reassemble IPv4 (or IPv6) fragments before our
    /// hook, so every packet we hash has its ports. Reference-counted.
    pub(crate) fn defrag(&self, v6: bool, on: bool) -> Result {
        let net = self.as_ptr();
        // SAFETY: the namespace is live (the type's invariant); these calls
        // take their own locks and count users.
        unsafe {
            match (v6, on) {
                (false, true) => return to_result(bindings::nf_defrag_ipv4_enable(net)),
                (true, true) => return to_result(bindings::nf_defrag_ipv6_enable(net)),
                (false, false) => bindings::nf_defrag_ipv4_disable(net),
                (true, false) => bindings::nf_defrag_ipv6_disable(net),
            }
        }
        Ok(())
    }

    /// Adds (or removes) `mac` to `ifindex`'s multicast or unicast filter;
    /// with no `mac`, checks that the interface exists.
    pub(crate) fn dev_addr(
        &self,
        _rtnl: &Rtnl,
        ifindex: i32,
        mac: Option<&[u8; 6]>,
        mcast: bool,
        add: bool,
    ) -> Result {
        let mac = mac.map_or(core::ptr::null(), |m| m.as_ptr());
        // SAFETY: a live namespace; `mac` is null or 6 readable bytes; RTNL
        // is held (`_rtnl`).
        to_result(unsafe { bindings::ipcluster_dev_addr(self.as_ptr(), ifindex, mac, mcast, add) })
    }

    /// Whether `dst` (16 bytes for IPv6, else 4) is routed onwards from
    /// here: a unicast address that is not one of ours.
    pub(crate) fn forwards_to(&self, dst: &[u8]) -> bool {
        match dst.len() {
            // SAFETY: a live namespace; the helper only looks the address
            // up (RCU-safe, callable from the packet path).
            4 => unsafe {
                bindings::ipcluster_forwarded4(
                    self.as_ptr(),
                    u32::from_ne_bytes([dst[0], dst[1], dst[2], dst[3]]),
                )
            },
            // SAFETY: as above; `dst` holds the 16 bytes of an in6_addr.
            16 => unsafe { bindings::ipcluster_forwarded6(self.as_ptr(), dst.as_ptr().cast()) },
            _ => false,
        }
    }
}

/// The RTNL lock, held while this lives: interfaces and their address
/// lists change under it, and so do clusters (RTNL before the writer lock,
/// as in the netdevice notifier that removes clusters with their interface).
///
/// # Invariants
///
/// RTNL is held for the token's whole life: taken by [`Rtnl::lock`] and
/// released by `drop` when `owned`, else held by the caller of
/// [`Rtnl::held`].
pub(crate) struct Rtnl {
    owned: bool,
}

impl Rtnl {
    /// Takes RTNL. Process context, with none of ipcluster's locks held
    /// (RTNL always comes first).
    pub(crate) fn lock() -> Self {
        // SAFETY: process context, and no lock of ours is held (RTNL
        // always comes first).
        unsafe { bindings::rtnl_lock() };
        Rtnl { owned: true }
    }

    /// RTNL as held by our caller.
    ///
    /// # Safety
    ///
    /// The caller holds RTNL for the token's whole life.
    pub(super) unsafe fn held() -> Self {
        Rtnl { owned: false }
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: taken in `lock` (the type's invariant).
            unsafe { bindings::rtnl_unlock() };
        }
    }
}
