// SPDX-License-Identifier: GPL-2.0
//! The netlink operations: create, delete and read clusters, replace and
//! read their bucket tables, dump their counters. Every change happens
//! under the namespace's writer lock, is built completely before it is
//! published, and is announced on the `events` group.

use crate::cluster::{Cluster, ClusterSet, Config, Delivery, NetState, Registry, Table, UNOWNED};
use crate::hash::{Mode, DEFAULT_BUCKET_BITS};
use crate::netlink::{abi::*, eopnotsupp, Dump, Msg, Request, Writer};
use crate::packet::{addr_bytes, addr_words};
use crate::siphash::Key;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Most forwarding-filter interfaces per cluster.
const MAX_FWD: usize = 16;

fn config(req: &Request, id: u32) -> Result<Config> {
    let ifindex = req.u32(A_IFINDEX).ok_or_else(|| {
        req.fail(
            None,
            c_str!("missing the cluster's interface (ifindex)"),
            EINVAL,
        )
    })?;
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| req.fail(Some(A_IFINDEX), c_str!("bad ifindex"), EINVAL))?;
    let addr4 = req.u32(A_ADDR4).map(u32::from_be);
    let addr6 = req
        .bytes(A_ADDR6)
        .and_then(|b| b.try_into().ok())
        .map(addr_words);
    if addr4.is_none() && addr6.is_none() {
        return Err(req.fail(
            None,
            c_str!("a cluster needs an IPv4 or an IPv6 address"),
            EINVAL,
        ));
    }
    let delivery = match req.u32(A_MODE).unwrap_or(MODE_MULTICAST) {
        MODE_MULTICAST => Delivery::Multicast,
        MODE_UNICAST | MODE_FORWARD => {
            return Err(req.fail(
                Some(A_MODE),
                c_str!("only multicast mode is supported yet"),
                eopnotsupp(),
            ));
        }
        _ => return Err(req.fail(Some(A_MODE), c_str!("unknown mode"), EINVAL)),
    };
    let mac: [u8; 6] = req
        .bytes(A_MAC)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| req.fail(None, c_str!("missing the cluster MAC"), EINVAL))?;
    if delivery == Delivery::Multicast && mac[0] & 1 == 0 {
        return Err(req.fail(
            Some(A_MAC),
            c_str!("multicast mode needs a multicast MAC"),
            EINVAL,
        ));
    }
    let hash = match req.u32(A_HASH).unwrap_or(HASH_KEYED) {
        HASH_KEYED => {
            let seed: [u8; 16] = req
                .bytes(A_SEED)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| req.fail(None, c_str!("the keyed hash needs a seed"), EINVAL))?;
            Mode::Keyed(Key(seed))
        }
        HASH_SEED => Mode::Seed,
        _ => return Err(req.fail(Some(A_HASH), c_str!("unknown hash"), EINVAL)),
    };
    let mut fwd_ids = [0u32; MAX_FWD];
    let n = req.u32s(A_FWD_IFINDEX, &mut fwd_ids).map_err(|e| {
        req.fail(
            Some(A_FWD_IFINDEX),
            c_str!("too many forwarding interfaces"),
            e,
        )
    })?;
    let mut fwd = KVec::with_capacity(n, GFP_KERNEL)?;
    for &i in &fwd_ids[..n] {
        let i = i32::try_from(i)
            .map_err(|_| req.fail(Some(A_FWD_IFINDEX), c_str!("bad ifindex"), EINVAL))?;
        if req.state().net.dev_addr(i, None, false, true).is_err() {
            return Err(req.fail(
                Some(A_FWD_IFINDEX),
                c_str!("no such forwarding interface"),
                ENODEV,
            ));
        }
        fwd.push(i, GFP_KERNEL)?;
    }
    Ok(Config {
        id,
        ifindex,
        addr4,
        addr6,
        mac,
        delivery,
        hash,
        bits: req.u32(A_BUCKET_BITS).unwrap_or(DEFAULT_BUCKET_BITS),
        fwd,
    })
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

