// SPDX-License-Identifier: GPL-2.0
//! Netfilter hooks: a [`Hook`] is a Rust function over a safe view of the
//! packet and the namespace's state; this module turns it into the C
//! entry point netfilter calls, and its [`Verdict`] into netfilter's.

use super::bindings;
use super::rcu::RcuGuard;
use super::skb::Skb;
use core::any::TypeId;
use kernel::ffi::{c_int, c_uint, c_void};

/// How many hooks every namespace has: IPv4 and IPv6 PRE_ROUTING and
/// LOCAL_OUT, then ARP OUT.
pub(crate) const NET_HOOKS: usize = bindings::IPCLUSTER_NET_HOOKS as usize;

/// What becomes of a packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let it through.
    Accept,
    /// Drop it, silently.
    Drop,
    /// Send it, as it is, to this MAC on the interface it came in on.
    Forward([u8; 6]),
    /// Pass it to this netfilter queue (output commit).
    Queue(u16),
}

/// A netfilter hook function.
pub(crate) trait Hook {
    /// The per-namespace state the hook reads (see `super::pernet`).
    type State: Sync + 'static;
    /// Whether the hook is told the output device (else the input one).
    const OUT: bool;
    /// Judges one packet, seen on interface `ifindex`.
    fn run(st: &Self::State, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict;
}

/// Where a hook runs: protocol family, hook point and priority.
pub(crate) struct Place {
    pf: u8,
    hooknum: c_uint,
    priority: c_int,
}

impl Place {
    /// IPv4 PRE_ROUTING, right after defragmentation (before conntrack).
    pub(crate) const IPV4_AFTER_DEFRAG: Place = Place {
        pf: bindings::NFPROTO_IPV4 as u8,
        hooknum: bindings::nf_inet_hooks_NF_INET_PRE_ROUTING,
        priority: bindings::nf_ip_hook_priorities_NF_IP_PRI_CONNTRACK_DEFRAG + 1,
    };
    /// IPv6 PRE_ROUTING, right after defragmentation (before conntrack).
    pub(crate) const IPV6_AFTER_DEFRAG: Place = Place {
        pf: bindings::NFPROTO_IPV6 as u8,
        hooknum: bindings::nf_inet_hooks_NF_INET_PRE_ROUTING,
        priority: bindings::nf_ip6_hook_priorities_NF_IP6_PRI_CONNTRACK_DEFRAG + 1,
    };
    /// IPv4 LOCAL_OUT, after every other hook.
    pub(crate) const IPV4_LOCAL_OUT_LAST: Place = Place {
        pf: bindings::NFPROTO_IPV4 as u8,
        hooknum: bindings::nf_inet_hooks_NF_INET_LOCAL_OUT,
        priority: bindings::nf_ip_hook_priorities_NF_IP_PRI_LAST,
    };
    /// IPv6 LOCAL_OUT, after every other hook.
    pub(crate) const IPV6_LOCAL_OUT_LAST: Place = Place {
        pf: bindings::NFPROTO_IPV6 as u8,
        hooknum: bindings::nf_inet_hooks_NF_INET_LOCAL_OUT,
        priority: bindings::nf_ip6_hook_priorities_NF_IP6_PRI_LAST,
    };
    /// ARP output.
    pub(crate) const ARP_OUT: Place = Place {
        pf: bindings::NFPROTO_ARP as u8,
        hooknum: bindings::NF_ARP_OUT,
        priority: 0,
    };
    /// An interface's netdev ingress.
    pub(crate) const NETDEV_INGRESS: Place = Place {
        pf: bindings::NFPROTO_NETDEV as u8,
        hooknum: bindings::nf_dev_hooks_NF_NETDEV_INGRESS,
        priority: 0,
    };
}

/// Runs hook `H` on a hooked packet.
///
/// # Safety
///
/// Netfilter calls hooks under `rcu_read_lock()` with a valid `skb` whose
/// network header is set, a valid `state`, and the `priv` of the ops,
/// which [`HookOps::bind`] set to a live `H::State` that outlives the
/// registration.
unsafe extern "C" fn entry<H: Hook>(
    priv_: *mut c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> c_uint {
    // SAFETY: see the contract above.
    let (st, rcu, ifindex) = unsafe {
        (
            &*priv_.cast::<H::State>(),
            RcuGuard::assume_held(),
            bindings::ipcluster_hook_ifindex(state, H::OUT),
        )
    };
    // The safe view of the packet lives only as long as the hook runs.
    // SAFETY: the hook's live skb, owned by this call (see the contract).
    let verdict = match unsafe { Skb::from_raw(skb) } {
        Some(mut view) => H::run(st, &rcu, &mut view, ifindex),
        None => return bindings::NF_ACCEPT,
    };
    match verdict {
        Verdict::Accept => bindings::NF_ACCEPT,
        Verdict::Drop => bindings::NF_DROP,
        // NF_QUEUE_NR(q): the queue number in the verdict's upper half.
        Verdict::Queue(q) => bindings::NF_QUEUE | (u32::from(q) << 16),
        Verdict::Forward(mac) => {
            // SAFETY: the hook owns `skb` and no view of it is left; the
            // helper consumes it when it succeeds (then it is stolen from
            // netfilter) and leaves it untouched when it fails.
            let sent = unsafe { bindings::ipcluster_skb_redirect(skb, mac.as_ptr()) };
            if sent == 0 {
                bindings::NF_STOLEN
            } else {
                bindings::NF_DROP
            }
        }
    }
}

/// A hook's registration record, not yet bound to a state.
///
/// # Invariants
///
/// `ops.hook` is `entry::<H>` for a hook `H` whose state type is `state`,
/// and `ops.priv_` is null until [`HookOps::bind`].
pub(crate) struct HookOps {
    ops: bindings::nf_hook_ops,
    state: TypeId,
}

impl HookOps {
    /// Hook `H` at `place`.
    pub(crate) fn new<H: Hook>(place: Place) -> Self {
        HookOps {
            ops: bindings::nf_hook_ops {
                hook: Some(entry::<H>),
                pf: place.pf,
                hooknum: place.hooknum,
                priority: place.priority,
                ..Default::default()
            },
            state: TypeId::of::<H::State>(),
        }
    }

    /// The C record with `st` as the hook's state; `None` if the hook
    /// wants another type of state.
    pub(super) fn bind<T: 'static>(self, st: *const T) -> Option<bindings::nf_hook_ops> {
        (self.state == TypeId::of::<T>()).then_some(bindings::nf_hook_ops {
            priv_: st.cast_mut().cast(),
            ..self.ops
        })
    }
}

/// How many of the namespace hooks this kernel can take: all but the ARP
/// hook (the last) where netfilter was built without ARP hooks
/// (CONFIG_NETFILTER_FAMILY_ARP).
pub(super) fn net_hook_count() -> u32 {
    // SAFETY: reads a compile-time constant.
    if unsafe { bindings::ipcluster_have_arp_hooks() } {
        NET_HOOKS as u32
    } else {
        NET_HOOKS as u32 - 1
    }
}
