// SPDX-License-Identifier: GPL-2.0
//! The work-set filter: per packet, which cluster it is for, which bucket
//! its flow hashes to, and whether this member owns that bucket. Also the
//! neighbour rewrites that make clients send to the cluster MAC.

use crate::cluster::{Cluster, ClusterSet, Delivery, NetState, Table};
use crate::shared::hash::IPPROTO_TCP;
use crate::shared::packet::{self, addr_words, Bytes, Parsed, IPPROTO_ICMPV6};
use crate::sys::nf::{Hook, Verdict};
use crate::sys::percpu::Fate;
use crate::sys::rcu::RcuGuard;
use crate::sys::skb::Skb;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// PRE_ROUTING: keep a packet for a cluster address only if its bucket is
/// ours; on an interface marked for the forwarding filter, keep a packet
/// routed onwards only if its symmetric bucket is ours, so that both
/// directions of a flow cross one member. Everything else passes untouched.
///
/// Returns the verdict and, when the packet is for a cluster address and
/// is kept, that cluster (for the export of what it carries).
pub(crate) fn prerouting<'a>(
    st: &'a NetState,
    rcu: &'a RcuGuard,
    skb: &mut Skb<'_>,
    ifindex: i32,
    v6: bool,
) -> (Verdict, Option<&'a Cluster>) {
    let Some(set) = st.read(rcu) else {
        return (Verdict::Accept, None);
    };
    let Some((dst, cluster)) = addressed(set, skb, ifindex, v6) else {
        return (Verdict::Accept, None);
    };
    if let Some(c) = cluster {
        let v = judge(c, rcu, skb, v6, false);
        return (v, (v == Verdict::Accept).then_some(c));
    }
    let dst = if v6 { &dst[..] } else { &dst[..4] };
    let v = match set.forwarding_on(ifindex) {
        Some(c) if st.net.forwards_to(dst) => judge(c, rcu, skb, v6, true),
        _ => Verdict::Accept,
    };
    (v, None)
}

/// The packet's destination address (IPv4 in the first 4 bytes) and the
/// cluster of that address on `ifindex`, if any; `None` if the header is
/// too short to say. The common case, traffic for no cluster, costs this
/// one header read.
fn addressed<'s>(
    set: &'s ClusterSet,
    skb: &Skb<'_>,
    ifindex: i32,
    v6: bool,
) -> Option<([u8; 16], Option<&'s Cluster>)> {
    let mut dst = [0u8; 16];
    let cluster = if v6 {
        dst = skb.read::<16>(24)?;
        set.by_addr6(ifindex, &addr_words(&dst))
    } else {
        let d = skb.read::<4>(16)?;
        dst[..4].copy_from_slice(&d);
        set.by_addr4(ifindex, u32::from_be_bytes(d))
    };
    Some((dst, cluster))
}

/// The verdict on a packet of cluster `c`, counted in its bucket; a
/// packet that does not parse is dropped and counted as malformed.
fn judge(c: &Cluster, rcu: &RcuGuard, skb: &mut Skb<'_>, v6: bool, forwarded: bool) -> Verdict {
    let l3 = if v6 {
        packet::ipv6(skb, 0)
    } else {
        packet::ipv4(skb, 0)
    };
    let table = c.table.get(rcu);
    if let Ok(l3) = &l3 {
        // Forward mode: the forwarder answers neighbour discovery for the
        // cluster address itself (the others' answers never leave them).
        if v6 && c.cfg.delivery == Delivery::Forward && table.is_some_and(|t| t.forwards()) {
            let icmp_type = skb.read::<1>(l3.l4).map(|t| t[0]);
            if l3.proto == IPPROTO_ICMPV6 && matches!(icmp_type, Some(135 | 136)) {
                skb.set_host();
                return Verdict::Accept;
            }
        }
    }
    let Ok(parsed) = l3.and_then(|l3| packet::parse(skb, &l3, forwarded, v6)) else {
        c.count_malformed();
        return Verdict::Drop;
    };
    let bucket = c.bucket(&parsed.flow);
    let (fate, verdict) = if keeps(table, rcu, skb, &parsed, bucket, v6, forwarded) {
        skb.set_host();
        (Fate::Kept, Verdict::Accept)
    } else if let Some(mac) = table.and_then(|t| t.forward_to(bucket)) {
        (Fate::Forwarded, Verdict::Forward(*mac))
    } else {
        (Fate::Dropped, Verdict::Drop)
    };
    c.stats.count(bucket, skb.len(), parsed.syn, fate);
    verdict
}

