//! Replicas of the TCP failover state, without I/O.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

mod conn;
mod table;

use conn::Conn;
use table::{Keyed, Table};

use super::trust::{Authority, Refusal, Refused};
use crate::shared::tcpstate::{
    after, at_most, Dir, Essential, Flags, Initial, Record, DATA_HEAD_LEN,
};

/// What changed since the last record sent; the kernel sends one Initial
/// and one Essential per segment, the cluster link gets each Initial once
/// and an Essential only when a field other than its generation moved.
/// It tracks at most `max` connections: a connection whose Closed never
/// comes must not grow it for ever.
pub(crate) struct Coalescer {
    sent: HashMap<u64, Option<Essential>>,
    max: usize,
    /// Connections not replicated: `max` were tracked already.
    pub(crate) untracked: u64,
}

impl Coalescer {
    /// A coalescer of at most `max` connections.
    pub(crate) fn new(max: usize) -> Self {
        Coalescer {
            sent: HashMap::new(),
            max,
            untracked: 0,
        }
    }

    /// The record to replicate for `r`, if any.
    pub(crate) fn offer(&mut self, r: Record) -> Option<Record> {
        match r {
            Record::Initial(i) if self.sent.contains_key(&i.id) => None,
            Record::Initial(_) if self.sent.len() >= self.max => {
                self.untracked += 1;
                None
            }
            Record::Initial(i) => {
                self.sent.insert(i.id, None);
                Some(r)
            }
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

    /// The newest state sent of connection `id`.
    pub(crate) fn essential(&self, id: u64) -> Option<Essential> {
        self.sent.get(&id).copied().flatten()
    }
}

/// Most pieces of a stream waiting for a gap before them to fill: the
/// kernel exports in order, so a gap is a lost datagram, and the pieces
/// after it wait only for its resend. Their bytes count against the
/// connection's bound too.
const REORDER: usize = 64;

/// Bytes of one direction of a connection from some sequence number on
/// (output commit): kept from the first the client may still need — sent
/// but unacknowledged, received but unread — to the newest.
///
/// Trimming advances `start` and moves the bytes kept to the front of the
/// buffer only once they are less than those forgotten: a bulk sender's
/// queue trims at every Essential, and moving the whole queue each time
/// would cost a copy of it per record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stream {
    /// The sequence number of `bytes[start]`.
    base: Option<u32>,
    bytes: Vec<u8>,
    /// Where the bytes kept begin in `bytes`.
    start: usize,
    /// Bytes that came after a gap, until it fills (a few at most).
    later: Vec<(u32, Vec<u8>)>,
}

impl PartialEq for Stream {
    fn eq(&self, o: &Self) -> bool {
        self.base == o.base && self.kept() == o.kept() && self.later == o.later
    }
}

impl Eq for Stream {}

/// How far `a` lies after `b`, negative before (sequence numbers wrap).
fn ahead(a: u32, b: u32) -> i64 {
    i64::from(after(a, b))
}

impl Stream {
    /// Bytes `data` from sequence number `seq`; refused when they come
    /// after a gap and [`REORDER`] pieces wait already.
    pub(crate) fn add(&mut self, seq: u32, data: &[u8]) -> Result<(), Refusal> {
        let base = *self.base.get_or_insert(seq);
        let off = ahead(seq, base);
        let (seq, data) = if off < 0 {
            let skip = usize::try_from(-off).unwrap_or(usize::MAX);
            match data.get(skip..) {
                Some(d) => (base, d),
                None => return Ok(()),
            }
        } else {
            (seq, data)
        };
        let off = ahead(seq, base) as usize;
        let have = self.kept().len();
        if off > have {
            if self.later.len() >= REORDER {
                return Err(Refusal::Reorder);
            }
            self.later.push((seq, data.to_vec()));
            return Ok(());
        }
        if let Some(new) = data.get(have - off..) {
            self.bytes.extend_from_slice(new);
        }
        let end = base.wrapping_add(self.kept().len() as u32);
        if let Some(k) = self.later.iter().position(|(s, d)| {
            ahead(*s, end) <= 0 && ahead(s.wrapping_add(d.len() as u32), end) > 0
        }) {
            let (s, d) = self.later.swap_remove(k);
            return self.add(s, &d);
        }
        Ok(())
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
        self.start = self.start.saturating_add(k).min(self.bytes.len());
        if self.start >= self.bytes.len() - self.start {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.base = Some(seq);
        let end = seq.wrapping_add(self.kept().len() as u32);
        self.later
            .retain(|(s, d)| ahead(s.wrapping_add(d.len() as u32), seq) > 0);
        // A piece that waited for bytes now trimmed away (the client
        // acknowledged them; they never came) joins what is kept.
        if let Some(k) = self.later.iter().position(|(s, _)| ahead(*s, end) <= 0) {
            let (s, d) = self.later.swap_remove(k);
            // It lies at the end: nothing goes to `later`, nothing fails.
            let _ = self.add(s, &d);
        }
    }

    /// The bytes from `from` to `to`, if all are here.
    pub(crate) fn range(&self, from: u32, to: u32) -> Option<&[u8]> {
        if from == to {
            return Some(&[]);
        }
        let base = self.base?;
        let a = usize::try_from(ahead(from, base)).ok()?;
        let b = usize::try_from(ahead(to, base)).ok()?;
        self.kept().get(a..b)
    }

    /// The bytes kept (memory holds `start` more until the next move).
    pub(crate) fn len(&self) -> usize {
        self.kept().len() + self.later.iter().map(|(_, d)| d.len()).sum::<usize>()
    }

    /// The bytes from `base` on.
    fn kept(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
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
    /// Where `copied` stood when the application last wrote.
    pub(crate) answered: Option<u32>,
}

impl Orphan {
    /// Whether the connection was at rest: everything received read and
    /// answered, everything written sent. Only then can an application
    /// that knows nothing of the restore carry it on without its queues'
    /// bytes; in the middle of an exchange the client would wait for ever
    /// for an answer, or bytes, that died with the member. (Sent bytes
    /// not acknowledged yet do not count: the state comes with the
    /// segments a member sends, so the client's last ACK of an answer is
    /// never in it.)
    pub(crate) fn at_rest(&self) -> bool {
        let e = &self.essential;
        let read = e.copied == e.rcv_nxt && self.answered.is_none_or(|a| a == e.copied);
        read && e.written == e.snd_nxt
    }
}

/// The bytes out a restore sends again: from the client's last ACK to the
/// end of what the application wrote, or at least to `snd_nxt`.
fn unacked<'a>(out: &'a Stream, e: &Essential) -> Option<&'a [u8]> {
    let written = (after(e.written, e.snd_nxt) > 0)
        .then(|| out.range(e.snd_wl2, e.written))
        .flatten();
    written.or_else(|| out.range(e.snd_wl2, e.snd_nxt))
}

/// What the replicas may hold: connections, bytes per connection, bytes
/// in all (`[tcp] max_conns`, `max_conn_bytes`, `max_bytes`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) conns: usize,
    pub(crate) conn_bytes: usize,
    pub(crate) bytes: usize,
}