/// The side effects a live cluster has on its namespace.
fn attach(st: &NetState, cfg: &Config) -> Result {
    let mcast = cfg.delivery == Delivery::Multicast;
    st.net.dev_addr(cfg.ifindex, Some(&cfg.mac), mcast, true)?;
    if cfg.addr4.is_some() {
        if let Err(e) = st.net.defrag(false, true) {
            detach_dev(st, cfg);
            return Err(e);
        }
    }
    if cfg.addr6.is_some() {
        if let Err(e) = st.net.defrag(true, true) {
            if cfg.addr4.is_some() {
                let _ = st.net.defrag(false, false);
            }
            detach_dev(st, cfg);
            return Err(e);
        }
    }
    Ok(())
}

fn detach_dev(st: &NetState, cfg: &Config) {
    // The interface may be gone already, and its address list with it.
    let _ = st.net.dev_addr(
        cfg.ifindex,
        Some(&cfg.mac),
        cfg.delivery == Delivery::Multicast,
        false,
    );
}

fn detach(st: &NetState, cfg: &Config) {
    detach_dev(st, cfg);
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
    if let Ok(mut m) = Msg::event(CMD_CHANGE_NTF) {
        if fill_cluster(&mut m, c, false).is_ok() {
            m.send_event(&st.net);
        }
    }
}

/// cluster-new.
pub(crate) fn cluster_new(req: &Request) -> Result {
    let st = req.state();
    let mut reg = st.writer.lock();
    let list = copy_list(st, &reg)?;
    let id = match req.u32(A_ID) {
        Some(id) if list.iter().any(|c| c.cfg.id == id) => {
            return Err(req.fail(Some(A_ID), c_str!("a cluster with this id exists"), EEXIST));
        }
        Some(id) => id,
        None => loop {
            reg.next_id = reg.next_id.wrapping_add(1).max(1);
            if !list.iter().any(|c| c.cfg.id == reg.next_id) {
                break reg.next_id;
            }
        },
    };
    let cfg = config(req, id)?;
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
            Some(A_FWD_IFINDEX),
            c_str!("another cluster filters forwarding on this interface"),
            EEXIST,
        ));
    }
    if st.net.dev_addr(cfg.ifindex, None, false, true).is_err() {
        return Err(req.fail(Some(A_IFINDEX), c_str!("no such interface"), ENODEV));
    }
    let member = req.u32(A_MEMBER_ID).unwrap_or(0) as u16;
    let owners = KVec::from_elem(UNOWNED, cfg.buckets() as usize, GFP_KERNEL)?;
    let table = KBox::new(Table { member, owners }, GFP_KERNEL)?;
    let cluster = Arc::new(Cluster::new(cfg, table)?, GFP_KERNEL)?;
    let mut list = list;
    list.push(cluster.clone(), GFP_KERNEL)?;
    let mut reply = Msg::reply(req, CMD_CLUSTER_NEW, 0)?;
    reply.u32(A_ID, id)?;
    attach(st, &cluster.cfg)
        .map_err(|e| req.fail(None, c_str!("cannot set up the interface"), e))?;
    if let Err(e) = publish(st, &reg, list) {
        detach(st, &cluster.cfg);
        return Err(e);
    }
    drop(reg);
    notify(st, &cluster);
    reply.send_reply(req)
}

fn find(req: &Request, st: &NetState, reg: &Registry) -> Result<Arc<Cluster>> {
    let id = req
        .u32(A_ID)
        .ok_or_else(|| req.fail(None, c_str!("missing cluster id"), EINVAL))?;
    lookup(st, reg, id).ok_or_else(|| req.fail(Some(A_ID), c_str!("no such cluster"), ENOENT))
}

