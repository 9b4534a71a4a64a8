//! The membership protocol (patent Figs. 6, 8A–8H) as a state machine with
//! no I/O and no clock of its own: the daemon (or a simulation) feeds it
//! the time, the messages that passed authentication, and the per-bucket
//! load, and carries out what it returns.
//!
//! A host starts by asking to join. With no answer it offers to become
//! master and, with no objection within `offer_wait`, becomes master: it
//! owns every bucket, announces the cluster MAC and sends keepalives with
//! the member list, the adaptive interval and the bucket table. Members
//! answer with numbered keepalives; the master estimates each member's loss
//! from the gaps and picks the interval (how many keepalives may go missing
//! before a watchdog fires) as the least n ≥ 2 with n·Pⁿ < 1/3600. A dead
//! member's buckets go to the least loaded survivors; every
//! `rebalance_every` one bucket moves from the most to the least loaded
//! member when that narrows the gap. When the master dies, the surviving
//! member with the lowest address offers at once and, as master, keeps the
//! table it last heard: only the dead master's buckets move.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::shared::buckets::{self, UNOWNED};
use crate::shared::election::{self, Claim};
use crate::shared::keepalive::{self, Loss};
use crate::shared::packet::addr_words;
use crate::shared::proto::{Exit, Nak};

use crate::addr::Addr;

/// The protocol's knobs.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Configuration version; a member with another is told to leave.
    pub(crate) config: u32,
    /// Buckets in the table.
    pub(crate) buckets: usize,
    /// Keepalive period, both ways.
    pub(crate) period: Duration,
    /// How long a join request waits for an answer before it is repeated
    /// (twice) and then turned into an offer.
    pub(crate) join_wait: Duration,
    /// How long an offer waits for objections (the patent's 100 ms).
    pub(crate) offer_wait: Duration,
    /// How often the master considers moving one bucket (the patent's 2 s).
    pub(crate) rebalance_every: Duration,
    /// Whether applications approve each new member ([`Out::Approve`]).
    pub(crate) approve: bool,
    /// The least interval (keepalives that may go missing) whatever the
    /// loss: 2 (the patent's least) unless a link known to stall asks
    /// for more.
    pub(crate) min_interval: u32,
    /// Members a master must count (itself included) to serve any bucket;
    /// 0 or 1: no quorum.
    pub(crate) quorum: usize,
    /// The member id this host's certificate names, if any: the one it
    /// takes as master.
    pub(crate) member_id: Option<u16>,
}

impl Settings {
    /// The defaults for a cluster of `buckets` buckets.
    pub(crate) fn new(buckets: usize) -> Self {
        Settings {
            config: 1,
            buckets,
            period: Duration::from_millis(50),
            join_wait: Duration::from_millis(150),
            offer_wait: Duration::from_millis(100),
            rebalance_every: Duration::from_secs(2),
            approve: false,
            min_interval: keepalive::MIN_INTERVAL,
            quorum: 0,
            member_id: None,
        }
    }

    /// The interval for a peer with loss estimate `loss`.
    fn interval(&self, loss: &Loss) -> u32 {
        loss.interval()
            .clamp(self.min_interval, keepalive::MAX_INTERVAL)
    }
}

/// A protocol message, as the node sees it (the wire layer signs, checks
/// and encodes; see `crate::shared::proto`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// A host asks to join; `refused` is the wire layer's verdict on its
    /// certificate (None: valid, listed, not revoked).
    Join {
        /// Why the certificate does not admit the host, if it does not.
        refused: Option<Nak>,
        /// The member id its certificate names, if any: the one it must
        /// be given.
        member: Option<u16>,
        /// The joiner's configuration version.
        config: u32,
    },
    /// The master admits the sender of a join.
    Welcome {
        /// The joiner's member id.
        member: u16,
        /// The configuration version.
        config: u32,
    },
    /// The master refuses a join.
    Refuse(Nak),
    /// The sender offers to become master.
    Offer {
        /// Members it would bring.
        members: u16,
    },
    /// The sender objects to an offer: it is master, or a better candidate.
    Object {
        /// Members of its cluster.
        members: u16,
    },
    /// The master's keepalive.
    MasterAlive(Keepalive),
    /// A member's keepalive.
    MemberAlive {
        /// One more than the previous.
        seq: u32,
        /// The table version the member has installed.
        table: u32,
        /// The member's configuration version.
        config: u32,
    },
    /// Leave the cluster.
    Leave(Exit),
}

/// What a master keepalive carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keepalive {
    /// Configuration version.
    pub(crate) config: u32,
    /// Keepalive period.
    pub(crate) period: Duration,
    /// Keepalives that may go missing before death is declared.
    pub(crate) misses: u8,
    /// Table version.
    pub(crate) version: u32,
    /// The members, the master first.
    pub(crate) members: Vec<(u16, Addr)>,
    /// The owner of each bucket.
    pub(crate) owners: Vec<u16>,
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum To {
    /// Every host on the cluster link.
    All,
    /// One host.
    One(Addr),
}

/// Something the node wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Out {
    /// Send a message.
    Send(To, Message),
    /// Install this table in the kernel, as member `member`.
    Install {
        /// The local member id.
        member: u16,
        /// The owner of each bucket.
        owners: Vec<u16>,
    },
    /// Announce the cluster MAC (gratuitous ARP, unsolicited NA).
    Announce,
    /// Ask the applications whether the host at this address may join;
    /// answer with [`Node::decide`]. Until then its joins are told
    /// "operation in progress".
    Approve(Addr),
    /// Tell the operator and the applications.
    Event(Event),
}

/// What happened, for logs and application hooks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// This host became master.
    BecameMaster,
    /// This host stopped being master (another one won).
    SteppedDown,
    /// This host joined, as member `member`, the master at `master`.
    Joined {
        /// The local member id.
        member: u16,
        /// The master.
        master: Addr,
    },
    /// The master admitted member `0` at `1`.
    MemberUp(u16, Addr),
    /// The master declared member `0` dead.
    MemberDown(u16),
    /// The master went silent.
    LostMaster,
    /// As master: the members heard now make a quorum (true), or no
    /// longer do, and no bucket is served (false).
    Quorum(bool),
    /// The master refused this host.
    Refused(Nak),
    /// The master told this host to leave.
    Told(Exit),
    /// This host stopped for good: its configuration version is stale (or
    /// the cluster's is newer than ours as master). The daemon exits.
    Stopped,
}

