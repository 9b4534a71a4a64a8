// SPDX-License-Identifier: GPL-2.0
//! The netlink operations: create, delete and read clusters, replace and
//! read their bucket tables, dump their counters. Every change happens
//! under the namespace's writer lock, is built completely before it is
//! published, and is announced on the `events` group.

use crate::cluster::{Cluster, ClusterSet, Config, Delivery, NetState, Registry, Table, UNOWNED};
use crate::filter::IngressHook;
use crate::shared::hash::{Mode, DEFAULT_BUCKET_BITS};
use crate::shared::packet::{addr_bytes, addr_words};
use crate::shared::siphash::Key;
use crate::sys::genl::{Dump, Msg, Request, Writer};
use crate::sys::net::Rtnl;
use crate::sys::nf::Ingress;
use crate::sys::time::Jiffies;
use crate::sys::uapi::*;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Most forwarding-filter interfaces per cluster.
const MAX_FWD: usize = 16;

/// How long a bucket drains after a change of owner, unless told.
const DEFAULT_DRAIN_MS: u32 = 60_000;

/// A new cluster's configuration from a cluster-new request, each part
/// checked as it is read (in this order: the first error is the one
/// reported).
fn config(req: &Request, st: &NetState, rtnl: &Rtnl, id: u32) -> Result<Config> {
    let ifindex = cluster_ifindex(req)?;
    let (addr4, addr6) = addresses(req)?;
    let delivery = delivery(req)?;
    let mac = cluster_mac(req, delivery)?;
    let hash = flow_hash(req)?;
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

/// The interfaces whose forwarded traffic the cluster filters; each must
/// exist.
fn forwarding_ifindexes(req: &Request, st: &NetState, rtnl: &Rtnl) -> Result<KVec<i32>> {
    let bad = |msg, err| req.fail(Some(IPCLUSTER_A_CLUSTER_FWD_IFINDEX), msg, err);
    let mut ids = [0u32; MAX_FWD];
    let n = req
        .u32s(IPCLUSTER_A_CLUSTER_FWD_IFINDEX, &mut ids)
        .map_err(|e| bad(c_str!("too many forwarding interfaces"), e))?;
    let mut fwd = KVec::with_capacity(n, GFP_KERNEL)?;
    for &i in &ids[..n] {
        let i = i32::try_from(i).map_err(|_| bad(c_str!("bad ifindex"), EINVAL))?;
        if st.net.dev_addr(rtnl, i, None, false, true).is_err() {
            return Err(bad(c_str!("no such forwarding interface"), ENODEV));
        }
        fwd.push(i, GFP_KERNEL)?;
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

/// A copy of the published list, to build the next one from.
fn copy_list(st: &NetState, reg: &Registry) -> Result<KVec<Arc<Cluster>>> {
    let mut list = KVec::new();
    if let Some(set) = st.clusters.get_locked(reg) {
        for c in set.list.iter() {
            list.push(c.clone(), GFP_KERNEL)?;
        }
    }
    Ok(list)
}

/// The side effects a live cluster has on its namespace: the cluster MAC
/// in the interface's filter, the interface's ingress hook (early drop;
/// for a unicast MAC also what makes its frames the host's), and
/// defragmentation.
fn attach(st: &NetState, rtnl: &Rtnl, reg: &mut Registry, cfg: &Config) -> Result {
    let multicast = match cfg.delivery {
        Delivery::Multicast => true,
        Delivery::Unicast => false,
        Delivery::Forward => return attach_defrag(st, rtnl, reg, cfg),
    };
    st.net
        .dev_addr(rtnl, cfg.ifindex, Some(&cfg.mac), multicast, true)?;
    if let Err(e) = hook_ingress(st, rtnl, reg, cfg.ifindex) {
        let _ = st
            .net
            .dev_addr(rtnl, cfg.ifindex, Some(&cfg.mac), multicast, false);
        return Err(e);
    }
    attach_defrag(st, rtnl, reg, cfg)
}

/// Hooks `ifindex`'s ingress unless a cluster did already.
fn hook_ingress(st: &NetState, rtnl: &Rtnl, reg: &mut Registry, ifindex: i32) -> Result {
    if reg.ingress.iter().flatten().any(|i| i.ifindex() == ifindex) {
        return Ok(());
    }
    let i = Ingress::register::<IngressHook>(rtnl, st.net, ifindex)?;
    match reg.ingress.iter_mut().find(|slot| slot.is_none()) {
        Some(slot) => *slot = Some(i),
        None => reg.ingress.push(Some(i), GFP_KERNEL)?,
    }
    Ok(())
}

fn attach_defrag(st: &NetState, rtnl: &Rtnl, reg: &mut Registry, cfg: &Config) -> Result {
    let v4 = cfg.addr4.is_some() && {
        if let Err(e) = st.net.defrag(false, true) {
            detach_dev(st, rtnl, reg, cfg, &[]);
            return Err(e);
        }
        true
    };
    if cfg.addr6.is_some() {
        if let Err(e) = st.net.defrag(true, true) {
            if v4 {
                let _ = st.net.defrag(false, false);
            }
            detach_dev(st, rtnl, reg, cfg, &[]);
            return Err(e);
        }
    }
    Ok(())
}

/// Undoes the interface side of [`attach`]; `rest` are the clusters that
/// stay (they may share the interface's ingress hook).
fn detach_dev(st: &NetState, rtnl: &Rtnl, reg: &mut Registry, cfg: &Config, rest: &[Arc<Cluster>]) {
    let multicast = match cfg.delivery {
        Delivery::Multicast => true,
        Delivery::Unicast => false,
        Delivery::Forward => return,
    };
    // The interface may be gone already, and its address lists with it.
    let _ = st
        .net
        .dev_addr(rtnl, cfg.ifindex, Some(&cfg.mac), multicast, false);
    let shared = rest
        .iter()
        .any(|c| c.cfg.delivery != Delivery::Forward && c.cfg.ifindex == cfg.ifindex);
    if !shared {
        for slot in reg.ingress.iter_mut() {
            if slot.as_ref().is_some_and(|i| i.ifindex() == cfg.ifindex) {
                *slot = None; // unregisters the hook
            }
        }
    }
}

fn detach(st: &NetState, rtnl: &Rtnl, reg: &mut Registry, cfg: &Config, rest: &[Arc<Cluster>]) {
    detach_dev(st, rtnl, reg, cfg, rest);
    if cfg.addr4.is_some() {
        let _ = st.net.defrag(false, false);
    }
    if cfg.addr6.is_some() {
        let _ = st.net.defrag(true, false);
    }
}

fn publish(st: &NetState, reg: &Registry, list: KVec<Arc<Cluster>>) -> Result {
    let set = KBox::new(ClusterSet { list }, GFP_KERNEL)?;
    // Waits for the packet path to stop seeing the old set.
    drop(st.clusters.replace(Some(set), reg));
    Ok(())
}

fn notify(st: &NetState, c: &Cluster) {
    if let Ok(mut m) = Msg::event(IPCLUSTER_CMD_CLUSTER_CHANGE_NTF) {
        if fill_cluster(&mut m, c, false).is_ok() {
            m.send_event(&st.net);
        }
    }
}

fn notify_gone(st: &NetState, id: u32) {
    if let Ok(mut m) = Msg::event(IPCLUSTER_CMD_CLUSTER_CHANGE_NTF) {
        if m.u32(IPCLUSTER_A_CLUSTER_ID, id).is_ok() {
            m.send_event(&st.net);
        }
    }
}

/// The clusters published now, for a writer.
fn current<'a>(st: &'a NetState, reg: &'a Registry) -> &'a [Arc<Cluster>] {
    st.clusters.get_locked(reg).map_or(&[], |s| &s.list[..])
}

/// The id of a new cluster: the one asked for, which must be free, or
/// the next free one.
fn new_id(req: &Request, reg: &mut Registry, list: &[Arc<Cluster>]) -> Result<u32> {
    match req.u32(IPCLUSTER_A_CLUSTER_ID) {
        Some(id) if list.iter().any(|c| c.cfg.id == id) => Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_ID),
            c_str!("a cluster with this id exists"),
            EEXIST,
        )),
        Some(id) => Ok(id),
        None => loop {
            reg.next_id = reg.next_id.wrapping_add(1).max(1);
            if !list.iter().any(|c| c.cfg.id == reg.next_id) {
                break Ok(reg.next_id);
            }
        },
    }
}