/// Cluster `id`, for a writer holding `reg`.
fn lookup(st: &NetState, reg: &Registry, id: u32) -> Option<Arc<Cluster>> {
    st.clusters
        .get_locked(reg)
        .and_then(|s| s.by_id(id))
        .cloned()
}

/// cluster-del.
pub(crate) fn cluster_del(req: &Request) -> Result {
    let st = req.state();
    let reg = st.writer.lock();
    let gone = find(req, st, &reg)?;
    let mut list = KVec::new();
    for c in copy_list(st, &reg)?
        .iter()
        .filter(|c| c.cfg.id != gone.cfg.id)
    {
        list.push(c.clone(), GFP_KERNEL)?;
    }
    publish(st, &reg, list)?;
    detach(st, &gone.cfg);
    drop(reg);
    if let Ok(mut m) = Msg::event(CMD_CHANGE_NTF) {
        if m.u32(A_ID, gone.cfg.id).is_ok() {
            m.send_event(&st.net);
        }
    }
    Ok(())
}

/// Removes every cluster: the namespace or the module is going away.
pub(crate) fn shutdown(st: &NetState) {
    let reg = st.writer.lock();
    if let Some(set) = st.clusters.replace(None, &reg) {
        for c in set.list.iter() {
            detach(st, &c.cfg);
        }
    }
}

fn fill_cluster(w: &mut impl Writer, c: &Cluster, with_seed: bool) -> Result {
    let cfg = &c.cfg;
    w.u32(A_ID, cfg.id)?;
    w.u32(A_IFINDEX, cfg.ifindex as u32)?;
    if let Some(a) = cfg.addr4 {
        w.put(A_ADDR4, &a.to_be_bytes())?;
    }
    if let Some(a) = &cfg.addr6 {
        w.put(A_ADDR6, &addr_bytes(a))?;
    }
    w.put(A_MAC, &cfg.mac)?;
    w.u32(
        A_MODE,
        match cfg.delivery {
            Delivery::Multicast => MODE_MULTICAST,
        },
    )?;
    match &cfg.hash {
        Mode::Seed => w.u32(A_HASH, HASH_SEED)?,
        Mode::Keyed(k) => {
            w.u32(A_HASH, HASH_KEYED)?;
            if with_seed {
                w.put(A_SEED, &k.0)?;
            }
        }
    }
    w.u32(A_BUCKET_BITS, cfg.bits)?;
    w.uint(A_MALFORMED, c.malformed())?;
    for i in cfg.fwd.iter() {
        w.u32(A_FWD_IFINDEX, *i as u32)?;
    }
    Ok(())
}

/// cluster-get (do).
pub(crate) fn cluster_get(req: &Request) -> Result {
    let st = req.state();
    let reg = st.writer.lock();
    let c = find(req, st, &reg)?;
    let member = c.table.get_locked(&reg).map_or(0, |t| t.member);
    drop(reg);
    let mut m = Msg::reply(req, CMD_CLUSTER_GET, 0)?;
    fill_cluster(&mut m, &c, req.admin())?;
    m.u32(A_MEMBER_ID, u32::from(member))?;
    m.send_reply(req)
}

/// cluster-get (dump): every cluster of the namespace.
pub(crate) fn cluster_dump(d: &mut Dump<'_>) -> Result {
    let st = d.state();
    let reg = st.writer.lock();
    let Some(set) = st.clusters.get_locked(&reg) else {
        return Ok(());
    };
    let start = usize::try_from(*d.cursor()).unwrap_or(usize::MAX);
    for (i, c) in set.list.iter().enumerate().skip(start) {
        let member = c.table.get_locked(&reg).map_or(0, |t| t.member);
        let Some(mut e) = d.entry(CMD_CLUSTER_GET) else {
            break;
        };
        if fill_cluster(&mut e, c, false).is_err() || e.u32(A_MEMBER_ID, u32::from(member)).is_err()
        {
            break; // full: the entry cancels itself, the next call resumes
        }
        e.end();
        *d.cursor() = (i + 1) as _;
    }
    Ok(())
}

