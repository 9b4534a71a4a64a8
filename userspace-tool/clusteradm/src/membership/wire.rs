//! [`Message`]s to and from signed datagrams (`ipcluster_core::proto`):
//! every datagram carries its sender's certificate and is signed with its
//! key. A received datagram counts only when its cluster id is ours, its
//! certificate is one the cluster trusts, its signature is good and its
//! replay counter has not been seen from that certificate (a sliding
//! window, as IPsec's: a unicast message may overtake a multicast one
//! sent before it while the unicast waits for ARP); anything else changes
//! nothing and is counted.

use std::collections::HashMap;
use std::time::Duration;

use ipcluster_core::proto::{self, Header, Member, Msg, Nak};
use rustls_pki_types::UnixTime;

use super::node::{Keepalive, Message};
use crate::cert::{fingerprint, Identity, Trust};

/// Largest datagram.
pub(crate) const MAX_DATAGRAM: usize = proto::HEADER_LEN + proto::MAX_BODY + proto::SIG_LEN;

/// Encodes `msg` with `header` and the sender's certificate `cert`, the
/// signature left zero.
pub(crate) fn encode(header: &Header, msg: &Message, cert: &[u8]) -> Result<Vec<u8>, proto::Error> {
    let mut out = vec![0u8; MAX_DATAGRAM];
    let (mut mb, mut ob) = (Vec::new(), Vec::new());
    let acks: Vec<u8>;
    let m = match msg {
        Message::Join { config, .. } => Msg::Join { config: *config },
        Message::Welcome { member, config } => Msg::Welcome {
            member: *member,
            config: *config,
        },
        Message::Refuse(why) => Msg::Refuse { why: *why },
        Message::Offer { members } => Msg::Offer { members: *members },
        Message::Object { members } => Msg::Object { members: *members },
        Message::MasterAlive(k) => {
            let members: Vec<Member> = k
                .members
                .iter()
                .map(|&(id, addr)| Member { id, addr })
                .collect();
            mb.resize(members.len() * 18, 0);
            proto::encode_members(&members, &mut mb)?;
            ob.resize(k.owners.len() * 2, 0);
            proto::encode_owners(&k.owners, &mut ob)?;
            let period = u16::try_from(k.period.as_millis()).unwrap_or(u16::MAX);
            Msg::MasterAlive(proto::MasterAlive::new(
                k.config,
                (period, k.misses),
                k.version,
                &mb,
                &ob,
            ))
        }
        Message::MemberAlive { seq, table, config } => Msg::MemberAlive {
            seq: *seq,
            table: *table,
            config: *config,
        },
        Message::Leave(why) => Msg::Leave { why: *why },
        Message::TcpState { seq, records } => Msg::TcpState { seq: *seq, records },
        Message::TcpAck(seqs) => {
            acks = seqs.iter().flat_map(|s| s.to_be_bytes()).collect();
            Msg::TcpAck { seqs: &acks }
        }
    };
    let n = proto::encode(header, &m, cert, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// The node's view of a decoded message.
pub(crate) fn message(msg: &Msg<'_>) -> Message {
    match *msg {
        Msg::Join { config } => Message::Join {
            refused: None,
            config,
        },
        Msg::Welcome { member, config } => Message::Welcome { member, config },
        Msg::Refuse { why } => Message::Refuse(why),
        Msg::Offer { members } => Message::Offer { members },
        Msg::Object { members } => Message::Object { members },
        Msg::MasterAlive(k) => Message::MasterAlive(Keepalive {
            config: k.config,
            period: Duration::from_millis(u64::from(k.period_ms)),
            misses: k.misses,
            version: k.table_version,
            members: k.members.iter().map(|m| (m.id, m.addr)).collect(),
            owners: k.owners.iter().collect(),
        }),
        Msg::MemberAlive { seq, table, config } => Message::MemberAlive { seq, table, config },
        Msg::Leave { why } => Message::Leave(why),
        Msg::TcpState { seq, records } => Message::TcpState {
            seq,
            records: records.to_vec(),
        },
        Msg::TcpAck { seqs } => Message::TcpAck(
            seqs.chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
    }
}

/// Why a datagram was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not a well-formed ipcluster datagram.
    Malformed,
    /// For another cluster.
    OtherCluster,
    /// Its certificate is not trusted (and it is no join, which the
    /// master answers with the reason).
    Untrusted,
    /// Its signature does not match its certificate.
    BadSignature,
    /// Its replay counter was seen already, or is older than the window.
    Replayed,
}

/// Counts of ignored datagrams, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub(crate) malformed: u64,
    pub(crate) other_cluster: u64,
    pub(crate) untrusted: u64,
    pub(crate) bad_signature: u64,
    pub(crate) replayed: u64,
}

impl Rejected {
    fn count(&mut self, r: Reject) {
        let c = match r {
            Reject::Malformed => &mut self.malformed,
            Reject::OtherCluster => &mut self.other_cluster,
            Reject::Untrusted => &mut self.untrusted,
            Reject::BadSignature => &mut self.bad_signature,
            Reject::Replayed => &mut self.replayed,
        };
        *c += 1;
    }

    /// Both endpoints' counts together.
    pub(crate) fn plus(self, o: Rejected) -> Rejected {
        Rejected {
            malformed: self.malformed + o.malformed,
            other_cluster: self.other_cluster + o.other_cluster,
            untrusted: self.untrusted + o.untrusted,
            bad_signature: self.bad_signature + o.bad_signature,
            replayed: self.replayed + o.replayed,
        }
    }
}

/// One end of the cluster link: signs what it sends, checks what it gets.
pub(crate) struct Endpoint {
    cluster: u32,
    id: Identity,
    trust: Trust,
    counter: u64,
    /// The counters seen lately, per sender certificate (by fingerprint).
    seen: HashMap<String, Window>,
    /// Admission verdicts, per certificate fingerprint, until the trust
    /// changes: a chain is checked once, not on every keepalive.
    verdicts: HashMap<String, Result<(), Nak>>,
    pub(crate) rejected: Rejected,
}

impl Endpoint {
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
        }
    }

    /// Trusts `trust` from now on (a new revocation list).
    pub(crate) fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
        self.verdicts.clear();
    }

    /// A signed datagram of `msg` from member `sender`.
    pub(crate) fn seal(&mut self, sender: u16, msg: &Message) -> Result<Vec<u8>, proto::Error> {
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

    /// The message in datagram `d` and its sender's member id, if it
    /// passes every check; a join with an unacceptable certificate comes
    /// through with the reason, for the master to answer.
    pub(crate) fn open(&mut self, d: &[u8], now: UnixTime) -> Result<(u16, Message), Reject> {
        let r = self.check(d, now);
        if let Err(e) = r {
            self.rejected.count(e);
        }
        r
    }

    fn check(&mut self, d: &[u8], now: UnixTime) -> Result<(u16, Message), Reject> {
        let dg = proto::decode(d).map_err(|_| Reject::Malformed)?;
        if dg.header.cluster != self.cluster {
            return Err(Reject::OtherCluster);
        }
        if !Trust::verify(dg.cert, dg.signed, dg.sig) {
            return Err(Reject::BadSignature);
        }
        let mut msg = message(&dg.msg);
        let fp = fingerprint(dg.cert);
        let verdict = match self.verdicts.get(&fp) {
            Some(v) => *v,
            None => {
                let v = self.trust.admit(dg.cert, now);
                if self.verdicts.len() > 4096 {
                    self.verdicts.clear(); // a flood of strangers
                }
                self.verdicts.insert(fp.clone(), v);
                v
            }
        };
        match (verdict, &mut msg) {
            (Ok(()), _) => (),
            (Err(why), Message::Join { refused, .. }) => {
                // Answered with the reason; not remembered (strangers do not
                // get to grow our tables).
                *refused = Some(why);
                return Ok((dg.header.sender, msg));
            }
            (Err(_), _) => return Err(Reject::Untrusted),
        }
        if !self.seen.entry(fp).or_default().fresh(dg.header.counter) {
            return Err(Reject::Replayed);
        }
        Ok((dg.header.sender, msg))
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
    use ipcluster_core::proto::Exit;

    fn endpoint(ca: &Pem, name: &str, revoked: &[String]) -> Endpoint {
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
        assert_eq!(b.open(&d, now), Ok((3, alive.clone())));
        // The same datagram again: a replay.
        assert_eq!(b.open(&d, now), Err(Reject::Replayed));
        // Any bit flipped: the signature fails (or the shape does).
        for i in 0..d.len() {
            let mut bad = d.clone();
            bad[i] ^= 0x20;
            assert!(b.open(&bad, now).is_err(), "byte {i}");
        }
        // Another cluster's.
        let mut other = endpoint(&ca, "c", &[]);
        other.cluster = 8;
        assert_eq!(
            b.open(&other.seal(1, &alive).unwrap(), now),
            Err(Reject::OtherCluster)
        );
        // A stranger's CA: its keepalives are ignored, its join refused.
        let rogue_ca = cert::new_ca("rogue").unwrap();
        let mut rogue = endpoint(&rogue_ca, "r", &[]);
        let fake = Message::Leave(Exit::OtherMasterExists);
        assert_eq!(
            b.open(&rogue.seal(1, &fake).unwrap(), now),
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
            b.open(&join, now),
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
            master.open(&join, now).unwrap().1,
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
        assert_eq!(master.open(&alive, now), Err(Reject::Untrusted));
    }

    #[test]
    fn messages_survive_the_wire() {
        let h = Header {
            sender: 2,
            cluster: 7,
            counter: 99,
        };
        let cert = b"certificate";
        for m in [
            Message::Join {
                refused: None,
                config: 1,
            },
            Message::Welcome {
                member: 3,
                config: 4,
            },
            Message::Refuse(Nak::NotListed),
            Message::Offer { members: 1 },
            Message::Object { members: 5 },
            Message::MasterAlive(Keepalive {
                config: 1,
                period: Duration::from_millis(50),
                misses: 3,
                version: 8,
                members: vec![(1, [1; 16]), (2, [2; 16])],
                owners: (0..1024).map(|b| (b % 2 + 1) as u16).collect(),
            }),
            Message::MemberAlive {
                seq: 5,
                table: 8,
                config: 1,
            },
            Message::Leave(Exit::StaleConfig),
        ] {
            let d = encode(&h, &m, cert).unwrap();
            let got = proto::decode(&d).unwrap();
            assert_eq!(got.header, h);
            assert_eq!(got.cert, cert);
            assert_eq!(message(&got.msg), m);
        }
    }
}