/// Most connections whose records wait for a newer table, and their
/// bytes in all, and how long they wait: long enough for the master's
/// next keepalive, short enough that a forger gains nothing.
const WAIT_CONNS: usize = 256;
const WAIT_BYTES: usize = 1 << 20;
const WAIT_FOR: Duration = Duration::from_secs(5);

/// Most connections remembered as not kept for want of room (their ids).
const UNKEPT_MAX: usize = 65536;

/// How long records that waited in vain are remembered: their sender
/// sends them again within a few flushes, and a sender that filled the
/// memory with junk would otherwise turn the remedy off for good.
const VAIN_FOR: Duration = Duration::from_secs(60);

/// Records of one connection refused for ownership that a newer table
/// may make good (see [`super::trust`]).
struct Waiting {
    sender: u16,
    why: Refusal,
    since: Instant,
    records: Vec<u8>,
}

/// Every member's replicas of every connection, bounded.
pub(crate) struct Store {
    conns: Table<Conn>,
    /// What the connections' times count from.
    epoch: Instant,
    /// Since when another live member has had a connection whose owner
    /// is gone (a few at most: only a dead member's connections).
    elsewhere: HashMap<u64, Instant>,
    /// The live member a dead member's connection came from, by a
    /// rebalancing move of its bucket: that member restored it and will
    /// replicate it as its own, so it is not restored here while that
    /// member lives (a few at most, as `elsewhere`).
    passed: HashMap<u64, u16>,
    /// The owners of connections here that were gone at the last table
    /// installed ([`Store::pass_on`]).
    gone: HashSet<u16>,
    limits: Limits,
    /// Initials not kept because the store was full.
    pub(crate) dropped: u64,
    /// Record bytes applied.
    pub(crate) bytes: u64,
    /// Bytes of the connections' queues held (kept with every change).
    held: usize,
    /// Records refused, by reason.
    pub(crate) refused: Refused,
    waiting: HashMap<u64, Waiting>,
    /// Connections not kept because the store was full, until their
    /// Initial is kept or their Closed comes (at most [`UNKEPT_MAX`]):
    /// their later records are not held either.
    unkept: HashSet<u64>,
    /// Connections whose records, from the sender named, waited for a
    /// newer table in vain, why and when, until that sender's Closed of
    /// them, its death or [`VAIN_FOR`] (at most [`UNKEPT_MAX`]): sent
    /// again and refused for the same reason, they are not held either.
    vain: HashMap<(u16, u64), (Refusal, Instant)>,
}

/// The replica of connection `id`, if `sender` owns it. A live sender
/// that owns the connection's bucket but not its replica may have restored it
/// after a death this host has not heard of yet: its take-over Initial
/// waits for the news ([`Refusal::Takeover`]), and so do its records that
/// follow. Refused for good, they would be acknowledged, and output commit
/// would count this replica as holding state it does not hold.
fn owned<'a>(
    conns: &'a mut Table<Conn>,
    sender: u16,
    id: u64,
    auth: &Authority,
    at: Instant,
) -> Result<&'a mut Conn, Refusal> {
    match conns.get_mut(id) {
        None => Err(Refusal::NoReplica),
        Some(c)
            if c.owner != sender && auth.alive(sender) && auth.owns(sender, &c.initial(), at) =>
        {
            Err(Refusal::Takeover)
        }
        Some(c) if c.owner != sender => Err(Refusal::NotReplicaOwner),
        Some(c) => Ok(c),
    }
}

/// What became of a message's records ([`Store::apply`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// All of them are done with: the message may be acknowledged.
    pub(crate) done: bool,
    /// The connections among them this store did not keep (it was full).
    pub(crate) unkept: Vec<u64>,
}

impl Store {
    /// A store within `limits`.
    pub(crate) fn new(limits: Limits) -> Self {
        Store {
            conns: Table::new(),
            epoch: Instant::now(),
            elsewhere: HashMap::new(),
            passed: HashMap::new(),
            gone: HashSet::new(),
            limits,
            dropped: 0,
            bytes: 0,
            held: 0,
            refused: Refused::default(),
            waiting: HashMap::new(),
            unkept: HashSet::new(),
            vain: HashMap::new(),
        }
    }

    /// `t` as a connection keeps it: nanoseconds since the epoch.
    fn stamp(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.epoch);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Applies the records `sender` sent (back to back), each as far as
    /// `auth` says it may (see [`super::trust`]); whether all of them are
    /// done with, and the connections not kept. Done: applied, refused
    /// for good, or of a connection not kept (past `[tcp] max_conns`),
    /// which output commit learns it cannot count on here. Not done: a
    /// record that waits for a newer table, and bytes not kept for want
    /// of room ([`Refusal::is_room`]): its sender sends them again.
    pub(crate) fn apply(&mut self, sender: u16, b: &[u8], auth: &Authority) -> Applied {
        self.bytes += b.len() as u64;
        self.apply_since(sender, b, auth, Instant::now())
    }

