//! The kernel's per-bucket counters, read once a second. Each bucket's
//! packets since the last reading are its load, which the master
//! balances. Everything counted since the last reading is also added to
//! the member that owns the bucket at this reading, so that each member's
//! sums only grow, as Prometheus' counters must: when a bucket changes
//! hands, what its old owner was counted stays the old owner's, and the
//! new owner's sum grows from then on.

use std::collections::BTreeMap;

use crate::kapi::bucket::Bucket;
use crate::state::MemberTraffic;

/// One bucket's counters, or sums of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    packets: u64,
    bytes: u64,
    flows: u64,
    drops: u64,
    forwarded: u64,
}

impl Counts {
    fn of(b: &Bucket) -> Counts {
        Counts {
            packets: b.packets,
            bytes: b.bytes,
            flows: b.flows,
            drops: b.drops,
            forwarded: b.forwarded,
        }
    }

    /// What was counted since `before`. A counter below what it was has
    /// started again from zero (a cluster made anew), so all of it is
    /// new: a difference would be negative or lose counts.
    fn since(self, before: Counts) -> Counts {
        let d = |now: u64, was: u64| if now >= was { now - was } else { now };
        Counts {
            packets: d(self.packets, before.packets),
            bytes: d(self.bytes, before.bytes),
            flows: d(self.flows, before.flows),
            drops: d(self.drops, before.drops),
            forwarded: d(self.forwarded, before.forwarded),
        }
    }

    fn add(&mut self, o: Counts) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.flows += o.flows;
        self.drops += o.drops;
        self.forwarded += o.forwarded;
    }
}

/// The counters' last reading, and their sums since the daemon started.
pub(super) struct Traffic {
    /// Each bucket's counters at the last reading, by index.
    last: Vec<Counts>,
    /// Whether there was a reading before.
    read: bool,
    /// Per member, what was counted of the buckets it owned.
    members: BTreeMap<u16, Counts>,
    /// Of every bucket, owned or not.
    total: Counts,
}

impl Traffic {
    /// Nothing read yet of a cluster of `buckets` buckets, which the daemon
    /// made: their counters start from zero.
    pub(super) fn new(buckets: usize) -> Traffic {
        Traffic {
            last: vec![Counts::default(); buckets],
            read: false,
            members: BTreeMap::new(),
            total: Counts::default(),
        }
    }

    /// Takes a reading of the buckets: their packets since the last
    /// reading (their load), by index; `None` at the first, whose counts
    /// cover more than a second. A bucket missing from a reading is
    /// counted at the next.
    pub(super) fn read(&mut self, buckets: &[Bucket]) -> Option<Vec<u64>> {
        let mut load = vec![0; self.last.len()];
        for b in buckets {
            let i = b.index as usize;
            let Some(last) = self.last.get_mut(i) else {
                continue;
            };
            let now = Counts::of(b);
            let d = now.since(*last);
            *last = now;
            load[i] = d.packets;
            self.total.add(d);
            if let Some(o) = b.owner.and_then(|o| u16::try_from(o).ok()) {
                self.members.entry(o).or_default().add(d);
            }
        }
        std::mem::replace(&mut self.read, true).then_some(load)
    }

    /// Each member's sums, by id; a member that left keeps its own.
    pub(super) fn members(&self) -> Vec<MemberTraffic> {
        self.members
            .iter()
            .map(|(&member, c)| MemberTraffic {
                member,
                packets: c.packets,
                bytes: c.bytes,
                flows: c.flows,
            })
            .collect()
    }

    /// Packets this host dropped: another member's, or no one's.
    pub(super) fn dropped(&self) -> u64 {
        self.total.drops
    }

    /// Packets this host handed on to their owner (forward mode).
    pub(super) fn forwarded(&self) -> u64 {
        self.total.forwarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(index: u32, owner: Option<u32>, packets: u64) -> Bucket {
        Bucket {
            index,
            owner,
            packets,
            bytes: packets * 100,
            flows: packets / 10,
            drops: if owner == Some(1) { 0 } else { packets },
            ..Bucket::default()
        }
    }

    fn packets(t: &Traffic) -> Vec<(u16, u64)> {
        t.members().iter().map(|m| (m.member, m.packets)).collect()
    }

    #[test]
    fn the_load_is_each_buckets_packets_since_the_last_reading() {
        let mut t = Traffic::new(2);
        // The kernel may send them in any order.
        assert_eq!(
            t.read(&[bucket(1, Some(2), 5), bucket(0, Some(1), 10)]),
            None
        );
        let load = t.read(&[bucket(0, Some(1), 30), bucket(1, Some(2), 5)]);
        assert_eq!(load, Some(vec![20, 0]));
        assert_eq!(packets(&t), [(1, 30), (2, 5)]);
        let m1 = t.members()[0];
        assert_eq!((m1.bytes, m1.flows), (3000, 3));
        // Host 1's view: member 2's packets were dropped here.
        assert_eq!(t.dropped(), 5);
    }

    #[test]
    fn a_bucket_that_changes_hands_leaves_its_counts_with_its_old_owner() {
        let mut t = Traffic::new(2);
        t.read(&[bucket(0, Some(1), 100), bucket(1, None, 7)]);
        assert_eq!(packets(&t), [(1, 100)], "no member for an unowned bucket");
        assert_eq!(t.dropped(), 7);
        // Member 1 died; member 2 owns bucket 0 from now on.
        t.read(&[bucket(0, Some(2), 130), bucket(1, Some(2), 7)]);
        assert_eq!(packets(&t), [(1, 100), (2, 30)]);
        t.read(&[bucket(0, Some(2), 150), bucket(1, Some(2), 9)]);
        assert_eq!(packets(&t), [(1, 100), (2, 52)]);
    }

    #[test]
    fn the_sums_never_go_down_when_the_kernels_counters_start_again() {
        let mut t = Traffic::new(1);
        t.read(&[bucket(0, Some(1), 100)]);
        // The cluster was made anew: its counters count from zero.
        assert_eq!(t.read(&[bucket(0, Some(1), 40)]), Some(vec![40]));
        assert_eq!(packets(&t), [(1, 140)]);
    }

    #[test]
    fn a_bucket_missing_from_a_reading_is_counted_at_the_next() {
        let mut t = Traffic::new(2);
        t.read(&[bucket(0, Some(1), 10), bucket(1, Some(2), 10)]);
        assert_eq!(t.read(&[bucket(1, Some(2), 15)]), Some(vec![0, 5]));
        // One beyond the cluster's buckets is no bucket of it.
        let load = t.read(&[bucket(0, Some(1), 12), bucket(2, Some(1), 99)]);
        assert_eq!(load, Some(vec![2, 0]));
        assert_eq!(packets(&t), [(1, 12), (2, 15)]);
    }
}
