// SPDX-License-Identifier: GPL-2.0
//! A cluster-new request's configuration: each part read and checked in
//! its own step, in a fixed order (the first error is the one reported).

use crate::cluster::{Config, Delivery, NetState};
use crate::shared::hash::{
    Affinity, FlowHash, Mode, DEFAULT_BUCKET_BITS, DEFAULT_PREFIX4, DEFAULT_PREFIX6,
};
use crate::shared::packet::addr_words;
use crate::shared::siphash::Key;
use crate::sys::genl::Request;
use crate::sys::net::Rtnl;
use crate::sys::uapi::*;
use kernel::c_str;
use kernel::prelude::*;

/// Most forwarding-filter interfaces per cluster.
const MAX_FWD: usize = 16;

/// How long a bucket drains after a change of owner, unless told.
const DEFAULT_DRAIN_MS: u32 = 60_000;

/// A new cluster's configuration from a cluster-new request, each part
/// checked as it is read (in this order: the first error is the one
/// reported).
pub(super) fn config(req: &Request, st: &NetState, rtnl: &Rtnl, id: u32) -> Result<Config> {
    let ifindex = cluster_ifindex(req)?;
    let (addr4, addr6) = addresses(req)?;
    let delivery = delivery(req)?;
    let mac = cluster_mac(req, delivery)?;
    let hash = FlowHash {
        mode: flow_hash(req)?,
        affinity: affinity(req)?,
    };
    let fwd = forwarding_ifindexes(req, st, rtnl)?;
    let (tcp_export, commit_queue) = tcp_survival(req)?;
    Ok(Config {
        id,
        ifindex,
        addr4,
        addr6,
        mac,
        delivery,
        hash,
        bits: req
            .u32(IPCLUSTER_A_CLUSTER_BUCKET_BITS)
            .unwrap_or(DEFAULT_BUCKET_BITS),
        fwd,
        drain_ms: req
            .u32(IPCLUSTER_A_CLUSTER_DRAIN_MS)
            .unwrap_or(DEFAULT_DRAIN_MS),
        tcp_export,
        commit_queue,
    })
}

/// The interface the cluster address lives on (required).
fn cluster_ifindex(req: &Request) -> Result<i32> {
    let ifindex = req.u32(IPCLUSTER_A_CLUSTER_IFINDEX).ok_or_else(|| {
        req.fail(
            None,
            c_str!("missing the cluster's interface (ifindex)"),
            EINVAL,
        )
    })?;
    i32::try_from(ifindex).map_err(|_| {
        req.fail(
            Some(IPCLUSTER_A_CLUSTER_IFINDEX),
            c_str!("bad ifindex"),
            EINVAL,
        )
    })
}

/// The IPv4 (host order) and IPv6 cluster addresses; at least one.
fn addresses(req: &Request) -> Result<(Option<u32>, Option<[u32; 4]>)> {
    let addr4 = req.u32(IPCLUSTER_A_CLUSTER_ADDR4).map(u32::from_be);
    let addr6 = req
        .bytes(IPCLUSTER_A_CLUSTER_ADDR6)
        .and_then(|b| b.try_into().ok())
        .map(addr_words);
    if addr4.is_none() && addr6.is_none() {
        return Err(req.fail(
            None,
            c_str!("a cluster needs an IPv4 or an IPv6 address"),
            EINVAL,
        ));
    }
    Ok((addr4, addr6))
}

/// The delivery mode; multicast unless told.
fn delivery(req: &Request) -> Result<Delivery> {
    match req
        .u32(IPCLUSTER_A_CLUSTER_MODE)
        .unwrap_or(IPCLUSTER_MODE_MULTICAST)
    {
        IPCLUSTER_MODE_MULTICAST => Ok(Delivery::Multicast),
        IPCLUSTER_MODE_UNICAST => Ok(Delivery::Unicast),
        IPCLUSTER_MODE_FORWARD => Ok(Delivery::Forward),
        _ => Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_MODE),
            c_str!("unknown mode"),
            EINVAL,
        )),
    }
}

/// The cluster MAC, which must suit the delivery mode.
fn cluster_mac(req: &Request, delivery: Delivery) -> Result<[u8; 6]> {
    let mac: Option<[u8; 6]> = req
        .bytes(IPCLUSTER_A_CLUSTER_MAC)
        .and_then(|b| b.try_into().ok());
    let bad = |msg| req.fail(Some(IPCLUSTER_A_CLUSTER_MAC), msg, EINVAL);
    match (delivery, mac) {
        // The forwarder answers with its own MAC: a cluster MAC is unused.
        (Delivery::Forward, mac) => Ok(mac.unwrap_or_default()),
        (_, None) => Err(req.fail(None, c_str!("missing the cluster MAC"), EINVAL)),
        (Delivery::Multicast, Some(m)) if m[0] & 1 == 0 => {
            Err(bad(c_str!("multicast mode needs a multicast MAC")))
        }
        (Delivery::Unicast, Some(m)) if m[0] & 1 != 0 || m == [0; 6] => {
            Err(bad(c_str!("unicast mode needs a unicast MAC")))
        }
        (_, Some(m)) => Ok(m),
    }
}