    fn apply_since(
        &mut self,
        sender: u16,
        mut b: &[u8],
        auth: &Authority,
        since: Instant,
    ) -> Applied {
        let mut done = true;
        let mut unkept = Vec::new();
        while let Ok((r, n)) = Record::decode(b) {
            let rec = &b[..n];
            b = &b[n..];
            // A record of a connection whose earlier records wait waits
            // behind them: a Closed applied ahead of its Initial would
            // leave the replica that Initial makes for ever.
            let behind = self
                .waiting
                .get(&r.id())
                .filter(|w| w.sender == sender)
                .map(|w| w.why);
            let res = match behind {
                Some(why) => Err(why),
                None => self.one(sender, r, rec, auth, since),
            };
            let id = r.id();
            let vain = match behind {
                None => self.vain.get(&(sender, id)).map(|v| v.0),
                Some(_) => None,
            };
            if vain.is_some() && matches!(r, Record::Closed(_)) {
                self.vain.remove(&(sender, id));
            }
            match res {
                Ok(true) => {}
                Ok(false) => unkept.push(id),
                Err(Refusal::NoReplica) if self.unkept.contains(&id) => unkept.push(id),
                // Sent again after it waited in vain: it would wait
                // again, and its sender's commit with it, for ever.
                Err(why) if vain == Some(why) => {
                    self.refused.record(why);
                    unkept.push(id);
                }
                Err(why) => {
                    let ackable = self.refuse(sender, id, rec, why, auth, since);
                    done &= ackable && !why.is_room();
                }
            }
        }
        unkept.sort_unstable();
        unkept.dedup();
        Applied { done, unkept }
    }

    /// Record `r` (`rec` on the wire) from `sender`, arrived at `at`;
    /// whether it was kept (an Initial is not when the store is full).
    fn one(
        &mut self,
        sender: u16,
        r: Record,
        rec: &[u8],
        auth: &Authority,
        at: Instant,
    ) -> Result<bool, Refusal> {
        match r {
            Record::Initial(i) => return self.initial(sender, i, auth, at),
            Record::Essential(e) => {
                let now = self.stamp(Instant::now());
                let c = owned(&mut self.conns, sender, e.id, auth, at)?;
                let before = c.len();
                c.update(e, now);
                self.held = self.held + c.len() - before;
            }
            Record::Closed(x) => match owned(&mut self.conns, sender, x.id, auth, at) {
                Err(Refusal::NoReplica) => {
                    self.unkept.remove(&x.id);
                }
                Err(why) => return Err(why),
                Ok(_) => {
                    self.forget(x.id);
                }
            },
            Record::Data(d) => {
                let c = owned(&mut self.conns, sender, d.id, auth, at)?;
                let bytes = &rec[DATA_HEAD_LEN..];
                if c.len() + bytes.len() > self.limits.conn_bytes {
                    return Err(Refusal::ConnBytes);
                }
                if self.held + bytes.len() > self.limits.bytes {
                    return Err(Refusal::TotalBytes);
                }
                let before = c.len();
                let q = c.queues_mut();
                let added = match d.dir {
                    Dir::Out => q.out.add(d.seq, bytes),
                    Dir::In => q.inb.add(d.seq, bytes),
                };
                self.held = self.held + c.len() - before;
                added?;
            }
        }
        Ok(true)
    }

    /// An Initial: a new replica, the same again, or a take-over;
    /// whether it was kept.
    fn initial(
        &mut self,
        sender: u16,
        i: Initial,
        auth: &Authority,
        at: Instant,
    ) -> Result<bool, Refusal> {
        let holder = self.conns.get(i.id).map(|c| c.owner);
        auth.initial(sender, &i, holder, at)?;
        let full = self.conns.len() >= self.limits.conns;
        let now = self.stamp(Instant::now());
        self.unkept.remove(&i.id);
        match self.conns.get_mut(i.id) {
            Some(c) if c.owner == sender => c.set_initial(&i),
            // A connection restored elsewhere, now that member's: its
            // state starts over from what it sends (its generations are
            // its own kernel's, not comparable with the old owner's). Its
            // bytes stay: a restore keeps the sequence numbers, and until
            // the new owner sends them again they are the only copy here.
            Some(c) => {
                c.taken_over(sender, &i, now);
                self.elsewhere.remove(&i.id);
                self.passed.remove(&i.id);
            }
            None if full => return Ok(self.unkept(i.id)),
            None => {
                if self.conns.insert(Conn::new(sender, &i, now)).is_err() {
                    return Ok(self.unkept(i.id));
                }
            }
        }
        Ok(true)
    }

    /// Connection `id` was not kept: the store is full. Counted, and
    /// remembered so that its later records are not acknowledged either
    /// (as far as [`UNKEPT_MAX`] allows); returns `false`, not kept.
    fn unkept(&mut self, id: u64) -> bool {
        self.dropped += 1;
        if self.unkept.len() < UNKEPT_MAX {
            self.unkept.insert(id);
        }
        false
    }

    /// Takes connection `id` out, with everything kept beside it.
    fn forget(&mut self, id: u64) -> Option<Conn> {
        let c = self.conns.remove(id)?;
        self.held -= c.len();
        self.elsewhere.remove(&id);
        self.passed.remove(&id);
        Some(c)
    }

    /// Record `rec` of connection `id` from `sender`, refused for `why`:
    /// kept to try again when a newer table may make it good (and with
    /// it, the records of that connection that follow), else counted.
    /// Whether its message may be acknowledged: not while it waits, nor
    /// when it would have waited but found no room (its sender sends it
    /// again, and a segment that reveals it does not leave meanwhile).
    fn refuse(
        &mut self,
        sender: u16,
        id: u64,
        rec: &[u8],
        why: Refusal,
        auth: &Authority,
        since: Instant,
    ) -> bool {
        // What follows a waiting Initial waits with it.
        let follows = self.waiting.get(&id).is_some_and(|w| w.sender == sender);
        let may_wait = follows || (why.may_pass_later() && auth.alive(sender));
        let bytes: usize = self.waiting.values().map(|w| w.records.len()).sum();
        if may_wait && bytes + rec.len() <= WAIT_BYTES {
            if let Some(w) = self.waiting.get_mut(&id).filter(|_| follows) {
                w.records.extend_from_slice(rec);
                return false;
            }
            if !self.waiting.contains_key(&id) && self.waiting.len() < WAIT_CONNS {
                let records = rec.to_vec();
                let w = Waiting {
                    sender,
                    why,
                    since,
                    records,
                };
                self.waiting.insert(id, w);
                return false;
            }
        }
        self.refused.record(why);
        !may_wait
    }

