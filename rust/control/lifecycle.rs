// SPDX-License-Identifier: GPL-2.0
//! Clusters come and go: cluster-new and cluster-del, and the removals
//! an interface or a namespace going away forces.

use super::config::config;
use super::event::{notify, notify_gone};
use super::writer::{attach, copy_list, detach, find, publish, remove, shutdown_locked};
use crate::cluster::{Cluster, Config, Drain, NetState, Registry, Table, UNOWNED};
use crate::sys::genl::{Msg, Request, Writer};
use crate::sys::net::Rtnl;
use crate::sys::uapi::*;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Most clusters in one namespace. Users may make clusters in namespaces
/// of their own (CAP_NET_ADMIN over the namespace, see
/// `Documentation/datapath.md`): this bounds what each namespace holds and
/// the packet path's linear lookups; what a cluster holds is charged to
/// its creator's memory cgroup.
const MAX_CLUSTERS: usize = 64;

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
        owners: KVec::from_elem(UNOWNED, n, GFP_KERNEL_ACCOUNT)?,
        forwarder: UNOWNED,
        macs: KVec::new(),
        drain: KVec::from_elem(Drain::NONE, n, GFP_KERNEL_ACCOUNT)?,
    };
    Ok(KBox::new(table, GFP_KERNEL_ACCOUNT)?)
}

/// cluster-new: creates a cluster from the request, sets up its
/// interface and publishes it; the reply carries its id.
pub(crate) fn cluster_new(req: &Request) -> Result {
    let st: &NetState = req.state()?;
    let rtnl = Rtnl::lock();
    let mut reg = st.writer.lock();
    let mut list = copy_list(st, &reg)?;
    if list.len() >= MAX_CLUSTERS {
        return Err(req.fail(None, c_str!("too many clusters in this namespace"), ENOSPC));
    }
    let id = new_id(req, &mut reg, &list)?;
    let cfg = config(req, st, &rtnl, id)?;
    check_free(req, st, &rtnl, &list, &cfg)?;
    let table = first_table(req, &cfg)?;
    let cluster = Arc::new(Cluster::new(cfg, table)?, GFP_KERNEL_ACCOUNT)?;
    list.push(cluster.clone(), GFP_KERNEL_ACCOUNT)?;
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

/// cluster-del: removes a cluster and undoes what it set up.
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
