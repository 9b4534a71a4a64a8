//! The TCP state link: replication runs on a thread of its own, on a
//! socket of its own (the cluster link's group, the next port) with an
//! endpoint of its own, signing and checking like the membership's. The
//! membership (the daemon's thread) then never waits behind TCP state:
//! a keepalive is not queued behind a thousand state datagrams, nor is a
//! watchdog's turn taken by their signatures, so replication load cannot
//! make a busy member look dead.
//!
//! The membership tells this thread what it needs through [`Handle`]: the
//! members and table it knows (a [`View`], on every change), each table it
//! installs (restores follow), and a new trust; this thread publishes its
//! numbers for `clusteradm status`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls_pki_types::UnixTime;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::kapi::nfqueue::{Queue, Verdict};
use crate::shared::proto::{self, kind, Msg};

use super::{Exports, Survival, TcpStatus};
use crate::addr::{addr_of, ip_of, Addr};
use crate::cert::Trust;
use crate::membership::node::Node;
use crate::wire::{Endpoint, Payload, Rejected, Sent, MAX_DATAGRAM};

/// A message of the TCP state link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// TCP failover state records of the sender's connections.
    State {
        /// The sender's number for the message.
        seq: u64,
        /// The records.
        records: Vec<u8>,
    },
    /// The receiver holds the sender's `State` messages with these
    /// numbers (output commit), but not these connections of theirs: its
    /// store had no room for them.
    Ack {
        /// The messages' numbers.
        seqs: Vec<u64>,
        /// The connections not kept.
        unkept: Vec<u64>,
    },
}

/// `v` as the wire has it: u64s, big-endian, back to back.
fn u64s(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|s| s.to_be_bytes()).collect()
}

