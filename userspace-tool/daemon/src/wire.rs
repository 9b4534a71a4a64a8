//! Signed datagrams on the cluster link (`crate::shared::proto`), shared
//! by its two users: the membership ([`crate::membership::node::Message`])
//! and the TCP state link ([`crate::survival::link::Message`]), each with
//! an [`Endpoint`] of its own on a port of its own.
//!
//! Every datagram carries its sender's certificate and is signed with its
//! key. A received datagram counts only when its cluster id is ours, its
//! kind belongs to the port it came to, its signature is good, its
//! certificate is one the cluster trusts, it comes from the address the
//! certificate names (if it names any) and its replay counter has not
//! been seen from that certificate (a sliding window, as IPsec's: a
//! unicast message may overtake a multicast one sent before it while the
//! unicast waits for ARP); anything else changes nothing and is counted.
//!
//! Each port keeps a window of its own per sender, and a sender's two
//! endpoints count from the same start, so the same counter appears on
//! both ports. That is safe because the kind is checked before any window
//! moves and is covered by the signature: a datagram signed for one port
//! can only ever be accepted on that port, so a copy sent to the other
//! port is rejected as `WrongPort` and leaves that port's window as it
//! was, and each window sees only the counters of its own port.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::shared::proto::{self, Header, Msg, Nak};
use rustls_pki_types::UnixTime;

use crate::cert::{addresses, fingerprint, Identity, Trust};
use crate::state::RejectedJson;

/// Largest datagram.
pub(crate) const MAX_DATAGRAM: usize = proto::HEADER_LEN + proto::MAX_BODY + proto::SIG_LEN;

/// The messages one user of the cluster link sends and receives, in the
/// wire format both users share.
pub(crate) trait Payload: Sized {
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
}

/// Encodes `msg` with `header` and the sender's certificate `cert`, the
/// signature left zero.
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

/// Why a datagram was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not a well-formed ipcluster datagram.
    Malformed,
    /// For another cluster.
    OtherCluster,
    /// A message of the link's other user, sent to this one's port.
    WrongPort,
    /// Its certificate is not trusted (and it is no join, which the
    /// master answers with the reason).
    Untrusted,
    /// Its signature does not match its certificate.
    BadSignature,
    /// From an address its certificate does not name (or, with
    /// `[pki] require_address`, its certificate names none).
    WrongAddress,
    /// Its replay counter was seen already, or is older than the window.
    Replayed,
}

/// Counts of ignored datagrams, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub(crate) malformed: u64,
    pub(crate) other_cluster: u64,
    pub(crate) wrong_port: u64,
    pub(crate) untrusted: u64,
    pub(crate) bad_signature: u64,
    pub(crate) wrong_address: u64,
    pub(crate) replayed: u64,
}

impl Rejected {
    fn count(&mut self, r: Reject) {
        let c = match r {
            Reject::Malformed => &mut self.malformed,
            Reject::OtherCluster => &mut self.other_cluster,
            Reject::WrongPort => &mut self.wrong_port,
            Reject::Untrusted => &mut self.untrusted,
            Reject::BadSignature => &mut self.bad_signature,
            Reject::WrongAddress => &mut self.wrong_address,
            Reject::Replayed => &mut self.replayed,
        };
        *c += 1;
    }

    /// The counts as `clusteradm status` shows them.
    pub(crate) fn to_json(self) -> RejectedJson {
        RejectedJson {
            malformed: self.malformed,
            other_cluster: self.other_cluster,
            wrong_port: self.wrong_port,
            untrusted: self.untrusted,
            bad_signature: self.bad_signature,
            wrong_address: self.wrong_address,
            replayed: self.replayed,
        }
    }

    /// Both endpoints' counts together.
    pub(crate) fn plus(self, o: Rejected) -> Rejected {
        Rejected {
            malformed: self.malformed + o.malformed,
            other_cluster: self.other_cluster + o.other_cluster,
            wrong_port: self.wrong_port + o.wrong_port,
            untrusted: self.untrusted + o.untrusted,
            bad_signature: self.bad_signature + o.bad_signature,
            wrong_address: self.wrong_address + o.wrong_address,
            replayed: self.replayed + o.replayed,
        }
    }
}

/// One end of the cluster link: signs what it sends, checks what it gets.
pub(crate) struct Endpoint<M> {
    cluster: u32,
    id: Identity,
    trust: Trust,
    counter: u64,
    /// The counters seen lately, per sender certificate (by fingerprint).
    seen: HashMap<String, Window>,
    /// Admission verdicts, per certificate fingerprint, until the trust
    /// changes, with the addresses an admitted certificate names: a chain
    /// is checked and parsed once, not on every keepalive.
    verdicts: HashMap<String, Result<Vec<IpAddr>, Nak>>,
    pub(crate) rejected: Rejected,
    _messages: std::marker::PhantomData<fn(M) -> M>,
}