/// Whether this member keeps a packet of `bucket`.
fn keeps(
    table: Option<&Table>,
    rcu: &RcuGuard,
    skb: &Skb<'_>,
    parsed: &Parsed,
    bucket: u32,
    v6: bool,
    forwarded: bool,
) -> bool {
    match table {
        // A bucket that changed hands drains: the connections its old owner
        // holds stay there, the new owner takes the new ones. A segment that
        // opens a connection follows the table; any other TCP segment goes
        // to the member whose socket holds its connection, and is dropped
        // (not reset) where none does.
        Some(t)
            if parsed.flow.proto == IPPROTO_TCP
                && !forwarded
                && !parsed.syn
                && t.draining(bucket) =>
        {
            skb.holds_tcp(rcu, &parsed.flow, v6)
        }
        Some(t) => t.owns(bucket),
        None => false,
    }
}

/// The netdev ingress hook of interfaces with a multicast or unicast
/// cluster, see [`ingress`].
pub(crate) struct IngressHook;

impl Hook for IngressHook {
    type State = NetState;
    const OUT: bool = false;

    fn run(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
        ingress(st, rcu, skb, ifindex)
    }
}

/// Netdev ingress, on interfaces with a multicast or unicast cluster.
///
/// A frame for a unicast cluster MAC is not for the interface's own
/// address, so the stack would take it for another host's and IP would
/// drop it before PRE_ROUTING: make it the host's.
///
/// A whole packet for a cluster address whose bucket is not ours is
/// dropped here, before IP's receive path and the PRE_ROUTING hooks cost
/// anything (most of what a member receives is others' share). Only that:
/// kept packets, fragments (a flow once reassembled), padded or truncated
/// frames and malformed headers go on to PRE_ROUTING, which decides, and
/// counts, as if this hook were not there.
fn ingress(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
    let Some(set) = st.read(rcu) else {
        return Verdict::Accept;
    };
    if skb.for_other_host() {
        if !skb
            .eth_dest()
            .is_some_and(|mac| set.unicast_mac_on(ifindex, &mac))
        {
            return Verdict::Accept; // another host's: IP drops it
        }
        skb.set_host();
    }
    let v6 = match skb.protocol() {
        ETH_P_IP => false,
        ETH_P_IPV6 => true,
        _ => return Verdict::Accept,
    };
    let Some((_, Some(c))) = addressed(set, skb, ifindex, v6) else {
        return Verdict::Accept;
    };
    if c.cfg.delivery == Delivery::Forward {
        return Verdict::Accept;
    }
    let l3 = if v6 {
        packet::ipv6(skb, 0)
    } else {
        packet::ipv4(skb, 0)
    };
    let Ok(l3) = l3 else {
        return Verdict::Accept;
    };
    if l3.fragment || l3.len != skb.len() as usize {
        return Verdict::Accept;
    }
    let Ok(parsed) = packet::parse(skb, &l3, false, v6) else {
        return Verdict::Accept;
    };
    let table = c.table.get(rcu);
    let bucket = c.bucket(&parsed.flow);
    if keeps(table, rcu, skb, &parsed, bucket, v6, false) {
        return Verdict::Accept;
    }
    c.stats.count(bucket, skb.len(), parsed.syn, Fate::Dropped);
    Verdict::Drop
}

