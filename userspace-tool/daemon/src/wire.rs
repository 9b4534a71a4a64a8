//! The cluster link's datagrams (`crate::shared::proto`), shared by its
//! two users: the membership ([`crate::membership::node::Message`]) and
//! the TCP state link ([`crate::survival::link::Message`]), each with an
//! [`Endpoint`] of its own on a port of its own.
//!
//! A message to one member travels sealed, with the session key the two
//! agreed for that port ([`session`]): one AEAD per datagram instead of
//! a signature, one replay window per session and direction, and
//! nothing sealed for one port or one pair opens at another. What cannot
//! wait for a key is signed: joins and the refusals of strangers, the
//! master's multicast keepalive, elections and the Hello that agrees a
//! key. A signed datagram counts only when it is fresh (its counter, the
//! sender's wall clock, within `max_clock_skew` of ours and not from
//! before we started), new in its certificate's window, its signature
//! good, its certificate one the cluster trusts and its source an
//! address the certificate names.
//!
//! Checks run cheapest first and no window moves before the last of them:
//! shape, cluster, the kind belongs to this port, then freshness and the
//! window, and only then the signature or the tag. Anything that fails
//! changes nothing and is counted by reason ([`Rejected`]).

mod peers;
mod reject;
mod session;
mod window;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use ring::rand::SystemRandom;
use rustls_pki_types::UnixTime;

use crate::cert::{addresses, fingerprint, member_id, not_after, Identity, Trust};
use crate::kapi::addr::mapped;
use crate::shared::proto::{self, kind, sealed, Header, Hello, Msg, Nak, KEY_LEN};
pub(crate) use reject::{Reject, Rejected};
use session::{Binding, Pending};
use window::Recent;

/// How long a session lives: then the next message starts a new
/// agreement, which checks the peer's certificate (expiry, revocation)
/// again.
const SESSION_LIFE: Duration = Duration::from_secs(600);
/// How long a session still opens what arrives once a new one is due.
const SESSION_GRACE: Duration = Duration::from_secs(60);
/// Largest datagram.
pub(crate) const MAX_DATAGRAM: usize = proto::HEADER_LEN + proto::MAX_BODY + proto::SIG_LEN;
/// Joins and Hellos checked per second per source, and the burst.
const SIGNED_PER_SEC: f64 = 200.0;
const SIGNED_BURST: f64 = 400.0;

/// The messages one user of the cluster link sends and receives, in the
/// wire format both users share.
pub(crate) trait Payload: Sized {
    /// The kinds of message this user takes (a Hello aside, which every
    /// endpoint takes).
    const KINDS: &'static [u8];

