//! Replicas of the TCP failover state, without I/O.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ipcluster_core::tcpstate::{newer, Essential, Initial, Record};

/// What changed since the last record sent; the kernel sends one Initial
/// and one Essential per segment, the cluster link gets each Initial once
/// and an Essential only when a field other than its generation moved.
#[derive(Default)]
pub(crate) struct Coalescer {
    sent: HashMap<u64, Option<Essential>>,
}

impl Coalescer {
    /// The record to replicate for `r`, if any.
    pub(crate) fn offer(&mut self, r: Record) -> Option<Record> {
        match r {
            Record::Initial(i) => match self.sent.contains_key(&i.id) {
                true => None,
                false => {
                    self.sent.insert(i.id, None);
                    Some(r)
                }
            },
            Record::Essential(e) => {
                let last = self.sent.get_mut(&e.id)?; // no Initial yet: wait
                let same = last.is_some_and(|l| Essential { gen: e.gen, ..l } == e);
                if same {
                    return None;
                }
                *last = Some(e);
                Some(r)
            }
            Record::Closed(c) => self.sent.remove(&c.id).map(|_| r),
        }
    }

    /// Connections being tracked.
    pub(crate) fn len(&self) -> usize {
        self.sent.len()
    }
}

/// One replicated connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Conn {
    /// The member that serves it.
    pub(crate) owner: u16,
    /// Its addresses.
    pub(crate) initial: Initial,
    /// Its latest essential state, once known.
    pub(crate) essential: Option<Essential>,
    /// When that arrived.
    pub(crate) at: Instant,
}

/// Every member's replicas of every connection, bounded.
pub(crate) struct Store {
    conns: HashMap<u64, Conn>,
    max: usize,
    /// Connections not kept because the store was full.
    pub(crate) dropped: u64,
    /// Record bytes applied.
    pub(crate) bytes: u64,
}

impl Store {
    /// A store of at most `max` connections.
    pub(crate) fn new(max: usize) -> Self {
        Store {
            conns: HashMap::new(),
            max,
            dropped: 0,
            bytes: 0,
        }
    }

    /// Applies records `owner` sent.
    pub(crate) fn apply(&mut self, owner: u16, records: &[Record]) {
        for r in records {
            self.bytes += r.len() as u64;
            match *r {
                Record::Initial(initial) => {
                    if !self.conns.contains_key(&initial.id) && self.conns.len() >= self.max {
                        self.dropped += 1;
                        continue;
                    }
                    let c = self.conns.entry(initial.id).or_insert(Conn {
                        owner,
                        initial,
                        essential: None,
                        at: Instant::now(),
                    });
                    c.owner = owner;
                    c.initial = initial;
                }
                Record::Essential(e) => {
                    if let Some(c) = self.conns.get_mut(&e.id) {
                        if c.essential.is_none_or(|old| newer(e.gen, old.gen)) {
                            c.essential = Some(e);
                            c.owner = owner;
                            c.at = Instant::now();
                        }
                    }
                }
                Record::Closed(c) => {
                    self.conns.remove(&c.id);
                }
            }
        }
    }

    /// Takes out the connections whose owner is not `alive` and that
    /// `mine` says are now this member's, with their essential state and
    /// its age.
    pub(crate) fn take_orphans(
        &mut self,
        alive: impl Fn(u16) -> bool,
        mine: impl Fn(&Initial) -> bool,
    ) -> Vec<(Initial, Essential, Duration)> {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| !alive(c.owner) && c.essential.is_some() && mine(&c.initial))
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.conns.remove(&id))
            .filter_map(|c| Some((c.initial, c.essential?, c.at.elapsed())))
            .collect()
    }

    /// Connections held.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcluster_core::tcpstate::Closed;

    fn initial(id: u64) -> Initial {
        Initial {
            id,
            src: [0; 16],
            dst: [0; 16],
            sport: 40000 + id as u16,
            dport: 7000,
            mss: 1448,
            opts_len: 12,
            v6: false,
        }
    }

    fn ess(id: u64, gen: u32, rcv_nxt: u32) -> Essential {
        Essential {
            id,
            gen,
            rcv_nxt,
            ..Essential::default()
        }
    }

    #[test]
    fn the_coalescer_sends_each_initial_once_and_only_changes() {
        let mut c = Coalescer::default();
        let i = Record::Initial(initial(1));
        // An update before its Initial waits for it.
        assert_eq!(c.offer(Record::Essential(ess(1, 1, 10))), None);
        assert_eq!(c.offer(i), Some(i));
        assert_eq!(c.offer(i), None);
        let e = Record::Essential(ess(1, 2, 10));
        assert_eq!(c.offer(e), Some(e));
        // The same state under a new generation is no change.
        assert_eq!(c.offer(Record::Essential(ess(1, 3, 10))), None);
        let e = Record::Essential(ess(1, 4, 12));
        assert_eq!(c.offer(e), Some(e));
        let closed = Record::Closed(Closed { id: 1 });
        assert_eq!(c.offer(closed), Some(closed));
        assert_eq!(c.offer(closed), None);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn the_store_keeps_the_newest_state_and_hands_orphans_over() {
        let mut s = Store::new(2);
        s.apply(
            2,
            &[
                Record::Initial(initial(1)),
                Record::Essential(ess(1, 5, 50)),
                // Late and older: ignored.
                Record::Essential(ess(1, 4, 40)),
                Record::Initial(initial(2)),
                Record::Essential(ess(2, 6, 60)),
                // Full: not kept.
                Record::Initial(initial(3)),
            ],
        );
        assert_eq!((s.len(), s.dropped), (2, 1));
        // Member 2 is alive: nothing to take.
        assert!(s.take_orphans(|_| true, |_| true).is_empty());
        // Member 2 died; only connection 1's bucket is ours.
        let got = s.take_orphans(|m| m != 2, |i| i.id == 1);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].1), (initial(1), ess(1, 5, 50)));
        assert_eq!(s.len(), 1);
        s.apply(3, &[Record::Closed(Closed { id: 2 })]);
        assert_eq!(s.len(), 0);
    }
}
