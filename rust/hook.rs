// SPDX-License-Identifier: GPL-2.0
//! The namespace's netfilter hooks: which filter runs where, and how the
//! work-set filter and the TCP state export compose on one packet.

use crate::cluster::NetState;
use crate::export;
use crate::filter;
use crate::sys::nf::{Hook, HookOps, Place, Verdict, NET_HOOKS};
use crate::sys::rcu::RcuGuard;
use crate::sys::skb::Skb;

/// IPv4 PRE_ROUTING: the work-set filter; then, for a segment kept for an
/// output-commit cluster, the export of the bytes it carries.
struct Ipv4In;
/// IPv6 PRE_ROUTING, as [`Ipv4In`].
struct Ipv6In;
/// IPv4 LOCAL_OUT: the TCP state export.
struct Ipv4Out;
/// IPv6 LOCAL_OUT: the neighbour discovery rewrites, then the export.
struct Ipv6Out;
/// ARP output: the cluster MAC in ARP sent for a cluster address.
struct ArpOut;

/// The filter, then the export of what a kept segment carries.
fn prerouting(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32, v6: bool) -> Verdict {
    let (v, kept) = filter::prerouting(st, rcu, skb, ifindex, v6);
    if let Some(c) = kept.filter(|c| c.cfg.commit_queue.is_some()) {
        export::received(st, c, skb, v6);
    }
    v
}

impl Hook for Ipv4In {
    type State = NetState;
    const OUT: bool = false;

    fn run(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
        prerouting(st, rcu, skb, ifindex, false)
    }
}

impl Hook for Ipv6In {
    type State = NetState;
    const OUT: bool = false;

    fn run(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
        prerouting(st, rcu, skb, ifindex, true)
    }
}

impl Hook for Ipv4Out {
    type State = NetState;
    const OUT: bool = true;

    fn run(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
        export::segment(st, rcu, skb, ifindex, false)
    }
}

impl Hook for Ipv6Out {
    type State = NetState;
    const OUT: bool = true;

    fn run(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
        match filter::ndisc_out(st, rcu, skb, ifindex) {
            Verdict::Accept => export::segment(st, rcu, skb, ifindex, true),
            v => v,
        }
    }
}

impl Hook for ArpOut {
    type State = NetState;
    const OUT: bool = true;

    fn run(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
        filter::arp_out(st, rcu, skb, ifindex)
    }
}

/// The hooks every namespace gets. The ingress hook of interfaces with
/// clusters is registered with its clusters (`control`), not here.
pub(crate) fn ops() -> [HookOps; NET_HOOKS] {
    [
        // Right after defragmentation, before conntrack: a dropped packet
        // never costs a conntrack entry, and every packet we hash is whole.
        HookOps::new::<Ipv4In>(Place::IPV4_AFTER_DEFRAG),
        HookOps::new::<Ipv6In>(Place::IPV6_AFTER_DEFRAG),
        // Output, last: the TCP state of connections to a cluster address
        // as the segment leaves; neighbour discovery and ARP sent for a
        // cluster address carry the cluster MAC. ARP last: kernels without
        // ARP hooks register only the first four.
        HookOps::new::<Ipv4Out>(Place::IPV4_LOCAL_OUT_LAST),
        HookOps::new::<Ipv6Out>(Place::IPV6_LOCAL_OUT_LAST),
        HookOps::new::<ArpOut>(Place::ARP_OUT),
    ]
}
