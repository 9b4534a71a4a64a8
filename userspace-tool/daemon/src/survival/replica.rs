//! Replicas of the TCP failover state, without I/O.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::shared::tcpstate::{
    after, newer, Dir, Essential, Flags, Initial, Record, DATA_HEAD_LEN,
};

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
            // Bytes of a connection whose Initial went out.
            Record::Data(d) => self.sent.contains_key(&d.id).then_some(r),
        }
    }

    /// Connections being tracked.
    pub(crate) fn len(&self) -> usize {
        self.sent.len()
    }
}

/// Bytes of one direction of a connection from some sequence number on
/// (output commit): kept from the first the client may still need — sent
/// but unacknowledged, received but unread — to the newest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stream {
    base: Option<u32>,
    bytes: Vec<u8>,
    /// Bytes that came after a gap, until it fills (a few at most).
    later: Vec<(u32, Vec<u8>)>,
}

/// How far `a` lies after `b`, negative before (sequence numbers wrap).
fn ahead(a: u32, b: u32) -> i64 {
    i64::from(after(a, b))
}

impl Stream {
    /// Bytes `data` from sequence number `seq`.
    pub(crate) fn add(&mut self, seq: u32, data: &[u8]) {
        let base = *self.base.get_or_insert(seq);
        let off = ahead(seq, base);
        let (seq, data) = if off < 0 {
            let skip = usize::try_from(-off).unwrap_or(usize::MAX);
            match data.get(skip..) {
                Some(d) => (base, d),
                None => return,
            }
        } else {
            (seq, data)
        };
        let off = ahead(seq, base) as usize;
        if off > self.bytes.len() {
            if self.later.len() < 64 {
                self.later.push((seq, data.to_vec()));
            }
            return;
        }
        if let Some(new) = data.get(self.bytes.len() - off..) {
            self.bytes.extend_from_slice(new);
        }
        let end = base.wrapping_add(self.bytes.len() as u32);
        if let Some(k) = self.later.iter().position(|(s, d)| {
            ahead(*s, end) <= 0 && ahead(s.wrapping_add(d.len() as u32), end) > 0
        }) {
            let (s, d) = self.later.swap_remove(k);
            self.add(s, &d);
        }
    }

    /// Forgets the bytes before `seq`.
    pub(crate) fn trim(&mut self, seq: u32) {
        let Some(base) = self.base else {
            return;
        };
        let k = ahead(seq, base);
        if k <= 0 {
            return;
        }
        let k = usize::try_from(k).unwrap_or(usize::MAX);
        self.bytes.drain(..k.min(self.bytes.len()));
        self.base = Some(seq);
        let end = seq.wrapping_add(self.bytes.len() as u32);
        self.later
            .retain(|(s, d)| ahead(s.wrapping_add(d.len() as u32), seq) > 0 && ahead(*s, end) > 0);
    }

    /// The bytes from `from` to `to`, if all are here.
    pub(crate) fn range(&self, from: u32, to: u32) -> Option<&[u8]> {
        if from == to {
            return Some(&[]);
        }
        let base = self.base?;
        let a = usize::try_from(ahead(from, base)).ok()?;
        let b = usize::try_from(ahead(to, base)).ok()?;
        self.bytes.get(a..b)
    }

    fn len(&self) -> usize {
        self.bytes.len() + self.later.iter().map(|(_, d)| d.len()).sum::<usize>()
    }
}

/// One replicated connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Conn {
    /// The member that serves it.
    pub(crate) owner: u16,
    /// Its addresses.
    pub(crate) initial: Initial,
    /// Its latest essential state, once known.
    pub(crate) essential: Option<Essential>,
    /// When that arrived.
    pub(crate) at: Instant,
    /// Bytes sent, from the oldest the client has not acknowledged.
    pub(crate) out: Stream,
    /// Bytes received, from the oldest the application may not have
    /// answered yet.
    pub(crate) inb: Stream,
    /// The first byte received the application may not have answered:
    /// where `copied` stood the last time it had written more. An
    /// application that read a request and died before it wrote the
    /// answer (an output-commit segment may reveal the read, a window
    /// update, before the write happens) gets the request again.
    pub(crate) answered: Option<u32>,
    /// Since when another live member has had it, its owner being gone.
    pub(crate) elsewhere: Option<Instant>,
}

/// A connection to restore: its state, how old that is, and the bytes of
/// its queues when all of them are here (else the restore starts both
/// queues empty at `snd_nxt` / `rcv_nxt`).
pub(crate) struct Orphan {
    pub(crate) initial: Initial,
    pub(crate) essential: Essential,
    pub(crate) age: Duration,
    /// Sent and unacknowledged (from `snd_wl2`, the client's last ACK, to
    /// `snd_nxt`), and written but not sent yet (to `written`) when those
    /// are here too.
    pub(crate) unacked: Option<Vec<u8>>,
    /// Received and unread (from `essential.copied` to `rcv_nxt`): what
    /// the application had not read, or had read but not answered.
    pub(crate) unread: Option<Vec<u8>>,
}

