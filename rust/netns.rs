// SPDX-License-Identifier: GPL-2.0
//! Per network namespace life: every namespace gets a [`NetState`] and
//! ipcluster's hooks when it is created (or when the module loads), and
//! loses both before it goes away (or when the module unloads).

use crate::bindings;
use crate::cluster::NetState;
use crate::control;
use crate::hook;
use crate::skb::SkbBytes;
use crate::tcpstate::Initial;
use kernel::error::to_result;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// A network namespace. It outlives its [`NetState`], which holds this.
#[derive(Clone, Copy)]
pub(crate) struct Net(*mut bindings::net);

// SAFETY: a `struct net` is shared kernel-wide; the calls made through
// `Net` are thread-safe kernel APIs.
unsafe impl Send for Net {}
// SAFETY: as above.
unsafe impl Sync for Net {}

impl Net {
    /// Makes the namespace reassemble IPv4 (or IPv6) fragments before our
    /// hook, so every packet we hash has its ports. Reference-counted.
    pub(crate) fn defrag(&self, v6: bool, on: bool) -> Result {
        // SAFETY: the namespace is live (see the type's invariant); these
        // calls take their own locks and count users.
        unsafe {
            match (v6, on) {
                (false, true) => return to_result(bindings::nf_defrag_ipv4_enable(self.0)),
                (true, true) => return to_result(bindings::nf_defrag_ipv6_enable(self.0)),
                (false, false) => bindings::nf_defrag_ipv4_disable(self.0),
                (true, false) => bindings::nf_defrag_ipv6_disable(self.0),
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
        // SAFETY: live namespace; `mac` is null or 6 readable bytes; RTNL
        // is held (`_rtnl`).
        to_result(unsafe { bindings::ipcluster_dev_addr(self.0, ifindex, mac, mcast, add) })
    }

    /// Whether `dst` (16 bytes for IPv6, else 4) is routed onwards from
    /// here: a unicast address that is not one of ours.
    pub(crate) fn forwards_to(&self, dst: &[u8]) -> bool {
        match dst.len() {
            // SAFETY: live namespace; the helper only looks the address up
            // (RCU-safe, callable from the packet path); `dst` is 4 bytes.
            4 => unsafe {
                bindings::ipcluster_forwarded4(
                    self.0,
                    u32::from_ne_bytes([dst[0], dst[1], dst[2], dst[3]]),
                )
            },
            // SAFETY: as above; `dst` holds the 16 bytes of an in6_addr.
            16 => unsafe { bindings::ipcluster_forwarded6(self.0, dst.as_ptr().cast()) },
            _ => false,
        }
    }

    /// Whether anyone listens for TCP state (the `tcp` group).
    pub(crate) fn tcp_listeners(&self) -> bool {
        // SAFETY: live namespace; a lockless check of the group's bitmap.
        unsafe { bindings::ipcluster_tcp_listeners(self.0) }
    }

    /// Multicasts TCP state records of cluster `id` to the `tcp` group,
    /// followed by `bytes` (a packet's, which the last record, a Data
    /// head, announces). Any context: the message is allocated atomically
    /// (and dropped when that fails: the next segment carries newer state).
    pub(crate) fn tcp_notify(&self, id: u32, records: &[u8], bytes: Option<SkbBytes<'_, '_>>) {
        let Ok(len) = i32::try_from(records.len()) else {
            return;
        };
        let (skb, off, n) = match bytes {
            Some(b) => (b.skb.as_raw(), b.off, b.len),
            None => (core::ptr::null(), 0, 0),
        };
        // SAFETY: live namespace; `records` is `len` readable bytes and the
        // skb (if any) is live for the call, `off + n` within it (checked
        // by the C side's skb_copy_bits): both are copied into the message
        // before the call returns.
        unsafe {
            bindings::ipcluster_tcp_notify(self.0, id, records.as_ptr().cast(), len, skb, off, n)
        }
    }

    /// Hands TCP state records of cluster `id` to the namespace's batch:
    /// they go to the `tcp` group with others, within 20 ms;
    /// those of connection `conn` (0: none) replace its own just before.
    pub(crate) fn tcp_batch(&self, id: u32, conn: u64, records: &[u8]) {
        let Ok(len) = i32::try_from(records.len()) else {
            return;
        };
        // SAFETY: live namespace whose batch exists while hooks run (made
        // before they are registered, freed after they are gone);
        // `records` is `len` readable bytes, copied before the call returns.
        unsafe { bindings::ipcluster_tcp_batch(self.0, id, conn, records.as_ptr().cast(), len) }
    }

    /// Up to `buf.len()` bytes the application wrote to connection `c` (on
    /// interface `ifindex`) and its client has not acknowledged, from
    /// sequence number `from` or the first unacknowledged if later: their
    /// first sequence number and how many. `ENOENT`: no established
    /// connection has those addresses. Process context (locks the socket).
    pub(crate) fn tcp_unsent(
        &self,
        ifindex: i32,
        c: &Initial,
        from: u32,
        buf: &mut [u8],
    ) -> Result<(u32, usize)> {
        let conn = bindings::ipcluster_tcp_conn {
            peer: c.src,
            local: c.dst,
            peer_port: c.sport,
            local_port: c.dport,
            v6: u8::from(c.v6),
        };
        let cap = u32::try_from(buf.len()).map_err(|_| EINVAL)?;
        let mut seq = 0;
        // SAFETY: live namespace; `conn` and `seq` outlive the call, which
        // writes at most `cap` bytes to `buf` and returns before `buf` is
        // used again.
        let n = unsafe {
            bindings::ipcluster_tcp_unsent(
                self.0,
                ifindex,
                &conn,
                from,
                buf.as_mut_ptr(),
                cap,
                &mut seq,
            )
        };
        to_result(n)?;
        Ok((seq, n as usize))
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0
    }
}

/// The RTNL lock, held while this lives: interfaces and their address
/// lists change under it, and so do clusters (RTNL before the writer lock,
/// as in the netdevice notifier that removes clusters with their interface).
pub(crate) struct Rtnl {
    owned: bool,
}

impl Rtnl {
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
    unsafe fn held() -> Self {
        Rtnl { owned: false }
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: taken in `lock`.
            unsafe { bindings::rtnl_unlock() };
        }
    }
}

/// Registers the pernet operations and the netlink family.
pub(crate) fn register() -> Result {
    // SAFETY: called once from module init.
    to_result(unsafe { bindings::ipcluster_glue_register() })
}

/// Unregisters both; the pernet core calls [`ipcluster_net_exit`] for each
/// namespace.
pub(crate) fn unregister() {
    // SAFETY: called once from module exit, after a successful register().
    unsafe { bindings::ipcluster_glue_unregister() }
}

/// The state of `net`.
///
/// # Safety
///
/// `net` is a live namespace whose [`ipcluster_net_init`] succeeded and
/// whose [`ipcluster_net_exit`] has not begun, for all of `'a`.
pub(crate) unsafe fn state<'a>(net: *mut bindings::net) -> &'a NetState {
    // SAFETY: per the contract the area exists and `state` was set by
    // ipcluster_net_init to a pinned NetState freed only by the exit.
    unsafe { &*(*bindings::ipcluster_pernet(net)).state.cast::<NetState>() }
}

/// # Safety
///
/// Called by the pernet core only, with a live `net` whose zeroed
/// `ipcluster_net` area it has just allocated.
#[no_mangle]
unsafe extern "C" fn ipcluster_net_init(net: *mut bindings::net) -> c_int {
    let st = match KBox::pin_init(NetState::new(Net(net)), GFP_KERNEL) {
        Ok(st) => st,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: NetState is never moved out of the box: the raw pointer is
    // turned back into Pin<KBox> in ipcluster_net_exit.
    let st = KBox::into_raw(unsafe { core::pin::Pin::into_inner_unchecked(st) });
    // SAFETY: per the contract the area exists and nothing else touches it
    // until init returns.
    let pn = unsafe { &mut *bindings::ipcluster_pernet(net) };
    pn.state = st.cast();
    pn.hooks = hook::ops(st.cast());
    // SAFETY: `net` is live and its area allocated; the hooks that batch
    // are not registered yet.
    let mut err = unsafe { bindings::ipcluster_batch_init(net) };
    if err == 0 {
        // SAFETY: the ops live in the per-netns area, which outlives them:
        // ipcluster_net_exit unregisters them before the core frees it.
        err = unsafe {
            bindings::nf_register_net_hooks(net, pn.hooks.as_ptr(), hook::count() as u32)
        };
    }
    if err == 0 {
        // SAFETY: `net` is live and its state set: the notifier may call
        // ipcluster_dev_gone from now on.
        err = unsafe { bindings::ipcluster_netdev_notifier(net, true) };
        if err != 0 {
            // SAFETY: registered just above.
            unsafe {
                bindings::nf_unregister_net_hooks(net, pn.hooks.as_ptr(), hook::count() as u32)
            };
        }
    }
    if err != 0 {
        // SAFETY: nothing batches: the hooks are not registered (a batch
        // never made is skipped).
        unsafe { bindings::ipcluster_batch_exit(net) };
        // SAFETY: the hooks are not live; `st` came from into_raw above.
        drop(unsafe { KBox::from_raw(st) });
        pn.state = core::ptr::null_mut();
    }
    err
}

/// # Safety
///
/// Called by the netdevice notifier only, under RTNL, for interface
/// `ifindex` of `net` on its way out, while the notifier (registered by
/// [`ipcluster_net_init`]) is on.
#[no_mangle]
unsafe extern "C" fn ipcluster_dev_gone(net: *mut bindings::net, ifindex: c_int) {
    // SAFETY: the notifier is on only between a successful init and the
    // pre-exit (which turns it off first), so the state is there; RTNL is
    // held.
    let (st, rtnl) = unsafe { (state(net), Rtnl::held()) };
    control::dev_gone(st, &rtnl, ifindex);
}

/// # Safety
///
/// Called by the pernet core only, once per successful
/// [`ipcluster_net_init`], before [`ipcluster_net_exit`].
///
/// The hooks go here, not in the exit: unregistering a netfilter hook does
/// not wait for the CPUs already running it, and the pernet core waits for
/// RCU readers between the pre-exits and the exits. Then nothing runs a
/// hook (nor the netlink batch) with this namespace's state when the exit
/// frees it.
#[no_mangle]
unsafe extern "C" fn ipcluster_net_pre_exit(net: *mut bindings::net) {
    // SAFETY: the area is still allocated (see above).
    let pn = unsafe { &mut *bindings::ipcluster_pernet(net) };
    // SAFETY: registered by ipcluster_net_init. Unregistering replays
    // NETDEV_UNREGISTER for the interfaces still here: their clusters go,
    // and their ingress hooks with them.
    unsafe { bindings::ipcluster_netdev_notifier(net, false) };
    // SAFETY: these are the ops registered by ipcluster_net_init.
    unsafe { bindings::nf_unregister_net_hooks(net, pn.hooks.as_ptr(), hook::count() as u32) };
}

/// # Safety
///
/// Called by the pernet core only, once per successful
/// [`ipcluster_net_init`], after [`ipcluster_net_pre_exit`] and a grace
/// period, before it frees the area.
#[no_mangle]
unsafe extern "C" fn ipcluster_net_exit(net: *mut bindings::net) {
    // SAFETY: the area is still allocated (see above).
    let pn = unsafe { &mut *bindings::ipcluster_pernet(net) };
    // SAFETY: made by init; the hooks that batched are gone and their
    // readers done (pre-exit, then the core's grace period).
    unsafe { bindings::ipcluster_batch_exit(net) };
    let st = pn.state.cast::<NetState>();
    // SAFETY: set by a successful init; netlink requests that could still
    // see it were drained by genl_unregister_family or hold the namespace
    // alive (so we would not be here).
    control::shutdown(unsafe { &*st });
    // SAFETY: from KBox::into_raw in init; no hook or request uses it now.
    drop(unsafe { KBox::from_raw(st) });
    pn.state = core::ptr::null_mut();
}
