// SPDX-License-Identifier: GPL-2.0
//! table-set: a cluster's new bucket table, member id, forwarder or
//! member MACs, or the members that are gone, published without waiting
//! for the old table's readers.

use super::event::notify;
use super::writer::find;
use crate::cluster::{Config, Delivery, Drain, NetState, Table, UNOWNED};
use crate::sys::genl::Request;
use crate::sys::time::Jiffies;
use crate::sys::uapi::*;
use kernel::c_str;
use kernel::prelude::*;

/// The forward-mode member MACs of a table-set request, in increasing id
/// order (as the ABI asks: the lookup is a binary search).
fn member_macs(req: &Request, old: Option<&Table>) -> Result<KVec<(u16, [u8; 6])>> {
    let mut macs = KVec::new();
    let Some(b) = req.bytes(IPCLUSTER_A_CLUSTER_MEMBERS) else {
        macs.extend_from_slice(old.map_or(&[][..], |t| &t.macs[..]), GFP_KERNEL_ACCOUNT)?;
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
        macs.push((id, mac), GFP_KERNEL_ACCOUNT)?;
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

/// The members of a table-set request that are gone, if any.
fn gone(req: &Request) -> Result<KVec<u16>> {
    let mut ids = KVec::new();
    let Some(b) = req.bytes(IPCLUSTER_A_CLUSTER_GONE) else {
        return Ok(ids);
    };
    if b.len() % 2 != 0 || b.len() / 2 > IPCLUSTER_MAX_MEMBERS as usize {
        return Err(req.fail(
            Some(IPCLUSTER_A_CLUSTER_GONE),
            c_str!("gone: up to 256 u16 member ids"),
            EINVAL,
        ));
    }
    for r in b.chunks_exact(2) {
        let id = u16::from_ne_bytes([r[0], r[1]]);
        if u32::from(id) > IPCLUSTER_MAX_MEMBER_ID {
            return Err(req.fail(
                Some(IPCLUSTER_A_CLUSTER_GONE),
                c_str!("gone: a bad member id"),
                EINVAL,
            ));
        }
        ids.push(id, GFP_KERNEL_ACCOUNT)?;
    }
    Ok(ids)
}

/// Each bucket's drain under the new `owners`: a bucket that changes hands
/// (from a member, not from nobody) starts one now; the others keep
/// theirs, but for those from a member that is `gone`, which end. A drain
/// that starts while another from a different member runs is from
/// several (`UNOWNED`): both may hold connections, and `gone` never ends
/// it. Forward mode does not drain: the forwarder keeps no per-connection
/// state to send old flows to their old owner by.
fn drains(cfg: &Config, old: Option<&Table>, owners: &[u16], gone: &[u16]) -> Result<KVec<Drain>> {
    let mut drain = KVec::with_capacity(owners.len(), GFP_KERNEL_ACCOUNT)?;
    let now = Jiffies::now();
    for (b, &new) in owners.iter().enumerate() {
        let (was, kept) = old.map_or((UNOWNED, Drain::NONE), |t| {
            let was = t.owners.get(b).copied().unwrap_or(UNOWNED);
            (was, t.drain.get(b).copied().unwrap_or(Drain::NONE))
        });
        let d = match cfg.delivery {
            Delivery::Forward => Drain::NONE,
            _ if was != new && was != UNOWNED && cfg.drain_ms != 0 => Drain {
                end: now.after_ms(cfg.drain_ms),
                from: if kept.end > now && kept.from != was {
                    UNOWNED
                } else {
                    was
                },
            },
            _ => kept,
        };
        // A gone member's connections are restored or lost: it holds none
        // that its old buckets' segments should be left for.
        let d = if gone.contains(&d.from) {
            Drain::NONE
        } else {
            d
        };
        drain.push(d, GFP_KERNEL_ACCOUNT)?;
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
    let mut owners = KVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?;
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
                owners.push(u16::from_ne_bytes([o[0], o[1]]), GFP_KERNEL_ACCOUNT)?;
            }
        }
        None if [
            IPCLUSTER_A_CLUSTER_MEMBER_ID,
            IPCLUSTER_A_CLUSTER_FORWARDER,
            IPCLUSTER_A_CLUSTER_MEMBERS,
            IPCLUSTER_A_CLUSTER_GONE,
        ]
        .iter()
        .all(|&a| req.bytes(a).is_none()) =>
        {
            return Err(req.fail(
                None,
                c_str!("nothing to set: give a table, member id, forwarder, members or gone"),
                EINVAL,
            ));
        }
        None => {
            owners.extend_from_slice(old.map_or(&[][..], |t| &t.owners[..]), GFP_KERNEL_ACCOUNT)?
        }
    }
    let macs = member_macs(req, old)?;
    let drain = drains(&c.cfg, old, &owners, &gone(req)?)?;
    let table = KBox::new(
        Table {
            member,
            owners,
            forwarder,
            macs,
            drain,
        },
        GFP_KERNEL_ACCOUNT,
    )?;
    c.table.replace_deferred(Some(table), &reg);
    drop(reg);
    notify(st, &c);
    Ok(())
}
