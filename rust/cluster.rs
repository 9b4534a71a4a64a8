// SPDX-License-Identifier: GPL-2.0
//! A namespace's clusters: their fixed configuration, their bucket table
//! (replaced whole, read under RCU) and their counters.

use crate::shared::hash::{self, FlowHash};
use crate::shared::packet::addr_words;
use crate::sys::net::Net;
use crate::sys::percpu::Stats;
use crate::sys::pernet::Ingress;
use crate::sys::rcu::{RcuBox, RcuGuard};
use crate::sys::time::Jiffies;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

pub(crate) use crate::shared::buckets::UNOWNED;

/// How every member gets every packet for the cluster IP.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// A multicast cluster MAC, announced in ARP replies and NAs.
    Multicast,
    /// A unicast cluster MAC that no member sends from, so the switch
    /// floods it; announced like the multicast one.
    Unicast,
    /// The forwarder alone is announced, with its own MAC, and passes
    /// what it does not own to the owner's MAC.
    Forward,
}

impl Delivery {
    /// Whether ARP and neighbour discovery announce the cluster MAC.
    pub(crate) fn announces_cluster_mac(self) -> bool {
        self != Delivery::Forward
    }
}

/// What a cluster is; fixed at creation.
pub(crate) struct Config {
    /// The cluster's id, unique in its namespace.
    pub(crate) id: u32,
    /// The interface the cluster address lives on.
    pub(crate) ifindex: i32,
    /// The IPv4 cluster address (host order).
    pub(crate) addr4: Option<u32>,
    /// The IPv6 cluster address, as the flow hash's words.
    pub(crate) addr6: Option<[u32; 4]>,
    /// The cluster MAC (all zeros in forward mode unless given).
    pub(crate) mac: [u8; 6],
    /// How every member gets every packet.
    pub(crate) delivery: Delivery,
    /// The flow hash and its client affinity.
    pub(crate) hash: FlowHash,
    /// The table has `1 << bits` buckets.
    pub(crate) bits: u32,
    /// Interfaces whose forwarded traffic is filtered too.
    pub(crate) fwd: KVec<i32>,
    /// How long a bucket that changes owner drains (0: not at all).
    pub(crate) drain_ms: u32,
    /// Whether the TCP state of connections to the cluster is exported.
    pub(crate) tcp_export: bool,
    /// Output commit: the netfilter queue where segments wait until their
    /// state is replicated.
    pub(crate) commit_queue: Option<u16>,
}

impl Config {
    /// Buckets in the table.
    pub(crate) fn buckets(&self) -> u32 {
        1 << self.bits
    }

    /// Whether `addr` (IPv6, or IPv4 mapped unless `v6`) is the cluster
    /// address.
    pub(crate) fn is_address(&self, v6: bool, addr: &[u8; 16]) -> bool {
        let w = addr_words(addr);
        if v6 {
            self.addr6 == Some(w)
        } else {
            w[..3] == [0, 0, 0xffff] && self.addr4 == Some(w[3])
        }
    }
}

/// Who owns which bucket, and who we are; in forward mode also who
/// receives everything and where the others are.
pub(crate) struct Table {
    /// The local member's id.
    pub(crate) member: u16,
    /// Each bucket's owner ([`UNOWNED`]: nobody's).
    pub(crate) owners: KVec<u16>,
    /// The member that receives everything (forward mode).
    pub(crate) forwarder: u16,
    /// Member ids and MACs, sorted by id.
    pub(crate) macs: KVec<(u16, [u8; 6])>,
    /// Per bucket, its drain ([`Drain::NONE`]: it never began).
    pub(crate) drain: KVec<Drain>,
}

/// A bucket's drain: when it ends, and whose connections it leaves where
/// they are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drain {
    /// When it ends ([`Jiffies::NEVER`]: it never began).
    pub(crate) end: Jiffies,
    /// The member that owned the bucket before ([`UNOWNED`]: several did
    /// within the drain time).
    pub(crate) from: u16,
}

impl Drain {
    /// No drain.
    pub(crate) const NONE: Drain = Drain {
        end: Jiffies::NEVER,
        from: UNOWNED,
    };
}

impl Table {
    /// Whether the local member owns `bucket`.
    pub(crate) fn owns(&self, bucket: u32) -> bool {
        self.owners.get(bucket as usize) == Some(&self.member)
    }

    /// Whether `bucket` changed owner less than a drain time ago.
    pub(crate) fn draining(&self, bucket: u32) -> bool {
        // Most buckets never drained: no clock reading for them.
        match self.drain.get(bucket as usize) {
            Some(d) if d.end != Jiffies::NEVER => d.end > Jiffies::now(),
            _ => false,
        }
    }

    /// Milliseconds left of `bucket`'s drain at `now`, if it drains.
    pub(crate) fn drain_left(&self, bucket: u32, now: Jiffies) -> Option<u32> {
        match self.drain.get(bucket as usize) {
            Some(d) if d.end > now => Some(d.end.ms_after(now)),
            _ => None,
        }
    }