/// A member as the master keeps it.
#[derive(Clone, Debug)]
struct Peer {
    addr: Addr,
    heard: Duration,
    loss: Loss,
    /// The table version it last acknowledged.
    acked: u32,
    /// Whether it has been heard by this master: members inherited from
    /// the last master's table count towards a quorum only once heard.
    confirmed: bool,
}

#[derive(Clone, Debug)]
struct MasterState {
    peers: BTreeMap<u16, Peer>,
    /// The ids of members declared dead, by address: one that comes back
    /// gets its old id (if still free), and new hosts get other ids.
    retired: BTreeMap<Addr, u16>,
    owners: Vec<u16>,
    /// The table version in which each bucket got its current owner.
    assigned_in: Vec<u32>,
    /// Buckets on their way from one live member to another: published
    /// as owned by nobody until the old owner has installed that table
    /// (acknowledged `released_in`), and only then as the new owner's.
    /// Handed over in one step, the new owner could take a SYN that the
    /// old one, not having installed the table yet, answers too: the
    /// client then gets two SYN-ACKs, acknowledges one, and the other
    /// member resets the connection. A SYN in between is dropped and sent
    /// again by the client. `owners` holds the new owner throughout.
    moving: BTreeMap<usize, Release>,
    version: u32,
    misses: u8,
    next_alive: Duration,
    next_rebalance: Duration,
    /// The applications' decisions on joining hosts, while they matter.
    decisions: BTreeMap<Addr, Decision>,
    /// Whether the members this master has heard make a quorum (always,
    /// without one): only then does it give buckets to anyone.
    quorate: bool,
    /// Until when a new master without a quorum waits for the members it
    /// inherited: meanwhile it publishes the table it inherited as it
    /// was, neither taking buckets nor dropping them; after, nothing.
    waiting_until: Duration,
}

/// A bucket's old owner, and the table version that took the bucket from it.
#[derive(Clone, Copy, Debug)]
struct Release {
    /// UNOWNED when the old owner is not known (a new master's inherited
    /// table said nobody's: it may have been on its way): then every
    /// member must have let go.
    from: u16,
    released_in: u32,
}

impl MasterState {
    /// The table as the kernels are to hold it: `owners`, but with the
    /// buckets still on their way owned by nobody.
    fn published(&self) -> Vec<u16> {
        if !self.quorate && self.waiting_until == Duration::ZERO {
            return vec![UNOWNED; self.owners.len()];
        }
        let mut t = self.owners.clone();
        for &b in self.moving.keys() {
            t[b] = UNOWNED;
        }
        t
    }

    /// The live members: the master `me` first, then the peers.
    fn live(&self, me: u16) -> Vec<u16> {
        std::iter::once(me)
            .chain(self.peers.keys().copied())
            .collect()
    }

    /// Whether the master and the members it has heard make `quorum`.
    fn has_quorum(&self, quorum: usize) -> bool {
        1 + self.peers.values().filter(|p| p.confirmed).count() >= quorum
    }

    /// Follows the quorum as members are heard and die, and ends the wait
    /// for inherited members; whether the table must change.
    fn count_quorum(&mut self, s: &Settings, now: Duration, out: &mut Vec<Out>) -> bool {
        let q = self.has_quorum(s.quorum);
        let waited = self.waiting_until != Duration::ZERO && (q || now >= self.waiting_until);
        if waited {
            self.waiting_until = Duration::ZERO;
        }
        if q == self.quorate {
            return waited;
        }
        self.quorate = q;
        out.push(Out::Event(Event::Quorum(q)));
        true
    }

    /// Watchdogs: the members silent for their interval's worth of
    /// keepalives (plus half a period for the next one to be late).
    fn dead(&self, s: &Settings, now: Duration) -> Vec<u16> {
        self.peers
            .iter()
            .filter(|(_, p)| {
                now.saturating_sub(p.heard)
                    > keepalive::silence_limit(s.period, s.interval(&p.loss))
            })
            .map(|(&id, _)| id)
            .collect()
    }

    /// Gives the buckets whose old owner has let go (installed the table
    /// without them; the master's own install was carried out before this
    /// tick; a dead member holds nothing) to their new owner; whether any
    /// did.
    fn hand_over_released(&mut self, me: u16) -> bool {
        let released: Vec<usize> = self
            .moving
            .iter()
            .filter(|(_, r)| {
                let let_go = |p: &Peer| p.acked >= r.released_in;
                match r.from {
                    UNOWNED => self.peers.values().all(let_go),
                    from => from == me || self.peers.get(&from).is_none_or(let_go),
                }
            })
            .map(|(&b, _)| b)
            .collect();
        for &b in &released {
            self.moving.remove(&b);
            self.assigned_in[b] = self.version.wrapping_add(1);
        }
        !released.is_empty()
    }

    /// Member `id` is dead: its id is kept for its address, its buckets go.
    fn retire(&mut self, id: u16) {
        if let Some(p) = self.peers.remove(&id) {
            self.retired.insert(p.addr, id);
        }
        buckets::release(&mut self.owners, id);
    }

    /// Moves one bucket from the most to the least loaded member when
    /// that narrows the gap; whether one moved. Members take part once
    /// they have installed a table; the move rides on the next periodic
    /// keepalive.
    fn rebalance(&mut self, me: u16, weights: &[u64]) -> bool {
        let ready: Vec<u16> = self
            .live(me)
            .into_iter()
            .filter(|id| *id == me || self.peers.get(id).is_some_and(|p| p.acked != 0))
            .collect();
        let Some(mv) = buckets::rebalance_step(&self.owners, weights, &ready) else {
            return false;
        };
        self.owners[mv.bucket] = mv.to;
        // (A bucket moved again on its way still waits for the member
        // that had it first.)
        self.moving.entry(mv.bucket).or_insert(Release {
            from: mv.from,
            released_in: self.version.wrapping_add(1),
        });
        true
    }

