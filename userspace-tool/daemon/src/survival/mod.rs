//! TCP survival (patent Fig. 7), the daemon's part: the owner's daemon
//! coalesces the state records its kernel exports ([`replica::Coalescer`])
//! and sends them to every member; every member keeps the replicas
//! ([`replica::Store`]); when a member dies, the new owner of each of its
//! buckets restores its connections through the kernel's TCP repair
//! ([`restore`]) and hands each to the local application serving its port:
//! through its hand-off socket (`ipcluster_handoff`) when one is
//! configured, else onto the application's own listener (the kernel's
//! `tcp-adopt`); a connection neither takes is reset at once.

pub(crate) mod commit;
pub(crate) mod handoff;
pub(crate) mod link;
pub(crate) mod replica;
pub(crate) mod restore;
mod segment;
pub(crate) mod tickle;
pub(crate) mod trust;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::shared::buckets::UNOWNED;
use crate::shared::hash::FlowHash;
use crate::shared::proto::{MAX_BODY, MAX_CERT};
use crate::shared::tcpstate::{
    after, Closed, Data, Dir, Essential, Fins, Flags, Initial, Record, DATA_HEAD_LEN, DATA_MAX,
};
use tracing::{info, warn};

pub(crate) use crate::state::TcpStatus;
pub(crate) use replica::Limits;
use trust::Authority;

use crate::kapi::abi::{tcp_state as t, Cmd};
use crate::kapi::client::attr_in;
use crate::kapi::nfqueue::Segment;
use crate::kapi::tcp::records_with_bytes;
use crate::kapi::Client;
use handoff::Handoff;

/// Most record bytes per datagram on the cluster link: what a body holds
/// beside the largest certificate and the message's own fields. Every
/// datagram is a signature to make and one to check per member, and
/// output commit sends every byte of its connections: the fuller each
/// datagram, the fewer signatures.
const BATCH: usize = MAX_BODY - MAX_CERT - 64;
/// Most bytes per Data record on the cluster link.
const CHUNK: usize = BATCH - DATA_HEAD_LEN - 64;
/// How long the replicas of a dead member's connection stay once another
/// member has its bucket: long enough for that member to die too before
/// restoring it (its successor then needs them).
const FORGET_AFTER: Duration = Duration::from_secs(30);
/// How long the replica of a connection last heard of in its handshake
/// stays: a request socket lives 63 s at the default 5 SYN-ACK
/// retransmissions (`tcp_synack_retries`), after which the handshake can
/// no longer finish.
const HANDSHAKE_AFTER: Duration = Duration::from_secs(75);

/// Output commit's question to the kernel: connection, first sequence
/// number wanted → where the bytes start and the bytes (`tcp::unsent`).
pub(crate) type FetchUnsent = Box<dyn FnMut(&Initial, u32) -> Option<(u32, Vec<u8>)> + Send>;

/// Output commit's other question: a connection's records as now and its
/// bytes unacknowledged, as the export would carry them (`tcp::state`).
pub(crate) type FetchState = Box<dyn FnMut(&Initial) -> Option<Vec<u8>> + Send>;

/// Most connections whose lost records are asked of the kernel in one
/// tick: the held segments of others wait for a later one.
const REEXPORT_MAX: usize = 256;

/// Output commit: how to reset one of our connections, by its ends and
/// the newest state replicated (`sockdiag::destroy`, [`tickle::reset`]).
pub(crate) type Abort = Box<dyn FnMut(&tickle::Conn) -> std::io::Result<()> + Send>;

/// How to tell the kernel that these members are gone and their
/// connections here restored: the drains of buckets that came from them
/// end (table-set's `gone`).
pub(crate) type EndDrains = Box<dyn FnMut(&[u16]) + Send>;

/// How to make sure the clients of restored connections that were reset
/// take the reset ([`tickle`]), once the drains are over.
pub(crate) type Tickle = Box<dyn FnMut(Vec<tickle::Conn>) + Send>;

/// Adoption: how the kernel takes a restored connection onto its
/// application's own listener (`tcp::adopt`).
pub(crate) trait Adopt: Send {
    /// Readies `fd`, a socket just made for a restore, for adoption
    /// (`tcp::adopt_prepare`).
    fn prepare(&mut self, fd: BorrowedFd<'_>) -> Result<(), String>;
    /// Queues restored connection `fd`; an error says the kernel reset it.
    fn adopt(&mut self, fd: OwnedFd) -> Result<(), String>;
}

/// Where a restored connection went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// To its application's hand-off socket.
    HandedOff,
    /// Onto its application's own listener.
    Adopted,
    /// Nowhere: its application had closed it (our FIN queued), so the
    /// daemon closes it too; the kernel sends what is left, then the FIN.
    Finished,
    /// Nowhere: reset at once.
    Reset,
}

/// Most bytes asked for per state record (a socket's send buffer is
/// rarely more; what is missing restores without the queues' bytes).
const UNSENT_PER_STATE: u32 = 4 << 20;

/// Most bytes kept aside for connections whose Initial has not gone out
/// yet (see [`Survival::data`]).
const EARLY_BYTES: usize = 1 << 20;

/// Most record bytes the export reader gathers from the messages queued
/// at once before it hands them on.
const EXPORT_BATCH: usize = 256 << 10;

/// One member's TCP survival state.
pub(crate) struct Survival {
    coalescer: replica::Coalescer,
    store: replica::Store,
    /// Output commit, when the cluster has it.
    pub(crate) commit: Option<commit::Commit>,
    /// Bytes that came before their connection's Initial.
    early: HashMap<u64, Vec<(Data, Vec<u8>)>>,
    /// The last `TcpState` message number (async mode).
    seq: u64,
    pending: Vec<u8>,
    pending_since: Option<Instant>,
    /// Async mode: the newest state of each connection not yet sent (the
    /// kernel exports one per segment; the link carries one per flush).
    held: HashMap<u64, Essential>,
    handoff: Handoff,
    hash: FlowHash,
    bits: u32,
    status: TcpStatus,
    /// Replicated records ignored (see [`TcpStatus::ignored`]).
    pub(crate) ignored: u64,
    /// Output commit: where each connection's bytes sent to replicas end,
    /// and its addresses (for [`FetchUnsent`]).
    outs: HashMap<u64, (Initial, Option<u32>)>,
    fetch: Option<FetchUnsent>,
    fetch_state: Option<FetchState>,
    /// Output commit: the connections whose records were asked of the
    /// kernel lately, and when.
    asked: HashMap<u64, Instant>,
    /// Output commit: when the kernel's export last lost records.
    lost_export: Option<Instant>,
    abort: Option<Abort>,
    /// Adoption, when the kernel is there to ask ([`Survival::adopt_with`]).
    adopt: Option<Mutex<Box<dyn Adopt>>>,
    /// The table installed last ([`Survival::take_over`]).
    owners: Vec<u16>,
    /// The other members that owned buckets in a table installed here,
    /// and so may be what a bucket of ours drains from.
    owned: BTreeSet<u16>,
    end_drains: Option<EndDrains>,
    tickle: Option<Tickle>,
    /// What records are judged by (see [`trust`]).
    auth: Authority,
}

impl Survival {
    /// For a cluster at `addrs` hashing with `hash` into `1 << bits`
    /// buckets, handing restored connections of each port to its
    /// application's socket, its replicas within `limits`.
    pub(crate) fn new(
        (hash, bits, addrs): (FlowHash, u32, Vec<IpAddr>),
        handoff: Handoff,
        limits: Limits,
        commit: bool,
    ) -> Self {
        Survival {
            auth: Authority::new(hash, bits, addrs),
            coalescer: replica::Coalescer::new(limits.conns),
            store: replica::Store::new(limits),
            commit: commit.then(commit::Commit::default),
            early: HashMap::new(),
            seq: 0,
            pending: Vec::new(),
            pending_since: None,
            held: HashMap::new(),
            handoff,
            hash,
            bits,
            status: TcpStatus::default(),
            ignored: 0,
            outs: HashMap::new(),
            fetch: None,
            fetch_state: None,
            asked: HashMap::new(),
            lost_export: None,
            abort: None,
            adopt: None,
            owners: Vec::new(),
            owned: BTreeSet::new(),
            end_drains: None,
            tickle: None,
        }
    }