/// Checks that a new cluster shares neither an address on its interface
/// nor a forwarding-filter interface with `list`, and that its interface
/// exists.
fn check_free(
    req: &Request,
    st: &NetState,
    rtnl: &Rtnl,
    list: &[Arc<Cluster>],
    cfg: &Config,
) -> Result {
    for c in list.iter().filter(|c| c.cfg.ifindex == cfg.ifindex) {
        if (cfg.addr4.is_some() && c.cfg.addr4 == cfg.addr4)
            || (cfg.addr6.is_some() && c.cfg.addr6 == cfg.addr6)
        {
            return Err(req.fail(
                None,
                c_str!("another cluster has this address on this interface"),
                EEXIST,
            ));
        }
    }
    if cfg
        .fwd
        .iter()
        .any(|&i| list.iter().any(|c| c.filters_forwarding_on(i)))
    {
        return Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_FWD_IFINDEX),
            c_str!("another cluster filters forwarding on this interface"),
            EEXIST,
        ));
    }
    if st
        .net
        .dev_addr(rtnl, cfg.ifindex, None, false, true)
        .is_err()
    {
        return Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_IFINDEX),
            c_str!("no such interface"),
            ENODEV,
        ));
    }
    Ok(())
}

/// A new cluster's first table: every bucket unowned, none draining.
fn first_table(req: &Request, cfg: &Config) -> Result<KBox<Table>> {
    let n = cfg.buckets() as usize;
    let table = Table {
        member: req.u32(IPCLUSTER_A_CLUSTER_MEMBER_ID).unwrap_or(0) as u16,
        owners: KVec::from_elem(UNOWNED, n, GFP_KERNEL)?,
        forwarder: UNOWNED,
        macs: KVec::new(),
        drain: KVec::from_elem(Jiffies::NEVER, n, GFP_KERNEL)?,
    };
    Ok(KBox::new(table, GFP_KERNEL)?)
}

