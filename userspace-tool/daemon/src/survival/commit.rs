//! Output commit, without I/O: a segment a connection to the cluster
//! address sends leaves only once another member holds the state it
//! reveals to the client — the sequence number it sends up to, the bytes
//! it acknowledges — and the bytes it carries.
//!
//! The kernel queues each such segment (NF_QUEUE) after exporting its
//! records. The daemon sends the records in numbered `TcpState` messages;
//! each member acknowledges each message it applied. Member `m` holds
//! everything up to message `k` when it acknowledged every message from
//! the first sent after it joined up to `k`; a message is committed when
//! every member holds it (the one that takes a dead member's buckets
//! restores from its own replicas), and with it, every record it carried. A held
//! segment leaves when its connection's committed state covers it:
//! `snd_nxt` at or past its end, `rcv_nxt` at or past its ACK. Messages
//! nobody acknowledged are sent again; a segment whose state never
//! commits is dropped after [`HOLD_MAX`] (TCP sends it again, with fresh
//! state). With no other member, nothing can hold anything: segments
//! leave at once. A member that holds a message but, its store full, not
//! one of its connections says so: nobody could restore that connection
//! byte-exact, so it fails closed. Its segments are dropped (held ones at
//! once, later ones once held too long: its state never commits) and the
//! daemon resets it, rather than let it stall the messages behind it or
//! reveal what no survivor holds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::kapi::nfqueue::Segment;
use crate::shared::tcpstate::{after, Initial, Record};
use crate::state::Histogram;

/// Longest a segment is held before it is dropped.
pub(crate) const HOLD_MAX: Duration = Duration::from_secs(2);
/// How long a held segment may wait for the record that shows its state
/// once the kernel's export is known to have lost records, before the
/// daemon asks the kernel for them: a segment whose record was lost would
/// otherwise wait out [`HOLD_MAX`], as TCP, its clone still held, does
/// not send it again meanwhile.
pub(crate) const UNEXPORTED_AFTER: Duration = Duration::from_millis(50);
/// A message unacknowledged this long is sent again (a lost datagram: an
/// acknowledgement takes a round trip and the peer's turn, milliseconds);
/// each time again twice as long, up to [`RESEND_MAX`]: when the peers
/// are slow rather than the datagrams lost, sending everything again
/// every 250 ms only slows them further.
pub(crate) const RESEND_AFTER: Duration = Duration::from_millis(250);
/// The longest wait before a message goes again.
pub(crate) const RESEND_MAX: Duration = Duration::from_secs(2);

/// Whether sequence number `a` is at or after `b` (they wrap).
fn covers(a: u32, b: u32) -> bool {
    after(a, b) >= 0
}

/// Whether a state sending up to `snd_nxt` and having received up to
/// `rcv_nxt` shows all that segment `s` reveals to the client.
fn reveals(snd_nxt: u32, rcv_nxt: u32, s: &Segment) -> bool {
    covers(snd_nxt, s.end) && s.ack.is_none_or(|a| covers(rcv_nxt, a))
}

/// Whether segment `s`, held since `at`, waited [`UNEXPORTED_AFTER`] by
/// `now` and no exported record shows its state.
fn unshown(now: Instant, at: Instant, s: &Segment, shown: impl Fn(&Segment) -> bool) -> bool {
    now.duration_since(at) >= UNEXPORTED_AFTER && !shown(s)
}

/// What the connection's committed state says: how far its sequence
/// numbers go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    Open { snd_nxt: u32, rcv_nxt: u32 },
    Closed,
}

struct Sent {
    seq: u64,
    body: Vec<u8>,
    at: Instant,
    /// How long from `at` until it goes again.
    wait: Duration,
    effects: Vec<(u64, Known)>,
}

/// Most messages kept for members that have not acknowledged them once
/// another member has: a member that never catches up stops costing
/// memory here (its replicas stay behind).
const LAGGING_MAX: usize = 4096;