    /// Tries the records that wait for a newer table again under `auth`;
    /// those that waited [`WAIT_FOR`] by `now` are refused for good.
    pub(crate) fn retry(&mut self, auth: &Authority, now: Instant) {
        self.vain.retain(|&(sender, _), &mut (_, at)| {
            auth.alive(sender) && now.saturating_duration_since(at) < VAIN_FOR
        });
        for (id, w) in std::mem::take(&mut self.waiting) {
            if now.saturating_duration_since(w.since) >= WAIT_FOR {
                self.refused.record(w.why);
                // Not held here, as a connection the store had no room
                // for: its records, sent again, are acknowledged with it
                // named, and output commit fails closed on it.
                if self.vain.len() < UNKEPT_MAX {
                    self.vain.insert((w.sender, id), (w.why, now));
                }
            } else {
                self.apply_since(w.sender, &w.records, auth, w.since);
            }
        }
    }

    /// Connections whose records wait for a newer table.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Marks the connections whose owner is not `alive` that `from` says
    /// came to this member from another, live, member: they stay, not to
    /// be restored here while that member lives (see [`Store::passed`]).
    /// Only those whose owner was gone already at the table installed
    /// before: that member held their bucket after the death and restored
    /// them. A bucket that left their owner while it lived (its
    /// connections stay there while the bucket drains) and moves on in
    /// the very table that tells of the death was never restored there.
    /// Returns how many were marked.
    pub(crate) fn pass_on(
        &mut self,
        alive: impl Fn(u16) -> bool,
        from: impl Fn(&Initial) -> Option<u16>,
    ) -> usize {
        let mut n = 0;
        let mut gone = HashSet::new();
        for c in self.conns.iter().filter(|c| !alive(c.owner)) {
            gone.insert(c.owner);
            if !self.gone.contains(&c.owner) {
                continue;
            }
            if let Some(m) = from(&c.initial()) {
                self.passed.insert(c.key(), m);
                n += 1;
            }
        }
        self.gone = gone;
        n
    }

    /// Takes out the connections whose owner is not `alive` and that
    /// `mine` says are now this member's, with their essential state and
    /// its age; not those passed on by a member that is still `alive`.
    pub(crate) fn take_orphans(
        &mut self,
        alive: impl Fn(u16) -> bool,
        mine: impl Fn(&Initial) -> bool,
    ) -> Vec<Orphan> {
        let passed = &self.passed;
        let gone = self.conns.extract(|c| {
            alive(c.owner)
                || c.essential().is_none()
                || !mine(&c.initial())
                || passed.get(&c.key()).is_some_and(|&p| alive(p))
        });
        for c in &gone {
            self.held -= c.len();
            self.elsewhere.remove(&c.key());
            self.passed.remove(&c.key());
        }
        let now = self.stamp(Instant::now());
        gone.into_iter()
            .filter_map(|mut c| {
                // The restore makes the FINs again: the bytes end before
                // them.
                let mut e = c.essential()?.without_fins();
                let answered = c.answered().map(|a| at_most(a, e.rcv_nxt));
                let q = c.take_queues();
                // What the application read but may not have answered is
                // read again, from where it last had written.
                let unread = answered.and_then(|a| q.inb.range(a, e.rcv_nxt));
                let unread = match unread {
                    Some(b) => {
                        e.copied = answered.unwrap_or(e.copied);
                        Some(b)
                    }
                    None => q.inb.range(e.copied, e.rcv_nxt),
                };
                Some(Orphan {
                    initial: c.initial(),
                    essential: e,
                    age: Duration::from_nanos(now.saturating_sub(c.at)),
                    unacked: unacked(&q.out, &e).map(<[u8]>::to_vec),
                    unread: unread.map(<[u8]>::to_vec),
                    answered,
                })
            })
            .collect()
    }

    /// Forgets the connections whose owner is not `alive` and that
    /// `elsewhere` says another live member has had for `grace` (or that
    /// a live member passed on to this one): that member restored them
    /// (and replicates them anew under its own id) or could not, so they
    /// are not this member's to keep. Within `grace` they stay, for the
    /// case that member dies too before it replicated them. Returns how
    /// many went.
    pub(crate) fn forget_taken(
        &mut self,
        alive: impl Fn(u16) -> bool,
        elsewhere: impl Fn(&Initial) -> bool,
        now: Instant,
        grace: Duration,
    ) -> usize {
        let mut was = std::mem::take(&mut self.elsewhere);
        let mut kept = HashMap::new();
        let passed = &self.passed;
        let gone = self.conns.extract(|c| {
            let taken = elsewhere(&c.initial()) || passed.get(&c.key()).is_some_and(|&p| alive(p));
            if alive(c.owner) || !taken {
                return true;
            }
            let since = was.remove(&c.key()).unwrap_or(now);
            kept.insert(c.key(), since);
            now.saturating_duration_since(since) < grace
        });
        for c in &gone {
            self.held -= c.len();
            kept.remove(&c.key());
            self.passed.remove(&c.key());
        }
        self.elsewhere = kept;
        gone.len()
    }