/// cluster-new.
pub(crate) fn cluster_new(req: &Request) -> Result {
    let st: &NetState = req.state()?;
    let rtnl = Rtnl::lock();
    let mut reg = st.writer.lock();
    let mut list = copy_list(st, &reg)?;
    let id = new_id(req, &mut reg, &list)?;
    let cfg = config(req, st, &rtnl, id)?;
    check_free(req, st, &rtnl, &list, &cfg)?;
    let table = first_table(req, &cfg)?;
    let cluster = Arc::new(Cluster::new(cfg, table)?, GFP_KERNEL)?;
    list.push(cluster.clone(), GFP_KERNEL)?;
    let mut reply = Msg::reply(req, IPCLUSTER_CMD_CLUSTER_NEW, 0)?;
    reply.u32(IPCLUSTER_A_CLUSTER_ID, id)?;
    attach(st, &rtnl, &mut reg, &cluster.cfg)
        .map_err(|e| req.fail(None, c_str!("cannot set up the interface"), e))?;
    if let Err(e) = publish(st, &reg, list) {
        let rest = copy_list(st, &reg).unwrap_or_default();
        detach(st, &rtnl, &mut reg, &cluster.cfg, &rest);
        return Err(e);
    }
    drop(reg);
    drop(rtnl);
    notify(st, &cluster);
    reply.send_reply(req)
}

/// The cluster whose id is attribute `attr` of `req`, for a writer
/// holding `reg`.
pub(crate) fn find(
    req: &Request,
    st: &NetState,
    reg: &Registry,
    attr: u32,
) -> Result<Arc<Cluster>> {
    let id = req
        .u32(attr)
        .ok_or_else(|| req.fail(None, c_str!("missing cluster id"), EINVAL))?;
    lookup(st, reg, id).ok_or_else(|| req.fail(Some(attr), c_str!("no such cluster"), ENOENT))
}