    /// Where the applications stand on the host at `from` joining: the
    /// refusal to answer it with until they approved it (`None` once they
    /// have). The first join asks them ([`Out::Approve`]).
    fn approval(&mut self, from: Addr, out: &mut Vec<Out>) -> Option<Nak> {
        match self.decisions.get(&from).copied() {
            None => {
                self.decisions.insert(from, Decision::Asked);
                out.push(Out::Approve(from));
                Some(Nak::InProgress)
            }
            Some(Decision::Asked) => Some(Nak::InProgress),
            Some(Decision::Vetoed) => {
                // Asked again on its next try (after its hold).
                self.decisions.remove(&from);
                Some(Nak::Vetoed)
            }
            Some(Decision::Approved) => {
                self.decisions.remove(&from);
                None
            }
        }
    }

    /// Whether member id `id` is a live member's at another address
    /// than `from`.
    fn taken(&self, id: u16, from: Addr) -> bool {
        self.peers.get(&id).is_some_and(|p| p.addr != from)
    }

    /// The member id for the host at `from`: the one it has, else the one
    /// it had before it was declared dead (if still free and not the
    /// master's, `me`), else a free one; UNOWNED if none is left.
    fn id_for(&self, from: Addr, me: Option<u16>) -> u16 {
        match self.peers.iter().find(|(_, p)| p.addr == from) {
            Some((&id, _)) => id,
            None => match self.retired.get(&from) {
                Some(&id) if !self.peers.contains_key(&id) && Some(id) != me => id,
                _ => first_free(&self.peers, &self.retired, me),
            },
        }
    }

    /// A new table version: the buckets nobody owns go to the least loaded
    /// live members, and each bucket whose owner changed records this
    /// version.
    fn reassign(&mut self, me: u16, weights: &[u64]) {
        let live = self.live(me);
        let before = self.owners.clone();
        if self.quorate {
            buckets::assign_unowned(&mut self.owners, weights, &live);
        }
        self.version = self.version.wrapping_add(1);
        for (b, (old, new)) in before.iter().zip(&self.owners).enumerate() {
            if old != new {
                self.assigned_in[b] = self.version;
            }
        }
    }
}

/// Where the applications are with a joining host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Asked,
    Approved,
    Vetoed,
}

#[derive(Clone, Debug)]
enum Role {
    Joining {
        since: Duration,
        tries: u32,
        /// Not before (after a refusal).
        hold: Duration,
    },
    Offering {
        since: Duration,
    },
    Member {
        master: Addr,
        heard: Duration,
        deadline: Duration,
        seq: u32,
        next_alive: Duration,
    },
    Master(MasterState),
    /// Stopped for good (a stale configuration).
    Stopped,
}

/// One host's side of the protocol.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    s: Settings,
    me: Addr,
    role: Role,
    /// This host's member id, once it has one.
    member: Option<u16>,
    /// The cluster as last heard from a master (or kept as master).
    known: Option<Keepalive>,
    /// The table version installed in the kernel.
    installed: u32,
    /// Per-bucket load, for assignment and rebalancing.
    weights: Vec<u64>,
}

/// Longest a refused host waits before asking again.
const REFUSED_HOLD: Duration = Duration::from_secs(1);

impl Node {
    /// A host at `me` that starts by asking to join, at `now`.
    pub(crate) fn new(s: Settings, me: Addr, now: Duration) -> (Node, Vec<Out>) {
        let weights = vec![0; s.buckets];
        let config = s.config;
        let node = Node {
            s,
            me,
            role: Role::Joining {
                since: now,
                tries: 1,
                hold: now,
            },
            member: None,
            known: None,
            installed: 0,
            weights,
        };
        (
            node,
            vec![Out::Send(
                To::All,
                Message::Join {
                    refused: None,
                    member: None,
                    config,
                },
            )],
        )
    }

    /// Whether this host is master.
    pub(crate) fn is_master(&self) -> bool {
        matches!(self.role, Role::Master(_))
    }

    /// This host's member id.
    pub(crate) fn member(&self) -> Option<u16> {
        self.member
    }

    /// The master's address, as far as this host knows.
    pub(crate) fn master(&self) -> Option<Addr> {
        match &self.role {
            Role::Master(_) => Some(self.me),
            Role::Member { master, .. } => Some(*master),
            _ => None,
        }
    }

    /// The cluster as this host last knew it.
    pub(crate) fn known(&self) -> Option<&Keepalive> {
        self.known.as_ref()
    }

    /// The master's view: for each bucket, whether its owner has
    /// acknowledged the table that gave it the bucket (assignments count
    /// only once acknowledged). None on a non-master.
    pub(crate) fn served(&self) -> Option<Vec<bool>> {
        let Role::Master(m) = &self.role else {
            return None;
        };
        Some(
            m.published()
                .iter()
                .zip(&m.assigned_in)
                .map(|(&o, &v)| {
                    o != UNOWNED
                        && (Some(o) == self.member || m.peers.get(&o).is_some_and(|p| p.acked >= v))
                })
                .collect(),
        )
    }

