//! Who may replicate what. A member's certificate proves who sent a
//! `TcpState` datagram, not that its records are that member's to send: a
//! member with a valid certificate could otherwise plant a connection to
//! any address in any bucket, or overwrite, delete or feed another
//! member's replicas, and the survivor of a crash would restore them.
//!
//! The rules, checked for every record:
//! - An Initial names its connection by its 4-tuple (`conn_id`), for a
//!   destination that is one of the cluster's addresses, in a bucket its
//!   sender owns in the newest table this host knows or owned until at
//!   most [`RECENT`] before the record arrived (a connection
//!   opened just before its bucket moved, whose record arrives after the
//!   move; rebalancing may change the table several times a second).
//! - Essential, Data and Closed come from the replica's owner: the member
//!   whose Initial made it.
//! - An Initial from another member takes a replica over only when its
//!   owner is no longer a member and the sender owns the bucket (the new
//!   owner restored the connection after a failover and now replicates it
//!   under its own id).
//!
//! A record refused for ownership while its sender is a member may be
//! ahead of this host's view (the master installs a table, restores and
//! replicates before its keepalive with that table reaches everyone): it
//! waits, bounded, for the next table ([`super::replica::Store`]).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::kapi::addr::unmapped;
use crate::shared::hash::FlowHash;
use crate::shared::tcpstate::{conn_id, Initial};
pub(crate) use crate::state::TcpRefused as Refused;

/// Why a record or a restore was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An Initial for a bucket its sender owns in neither table.
    NotOwner,
    /// An Initial whose destination is not a cluster address.
    ForeignDestination,
    /// An Initial whose id is not its 4-tuple's.
    BadId,
    /// Essential, Data or Closed from a member that does not own the
    /// replica.
    NotReplicaOwner,
    /// An Initial from another member for a replica whose owner lives,
    /// or a later record of that member's for it while it owns the
    /// connection's bucket (a take-over this host has not heard of yet).
    Takeover,
    /// Essential or Data for a connection no replica here has.
    NoReplica,
    /// Data past the bytes one connection may hold.
    ConnBytes,
    /// Data past the bytes all replicas may hold.
    TotalBytes,
    /// Data after a gap, with the reorder buffer full.
    Reorder,
    /// A restore of a connection whose bucket is not this member's.
    NotMine,
}

impl Refusal {
    /// Whether a newer table or member list may make the record good.
    pub(crate) fn may_pass_later(self) -> bool {
        matches!(self, Refusal::NotOwner | Refusal::Takeover)
    }

    /// Whether the record was refused for want of room in the replica
    /// store, not for what it says or who sent it: a bound its bytes did
    /// not fit in.
    pub(crate) fn is_room(self) -> bool {
        matches!(
            self,
            Refusal::ConnBytes | Refusal::TotalBytes | Refusal::Reorder
        )
    }
}

impl Refused {
    /// Counts a record refused for `why`.
    pub(crate) fn record(&mut self, why: Refusal) {
        *match why {
            Refusal::NotOwner => &mut self.not_owner,
            Refusal::ForeignDestination => &mut self.foreign_destination,
            Refusal::BadId => &mut self.bad_id,
            Refusal::NotReplicaOwner => &mut self.not_replica_owner,
            Refusal::Takeover => &mut self.takeover,
            Refusal::NoReplica => &mut self.no_replica,
            Refusal::ConnBytes => &mut self.conn_bytes,
            Refusal::TotalBytes => &mut self.total_bytes,
            Refusal::Reorder => &mut self.reorder,
            Refusal::NotMine => &mut self.restore_not_mine,
        } += 1;
    }

    /// Counts a restore refused for `why`.
    pub(crate) fn restore(&mut self, why: Refusal) {
        *match why {
            Refusal::ForeignDestination => &mut self.restore_foreign_destination,
            Refusal::BadId => &mut self.restore_bad_id,
            _ => &mut self.restore_not_mine,
        } += 1;
    }
}

/// How long a table still counts for records after a newer one replaced
/// it: the time a record may take from its kernel to this host, with
/// margin.
pub(crate) const RECENT: Duration = Duration::from_secs(5);
/// Most past owners remembered per bucket. Rebalancing moves a bucket a
/// few times a second at most (one move per rebalancing period, and a
/// bucket rarely moves twice running), so eight cover [`RECENT`]; a
/// count of whole tables would not (at one table per 10 ms, 64 tables
/// are 0.64 s). 1024 buckets take 192 KiB.
const HISTORY: usize = 8;

/// A bucket's past owners, newest last, each with when it stopped owning.
type Past = VecDeque<(u16, Instant)>;