/// table-set: a whole new table, and/or a new local member id.
pub(crate) fn table_set(req: &Request) -> Result {
    let st = req.state();
    let reg = st.writer.lock();
    let c = find(req, st, &reg)?;
    let old = c.table.get_locked(&reg);
    let member = match req.u32(A_MEMBER_ID) {
        Some(m) => m as u16,
        None => old.map_or(0, |t| t.member),
    };
    let n = c.cfg.buckets() as usize;
    let mut owners = KVec::with_capacity(n, GFP_KERNEL)?;
    match req.bytes(A_TABLE) {
        Some(b) if b.len() != 2 * n => {
            return Err(req.fail(
                Some(A_TABLE),
                c_str!("the table must hold one u16 owner per bucket"),
                EINVAL,
            ));
        }
        Some(b) => {
            for o in b.chunks_exact(2) {
                owners.push(u16::from_ne_bytes([o[0], o[1]]), GFP_KERNEL)?;
            }
        }
        None if req.u32(A_MEMBER_ID).is_none() => {
            return Err(req.fail(
                None,
                c_str!("nothing to set: give a table or a member id"),
                EINVAL,
            ));
        }
        None => owners.extend_from_slice(old.map_or(&[][..], |t| &t.owners[..]), GFP_KERNEL)?,
    }
    let table = KBox::new(Table { member, owners }, GFP_KERNEL)?;
    drop(c.table.replace(Some(table), &reg));
    drop(reg);
    notify(st, &c);
    Ok(())
}

/// table-get.
pub(crate) fn table_get(req: &Request) -> Result {
    let st = req.state();
    let reg = st.writer.lock();
    let c = find(req, st, &reg)?;
    let t = c.table.get_locked(&reg).ok_or(ENOENT)?;
    let mut m = Msg::reply(req, CMD_TABLE_GET, 2 * t.owners.len() + 256)?;
    m.u32(A_ID, c.cfg.id)?;
    m.u32(A_BUCKET_BITS, c.cfg.bits)?;
    m.u32(A_MEMBER_ID, u32::from(t.member))?;
    let mut raw = KVec::with_capacity(2 * t.owners.len(), GFP_KERNEL)?;
    for o in t.owners.iter() {
        raw.extend_from_slice(&o.to_ne_bytes(), GFP_KERNEL)?;
    }
    m.put(A_TABLE, &raw)?;
    drop(reg);
    m.send_reply(req)
}

/// bucket-get (dump): one entry per bucket with its summed counters.
pub(crate) fn bucket_dump(d: &mut Dump<'_>) -> Result {
    let id = d.u32(B_CLUSTER_ID).ok_or(EINVAL)?;
    let st = d.state();
    let reg = st.writer.lock();
    let c = lookup(st, &reg, id).ok_or(ENOENT)?;
    let t = c.table.get_locked(&reg);
    let start = u32::try_from(*d.cursor()).unwrap_or(u32::MAX);
    for b in start..c.cfg.buckets() {
        let s = c.stats.sum(b);
        let owner = t
            .and_then(|t| t.owners.get(b as usize).copied())
            .unwrap_or(UNOWNED);
        let Some(mut e) = d.entry(CMD_BUCKET_GET) else {
            break;
        };
        let ok = e.u32(B_CLUSTER_ID, id).is_ok()
            && e.u32(B_INDEX, b).is_ok()
            && e.u32(B_OWNER, u32::from(owner)).is_ok()
            && e.uint(B_PACKETS, s.packets).is_ok()
            && e.uint(B_BYTES, s.bytes).is_ok()
            && e.uint(B_FLOWS, s.flows).is_ok()
            && e.uint(B_DROPS, s.drops).is_ok();
        if !ok {
            break;
        }
        e.end();
        *d.cursor() = (b + 1) as _;
    }
    Ok(())
}