/// ARP_OUT: a request or reply sent from a cluster address names the
/// cluster MAC as the sender's hardware address, so that neighbours send
/// the cluster's traffic to every member.
pub(crate) fn arp_out(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
    let Some(set) = st.read(rcu) else {
        return Verdict::Accept;
    };
    // Ethernet/IPv4 ARP: htype, ptype, hlen 6, plen 4, op, sha, spa, ...
    let Some(h) = skb.read::<18>(0) else {
        return Verdict::Accept;
    };
    let op = u16::from_be_bytes([h[6], h[7]]);
    if h[4] != 6 || h[5] != 4 || !(op == 1 || op == 2) {
        return Verdict::Accept;
    }
    let spa = u32::from_be_bytes([h[14], h[15], h[16], h[17]]);
    let Some(c) = set.by_addr4(ifindex, spa) else {
        return Verdict::Accept;
    };
    if c.cfg.delivery.announces_cluster_mac() {
        skb.write(8, &c.cfg.mac);
        return Verdict::Accept;
    }
    if c.table.get(rcu).is_some_and(|t| t.forwards()) {
        return Verdict::Accept; // the forwarder answers with its own MAC
    }
    // Forward mode, not the forwarder: never claim the cluster IP. Replies
    // go unsent; a request asks from our own address instead (what
    // arp_announce=2 does), so the answer still reaches us.
    match skb.dev_addr4(spa) {
        Some(own) if op == 1 => {
            skb.write(14, &own.to_be_bytes());
            Verdict::Accept
        }
        _ => Verdict::Drop,
    }
}

/// LOCAL_OUT (IPv6): neighbour solicitations from a cluster address and
/// advertisements for one carry the cluster MAC in their link-layer
/// address option; the ICMPv6 checksum is recomputed.
pub(crate) fn ndisc_out(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
    let Some(set) = st.read(rcu) else {
        return Verdict::Accept;
    };
    let Some(h) = skb.read::<40>(0) else {
        return Verdict::Accept;
    };
    if h[6] != IPPROTO_ICMPV6 {
        return Verdict::Accept;
    }
    let Some(t) = skb.read::<24>(40) else {
        return Verdict::Accept;
    };
    let src: [u8; 16] = h[8..24].try_into().unwrap_or_default();
    let target: [u8; 16] = t[8..24].try_into().unwrap_or_default();
    let (addr, option) = match t[0] {
        135 => (src, 1),    // NS: source link-layer address
        136 => (target, 2), // NA: target link-layer address
        _ => return Verdict::Accept,
    };
    let Some(c) = set.by_addr6(ifindex, &addr_words(&addr)) else {
        return Verdict::Accept;
    };
    let plen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let Some((mut msg, len)) = read_small(skb, 40, plen) else {
        return Verdict::Accept;
    };
    let msg = &mut msg[..len];
    if c.cfg.delivery.announces_cluster_mac() {
        if packet::set_lladdr_option(msg, option, &c.cfg.mac) {
            let sum = packet::icmpv6_checksum(&h[8..24], &h[24..40], msg);
            msg[2..4].copy_from_slice(&sum.to_be_bytes());
            skb.write(40, msg);
        }
        return Verdict::Accept;
    }
    if c.table.get(rcu).is_some_and(|t| t.forwards()) {
        return Verdict::Accept; // the forwarder answers with its own MAC
    }
    // Forward mode, not the forwarder: as for ARP, advertisements go
    // unsent and solicitations ask from our link-local address.
    match skb.dev_lladdr6() {
        Some(ll) if option == 1 => {
            let sum = packet::icmpv6_checksum(&ll, &h[24..40], msg);
            msg[2..4].copy_from_slice(&sum.to_be_bytes());
            skb.write(8, &ll);
            skb.write(40, msg);
            Verdict::Accept
        }
        _ => Verdict::Drop,
    }
}

/// Neighbour discovery messages are small; anything over this is left alone.
const MAX_NDISC: usize = 128;

/// The `len` bytes at `off`, read 8 at a time; `None` if `len` is over
/// [`MAX_NDISC`] or not a multiple of 8 (neighbour discovery's options
/// are), or the packet is shorter.
fn read_small(skb: &Skb<'_>, off: usize, len: usize) -> Option<([u8; MAX_NDISC], usize)> {
    if len > MAX_NDISC || len % 8 != 0 {
        return None;
    }
    let mut buf = [0u8; MAX_NDISC];
    for i in (0..len).step_by(8) {
        buf[i..i + 8].copy_from_slice(&skb.read::<8>(off + i)?);
    }
    Some((buf, len))
}