    /// The loss estimate and interval of each member (master only).
    pub(crate) fn peer_loss(&self) -> Vec<(u16, u64, u32)> {
        match &self.role {
            Role::Master(m) => m
                .peers
                .iter()
                .map(|(&id, p)| (id, p.loss.p(), self.s.interval(&p.loss)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The master's view: the table version each member last acknowledged.
    pub(crate) fn acks(&self) -> Vec<(u16, u32)> {
        match &self.role {
            Role::Master(m) => m.peers.iter().map(|(&id, p)| (id, p.acked)).collect(),
            _ => Vec::new(),
        }
    }

    /// New per-bucket load (e.g. packets per rebalancing period).
    pub(crate) fn set_weights(&mut self, w: &[u64]) {
        if w.len() == self.weights.len() {
            self.weights.copy_from_slice(w);
        }
    }

    /// This host was not running for `gap` (the process or the machine
    /// was paused) until `now`: silence during the pause proves nothing
    /// about the peers, so the watchdogs start again from where they were.
    /// A peer that died meanwhile is found out `gap` later.
    pub(crate) fn paused(&mut self, now: Duration, gap: Duration) {
        let forgive = |heard: &mut Duration| *heard = (*heard + gap).min(now);
        match &mut self.role {
            Role::Member { heard, .. } => forgive(heard),
            Role::Master(m) => m.peers.values_mut().for_each(|p| forgive(&mut p.heard)),
            Role::Joining { .. } | Role::Offering { .. } | Role::Stopped => (),
        }
    }

    /// Time passes.
    pub(crate) fn tick(&mut self, now: Duration) -> Vec<Out> {
        let mut out = Vec::new();
        match &mut self.role {
            Role::Joining { since, tries, hold } => {
                if now >= *hold && now.saturating_sub(*since) >= self.s.join_wait {
                    if *tries < 2 {
                        *since = now;
                        *tries += 1;
                        out.push(Out::Send(
                            To::All,
                            Message::Join {
                                refused: None,
                                member: None,
                                config: self.s.config,
                            },
                        ));
                    } else {
                        self.offer(now, &mut out);
                    }
                }
            }
            Role::Offering { since } => {
                if now.saturating_sub(*since) >= self.s.offer_wait {
                    self.become_master(now, &mut out);
                }
            }
            Role::Member {
                master,
                heard,
                deadline,
                seq,
                next_alive,
            } => {
                if now.saturating_sub(*heard) > *deadline {
                    let old = *master;
                    out.push(Out::Event(Event::LostMaster));
                    self.lost_master(now, old, &mut out);
                } else if now >= *next_alive {
                    *seq = seq.wrapping_add(1);
                    *next_alive = now + self.s.period;
                    out.push(Out::Send(
                        To::One(*master),
                        Message::MemberAlive {
                            seq: *seq,
                            table: self.installed,
                            config: self.s.config,
                        },
                    ));
                }
            }
            Role::Master(_) => self.master_tick(now, &mut out),
            Role::Stopped => (),
        }
        out
    }

    /// A message that passed authentication arrived from `from`.
    pub(crate) fn receive(
        &mut self,
        now: Duration,
        from: Addr,
        sender: u16,
        msg: Message,
    ) -> Vec<Out> {
        let mut out = Vec::new();
        if from == self.me {
            return out; // our own broadcast, looped back
        }
        match &self.role {
            Role::Master(_) => self.master_receive(now, from, sender, msg, &mut out),
            Role::Member { .. } => self.member_receive(now, from, msg, &mut out),
            Role::Joining { .. } => self.joining_receive(now, from, msg, &mut out),
            Role::Offering { .. } => self.offering_receive(now, from, msg, &mut out),
            Role::Stopped => (),
        }
        out
    }

    /// As a member: the master's keepalives and its word to leave; a new
    /// master's keepalives once ours is silent.
    fn member_receive(&mut self, now: Duration, from: Addr, msg: Message, out: &mut Vec<Out>) {
        let Role::Member {
            master,
            heard,
            deadline,
            ..
        } = &mut self.role
        else {
            return;
        };
        match msg {
            Message::MasterAlive(k) if from == *master => {
                *heard = now;
                *deadline = keepalive::silence_limit(self.s.period, u32::from(k.misses));
                self.adopt(k, out);
            }
            Message::MasterAlive(k)
                if now.saturating_sub(*heard) > self.s.period * 2
                    && k.members
                        .iter()
                        .any(|&(id, a)| Some(id) == self.member && a == self.me) =>
            {
                // Our master is silent and a new one already counts us
                // in (it took over the last table): follow it.
                *master = from;
                *heard = now;
                *deadline = keepalive::silence_limit(self.s.period, u32::from(k.misses));
                let member = self.member.unwrap_or(UNOWNED);
                out.push(Out::Event(Event::Joined {
                    member,
                    master: from,
                }));
                self.adopt(k, out);
            }
            Message::Leave(why) if from == *master => {
                out.push(Out::Event(Event::Told(why)));
                if why == Exit::StaleConfig {
                    self.stop(out);
                } else {
                    self.join(now, out);
                }
            }
            _ => (),
        }
    }

    /// While asking to join: a welcome, a refusal, or signs of a master.
    fn joining_receive(&mut self, now: Duration, from: Addr, msg: Message, out: &mut Vec<Out>) {
        let Role::Joining { since, tries, hold } = &mut self.role else {
            return;
        };
        match msg {
            Message::Welcome { member, .. } => {
                self.welcomed(now, from, member, out);
            }
            Message::Refuse(Nak::InProgress) => {
                *since = now;
                *tries = 0;
            }
            Message::Leave(Exit::StaleConfig) => {
                out.push(Out::Event(Event::Told(Exit::StaleConfig)));
                self.stop(out);
            }
            Message::Refuse(why) => {
                *hold = now + REFUSED_HOLD;
                *since = now;
                *tries = 0;
                out.push(Out::Event(Event::Refused(why)));
            }
            Message::Object { .. } | Message::MasterAlive(_) => {
                // Someone is (becoming) master: keep asking (every
                // join_wait), and do not offer while it is heard.
                *tries = 0;
            }
            _ => (),
        }
    }

    /// While offering to become master: a welcome, an objection, a master,
    /// or a rival offer (the election decides).
    fn offering_receive(&mut self, now: Duration, from: Addr, msg: Message, out: &mut Vec<Out>) {
        match msg {
            Message::Welcome { member, .. } => self.welcomed(now, from, member, out),
            Message::Object { .. } | Message::MasterAlive(_) => self.join(now, out),
            Message::Offer { members } => {
                let theirs = Claim {
                    members: u32::from(members),
                    addr: addr_words(&from),
                };
                if election::compare(&self.claim(1), &theirs) == Ordering::Less {
                    self.join(now, out);
                } else {
                    out.push(Out::Send(To::One(from), Message::Object { members: 1 }));
                }
            }
            _ => (),
        }
    }

    /// The applications' answer on the host at `addr` ([`Out::Approve`]):
    /// its next join is welcomed or refused as vetoed.
    pub(crate) fn decide(&mut self, addr: Addr, approved: bool) {
        if let Role::Master(m) = &mut self.role {
            if let Some(d) = m.decisions.get_mut(&addr) {
                *d = if approved {
                    Decision::Approved
                } else {
                    Decision::Vetoed
                };
            }
        }
    }

    /// Stops for good: this host's configuration is stale.
    fn stop(&mut self, out: &mut Vec<Out>) {
        self.role = Role::Stopped;
        out.push(Out::Event(Event::Stopped));
    }

    fn claim(&self, members: u32) -> Claim {
        Claim {
            members,
            addr: addr_words(&self.me),
        }
    }

    fn join(&mut self, now: Duration, out: &mut Vec<Out>) {
        if self.is_master() {
            out.push(Out::Event(Event::SteppedDown));
        }
        self.role = Role::Joining {
            since: now,
            tries: 1,
            hold: now,
        };
        out.push(Out::Send(
            To::All,
            Message::Join {
                refused: None,
                member: None,
                config: self.s.config,
            },
        ));
    }

    fn offer(&mut self, now: Duration, out: &mut Vec<Out>) {
        self.role = Role::Offering { since: now };
        out.push(Out::Send(To::All, Message::Offer { members: 1 }));
    }

    fn welcomed(&mut self, now: Duration, from: Addr, member: u16, out: &mut Vec<Out>) {
        self.member = Some(member);
        self.role = Role::Member {
            master: from,
            heard: now,
            deadline: keepalive::silence_limit(self.s.period, 3),
            seq: 0,
            next_alive: now,
        };
        out.push(Out::Event(Event::Joined {
            member,
            master: from,
        }));
        out.extend(self.tick(now));
    }

    /// The master went silent: the lowest address among the members left
    /// offers at once, the others ask to join (and will follow the new
    /// master's keepalives as soon as they hear them).
    fn lost_master(&mut self, now: Duration, old: Addr, out: &mut Vec<Out>) {
        let best = self.known.as_ref().is_none_or(|k| {
            k.members
                .iter()
                .filter(|&&(_, a)| a != old)
                .all(|&(_, a)| a >= self.me)
        });
        if best {
            self.offer(now, out);
        } else {
            self.join(now, out);
        }
    }

    /// Takes a master keepalive's table.
    fn adopt(&mut self, k: Keepalive, out: &mut Vec<Out>) {
        if k.version != self.installed || self.known.is_none() {
            self.installed = k.version;
            out.push(Out::Install {
                member: self.member.unwrap_or(UNOWNED),
                owners: k.owners.clone(),
            });
        }
        self.known = Some(k);
    }

    fn become_master(&mut self, now: Duration, out: &mut Vec<Out>) {
        let n = self.s.buckets;
        // Keep the last table heard, and the members it names (but the old
        // master): they have a grace period to show up.
        let (mut owners, mut peers, version, inherited) = match self.known.take() {
            Some(k) if k.owners.len() == n => {
                let old_master = k.members.first().map(|m| m.0);
                let grace = now + self.s.join_wait * 2;
                let peers: BTreeMap<u16, Peer> = k
                    .members
                    .iter()
                    .filter(|&&(id, a)| a != self.me && Some(id) != old_master)
                    .map(|&(id, addr)| {
                        (
                            id,
                            Peer {
                                addr,
                                heard: grace,
                                loss: Loss::new(),
                                acked: k.version,
                                confirmed: false,
                            },
                        )
                    })
                    .collect();
                (k.owners, peers, k.version, true)
            }
            _ => (vec![UNOWNED; n], BTreeMap::new(), self.installed, false),
        };
        let me = match (self.s.member_id, self.member) {
            (Some(m), _) => m,
            (None, Some(m)) if !peers.contains_key(&m) => m,
            _ => first_free(&peers, &BTreeMap::new(), None),
        };
        peers.remove(&me);
        self.member = Some(me);
        let version = version.wrapping_add(1);
        // A bucket the last table gave nobody may have been on its way
        // between two members, the old one not yet let go: it goes out
        // once every member has installed a table without it.
        let release = Release {
            from: UNOWNED,
            released_in: version,
        };
        let moving = (0..n)
            .filter(|&b| inherited && owners[b] == UNOWNED)
            .map(|b| (b, release))
            .collect();
        let live: Vec<u16> = std::iter::once(me).chain(peers.keys().copied()).collect();
        let quorate = self.s.quorum <= 1;
        if quorate {
            buckets::assign_unowned(&mut owners, &self.weights, &live);
        } else {
            out.push(Out::Event(Event::Quorum(false)));
        }
        let waiting_until = match inherited && !quorate {
            true => now + self.s.join_wait * 2,
            false => Duration::ZERO,
        };
        self.role = Role::Master(MasterState {
            peers,
            retired: BTreeMap::new(),
            assigned_in: vec![version; n],
            moving,
            owners,
            version,
            misses: self.s.min_interval as u8,
            next_alive: now,
            next_rebalance: now + self.s.rebalance_every,
            decisions: BTreeMap::new(),
            quorate,
            waiting_until,
        });
        out.push(Out::Event(Event::BecameMaster));
        out.push(Out::Announce);
        self.master_changed(now, out);
    }

    /// After the master's table or member list changed: install it here
    /// and tell everyone now.
    fn master_changed(&mut self, now: Duration, out: &mut Vec<Out>) {
        let Role::Master(m) = &mut self.role else {
            return;
        };
        m.next_alive = now;
        self.installed = m.version;
        out.push(Out::Install {
            member: self.member.unwrap_or(UNOWNED),
            owners: m.published(),
        });
        self.master_tick(now, out);
    }

    fn keepalive(s: &Settings, me: u16, addr: Addr, m: &MasterState) -> Keepalive {
        Keepalive {
            config: s.config,
            period: s.period,
            misses: m.misses,
            version: m.version,
            members: std::iter::once((me, addr))
                .chain(m.peers.iter().map(|(&id, p)| (id, p.addr)))
                .collect(),
            owners: m.published(),
        }
    }

    fn master_tick(&mut self, now: Duration, out: &mut Vec<Out>) {
        let me = self.member.unwrap_or(UNOWNED);
        let Role::Master(m) = &mut self.role else {
            return;
        };
        let dead = m.dead(&self.s, now);
        let mut changed = m.hand_over_released(me);
        for &id in &dead {
            m.retire(id);
            out.push(Out::Event(Event::MemberDown(id)));
            changed = true;
        }
        changed |= m.count_quorum(&self.s, now, out);
        if now >= m.next_rebalance {
            m.next_rebalance = now + self.s.rebalance_every;
            changed |= m.quorate && m.rebalance(me, &self.weights);
        }
        if changed {
            m.reassign(me, &self.weights);
            if !dead.is_empty() {
                m.next_alive = now; // the dead member's buckets: tell everyone now
            }
            self.installed = m.version;
            out.push(Out::Install {
                member: me,
                owners: m.published(),
            });
        }
        m.misses = m
            .peers
            .values()
            .map(|p| self.s.interval(&p.loss))
            .max()
            .unwrap_or(self.s.min_interval) as u8;
        if now >= m.next_alive {
            m.next_alive = now + self.s.period;
            let k = Self::keepalive(&self.s, me, self.me, m);
            self.known = Some(k.clone());
            out.push(Out::Send(To::All, Message::MasterAlive(k)));
        }
    }

    fn master_receive(
        &mut self,
        now: Duration,
        from: Addr,
        sender: u16,
        msg: Message,
        out: &mut Vec<Out>,
    ) {
        let Role::Master(m) = &mut self.role else {
            return;
        };
        let mine = m.peers.len() as u32 + 1;
        match msg {
            Message::Join {
                refused: Some(why), ..
            } => {
                out.push(Out::Send(To::One(from), Message::Refuse(why)));
            }
            Message::Join { config, .. } if config < self.s.config => {
                out.push(Out::Send(To::One(from), Message::Leave(Exit::StaleConfig)));
            }
            Message::Join { config, .. } | Message::MemberAlive { config, .. }
                if config > self.s.config =>
            {
                // The cluster moved on to a newer configuration: this
                // master is the stale one.
                out.push(Out::Event(Event::Told(Exit::StaleConfig)));
                self.stop(out);
            }
            Message::Join {
                refused: None,
                member,
                ..
            } => self.admit(now, from, member, out),
            Message::MemberAlive { config, .. } if config < self.s.config => {
                out.push(Out::Send(To::One(from), Message::Leave(Exit::StaleConfig)));
            }
            Message::MemberAlive { seq, table, .. } => match m.peers.get_mut(&sender) {
                Some(p) if p.addr == from => {
                    p.heard = now;
                    p.confirmed = true;
                    p.loss.observe(seq);
                    p.acked = table;
                }
                _ => out.push(Out::Send(To::One(from), Message::Leave(Exit::NotAMember))),
            },
            Message::MasterAlive(k) => {
                let theirs = Claim {
                    members: k.members.len() as u32,
                    addr: addr_words(&from),
                };
                if election::compare(&self.claim(mine), &theirs) == Ordering::Less {
                    self.join(now, out);
                } else {
                    out.push(Out::Send(
                        To::One(from),
                        Message::Leave(Exit::OtherMasterExists),
                    ));
                    out.push(Out::Announce);
                }
            }
            Message::Offer { .. } => {
                out.push(Out::Send(
                    To::One(from),
                    Message::Object {
                        members: mine as u16,
                    },
                ));
            }
            _ => (),
        }
    }

    /// As master, a join from a trusted host at `from` with our
    /// configuration: refused while the applications have not approved
    /// it (when they approve joins), else welcomed under its old id or a
    /// free one.
    fn admit(&mut self, now: Duration, from: Addr, want: Option<u16>, out: &mut Vec<Out>) {
        let Role::Master(m) = &mut self.role else {
            return;
        };
        let known = m.peers.iter().any(|(_, p)| p.addr == from);
        if self.s.approve && !known {
            if let Some(why) = m.approval(from, out) {
                out.push(Out::Send(To::One(from), Message::Refuse(why)));
                return;
            }
        }
        let id = match want {
            // Certified: that id or none (another host holds it).
            Some(w) if m.taken(w, from) || Some(w) == self.member => {
                out.push(Out::Send(To::One(from), Message::Refuse(Nak::IdTaken)));
                return;
            }
            Some(w) => w,
            None => m.id_for(from, self.member),
        };
        m.retired.remove(&from);
        if id == UNOWNED {
            out.push(Out::Send(To::One(from), Message::Refuse(Nak::Full)));
            return;
        }
        let known = m.peers.contains_key(&id);
        // A repeated join (its welcome was lost or is late) keeps
        // what the master measured; its keepalives correct the rest.
        let p = m.peers.entry(id).or_insert(Peer {
            addr: from,
            heard: now,
            loss: Loss::new(),
            acked: 0,
            confirmed: true,
        });
        p.heard = now;
        out.push(Out::Send(
            To::One(from),
            Message::Welcome {
                member: id,
                config: self.s.config,
            },
        ));
        if !known {
            out.push(Out::Event(Event::MemberUp(id, from)));
        }
        m.next_alive = now;
        self.master_tick(now, out);
    }
}

/// The lowest member id not in `peers`, not `me`, and not a retired one
/// (unless no other is left); UNOWNED if none.
fn first_free(peers: &BTreeMap<u16, Peer>, retired: &BTreeMap<Addr, u16>, me: Option<u16>) -> u16 {
    let free = |id: &u16| !peers.contains_key(id) && Some(*id) != me;
    (1..UNOWNED)
        .find(|id| free(id) && !retired.values().any(|r| r == id))
        .or_else(|| (1..UNOWNED).find(free))
        .unwrap_or(UNOWNED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::addr_of;
    use crate::shared::proto::NO_MEMBER;
    use std::net::{IpAddr, Ipv4Addr};

    fn host(i: u8) -> Addr {
        addr_of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)))
    }

    fn join(config: u32) -> Message {
        Message::Join {
            refused: None,
            member: None,
            config,
        }
    }

    /// Host 1, alone on its link, after it made itself master.
    fn master(s: Settings) -> (Node, Duration) {
        let (mut n, _) = Node::new(s, host(1), Duration::ZERO);
        let mut t = Duration::ZERO;
        while !n.is_master() {
            t += Duration::from_millis(10);
            n.tick(t);
        }
        (n, t)
    }

    fn told(out: &[Out], to: Addr) -> Vec<&Message> {
        out.iter()
            .filter_map(|o| match o {
                Out::Send(To::One(a), m) if *a == to => Some(m),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn without_approval_a_join_is_welcomed_at_once() {
        let (mut m, t) = master(Settings::new(16));
        let out = m.receive(t, host(2), NO_MEMBER, join(1));
        assert!(matches!(told(&out, host(2))[..], [Message::Welcome { .. }]));
        assert!(!out.iter().any(|o| matches!(o, Out::Approve(_))));
    }

    #[test]
    fn a_certified_id_is_given_as_named_or_refused_when_taken() {
        let mut s = Settings::new(16);
        s.member_id = Some(9);
        let (mut m, t) = master(s);
        assert_eq!(m.member(), Some(9), "the master takes its own");
        let certified = |id| Message::Join {
            refused: None,
            member: Some(id),
            config: 1,
        };
        let out = m.receive(t, host(2), NO_MEMBER, certified(5));
        assert!(matches!(
            told(&out, host(2))[..],
            [Message::Welcome { member: 5, .. }]
        ));
        // Again from its own address (a lost welcome): the same id.
        let out = m.receive(t, host(2), NO_MEMBER, certified(5));
        assert!(matches!(
            told(&out, host(2))[..],
            [Message::Welcome { member: 5, .. }]
        ));
        // Another host whose certificate names 5, or the master's 9.
        for id in [5, 9] {
            let out = m.receive(t, host(3), NO_MEMBER, certified(id));
            assert_eq!(told(&out, host(3)), [&Message::Refuse(Nak::IdTaken)]);
        }
    }

    #[test]
    fn applications_approve_or_veto_each_new_host() {
        let mut s = Settings::new(16);
        s.approve = true;
        let (mut m, t) = master(s);
        // Asked once; "in progress" until they answer.
        let out = m.receive(t, host(2), NO_MEMBER, join(1));
        assert!(out.contains(&Out::Approve(host(2))));
        assert_eq!(told(&out, host(2)), [&Message::Refuse(Nak::InProgress)]);
        let out = m.receive(t, host(2), NO_MEMBER, join(1));
        assert!(!out.contains(&Out::Approve(host(2))));
        assert_eq!(told(&out, host(2)), [&Message::Refuse(Nak::InProgress)]);
        m.decide(host(2), true);
        let out = m.receive(t, host(2), NO_MEMBER, join(1));
        assert!(matches!(told(&out, host(2))[..], [Message::Welcome { .. }]));
        // A member already in is not asked about again.
        let out = m.receive(t, host(2), NO_MEMBER, join(1));
        assert!(matches!(told(&out, host(2))[..], [Message::Welcome { .. }]));
        // A veto refuses the join; the next try asks again.
        let out = m.receive(t, host(3), NO_MEMBER, join(1));
        assert!(out.contains(&Out::Approve(host(3))));
        m.decide(host(3), false);
        let out = m.receive(t, host(3), NO_MEMBER, join(1));
        assert_eq!(told(&out, host(3)), [&Message::Refuse(Nak::Vetoed)]);
        let out = m.receive(t, host(3), NO_MEMBER, join(1));
        assert!(out.contains(&Out::Approve(host(3))));
        // An answer nobody asked for changes nothing.
        m.decide(host(4), true);
        let out = m.receive(t, host(4), NO_MEMBER, join(1));
        assert!(out.contains(&Out::Approve(host(4))));
    }

    #[test]
    fn a_pause_of_the_master_itself_kills_nobody() {
        let (mut m, t) = master(Settings::new(16));
        m.receive(t, host(2), NO_MEMBER, join(1));
        let down = |out: &[Out]| out.contains(&Out::Event(Event::MemberDown(2)));
        // The member's last keepalive came at t; the master is paused for
        // a second (the member is silent meanwhile, as far as it can see).
        let after = t + Duration::from_secs(1);
        m.paused(after, Duration::from_secs(1));
        assert!(!down(&m.tick(after)));
        assert!(m.is_master());
        // Still silent well after the pause: dead after all.
        assert!(down(&m.tick(after + Duration::from_millis(200))));
    }

    #[test]
    fn a_joiner_with_a_stale_configuration_is_told_to_exit() {
        let mut s = Settings::new(16);
        s.config = 2;
        let (mut m, t) = master(s.clone());
        let out = m.receive(t, host(2), NO_MEMBER, join(1));
        assert_eq!(told(&out, host(2)), [&Message::Leave(Exit::StaleConfig)]);
        // The joiner stops for good.
        s.config = 1;
        let (mut j, _) = Node::new(s, host(2), t);
        let out = j.receive(t, host(1), 0, Message::Leave(Exit::StaleConfig));
        assert!(out.contains(&Out::Event(Event::Stopped)));
        assert!(j.tick(t + Duration::from_secs(5)).is_empty());
        assert_eq!(j.master(), None);
    }

    /// Members 2 and 3 install the master's tables; member 3 only every
    /// few hundred milliseconds (a slow host). Whatever the master moves,
    /// no bucket is ever owned by two kernels at once: a bucket leaves its
    /// old owner's table before it enters the new owner's.
    #[test]
    fn a_moving_bucket_is_never_owned_twice() {
        let mut s = Settings::new(16);
        s.rebalance_every = Duration::from_millis(10);
        let (mut m, mut t) = master(s);
        let mut member = BTreeMap::new(); // id -> (addr, installed table, seq)
        for h in [2, 3] {
            let out = m.receive(t, host(h), NO_MEMBER, join(1));
            let Some(&&Message::Welcome { member: id, .. }) = told(&out, host(h)).first() else {
                panic!("not welcomed");
            };
            member.insert(id, (host(h), (0u32, vec![UNOWNED; 16]), 0u32));
        }
        let mut mine = vec![UNOWNED; 16]; // the master's kernel
        let (mut moves, mut peer_moves) = (0, 0);
        for step in 0..2000u32 {
            t += Duration::from_millis(10);
            if step == 500 {
                // Member 3 becomes the busiest: buckets move off it.
                let w: Vec<u64> = member[&3]
                    .1
                     .1
                    .iter()
                    .map(|&o| if o == 3 { 50 } else { 0 })
                    .collect();
                m.set_weights(&w);
            }
            let mut outs = m.tick(t);
            for (&id, (addr, (version, table), seq)) in member.iter_mut() {
                // Member 3 installs the latest table only every 300 ms.
                if id == 2 || step % 30 == 0 {
                    if let Some(k) = m.known() {
                        if k.version != *version {
                            peer_moves += table
                                .iter()
                                .zip(&k.owners)
                                .filter(|&(&was, &now)| was == id && now != id)
                                .count();
                            *version = k.version;
                            table.clone_from(&k.owners);
                        }
                    }
                }
                *seq += 1;
                let alive = Message::MemberAlive {
                    seq: *seq,
                    table: *version,
                    config: 1,
                };
                outs.extend(m.receive(t, *addr, id, alive));
            }
            for o in outs {
                if let Out::Install { owners, .. } = o {
                    moves += owners.iter().zip(&mine).filter(|(a, b)| a != b).count();
                    mine = owners;
                }
            }
            for b in 0..16 {
                let owning = [&mine, &member[&2].1 .1, &member[&3].1 .1]
                    .iter()
                    .enumerate()
                    .filter(|&(k, table)| table[b] == [1, 2, 3][k])
                    .count();
                assert!(
                    owning <= 1,
                    "bucket {b} owned by {owning} kernels at step {step}"
                );
            }
        }
        assert!(moves > 10, "{moves} changes");
        assert!(peer_moves > 0, "no bucket moved off member 3");
        // And every bucket has an owner in the end.
        assert!(m.known().unwrap().owners.iter().all(|&o| o != UNOWNED));
    }

    /// The master dies while bucket 0 is on its way (its last table gave
    /// it nobody): member 2 takes over, and gives bucket 0 out only once
    /// member 3, which may still hold it, has installed a table without it.
    #[test]
    fn a_new_master_waits_for_a_bucket_that_was_on_its_way() {
        let s = Settings::new(16);
        let (mut n, _) = Node::new(s.clone(), host(2), Duration::ZERO);
        let mut t = Duration::from_millis(10);
        let welcome = Message::Welcome {
            member: 2,
            config: 1,
        };
        n.receive(t, host(1), 0, welcome);
        let mut owners: Vec<u16> = (0..16).map(|b| [1, 2, 3][b % 3]).collect();
        owners[0] = UNOWNED;
        let k = Keepalive {
            config: 1,
            period: s.period,
            misses: 3,
            version: 7,
            members: vec![(1, host(1)), (2, host(2)), (3, host(3))],
            owners,
        };
        n.receive(t, host(1), 1, Message::MasterAlive(k));
        // The master falls silent; member 2, the lowest address left, takes over.
        let mut tables = Vec::new();
        while !n.is_master() {
            t += Duration::from_millis(10);
            for o in n.tick(t) {
                if let Out::Install { owners, .. } = o {
                    tables.push(owners);
                }
            }
        }
        let version = n.known().unwrap().version;
        for _ in 0..5 {
            t += Duration::from_millis(10);
            for o in n.tick(t) {
                if let Out::Install { owners, .. } = o {
                    tables.push(owners);
                }
            }
        }
        let last = tables.last().unwrap();
        assert_eq!(last[0], UNOWNED, "given out before member 3 let go");
        assert!(last[1..].iter().all(|&o| o == 2 || o == 3), "{last:?}");
        // Member 3 installs the new master's table: bucket 0 goes out.
        let alive = Message::MemberAlive {
            seq: 1,
            table: version,
            config: 1,
        };
        let mut out = n.receive(t, host(3), 3, alive);
        t += Duration::from_millis(10);
        out.extend(n.tick(t));
        let given = out.iter().rev().find_map(|o| match o {
            Out::Install { owners, .. } => Some(owners[0]),
            _ => None,
        });
        assert!(matches!(given, Some(2 | 3)), "{given:?}");
    }

    #[test]
    fn a_member_with_a_stale_configuration_is_told_to_exit() {
        let (mut m, t) = master(Settings::new(16));
        m.receive(t, host(2), NO_MEMBER, join(1));
        let alive = |config| Message::MemberAlive {
            seq: 1,
            table: 0,
            config,
        };
        let out = m.receive(t, host(2), 1, alive(0));
        assert_eq!(told(&out, host(2)), [&Message::Leave(Exit::StaleConfig)]);
        // A member newer than the master: the master is the stale one.
        let out = m.receive(t, host(2), 1, alive(2));
        assert!(out.contains(&Out::Event(Event::Stopped)));
        assert!(!m.is_master());
        // And a member told by its master stops.
        let (mut j, _) = Node::new(Settings::new(16), host(3), t);
        j.receive(
            t,
            host(1),
            0,
            Message::Welcome {
                member: 2,
                config: 1,
            },
        );
        assert_eq!(j.master(), Some(host(1)));
        let out = j.receive(t, host(1), 0, Message::Leave(Exit::StaleConfig));
        assert!(out.contains(&Out::Event(Event::Stopped)));
        assert_eq!(j.master(), None);
    }
}