    /// How to queue a restored connection on its application's listener,
    /// for the ports with no hand-off socket.
    pub(crate) fn adopt_with(&mut self, f: Box<dyn Adopt>) {
        self.adopt = Some(Mutex::new(f));
    }

    /// Output commit: how to ask the kernel for bytes written but not
    /// sent, which a state record shows and no segment carried.
    pub(crate) fn fetch_unsent(&mut self, f: FetchUnsent) {
        self.fetch = Some(f);
    }

    /// The kernel's export lost records at `now` (its socket overflowed).
    pub(crate) fn export_lost(&mut self, now: Instant) {
        self.lost_export = Some(now);
    }

    /// Output commit: how to ask the kernel for a connection's records as
    /// now, when the export lost those a held segment waits for.
    pub(crate) fn fetch_state(&mut self, f: FetchState) {
        self.fetch_state = Some(f);
    }

    /// Output commit, for a while after the export lost records: the held
    /// segments whose state no record exported shows (see
    /// [`commit::UNEXPORTED_AFTER`]) have their connections' records asked
    /// of the kernel and replicated, as the export would have; those of
    /// connections the kernel no longer has, to drop. Without a loss, a
    /// segment's record is on its way, however late.
    pub(crate) fn unexported(&mut self, now: Instant) -> Vec<u32> {
        let (Some(c), Some(at)) = (self.commit.as_ref(), self.lost_export) else {
            return Vec::new();
        };
        if now.saturating_duration_since(at) > commit::HOLD_MAX {
            self.lost_export = None;
        }
        // A connection asked for lately is not asked again: its answer
        // may show nothing new (closing, or no room to track it).
        self.asked
            .retain(|_, at| now.saturating_duration_since(*at) < commit::RESEND_AFTER);
        let mut ask = c.unshown(now, shown(&self.coalescer));
        ask.retain(|i| !self.asked.contains_key(&i.id));
        let mut gone = HashSet::new();
        for i in ask.iter().take(REEXPORT_MAX) {
            self.asked.insert(i.id, now);
            match self.fetch_state.as_mut().and_then(|f| f(i)) {
                Some(b) => self.reexported(&b),
                None => _ = gone.insert(i.id),
            }
        }
        let Some(c) = self.commit.as_mut() else {
            return Vec::new();
        };
        // The others wait: for the records asked for (a Closed commits
        // and releases them too), for their turn, or HOLD_MAX at most.
        let exported = shown(&self.coalescer);
        c.unexported(now, |seg| !gone.contains(&seg.conn) || exported(seg))
    }

    /// Output commit: the kernel's answer `bytes` to a question about a
    /// connection whose records the export lost, replicated as if
    /// exported; counted `reexported` when it shows the connection's state.
    fn reexported(&mut self, bytes: &[u8]) {
        let all = records_with_bytes(bytes);
        if all.iter().any(|(r, _)| matches!(r, Record::Essential(_))) {
            self.status.reexported += 1;
        }
        self.apply(&all);
    }

    /// Output commit: how to abort a connection of ours.
    pub(crate) fn abort_with(&mut self, f: Abort) {
        self.abort = Some(f);
    }

    /// Output commit: resets our connections `ids`, which a member could
    /// not keep ([`commit::Commit::unkept`]), and ends their replicas on
    /// the members that kept them: a connection reset in its handshake
    /// ends without a word from the kernel.
    pub(crate) fn abort(&mut self, ids: &[u64]) {
        for &id in ids {
            let Some((i, _)) = self.outs.remove(&id) else {
                continue;
            };
            self.reset(&i, &self.coalescer.essential(id).unwrap_or_default());
            let end = Record::Closed(Closed { id });
            if self.coalescer.offer(end).is_some() {
                self.push(&end, &[]);
            }
            self.early.remove(&id);
        }
    }

    /// Resets connection `i`, whose newest state is `e`: there is no room
    /// to keep it for failover.
    fn reset(&mut self, i: &Initial, e: &Essential) {
        let Some(f) = self.abort.as_mut() else {
            return;
        };
        match f(&tickle::Conn::of(i, e)) {
            Ok(()) => info!(sport = i.sport, "reset: no room to keep the connection"),
            Err(err) => warn!(sport = i.sport, %err, "resetting a connection there is no room for"),
        }
    }

    /// How to end the drains of buckets that came from members that are
    /// gone, once their connections are restored here.
    pub(crate) fn end_drains_with(&mut self, f: EndDrains) {
        self.end_drains = Some(f);
    }

    /// How to tickle the clients of restored connections that were reset.
    pub(crate) fn tickle_with(&mut self, f: Tickle) {
        self.tickle = Some(f);
    }

    /// Records from the kernel: the changes go into the next datagram —
    /// a connection's Initial first, then the bytes its segment carried,
    /// then its state, so that a member holding the state holds the bytes.
    pub(crate) fn exported(&mut self, bytes: &[u8]) {
        let all = records_with_bytes(bytes);
        self.status.kernel_messages += 1;
        self.status.kernel_records += all.len() as u64;
        self.apply(&all);
    }

    /// Records from the kernel, `all`, in the order [`Survival::exported`]
    /// says.
    fn apply(&mut self, all: &[(Record, &[u8])]) {
        let rank = |r: &Record| match r {
            Record::Initial(_) => 0,
            Record::Data(_) => 1,
            _ => 2,
        };
        let mut untracked = Vec::new();
        for pass in 0..3 {
            for (r, payload) in all.iter().filter(|(r, _)| rank(r) == pass) {
                if let Record::Data(d) = r {
                    self.data(d, payload);
                    continue;
                }
                if let Record::Closed(c) = r {
                    self.early.remove(&c.id);
                    self.held.remove(&c.id);
                    self.outs.remove(&c.id);
                    if let Some(k) = self.commit.as_mut() {
                        k.ended(c.id);
                    }
                }
                let before = self.coalescer.untracked;
                let Some(r) = self.coalescer.offer(*r) else {
                    if let (Record::Initial(i), true) = (r, self.coalescer.untracked > before) {
                        untracked.push(*i);
                    }
                    continue;
                };
                match r {
                    Record::Essential(e) if self.commit.is_none() => {
                        self.held.insert(e.id, e);
                        self.pending_since.get_or_insert_with(Instant::now);
                    }
                    Record::Essential(e) => {
                        self.unsent(&e);
                        self.push(&r, &[]);
                    }
                    _ => self.push(&r, &[]),
                }
                if let Record::Initial(i) = r {
                    if self.commit.is_some() {
                        self.outs.insert(i.id, (i, None));
                    }
                    for (d, payload) in self.early.remove(&i.id).unwrap_or_default() {
                        self.data(&d, &payload);
                    }
                }
            }
        }
        self.untracked(&untracked, all);
    }

    /// Output commit: our connections `untracked` (Initials, with the
    /// kernel's records `all` they came in) could not be tracked for
    /// replication (`[tcp] max_conns` of ours are): their state would
    /// never commit and their segments never leave, so they are reset at
    /// once, as those a member has no room for.
    fn untracked(&mut self, untracked: &[Initial], all: &[(Record, &[u8])]) {
        for i in untracked {
            let Some(c) = self.commit.as_mut() else {
                return;
            };
            if c.unkept(&[i.id]).1.is_empty() {
                continue; // being reset already
            }
            let e = all.iter().rev().find_map(|(r, _)| match r {
                Record::Essential(e) if e.id == i.id => Some(*e),
                _ => None,
            });
            self.reset(i, &e.unwrap_or_default());
        }
    }