    /// Calls `f` with this message as the wire format has it (some need
    /// buffers that live only as long as the call).
    fn with_wire<R>(
        &self,
        f: impl FnOnce(&Msg<'_>) -> Result<R, proto::Error>,
    ) -> Result<R, proto::Error>;

    /// The message `msg` decodes to; `None` when it belongs to the other
    /// user of the link (and came to the wrong port).
    fn from_wire(msg: &Msg<'_>) -> Option<Self>;

    /// The message from a sender whose certificate the cluster does not
    /// admit, for reason `why`: itself, carrying the reason, when this
    /// user answers such a message (a join is refused with its reason);
    /// `None` to ignore it.
    fn refused(self, why: Nak) -> Option<Self> {
        let _ = why;
        None
    }

    /// This message, from the holder of a certificate that names member
    /// id `id` (a join asks for it).
    fn certified(self, id: u16) -> Self {
        let _ = id;
        self
    }
}

/// Encodes `msg` with `header` and the sender's certificate `cert`, the
/// signature left zero.
#[cfg(test)]
pub(crate) fn encode<M: Payload>(
    header: &Header,
    msg: &M,
    cert: &[u8],
) -> Result<Vec<u8>, proto::Error> {
    let mut out = vec![0u8; MAX_DATAGRAM];
    let n = msg.with_wire(|m| proto::encode(header, m, cert, &mut out))?;
    out.truncate(n);
    Ok(out)
}

/// A datagram to send.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) to: SocketAddr,
    pub(crate) d: Vec<u8>,
}

/// One end of the cluster link: signs or seals what it sends, checks what
/// it gets.
pub(crate) struct Endpoint<M> {
    cluster: u32,
    id: Identity,
    trust: Trust,
    /// Our own address and port on the link.
    link: SocketAddr,
    /// The member id we last sent as (a Hello is sent under it).
    sender: u16,
    /// The signed counter: the wall clock in microseconds, moved on.
    counter: u64,
    /// When this endpoint started, in microseconds: signed datagrams
    /// from before then are not taken.
    start: u64,
    max_skew: u64,
    /// The counters seen lately, per sender certificate (by fingerprint).
    seen: HashMap<String, Recent>,
    /// Admission verdicts, per certificate fingerprint, until the trust
    /// changes, with the addresses an admitted certificate names: a chain
    /// is checked and parsed once, not on every keepalive.
    verdicts: HashMap<String, Result<Admitted, Nak>>,
    peers: peers::Peers,
    /// Signature checks left per source, and when they were counted.
    budget: HashMap<IpAddr, (f64, Instant)>,
    rng: SystemRandom,
    body: Vec<u8>,
    pub(crate) rejected: Rejected,
    _messages: std::marker::PhantomData<fn(M) -> M>,
}

/// An admitted certificate: the addresses it names, and when it expires
/// (seconds since the epoch).
struct Admitted {
    bound: Vec<IpAddr>,
    until: i64,
    id: Option<u16>,
}

/// The wall clock in microseconds.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `a` as peers are keyed: an IPv4 address as itself, not mapped.
fn canon(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

impl<M: Payload> Endpoint<M> {
    /// For cluster `cluster`, as `id` at `link`, trusting `trust`,
    /// started at `start` (the wall clock in microseconds).
    pub(crate) fn new(
        cluster: u32,
        id: Identity,
        trust: Trust,
        start: u64,
        link: SocketAddr,
    ) -> Self {
        Endpoint {
            cluster,
            id,
            trust,
            link: canon(link),
            sender: proto::NO_MEMBER,
            counter: start,
            start,
            max_skew: 60_000_000,
            seen: HashMap::new(),
            verdicts: HashMap::new(),
            peers: peers::Peers::default(),
            budget: HashMap::new(),
            rng: SystemRandom::new(),
            body: vec![0; proto::MAX_BODY],
            rejected: Rejected::default(),
            _messages: std::marker::PhantomData,
        }
    }

    /// Takes signed datagrams whose clocks differ from ours by up to
    /// `skew`.
    pub(crate) fn max_skew(mut self, skew: Duration) -> Self {
        self.max_skew = skew.as_micros() as u64;
        self
    }

    /// Trusts `trust` from now on (a new revocation list): every session
    /// goes, so each peer's certificate is checked again.
    pub(crate) fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
        self.verdicts.clear();
        self.peers.clear();
    }

    /// Datagrams of `msg` from member `sender` to `to` into `out`: sealed
    /// for a kind that travels sealed (once a session exists; until then
    /// a Hello goes and the message waits), else signed.
    pub(crate) fn seal(
        &mut self,
        sender: u16,
        to: SocketAddr,
        msg: &M,
        out: &mut Vec<Sent>,
    ) -> Result<(), proto::Error> {
        self.sender = sender;
        let mut body = std::mem::take(&mut self.body);
        let r = match msg.with_wire(|m| proto::encode_body(m, &mut body)) {
            Ok((kind, n)) if proto::sealed_only(kind) => {
                if to.ip().is_multicast() {
                    Err(proto::Error::Malformed)
                } else {
                    self.send_to_peer(canon(to), (kind, sender, &body[..n]), out);
                    Ok(())
                }
            }
            Ok(_) => msg
                .with_wire(|m| self.signed(sender, m))
                .map(|d| out.push(Sent { to, d })),
            Err(e) => Err(e),
        };
        self.body = body;
        r
    }

    /// Hellos again to peers whose messages still wait for a session.
    pub(crate) fn poll(&mut self, out: &mut Vec<Sent>) {
        for a in self.peers.stalled(Instant::now()) {
            self.hello(a, out);
        }
    }

    /// A signed datagram of `m` from member `sender`.
    fn signed(&mut self, sender: u16, m: &Msg<'_>) -> Result<Vec<u8>, proto::Error> {
        self.counter = (self.counter + 1).max(now_us());
        let h = Header {
            sender,
            cluster: self.cluster,
            counter: self.counter,
        };
        let mut d = vec![0u8; MAX_DATAGRAM];
        let n = proto::encode(&h, m, self.id.cert(), &mut d)?;
        d.truncate(n);
        let s = n - proto::SIG_LEN;
        let sig = self.id.sign(&d[..s]);
        d[s..].copy_from_slice(&sig);
        Ok(d)
    }

    /// Message `body` (of `kind`, from member `sender`) to peer `to`:
    /// sealed now, or copied to wait for a session.
    fn send_to_peer(
        &mut self,
        to: SocketAddr,
        (kind, sender, body): (u8, u16, &[u8]),
        out: &mut Vec<Sent>,
    ) {
        let cluster = self.cluster;
        let now = Instant::now();
        let p = self.peers.get(to);
        let old = match p.newest() {
            Some(s) => {
                out.push(Sent {
                    to,
                    d: s.seal(kind, sender, cluster, body),
                });
                now.duration_since(s.born) > SESSION_LIFE
            }
            None => {
                p.wait((kind, sender, body.to_vec()));
                true
            }
        };
        // A new agreement while the old session still serves.
        if old && p.hello_due(now) {
            self.hello(to, out);
        }
    }

    /// Starts a key agreement with `to`.
    fn hello(&mut self, to: SocketAddr, out: &mut Vec<Sent>) {
        let Some(p) = Pending::new(&self.rng) else {
            return;
        };
        let h = Hello {
            port: to.port(),
            to: mapped(to.ip()),
            key: p.public,
            echo: [0; KEY_LEN],
        };
        if let Ok(d) = self.signed(self.sender, &Msg::Hello(h)) {
            self.peers.get(to).pending = Some((p, Instant::now()));
            out.push(Sent { to, d });
        }
    }

    /// What waits for peer `to`, sealed now that a session exists.
    fn flush(&mut self, to: SocketAddr, out: &mut Vec<Sent>) {
        let cluster = self.cluster;
        let p = self.peers.get(to);
        let waiting = std::mem::take(&mut p.queue);
        if let Some(s) = p.newest() {
            for (kind, sender, body) in waiting {
                let d = s.seal(kind, sender, cluster, &body);
                out.push(Sent { to, d });
            }
        }
    }

    /// The message in datagram `d` from `from` and its sender's member
    /// id, if it passes every check; `None` for a Hello, which this
    /// endpoint answers itself (into `out`). A message from an
    /// unacceptable certificate that this user answers (a join) comes
    /// through with the reason ([`Payload::refused`]).
    pub(crate) fn open(
        &mut self,
        d: &[u8],
        from: SocketAddr,
        now: UnixTime,
        out: &mut Vec<Sent>,
    ) -> Result<Option<(u16, M)>, Reject> {
        let from = canon(from);
        let r = if sealed::is_sealed(d) {
            self.open_sealed(d, from, out).map(Some)
        } else {
            self.open_signed(d, from, now, out)
        };
        if let Err(e) = r {
            self.rejected.count(e);
        }
        r
    }

    fn open_sealed(
        &mut self,
        d: &[u8],
        from: SocketAddr,
        out: &mut Vec<Sent>,
    ) -> Result<(u16, M), Reject> {
        let h = sealed::decode(d).map_err(|_| Reject::Malformed)?;
        if h.cluster != self.cluster {
            return Err(Reject::OtherCluster);
        }
        if !M::KINDS.contains(&h.kind) {
            return Err(Reject::WrongPort);
        }
        let live = |s: &&mut session::Session| s.born.elapsed() < SESSION_LIFE + SESSION_GRACE;
        let Some(s) = self
            .peers
            .find(from)
            .and_then(|p| p.session(h.session))
            .filter(live)
        else {
            // Sealed under a key we do not have: the peer's, from before
            // we restarted (or a stranger's). A Hello (at most one a
            // second) gets a peer new keys.
            if self.peers.get(from).hello_due(Instant::now()) {
                self.hello(from, out);
            }
            return Err(Reject::UnknownSession);
        };
        if s.peer.is_some_and(|id| id != h.sender) {
            return Err(Reject::WrongId);
        }
        let body = s.open(&h, d)?;
        let msg = proto::decode_body(h.kind, &body).map_err(|_| Reject::Malformed)?;
        let m = M::from_wire(&msg).ok_or(Reject::WrongPort)?;
        Ok((h.sender, m))
    }

    /// The checks of a signed datagram, cheapest first.
    fn open_signed(
        &mut self,
        d: &[u8],
        from: SocketAddr,
        now: UnixTime,
        out: &mut Vec<Sent>,
    ) -> Result<Option<(u16, M)>, Reject> {
        let dg = proto::decode(d).map_err(|_| Reject::Malformed)?;
        if dg.header.cluster != self.cluster {
            return Err(Reject::OtherCluster);
        }
        if proto::sealed_only(d[5]) {
            return Err(Reject::SignedWhereSealed);
        }
        let msg = match dg.msg {
            Msg::Hello(_) => None,
            ref m => Some(M::from_wire(m).ok_or(Reject::WrongPort)?),
        };
        let c = dg.header.counter;
        let t = now_us();
        if c.saturating_add(self.max_skew) < t
            || c > t.saturating_add(self.max_skew)
            || c < self.start.saturating_sub(1_000_000)
        {
            return Err(Reject::Stale);
        }
        let fp = fingerprint(dg.cert);
        if !self.seen.get(&fp).is_none_or(|w| w.peek(c)) {
            return Err(Reject::Replayed);
        }
        // What costs more than a signature check (a join's chain, a
        // Hello's answer) is limited per source. Not the rest: on a link
        // where sources can be spoofed, a limit would let anyone silence
        // the master's keepalives with a few hundred datagrams a second.
        if matches!(d[5], kind::JOIN | kind::HELLO) && !self.afford(from.ip()) {
            return Err(Reject::RateLimited);
        }
        if !Trust::verify(dg.cert, dg.signed, dg.sig) {
            return Err(Reject::BadSignature);
        }
        let id = match self.verdict(&fp, dg.cert, from.ip(), now) {
            // Answered with the reason, if at all; not remembered
            // (strangers do not get to grow our tables).
            Err(why) => {
                return match msg.and_then(|m| m.refused(why)) {
                    Some(m) => Ok(Some((dg.header.sender, m))),
                    None => Err(Reject::Untrusted),
                }
            }
            // Not answered: the source may be spoofed.
            Ok(None) => return Err(Reject::WrongAddress),
            Ok(Some(id)) => id,
        };
        if id.is_some_and(|id| ![id, proto::NO_MEMBER].contains(&dg.header.sender)) {
            return Err(Reject::WrongId);
        }
        if let Msg::Hello(h) = dg.msg {
            self.check_hello(&h)?;
        }
        if self.seen.len() > 4096 {
            self.seen.clear();
        }
        self.seen.entry(fp).or_default().fresh(c);
        match (msg, dg.msg) {
            (Some(m), _) => {
                let m = match id {
                    Some(i) => m.certified(i),
                    None => m,
                };
                Ok(Some((dg.header.sender, m)))
            }
            (None, Msg::Hello(h)) => self.hello_in(&h, (dg.cert, id), from, out).map(|()| None),
            (None, _) => Err(Reject::Malformed),
        }
    }

    /// Whether Hello `h` is for us, on this port.
    fn check_hello(&self, h: &Hello) -> Result<(), Reject> {
        if h.port != self.link.port() || h.to != mapped(self.link.ip()) {
            return Err(Reject::NotForUs);
        }
        Ok(())
    }

    /// An authentic Hello from the holder of `cert` at `from`: a first
    /// one is answered with our half and gives a session; an answer to
    /// ours finishes the one we started.
    fn hello_in(
        &mut self,
        h: &Hello,
        (cert, id): (&[u8], Option<u16>),
        from: SocketAddr,
        out: &mut Vec<Sent>,
    ) -> Result<(), Reject> {
        if h.echo == [0; KEY_LEN] {
            let b = Binding {
                port: self.link.port(),
                cluster: self.cluster,
                initiator_cert: cert,
                responder_cert: self.id.cert(),
            };
            let (key, s) = Pending::answer(&self.rng, &h.key, &b).ok_or(Reject::Malformed)?;
            let answer = Hello {
                port: from.port(),
                to: mapped(from.ip()),
                key,
                echo: h.key,
            };
            let d = self
                .signed(self.sender, &Msg::Hello(answer))
                .map_err(|_| Reject::Malformed)?;
            out.push(Sent { to: from, d });
            self.peers.get(from).install(s.of(id));
        } else {
            let p = self.peers.get(from);
            let Some((mine, at)) = p.pending.take() else {
                return Err(Reject::NotForUs);
            };
            if mine.public != h.echo {
                p.pending = Some((mine, at));
                return Err(Reject::NotForUs);
            }
            let b = Binding {
                port: from.port(),
                cluster: self.cluster,
                initiator_cert: self.id.cert(),
                responder_cert: cert,
            };
            let s = mine.finish(&h.key, &b).ok_or(Reject::Malformed)?;
            self.peers.get(from).install(s.of(id));
        }
        self.flush(from, out);
        Ok(())
    }

    /// Whether source `ip` may have one more signature checked now (a
    /// token bucket per source, the table bounded).
    fn afford(&mut self, ip: IpAddr) -> bool {
        let now = Instant::now();
        if self.budget.len() > 4096 && !self.budget.contains_key(&ip) {
            self.budget.clear();
        }
        let (left, at) = self.budget.entry(ip).or_insert((SIGNED_BURST, now));
        *left = (*left + now.duration_since(*at).as_secs_f64() * SIGNED_PER_SEC).min(SIGNED_BURST);
        *at = now;
        if *left < 1.0 {
            return false;
        }
        *left -= 1.0;
        true
    }

    /// Whether the trust admits certificate `cert` (fingerprint `fp`),
    /// and if so whether its holder may send from `from` (`None` if not)
    /// and under which member id (`Some(None)`: any), from the verdicts
    /// cache: a chain is checked and parsed once, not on every keepalive.
    fn verdict(
        &mut self,
        fp: &str,
        cert: &[u8],
        from: IpAddr,
        now: UnixTime,
    ) -> Result<Option<Option<u16>>, Nak> {
        let secs = now.as_secs() as i64;
        let expired = matches!(self.verdicts.get(fp), Some(Ok(a)) if a.until < secs);
        if expired || !self.verdicts.contains_key(fp) {
            let v = self.trust.admit(cert, now).map(|()| Admitted {
                bound: addresses(cert),
                until: not_after(cert).unwrap_or(i64::MAX),
                id: member_id(cert),
            });
            if self.verdicts.len() > 4096 {
                self.verdicts.clear(); // a flood of strangers
            }
            self.verdicts.insert(fp.to_string(), v);
        }
        match &self.verdicts[fp] {
            Ok(a) => Ok(self.trust.from_allowed(&a.bound, from).then_some(a.id)),
            Err(why) => Err(*why),
        }
    }
}

#[cfg(test)]
mod tests;