/// The u64s of `b` (a multiple of 8 bytes long, as decoding checked).
fn of_u64s(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

impl Payload for Message {
    const KINDS: &'static [u8] = &[kind::TCP_STATE, kind::TCP_ACK];

    fn with_wire<R>(
        &self,
        f: impl FnOnce(&Msg<'_>) -> Result<R, proto::Error>,
    ) -> Result<R, proto::Error> {
        match self {
            Message::State { seq, records } => f(&Msg::TcpState { seq: *seq, records }),
            Message::Ack { seqs, unkept } => f(&Msg::TcpAck {
                seqs: &u64s(seqs),
                unkept: &u64s(unkept),
            }),
        }
    }

    fn from_wire(msg: &Msg<'_>) -> Option<Self> {
        match *msg {
            Msg::TcpState { seq, records } => Some(Message::State {
                seq,
                records: records.to_vec(),
            }),
            Msg::TcpAck { seqs, unkept } => Some(Message::Ack {
                seqs: of_u64s(seqs),
                unkept: of_u64s(unkept),
            }),
            _ => None,
        }
    }
}

/// What the replication needs of the membership: this host's member id,
/// the members and the table, as this host last knew them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) me: Option<u16>,
    pub(crate) members: Vec<(u16, Addr)>,
    pub(crate) owners: Vec<u16>,
}

impl View {
    /// The node's view now.
    pub(crate) fn of(node: &Node) -> View {
        let k = node.known();
        View {
            me: node.member(),
            members: k.map(|k| k.members.clone()).unwrap_or_default(),
            owners: k.map(|k| k.owners.clone()).unwrap_or_default(),
        }
    }

    /// Whether the node's view is still this one (no allocation: asked
    /// on every turn of the membership's loop).
    fn is(&self, node: &Node) -> bool {
        let k = node.known();
        self.me == node.member()
            && self.members[..] == *k.map_or(&[][..], |k| &k.members[..])
            && self.owners[..] == *k.map_or(&[][..], |k| &k.owners[..])
    }

    /// Whether member `id` is in the cluster.
    pub(crate) fn knows(&self, id: u16) -> bool {
        self.members.iter().any(|&(m, _)| m == id)
    }

    /// Member `id`'s address.
    fn addr(&self, id: u16) -> Option<Addr> {
        self.members
            .iter()
            .find(|&&(m, _)| m == id)
            .map(|&(_, a)| a)
    }

    /// Whether `sender` at `from` is another member of the cluster.
    fn is_member(&self, from: Addr, sender: u16) -> bool {
        self.members.iter().any(|&(m, a)| m == sender && a == from) && Some(sender) != self.me
    }

    /// The other members' ids.
    fn others(&self) -> Vec<u16> {
        self.members
            .iter()
            .map(|&(m, _)| m)
            .filter(|&m| Some(m) != self.me)
            .collect()
    }
}

/// From the membership to the replication.
enum Told {
    /// This host installed a table: restore what it gives us.
    Installed {
        member: u16,
        owners: Vec<u16>,
        view: View,
    },
    /// The revocation list changed.
    Trust(Trust),
}

/// What the replication publishes for `clusteradm status`.
#[derive(Default)]
pub(crate) struct Numbers {
    pub(crate) tcp: TcpStatus,
    /// Datagrams the replication's endpoint ignored.
    pub(crate) rejected: Rejected,
}

/// The membership's end.
pub(crate) struct Handle {
    told: mpsc::UnboundedSender<Told>,
    view: watch::Sender<View>,
    numbers: Arc<Mutex<Numbers>>,
}

impl Handle {
    /// After each turn of the membership's loop: the view, if it changed.
    pub(crate) fn update(&self, node: &Node) {
        self.view.send_if_modified(|v| {
            if v.is(node) {
                return false;
            }
            *v = View::of(node);
            true
        });
    }

    /// This host installed `owners` as `member`. The view goes with it
    /// and into the watch unannounced: a table is one wakeup of the
    /// replication's thread, not two (under emulation a wakeup costs
    /// about a millisecond of CPU).
    pub(crate) fn installed(&self, member: u16, owners: Vec<u16>, node: &Node) {
        let view = View::of(node);
        self.view.send_if_modified(|v| {
            v.clone_from(&view);
            false
        });
        let _ = self.told.send(Told::Installed {
            member,
            owners,
            view,
        });
    }

    /// A new trust (revocation list).
    pub(crate) fn trust(&self, t: Trust) {
        let _ = self.told.send(Told::Trust(t));
    }

    /// The replication's numbers as last published (every second).
    pub(crate) fn numbers(&self) -> (TcpStatus, Rejected) {
        let n = self.numbers.lock().unwrap_or_else(|e| e.into_inner());
        (n.tcp.clone(), n.rejected)
    }
}

/// Starts the replication thread: TCP state for `survival` on `sock`
/// (group address `group`), signed by `endpoint`, records from the kernel
/// on `kernel`, segments to hold on `queue` (output commit); its timers
/// tick every `every`.
pub(crate) fn start(
    sock: std::net::UdpSocket,
    group: SocketAddr,
    endpoint: Endpoint<Message>,
    survival: Survival,
    kernel: mpsc::UnboundedReceiver<Exports>,
    queue: Option<Queue>,
    every: Duration,
) -> std::io::Result<Handle> {
    let (told_tx, told) = mpsc::unbounded_channel();
    let (view_tx, view) = watch::channel(View::default());
    let numbers = Arc::new(Mutex::new(Numbers::default()));
    let published = numbers.clone();
    std::thread::Builder::new()
        .name("tcp-state".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return warn!(%e, "TCP state link: runtime"),
            };
            rt.block_on(async move {
                let sock = tokio::net::UdpSocket::from_std(sock)?;
                let queue = match queue {
                    // SAFETY: the queue owns its descriptor (an OwnedFd,
                    // never replaced) and returns that one from as_raw_fd
                    // while it lives.
                    Some(q) => Some(unsafe { AsyncFd::register(q).map_err(|e| e.into_parts().1)? }),
                    None => None,
                };
                Link {
                    sock,
                    group,
                    endpoint,
                    s: survival,
                    view: View::default(),
                    kernel,
                    queue,
                    qbuf: vec![0; 1 << 16],
                    acks: Default::default(),
                    outbox: Vec::new(),
                    numbers: published,
                }
                .run(told, view, every)
                .await;
                Ok::<(), std::io::Error>(())
            })
            .unwrap_or_else(|e| warn!(%e, "TCP state link"));
        })?;
    Ok(Handle {
        told: told_tx,
        view: view_tx,
        numbers,
    })
}