    /// Output commit: the bytes the application wrote that `e` shows and
    /// the replicas do not have yet (its socket had not sent them: no
    /// segment carried them), asked of the kernel, so that they go before
    /// `e`. Else a client could have the acknowledgement of a request
    /// whose answer no survivor has.
    fn unsent(&mut self, e: &Essential) {
        let Some((initial, end)) = self.outs.get_mut(&e.id) else {
            return;
        };
        // Our FIN, queued after the bytes, is no byte to ask for.
        let e = &e.without_fins();
        // A handshake's state (its SYN-ACK's) says where the bytes start:
        // a first segment whose export is lost leaves a gap `fill_gap`
        // sees. (Not a restored connection's: its first segment may be
        // the window probe, before the bytes it sends again.)
        if e.flags.has(Flags::HANDSHAKE) {
            end.get_or_insert(e.snd_nxt);
        }
        let (initial, from) = (*initial, end.unwrap_or(e.snd_nxt));
        // From where the bytes the replicas were sent stop: behind
        // `snd_nxt` when a segment's export was lost (see `fill_gap`).
        let stop = if after(e.written, from) > UNSENT_PER_STATE as i32 {
            from.wrapping_add(UNSENT_PER_STATE)
        } else {
            e.written
        };
        self.refetch(&initial, from, stop, e.snd_nxt);
    }

    /// Output commit: connection `initial`'s bytes out from `from` up to
    /// `stop`, asked of the kernel, go on to the replicas; those below
    /// `sent` left in segments whose export was lost (counted
    /// `refetched`), the rest the socket has not sent (`unsent`). When
    /// the socket's bytes start further on, the client acknowledged those
    /// before: no replica needs them.
    fn refetch(&mut self, initial: &Initial, mut from: u32, stop: u32, sent: u32) {
        while after(stop, from) > 0 {
            let Some((at, mut bytes)) = self.fetch.as_mut().and_then(|f| f(initial, from)) else {
                return;
            };
            if after(from, at) > 0 {
                return; // not an answer to what was asked
            }
            bytes.truncate(after(stop, at).max(0) as usize);
            if bytes.is_empty() {
                return; // the connection is gone, or nothing is left
            }
            let d = Data {
                id: initial.id,
                dir: Dir::Out,
                seq: at,
                len: bytes.len() as u32,
            };
            let below = after(sent, at).clamp(0, d.len as i32) as u64;
            self.status.refetched += below;
            self.status.unsent += u64::from(d.len) - below;
            self.data_after(&d, &bytes);
            from = at.wrapping_add(d.len);
        }
    }

    /// Bytes of a connection, in records that fit a datagram; kept aside
    /// (a little) while its Initial has not gone out. Output commit: bytes
    /// out that the replicas were sent already go no further.
    fn data(&mut self, d: &Data, payload: &[u8]) {
        if self.coalescer.offer(Record::Data(*d)).is_none() {
            // Connections that never show their state (closed before
            // their first segment out) leave entries behind: start over
            // when they pile up.
            let held: usize = self.early.values().flatten().map(|(_, p)| p.len()).sum();
            if held + payload.len() > EARLY_BYTES
                || self.early.len() >= 1024 && !self.early.contains_key(&d.id)
            {
                self.early.clear();
            }
            let v = self.early.entry(d.id).or_default();
            if v.len() < 64 {
                v.push((*d, payload.to_vec()));
            }
            return;
        }
        if d.dir == Dir::Out {
            self.fill_gap(d.id, d.seq);
        }
        self.data_after(d, payload);
    }

    /// Output commit: the bytes out from where those the replicas were
    /// sent stop up to `seq`, which no export brought (a record lost: the
    /// export socket overflowed, a message could not be made, a segment
    /// longer than DATA_MAX), asked of the kernel. Else a later state
    /// would commit, and its segments leave, with bytes the client may
    /// acknowledge that no survivor holds. The segments that carried them
    /// are still held, so the socket still has them; bytes it no longer
    /// has the client acknowledged, and no replica needs.
    fn fill_gap(&mut self, id: u64, seq: u32) {
        if let Some(&(initial, Some(from))) = self.outs.get(&id) {
            self.refetch(&initial, from, seq, seq);
        }
    }

    /// Bytes of a connection whose Initial went out, after those before
    /// them (output commit: only what the replicas were not sent yet).
    fn data_after(&mut self, d: &Data, payload: &[u8]) {
        let (d, payload) = match (d.dir, self.outs.get_mut(&d.id)) {
            (Dir::Out, Some((_, end))) => {
                let new_end = d.seq.wrapping_add(d.len);
                let skip = end.map_or(0, |x| after(x, d.seq).clamp(0, d.len as i32) as usize);
                if end.is_none_or(|x| after(new_end, x) > 0) {
                    *end = Some(new_end);
                }
                let d = Data {
                    seq: d.seq.wrapping_add(skip as u32),
                    len: d.len - skip as u32,
                    ..*d
                };
                (d, payload.get(skip..).unwrap_or_default())
            }
            _ => (*d, payload),
        };
        for (k, chunk) in payload.chunks(CHUNK).enumerate() {
            let part = Data {
                seq: d.seq.wrapping_add((k * CHUNK) as u32),
                len: chunk.len() as u32,
                ..d
            };
            self.push(&Record::Data(part), chunk);
        }
    }

    fn push(&mut self, r: &Record, payload: &[u8]) {
        let mut buf = [0u8; 64];
        if let Some(n) = r.encode(&mut buf) {
            self.status.sent_records += 1;
            self.status.sent_payload += payload.len() as u64;
            self.pending.extend_from_slice(&buf[..n]);
            self.pending.extend_from_slice(payload);
            self.pending_since.get_or_insert_with(Instant::now);
        }
    }

    /// Since when records wait to be sent (none wait: `None`).
    pub(crate) fn pending_since(&self) -> Option<Instant> {
        self.pending_since
    }