    /// Whether the local member is the forwarder (forward mode).
    pub(crate) fn forwards(&self) -> bool {
        self.forwarder == self.member
    }

    /// Where the forwarder sends a packet of `bucket` it does not own.
    pub(crate) fn forward_to(&self, bucket: u32) -> Option<&[u8; 6]> {
        let owner = *self.owners.get(bucket as usize)?;
        if !self.forwards() || owner == UNOWNED || owner == self.member {
            return None;
        }
        let i = self.macs.binary_search_by_key(&owner, |m| m.0).ok()?;
        Some(&self.macs[i].1)
    }
}

/// One cluster.
pub(crate) struct Cluster {
    /// What it is.
    pub(crate) cfg: Config,
    /// Who owns which bucket; replaced whole.
    pub(crate) table: RcuBox<Table>,
    /// Per-bucket counters.
    pub(crate) stats: Stats,
    malformed: AtomicU64,
}

impl Cluster {
    /// A cluster with its first table and zeroed counters.
    pub(crate) fn new(cfg: Config, table: KBox<Table>) -> Result<Self> {
        Ok(Cluster {
            stats: Stats::new(cfg.buckets())?,
            cfg,
            table: RcuBox::new(Some(table)),
            malformed: AtomicU64::new(0),
        })
    }

    /// The bucket of a flow.
    pub(crate) fn bucket(&self, flow: &hash::Flow) -> u32 {
        self.cfg.hash.bucket(flow, self.cfg.bits)
    }

    /// Counts a packet for the cluster that could not be parsed.
    pub(crate) fn count_malformed(&self) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// How many packets could not be parsed.
    pub(crate) fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// Whether forwarded traffic arriving on `ifindex` is filtered.
    pub(crate) fn filters_forwarding_on(&self, ifindex: i32) -> bool {
        self.cfg.fwd.contains(&ifindex)
    }
}

/// The namespace's clusters, replaced whole on every change.
pub(crate) struct ClusterSet {
    /// The clusters, in creation order.
    pub(crate) list: KVec<Arc<Cluster>>,
}

impl ClusterSet {
    /// Cluster `id`.
    pub(crate) fn by_id(&self, id: u32) -> Option<&Arc<Cluster>> {
        self.list.iter().find(|c| c.cfg.id == id)
    }

    /// The cluster whose IPv4 address is `dst`, on `ifindex`.
    pub(crate) fn by_addr4(&self, ifindex: i32, dst: u32) -> Option<&Cluster> {
        self.list
            .iter()
            .map(|c| &**c)
            .find(|c| c.cfg.addr4 == Some(dst) && c.cfg.ifindex == ifindex)
    }

    /// The cluster whose IPv6 address is `dst`, on `ifindex`.
    pub(crate) fn by_addr6(&self, ifindex: i32, dst: &[u32; 4]) -> Option<&Cluster> {
        self.list
            .iter()
            .map(|c| &**c)
            .find(|c| c.cfg.addr6.as_ref() == Some(dst) && c.cfg.ifindex == ifindex)
    }
}

impl ClusterSet {
    /// Whether `mac` is the MAC of a unicast-mode cluster on `ifindex`.
    pub(crate) fn unicast_mac_on(&self, ifindex: i32, mac: &[u8; 6]) -> bool {
        self.list.iter().any(|c| {
            c.cfg.delivery == Delivery::Unicast && c.cfg.ifindex == ifindex && c.cfg.mac == *mac
        })
    }

    /// The cluster filtering forwarded traffic on `ifindex`, if any.
    pub(crate) fn forwarding_on(&self, ifindex: i32) -> Option<&Cluster> {
        self.list
            .iter()
            .map(|c| &**c)
            .find(|c| c.filters_forwarding_on(ifindex))
    }
}

/// What writers keep beside the published set.
#[derive(Default)]
pub(crate) struct Registry {
    /// The last id handed out (ids not asked for count up from it).
    pub(crate) next_id: u32,
    /// Ingress hooks of interfaces with multicast or unicast clusters, one each;
    /// a free slot is `None` (dropping an Ingress unregisters it).
    pub(crate) ingress: KVec<Option<Ingress>>,
}

/// Everything ipcluster keeps for one network namespace.
#[pin_data]
pub(crate) struct NetState {
    /// Serialises configuration changes (netlink ops run in parallel).
    #[pin]
    pub(crate) writer: Mutex<Registry>,
    /// The clusters, read by the packet path under RCU.
    pub(crate) clusters: RcuBox<ClusterSet>,
    /// The namespace.
    pub(crate) net: Net,
}

impl NetState {
    /// The state of namespace `net`: no clusters yet.
    pub(crate) fn new(net: Net) -> impl PinInit<Self> {
        pin_init!(NetState {
            writer <- kernel::new_mutex!(Registry::default(), "ipcluster::NetState::writer"),
            clusters: RcuBox::new(None),
            net,
        })
    }

    /// The clusters, for the packet path.
    pub(crate) fn read<'a>(&'a self, rcu: &'a RcuGuard) -> Option<&'a ClusterSet> {
        self.clusters.get(rcu)
    }
}