/// Cluster `id`, for a writer holding `reg`.
pub(crate) fn lookup(st: &NetState, reg: &Registry, id: u32) -> Option<Arc<Cluster>> {
    st.clusters
        .get_locked(reg)
        .and_then(|s| s.by_id(id))
        .cloned()
}

/// Publishes the clusters but those `gone` picks, and undoes what these
/// had set up; returns their ids.
fn remove(
    st: &NetState,
    rtnl: &Rtnl,
    reg: &mut Registry,
    gone: impl Fn(&Cluster) -> bool,
) -> Result<KVec<u32>> {
    let (mut keep, mut removed) = (KVec::new(), KVec::new());
    for c in current(st, reg) {
        if gone(c) {
            removed.push(c.clone(), GFP_KERNEL)?;
        } else {
            keep.push(c.clone(), GFP_KERNEL)?;
        }
    }
    let mut ids = KVec::with_capacity(removed.len(), GFP_KERNEL)?;
    if removed.is_empty() {
        return Ok(ids);
    }
    publish(st, reg, keep)?;
    let rest = copy_list(st, reg).unwrap_or_default();
    for c in removed.iter() {
        detach(st, rtnl, reg, &c.cfg, &rest);
        ids.push(c.cfg.id, GFP_KERNEL)?; // within capacity
    }
    Ok(ids)
}

/// cluster-del.
pub(crate) fn cluster_del(req: &Request) -> Result {
    let st: &NetState = req.state()?;
    let rtnl = Rtnl::lock();
    let mut reg = st.writer.lock();
    let id = find(req, st, &reg, IPCLUSTER_A_CLUSTER_ID)?.cfg.id;
    remove(st, &rtnl, &mut reg, |c| c.cfg.id == id)?;
    drop(reg);
    drop(rtnl);
    notify_gone(st, id);
    Ok(())
}

/// Interface `ifindex` is going away (or to another namespace): so do the
/// clusters living on it.
pub(crate) fn dev_gone(st: &NetState, rtnl: &Rtnl, ifindex: i32) {
    let mut reg = st.writer.lock();
    match remove(st, rtnl, &mut reg, |c| c.cfg.ifindex == ifindex) {
        Ok(ids) => {
            drop(reg);
            for id in ids.iter() {
                notify_gone(st, *id);
            }
        }
        Err(_) => {
            // Out of memory: the clusters cannot stay on a vanished
            // interface, so take them all down.
            shutdown_locked(st, rtnl, &mut reg);
        }
    }
}

/// Removes every cluster: the namespace or the module is going away.
pub(crate) fn shutdown(st: &NetState) {
    let rtnl = Rtnl::lock();
    let mut reg = st.writer.lock();
    shutdown_locked(st, &rtnl, &mut reg);
}

fn shutdown_locked(st: &NetState, rtnl: &Rtnl, reg: &mut Registry) {
    if let Some(set) = st.clusters.replace(None, reg) {
        for c in set.list.iter() {
            detach(st, rtnl, reg, &c.cfg, &[]);
        }
    }
}