/// Sleeps until `t` (for ever without it).
async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Waits until the queue has segments to read (for ever without one).
async fn queued(q: &Option<AsyncFd<Queue>>) {
    match q {
        Some(q) => {
            if let Ok(mut g) = q.readable().await {
                g.clear_ready();
            }
        }
        None => std::future::pending().await,
    }
}

struct Link {
    sock: tokio::net::UdpSocket,
    group: SocketAddr,
    endpoint: Endpoint<Message>,
    s: Survival,
    view: View,
    /// The kernel's TCP state records.
    kernel: mpsc::UnboundedReceiver<Exports>,
    /// Output commit: the queue holding our connections' segments.
    queue: Option<AsyncFd<Queue>>,
    /// The queue's receive buffer, allocated and zeroed once rather than
    /// at each read: the queue wakes the thread every few segments, and
    /// zeroing 64 KiB each time costs the segments' owner CPU.
    qbuf: Vec<u8>,
    /// Acknowledgements to send at the end of this turn of the loop: the
    /// messages, and the connections of theirs not kept.
    acks: std::collections::HashMap<Addr, (Vec<u64>, Vec<u64>)>,
    /// Datagrams the endpoint made (Hello answers, messages a new session
    /// released) that wait for the end of this turn.
    outbox: Vec<Sent>,
    numbers: Arc<Mutex<Numbers>>,
}