impl<M: Payload> Endpoint<M> {
    /// For cluster `cluster`, as `id`, trusting `trust`. The counter
    /// starts at the wall clock in microseconds, so that it keeps rising
    /// across restarts.
    pub(crate) fn new(cluster: u32, id: Identity, trust: Trust, start: u64) -> Self {
        Endpoint {
            cluster,
            id,
            trust,
            counter: start,
            seen: HashMap::new(),
            verdicts: HashMap::new(),
            rejected: Rejected::default(),
            _messages: std::marker::PhantomData,
        }
    }

    /// Trusts `trust` from now on (a new revocation list).
    pub(crate) fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
        self.verdicts.clear();
    }

    /// A signed datagram of `msg` from member `sender`.
    pub(crate) fn seal(&mut self, sender: u16, msg: &M) -> Result<Vec<u8>, proto::Error> {
        self.counter += 1;
        let h = Header {
            sender,
            cluster: self.cluster,
            counter: self.counter,
        };
        let mut d = encode(&h, msg, self.id.cert())?;
        let n = d.len() - proto::SIG_LEN;
        let sig = self.id.sign(&d[..n]);
        d[n..].copy_from_slice(&sig);
        Ok(d)
    }

    /// The message in datagram `d` from address `from` and its sender's
    /// member id, if it passes every check. A message from an
    /// unacceptable certificate that this user answers (a join) comes
    /// through with the reason ([`Payload::refused`]).
    pub(crate) fn open(
        &mut self,
        d: &[u8],
        from: IpAddr,
        now: UnixTime,
    ) -> Result<(u16, M), Reject> {
        let r = self.check(d, from, now);
        if let Err(e) = r {
            self.rejected.count(e);
        }
        r
    }

    /// The checks, cheapest first; none moves a replay window but the
    /// last.
    fn check(&mut self, d: &[u8], from: IpAddr, now: UnixTime) -> Result<(u16, M), Reject> {
        let dg = proto::decode(d).map_err(|_| Reject::Malformed)?;
        if dg.header.cluster != self.cluster {
            return Err(Reject::OtherCluster);
        }
        // The other port's kind: a copy of a datagram meant for it (see
        // the module's comment). Before the signature, which it spares.
        let msg = M::from_wire(&dg.msg).ok_or(Reject::WrongPort)?;
        if !Trust::verify(dg.cert, dg.signed, dg.sig) {
            return Err(Reject::BadSignature);
        }
        let fp = fingerprint(dg.cert);
        match self.verdict(&fp, dg.cert, from, now) {
            // Answered with the reason, if at all; not remembered
            // (strangers do not get to grow our tables).
            Err(why) => {
                return match msg.refused(why) {
                    Some(m) => Ok((dg.header.sender, m)),
                    None => Err(Reject::Untrusted),
                }
            }
            // Not answered: the source may be spoofed.
            Ok(false) => return Err(Reject::WrongAddress),
            Ok(true) => {}
        }
        if !self.seen.entry(fp).or_default().fresh(dg.header.counter) {
            return Err(Reject::Replayed);
        }
        Ok((dg.header.sender, msg))
    }

    /// Whether the trust admits certificate `cert` (fingerprint `fp`),
    /// and if so whether its holder may send from `from`, from the
    /// verdicts cache: a chain is checked and parsed once, not on every
    /// keepalive.
    fn verdict(&mut self, fp: &str, cert: &[u8], from: IpAddr, now: UnixTime) -> Result<bool, Nak> {
        if !self.verdicts.contains_key(fp) {
            let v = self.trust.admit(cert, now).map(|()| addresses(cert));
            if self.verdicts.len() > 4096 {
                self.verdicts.clear(); // a flood of strangers
            }
            self.verdicts.insert(fp.to_string(), v);
        }
        match &self.verdicts[fp] {
            Ok(bound) => Ok(self.trust.from_allowed(bound, from)),
            Err(why) => Err(*why),
        }
    }
}

/// The anti-replay window of one sender (RFC 4303 §3.4.3): the highest
/// counter seen and which of the 64 below it were seen.
#[derive(Default)]
pub(crate) struct Window {
    top: u64,
    bits: u64,
}