/// Most connections remembered as aborted until their end commits.
const ABORTED_MAX: usize = 65536;

/// A message to send again.
#[derive(Debug)]
pub(crate) struct Resend {
    pub(crate) seq: u64,
    pub(crate) body: Vec<u8>,
    /// The members that lack it.
    pub(crate) to: Vec<u16>,
}

/// Which of our messages a member acknowledged.
#[derive(Default)]
struct Acks {
    /// It acknowledged every message up to here (from its first).
    upto: u64,
    /// And these beyond.
    ahead: BTreeSet<u64>,
}

/// One member's output commit.
#[derive(Default)]
pub(crate) struct Commit {
    /// The last message number used.
    last: u64,
    /// Every message up to this one is committed.
    committed: u64,
    /// Messages not yet committed, oldest first.
    sent: VecDeque<Sent>,
    members: HashMap<u16, Acks>,
    conns: HashMap<u64, Known>,
    held: BTreeMap<u32, (Segment, Instant)>,
    /// Connections a member could not keep, being aborted: their state
    /// never commits. (The kernel queues no RST: it shows a closing
    /// connection, which nobody restores.)
    aborted: HashSet<u64>,
    /// Connections aborted so.
    pub(crate) unkept: u64,
    /// Segments dropped: their state never committed in time.
    pub(crate) expired: u64,
    /// Messages sent again.
    pub(crate) resent: u64,
    /// How long each segment let go waited, from its arrival here.
    pub(crate) waits: Histogram,
}

impl Commit {
    /// Numbers the next message, carrying `body` (records); keeps it
    /// until committed.
    pub(crate) fn seal(&mut self, body: Vec<u8>, now: Instant) -> u64 {
        self.last += 1;
        let mut effects = Vec::new();
        let mut rest = &body[..];
        while let Ok((r, n)) = Record::decode(rest) {
            match r {
                Record::Essential(e) => effects.push((
                    e.id,
                    Known::Open {
                        snd_nxt: e.snd_nxt,
                        rcv_nxt: e.rcv_nxt,
                    },
                )),
                Record::Closed(c) => effects.push((c.id, Known::Closed)),
                _ => {}
            }
            rest = &rest[n..];
        }
        self.sent.push_back(Sent {
            seq: self.last,
            body,
            at: now,
            wait: RESEND_AFTER,
            effects,
        });
        self.last
    }

    /// The members other than us are `others`: a new one holds nothing
    /// not committed yet (it acknowledges those when they go again), and
    /// needs nothing committed before it came. (It counted as holding
    /// every message sent before it came: a member joining committed
    /// them all, and their segments left with no one holding their
    /// state.)
    pub(crate) fn members(&mut self, others: &[u16], now: Instant) -> Vec<u32> {
        self.members.retain(|m, _| others.contains(m));
        for &m in others {
            self.members.entry(m).or_insert(Acks {
                upto: self.committed,
                ahead: BTreeSet::new(),
            });
        }
        self.advance(now)
    }

    /// Member `m` acknowledged message `seq` at `now`; the segments that
    /// may leave.
    pub(crate) fn acked(&mut self, m: u16, seq: u64, now: Instant) -> Vec<u32> {
        let Some(a) = self.members.get_mut(&m) else {
            return Vec::new();
        };
        if seq > a.upto && seq <= self.last {
            a.ahead.insert(seq);
            while a.ahead.remove(&(a.upto + 1)) {
                a.upto += 1;
            }
        }
        self.advance(now)
    }

    /// A member holds our messages but not connections `ids` (its store
    /// is full): they cannot commit. The held segments to drop, and the
    /// connections new to abort. Call it before [`Commit::acked`] with
    /// the same answer, so that their state does not commit.
    pub(crate) fn unkept(&mut self, ids: &[u64]) -> (Vec<u32>, Vec<u64>) {
        let mut new = Vec::new();
        for &id in ids {
            if self.aborted.len() >= ABORTED_MAX {
                self.aborted.clear();
            }
            if self.aborted.insert(id) {
                self.conns.remove(&id);
                new.push(id);
            }
        }
        self.unkept += new.len() as u64;
        if new.is_empty() {
            // Every acknowledgement comes here: most name no connection.
            return (Vec::new(), new);
        }
        let drop: Vec<u32> = self
            .held
            .values()
            .filter(|(s, _)| new.contains(&s.conn))
            .map(|(s, _)| s.packet)
            .collect();
        for p in &drop {
            self.held.remove(p);
        }
        (drop, new)
    }

