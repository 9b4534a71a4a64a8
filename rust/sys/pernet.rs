// SPDX-License-Identifier: GPL-2.0
//! Per network namespace life: every namespace gets a [`Pernet`] state and
//! that state's netfilter hooks when it is created (or when the module
//! loads), and loses both before it goes away (or when the module
//! unloads). The pernet core calls the entry points here; the state's
//! type says what to make and what to undo. An interface's ingress hook
//! reads its namespace's state too, so its registration ([`Ingress`])
//! lives here, with the state's life. So does the probe that tells the
//! state of every TCP connection's end ([`tcp_close`]), which reads it too.

use super::bindings;
use super::net::{Net, Rtnl};
use super::nf::{self, Hook, HookOps, Place, NET_HOOKS};
use super::rcu::RcuGuard;
use super::tcp_close::{self, Ended};
use core::any::TypeId;
use core::pin::Pin;
use kernel::error::to_result;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// The state ipcluster keeps for each network namespace.
///
/// # Safety
///
/// An implementor keeps every [`Ingress`] it registers for a namespace
/// in that namespace's state (or drops it sooner), so that none outlives
/// the state its hook reads.
pub(crate) unsafe trait Pernet: Send + Sync + Sized + 'static {
    /// The state of a new namespace.
    fn new(net: Net) -> impl PinInit<Self>;
    /// The namespace's netfilter hooks, in the order [`NET_HOOKS`] gives
    /// (the ARP hook last: kernels without ARP hooks skip it).
    fn hooks() -> [HookOps; NET_HOOKS];
    /// Interface `ifindex` of the namespace is going away, or moving to
    /// another namespace; RTNL is held.
    fn dev_gone(&self, rtnl: &Rtnl, ifindex: i32);
    /// An established (or closing) TCP connection of the namespace has
    /// ended: its socket left for TCP_CLOSE. Any context but hard IRQ,
    /// the socket locked; must not sleep.
    fn tcp_closed(&self, rcu: &RcuGuard, c: &Ended);
    /// The namespace, or the module, is going away: undo what the state
    /// set up. Its hooks are gone and no netlink request can reach it.
    fn exit(&self);
}

/// The type of the registered state: [`state`] answers only for it.
static mut STATE: Option<TypeId> = None;

/// Registers the pernet operations for state `T`, then the netlink
/// family, then the TCP close probe. Module init only, once.
pub(crate) fn register<T: Pernet>() -> Result {
    // SAFETY: module init runs once, before anything that reads STATE can
    // run: the pernet core and generic netlink call us only once the
    // registration below is made.
    unsafe { STATE = Some(TypeId::of::<T>()) };
    let ops = bindings::ipcluster_pernet_ops {
        init: Some(net_init::<T>),
        pre_exit: Some(net_pre_exit::<T>),
        exit: Some(net_exit::<T>),
        dev_gone: Some(dev_gone::<T>),
    };
    // SAFETY: called once from module init; the C side copies `ops`.
    to_result(unsafe { bindings::ipcluster_register(&ops) })?;
    // Every namespace has its state now, and every new one gets it
    // before the probe can see it (`net_init`).
    match tcp_close::register::<T>() {
        Err(e) if e.to_errno() == -(kernel::bindings::EOPNOTSUPP as c_int) => {
            pr_warn!("no tracepoints in this kernel: Closed only for ends a segment shows\n");
            Ok(())
        }
        Err(e) => {
            // SAFETY: registered just above; nothing else was.
            unsafe { bindings::ipcluster_unregister() };
            Err(e)
        }
        Ok(()) => Ok(()),
    }
}

/// Unregisters the TCP close probe (waiting for those running), the
/// netlink family (waiting for requests in flight), then the pernet
/// operations: every namespace's state goes. Module exit only, after a
/// successful [`register`].
pub(crate) fn unregister() {
    tcp_close::unregister();
    // SAFETY: module exit, after a successful register().
    unsafe { bindings::ipcluster_unregister() }
}

/// The state of `net` as a `T`, if `T` is the registered type and the
/// state is there.
///
/// # Safety
///
/// `net` is a live namespace whose state, if made, is not freed during
/// `'a` (the caller holds the namespace in a request, a dump or a
/// callback that runs before its exit).
pub(super) unsafe fn state<'a, T: 'static>(net: *mut bindings::net) -> Option<&'a T> {
    // SAFETY: written once in register(), before any caller can exist.
    let registered = unsafe { STATE };
    if registered != Some(TypeId::of::<T>()) {
        return None;
    }
    // SAFETY: per the contract the area exists; `state` is null or was set
    // by net_init to a pinned `T` (the registered type, checked above),
    // freed only by net_exit.
    unsafe {
        (*bindings::ipcluster_pernet(net))
            .state
            .cast::<T>()
            .as_ref()
    }
}