/// What this host knows to judge records by: the cluster's addresses and
/// hash, the newest table and each bucket's owners lately, the members.
#[derive(Clone, Debug)]
pub(crate) struct Authority {
    hash: FlowHash,
    bits: u32,
    addrs: Vec<IpAddr>,
    now: Vec<u16>,
    /// Per bucket: the members that owned it before `now`'s owner.
    before: Vec<Past>,
    members: Vec<u16>,
}

impl Authority {
    /// For a cluster at `addrs` hashing with `hash` into `1 << bits`
    /// buckets; no table yet.
    pub(crate) fn new(hash: FlowHash, bits: u32, addrs: Vec<IpAddr>) -> Self {
        Authority {
            hash,
            bits,
            addrs,
            now: Vec::new(),
            before: Vec::new(),
            members: Vec::new(),
        }
    }

    /// The members and table this host knows `at`; whether either
    /// changed.
    pub(crate) fn update(&mut self, members: &[u16], owners: &[u16], at: Instant) -> bool {
        let mut changed = self.members != members;
        if changed {
            self.members = members.to_vec();
        }
        if self.now != owners {
            let old = std::mem::replace(&mut self.now, owners.to_vec());
            self.before.resize_with(owners.len(), VecDeque::new);
            for ((b, past), &o) in self.before.iter_mut().enumerate().zip(&old) {
                if owners.get(b) == Some(&o) {
                    continue;
                }
                // Records wait up to RECENT for a table: those that
                // arrived that long ago are judged by the owners replaced
                // since RECENT before they came.
                while past.len() >= HISTORY
                    || past.front().is_some_and(|&(_, t)| t + 2 * RECENT < at)
                {
                    past.pop_front();
                }
                past.push_back((o, at));
            }
            changed = true;
        }
        changed
    }

    /// The bucket of connection `i`.
    pub(crate) fn bucket(&self, i: &Initial) -> usize {
        self.hash.bucket(&i.flow(), self.bits) as usize
    }

    /// Whether member `m` is in the cluster.
    pub(crate) fn alive(&self, m: u16) -> bool {
        self.members.contains(&m)
    }

    /// Whether `i` names itself rightly and goes to a cluster address.
    pub(crate) fn well_formed(&self, i: &Initial) -> Result<(), Refusal> {
        if i.id != conn_id(&i.src, &i.dst, i.sport, i.dport) {
            return Err(Refusal::BadId);
        }
        if !self.addrs.contains(&unmapped(&i.dst, i.v6)) {
            return Err(Refusal::ForeignDestination);
        }
        Ok(())
    }

    /// Whether `sender` owns the bucket of `i` in the newest table, or
    /// owned it in one replaced at most [`RECENT`] before `arrived`.
    pub(crate) fn owns(&self, sender: u16, i: &Initial, arrived: Instant) -> bool {
        let b = self.bucket(i);
        self.now.get(b) == Some(&sender)
            || self
                .before
                .get(b)
                .is_some_and(|p| p.iter().any(|&(o, t)| o == sender && t + RECENT >= arrived))
    }

