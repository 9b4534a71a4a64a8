// SPDX-License-Identifier: GPL-2.0
//! What a writer does under the namespace's writer lock: find clusters,
//! publish a new set, and set up (or undo) what a live cluster needs from
//! its namespace.

use crate::cluster::{Cluster, ClusterSet, Config, Delivery, NetState, Registry};
use crate::filter::IngressHook;
use crate::sys::genl::Request;
use crate::sys::net::Rtnl;
use crate::sys::pernet::Ingress;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// A copy of the published list, to build the next one from.
pub(super) fn copy_list(st: &NetState, reg: &Registry) -> Result<KVec<Arc<Cluster>>> {
    let mut list = KVec::new();
    if let Some(set) = st.clusters.get_locked(reg) {
        for c in set.list.iter() {
            list.push(c.clone(), GFP_KERNEL_ACCOUNT)?;
        }
    }
    Ok(list)
}

/// The clusters published now, for a writer.
fn current<'a>(st: &'a NetState, reg: &'a Registry) -> &'a [Arc<Cluster>] {
    st.clusters.get_locked(reg).map_or(&[], |s| &s.list[..])
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

pub(super) fn publish(st: &NetState, reg: &Registry, list: KVec<Arc<Cluster>>) -> Result {
    let set = KBox::new(ClusterSet { list }, GFP_KERNEL_ACCOUNT)?;
    // Waits for the packet path to stop seeing the old set.
    drop(st.clusters.replace(Some(set), reg));
    Ok(())
}

/// The side effects a live cluster has on its namespace: the cluster MAC
/// in the interface's filter, the interface's ingress hook (early drop;
/// for a unicast MAC also what makes its frames the host's), and
/// defragmentation.
pub(super) fn attach(st: &NetState, rtnl: &Rtnl, reg: &mut Registry, cfg: &Config) -> Result {
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

pub(super) fn detach(
    st: &NetState,
    rtnl: &Rtnl,
    reg: &mut Registry,
    cfg: &Config,
    rest: &[Arc<Cluster>],
) {
    detach_dev(st, rtnl, reg, cfg, rest);
    if cfg.addr4.is_some() {
        let _ = st.net.defrag(false, false);
    }
    if cfg.addr6.is_some() {
        let _ = st.net.defrag(true, false);
    }
}

/// Publishes the clusters but those `gone` picks, and undoes what these
/// had set up; returns their ids.
pub(super) fn remove(
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

pub(super) fn shutdown_locked(st: &NetState, rtnl: &Rtnl, reg: &mut Registry) {
    if let Some(set) = st.clusters.replace(None, reg) {
        for c in set.list.iter() {
            detach(st, rtnl, reg, &c.cfg, &[]);
        }
    }
}