/// The bytes out a restore sends again: from the client's last ACK to the
/// end of what the application wrote, or at least to `snd_nxt`.
fn unacked<'a>(out: &'a Stream, e: &Essential) -> Option<&'a [u8]> {
    let written = (after(e.written, e.snd_nxt) > 0)
        .then(|| out.range(e.snd_wl2, e.written))
        .flatten();
    written.or_else(|| out.range(e.snd_wl2, e.snd_nxt))
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

    /// Applies the records `owner` sent (back to back).
    pub(crate) fn apply(&mut self, owner: u16, mut b: &[u8]) {
        while let Ok((r, n)) = Record::decode(b) {
            let payload = &b[..n];
            b = &b[n..];
            self.bytes += n as u64;
            match r {
                Record::Initial(initial) => {
                    if !self.conns.contains_key(&initial.id) && self.conns.len() >= self.max {
                        self.dropped += 1;
                        continue;
                    }
                    let fresh = Conn {
                        owner,
                        initial,
                        essential: None,
                        at: Instant::now(),
                        out: Stream::default(),
                        inb: Stream::default(),
                        elsewhere: None,
                        answered: None,
                    };
                    let c = self
                        .conns
                        .entry(initial.id)
                        .or_insert_with(|| fresh.clone());
                    // A connection restored elsewhere, now that member's:
                    // its state starts over from what it sends (its
                    // generations are its own kernel's, not comparable
                    // with the old owner's).
                    if c.owner != owner {
                        *c = fresh;
                    }
                    c.initial = initial;
                }
                Record::Essential(e) => {
                    if let Some(c) = self.conns.get_mut(&e.id) {
                        if c.essential.is_none_or(|old| newer(e.gen, old.gen)) {
                            let wrote = c
                                .essential
                                .is_none_or(|old| after(e.written, old.written) > 0);
                            if wrote || c.answered.is_none() {
                                c.answered = Some(e.copied);
                            }
                            c.essential = Some(e);
                            c.owner = owner;
                            c.at = Instant::now();
                            c.out.trim(e.snd_wl2);
                            c.inb.trim(c.answered.unwrap_or(e.copied));
                        }
                    }
                }
                Record::Closed(c) => {
                    self.conns.remove(&c.id);
                }
                Record::Data(d) => {
                    if let Some(c) = self.conns.get_mut(&d.id) {
                        let bytes = &payload[DATA_HEAD_LEN..];
                        match d.dir {
                            Dir::Out => c.out.add(d.seq, bytes),
                            Dir::In => c.inb.add(d.seq, bytes),
                        }
                    }
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
    ) -> Vec<Orphan> {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| !alive(c.owner) && c.essential.is_some() && mine(&c.initial))
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.conns.remove(&id))
            .filter_map(|c| {
                let mut e = c.essential?;
                // What the application read but may not have answered is
                // read again, from where it last had written.
                let unread = c.answered.and_then(|a| c.inb.range(a, e.rcv_nxt));
                let unread = match unread {
                    Some(b) => {
                        e.copied = c.answered.unwrap_or(e.copied);
                        Some(b)
                    }
                    None => c.inb.range(e.copied, e.rcv_nxt),
                };
                Some(Orphan {
                    initial: c.initial,
                    essential: e,
                    age: c.at.elapsed(),
                    unacked: unacked(&c.out, &e).map(<[u8]>::to_vec),
                    unread: unread.map(<[u8]>::to_vec),
                })
            })
            .collect()
    }

    /// Forgets the connections whose owner is not `alive` and that
    /// `elsewhere` says another live member has had for `grace`: that
    /// member restored them (and replicates them anew under its own id)
    /// or could not, so they are not this member's to keep. Within `grace`
    /// they stay, for the case that member dies too before restoring them.
    /// Returns how many went.
    pub(crate) fn forget_taken(
        &mut self,
        alive: impl Fn(u16) -> bool,
        elsewhere: impl Fn(&Initial) -> bool,
        now: Instant,
        grace: Duration,
    ) -> usize {
        let before = self.conns.len();
        self.conns.retain(|_, c| {
            if alive(c.owner) || !elsewhere(&c.initial) {
                c.elsewhere = None;
                return true;
            }
            let since = *c.elsewhere.get_or_insert(now);
            now.saturating_duration_since(since) < grace
        });
        before - self.conns.len()
    }

    /// Forgets the connections last heard of in their handshake (the
    /// state of our SYN-ACK, [`Flags::HANDSHAKE`]) at least `after` before
    /// `now`: handshakes the client never finished (the request socket
    /// went silently), or connections that have sent nothing since.
    /// Returns how many went.
    pub(crate) fn forget_handshakes(&mut self, now: Instant, after: Duration) -> usize {
        let before = self.conns.len();
        self.conns.retain(|_, c| {
            !c.essential.is_some_and(|e| e.flags.has(Flags::HANDSHAKE))
                || now.saturating_duration_since(c.at) < after
        });
        before - self.conns.len()
    }

    /// Bytes of the connections' queues held.
    pub(crate) fn queued(&self) -> usize {
        self.conns.values().map(|c| c.out.len() + c.inb.len()).sum()
    }

    /// Connections held.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::tcpstate::Closed;

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

    /// Records back to back, each Data record followed by `payload`.
    fn wire(records: &[Record], payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for r in records {
            let mut buf = [0u8; 64];
            let n = r.encode(&mut buf).unwrap();
            v.extend_from_slice(&buf[..n]);
            if let Record::Data(d) = r {
                v.extend_from_slice(&payload[..d.len as usize]);
            }
        }
        v
    }

    #[test]
    fn streams_keep_what_the_client_may_still_need() {
        let mut s = Stream::default();
        s.add(1000, b"abcd");
        // A retransmission, and bytes that overlap the end.
        s.add(1000, b"ab");
        s.add(1002, b"cdef");
        assert_eq!(s.range(1000, 1006), Some(&b"abcdef"[..]));
        // Bytes after a gap wait for it.
        s.add(1008, b"ij");
        assert_eq!(s.range(1000, 1010), None);
        s.add(1006, b"gh");
        assert_eq!(s.range(1004, 1010), Some(&b"efghij"[..]));
        s.trim(1004);
        assert_eq!(s.range(1000, 1004), None);
        assert_eq!(s.range(1004, 1004), Some(&b""[..]));
        assert_eq!(s.range(1009, 1010), Some(&b"j"[..]));
        // Trimmed past the end: the next bytes start there.
        s.trim(1012);
        assert_eq!(s.len(), 0);
        s.add(1012, b"kl");
        assert_eq!(s.range(1012, 1014), Some(&b"kl"[..]));
        // Sequence numbers wrap.
        let mut s = Stream::default();
        s.add(u32::MAX - 1, b"wxyz");
        assert_eq!(s.range(u32::MAX, 2), Some(&b"xyz"[..]));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn orphans_come_with_their_queues_when_whole() {
        let mut s = Store::new(4);
        let d = |dir, seq, len| {
            Record::Data(crate::shared::tcpstate::Data {
                id: 1,
                dir,
                seq,
                len,
            })
        };
        let e = Essential {
            snd_nxt: 108,
            snd_wl2: 104,
            rcv_nxt: 53,
            copied: 50,
            ..ess(1, 5, 53)
        };
        let recs = [
            Record::Initial(initial(1)),
            d(Dir::Out, 100, 8),
            d(Dir::In, 50, 3),
            Record::Essential(e),
        ];
        s.apply(2, &wire(&recs, b"01234567"));
        assert_eq!(s.queued(), 4 + 3);
        let o = s.take_orphans(|m| m != 2, |_| true);
        assert_eq!(o[0].unacked.as_deref(), Some(&b"4567"[..]));
        assert_eq!(o[0].unread.as_deref(), Some(&b"012"[..]));
        // A connection whose bytes were missed has no queues to give.
        s.apply(
            2,
            &wire(&[Record::Initial(initial(1)), Record::Essential(e)], b""),
        );
        let o = s.take_orphans(|m| m != 2, |_| true);
        assert_eq!((o[0].unacked.clone(), o[0].unread.clone()), (None, None));
    }

    #[test]
    fn bytes_written_but_not_sent_are_restored_when_here() {
        let out = |seq, len| {
            Record::Data(crate::shared::tcpstate::Data {
                id: 1,
                dir: Dir::Out,
                seq,
                len,
            })
        };
        // Sent 100..108, the client acknowledged up to 104; written up to
        // 112: 108..112 were never sent.
        let e = Essential {
            snd_nxt: 108,
            snd_wl2: 104,
            written: 112,
            ..ess(1, 5, 53)
        };
        let mut s = Store::new(4);
        s.apply(
            2,
            &wire(&[Record::Initial(initial(1)), out(100, 8)], b"01234567"),
        );
        s.apply(2, &wire(&[out(108, 4), Record::Essential(e)], b"89ab"));
        let o = s.take_orphans(|m| m != 2, |_| true);
        assert_eq!(o[0].unacked.as_deref(), Some(&b"456789ab"[..]));
        // Without the bytes not sent, what was sent still comes.
        let mut s = Store::new(4);
        let sent_only = [
            Record::Initial(initial(1)),
            out(100, 8),
            Record::Essential(e),
        ];
        s.apply(2, &wire(&sent_only, b"01234567"));
        let o = s.take_orphans(|m| m != 2, |_| true);
        assert_eq!(o[0].unacked.as_deref(), Some(&b"4567"[..]));
    }

    #[test]
    fn what_was_read_but_not_answered_is_read_again() {
        let input = Record::Data(crate::shared::tcpstate::Data {
            id: 1,
            dir: Dir::In,
            seq: 50,
            len: 3,
        });
        let state = |gen, copied, written| {
            Record::Essential(Essential {
                snd_nxt: 100,
                snd_wl2: 100,
                copied,
                written,
                ..ess(1, gen, 53)
            })
        };
        let orphan = |recs: &[Record]| {
            let mut s = Store::new(4);
            s.apply(2, &wire(recs, b"abc"));
            s.take_orphans(|m| m != 2, |_| true).remove(0)
        };
        // The request came, the application read it (a window update
        // showed it) and died before it wrote the answer: it gets the
        // request again.
        let read = [
            Record::Initial(initial(1)),
            input,
            state(5, 50, 100),
            state(6, 53, 100),
        ];
        let o = orphan(&read);
        assert_eq!(o.unread.as_deref(), Some(&b"abc"[..]));
        assert_eq!(o.essential.copied, 50);
        // It wrote the answer: the request is done with.
        let o = orphan(&[&read[..], &[state(7, 53, 103)]].concat());
        assert_eq!(o.unread.as_deref(), Some(&b""[..]));
        assert_eq!(o.essential.copied, 53);
    }

    #[test]
    fn a_new_owner_starts_the_state_over_whatever_its_generations() {
        let mut s = Store::new(4);
        s.apply(
            2,
            &wire(
                &[
                    Record::Initial(initial(1)),
                    Record::Essential(ess(1, 900, 50)),
                ],
                b"",
            ),
        );
        // Member 3 restored it: its kernel counts generations from lower.
        s.apply(
            3,
            &wire(
                &[
                    Record::Initial(initial(1)),
                    Record::Essential(ess(1, 7, 80)),
                ],
                b"",
            ),
        );
        let o = s.take_orphans(|m| m == 2, |_| true);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].essential.rcv_nxt, 80);
    }

    #[test]
    fn the_store_keeps_the_newest_state_and_hands_orphans_over() {
        let mut s = Store::new(2);
        s.apply(
            2,
            &wire(
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
                b"",
            ),
        );
        assert_eq!((s.len(), s.dropped), (2, 1));
        // Member 2 is alive: nothing to take.
        assert!(s.take_orphans(|_| true, |_| true).is_empty());
        // Member 2 died; only connection 1's bucket is ours.
        let got = s.take_orphans(|m| m != 2, |i| i.id == 1);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].initial, got[0].essential),
            (initial(1), ess(1, 5, 50))
        );
        assert_eq!(s.len(), 1);
        s.apply(3, &wire(&[Record::Closed(Closed { id: 2 })], b""));
        assert_eq!(s.len(), 0);
    }

    /// A handshake's replica (the state of a SYN-ACK) goes after a while
    /// unless the connection moved on; an established one stays.
    #[test]
    fn abandoned_handshakes_are_forgotten() {
        let mut s = Store::new(10);
        let syn_ack = |id, gen| Essential {
            flags: Flags(Flags::HANDSHAKE),
            ..ess(id, gen, 1)
        };
        s.apply(
            2,
            &wire(
                &[
                    Record::Initial(initial(1)),
                    Record::Essential(syn_ack(1, 1)),
                    Record::Initial(initial(2)),
                    Record::Essential(syn_ack(2, 2)),
                    // Connection 2 sent its first segment: established.
                    Record::Essential(ess(2, 3, 9)),
                    Record::Initial(initial(3)),
                    Record::Essential(ess(3, 4, 1)),
                ],
                b"",
            ),
        );
        let now = Instant::now();
        let after = Duration::from_secs(75);
        assert_eq!(s.forget_handshakes(now, after), 0);
        assert_eq!(s.forget_handshakes(now + after / 2, after), 0);
        assert_eq!(s.forget_handshakes(now + after * 2, after), 1);
        let mut left: Vec<u64> = s.conns.keys().copied().collect();
        left.sort_unstable();
        assert_eq!(left, [2, 3]);
    }
}
