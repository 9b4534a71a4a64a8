// SPDX-License-Identifier: GPL-2.0
//! A cluster as netlink describes it, in replies and in the events that
//! announce every change on the `events` group.

use crate::cluster::{Cluster, Delivery, NetState};
use crate::shared::hash::{Affinity, Mode};
use crate::shared::packet::addr_bytes;
use crate::sys::genl::{Msg, Writer};
use crate::sys::uapi::*;
use kernel::prelude::*;

pub(super) fn fill_cluster(w: &mut impl Writer, c: &Cluster, with_seed: bool) -> Result {
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
    match &cfg.hash.mode {
        Mode::Seed => w.u32(IPCLUSTER_A_CLUSTER_HASH, IPCLUSTER_HASH_SEED)?,
        Mode::Keyed(k) => {
            w.u32(IPCLUSTER_A_CLUSTER_HASH, IPCLUSTER_HASH_KEYED)?;
            if with_seed {
                w.put(IPCLUSTER_A_CLUSTER_SEED, &k.0)?;
            }
        }
    }
    fill_affinity(w, cfg.hash.affinity)?;
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

/// The affinity, and its prefixes when it is network.
fn fill_affinity(w: &mut impl Writer, a: Affinity) -> Result {
    let kind = match a {
        Affinity::None => IPCLUSTER_AFFINITY_NONE,
        Affinity::Source => IPCLUSTER_AFFINITY_SOURCE,
        Affinity::Network { v4, v6 } => {
            w.u32(IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX4, u32::from(v4))?;
            w.u32(IPCLUSTER_A_CLUSTER_AFFINITY_PREFIX6, u32::from(v6))?;
            IPCLUSTER_AFFINITY_NETWORK
        }
    };
    w.u32(IPCLUSTER_A_CLUSTER_AFFINITY, kind)
}

pub(super) fn notify(st: &NetState, c: &Cluster) {
    if let Ok(mut m) = Msg::event(IPCLUSTER_CMD_CLUSTER_CHANGE_NTF) {
        if fill_cluster(&mut m, c, false).is_ok() {
            m.send_event(&st.net);
        }
    }
}

pub(super) fn notify_gone(st: &NetState, id: u32) {
    if let Ok(mut m) = Msg::event(IPCLUSTER_CMD_CLUSTER_CHANGE_NTF) {
        if m.u32(IPCLUSTER_A_CLUSTER_ID, id).is_ok() {
            m.send_event(&st.net);
        }
    }
}