fn fill_cluster(w: &mut impl Writer, c: &Cluster, with_seed: bool) -> Result {
    let cfg = &c.cfg;
    w.u32(IPCLUSTER_A_CLUSTER_ID, cfg.id)?;
    w.u32(IPCLUSTER_A_CLUSTER_IFINDEX, cfg.ifindex as u32)?;
    if let Some(a) = cfg.addr4 {
        w.put(IPCLUSTER_A_CLUSTER_ADDR4, &a.to_be_bytes())?;
    }
    if let Some(a) = &cfg.addr6 {
        w.put(IPCLUSTER_A_CLUSTER_ADDR6, &addr_bytes(a))?;
    }
    if cfg.mac != [0; 6] {
        w.put(IPCLUSTER_A_CLUSTER_MAC, &cfg.mac)?; // none in forward mode unless given
    }
    w.u32(
        IPCLUSTER_A_CLUSTER_MODE,
        match cfg.delivery {
            Delivery::Multicast => IPCLUSTER_MODE_MULTICAST,
            Delivery::Unicast => IPCLUSTER_MODE_UNICAST,
            Delivery::Forward => IPCLUSTER_MODE_FORWARD,
        },
    )?;
    match &cfg.hash {
        Mode::Seed => w.u32(IPCLUSTER_A_CLUSTER_HASH, IPCLUSTER_HASH_SEED)?,
        Mode::Keyed(k) => {
            w.u32(IPCLUSTER_A_CLUSTER_HASH, IPCLUSTER_HASH_KEYED)?;
            if with_seed {
                w.put(IPCLUSTER_A_CLUSTER_SEED, &k.0)?;
            }
        }
    }
    w.u32(IPCLUSTER_A_CLUSTER_BUCKET_BITS, cfg.bits)?;
    w.u32(IPCLUSTER_A_CLUSTER_DRAIN_MS, cfg.drain_ms)?;
    if cfg.tcp_export {
        w.put(IPCLUSTER_A_CLUSTER_TCP_EXPORT, &[])?;
    }
    if let Some(q) = cfg.commit_queue {
        w.put(IPCLUSTER_A_CLUSTER_COMMIT_QUEUE, &q.to_ne_bytes())?;
    }
    w.uint(IPCLUSTER_A_CLUSTER_MALFORMED, c.malformed())?;
    for i in cfg.fwd.iter() {
        w.u32(IPCLUSTER_A_CLUSTER_FWD_IFINDEX, *i as u32)?;
    }
    Ok(())
}

/// cluster-get (do).
pub(crate) fn cluster_get(req: &Request) -> Result {
    let st: &NetState = req.state()?;
    let reg = st.writer.lock();
    let c = find(req, st, &reg, IPCLUSTER_A_CLUSTER_ID)?;
    let member = c.table.get_locked(&reg).map_or(0, |t| t.member);
    drop(reg);
    let mut m = Msg::reply(req, IPCLUSTER_CMD_CLUSTER_GET, 0)?;
    fill_cluster(&mut m, &c, req.admin())?;
    m.u32(IPCLUSTER_A_CLUSTER_MEMBER_ID, u32::from(member))?;
    m.send_reply(req)
}

/// cluster-get (dump): every cluster of the namespace.
pub(crate) fn cluster_dump(d: &mut Dump<'_>) -> Result {
    let st: &NetState = d.state()?;
    let reg = st.writer.lock();
    let Some(set) = st.clusters.get_locked(&reg) else {
        return Ok(());
    };
    let start = usize::try_from(*d.cursor()).unwrap_or(usize::MAX);
    for (i, c) in set.list.iter().enumerate().skip(start) {
        let member = c.table.get_locked(&reg).map_or(0, |t| t.member);
        let Some(mut e) = d.entry(IPCLUSTER_CMD_CLUSTER_GET) else {
            break;
        };
        if fill_cluster(&mut e, c, false).is_err()
            || e.u32(IPCLUSTER_A_CLUSTER_MEMBER_ID, u32::from(member))
                .is_err()
        {
            break; // full: the entry cancels itself, the next call resumes
        }
        e.end();
        *d.cursor() = (i + 1) as _;
    }
    Ok(())
}

/// The forward-mode member MACs of a table-set request, in increasing id
/// order (as the ABI asks: the lookup is a binary search).
fn member_macs(req: &Request, old: Option<&Table>) -> Result<KVec<(u16, [u8; 6])>> {
    let mut macs = KVec::new();
    let Some(b) = req.bytes(IPCLUSTER_A_CLUSTER_MEMBERS) else {
        macs.extend_from_slice(old.map_or(&[][..], |t| &t.macs[..]), GFP_KERNEL)?;
        return Ok(macs);
    };
    if b.len() % 8 != 0 || b.len() / 8 > IPCLUSTER_MAX_MEMBERS as usize {
        return Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_MEMBERS),
            c_str!("members: up to 256 records of a u16 id and a 6-byte MAC"),
            EINVAL,
        ));
    }
    for r in b.chunks_exact(8) {
        let id = u16::from_ne_bytes([r[0], r[1]]);
        let mac: [u8; 6] = r[2..8].try_into().map_err(|_| EINVAL)?;
        if u32::from(id) > IPCLUSTER_MAX_MEMBER_ID || mac[0] & 1 != 0 {
            return Err(req.fail(
                Some(IPCLUSTER_A_CLUSTER_MEMBERS),
                c_str!("members: a bad member id or a multicast MAC"),
                EINVAL,
            ));
        }
        macs.push((id, mac), GFP_KERNEL)?;
    }
    if macs.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_MEMBERS),
            c_str!("members: ids must increase (sorted, each once)"),
            EINVAL,
        ));
    }
    Ok(macs)
}