    /// Connection `id` ended in the kernel: if it was being aborted, it
    /// is no more (one never tracked has no end to commit).
    pub(crate) fn ended(&mut self, id: u64) {
        self.aborted.remove(&id);
    }

    /// A segment the kernel queued: `Some` if it may leave now.
    pub(crate) fn hold(&mut self, s: Segment, now: Instant) -> Option<u32> {
        if self.members.is_empty() || self.covered(&s) {
            self.waits.observe(Duration::ZERO);
            return Some(s.packet);
        }
        self.held.insert(s.packet, (s, now));
        None
    }

    /// Messages to send again (their numbers, bodies and the members that
    /// lack them: the others hold them and need not check them again),
    /// and the segments held too long, to drop.
    pub(crate) fn due(&mut self, now: Instant) -> (Vec<Resend>, Vec<u32>) {
        let mut again = Vec::new();
        for s in self.sent.iter_mut() {
            if now.duration_since(s.at) < s.wait {
                continue;
            }
            let mut to: Vec<u16> = self
                .members
                .iter()
                .filter(|(_, a)| a.upto < s.seq && !a.ahead.contains(&s.seq))
                .map(|(&m, _)| m)
                .collect();
            if to.is_empty() {
                continue; // held by all, waiting behind one they lack
            }
            to.sort_unstable();
            s.at = now;
            s.wait = (s.wait * 2).min(RESEND_MAX);
            again.push(Resend {
                seq: s.seq,
                body: s.body.clone(),
                to,
            });
        }
        self.resent += again.len() as u64;
        let old = self.expire(|_, at| now.duration_since(at) >= HOLD_MAX);
        (again, old)
    }

    /// The connections of the held segments that waited
    /// [`UNEXPORTED_AFTER`] by `now` and whose state no exported record
    /// shows (`shown`), each once: their records to ask of the kernel.
    pub(crate) fn unshown(&self, now: Instant, shown: impl Fn(&Segment) -> bool) -> Vec<Initial> {
        let mut seen = HashSet::new();
        self.held
            .values()
            .filter(|(s, at)| unshown(now, *at, s, &shown) && seen.insert(s.conn))
            .map(|(s, _)| s.flow)
            .collect()
    }

    /// Held segments that waited [`UNEXPORTED_AFTER`] by `now` and whose
    /// state no exported record shows (`shown`), even once asked of the
    /// kernel: dropped, counted `expired`, so that TCP sends them again.
    pub(crate) fn unexported(
        &mut self,
        now: Instant,
        shown: impl Fn(&Segment) -> bool,
    ) -> Vec<u32> {
        self.expire(|s, at| unshown(now, at, s, &shown))
    }

    /// Drops the held segments `old` picks (by segment and arrival),
    /// counted `expired`; their packet ids.
    fn expire(&mut self, old: impl Fn(&Segment, Instant) -> bool) -> Vec<u32> {
        let gone: Vec<u32> = self
            .held
            .values()
            .filter(|(s, at)| old(s, *at))
            .map(|(s, _)| s.packet)
            .collect();
        for p in &gone {
            self.held.remove(p);
        }
        self.expired += gone.len() as u64;
        gone
    }

    /// Whether `e`, a state exported, shows what segment `s` reveals.
    pub(crate) fn shows(e: &crate::shared::tcpstate::Essential, s: &Segment) -> bool {
        reveals(e.snd_nxt, e.rcv_nxt, s)
    }