impl Window {
    /// Whether `c` is new; if so, it is now seen.
    pub(crate) fn fresh(&mut self, c: u64) -> bool {
        if c > self.top {
            let shift = c - self.top;
            self.bits = if shift >= 64 { 0 } else { self.bits << shift };
            self.bits |= 1;
            self.top = c;
            return true;
        }
        let age = self.top - c;
        if c == 0 || age >= 64 || self.bits & (1 << age) != 0 {
            return false;
        }
        self.bits |= 1 << age;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{self, Pem};
    use crate::membership::node::Message;
    use crate::shared::proto::Exit;
    use crate::survival::link;

    /// Where the tests' datagrams come from.
    const AT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 11));

    fn endpoint(ca: &Pem, name: &str, revoked: &[String]) -> Endpoint<Message> {
        let id = Identity::new(&cert::issue(ca, name).unwrap()).unwrap();
        let trust = Trust::new(&ca.cert, [], revoked.iter().cloned()).unwrap();
        Endpoint::new(7, id, trust, 1000)
    }

    #[test]
    fn the_replay_window_takes_late_messages_once() {
        let mut w = Window::default();
        assert!(!w.fresh(0), "counters start above zero");
        assert!(w.fresh(10));
        assert!(w.fresh(12));
        assert!(w.fresh(11), "late, but not seen");
        assert!(!w.fresh(11));
        assert!(!w.fresh(12));
        assert!(w.fresh(100));
        assert!(w.fresh(37), "within 64 of the top");
        assert!(!w.fresh(36), "older than the window");
        assert!(w.fresh(1000));
        assert!(!w.fresh(100));
    }

    #[test]
    fn only_authentic_fresh_messages_count() {
        let now = UnixTime::now();
        let ca = cert::new_ca("c").unwrap();
        let mut a = endpoint(&ca, "a", &[]);
        let mut b = endpoint(&ca, "b", &[]);
        let alive = Message::MemberAlive {
            seq: 1,
            table: 2,
            config: 1,
        };
        let d = a.seal(3, &alive).unwrap();
        assert_eq!(b.open(&d, AT, now), Ok((3, alive.clone())));
        // The same datagram again: a replay.
        assert_eq!(b.open(&d, AT, now), Err(Reject::Replayed));
        // Any bit flipped: the signature fails (or the shape does).
        for i in 0..d.len() {
            let mut bad = d.clone();
            bad[i] ^= 0x20;
            assert!(b.open(&bad, AT, now).is_err(), "byte {i}");
        }
        // Another cluster's.
        let mut other = endpoint(&ca, "c", &[]);
        other.cluster = 8;
        assert_eq!(
            b.open(&other.seal(1, &alive).unwrap(), AT, now),
            Err(Reject::OtherCluster)
        );
        // A stranger's CA: its keepalives are ignored, its join refused.
        let rogue_ca = cert::new_ca("rogue").unwrap();
        let mut rogue = endpoint(&rogue_ca, "r", &[]);
        let fake = Message::Leave(Exit::OtherMasterExists);
        assert_eq!(
            b.open(&rogue.seal(1, &fake).unwrap(), AT, now),
            Err(Reject::Untrusted)
        );
        let join = rogue
            .seal(
                proto::NO_MEMBER,
                &Message::Join {
                    refused: None,
                    config: 1,
                },
            )
            .unwrap();
        assert_eq!(
            b.open(&join, AT, now),
            Ok((
                proto::NO_MEMBER,
                Message::Join {
                    refused: Some(Nak::BadCertificate),
                    config: 1,
                }
            ))
        );
        let r = b.rejected;
        assert_eq!(r.replayed, 1);
        assert_eq!(r.untrusted, 1);
        // 4 from flips in the cluster id field, 1 from `other`.
        assert_eq!(r.other_cluster, 5);
        assert_eq!(r.bad_signature + r.malformed + 4, d.len() as u64);
    }

    #[test]
    fn a_datagram_for_the_other_port_moves_no_window() {
        let now = UnixTime::now();
        let ca = cert::new_ca("c").unwrap();
        let pem = cert::issue(&ca, "a").unwrap();
        let trust = || Trust::new(&ca.cert, [], []).unwrap();
        let id = || Identity::new(&pem).unwrap();
        // Member a's two endpoints, counting from the same start; b's.
        let mut a_members: Endpoint<Message> = Endpoint::new(7, id(), trust(), 1000);
        let mut a_tcp: Endpoint<link::Message> = Endpoint::new(7, id(), trust(), 1000);
        let mut b_members = endpoint(&ca, "b", &[]);
        let b = Identity::new(&cert::issue(&ca, "b").unwrap()).unwrap();
        let mut b_tcp: Endpoint<link::Message> = Endpoint::new(7, b, trust(), 1);
        let alive = Message::MemberAlive {
            seq: 1,
            table: 2,
            config: 1,
        };
        let early = a_members.seal(3, &alive).unwrap();
        // TCP state far ahead of the membership's counter (a busy link),
        // copied to the membership's port, and an ack as well.
        a_tcp.counter += 1_000_000;
        let state = link::Message::State {
            seq: 1,
            records: vec![1; 56],
        };
        let tcp = a_tcp.seal(3, &state).unwrap();
        let ack = a_tcp.seal(3, &link::Message::Ack(vec![1])).unwrap();
        for d in [&tcp, &ack, &tcp] {
            assert_eq!(b_members.open(d, AT, now), Err(Reject::WrongPort));
        }
        // Membership's window did not move: a's keepalives still count,
        // the one sealed before as well as the next.
        let next = a_members.seal(3, &alive).unwrap();
        assert_eq!(b_members.open(&next, AT, now), Ok((3, alive.clone())));
        assert_eq!(b_members.open(&early, AT, now), Ok((3, alive.clone())));
        assert_eq!(b_members.rejected.wrong_port, 3);
        assert_eq!(b_members.rejected.replayed, 0);
        // The other way: a keepalive copied to the TCP state link's port.
        assert_eq!(b_tcp.open(&next, AT, now), Err(Reject::WrongPort));
        assert_eq!(b_tcp.open(&tcp, AT, now), Ok((3, state)));
        assert_eq!(b_tcp.open(&tcp, AT, now), Err(Reject::Replayed));
        let r = b_tcp.rejected;
        assert_eq!((r.wrong_port, r.replayed), (1, 1));
        // Shown by `status`.
        assert_eq!(b_members.rejected.plus(r).to_json().wrong_port, 4);
    }

    #[test]
    fn a_certificate_is_taken_only_from_its_address() {
        let now = UnixTime::now();
        let ca = cert::new_ca("c").unwrap();
        let elsewhere: IpAddr = "192.0.2.12".parse().unwrap();
        let id = Identity::new(&cert::issue_at(&ca, "a", Some(AT)).unwrap()).unwrap();
        let trust = Trust::new(&ca.cert, [], []).unwrap();
        let mut a = Endpoint::<Message>::new(7, id, trust, 1000);
        let mut b = endpoint(&ca, "b", &[]);
        let alive = Message::MemberAlive {
            seq: 1,
            table: 2,
            config: 1,
        };
        let join = Message::Join {
            refused: None,
            config: 1,
        };
        let d = a.seal(3, &alive).unwrap();
        // From elsewhere: rejected, not answered, the window not moved.
        assert_eq!(b.open(&d, elsewhere, now), Err(Reject::WrongAddress));
        let j = a.seal(proto::NO_MEMBER, &join).unwrap();
        assert_eq!(b.open(&j, elsewhere, now), Err(Reject::WrongAddress));
        assert_eq!(b.rejected.wrong_address, 2);
        // From its address, the same datagrams count.
        assert_eq!(b.open(&d, AT, now), Ok((3, alive.clone())));
        assert_eq!(b.open(&j, AT, now), Ok((proto::NO_MEMBER, join)));
        // (Also as a dual-stack socket reports it.)
        let mapped: IpAddr = "::ffff:192.0.2.11".parse().unwrap();
        let d = a.seal(3, &alive).unwrap();
        assert_eq!(b.open(&d, mapped, now), Ok((3, alive.clone())));
        // A certificate without an address: from anywhere, unless the
        // configuration requires one.
        let mut free = endpoint(&ca, "f", &[]);
        let d = free.seal(4, &alive).unwrap();
        assert_eq!(b.open(&d, elsewhere, now), Ok((4, alive.clone())));
        let strict = Trust::new(&ca.cert, [], [])
            .unwrap()
            .requiring_address(true);
        b.set_trust(strict);
        let d = free.seal(4, &alive).unwrap();
        assert_eq!(b.open(&d, elsewhere, now), Err(Reject::WrongAddress));
        let d = a.seal(3, &alive).unwrap();
        assert_eq!(b.open(&d, AT, now), Ok((3, alive)));
        let r = b.rejected;
        assert_eq!((r.wrong_address, r.replayed), (3, 0));
        assert_eq!(r.to_json().wrong_address, 3);
    }

    #[test]
    fn revoked_members_are_refused() {
        let now = UnixTime::now();
        let ca = cert::new_ca("c").unwrap();
        let gone = cert::issue(&ca, "gone").unwrap();
        let fp = fingerprint(&cert::der(&gone.cert).unwrap());
        let mut master = endpoint(&ca, "m", &[fp]);
        let id = Identity::new(&gone).unwrap();
        let trust = Trust::new(&ca.cert, [], []).unwrap();
        let mut g = Endpoint::new(7, id, trust, 5);
        let join = g
            .seal(
                proto::NO_MEMBER,
                &Message::Join {
                    refused: None,
                    config: 1,
                },
            )
            .unwrap();
        assert_eq!(
            master.open(&join, AT, now).unwrap().1,
            Message::Join {
                refused: Some(Nak::Revoked),
                config: 1,
            }
        );
        let alive = g
            .seal(
                2,
                &Message::MemberAlive {
                    seq: 1,
                    table: 1,
                    config: 1,
                },
            )
            .unwrap();
        assert_eq!(master.open(&alive, AT, now), Err(Reject::Untrusted));
    }
}
