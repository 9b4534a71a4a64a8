// SPDX-License-Identifier: GPL-2.0
//! The reads: cluster-get (do and dump), table-get and bucket-get (dump).

use super::event::fill_cluster;
use super::writer::{find, lookup};
use crate::cluster::{NetState, UNOWNED};
use crate::sys::genl::{Dump, Msg, Request, Writer};
use crate::sys::time::Jiffies;
use crate::sys::uapi::*;
use kernel::prelude::*;

/// cluster-get (do): one cluster, with its seed for CAP_NET_ADMIN.
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

/// table-get: the cluster's table, member id, forwarder and member MACs.
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