impl Link {
    async fn run(
        mut self,
        mut told: mpsc::UnboundedReceiver<Told>,
        mut view: watch::Receiver<View>,
        every: Duration,
    ) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut tick = tokio::time::interval(every);
        let mut slow = tokio::time::interval(Duration::from_secs(1));
        let mut ticked = false;
        loop {
            self.flush(std::mem::take(&mut ticked)).await;
            // Async mode sends what waits `every` after the first of it
            // came, and has no timer while nothing does: a member that
            // only keeps others' replicas does not wake for one (each
            // wakeup is about a millisecond of CPU under emulation).
            // Output commit ticks for its resends and held segments.
            let flush_at = match self.s.commit {
                None => self.s.pending_since().map(|t| t + every),
                Some(_) => None,
            };
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        self.datagram(&buf[..n], from);
                        // And what queued behind it (a bounded number),
                        // in the same turn: one acknowledgement each
                        // for all of them.
                        for _ in 0..63 {
                            let Ok((n, from)) = self.sock.try_recv_from(&mut buf) else {
                                break;
                            };
                            self.datagram(&buf[..n], from);
                        }
                    }
                    Err(e) => warn!(%e, "TCP state link receive"),
                },
                _ = tick.tick(), if self.s.commit.is_some() => {
                    self.commit_tick().await;
                    ticked = true;
                }
                () = sleep_until(flush_at), if flush_at.is_some() => ticked = true,
                _ = queued(&self.queue) => self.segments(),
                Some(records) = self.kernel.recv() => self.exported(&records),
                t = told.recv() => match t {
                    // (With the members of that table; ours becomes the
                    // watch's, the newest, which this table did not
                    // announce.)
                    Some(Told::Installed { member, owners, view: v }) => {
                        self.set_view(view.borrow_and_update().clone());
                        self.s.take_over(member, &owners, |id| v.knows(id));
                    }
                    Some(Told::Trust(t)) => self.endpoint.set_trust(t),
                    None => break, // the membership stopped
                },
                r = view.changed() => match r {
                    Ok(()) => self.set_view(view.borrow_and_update().clone()),
                    Err(_) => break,
                },
                // Once a second (`status` is written as often).
                _ = slow.tick() => {
                    self.forget_stale();
                    let mut n = self.numbers.lock().unwrap_or_else(|e| e.into_inner());
                    n.tcp = self.s.status();
                    n.rejected = self.endpoint.rejected;
                }
            }
        }
    }

    /// The membership's newest view: replicas are judged by its members
    /// and table from now on.
    fn set_view(&mut self, v: View) {
        let members: Vec<u16> = v.members.iter().map(|&(m, _)| m).collect();
        self.s.view(&members, &v.owners);
        self.view = v;
    }

    /// One datagram: TCP state or acknowledgements of ours.
    fn datagram(&mut self, d: &[u8], from: SocketAddr) {
        let from_addr = addr_of(from.ip());
        let r = self
            .endpoint
            .open(d, from, UnixTime::now(), &mut self.outbox);
        match r {
            Ok(Some((sender, Message::State { seq, records }))) => {
                self.replicated(from_addr, sender, seq, &records);
            }
            Ok(Some((sender, Message::Ack { seqs, unkept }))) => {
                self.acked(from_addr, sender, &seqs, &unkept);
            }
            Ok(None) => {}
            Err(why) => debug!(%from, ?why, "ignored a datagram"),
        }
    }

    /// Sends `msg` to member address `to`, or to every other member: all
    /// TCP state travels sealed, one copy per member.
    async fn send(&mut self, to: Option<Addr>, msg: Message) {
        let Some(me) = self.view.me else {
            return; // no member id to send under yet
        };
        let to: Vec<Addr> = match to {
            Some(a) => vec![a],
            None => self
                .view
                .members
                .iter()
                .filter(|&&(m, _)| m != me)
                .map(|&(_, a)| a)
                .collect(),
        };
        for a in to {
            let dst = SocketAddr::new(ip_of(&a), self.group.port());
            if let Err(e) = self.endpoint.seal(me, dst, &msg, &mut self.outbox) {
                warn!(?e, "cannot encode a message");
            }
        }
        self.send_out().await;
    }

    /// What the endpoint left to send.
    async fn send_out(&mut self) {
        for s in std::mem::take(&mut self.outbox) {
            if let Err(e) = self.sock.send_to(&s.d, s.to).await {
                debug!(%e, to = %s.to, "TCP state link send");
            }
        }
    }

    /// TCP state records from the kernel: coalesced into the batches
    /// `flush` sends (at the end of this turn with output commit, of the
    /// next tick's turn in async mode).
    fn exported(&mut self, first: &Exports) {
        self.exports(first);
        while let Ok(more) = self.kernel.try_recv() {
            self.exports(&more);
        }
    }

    fn exports(&mut self, e: &Exports) {
        e.messages().for_each(|m| self.s.exported(m));
        if e.lost {
            self.s.export_lost(Instant::now());
        }
    }

    /// TCP state records member `sender` at `from` replicated: kept if it
    /// is a member of our cluster at that address (each record as far as
    /// `survival::trust` allows), and acknowledged in output-commit mode.
    fn replicated(&mut self, from: Addr, sender: u16, seq: u64, records: &[u8]) {
        if !self.view.is_member(from, sender) {
            self.s.ignored += 1;
            return;
        }
        let applied = self.s.replicated(sender, records);
        if self.s.commit.is_some() && applied.done {
            // Acknowledged once this turn of the loop is over, together;
            // records that wait for a newer table, or bytes a full store
            // did not keep, are not held: the sender sends them again. A
            // connection the store had no room for is named.
            let (seqs, unkept) = self.acks.entry(from).or_default();
            seqs.push(seq);
            unkept.extend(applied.unkept);
        }
    }

    /// What this turn of the loop left to send: our kernel's records, the
    /// acknowledgements of others' (one datagram each per turn, however
    /// many segments came: under load, turns grow and datagrams do not).
    async fn flush(&mut self, ticked: bool) {
        self.endpoint.poll(&mut self.outbox);
        self.send_out().await;
        for (to, (seqs, unkept)) in std::mem::take(&mut self.acks) {
            self.send(Some(to), Message::Ack { seqs, unkept }).await;
        }
        if self.view.me.is_none() {
            return;
        }
        // Async mode sends each connection's newest state `[tcp]
        // flush_ms` (50 ms by default) after the first change waited: one
        // signed datagram however many segments went meanwhile. Output
        // commit sends at once: segments wait for it.
        if self.s.commit.is_none() && !ticked {
            return;
        }
        for (seq, records) in self.s.take_batches() {
            self.send(None, Message::State { seq, records }).await;
        }
    }

    /// Member `sender` at `from` holds our messages `seqs` but not our
    /// connections `unkept`: the segments that waited for them leave;
    /// those connections are aborted, their segments dropped.
    fn acked(&mut self, from: Addr, sender: u16, seqs: &[u64], unkept: &[u64]) {
        if !self.view.is_member(from, sender) {
            return;
        }
        let Some(c) = self.s.commit.as_mut() else {
            return;
        };
        let now = Instant::now();
        let (drop, abort) = c.unkept(unkept);
        let go: Vec<u32> = seqs.iter().flat_map(|&k| c.acked(sender, k, now)).collect();
        self.verdicts(&drop, Verdict::Drop);
        self.s.abort(&abort);
        self.verdicts(&go, Verdict::Accept);
    }

    /// Output commit, each tick: the members that can hold our state now,
    /// messages nobody acknowledged sent again, segments held too long or
    /// whose record the export lost dropped.
    async fn commit_tick(&mut self) {
        let others = self.view.others();
        let Some(c) = self.s.commit.as_mut() else {
            return;
        };
        let now = Instant::now();
        let go = c.members(&others, now);
        let (again, old) = c.due(now);
        self.verdicts(&go, Verdict::Accept);
        self.verdicts(&old, Verdict::Drop);
        let unexported = self.s.unexported(now);
        self.verdicts(&unexported, Verdict::Drop);
        for r in again {
            // To the group when every other member lacks it, else to each
            // that does: those that hold it need not check it again.
            let to: Vec<Option<Addr>> = if r.to.len() >= others.len() {
                vec![None]
            } else {
                r.to.iter()
                    .filter_map(|&m| self.view.addr(m))
                    .map(Some)
                    .collect()
            };
            for a in to {
                let msg = Message::State {
                    seq: r.seq,
                    records: r.body.clone(),
                };
                self.send(a, msg).await;
            }
        }
    }

    /// Segments the kernel queued: each leaves at once if a member already
    /// holds what it reveals, else waits.
    fn segments(&mut self) {
        let Some(q) = &self.queue else {
            return;
        };
        let buf = &mut self.qbuf;
        let mut go = Vec::new();
        loop {
            let got = match q.get_ref().recv(buf) {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    warn!(%e, "netfilter queue");
                    break;
                }
            };
            // When they were read, as `Survival::unexported` needs it.
            let now = Instant::now();
            for g in got {
                match (g, self.s.commit.as_mut()) {
                    (Ok(seg), Some(c)) => go.extend(c.hold(seg, now)),
                    (Ok(seg), None) => go.push(seg.packet),
                    (Err(id), _) => go.push(id), // not a TCP segment: not ours to hold
                }
            }
        }
        self.verdicts(&go, Verdict::Accept);
    }

    fn verdicts(&mut self, ids: &[u32], v: Verdict) {
        let Some(q) = &mut self.queue else {
            return;
        };
        for &id in ids {
            if let Err(e) = q.get_mut().verdict(id, v) {
                warn!(%e, id, "netfilter queue verdict");
            }
        }
    }

    /// Forgets the replicas of dead members' connections that another
    /// member has taken over and of abandoned handshakes (see
    /// `Survival::forget_stale`), with the table and members this host
    /// last knew.
    fn forget_stale(&mut self) {
        let Some(me) = self.view.me else {
            return;
        };
        if !self.view.owners.is_empty() {
            let v = &self.view;
            self.s
                .forget_stale(me, &v.owners, |id| v.knows(id), Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::node::Settings;

    #[test]
    fn a_view_follows_its_node_and_knows_the_other_members() {
        let me = [1u8; 16];
        let (node, _) = Node::new(Settings::new(8), me, Duration::ZERO);
        let v = View::of(&node);
        assert!(v.is(&node));
        assert_eq!(v, View::default()); // not joined yet: nothing known
        let v = View {
            me: Some(1),
            members: vec![(1, me), (2, [2; 16]), (3, [3; 16])],
            owners: vec![1, 2, 3, 1],
        };
        assert!(!v.is(&node));
        assert_eq!(v.others(), [2, 3]);
        assert!(v.knows(3) && !v.knows(4));
        assert!(v.is_member([2; 16], 2));
        assert!(!v.is_member([3; 16], 2), "member 2 is not at 3's address");
        assert!(!v.is_member(me, 1), "we are no other member");
    }
}