/// The flow hash; keyed (which needs a seed) unless told.
fn flow_hash(req: &Request) -> Result<Mode> {
    match req
        .u32(IPCLUSTER_A_CLUSTER_HASH)
        .unwrap_or(IPCLUSTER_HASH_KEYED)
    {
        IPCLUSTER_HASH_KEYED => {
            let seed: [u8; 16] = req
                .bytes(IPCLUSTER_A_CLUSTER_SEED)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| req.fail(None, c_str!("the keyed hash needs a seed"), EINVAL))?;
            Ok(Mode::Keyed(Key(seed)))
        }
        IPCLUSTER_HASH_SEED => Ok(Mode::Seed),
        _ => Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_HASH),
            c_str!("unknown hash"),
            EINVAL,
        )),
    }
}

/// The client affinity; none unless told. The policy bounds the values;
/// prefixes are refused unless the affinity is network, so that a request
/// never means something other than it says.
fn affinity(req: &Request) -> Result<Affinity> {
    let p4 = req.u32(IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX4);
    let p6 = req.u32(IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX6);
    let kind = req
        .u32(IPCLUSTER_A_CLUSTER_AFFINITY)
        .unwrap_or(IPCLUSTER_AFFINITY_NONE);
    if kind != IPCLUSTER_AFFINITY_NETWORK && (p4.is_some() || p6.is_some()) {
        let attr = if p4.is_some() {
            IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX4
        } else {
            IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX6
        };
        return Err(req.fail(
            Some(attr),
            c_str!("an affinity prefix needs affinity network"),
            EINVAL,
        ));
    }
    // The policy bounds the prefixes (1..=32, 1..=128): each fits a u8.
    let prefix =
        |p: Option<u32>, default: u8| p.and_then(|p| u8::try_from(p).ok()).unwrap_or(default);
    match kind {
        IPCLUSTER_AFFINITY_NONE => Ok(Affinity::None),
        IPCLUSTER_AFFINITY_SOURCE => Ok(Affinity::Source),
        IPCLUSTER_AFFINITY_NETWORK => Ok(Affinity::Network {
            v4: prefix(p4, DEFAULT_PREFIX4),
            v6: prefix(p6, DEFAULT_PREFIX6),
        }),
        _ => Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_AFFINITY),
            c_str!("unknown affinity"),
            EINVAL,
        )),
    }
}

/// The interfaces whose forwarded traffic the cluster filters; each must
/// exist.
fn forwarding_ifindexes(req: &Request, st: &NetState, rtnl: &Rtnl) -> Result<KVec<i32>> {
    let bad = |msg, err| req.fail(Some(IPCLUSTER_A_CLUSTER_FWD_IFINDEX), msg, err);
    let mut ids = [0u32; MAX_FWD];
    let n = req
        .u32s(IPCLUSTER_A_CLUSTER_FWD_IFINDEX, &mut ids)
        .map_err(|e| bad(c_str!("too many forwarding interfaces"), e))?;
    let mut fwd = KVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?;
    for &i in &ids[..n] {
        let i = i32::try_from(i).map_err(|_| bad(c_str!("bad ifindex"), EINVAL))?;
        if st.net.dev_addr(rtnl, i, None, false, true).is_err() {
            return Err(bad(c_str!("no such forwarding interface"), ENODEV));
        }
        fwd.push(i, GFP_KERNEL_ACCOUNT)?;
    }
    Ok(fwd)
}

/// Whether TCP state is exported, and the output-commit queue (which
/// needs the export).
fn tcp_survival(req: &Request) -> Result<(bool, Option<u16>)> {
    let tcp_export = req.bytes(IPCLUSTER_A_CLUSTER_TCP_EXPORT).is_some();
    // NLA_U16, validated by the policy: two bytes at least.
    let commit_queue = req
        .bytes(IPCLUSTER_A_CLUSTER_COMMIT_QUEUE)
        .and_then(|b| Some(u16::from_ne_bytes(b.get(..2)?.try_into().ok()?)));
    if commit_queue.is_some() && !tcp_export {
        return Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_COMMIT_QUEUE),
            c_str!("output commit needs tcp-export"),
            EINVAL,
        ));
    }
    Ok((tcp_export, commit_queue))
}