    /// Segments waiting.
    pub(crate) fn waiting(&self) -> usize {
        self.held.len()
    }

    /// The bytes of the segments waiting.
    pub(crate) fn waiting_bytes(&self) -> u64 {
        self.held.values().map(|(s, _)| u64::from(s.len)).sum()
    }

    /// Connections whose committed state is kept.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.conns.len()
    }

    /// Commits what every member holds; the segments that may leave now.
    /// A message goes on being sent until every member holds it.
    fn advance(&mut self, now: Instant) -> Vec<u32> {
        let ups = self.members.values().map(|a| a.upto);
        // Alone: nobody to wait for.
        let (top, bottom) = match (ups.clone().max(), ups.min()) {
            (Some(t), Some(b)) => (t, b),
            _ => (self.last, self.last),
        };
        // Every member holds what is committed: whichever member takes a
        // dead one's buckets restores from its own replicas, which must
        // not be behind what the client saw. One that falls LAGGING_MAX
        // messages behind stops holding the others up (its replicas are
        // behind from then on). Commits are a prefix: the effects of
        // those new to it count.
        let upto = if self.sent.len() > LAGGING_MAX {
            top
        } else {
            bottom
        };
        let before = self.committed;
        self.committed = before.max(upto);
        let mut closed = Vec::new();
        let new = self.sent.iter_mut().skip_while(|s| s.seq <= before);
        for s in new.take_while(|s| s.seq <= upto) {
            for (id, k) in std::mem::take(&mut s.effects) {
                if self.aborted.contains(&id) {
                    if k == Known::Closed {
                        self.aborted.remove(&id);
                    }
                    continue;
                }
                match k {
                    Known::Closed => {
                        self.conns.remove(&id);
                        closed.push(id);
                    }
                    open => {
                        self.conns.insert(id, open);
                    }
                }
            }
        }
        while self.sent.front().is_some_and(|s| {
            s.seq <= bottom || (s.seq <= self.committed && self.sent.len() > LAGGING_MAX)
        }) {
            self.sent.pop_front();
        }
        // Alone, or a closed connection's last segments: they leave.
        let go: Vec<u32> = self
            .held
            .values()
            .filter(|(s, _)| self.members.is_empty() || closed.contains(&s.conn) || self.covered(s))
            .map(|(s, _)| s.packet)
            .collect();
        self.release(go, now)
    }

    /// Held segments `go` leave at `now`: how long each waited is counted.
    fn release(&mut self, go: Vec<u32>, now: Instant) -> Vec<u32> {
        for p in &go {
            if let Some((_, at)) = self.held.remove(p) {
                self.waits.observe(now.saturating_duration_since(at));
            }
        }
        go
    }

    fn covered(&self, s: &Segment) -> bool {
        match self.conns.get(&s.conn) {
            Some(Known::Open { snd_nxt, rcv_nxt }) => reveals(*snd_nxt, *rcv_nxt, s),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::tcpstate::{Closed, Essential};

    fn body(id: u64, snd_nxt: u32, rcv_nxt: u32) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let e = Essential {
            id,
            snd_nxt,
            rcv_nxt,
            ..Essential::default()
        };
        let n = Record::Essential(e).encode(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn seg(packet: u32, conn: u64, end: u32, ack: u32) -> Segment {
        Segment {
            packet,
            conn,
            end,
            ack: Some(ack),
            len: 100,
            flow: Initial {
                id: conn,
                ..crate::shared::fixtures::initial(0, 40000)
            },
        }
    }

    #[test]
    fn a_segment_waits_for_every_member_to_hold_its_state() {
        let now = Instant::now();
        let mut c = Commit::default();
        assert!(c.members(&[2, 3], now).is_empty());
        let k = c.seal(body(1, 100, 50), now);
        assert_eq!(c.hold(seg(7, 1, 100, 50), now), None);
        // A segment beyond the state sent waits longer.
        assert_eq!(c.hold(seg(8, 1, 120, 50), now), None);
        assert_eq!(c.waiting(), 2);
        // Member 2 holds message k: nothing leaves until 3 does too; then
        // segment 7 leaves, 8 does not.
        assert!(c.acked(2, k, now).is_empty());
        assert_eq!(c.acked(3, k, now), vec![7]);
        let k2 = c.seal(body(1, 120, 60), now);
        assert!(c.acked(3, k2, now).is_empty(), "2 has not acknowledged k2");
        assert_eq!(c.acked(2, k2, now), vec![8]);
        // Committed state lets later segments it covers go at once.
        assert_eq!(c.hold(seg(9, 1, 110, 55), now), Some(9));
    }

    #[test]
    fn a_connection_a_member_did_not_keep_is_aborted_and_stalls_no_other() {
        let now = Instant::now();
        let mut c = Commit::default();
        c.members(&[2, 3], now);
        let k = c.seal([body(1, 100, 50), body(2, 200, 70)].concat(), now);
        assert_eq!(c.hold(seg(7, 1, 100, 50), now), None);
        assert_eq!(c.hold(seg(8, 2, 200, 70), now), None);
        assert!(c.acked(2, k, now).is_empty());
        // Member 3 holds message k but not connection 2: its segment is
        // dropped and it is to be aborted; connection 1 commits.
        assert_eq!(c.unkept(&[2]), (vec![8], vec![2]));
        assert_eq!(c.acked(3, k, now), vec![7]);
        assert_eq!((c.waiting(), c.unkept), (0, 1));
        // Said again: nothing new. Its later segments wait, and expire.
        assert_eq!(c.unkept(&[2]), (vec![], vec![]));
        assert_eq!(c.hold(seg(9, 2, 200, 70), now), None);
        assert_eq!(c.due(now + HOLD_MAX).1, vec![9]);
        // Its state never commits, and once its end commits it is
        // forgotten.
        let mut end = [0u8; 64];
        let n = Record::Closed(Closed { id: 2 }).encode(&mut end).unwrap();
        let k2 = c.seal(end[..n].to_vec(), now);
        c.acked(2, k2, now);
        c.acked(3, k2, now);
        assert!(c.aborted.is_empty());
        assert_eq!(c.tracked(), 1);
    }

    #[test]
    fn a_member_that_missed_a_message_gets_it_until_it_holds_it() {
        let t0 = Instant::now();
        let mut c = Commit::default();
        c.members(&[2, 3], t0);
        let k = c.seal(body(1, 10, 10), t0);
        assert_eq!(c.hold(seg(1, 1, 10, 10), t0), None);
        // Member 2 holds it: the message goes on being sent for member 3,
        // and the segment waits for it.
        assert!(c.acked(2, k, t0).is_empty());
        let (again, _) = c.due(t0 + RESEND_AFTER);
        assert_eq!(
            again.iter().map(|r| (r.seq, &r.to[..])).collect::<Vec<_>>(),
            [(k, &[3][..])]
        );
        assert_eq!(c.acked(3, k, t0), vec![1]);
        // Committed state lets covered segments go at once.
        assert_eq!(c.hold(seg(2, 1, 10, 10), t0), Some(2));
        assert!(c.due(t0 + RESEND_MAX * 4).0.is_empty());
    }

    #[test]
    fn a_message_goes_again_only_to_the_members_that_lack_it() {
        let t0 = Instant::now();
        let mut c = Commit::default();
        c.members(&[2, 3, 4], t0);
        let a = c.seal(body(1, 10, 10), t0);
        let b = c.seal(body(1, 20, 10), t0);
        // 2 missed a, got b; 3 got both; 4 got neither.
        c.acked(2, b, t0);
        c.acked(3, a, t0);
        c.acked(3, b, t0);
        let (again, _) = c.due(t0 + RESEND_AFTER);
        let to: Vec<(u64, &[u16])> = again.iter().map(|r| (r.seq, &r.to[..])).collect();
        assert_eq!(to, [(a, &[2, 4][..]), (b, &[4][..])]);
        // 4 catches up: only a, for 2, goes again (b waits behind it
        // in order, held by all).
        c.acked(4, a, t0);
        c.acked(4, b, t0);
        let (again, _) = c.due(t0 + 3 * RESEND_AFTER);
        let to: Vec<(u64, &[u16])> = again.iter().map(|r| (r.seq, &r.to[..])).collect();
        assert_eq!(to, [(a, &[2][..])]);
    }

    #[test]
    fn acknowledgements_count_from_a_members_first_message_in_order() {
        let now = Instant::now();
        let mut c = Commit::default();
        c.members(&[2], now);
        let a = c.seal(body(1, 10, 10), now);
        let b = c.seal(body(1, 20, 10), now);
        assert_eq!(c.hold(seg(1, 1, 20, 10), now), None);
        // b without a is no prefix.
        assert!(c.acked(2, b, now).is_empty());
        assert_eq!(c.acked(2, a, now), vec![1]);
        // A member that joins later starts from the next message; acks of
        // unknown messages or from non-members change nothing.
        c.members(&[2, 4], now);
        assert!(c.acked(9, 1, now).is_empty());
        assert!(c.acked(4, 99, now).is_empty());
        let d = c.seal(body(1, 30, 10), now);
        assert_eq!(c.hold(seg(2, 1, 30, 10), now), None);
        assert!(c.acked(4, d, now).is_empty());
        assert_eq!(c.acked(2, d, now), vec![2]);
    }

    #[test]
    fn a_member_that_joins_holds_nothing_not_yet_committed() {
        let now = Instant::now();
        let mut c = Commit::default();
        c.members(&[2], now);
        let k = c.seal(body(1, 10, 10), now);
        assert_eq!(c.hold(seg(1, 1, 10, 10), now), None);
        // Member 3 joins: message k is held by no one still.
        assert!(c.members(&[2, 3], now).is_empty());
        assert_eq!(c.waiting(), 1);
        assert_eq!(c.due(now + RESEND_AFTER).0.len(), 1);
        // It acknowledges k, sent again, and so does 2: that commits it.
        assert!(c.acked(3, k, now).is_empty());
        assert_eq!(c.acked(2, k, now), vec![1]);
        // Gone and back (a view without it for a moment): the same.
        let k = c.seal(body(1, 20, 10), now);
        assert_eq!(c.hold(seg(2, 1, 20, 10), now), None);
        assert!(c.members(&[2], now).is_empty());
        assert!(c.members(&[2, 3], now).is_empty());
        assert!(c.acked(3, k, now).is_empty());
        assert_eq!(c.acked(2, k, now), vec![2]);
    }

    #[test]
    fn unacknowledged_messages_go_again_and_stuck_segments_are_dropped() {
        let t0 = Instant::now();
        let mut c = Commit::default();
        c.members(&[2], t0);
        let k = c.seal(body(1, 10, 10), t0);
        assert_eq!(c.hold(seg(5, 1, 10, 10), t0), None);
        let (again, old) = c.due(t0 + RESEND_AFTER);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].seq, k);
        assert!(old.is_empty());
        // Then after twice as long each time.
        let t1 = t0 + RESEND_AFTER;
        assert!(c.due(t1 + RESEND_AFTER).0.is_empty());
        assert_eq!(c.due(t1 + 2 * RESEND_AFTER).0.len(), 1);
        assert_eq!(c.resent, 2);
        let (_, old) = c.due(t0 + HOLD_MAX);
        assert_eq!(old, vec![5]);
        assert_eq!((c.expired, c.waiting()), (1, 0));
    }

    #[test]
    fn segments_no_exported_state_shows_are_dropped_when_asked() {
        let t0 = Instant::now();
        let mut c = Commit::default();
        c.members(&[2], t0);
        c.seal(body(1, 10, 10), t0);
        assert_eq!(c.hold(seg(1, 1, 10, 10), t0), None);
        assert_eq!(c.hold(seg(2, 1, 20, 10), t0), None);
        let ess = |snd_nxt, rcv_nxt| Essential {
            snd_nxt,
            rcv_nxt,
            ..Essential::default()
        };
        let shown = |s: &Segment| Commit::shows(&ess(10, 10), s);
        assert!(c.unexported(t0, shown).is_empty(), "too soon");
        assert!(c.unshown(t0, shown).is_empty(), "too soon");
        // Segment 2 reveals bytes up to 20, which no record showed: its
        // connection's records are asked for, once.
        assert_eq!(c.hold(seg(3, 1, 30, 10), t0), None);
        let ask = c.unshown(t0 + UNEXPORTED_AFTER, shown);
        assert_eq!(ask.iter().map(|i| i.id).collect::<Vec<_>>(), vec![1]);
        let later = |s: &Segment| Commit::shows(&ess(20, 10), s);
        assert_eq!(c.unexported(t0 + UNEXPORTED_AFTER, later), vec![3]);
        assert_eq!(c.unexported(t0 + UNEXPORTED_AFTER, shown), vec![2]);
        assert_eq!((c.waiting(), c.expired), (1, 2));
        assert!(Commit::shows(&ess(20, 10), &seg(9, 1, 20, 10)));
        assert!(!Commit::shows(&ess(20, 9), &seg(9, 1, 20, 10)), "its ACK");
    }

    #[test]
    fn each_segment_let_go_counts_its_wait_and_those_held_their_bytes() {
        let t0 = Instant::now();
        let mut c = Commit::default();
        c.members(&[2], t0);
        let k = c.seal(body(1, 10, 10), t0);
        assert_eq!(c.hold(seg(1, 1, 10, 10), t0), None);
        assert_eq!(c.hold(seg(2, 2, 10, 10), t0), None);
        assert_eq!((c.waiting(), c.waiting_bytes()), (2, 200));
        // Message k commits 30 ms later: segment 1 waited that long.
        assert_eq!(c.acked(2, k, t0 + Duration::from_millis(30)), vec![1]);
        assert_eq!(c.waiting_bytes(), 100);
        // Covered already: it goes at once, having waited nothing.
        assert_eq!(c.hold(seg(3, 1, 10, 10), t0), Some(3));
        // Segment 2 waited too long: dropped, its wait not counted.
        c.due(t0 + HOLD_MAX);
        assert_eq!((c.waiting_bytes(), c.expired), (0, 1));
        let w = &c.waits;
        let bucket = |s: f64| w.bounds.iter().position(|&b| b >= s).unwrap();
        assert_eq!(w.count(), 2);
        assert_eq!((w.counts[bucket(0.0)], w.counts[bucket(0.03)]), (1, 1));
        assert!((w.sum - 0.03).abs() < 1e-9, "{}", w.sum);
    }

    #[test]
    fn alone_or_closed_nothing_waits() {
        let now = Instant::now();
        let mut c = Commit::default();
        c.members(&[2], now);
        c.seal(body(1, 10, 10), now);
        assert_eq!(c.hold(seg(1, 1, 10, 10), now), None);
        assert_eq!(c.hold(seg(2, 2, 10, 10), now), None);
        // Connection 2 closes: its segments leave once that commits.
        let mut buf = [0u8; 16];
        let n = Record::Closed(Closed { id: 2 }).encode(&mut buf).unwrap();
        let k = c.seal(buf[..n].to_vec(), now);
        assert!(c.acked(2, k, now).is_empty(), "message 1 first");
        assert_eq!(c.acked(2, 1, now), vec![1, 2]);
        assert_eq!(c.waiting(), 0);
        c.seal(body(1, 20, 10), now);
        assert_eq!(c.hold(seg(3, 1, 20, 10), now), None);
        // The last other member died: everything goes.
        assert_eq!(c.members(&[], now), vec![3]);
        assert_eq!(c.hold(seg(4, 1, 99, 99), now), Some(4));
    }
}