/// The state of `net` as a `T`, as a pointer for a hook's `priv`.
fn state_ptr<T: 'static>(net: Net) -> Option<*const T> {
    // SAFETY: `net` is live (Net's invariant); the reference is turned
    // straight back into a pointer, whose users keep their own promises.
    unsafe { state::<T>(net.as_ptr()) }.map(core::ptr::from_ref)
}

/// Makes `net`'s state, its batch, hooks and netdevice notifier.
///
/// # Safety
///
/// Called by the pernet core only, with a live `net` whose zeroed area it
/// has just allocated.
unsafe extern "C" fn net_init<T: Pernet>(raw: *mut bindings::net) -> c_int {
    // SAFETY: a live namespace, which outlives its state (freed in
    // net_exit, before the namespace is).
    let Some(net) = (unsafe { Net::from_raw(raw) }) else {
        return EINVAL.to_errno();
    };
    let st = match KBox::pin_init(T::new(net), GFP_KERNEL) {
        Ok(st) => st,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: the state is never moved out of the box: the raw pointer is
    // turned back into a box only to be dropped, in net_exit.
    let st = KBox::into_raw(unsafe { Pin::into_inner_unchecked(st) });
    // SAFETY: per the contract the area exists, and nothing else touches
    // it until init returns.
    let pn = unsafe { &mut *bindings::ipcluster_pernet(raw) };
    pn.state = st.cast();
    let mut err = 0;
    for (slot, ops) in pn.hooks.iter_mut().zip(T::hooks()) {
        match ops.bind(st.cast_const()) {
            Some(ops) => *slot = ops,
            None => err = EINVAL.to_errno(),
        }
    }
    if err == 0 {
        // SAFETY: `raw` is live and its area allocated; the hooks that
        // batch are not registered yet.
        err = unsafe { bindings::ipcluster_batch_init(raw) };
    }
    if err == 0 {
        // SAFETY: the ops live in the area, which outlives them
        // (net_pre_exit unregisters them), and their state is set.
        err = unsafe {
            bindings::nf_register_net_hooks(raw, pn.hooks.as_ptr(), nf::net_hook_count())
        };
    }
    if err == 0 {
        // SAFETY: `raw` is live and its state set: the notifier may call
        // dev_gone from now on.
        err = unsafe { bindings::ipcluster_netdev_notifier(raw, true) };
        if err != 0 {
            // SAFETY: registered just above.
            unsafe {
                bindings::nf_unregister_net_hooks(raw, pn.hooks.as_ptr(), nf::net_hook_count())
            };
        }
    }
    if err == 0 {
        // SAFETY: the area is allocated and the state complete, batch
        // included; net_pre_exit takes it away again before the core's
        // grace period and net_exit.
        unsafe { tcp_close::publish::<T>(raw, Some(st.cast_const())) };
    }
    if err != 0 {
        // Hooks registered and unregistered again may still run on other
        // CPUs (a namespace that lives already gets its state when the
        // module loads): unregistering does not wait for them.
        // SAFETY: process context (the pernet core's init), no lock held
        // that a reader could wait for.
        unsafe { bindings::synchronize_rcu() };
        // SAFETY: nothing batches: the hooks are gone and their readers
        // done (a batch never made is skipped).
        unsafe { bindings::ipcluster_batch_exit(raw) };
        pn.state = core::ptr::null_mut();
        // SAFETY: no hook, notifier or request can see `st`; it came from
        // into_raw above.
        drop(unsafe { KBox::from_raw(st) });
    }
    err
}

/// Interface `ifindex` of `net` is going away.
///
/// # Safety
///
/// Called by the netdevice notifier only, under RTNL, for interface
/// `ifindex` of `net` on its way out, while the notifier (registered by
/// [`net_init`]) is on.
unsafe extern "C" fn dev_gone<T: Pernet>(net: *mut bindings::net, ifindex: c_int) {
    // SAFETY: the notifier is on only between a successful init and the
    // pre-exit (which turns it off first), so the state is there; RTNL is
    // held for the call.
    let (st, rtnl) = unsafe { (state::<T>(net), Rtnl::held()) };
    if let Some(st) = st {
        st.dev_gone(&rtnl, ifindex);
    }
}

/// Turns off `net`'s TCP close probe, notifier and hooks.
///
/// # Safety
///
/// Called by the pernet core only, once per successful [`net_init`],
/// before [`net_exit`].
///
/// The hooks go here, not in the exit: unregistering a netfilter hook does
/// not wait for the CPUs already running it, and the pernet core waits for
/// RCU readers between the pre-exits and the exits. Then nothing runs a
/// hook (nor the netlink batch) with this namespace's state when the exit
/// frees it.
unsafe extern "C" fn net_pre_exit<T: Pernet>(net: *mut bindings::net) {
    // SAFETY: the area is still allocated (see above); the TCP close
    // probes still running with the state finish within the grace period
    // the core waits before net_exit.
    unsafe { tcp_close::publish::<T>(net, None) };
    // SAFETY: the area is still allocated (see above).
    let pn = unsafe { &mut *bindings::ipcluster_pernet(net) };
    // SAFETY: registered by net_init. Unregistering replays
    // NETDEV_UNREGISTER for the interfaces still here: their clusters go,
    // and their ingress hooks with them.
    unsafe { bindings::ipcluster_netdev_notifier(net, false) };
    // SAFETY: these are the ops registered by net_init.
    unsafe { bindings::nf_unregister_net_hooks(net, pn.hooks.as_ptr(), nf::net_hook_count()) };
}

/// Frees `net`'s batch and state.
///
/// # Safety
///
/// Called by the pernet core only, once per successful [`net_init`],
/// after [`net_pre_exit`] and a grace period, before it frees the area.
unsafe extern "C" fn net_exit<T: Pernet>(net: *mut bindings::net) {
    // SAFETY: the area is still allocated (see above).
    let pn = unsafe { &mut *bindings::ipcluster_pernet(net) };
    // SAFETY: made by init; the hooks that batched are gone and their
    // readers done (pre-exit, then the core's grace period).
    unsafe { bindings::ipcluster_batch_exit(net) };
    let st = pn.state.cast::<T>();
    // SAFETY: set by a successful init to a `T`; netlink requests that
    // could still see it were drained by the family's unregistration or
    // hold the namespace alive (so we would not be here).
    unsafe { &*st }.exit();
    pn.state = core::ptr::null_mut();
    // SAFETY: from KBox::into_raw in init; no hook or request uses it now.
    drop(unsafe { KBox::from_raw(st) });
}

/// The netdev ingress hook of one interface, registered while this lives.
/// It must go, under RTNL, before the interface does: the namespace's
/// netdevice notifier sees to that (it removes the interface's clusters).
///
/// # Invariants
///
/// `ops` is registered on interface `ifindex` of `net`, boxed so that it
/// stays where netfilter saw it until `drop` unregisters it. Its `priv` is
/// `net`'s [`Pernet`] state, which outlives this: an `Ingress` lives only
/// in that state (the [`Pernet`] implementor's promise), and the state is
/// freed only in the namespace's exit.
pub(crate) struct Ingress {
    ifindex: i32,
    net: Net,
    ops: KBox<bindings::nf_hook_ops>,
}

// SAFETY: the ops are only handed to netfilter, which may be called from
// any thread (process context, under RTNL); `&Ingress` reads only the
// interface index.
unsafe impl Send for Ingress {}
// SAFETY: as above.
unsafe impl Sync for Ingress {}

impl Ingress {
    /// Hooks interface `ifindex`'s ingress with `H`, whose state is the
    /// namespace's.
    pub(crate) fn register<H: Hook<State: Pernet>>(
        _rtnl: &Rtnl,
        net: Net,
        ifindex: i32,
    ) -> Result<Self> {
        let st = state_ptr::<H::State>(net).ok_or(EINVAL)?;
        let ops = HookOps::new::<H>(Place::NETDEV_INGRESS)
            .bind(st)
            .ok_or(EINVAL)?;
        let mut ops = KBox::new(ops, GFP_KERNEL)?;
        // SAFETY: RTNL is held (`_rtnl`); the ops are boxed, so they stay
        // where they are until `drop` unregisters them; their state is the
        // namespace's, which outlives them (see the type's invariants).
        to_result(unsafe {
            bindings::ipcluster_ingress_register(net.as_ptr(), ifindex, &mut *ops)
        })?;
        Ok(Ingress { ifindex, net, ops })
    }

    /// The interface hooked.
    pub(crate) fn ifindex(&self) -> i32 {
        self.ifindex
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        // SAFETY: registered in `register`, on an interface that is still
        // there (the type's invariant); the glue waits for the hook's
        // readers (a grace period) before returning, so the ops may go.
        unsafe { bindings::ipcluster_ingress_unregister(self.net.as_ptr(), &mut *self.ops) }
    }
}