/// When each bucket's drain ends under the new `owners`: a bucket that
/// changes hands (from a member, not from nobody) starts one now; the
/// others keep theirs. Forward mode does not drain: the forwarder keeps no
/// per-connection state to send old flows to their old owner by.
fn drains(cfg: &Config, old: Option<&Table>, owners: &[u16]) -> Result<KVec<Jiffies>> {
    let mut drain = KVec::with_capacity(owners.len(), GFP_KERNEL)?;
    let now = Jiffies::now();
    for (b, &new) in owners.iter().enumerate() {
        let (was, end) = old.map_or((UNOWNED, Jiffies::NEVER), |t| {
            let was = t.owners.get(b).copied().unwrap_or(UNOWNED);
            (was, t.drain.get(b).copied().unwrap_or_default())
        });
        let starts = was != new && was != UNOWNED && cfg.drain_ms != 0;
        let end = match cfg.delivery {
            Delivery::Forward => Jiffies::NEVER,
            _ if starts => now.after_ms(cfg.drain_ms),
            _ => end,
        };
        drain.push(end, GFP_KERNEL)?;
    }
    Ok(drain)
}

/// table-set: a whole new table, and/or a new local member id, forwarder
/// or member MACs; what is not given stays.
pub(crate) fn table_set(req: &Request) -> Result {
    let st: &NetState = req.state()?;
    let reg = st.writer.lock();
    let c = find(req, st, &reg, IPCLUSTER_A_CLUSTER_ID)?;
    let old = c.table.get_locked(&reg);
    let keep = |a: u32, f: fn(&Table) -> u16| {
        req.u32(a)
            .map_or_else(|| old.map_or(UNOWNED, f), |v| v as u16)
    };
    let member = keep(IPCLUSTER_A_CLUSTER_MEMBER_ID, |t| t.member);
    let forwarder = keep(IPCLUSTER_A_CLUSTER_FORWARDER, |t| t.forwarder);
    let n = c.cfg.buckets() as usize;
    let mut owners = KVec::with_capacity(n, GFP_KERNEL)?;
    match req.bytes(IPCLUSTER_A_CLUSTER_TABLE) {
        Some(b) if b.len() != 2 * n => {
            return Err(req.fail(
                Some(IPCLUSTER_A_CLUSTER_TABLE),
                c_str!("the table must hold one u16 owner per bucket"),
                EINVAL,
            ));
        }
        Some(b) => {
            for o in b.chunks_exact(2) {
                owners.push(u16::from_ne_bytes([o[0], o[1]]), GFP_KERNEL)?;
            }
        }
        None if [
            IPCLUSTER_A_CLUSTER_MEMBER_ID,
            IPCLUSTER_A_CLUSTER_FORWARDER,
            IPCLUSTER_A_CLUSTER_MEMBERS,
        ]
        .iter()
        .all(|&a| req.bytes(a).is_none()) =>
        {
            return Err(req.fail(
                None,
                c_str!("nothing to set: give a table, member id, forwarder or members"),
                EINVAL,
            ));
        }
        None => owners.extend_from_slice(old.map_or(&[][..], |t| &t.owners[..]), GFP_KERNEL)?,
    }
    let macs = member_macs(req, old)?;
    let drain = drains(&c.cfg, old, &owners)?;
    let table = KBox::new(
        Table {
            member,
            owners,
            forwarder,
            macs,
            drain,
        },
        GFP_KERNEL,
    )?;
    c.table.replace_deferred(Some(table), &reg);
    drop(reg);
    notify(st, &c);
    Ok(())
}