    /// Forgets the connections last heard of in their handshake (the
    /// state of our SYN-ACK, [`Flags::HANDSHAKE`]) at least `after` before
    /// `now`: handshakes the client never finished (the request socket
    /// went silently), or connections that have sent nothing since.
    /// Returns how many went.
    pub(crate) fn forget_handshakes(&mut self, now: Instant, after: Duration) -> usize {
        let now = self.stamp(now);
        let after = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX);
        let gone = self.conns.extract(|c| {
            !c.essential().is_some_and(|e| e.flags.has(Flags::HANDSHAKE))
                || now.saturating_sub(c.at) < after
        });
        for c in &gone {
            self.held -= c.len();
            self.elsewhere.remove(&c.key());
            self.passed.remove(&c.key());
        }
        gone.len()
    }

    /// Bytes of the connections' queues held.
    pub(crate) fn queued(&self) -> usize {
        self.conns.iter().map(Conn::len).sum()
    }

    /// Connections held.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod bench;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::tcpstate::Closed;

    /// Connection `n`: from 192.0.2.2 port 40000 + n to the cluster
    /// address 192.0.2.100, named by its 4-tuple.
    fn initial(n: u64) -> Initial {
        let mut i = crate::shared::fixtures::initial(0, 40000 + n as u16);
        i.id = crate::shared::tcpstate::conn_id(&i.src, &i.dst, i.sport, i.dport);
        i
    }

    fn id(n: u64) -> u64 {
        initial(n).id
    }

    fn ess(n: u64, gen: u32, rcv_nxt: u32) -> Essential {
        Essential {
            id: id(n),
            gen,
            rcv_nxt,
            ..Essential::default()
        }
    }

    fn limits(conns: usize) -> Limits {
        Limits {
            conns,
            conn_bytes: 1 << 20,
            bytes: 1 << 24,
        }
    }

    /// Members 1, 2 and 3; every bucket member 2's (`bits` 2).
    fn auth() -> Authority {
        let mut a = Authority::new(
            crate::shared::hash::FlowHash::new(crate::shared::hash::Mode::Seed),
            2,
            vec!["192.0.2.100".parse().unwrap()],
        );
        a.update(&[1, 2, 3], &[2; 4], Instant::now());
        a
    }

    #[test]
    fn the_coalescer_sends_each_initial_once_and_only_changes() {
        let mut c = Coalescer::new(16);
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
        let closed = Record::Closed(Closed { id: id(1) });
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
        s.add(1000, b"abcd").unwrap();
        // A retransmission, and bytes that overlap the end.
        s.add(1000, b"ab").unwrap();
        s.add(1002, b"cdef").unwrap();
        assert_eq!(s.range(1000, 1006), Some(&b"abcdef"[..]));
        // Bytes after a gap wait for it.
        s.add(1008, b"ij").unwrap();
        assert_eq!(s.range(1000, 1010), None);
        s.add(1006, b"gh").unwrap();
        assert_eq!(s.range(1004, 1010), Some(&b"efghij"[..]));
        s.trim(1004);
        assert_eq!(s.range(1000, 1004), None);
        assert_eq!(s.range(1004, 1004), Some(&b""[..]));
        assert_eq!(s.range(1009, 1010), Some(&b"j"[..]));
        // Trimmed past the end: the next bytes start there.
        s.trim(1012);
        assert_eq!(s.len(), 0);
        s.add(1012, b"kl").unwrap();
        assert_eq!(s.range(1012, 1014), Some(&b"kl"[..]));
        // A piece after a gap the trim passes joins what is kept.
        s.add(1020, b"uvwxyz").unwrap();
        assert_eq!(s.range(1012, 1020), None);
        s.trim(1022);
        assert_eq!(s.range(1022, 1026), Some(&b"wxyz"[..]));
        assert_eq!(s.len(), 4);
        // Sequence numbers wrap.
        let mut s = Stream::default();
        s.add(u32::MAX - 1, b"wxyz").unwrap();
        assert_eq!(s.range(u32::MAX, 2), Some(&b"xyz"[..]));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn a_stream_trimmed_often_moves_its_bytes_seldom() {
        let mut s = Stream::default();
        let chunk = [7u8; 100];
        s.add(0, &[1u8; 1000]).unwrap();
        let mut moves = 0;
        for i in 0..1000u32 {
            s.add(1000 + i * 100, &chunk).unwrap();
            let before = s.start;
            s.trim((i + 1) * 100);
            moves += usize::from(s.start < before);
            // What is forgotten never outgrows what is kept.
            assert!(s.start <= s.kept().len(), "{} {}", s.start, s.kept().len());
            assert_eq!(s.len(), 1000);
        }
        assert!(moves <= 200, "{moves} moves for 1000 trims");
        assert_eq!(s.range(100_000, 101_000), Some(&[7u8; 1000][..]));
    }

    #[test]
    fn orphans_come_with_their_queues_when_whole() {
        let mut s = Store::new(limits(4));
        let d = |dir, seq, len| {
            Record::Data(crate::shared::tcpstate::Data {
                id: id(1),
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
        s.apply(2, &wire(&recs, b"01234567"), &auth());
        assert_eq!(s.queued(), 4 + 3);
        let o = s.take_orphans(|m| m != 2, |_| true);
        assert_eq!(o[0].unacked.as_deref(), Some(&b"4567"[..]));
        assert_eq!(o[0].unread.as_deref(), Some(&b"012"[..]));
        // A connection whose bytes were missed has no queues to give.
        s.apply(
            2,
            &wire(&[Record::Initial(initial(1)), Record::Essential(e)], b""),
            &auth(),
        );
        let o = s.take_orphans(|m| m != 2, |_| true);
        assert_eq!((o[0].unacked.clone(), o[0].unread.clone()), (None, None));
    }

    /// `len` bytes sent by connection 1 from `seq`.
    fn out(seq: u32, len: u32) -> Record {
        Record::Data(crate::shared::tcpstate::Data {
            id: id(1),
            dir: Dir::Out,
            seq,
            len,
        })
    }

    #[test]
    fn bytes_written_but_not_sent_are_restored_when_here() {
        // Sent 100..108, the client acknowledged up to 104; written up to
        // 112: 108..112 were never sent.
        let e = Essential {
            snd_nxt: 108,
            snd_wl2: 104,
            written: 112,
            ..ess(1, 5, 53)
        };
        let mut s = Store::new(limits(4));
        s.apply(
            2,
            &wire(&[Record::Initial(initial(1)), out(100, 8)], b"01234567"),
            &auth(),
        );
        s.apply(
            2,
            &wire(&[out(108, 4), Record::Essential(e)], b"89ab"),
            &auth(),
        );
        let o = s.take_orphans(|m| m != 2, |_| true);
        assert_eq!(o[0].unacked.as_deref(), Some(&b"456789ab"[..]));
        // Without the bytes not sent, what was sent still comes.
        let mut s = Store::new(limits(4));
        let sent_only = [
            Record::Initial(initial(1)),
            out(100, 8),
            Record::Essential(e),
        ];
        s.apply(2, &wire(&sent_only, b"01234567"), &auth());
        let o = s.take_orphans(|m| m != 2, |_| true);
        assert_eq!(o[0].unacked.as_deref(), Some(&b"4567"[..]));
    }

    #[test]
    fn a_take_over_keeps_the_bytes_until_the_new_owner_sends_them() {
        // Member 2's connection, 4 bytes of 8 sent unacknowledged; 2 dies,
        // 3 restores it and replicates it as its own, then dies too
        // before sending anything: the bytes 2 replicated come back.
        let e = Essential {
            snd_wl2: 104,
            snd_nxt: 108,
            written: 108,
            ..ess(1, 1, 10)
        };
        let mut s = Store::new(limits(4));
        let recs = [
            Record::Initial(initial(1)),
            out(100, 8),
            Record::Essential(e),
        ];
        s.apply(2, &wire(&recs, b"01234567"), &auth());
        let mut a = auth();
        a.update(&[1, 3], &[3; 4], Instant::now());
        let taken = [Record::Initial(initial(1)), Record::Essential(e)];
        assert!(s.apply(3, &wire(&taken, b""), &a).done);
        let o = s.take_orphans(|m| m == 1, |_| true);
        assert_eq!(o[0].unacked.as_deref(), Some(&b"4567"[..]));
    }

    #[test]
    fn only_a_connection_at_rest_is_at_rest() {
        let rest = Essential {
            snd_wl2: 200,
            snd_nxt: 200,
            written: 200,
            copied: 60,
            ..ess(1, 1, 60)
        };
        let orphan = |essential, answered| Orphan {
            initial: initial(1),
            essential,
            age: Duration::ZERO,
            unacked: None,
            unread: None,
            answered,
        };
        assert!(orphan(rest, Some(60)).at_rest());
        let unacked = Essential {
            snd_wl2: 150,
            ..rest
        };
        let unsent = Essential {
            written: 250,
            ..rest
        };
        // An answer sent but not acknowledged yet is at rest (the ACK
        // never shows in the state); not a request read but not answered,
        // one not read yet, an answer written but not sent.
        assert!(orphan(unacked, Some(60)).at_rest());
        assert!(!orphan(rest, Some(50)).at_rest());
        assert!(!orphan(Essential { copied: 50, ..rest }, Some(50)).at_rest());
        assert!(!orphan(unsent, Some(60)).at_rest());
    }

    #[test]
    fn what_was_read_but_not_answered_is_read_again() {
        let input = Record::Data(crate::shared::tcpstate::Data {
            id: id(1),
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
            let mut s = Store::new(limits(4));
            s.apply(2, &wire(recs, b"abc"), &auth());
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

    /// `records` of connection 1 from `sender` in one datagram.
    /// Whether they are all done with.
    fn send(s: &mut Store, sender: u16, records: &[Record], a: &Authority) -> bool {
        s.apply(sender, &wire(records, &[7u8; 64]), a).done
    }

    /// `records` from sender 2 in one datagram: done with, the connections
    /// not kept.
    fn unkept(s: &mut Store, records: &[Record]) -> Applied {
        s.apply(2, &wire(records, &[7u8; 64]), &auth())
    }

    /// The replicas held, by id.
    fn conns(s: &Store) -> Vec<Conn> {
        let mut v: Vec<Conn> = s.conns.iter().cloned().collect();
        v.sort_unstable_by_key(Keyed::key);
        v
    }

    fn data(n: u64, dir: Dir, seq: u32, len: u32) -> Record {
        Record::Data(crate::shared::tcpstate::Data {
            id: id(n),
            dir,
            seq,
            len,
        })
    }

    /// Member 2 replicates connection 1 (every bucket its own).
    fn replicated() -> Store {
        let mut s = Store::new(limits(4));
        let recs = [
            Record::Initial(initial(1)),
            data(1, Dir::In, 50, 3),
            Record::Essential(ess(1, 900, 53)),
        ];
        send(&mut s, 2, &recs, &auth());
        s
    }

    #[test]
    fn a_new_owner_starts_the_state_over_whatever_its_generations() {
        let mut s = replicated();
        // Member 2 died and member 3 has its buckets: it restored the
        // connection and replicates it anew, its kernel counting
        // generations from lower.
        let mut a = auth();
        a.update(&[1, 3], &[3; 4], Instant::now());
        let recs = [
            Record::Initial(initial(1)),
            Record::Essential(ess(1, 7, 80)),
        ];
        send(&mut s, 3, &recs, &a);
        assert_eq!(s.refused, Refused::default());
        // The old owner has no say any more.
        send(&mut s, 2, &[Record::Closed(Closed { id: id(1) })], &a);
        assert_eq!(s.refused.not_replica_owner, 1);
        let o = s.take_orphans(|m| m == 2, |_| true);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].essential.rcv_nxt, 80);
    }

    #[test]
    fn only_the_buckets_owner_makes_a_replica() {
        let mut s = Store::new(limits(4));
        let recs = [
            Record::Initial(initial(1)),
            Record::Essential(ess(1, 1, 50)),
            data(1, Dir::In, 50, 3),
        ];
        // Member 3 owns no bucket; member 2 lives: what 3 sent waits for
        // a table that may give 3 the bucket, and goes when none does.
        send(&mut s, 3, &recs, &auth());
        assert_eq!((s.len(), s.waiting()), (0, 1));
        let a = auth();
        s.retry(&a, Instant::now() + WAIT_FOR);
        assert_eq!((s.len(), s.waiting()), (0, 0));
        assert_eq!(s.refused.not_owner, 1);
        // A stranger to the view does not even wait.
        send(&mut s, 9, &recs, &auth());
        assert_eq!((s.len(), s.waiting(), s.refused.not_owner), (0, 0, 2));
        // Essential and Data alone make nothing.
        send(&mut s, 2, &recs[1..], &auth());
        assert_eq!(s.refused.no_replica, 2 + 2);
    }

    #[test]
    fn records_that_waited_in_vain_are_acknowledged_as_not_kept_when_sent_again() {
        let mut s = Store::new(limits(4));
        let recs = [
            Record::Initial(initial(1)),
            Record::Essential(ess(1, 1, 50)),
        ];
        // Member 3 lives and owns no bucket: its records wait, unacknowledged.
        assert!(!send(&mut s, 3, &recs, &auth()));
        s.retry(&auth(), Instant::now() + WAIT_FOR);
        assert_eq!(s.waiting(), 0);
        // Sent again, they do not wait again: the message is done with,
        // the connection named, so that its owner resets it.
        let again = s.apply(3, &wire(&recs, b""), &auth());
        let named = Applied {
            done: true,
            unkept: vec![id(1)],
        };
        assert_eq!(again, named);
        assert_eq!(s.waiting(), 0);
        // Another sender's records of it wait as before; its sender's
        // Closed ends that.
        assert!(!send(&mut s, 1, &recs, &auth()));
        let closed = [Record::Closed(Closed { id: id(1) })];
        assert!(send(&mut s, 3, &closed, &auth()));
        assert!(!send(&mut s, 3, &recs, &auth()), "waits again");
        // Member 1's waited in vain too: remembered for VAIN_FOR only.
        let later = Instant::now() + WAIT_FOR;
        s.retry(&auth(), later);
        assert!(s.apply(1, &wire(&recs, b""), &auth()).done);
        s.retry(&auth(), later + VAIN_FOR);
        assert!(!send(&mut s, 1, &recs, &auth()), "waits: forgotten");
    }

    #[test]
    fn records_ahead_of_our_table_wait_for_it() {
        // The master installed a table giving it member 2's buckets,
        // restored, and replicated before its keepalive reached us.
        let mut s = replicated();
        let recs = [
            Record::Initial(initial(1)),
            Record::Essential(ess(1, 7, 80)),
        ];
        assert!(!send(&mut s, 3, &recs, &auth()), "waits: not acknowledged");
        assert_eq!(s.waiting(), 1);
        let mut a = auth();
        a.update(&[1, 3], &[3; 4], Instant::now());
        s.retry(&a, Instant::now());
        assert_eq!((s.waiting(), s.refused), (0, Refused::default()));
        let o = s.take_orphans(|m| m == 1, |_| true);
        assert_eq!(o[0].essential.rcv_nxt, 80);
    }

    #[test]
    fn a_close_waits_behind_the_records_it_follows() {
        // Member 3's Initial waits for the table that gives it the
        // bucket; the connection ends before that table comes here.
        let mut s = Store::new(limits(4));
        let recs = [
            Record::Initial(initial(1)),
            Record::Essential(ess(1, 1, 50)),
        ];
        assert!(!send(&mut s, 3, &recs, &auth()));
        assert!(!send(
            &mut s,
            3,
            &[Record::Closed(Closed { id: id(1) })],
            &auth()
        ));
        let mut a = auth();
        a.update(&[1, 2, 3], &[3; 4], Instant::now());
        s.retry(&a, Instant::now());
        assert_eq!(
            (s.len(), s.waiting(), s.refused),
            (0, 0, Refused::default())
        );
    }

    #[test]
    fn connections_to_other_addresses_or_misnamed_are_refused() {
        let mut s = Store::new(limits(4));
        let mut local = initial(1);
        local.dst[12..].copy_from_slice(&[127, 0, 0, 1]);
        local.id = crate::shared::tcpstate::conn_id(&local.src, &local.dst, local.sport, 7000);
        let mut foreign = initial(2);
        foreign.dst[15] = 7;
        foreign.id =
            crate::shared::tcpstate::conn_id(&foreign.src, &foreign.dst, foreign.sport, 7000);
        // Another connection's name: would overwrite that one's replica.
        let misnamed = Initial {
            id: id(3),
            ..initial(4)
        };
        let recs = [local, foreign, misnamed].map(Record::Initial);
        send(&mut s, 2, &recs, &auth());
        assert_eq!(s.len(), 0);
        assert_eq!((s.refused.foreign_destination, s.refused.bad_id), (2, 1));
    }

    #[test]
    fn records_of_a_take_over_not_heard_of_yet_wait_unacknowledged() {
        // Member 2 died and member 3, which has its buckets, restored the
        // connection; this host does not know 2 is dead yet. 3's state
        // must not be acknowledged (output commit would release what it
        // shows) until it is applied, after its Initial, once 2 is gone.
        let mut s = replicated();
        let mut a = auth();
        a.update(&[1, 2, 3], &[3; 4], Instant::now());
        assert!(!send(&mut s, 3, &[Record::Initial(initial(1))], &a));
        assert!(!send(&mut s, 3, &[Record::Essential(ess(1, 7, 80))], &a));
        assert_eq!(s.waiting(), 1);
        // Even without its Initial waiting here (refused for want of room,
        // or not come yet), the Essential waits: it is sent again.
        let mut t = replicated();
        assert!(!send(&mut t, 3, &[Record::Essential(ess(1, 7, 80))], &a));
        a.update(&[1, 3], &[3; 4], Instant::now());
        s.retry(&a, Instant::now());
        assert_eq!((s.waiting(), s.refused), (0, Refused::default()));
        let o = s.take_orphans(|m| m == 1, |_| true);
        assert_eq!(o[0].essential.rcv_nxt, 80);
    }

    #[test]
    fn another_member_cannot_overwrite_delete_feed_or_take_over() {
        let mut s = replicated();
        let before = conns(&s);
        let mut bigger = ess(1, 901, 999);
        bigger.copied = 999;
        let recs = [
            Record::Initial(initial(1)),
            Record::Essential(bigger),
            data(1, Dir::In, 53, 5),
            Record::Closed(Closed { id: id(1) }),
        ];
        // Member 3 lives and owns no bucket, member 1 the same; even
        // owning the bucket, a member cannot take a live owner's replica.
        let mut owning = auth();
        owning.update(&[1, 2, 3], &[3; 4], Instant::now());
        for (m, a) in [(3, auth()), (1, auth()), (3, owning)] {
            send(&mut s, m, &recs[1..], &a);
            send(&mut s, m, &recs[..1], &a);
            let waited = s.waiting();
            s.retry(&a, Instant::now() + WAIT_FOR);
            assert_eq!(waited, 1);
        }
        assert_eq!(conns(&s), before);
        // (Owning the bucket, member 3's records waited with its Initial
        // for news of a death, and were refused with it.)
        assert_eq!(s.refused.not_replica_owner, 3 * 2);
        assert_eq!(s.refused.not_owner + s.refused.takeover, 3);
        assert_eq!(s.refused.takeover, 1);
    }

    #[test]
    fn bytes_held_are_bounded_per_connection_and_in_all() {
        let mut s = Store::new(Limits {
            conns: 4,
            conn_bytes: 100,
            bytes: 150,
        });
        let chunk = |n, seq| data(n, Dir::In, seq, 40);
        // Data without an Essential (none trims it) and without end.
        let mut recs = vec![Record::Initial(initial(1))];
        recs.extend((0..10).map(|k| chunk(1, 1000 + 40 * k)));
        send(&mut s, 2, &recs, &auth());
        assert_eq!(s.queued(), 80);
        assert_eq!(s.refused.conn_bytes, 8);
        let mut recs = vec![Record::Initial(initial(2))];
        recs.extend((0..3).map(|k| chunk(2, 1000 + 40 * k)));
        send(&mut s, 2, &recs, &auth());
        assert_eq!(s.queued(), 80 + 40);
        assert_eq!(s.refused.total_bytes, 2);
        // A Closed gives the room back.
        send(&mut s, 2, &[Record::Closed(Closed { id: id(1) })], &auth());
        assert_eq!(s.queued(), 40);
        send(&mut s, 2, &[chunk(2, 1040)], &auth());
        assert_eq!(s.queued(), 80);
    }

    /// Output commit acknowledges a message only when its records are
    /// kept: a replica that dropped one for want of room would otherwise
    /// let its segments go with no member holding their state.
    #[test]
    fn a_full_store_reports_the_connections_it_did_not_keep() {
        let mut s = Store::new(Limits {
            conns: 1,
            conn_bytes: 100,
            bytes: 150,
        });
        let opened = |n| {
            [
                Record::Initial(initial(n)),
                Record::Essential(ess(n, 1, 50)),
            ]
        };
        assert!(send(&mut s, 2, &opened(1), &auth()));
        // No room for a second connection: not kept, counted, and said
        // (output commit must not count on it here).
        let not_kept = |n| Applied {
            done: true,
            unkept: vec![id(n)],
        };
        assert_eq!(unkept(&mut s, &opened(2)), not_kept(2));
        assert_eq!((s.len(), s.dropped), (1, 1));
        // What follows of that connection is not held either (it would
        // count on a state the store never had).
        let later = [Record::Essential(ess(2, 2, 60))];
        assert_eq!(unkept(&mut s, &later), not_kept(2));
        // Sent again while there is no room: still not kept. Once there
        // is, it is.
        assert_eq!(unkept(&mut s, &opened(2)), not_kept(2));
        assert_eq!(s.dropped, 2);
        assert!(send(
            &mut s,
            2,
            &[Record::Closed(Closed { id: id(1) })],
            &auth()
        ));
        assert!(send(&mut s, 2, &opened(2), &auth()));
        assert!(send(&mut s, 2, &later, &auth()));
        assert_eq!(s.len(), 1);
        // Bytes past the connection's bound, past the store's, and after
        // a gap with the reorder buffer full: not done either.
        let d = |seq, len| data(2, Dir::In, seq, len);
        assert!(send(&mut s, 2, &[d(50, 60)], &auth()));
        assert!(!send(&mut s, 2, &[d(110, 41)], &auth()));
        assert_eq!(s.refused.conn_bytes, 1);
        let mut big = Store::new(Limits {
            conns: 2,
            conn_bytes: 100,
            bytes: 150,
        });
        assert!(send(
            &mut big,
            2,
            &[opened(1).as_slice(), &[data(1, Dir::In, 50, 64)]].concat(),
            &auth()
        ));
        assert!(send(
            &mut big,
            2,
            &[opened(2).as_slice(), &[d(50, 64)]].concat(),
            &auth()
        ));
        assert!(!send(&mut big, 2, &[d(114, 30)], &auth()));
        assert_eq!(big.refused.total_bytes, 1);
        let mut gaps = Store::new(limits(4));
        let mut recs = vec![Record::Initial(initial(1)), data(1, Dir::Out, 0, 1)];
        recs.extend((1..=REORDER as u32).map(|k| data(1, Dir::Out, 2 * k, 1)));
        assert!(send(&mut gaps, 2, &recs, &auth()));
        assert!(!send(&mut gaps, 2, &[data(1, Dir::Out, 1000, 1)], &auth()));
        assert_eq!(gaps.refused.reorder, 1);
        // Refused for what they say, not for room: done with for good;
        // so is a connection not kept once its Closed came.
        assert!(send(&mut gaps, 2, &[data(9, Dir::Out, 0, 1)], &auth()));
        assert_eq!(gaps.refused.no_replica, 1);
        let mut s = Store::new(limits(0));
        assert_eq!(unkept(&mut s, &opened(1)), not_kept(1));
        assert!(send(
            &mut s,
            2,
            &[Record::Closed(Closed { id: id(1) })],
            &auth()
        ));
        assert!(send(&mut s, 2, &opened(1)[1..], &auth()));
    }

    #[test]
    fn pieces_after_a_gap_are_bounded() {
        let mut s = Store::new(limits(4));
        let mut recs = vec![Record::Initial(initial(1)), data(1, Dir::Out, 0, 1)];
        // Every other byte: each after a gap.
        recs.extend((1..=REORDER as u32 + 10).map(|k| data(1, Dir::Out, 2 * k, 1)));
        send(&mut s, 2, &recs, &auth());
        assert_eq!(s.refused.reorder, 10);
        assert_eq!(s.queued(), 1 + REORDER);
    }

    #[test]
    fn the_coalescer_tracks_a_bounded_number_of_connections() {
        let mut c = Coalescer::new(2);
        for n in 1..=3 {
            c.offer(Record::Initial(initial(n)));
        }
        assert_eq!((c.len(), c.untracked), (2, 1));
        // Nothing of an untracked connection goes out.
        assert_eq!(c.offer(data(3, Dir::In, 0, 1)), None);
        c.offer(Record::Closed(Closed { id: id(1) }));
        let i = Record::Initial(initial(3));
        assert_eq!(c.offer(i), Some(i));
    }

    #[test]
    fn the_store_keeps_the_newest_state_and_hands_orphans_over() {
        let mut s = Store::new(limits(2));
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
            &auth(),
        );
        assert_eq!((s.len(), s.dropped), (2, 1));
        // Member 2 is alive: nothing to take.
        assert!(s.take_orphans(|_| true, |_| true).is_empty());
        // Member 2 died; only connection 1's bucket is ours.
        let got = s.take_orphans(|m| m != 2, |i| i.id == id(1));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].initial, got[0].essential),
            (initial(1), ess(1, 5, 50))
        );
        assert_eq!(s.len(), 1);
        s.apply(
            2,
            &wire(&[Record::Closed(Closed { id: id(2) })], b""),
            &auth(),
        );
        assert_eq!(s.len(), 0);
    }

    /// A handshake's replica (the state of a SYN-ACK) goes after a while
    /// unless the connection moved on; an established one stays.
    #[test]
    fn abandoned_handshakes_are_forgotten() {
        let mut s = Store::new(limits(10));
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
            &auth(),
        );
        let now = Instant::now();
        let after = Duration::from_secs(75);
        assert_eq!(s.forget_handshakes(now, after), 0);
        assert_eq!(s.forget_handshakes(now + after / 2, after), 0);
        assert_eq!(s.forget_handshakes(now + after * 2, after), 1);
        let left: Vec<u64> = conns(&s).iter().map(Keyed::key).collect();
        let mut want = [id(2), id(3)];
        want.sort_unstable();
        assert_eq!(left, want);
    }
}