    /// Whether an Initial `i` from `sender`, arrived at `arrived`, may
    /// make a replica, or replace the one `holder` owns.
    pub(crate) fn initial(
        &self,
        sender: u16,
        i: &Initial,
        holder: Option<u16>,
        arrived: Instant,
    ) -> Result<(), Refusal> {
        self.well_formed(i)?;
        if holder == Some(sender) {
            return Ok(());
        }
        if !self.owns(sender, i, arrived) {
            return Err(Refusal::NotOwner);
        }
        match holder {
            Some(h) if self.alive(h) => Err(Refusal::Takeover),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::hash::Mode;

    /// Connection `sport` from 192.0.2.2 to `dst`, named rightly.
    pub(crate) fn conn_to(dst: [u8; 4], sport: u16) -> Initial {
        let mut i = crate::shared::fixtures::initial(0, sport);
        i.dst[12..].copy_from_slice(&dst);
        i.id = conn_id(&i.src, &i.dst, i.sport, i.dport);
        i
    }

    fn authority() -> Authority {
        let mut a = Authority::new(
            FlowHash::new(Mode::Seed),
            2,
            vec!["192.0.2.100".parse().unwrap()],
        );
        a.update(&[1, 2, 3], &[1, 2, 3, 1], Instant::now());
        a
    }

    #[test]
    fn only_the_bucket_owner_may_start_a_replica() {
        let a = authority();
        let i = conn_to([192, 0, 2, 100], 40000);
        let owner = a.now[a.bucket(&i)];
        let other = [1, 2, 3].into_iter().find(|&m| m != owner).unwrap();
        assert_eq!(a.initial(owner, &i, None, Instant::now()), Ok(()));
        assert_eq!(
            a.initial(other, &i, None, Instant::now()),
            Err(Refusal::NotOwner)
        );
    }

    #[test]
    fn the_previous_owner_may_still_start_one() {
        let mut a = authority();
        let i = conn_to([192, 0, 2, 100], 40000);
        let old = a.now[a.bucket(&i)];
        let new = if old == 1 { 2 } else { 1 };
        let mut moved = a.now.clone();
        moved[a.bucket(&i)] = new;
        let t0 = Instant::now();
        assert!(a.update(&[1, 2, 3], &moved, t0));
        assert_eq!(a.initial(old, &i, None, t0), Ok(()));
        assert_eq!(a.initial(new, &i, None, t0), Ok(()));
        // More moves (rebalancing) within a moment change nothing.
        let t1 = t0 + Duration::from_millis(300);
        assert!(a.update(&[1, 2, 3], &[new; 4], t1));
        assert_eq!(a.initial(old, &i, None, t1), Ok(()));
        // A record that arrives RECENT after the old owner's table went
        // is refused.
        let late = t0 + RECENT + Duration::from_millis(1);
        assert_eq!(a.initial(old, &i, None, late), Err(Refusal::NotOwner));
        assert_eq!(a.initial(new, &i, None, late), Ok(()));
    }

    #[test]
    fn many_tables_moving_other_buckets_keep_a_past_owner() {
        let mut a = authority();
        let i = conn_to([192, 0, 2, 100], 40000);
        let b = a.bucket(&i);
        let old = a.now[b];
        let new = if old == 1 { 2 } else { 1 };
        let mut t = a.now.clone();
        t[b] = new;
        let t0 = Instant::now();
        a.update(&[1, 2, 3], &t, t0);
        // Rebalancing every 10 ms for 2 s, moving the other buckets only.
        for k in 1..200u32 {
            let o = (b + 1 + k as usize % (t.len() - 1)) % t.len();
            t[o] = 1 + (t[o] % 3);
            a.update(
                &[1, 2, 3],
                &t,
                t0 + Duration::from_millis(10 * u64::from(k)),
            );
        }
        let at = t0 + Duration::from_secs(2);
        assert_eq!(a.initial(old, &i, None, at), Ok(()));
    }

    #[test]
    fn foreign_destinations_and_false_ids_are_refused() {
        let a = Authority::new(
            FlowHash::new(Mode::Seed),
            2,
            vec!["192.0.2.100".parse().unwrap()],
        );
        let local = conn_to([127, 0, 0, 1], 40000);
        assert_eq!(a.well_formed(&local), Err(Refusal::ForeignDestination));
        let other = conn_to([198, 51, 100, 7], 40000);
        assert_eq!(a.well_formed(&other), Err(Refusal::ForeignDestination));
        let mut i = conn_to([192, 0, 2, 100], 40000);
        assert_eq!(a.well_formed(&i), Ok(()));
        i.id ^= 1;
        assert_eq!(a.well_formed(&i), Err(Refusal::BadId));
        // The same address, claimed as IPv6: not the cluster's.
        let mut v6 = conn_to([192, 0, 2, 100], 40000);
        v6.v6 = true;
        assert_eq!(a.well_formed(&v6), Err(Refusal::ForeignDestination));
    }

    #[test]
    fn ipv6_cluster_addresses_count() {
        let a = Authority::new(
            FlowHash::new(Mode::Seed),
            2,
            vec!["2001:db8::100".parse().unwrap()],
        );
        let dst: std::net::Ipv6Addr = "2001:db8::100".parse().unwrap();
        let mut i = conn_to([0; 4], 40000);
        i.dst = dst.octets();
        i.v6 = true;
        i.id = conn_id(&i.src, &i.dst, i.sport, i.dport);
        assert_eq!(a.well_formed(&i), Ok(()));
    }

    #[test]
    fn a_replica_changes_hands_only_from_a_member_that_is_gone() {
        let mut a = authority();
        let i = conn_to([192, 0, 2, 100], 40000);
        let owner = a.now[a.bucket(&i)];
        let holder = if owner == 1 { 2 } else { 1 };
        assert_eq!(
            a.initial(owner, &i, Some(holder), Instant::now()),
            Err(Refusal::Takeover)
        );
        assert_eq!(a.initial(holder, &i, Some(holder), Instant::now()), Ok(()));
        let left: Vec<u16> = [1, 2, 3].into_iter().filter(|&m| m != holder).collect();
        let owners = a.now.clone();
        a.update(&left, &owners, Instant::now());
        assert_eq!(a.initial(owner, &i, Some(holder), Instant::now()), Ok(()));
    }
}