/// table-get.
pub(crate) fn table_get(req: &Request) -> Result {
    let st: &NetState = req.state()?;
    let reg = st.writer.lock();
    let c = find(req, st, &reg, IPCLUSTER_A_CLUSTER_ID)?;
    let t = c.table.get_locked(&reg).ok_or(ENOENT)?;
    let mut m = Msg::reply(
        req,
        IPCLUSTER_CMD_TABLE_GET,
        2 * t.owners.len() + 8 * t.macs.len() + 256,
    )?;
    m.u32(IPCLUSTER_A_CLUSTER_ID, c.cfg.id)?;
    m.u32(IPCLUSTER_A_CLUSTER_BUCKET_BITS, c.cfg.bits)?;
    m.u32(IPCLUSTER_A_CLUSTER_MEMBER_ID, u32::from(t.member))?;
    let mut raw = KVec::with_capacity(2 * t.owners.len(), GFP_KERNEL)?;
    for o in t.owners.iter() {
        raw.extend_from_slice(&o.to_ne_bytes(), GFP_KERNEL)?;
    }
    m.put(IPCLUSTER_A_CLUSTER_TABLE, &raw)?;
    if t.forwarder != UNOWNED {
        m.u32(IPCLUSTER_A_CLUSTER_FORWARDER, u32::from(t.forwarder))?;
    }
    if !t.macs.is_empty() {
        let mut raw = KVec::with_capacity(8 * t.macs.len(), GFP_KERNEL)?;
        for (id, mac) in t.macs.iter() {
            raw.extend_from_slice(&id.to_ne_bytes(), GFP_KERNEL)?;
            raw.extend_from_slice(mac, GFP_KERNEL)?;
        }
        m.put(IPCLUSTER_A_CLUSTER_MEMBERS, &raw)?;
    }
    drop(reg);
    m.send_reply(req)
}

/// bucket-get (dump): one entry per bucket with its summed counters.
pub(crate) fn bucket_dump(d: &mut Dump<'_>) -> Result {
    let id = d.u32(IPCLUSTER_A_BUCKET_CLUSTER_ID).ok_or(EINVAL)?;
    let st: &NetState = d.state()?;
    let reg = st.writer.lock();
    let c = lookup(st, &reg, id).ok_or(ENOENT)?;
    let t = c.table.get_locked(&reg);
    let now = Jiffies::now();
    let start = u32::try_from(*d.cursor()).unwrap_or(u32::MAX);
    for b in start..c.cfg.buckets() {
        let s = c.stats.sum(b);
        let owner = t
            .and_then(|t| t.owners.get(b as usize).copied())
            .unwrap_or(UNOWNED);
        let Some(mut e) = d.entry(IPCLUSTER_CMD_BUCKET_GET) else {
            break;
        };
        let ok = e.u32(IPCLUSTER_A_BUCKET_CLUSTER_ID, id).is_ok()
            && e.u32(IPCLUSTER_A_BUCKET_INDEX, b).is_ok()
            && e.u32(IPCLUSTER_A_BUCKET_OWNER, u32::from(owner)).is_ok()
            && e.uint(IPCLUSTER_A_BUCKET_PACKETS, s.packets).is_ok()
            && e.uint(IPCLUSTER_A_BUCKET_BYTES, s.bytes).is_ok()
            && e.uint(IPCLUSTER_A_BUCKET_FLOWS, s.flows).is_ok()
            && e.uint(IPCLUSTER_A_BUCKET_DROPS, s.drops).is_ok()
            && e.uint(IPCLUSTER_A_BUCKET_FORWARDED, s.forwarded).is_ok()
            && t.and_then(|t| t.drain_left(b, now))
                .map_or(true, |ms| e.u32(IPCLUSTER_A_BUCKET_DRAIN_MS, ms).is_ok());
        if !ok {
            break;
        }
        e.end();
        *d.cursor() = (b + 1) as _;
    }
    Ok(())
}