    /// The datagram bodies to send now (whole records, at most BATCH bytes
    /// each), numbered; in output-commit mode kept until a member holds
    /// them.
    pub(crate) fn take_batches(&mut self) -> Vec<(u64, Vec<u8>)> {
        for (_, e) in std::mem::take(&mut self.held) {
            self.push(&Record::Essential(e), &[]);
        }
        let mut out = Vec::new();
        let mut rest = &self.pending[..];
        while !rest.is_empty() {
            let mut n = 0;
            while let Ok((_, len)) = Record::decode(&rest[n..]) {
                if n + len > BATCH {
                    break;
                }
                n += len;
            }
            if n == 0 {
                break;
            }
            out.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        if let Some(t) = self.pending_since.take() {
            let lag = t.elapsed();
            self.status.lag_ms = lag.as_millis() as u64;
            self.status.lag.observe(lag);
        }
        self.status.sent_bytes += self.pending.len() as u64;
        self.pending.clear();
        let now = Instant::now();
        out.into_iter()
            .map(|b| match &mut self.commit {
                Some(c) => (c.seal(b.clone(), now), b),
                None => {
                    self.seq += 1;
                    (self.seq, b)
                }
            })
            .collect()
    }

    /// Records member `sender` replicated: whether all are done with
    /// (applied, refused for good, or of a connection the store had no
    /// room for), and those connections. Output commit acknowledges only
    /// then, since a record waiting for a newer table, or bytes not kept
    /// for want of room, are not held; and it says which connections are
    /// not held here.
    pub(crate) fn replicated(&mut self, sender: u16, bytes: &[u8]) -> replica::Applied {
        self.store.apply(sender, bytes, &self.auth)
    }

    /// The members and the table this host knows now: records judged by
    /// them from now on, and those that waited for a newer table tried
    /// again.
    pub(crate) fn view(&mut self, members: &[u16], owners: &[u16]) {
        let now = Instant::now();
        if self.auth.update(members, owners, now) {
            self.store.retry(&self.auth, now);
        }
    }

    /// After installing `owners` as member `me`: restores the connections
    /// of members that are gone (not `alive`) whose buckets are now ours,
    /// and forgets those another live member has had for a while
    /// ([`Survival::forget_stale`]). A bucket that comes to us from another
    /// live member (a rebalancing move after a death) brings none to
    /// restore: that member had it first and restored them, and a second
    /// copy here would answer the client with stale state. Their replicas
    /// stay until that member's own replaces them (its take-over record
    /// may come after the move), or it dies first, or they are forgotten.
    pub(crate) fn take_over(&mut self, me: u16, owners: &[u16], alive: impl Fn(u16) -> bool) {
        self.forget_stale(me, owners, &alive, Instant::now());
        let before = std::mem::replace(&mut self.owners, owners.to_vec());
        let (hash, bits) = (&self.hash, self.bits);
        let bucket = |i: &Initial| hash.bucket(&i.flow(), bits) as usize;
        let moved_from_live = |i: &Initial| {
            let b = bucket(i);
            let from = before
                .get(b)
                .copied()
                .filter(|&o| other_live(o, me, &alive));
            from.filter(|_| owners.get(b) == Some(&me))
        };
        let passed = self.store.pass_on(|o| o == me || alive(o), moved_from_live);
        if passed > 0 {
            info!(
                passed,
                "not restored here: their bucket came from a live member, which restored them"
            );
        }
        let reset = self.restore_orphans(me, owners, &alive);
        self.drains_end(me, owners, &alive);
        if let Some(f) = self.tickle.as_mut().filter(|_| !reset.is_empty()) {
            f(reset);
        }
    }

    /// Restores the connections of members that are gone (not `alive`)
    /// whose buckets are ours under `owners`; those reset.
    fn restore_orphans(
        &mut self,
        me: u16,
        owners: &[u16],
        alive: impl Fn(u16) -> bool,
    ) -> Vec<tickle::Conn> {
        let mut reset = Vec::new();
        let (hash, bits) = (&self.hash, self.bits);
        let bucket = |i: &Initial| hash.bucket(&i.flow(), bits) as usize;
        let mine = |i: &Initial| owners.get(bucket(i)) == Some(&me);
        for o in self.store.take_orphans(|o| o == me || alive(o), mine) {
            let i = o.initial;
            if let Err(why) = restore::admissible(&i, &self.auth, mine(&i)) {
                self.status.refused.restore(why);
                warn!(sport = i.sport, dport = i.dport, ?why, "not restored");
                continue;
            }
            match self.restore_one(&o) {
                Ok((whole, how)) => {
                    self.status.restored += 1;
                    self.status.restored_with_bytes += u64::from(whole);
                    *match how {
                        Delivery::HandedOff => &mut self.status.handed_off,
                        Delivery::Adopted => &mut self.status.adopted,
                        Delivery::Finished => &mut self.status.finished,
                        Delivery::Reset => &mut self.status.reset,
                    } += 1;
                    if how == Delivery::Reset {
                        reset.push(tickle::Conn::of(&i, &o.essential));
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    self.status.held += 1;
                    info!(
                        sport = i.sport,
                        dport = i.dport,
                        "not restored: held here already"
                    );
                }
                Err(err) => {
                    self.status.failed += 1;
                    warn!(sport = i.sport, dport = i.dport, %err, "restoring a connection");
                }
            }
        }
        reset
    }

    /// Once the connections of members that are gone are restored: ends
    /// the drains of buckets that came from them. A drain leaves a
    /// segment no local socket holds to its old owner; with that owner
    /// gone, a connection not restored (no replica, or reset) would hang
    /// at its client until the drain ended, since a reset sent from a
    /// replica a flush behind may carry a sequence number the client
    /// ignores. Without the drain the local stack answers its client's
    /// next segment with a reset it takes.
    fn drains_end(&mut self, me: u16, owners: &[u16], alive: impl Fn(u16) -> bool) {
        let others = owners.iter().copied().filter(|&o| o != me && o != UNOWNED);
        self.owned.extend(others);
        let gone: Vec<u16> = self.owned.iter().copied().filter(|&o| !alive(o)).collect();
        if gone.is_empty() {
            return;
        }
        self.owned.retain(|o| !gone.contains(o));
        info!(?gone, "members gone: their buckets' drains end");
        if let Some(f) = &mut self.end_drains {
            f(&gone);
        }
    }

    /// Forgets the replicas of members that are gone whose buckets another
    /// live member (not `me`) has held under `owners` for [`FORGET_AFTER`]
    /// (checked at each table install and every second), and those of
    /// handshakes not heard of for [`HANDSHAKE_AFTER`]: without this they
    /// stayed until the store filled.
    pub(crate) fn forget_stale(
        &mut self,
        me: u16,
        owners: &[u16],
        alive: impl Fn(u16) -> bool,
        now: Instant,
    ) {
        let (hash, bits) = (&self.hash, self.bits);
        let elsewhere = |i: &Initial| {
            let b = hash.bucket(&i.flow(), bits) as usize;
            owners.get(b).is_some_and(|&o| other_live(o, me, &alive))
        };
        let n = self
            .store
            .forget_taken(|o| o == me || alive(o), elsewhere, now, FORGET_AFTER);
        let m = self.store.forget_handshakes(now, HANDSHAKE_AFTER);
        self.status.forgotten += (n + m) as u64;
        self.store.retry(&self.auth, now);
    }

    /// Hands restored connection `fd` to the application serving `port`:
    /// through its hand-off socket when one is configured, else onto its
    /// own listener if it is `resumable` there (see `restore_one`); one
    /// that is not, or that no listener takes, is reset.
    fn deliver(&self, fd: OwnedFd, port: u16, resumable: bool) -> std::io::Result<Delivery> {
        if self.handoff.serves(port) {
            self.handoff.give(fd, port)?;
            return Ok(Delivery::HandedOff);
        }
        if !resumable {
            warn!(
                port,
                "reset a restored connection: it was in the middle of an exchange"
            );
            restore::reset(fd);
            return Ok(Delivery::Reset);
        }
        let Some(adopt) = &self.adopt else {
            restore::reset(fd);
            return Err(std::io::Error::other(format!(
                "no [tcp] handoff for port {port}, and no kernel to adopt it"
            )));
        };
        let mut adopt = adopt.lock().unwrap_or_else(PoisonError::into_inner);
        match adopt.adopt(fd) {
            Ok(()) => Ok(Delivery::Adopted),
            Err(err) => {
                warn!(port, %err, "reset a restored connection: not adopted");
                Ok(Delivery::Reset)
            }
        }
    }

    /// Restores one connection and hands it over; whether its queues'
    /// bytes came with it, and where it went.
    fn restore_one(&self, o: &replica::Orphan) -> std::io::Result<(bool, Delivery)> {
        let i = &o.initial;
        // Output commit replicates the bytes: restore with both queues or
        // with neither (a connection half restored would skip bytes). A
        // connection its application had closed goes to none: only its
        // bytes out matter (what it had received and not read, or not
        // answered, is not put back), and the daemon closes it once our
        // FIN is queued after them. Without them, when it had written
        // bytes it had not sent, a FIN would end the client's stream
        // early yet looking whole: it is reset instead, with no FIN.
        let mut e = o.essential;
        let finished = e.fins.has(Fins::OUT);
        let commit = self.commit.is_some();
        let unacked = o.unacked.as_deref().filter(|_| commit);
        let unread = o.unread.as_deref().filter(|_| commit && !finished);
        let (unacked, unread) = match (unacked, unread) {
            (Some(a), None) if finished => (Some(a), None),
            (Some(a), Some(b)) => (Some(a), Some(b)),
            _ => (None, None),
        };
        let cut = finished && unacked.is_none() && e.written != e.snd_nxt;
        if cut {
            e.fins = Fins(e.fins.0 & !Fins::OUT);
        }
        // A socket the application's listener may get is released from
        // this daemon's memory cgroup while fresh: accept() charges it to
        // the server's, which the kernel can do only for one charged to none.
        let adopter = self
            .adopt
            .as_ref()
            .filter(|_| !self.handoff.serves(i.dport));
        let mut prepare = |fd: BorrowedFd<'_>| match adopter {
            Some(a) => (a.lock().unwrap_or_else(PoisonError::into_inner))
                .prepare(fd)
                .map_err(std::io::Error::other),
            None => Ok(()),
        };
        let fd = restore::restore(i, &e, o.age, unacked, unread, &mut prepare)?;
        // An application's own listener gets a connection only if it can
        // carry it on: with its queues' bytes (a request it had read but
        // not answered is read again), or at rest.
        let resumable = unacked.is_some() || o.at_rest();
        let how = if cut {
            warn!(
                sport = i.sport,
                "reset a restored connection: closed, its last bytes lost"
            );
            restore::reset(fd);
            Delivery::Reset
        } else if finished {
            drop(fd);
            Delivery::Finished
        } else {
            self.deliver(fd, i.dport, resumable)?
        };
        info!(
            sport = i.sport,
            dport = i.dport,
            unacked = unacked.map(<[u8]>::len),
            unread = unread.map(<[u8]>::len),
            snd_una = e.snd_wl2,
            snd_nxt = e.snd_nxt,
            written = e.written,
            rcv_nxt = e.rcv_nxt,
            copied = e.copied,
            age_ms = o.age.as_millis() as u64,
            ?how,
            "restored a connection"
        );
        Ok((unacked.is_some(), how))
    }

    /// The numbers for `clusteradm status`.
    pub(crate) fn status(&self) -> TcpStatus {
        TcpStatus {
            exported: self.coalescer.len(),
            replicas: self.store.len(),
            replica_bytes: self.store.bytes,
            dropped: self.store.dropped,
            ignored: self.ignored,
            commit: self.commit.is_some(),
            waiting: self.commit.as_ref().map_or(0, commit::Commit::waiting),
            expired: self.commit.as_ref().map_or(0, |c| c.expired),
            resent: self.commit.as_ref().map_or(0, |c| c.resent),
            unkept: self.commit.as_ref().map_or(0, |c| c.unkept),
            waiting_bytes: self
                .commit
                .as_ref()
                .map_or(0, commit::Commit::waiting_bytes),
            commit_wait: self
                .commit
                .as_ref()
                .map(|c| c.waits.clone())
                .unwrap_or_default(),
            queued_bytes: self.store.queued(),
            refused: crate::state::TcpRefused {
                waiting: self.store.waiting() as u64,
                untracked: self.coalescer.untracked,
                restore_foreign_destination: self.status.refused.restore_foreign_destination,
                restore_bad_id: self.status.refused.restore_bad_id,
                restore_not_mine: self.status.refused.restore_not_mine,
                ..self.store.refused
            },
            handoff_failed: self.handoff.failed(),
            ..self.status.clone()
        }
    }
}

/// Whether bucket owner `o` is a live member other than `me`.
fn other_live(o: u16, me: u16, alive: impl Fn(u16) -> bool) -> bool {
    o != me && o != UNOWNED && alive(o)
}

/// Messages of the kernel's read together: their records back to back,
/// and where each message ends. Each is taken in on its own: a message's
/// records are ranked (an Initial before the bytes, the bytes before the
/// state) within it, never across messages.
#[derive(Debug, Default)]
pub(crate) struct Exports {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Messages before these were lost (the socket overflowed).
    pub(crate) lost: bool,
}

impl Exports {
    fn push(&mut self, records: &[u8]) {
        self.bytes.extend_from_slice(records);
        self.ends.push(self.bytes.len());
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty() && !self.lost
    }

