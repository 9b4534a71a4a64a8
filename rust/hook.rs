// SPDX-License-Identifier: GPL-2.0
//! The netfilter entry points: C calls these, they hand safe views of the
//! packet to [`crate::filter`] and turn its verdict into netfilter's.

use crate::bindings;
use crate::cluster::NetState;
use crate::export;
use crate::filter::{self, Verdict};
use crate::netns::{Net, Rtnl};
use crate::rcu::RcuGuard;
use crate::skb::Skb;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;

type Filter = fn(&NetState, &RcuGuard, &mut Skb<'_>, i32) -> Verdict;

/// Runs `f` on a hooked packet.
///
/// # Safety
///
/// Netfilter calls hooks under `rcu_read_lock()` with a valid `skb` whose
/// data is at the network header, a valid `state`, and the `priv` of our
/// ops: the namespace's NetState, which outlives the registration.
unsafe fn run(
    priv_: *mut c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
    out: bool,
    f: Filter,
) -> c_uint {
    let raw = skb;
    // SAFETY: see the contract above.
    let (st, rcu, ifindex) = unsafe {
        (
            &*priv_.cast::<NetState>(),
            RcuGuard::assume_held(),
            bindings::ipcluster_hook_ifindex(state, out),
        )
    };
    // The safe view of the packet lives only as long as the filter runs.
    // SAFETY: `raw` is the hook's live skb (see the contract above).
    let verdict = match unsafe { Skb::from_raw(raw) } {
        Some(mut skb) => f(st, &rcu, &mut skb, ifindex),
        None => return bindings::NF_ACCEPT,
    };
    match verdict {
        Verdict::Accept => bindings::NF_ACCEPT,
        Verdict::Drop => bindings::NF_DROP,
        // NF_QUEUE_NR(q): the queue number in the verdict's upper half.
        Verdict::Queue(q) => bindings::NF_QUEUE | (u32::from(q) << 16),
        Verdict::Forward(mac) => {
            // SAFETY: the hook owns `raw` and no view of it is left; the
            // helper consumes it when it succeeds (then it is stolen from
            // netfilter) and leaves it untouched when it fails.
            let sent = unsafe { bindings::ipcluster_skb_redirect(raw, mac.as_ptr()) };
            if sent == 0 {
                bindings::NF_STOLEN
            } else {
                bindings::NF_DROP
            }
        }
    }
}

/// Defines a netfilter hook function that runs a filter through [`run`];
/// `out` picks the device the filter sees (output hooks: `state->out`).
macro_rules! hook_fn {
    ($name:ident, $out:expr, $filter:expr) => {
        /// # Safety
        ///
        /// Netfilter's hook contract, see [`run`].
        unsafe extern "C" fn $name(
            p: *mut c_void,
            skb: *mut bindings::sk_buff,
            s: *const bindings::nf_hook_state,
        ) -> c_uint {
            // SAFETY: netfilter's hook contract, see `run`.
            unsafe { run(p, skb, s, $out, $filter) }
        }
    };
}

hook_fn!(ipv4_in, false, filter::ipv4);
hook_fn!(ipv6_in, false, filter::ipv6);
hook_fn!(arp_out, true, filter::arp_out);
hook_fn!(ipv4_out, true, export::ipv4_out);
hook_fn!(ipv6_out, true, export::ipv6_out);
hook_fn!(netdev_in, false, filter::ingress);

type HookFn = unsafe extern "C" fn(
    *mut c_void,
    *mut bindings::sk_buff,
    *const bindings::nf_hook_state,
) -> c_uint;

fn op(
    hook: HookFn,
    pf: u32,
    hooknum: u32,
    priority: c_int,
    priv_: *mut c_void,
) -> bindings::nf_hook_ops {
    bindings::nf_hook_ops {
        hook: Some(hook),
        pf: pf as u8,
        hooknum,
        priority,
        priv_,
        ..Default::default()
    }
}

/// The namespace's hooks, `priv_` being its NetState.
pub(crate) fn ops(priv_: *mut c_void) -> [bindings::nf_hook_ops; 5] {
    [
        // Right after defragmentation, before conntrack: a dropped packet
        // never costs a conntrack entry, and every packet we hash is whole.
        op(
            ipv4_in,
            bindings::NFPROTO_IPV4,
            bindings::nf_inet_hooks_NF_INET_PRE_ROUTING,
            bindings::nf_ip_hook_priorities_NF_IP_PRI_CONNTRACK_DEFRAG + 1,
            priv_,
        ),
        op(
            ipv6_in,
            bindings::NFPROTO_IPV6,
            bindings::nf_inet_hooks_NF_INET_PRE_ROUTING,
            bindings::nf_ip6_hook_priorities_NF_IP6_PRI_CONNTRACK_DEFRAG + 1,
            priv_,
        ),
        // Output: the TCP state of connections to a cluster address
        // (export.rs); neighbour discovery and ARP sent for a cluster
        // address carry the cluster MAC. ARP last: kernels without ARP
        // hooks register only the first four (see `count`).
        op(
            ipv4_out,
            bindings::NFPROTO_IPV4,
            bindings::nf_inet_hooks_NF_INET_LOCAL_OUT,
            bindings::nf_ip_hook_priorities_NF_IP_PRI_LAST,
            priv_,
        ),
        op(
            ipv6_out,
            bindings::NFPROTO_IPV6,
            bindings::nf_inet_hooks_NF_INET_LOCAL_OUT,
            bindings::nf_ip6_hook_priorities_NF_IP6_PRI_LAST,
            priv_,
        ),
        op(
            arp_out,
            bindings::NFPROTO_ARP,
            bindings::NF_ARP_OUT,
            0,
            priv_,
        ),
    ]
}

/// How many of [`ops`] this kernel can take: all but the ARP hook where
/// netfilter was built without ARP hooks (CONFIG_NETFILTER_FAMILY_ARP).
pub(crate) fn count() -> usize {
    // SAFETY: reads a compile-time constant.
    if unsafe { bindings::ipcluster_have_arp_hooks() } {
        5
    } else {
        4
    }
}

/// The netdev ingress hook of one interface (multicast and unicast modes), registered
/// while this lives. It must go, under RTNL, before the interface does:
/// the namespace's netdevice notifier sees to that.
pub(crate) struct Ingress {
    pub(crate) ifindex: i32,
    net: Net,
    ops: KBox<bindings::nf_hook_ops>,
}

impl Ingress {
    /// Hooks interface `ifindex`'s ingress; `priv_` is the namespace's
    /// NetState, which outlives this.
    pub(crate) fn register(
        _rtnl: &Rtnl,
        net: Net,
        ifindex: i32,
        priv_: *mut c_void,
    ) -> Result<Self> {
        let mut ops = KBox::new(
            op(
                netdev_in,
                bindings::NFPROTO_NETDEV,
                bindings::nf_dev_hooks_NF_NETDEV_INGRESS,
                0,
                priv_,
            ),
            GFP_KERNEL,
        )?;
        // SAFETY: RTNL is held (`_rtnl`); the ops are boxed, so they stay
        // where they are until `drop` unregisters them.
        to_result(unsafe {
            bindings::ipcluster_ingress_register(net.as_ptr(), ifindex, &mut *ops)
        })?;
        Ok(Ingress { ifindex, net, ops })
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        // SAFETY: registered in `register`, on an interface that is still
        // there (see the type's invariant); the glue waits for the hook's
        // readers (a grace period) before returning, so the ops may go.
        unsafe { bindings::ipcluster_ingress_unregister(self.net.as_ptr(), &mut *self.ops) }
    }
}