    /// Each message's records, in the order the kernel sent them.
    pub(crate) fn messages(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let m = &self.bytes[start..end];
            start = end;
            m
        })
    }
}

/// Reads the kernel's exports of cluster `id` on a thread of its own (a
/// blocking netlink socket), handing them to `tx` in batches.
pub(crate) fn watch_kernel(
    id: u32,
    tx: tokio::sync::mpsc::UnboundedSender<Exports>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tcp-export".into())
        .spawn(move || {
            let mut nl = match Client::connect().and_then(|mut c| c.subscribe("tcp").map(|()| c)) {
                Ok(c) => c,
                Err(e) => {
                    warn!(%e, "TCP state export");
                    return;
                }
            };
            // A message carries at most DATA_MAX bytes and its records.
            let mut buf = vec![0u8; 2 * DATA_MAX as usize];
            let mut batch = Exports::default();
            let ours = id.to_ne_bytes();
            let mut lose = LoseExports::from_env();
            loop {
                // The first message waits; those queued behind it join
                // its batch: one hand-over to the link's thread (and one
                // wakeup of it) for all of them.
                let mut wait = true;
                while batch.bytes.len() < EXPORT_BATCH {
                    let read = nl.read_events(&mut buf, wait, |cmd, a| {
                        if cmd == Cmd::TcpStateNtf as u8
                            && attr_in(a, t::CLUSTER_ID) == Some(&ours[..])
                        {
                            let records = attr_in(a, t::RECORDS).unwrap_or_default();
                            if lose.as_mut().is_some_and(|l| l.loses(records)) {
                                batch.lost = true;
                            } else {
                                batch.push(records);
                            }
                        }
                    });
                    match read {
                        Ok(true) => wait = false,
                        Ok(false) => break,
                        // ENOBUFS: the kernel sent faster than we read,
                        // and records were lost. Output commit fetches
                        // the bytes they carried and lets the segments
                        // they showed go again (`Survival::unexported`).
                        Err(e) => {
                            warn!(%e, "TCP state export");
                            batch.lost = true;
                            break;
                        }
                    }
                }
                if !batch.is_empty() && tx.send(std::mem::take(&mut batch)).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Fault injection for the tests: with `IPCLUSTER_FAULT_LOSE_EXPORTS=N`
/// in its environment, the daemon drops every Nth message of its kernel's
/// that carries bytes out, as the export socket drops messages when it
/// overflows (`tests/tcp_commit.sh` shows that output commit holds on).
struct LoseExports {
    every: u64,
    seen: u64,
}

impl LoseExports {
    fn from_env() -> Option<Self> {
        let every = std::env::var("IPCLUSTER_FAULT_LOSE_EXPORTS")
            .ok()?
            .parse()
            .ok()
            .filter(|&n| n > 0)?;
        warn!(
            every,
            "fault injection: losing the kernel's exports of bytes out"
        );
        Some(LoseExports { every, seen: 0 })
    }

    /// Whether to lose this message (its `records`).
    fn loses(&mut self, records: &[u8]) -> bool {
        let out = records_with_bytes(records)
            .iter()
            .any(|(r, _)| matches!(r, Record::Data(d) if d.dir == Dir::Out && d.len > 0));
        self.seen += u64::from(out);
        out && self.seen % self.every == 0
    }
}

/// Whether the newest state exported of a held segment's connection
/// shows what the segment reveals.
fn shown(exported: &replica::Coalescer) -> impl Fn(&Segment) -> bool + '_ {
    |seg| {
        exported
            .essential(seg.conn)
            .is_some_and(|e| commit::Commit::shows(&e, seg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kapi::tcp::records;
    use crate::shared::hash::Mode;
    use crate::shared::tcpstate::{Closed, Essential};

    /// Connection `sport` to the cluster address, named by its 4-tuple.
    fn initial(sport: u16) -> Initial {
        let mut i = crate::shared::fixtures::initial(0, sport);
        i.id = crate::shared::tcpstate::conn_id(&i.src, &i.dst, i.sport, i.dport);
        i
    }

    /// A member of a cluster at 192.0.2.100 (1024 buckets) keeping at
    /// most `max` replicas, whose members 1, 2 and 3 know every bucket as
    /// member 2's.
    fn survival(max: usize, commit: bool) -> Survival {
        let limits = Limits {
            conns: max,
            conn_bytes: 1 << 20,
            bytes: 1 << 24,
        };
        let addrs = vec!["192.0.2.100".parse().unwrap()];
        let mut s = Survival::new(
            (FlowHash::new(Mode::Seed), 10, addrs),
            Handoff::none(),
            limits,
            commit,
        );
        s.view(&[1, 2, 3], &[2; 1024]);
        s
    }

    #[test]
    fn a_port_without_handoff_goes_to_its_listener_or_is_reset() {
        use std::net::TcpListener;
        let fd = || OwnedFd::from(TcpListener::bind("127.0.0.1:0").unwrap());
        let mut s = survival(100, false);
        // No kernel to ask: a failure, as before adoption existed.
        let err = s.deliver(fd(), 7000, true).unwrap_err();
        assert!(err.to_string().contains("no [tcp] handoff for port 7000"));
        // The kernel takes it, or refuses it (and has reset it).
        struct Answers(std::vec::IntoIter<Result<(), String>>);
        impl Adopt for Answers {
            fn prepare(&mut self, _: BorrowedFd<'_>) -> Result<(), String> {
                Ok(())
            }
            fn adopt(&mut self, _: OwnedFd) -> Result<(), String> {
                self.0.next().unwrap()
            }
        }
        let answers = vec![Ok(()), Err("no listener".to_string())].into_iter();
        s.adopt_with(Box::new(Answers(answers)));
        assert_eq!(s.deliver(fd(), 7000, true).unwrap(), Delivery::Adopted);
        assert_eq!(s.deliver(fd(), 7000, true).unwrap(), Delivery::Reset);
        // One in the middle of an exchange is not offered: reset here.
        assert_eq!(s.deliver(fd(), 7000, false).unwrap(), Delivery::Reset);
    }

    #[test]
    fn bytes_go_after_their_initial_and_before_the_state_in_chunks() {
        use crate::shared::tcpstate::{Dir, Essential};
        let mut s = survival(100, true);
        let enc = |r: Record, payload: &[u8]| {
            let mut buf = [0u8; 64];
            let n = r.encode(&mut buf).unwrap();
            [&buf[..n], payload].concat()
        };
        let big = vec![7u8; 3 * CHUNK + 5];
        let data = |seq, len| {
            Record::Data(Data {
                id: initial(9).id,
                dir: Dir::In,
                seq,
                len,
            })
        };
        // Bytes received before the connection sent anything: kept aside.
        s.exported(&enc(data(100, 3), b"abc"));
        assert!(s.take_batches().is_empty());
        // Its first segment out: Initial, Essential, and bytes out.
        let e = Essential {
            id: initial(9).id,
            gen: 1,
            ..Essential::default()
        };
        let kernel = [
            enc(Record::Initial(initial(9)), b""),
            enc(Record::Essential(e), b""),
            enc(
                Record::Data(Data {
                    dir: Dir::Out,
                    ..match data(5000, big.len() as u32) {
                        Record::Data(d) => d,
                        _ => unreachable!(),
                    }
                }),
                &big,
            ),
        ]
        .concat();
        s.exported(&kernel);
        let batches = s.take_batches();
        let kinds: Vec<(char, u32)> = batches
            .iter()
            .flat_map(|(_, b)| records(b))
            .map(|r| match r {
                Record::Initial(_) => ('i', 0),
                Record::Data(d) => ('d', d.seq),
                Record::Essential(_) => ('e', 0),
                Record::Closed(_) => ('c', 0),
            })
            .collect();
        let c = CHUNK as u32;
        assert_eq!(
            kinds,
            [
                ('i', 0),
                ('d', 100),
                ('d', 5000),
                ('d', 5000 + c),
                ('d', 5000 + 2 * c),
                ('d', 5000 + 3 * c),
                ('e', 0)
            ]
        );
        assert!(batches.iter().all(|(_, b)| b.len() <= BATCH));
        // A member holding them has the bytes, whole.
        let mut r = survival(100, true);
        for (_, b) in &batches {
            r.replicated(2, b);
        }
        assert_eq!(r.status().queued_bytes, 3 + big.len());
    }

    #[test]
    fn bytes_written_but_not_sent_are_asked_for_once_before_their_state() {
        use std::sync::{Arc, Mutex};
        let mut s = survival(100, true);
        // The kernel's socket: bytes 100..150 written, 100 the first the
        // client has not acknowledged.
        let written: Vec<u8> = (0..50).collect();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        s.fetch_unsent(Box::new(move |_, from| {
            log.lock().unwrap().push(from);
            let at = from.max(100);
            Some((at, written[(at - 100) as usize..].to_vec()))
        }));
        let enc = |r: Record, payload: &[u8]| {
            let mut buf = [0u8; 64];
            let n = r.encode(&mut buf).unwrap();
            [&buf[..n], payload].concat()
        };
        let out = |seq, len| {
            Record::Data(Data {
                id: initial(9).id,
                dir: Dir::Out,
                seq,
                len,
            })
        };
        let ess = |gen, snd_nxt, written| {
            Record::Essential(Essential {
                id: initial(9).id,
                gen,
                snd_nxt,
                written,
                ..Essential::default()
            })
        };
        let sent = |s: &mut Survival| -> Vec<(char, u32, u32)> {
            s.take_batches()
                .iter()
                .flat_map(|(_, b)| records(b))
                .map(|r| match r {
                    Record::Data(d) => ('d', d.seq, d.len),
                    Record::Essential(e) => ('e', e.snd_nxt, e.written),
                    _ => ('i', 0, 0),
                })
                .collect()
        };
        // A segment of 10 bytes out while 30 more wait (a full window);
        // the socket has 10 more the state does not show yet.
        let bytes: Vec<u8> = (0..10).collect();
        s.exported(
            &[
                enc(Record::Initial(initial(9)), b""),
                enc(out(100, 10), &bytes),
                enc(ess(1, 110, 140), b""),
            ]
            .concat(),
        );
        assert_eq!(
            sent(&mut s),
            [('i', 0, 0), ('d', 100, 10), ('d', 110, 30), ('e', 110, 140)]
        );
        // They leave: the replicas have them, nothing goes again.
        let bytes: Vec<u8> = (10..24).collect();
        s.exported(&[enc(out(110, 14), &bytes), enc(ess(2, 124, 140), b"")].concat());
        assert_eq!(sent(&mut s), [('e', 124, 140)]);
        // More written: only what is new is asked for.
        s.exported(&enc(ess(3, 124, 150), b""));
        assert_eq!(sent(&mut s), [('d', 140, 10), ('e', 124, 150)]);
        assert_eq!(*asked.lock().unwrap(), [110, 140]);
        assert_eq!(s.status().unsent, 40);
    }

    #[test]
    fn bytes_whose_export_was_lost_are_asked_for_before_what_follows_them() {
        use std::sync::{Arc, Mutex};
        let mut s = survival(100, true);
        // The kernel's socket: where the bytes the client has not
        // acknowledged start, and those bytes.
        let socket = Arc::new(Mutex::new((100u32, (0..30).collect::<Vec<u8>>())));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (log, sock) = (asked.clone(), socket.clone());
        s.fetch_unsent(Box::new(move |_, from| {
            log.lock().unwrap().push(from);
            let (una, bytes) = &*sock.lock().unwrap();
            let at = from.max(*una);
            Some((at, bytes[(at - una) as usize..].to_vec()))
        }));
        let enc = |r: Record, payload: &[u8]| {
            let mut buf = [0u8; 64];
            let n = r.encode(&mut buf).unwrap();
            [&buf[..n], payload].concat()
        };
        let id = initial(9).id;
        let out = |seq, len| {
            Record::Data(Data {
                id,
                dir: Dir::Out,
                seq,
                len,
            })
        };
        let ess = |gen, snd_nxt| {
            let written = snd_nxt;
            Record::Essential(Essential {
                id,
                gen,
                snd_nxt,
                written,
                ..Essential::default()
            })
        };
        let sent = |s: &mut Survival| -> Vec<(char, u32, u32)> {
            let b = s.take_batches();
            let all = b.iter().flat_map(|(_, b)| records(b));
            all.filter_map(|r| match r {
                Record::Data(d) => Some(('d', d.seq, d.len)),
                Record::Essential(e) => Some(('e', e.snd_nxt, 0)),
                _ => None,
            })
            .collect()
        };
        let bytes = |from: u8| (from..from + 10).collect::<Vec<u8>>();
        s.exported(
            &[
                enc(Record::Initial(initial(9)), b""),
                enc(out(100, 10), &bytes(0)),
                enc(ess(1, 110), b""),
            ]
            .concat(),
        );
        assert_eq!(sent(&mut s), [('d', 100, 10), ('e', 110, 0)]);
        // The export of bytes 110..120 was lost; the next segment's came.
        s.exported(&[enc(out(120, 10), &bytes(20)), enc(ess(2, 130), b"")].concat());
        assert_eq!(
            sent(&mut s),
            [('d', 110, 10), ('d', 120, 10), ('e', 130, 0)]
        );
        // The last segment's export was lost: its state shows it.
        socket.lock().unwrap().1.extend(bytes(30));
        s.exported(&enc(ess(3, 140), b""));
        assert_eq!(sent(&mut s), [('d', 130, 10), ('e', 140, 0)]);
        assert_eq!(*asked.lock().unwrap(), [110, 130]);
        // Bytes the socket no longer has (the client acknowledged them)
        // are asked for once and not sent.
        *socket.lock().unwrap() = (150, bytes(50));
        s.exported(&[enc(out(150, 10), &bytes(50)), enc(ess(4, 160), b"")].concat());
        assert_eq!(sent(&mut s), [('d', 150, 10), ('e', 160, 0)]);
        assert_eq!(*asked.lock().unwrap(), [110, 130, 140]);
        // A gap the client acknowledged part of: the rest is asked for.
        *socket.lock().unwrap() = (165, (65..85).collect());
        s.exported(&enc(out(175, 10), &bytes(75)));
        assert_eq!(sent(&mut s), [('d', 165, 10), ('d', 175, 10)]);
        assert_eq!(*asked.lock().unwrap(), [110, 130, 140, 160]);
        assert_eq!((s.status().refetched, s.status().unsent), (30, 0));
    }

    /// A held segment whose records the export lost has its connection's
    /// records asked of the kernel and waits for them to commit; one the
    /// kernel no longer knows is dropped.
    #[test]
    fn a_segment_whose_records_were_lost_waits_for_them_asked_of_the_kernel() {
        use crate::kapi::nfqueue::Segment;
        let mut s = survival(100, true);
        let t0 = Instant::now();
        s.commit.as_mut().unwrap().members(&[2], t0);
        let (known, gone) = (initial(9), initial(10));
        s.fetch_state(Box::new(move |i| {
            let mut buf = [0u8; 256];
            let e = Essential {
                id: i.id,
                snd_nxt: 110,
                rcv_nxt: 5,
                written: 110,
                ..Essential::default()
            };
            let d = Data {
                id: i.id,
                dir: Dir::Out,
                seq: 100,
                len: 10,
            };
            let mut n = Record::Initial(*i).encode(&mut buf)?;
            n += Record::Essential(e).encode(&mut buf[n..])?;
            n += Record::Data(d).encode(&mut buf[n..])?;
            (i.id == known.id).then(|| [&buf[..n], &[7u8; 10][..]].concat())
        }));
        let seg = |packet, flow: Initial| Segment {
            packet,
            conn: flow.id,
            end: 110,
            ack: Some(5),
            len: 62,
            flow,
        };
        let c = s.commit.as_mut().unwrap();
        assert_eq!(c.hold(seg(1, known), t0), None);
        assert_eq!(c.hold(seg(2, gone), t0), None);
        assert!(
            s.unexported(t0 + commit::HOLD_MAX).is_empty(),
            "no loss known"
        );
        s.export_lost(t0);
        assert!(s.unexported(t0).is_empty(), "too soon");
        assert_eq!(s.unexported(t0 + commit::UNEXPORTED_AFTER), [2]);
        assert_eq!(s.status().reexported, 1);
        // A connection asked for lately waits to be asked again.
        let c = s.commit.as_mut().unwrap();
        assert_eq!(c.hold(seg(3, gone), t0), None);
        let soon = t0 + commit::UNEXPORTED_AFTER + Duration::from_millis(1);
        assert!(s.unexported(soon).is_empty());
        let later = t0 + commit::UNEXPORTED_AFTER + commit::RESEND_AFTER;
        assert_eq!(s.unexported(later), [3]);
        let sent: Vec<Record> = s
            .take_batches()
            .iter()
            .flat_map(|(_, b)| records(b))
            .collect();
        assert!(matches!(
            sent[..],
            [Record::Initial(_), Record::Data(d), Record::Essential(e)]
                if d.seq == 100 && d.len == 10 && e.snd_nxt == 110
        ));
        assert_eq!(
            s.commit.as_ref().unwrap().waiting(),
            1,
            "held until it commits"
        );
    }

    /// The kernel says Closed twice for most connections (with the
    /// segment that shows the close, then when the socket leaves for
    /// TCP_CLOSE) and once for those the client reset: either way the
    /// owner forgets the connection, in both modes, and the link carries
    /// one Closed.
    #[test]
    fn a_closed_connection_leaves_nothing_behind_on_its_owner() {
        let enc = |r: Record| {
            let mut buf = [0u8; 64];
            let n = r.encode(&mut buf).unwrap();
            buf[..n].to_vec()
        };
        for commit in [false, true] {
            let mut s = survival(100, commit);
            if let Some(c) = &mut s.commit {
                c.members(&[2], Instant::now());
            }
            let id = initial(9).id;
            let e = Essential {
                id,
                gen: 1,
                ..Essential::default()
            };
            s.exported(&[enc(Record::Initial(initial(9))), enc(Record::Essential(e))].concat());
            for (seq, _) in s.take_batches() {
                if let Some(c) = &mut s.commit {
                    c.acked(2, seq, Instant::now());
                }
            }
            assert_eq!(s.status().exported, 1);
            assert_eq!(s.commit.as_ref().map_or(1, commit::Commit::tracked), 1);
            let closed = enc(Record::Closed(Closed { id }));
            s.exported(&closed);
            s.exported(&closed);
            let sent: Vec<Vec<Record>> = s
                .take_batches()
                .into_iter()
                .map(|(seq, b)| {
                    if let Some(c) = &mut s.commit {
                        c.acked(2, seq, Instant::now());
                    }
                    records(&b)
                })
                .collect();
            assert_eq!(sent, [vec![Record::Closed(Closed { id })]]);
            assert_eq!(s.status().exported, 0);
            assert!(s.held.is_empty() && s.outs.is_empty() && s.early.is_empty());
            assert_eq!(s.commit.as_ref().map_or(0, commit::Commit::tracked), 0);
        }
    }

    #[test]
    fn a_full_batch_fits_a_datagram_with_the_largest_certificate() {
        use crate::shared::proto::{self, Header, Msg};
        use crate::wire::MAX_DATAGRAM;
        let h = Header {
            sender: 1,
            cluster: 7,
            counter: 1,
        };
        let records = vec![0u8; BATCH];
        let msg = Msg::TcpState {
            seq: u64::MAX,
            records: &records,
        };
        let mut out = vec![0u8; MAX_DATAGRAM];
        let n = proto::encode(&h, &msg, &[1u8; MAX_CERT], &mut out).unwrap();
        let d = proto::decode(&out[..n]).unwrap();
        assert_eq!(d.msg, msg);
    }

    /// The batches member 2 sends of its 400 connections (an Initial and
    /// an Essential each), checked on the way out.
    fn batches_of_400() -> Vec<(u64, Vec<u8>)> {
        let mut s = survival(1000, false);
        let mut bytes = Vec::new();
        for p in 0..400u16 {
            let mut buf = [0u8; 64];
            let n = Record::Initial(initial(p)).encode(&mut buf).unwrap();
            bytes.extend_from_slice(&buf[..n]);
            let e = Essential {
                id: initial(p).id,
                gen: 1,
                ..Essential::default()
            };
            let n = Record::Essential(e).encode(&mut buf).unwrap();
            bytes.extend_from_slice(&buf[..n]);
        }
        // Nothing waits before the kernel's records come (the link sets
        // no timer then), and nothing once they went.
        assert_eq!(s.pending_since(), None);
        s.exported(&bytes);
        assert!(s.pending_since().is_some());
        let batches = s.take_batches();
        assert_eq!(s.pending_since(), None);
        assert!(s.take_batches().is_empty());
        batches
    }

    /// A member holding replicas of all of `batches`.
    fn replicas_of(batches: &[(u64, Vec<u8>)]) -> Survival {
        let mut r = survival(1000, false);
        for (_, b) in batches {
            r.replicated(2, b);
        }
        r
    }

    #[test]
    fn exports_are_batched_in_whole_records() {
        let batches = batches_of_400();
        assert!(batches.len() > 1);
        assert!(batches.iter().all(|(_, b)| b.len() <= BATCH));
        let seqs: Vec<u64> = batches.iter().map(|(k, _)| *k).collect();
        assert_eq!(seqs, (1..=batches.len() as u64).collect::<Vec<_>>());
        let n: usize = batches.iter().map(|(_, b)| records(b).len()).sum();
        assert_eq!(n, 800);
        // The receiving side: member 2's connections, restored by nobody
        // while 2 lives.
        let mut r = replicas_of(&batches);
        assert_eq!(r.status().replicas, 400);
        r.take_over(1, &[1; 1024], |m| m == 2);
        assert_eq!(r.status().restored + r.status().failed, 0);
        let mut buf = [0u8; 16];
        let n = Record::Closed(Closed { id: initial(0).id })
            .encode(&mut buf)
            .unwrap();
        r.replicated(2, &buf[..n]);
        assert_eq!(r.status().replicas, 399);
        // Member 2 dies and every bucket is ours: no handoff configured
        // for port 7000, so each one fails, and is counted.
        r.take_over(1, &[1; 1024], |m| m != 2);
        assert_eq!(r.status().failed, 399);
        assert_eq!(r.status().replicas, 0);
    }

    #[test]
    fn replicas_another_member_took_over_are_forgotten_after_a_while() {
        let batches = batches_of_400();
        // Member 2 dies and member 3 gets its buckets: member 1 keeps the
        // replicas for a while (3 might die too before restoring them),
        // then forgets them; if 3 dies within that while, 1 restores.
        let mut r = replicas_of(&batches);
        let t0 = Instant::now();
        r.forget_stale(1, &[3; 1024], |m| m != 2, t0);
        r.take_over(1, &[3; 1024], |m| m != 2);
        assert_eq!(r.status().replicas, 400);
        r.forget_stale(1, &[3; 1024], |m| m != 2, t0 + FORGET_AFTER / 2);
        assert_eq!(r.status().replicas, 400);
        r.take_over(1, &[1; 1024], |m| m == 1);
        assert_eq!(r.status().failed, 400);
        for (_, b) in &batches {
            r.replicated(2, b);
        }
        r.forget_stale(1, &[3; 1024], |m| m != 2, t0);
        r.forget_stale(1, &[3; 1024], |m| m != 2, t0 + FORGET_AFTER);
        assert_eq!(r.status().replicas, 0);
        assert_eq!(r.status().forgotten, 400);
        // While their owner lives, or nobody else has the bucket, nothing goes.
        for (_, b) in &batches {
            r.replicated(2, b);
        }
        let later = t0 + FORGET_AFTER * 4;
        r.forget_stale(1, &[3; 1024], |_| true, t0);
        r.forget_stale(1, &[3; 1024], |_| true, later);
        r.forget_stale(1, &[UNOWNED; 1024], |m| m != 2, t0);
        r.forget_stale(1, &[UNOWNED; 1024], |m| m != 2, later);
        assert_eq!(r.status().replicas, 400);
    }

    #[test]
    fn a_bucket_moved_from_a_live_member_brings_no_restore() {
        // Member 2 dies, 3 gets its buckets (and restores), then a
        // rebalancing move brings them here while 3 lives: 3 has them,
        // nothing is restored here a second time, however many tables
        // follow; the replicas stay a while, then go.
        let batches = batches_of_400();
        let mut r = replicas_of(&batches);
        let t0 = Instant::now();
        r.take_over(1, &[3; 1024], |m| m != 2);
        r.take_over(1, &[1; 1024], |m| m != 2);
        r.take_over(1, &[1; 1024], |m| m != 2);
        assert_eq!(r.status().restored + r.status().failed, 0);
        assert_eq!(r.status().replicas, 400);
        r.forget_stale(1, &[1; 1024], |m| m != 2, t0 + FORGET_AFTER * 2);
        r.forget_stale(1, &[1; 1024], |m| m != 2, t0 + FORGET_AFTER * 4);
        assert_eq!(r.status().replicas, 0);
        assert_eq!(r.status().forgotten, 400);
        // Had 3 died before it replicated them as its own, they would be
        // restored here: the last copy there is.
        let mut r = replicas_of(&batches);
        r.take_over(1, &[3; 1024], |m| m != 2);
        r.take_over(1, &[1; 1024], |m| m != 2);
        r.take_over(1, &[1; 1024], |m| m == 1);
        assert_eq!(r.status().failed, 400);
    }

    #[test]
    fn a_bucket_moved_in_the_table_that_tells_of_the_death_is_restored() {
        // 2's connections stay on 2 while their bucket, moved to 3, drains;
        // the table that tells of 2's death also moves the bucket on from
        // 3 to here. 3 never held it after the death, so never restored
        // them: this member does.
        let mut r = replicas_of(&batches_of_400());
        r.take_over(1, &[3; 1024], |_| true);
        r.take_over(1, &[1; 1024], |m| m != 2);
        assert_eq!(r.status().failed, 400);
        assert_eq!(r.status().replicas, 0);
    }

    #[test]
    fn drains_from_a_member_end_once_it_is_gone() {
        use std::sync::{Arc, Mutex};
        let told = Arc::new(Mutex::new(Vec::new()));
        let mut r = replicas_of(&batches_of_400());
        let t = Arc::clone(&told);
        r.end_drains_with(Box::new(move |g| t.lock().unwrap().push(g.to_vec())));
        let spread: Vec<u16> = (0..1024).map(|b| [1, 2, 3][b % 3]).collect();
        r.take_over(1, &spread, |_| true);
        r.take_over(1, &[1; 1024], |_| true);
        assert!(told.lock().unwrap().is_empty(), "nobody is gone");
        // 2 dies: its drains end after its connections are restored, once.
        r.take_over(1, &[1; 1024], |m| m != 2);
        r.take_over(1, &[1; 1024], |m| m != 2);
        assert_eq!(*told.lock().unwrap(), vec![vec![2]]);
        // 3 never owned a bucket since 2 went, but did before.
        r.take_over(1, &[1; 1024], |m| m == 1);
        assert_eq!(*told.lock().unwrap(), vec![vec![2], vec![3]]);
    }
}
