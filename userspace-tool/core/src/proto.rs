// SPDX-License-Identifier: GPL-2.0
//! The membership protocol's wire format (patent Figs. 6 and 8A–8H): one
//! UDP datagram per message on the cluster link, either signed by its
//! sender or sealed with a key its sender shares with its one recipient
//! ([`sealed`]).
//!
//! A signed datagram:
//!
//! ```text
//!  0  magic "IPCM"          4  version (3)     5  kind
//!  6  sender member id (u16, NO_MEMBER before it has one)
//!  8  cluster id (u32)     12  replay counter (u64, strictly increasing
//!                              per sender key)
//! 20  body length (u16)    22  certificate length (u16)
//! 24  body, then the sender's certificate (DER), then a 64-byte signature
//! ```
//!
//! All integers are big-endian. Every signed message carries its sender's
//! certificate, so any host can check it on its own; the signature
//! (Ed25519, by the certificate's key) covers everything before it. Only
//! what cannot wait for a shared key is signed: joins and their answers
//! to strangers, the master's multicast keepalive, elections, and the
//! [`Msg::Hello`] that agrees a key; [`sealed_only`] kinds travel sealed. Checking certificate, signature and counter is the daemon's job:
//! [`decode`] only checks the shape, and never panics or reads out of
//! bounds whatever the input.

pub mod sealed;

/// The first four bytes of every message.
pub const MAGIC: [u8; 4] = *b"IPCM";
/// The protocol version this code speaks.
pub const VERSION: u8 = 3;
/// Bytes before the body.
pub const HEADER_LEN: usize = 24;
/// Largest certificate.
pub const MAX_CERT: usize = 2048;
/// Bytes of the trailing signature.
pub const SIG_LEN: usize = 64;
/// The sender id of a host that has no member id yet.
pub const NO_MEMBER: u16 = u16::MAX;
/// Bytes of an X25519 public key.
pub const KEY_LEN: usize = 32;
/// Largest body: a whole bucket table of 4096 buckets plus its members.
pub const MAX_BODY: usize = 12 * 1024;
/// Most members a master keepalive lists.
pub const MAX_MEMBERS: usize = 256;

/// What went wrong decoding (or encoding) a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the message needs.
    Truncated,
    /// Not an ipcluster message, or another protocol version.
    NotOurs,
    /// An unknown message kind.
    UnknownKind(u8),
    /// A field out of its range, or bytes left over.
    Malformed,
    /// The output buffer is too small.
    NoRoom,
}

/// Why a master refuses a join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Nak {
    /// The certificate is not one the cluster's CA issued, or is unreadable.
    BadCertificate = 1,
    /// Issued, but not on this cluster's member list.
    NotListed = 2,
    /// Revoked.
    Revoked = 3,
    /// Applications are still deciding on another join; try again.
    InProgress = 4,
    /// An application vetoed the join.
    Vetoed = 5,
    /// No member id left.
    Full = 6,
    /// Its certificate names a member id another host holds.
    IdTaken = 7,
}

impl Nak {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Nak::BadCertificate,
            2 => Nak::NotListed,
            3 => Nak::Revoked,
            4 => Nak::InProgress,
            5 => Nak::Vetoed,
            6 => Nak::Full,
            7 => Nak::IdTaken,
            _ => return None,
        })
    }
}

/// Why a member is told to leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The master does not know it (it was declared dead, or never joined).
    NotAMember = 1,
    /// Its configuration version is stale.
    StaleConfig = 2,
    /// Another master won the tie-break; rejoin.
    OtherMasterExists = 3,
}

impl Exit {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Exit::NotAMember,
            2 => Exit::StaleConfig,
            3 => Exit::OtherMasterExists,
            _ => return None,
        })
    }
}

/// One member in a master keepalive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its member id.
    pub id: u16,
    /// Its address on the cluster link (IPv4 mapped into IPv6).
    pub addr: [u8; 16],
}

const MEMBER_LEN: usize = 18;

/// A list of members as it sits in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Members<'a>(&'a [u8]);

impl<'a> Members<'a> {
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len() / MEMBER_LEN
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members, in message order.
    pub fn iter(&self) -> impl Iterator<Item = Member> + 'a {
        self.0.chunks_exact(MEMBER_LEN).map(|c| {
            let mut addr = [0u8; 16];
            addr.copy_from_slice(&c[2..]);
            Member {
                id: u16::from_be_bytes([c[0], c[1]]),
                addr,
            }
        })
    }
}

/// A bucket table as it sits in a message: one big-endian u16 owner per
/// bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owners<'a>(&'a [u8]);

impl<'a> Owners<'a> {
    /// Buckets in the table.
    pub fn len(&self) -> usize {
        self.0.len() / 2
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The owners, bucket by bucket.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.0
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
}

/// A message body. Variable parts borrow from the datagram when decoded;
/// when encoding, [`Msg::MasterAlive`] takes them from [`MasterAlive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg<'a> {
    /// A host asks to join (its certificate is checked for admission).
    Join {
        /// The joiner's configuration version.
        config: u32,
    },
    /// The master admits a joiner: its member id and the configuration
    /// version.
    Welcome {
        /// The joiner's member id.
        member: u16,
        /// The cluster configuration version.
        config: u32,
    },
    /// The master refuses a joiner.
    Refuse {
        /// Why.
        why: Nak,
    },
    /// No master answered: the sender offers to become master.
    Offer {
        /// Members the sender would bring (itself included).
        members: u16,
    },
    /// An objection to an offer: the sender is (or is becoming) master.
    Object {
        /// Members in the sender's cluster.
        members: u16,
    },
    /// The master's keepalive.
    MasterAlive(MasterAlive<'a>),
    /// A member's keepalive.
    MemberAlive {
        /// Increases by one per keepalive; gaps are losses.
        seq: u32,
        /// The table version this member has installed.
        table: u32,
        /// The member's configuration version.
        config: u32,
    },
    /// Leave the cluster (and, usually, rejoin).
    Leave {
        /// Why.
        why: Exit,
    },
    /// TCP failover state of the sender's connections (`tcpstate`
    /// records, back to back).
    TcpState {
        /// The sender's count of these messages: a receiver acknowledges
        /// it (output-commit mode).
        seq: u64,
        /// The records.
        records: &'a [u8],
    },
    /// The receiver holds these `TcpState` messages of the sender.
    TcpAck {
        /// Their numbers, as the messages said (u64 each, big-endian).
        seqs: &'a [u8],
        /// The connections of those messages it did not keep, for want of
        /// room in its store (ids, u64 each, big-endian): it holds the
        /// messages but not them. On the wire only when there are any.
        unkept: &'a [u8],
    },
    /// One half of a key agreement with one peer, for one port.
    Hello(Hello),
}

/// A key agreement's half: the sender's fresh X25519 key for one
/// recipient on one port, and the recipient's key it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The UDP port the session is for.
    pub port: u16,
    /// The recipient's link address (IPv4 mapped into IPv6).
    pub to: [u8; 16],
    /// The sender's ephemeral public key.
    pub key: [u8; KEY_LEN],
    /// The recipient's ephemeral key this answers; zero in a first Hello.
    pub echo: [u8; KEY_LEN],
}

/// The master's keepalive: the cluster as the master sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterAlive<'a> {
    /// Configuration version.
    pub config: u32,
    /// Keepalive period, milliseconds.
    pub period_ms: u16,
    /// The adaptive interval: keepalives that may go missing in a row
    /// before the watchdogs declare death.
    pub misses: u8,
    /// Table version; members acknowledge it in their keepalives.
    pub table_version: u32,
    /// The members, the master first.
    pub members: Members<'a>,
    /// The bucket table.
    pub owners: Owners<'a>,
}

impl<'a> MasterAlive<'a> {
    /// Builds one from plain data, for encoding: `members` must hold
    /// 18-byte records ([`encode_members`]) and `owners` 2-byte owners
    /// ([`encode_owners`]).
    pub fn new(
        config: u32,
        (period_ms, misses): (u16, u8),
        table_version: u32,
        members: &'a [u8],
        owners: &'a [u8],
    ) -> Self {
        MasterAlive {
            config,
            period_ms,
            misses,
            table_version,
            members: Members(members),
            owners: Owners(owners),
        }
    }
}

/// Writes `members` as records into `out`; how many bytes.
pub fn encode_members(members: &[Member], out: &mut [u8]) -> Result<usize, Error> {
    let n = members.len() * MEMBER_LEN;
    let out = out.get_mut(..n).ok_or(Error::NoRoom)?;
    for (m, o) in members.iter().zip(out.chunks_exact_mut(MEMBER_LEN)) {
        o[..2].copy_from_slice(&m.id.to_be_bytes());
        o[2..].copy_from_slice(&m.addr);
    }
    Ok(n)
}

/// Writes a bucket table into `out`; how many bytes.
pub fn encode_owners(owners: &[u16], out: &mut [u8]) -> Result<usize, Error> {
    let n = owners.len() * 2;
    let out = out.get_mut(..n).ok_or(Error::NoRoom)?;
    for (o, b) in owners.iter().zip(out.chunks_exact_mut(2)) {
        b.copy_from_slice(&o.to_be_bytes());
    }
    Ok(n)
}

/// The fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The sender's member id ([`NO_MEMBER`] before it has one).
    pub sender: u16,
    /// The cluster the message is for.
    pub cluster: u32,
    /// The sender's replay counter.
    pub counter: u64,
}

/// A decoded datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// The header.
    pub header: Header,
    /// The body.
    pub msg: Msg<'a>,
    /// The sender's certificate, DER.
    pub cert: &'a [u8],
    /// The bytes the signature covers.
    pub signed: &'a [u8],
    /// The signature.
    pub sig: &'a [u8; SIG_LEN],
}

/// Message kinds, as byte 5 of a datagram has them.
pub mod kind {
    #![expect(missing_docs, reason = "named as the messages they carry")]
    pub const JOIN: u8 = 1;
    pub const WELCOME: u8 = 2;
    pub const REFUSE: u8 = 3;
    pub const OFFER: u8 = 4;
    pub const OBJECT: u8 = 5;
    pub const MASTER_ALIVE: u8 = 6;
    pub const MEMBER_ALIVE: u8 = 7;
    pub const LEAVE: u8 = 8;
    pub const TCP_STATE: u8 = 9;
    pub const TCP_ACK: u8 = 10;
    pub const HELLO: u8 = 11;
    /// Set in a sealed datagram's kind byte.
    pub const SEALED: u8 = 0x80;
}

/// Whether messages of `kind` may only travel sealed: those sent to one
/// member that already shares a key with the sender.
pub fn sealed_only(kind: u8) -> bool {
    matches!(
        kind,
        kind::WELCOME | kind::MEMBER_ALIVE | kind::LEAVE | kind::TCP_STATE | kind::TCP_ACK
    )
}

/// Writes bytes at a cursor, failing when `out` is full.
struct Put<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Put<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), Error> {
        let end = self.at.checked_add(b.len()).ok_or(Error::NoRoom)?;
        self.out
            .get_mut(self.at..end)
            .ok_or(Error::NoRoom)?
            .copy_from_slice(b);
        self.at = end;
        Ok(())
    }

    /// A u16 length, then the bytes.
    fn blob(&mut self, b: &[u8]) -> Result<(), Error> {
        let len = u16::try_from(b.len()).map_err(|_| Error::Malformed)?;
        self.bytes(&len.to_be_bytes())?;
        self.bytes(b)
    }
}

/// Encodes `msg` from `header`, with the sender's certificate `cert`, into
/// `out`, leaving the signature's 64 bytes zero; returns the whole length.
/// The caller signs `out[..len - SIG_LEN]` and writes the signature into
/// the last 64 bytes.
pub fn encode(header: &Header, msg: &Msg<'_>, cert: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    if cert.len() > MAX_CERT {
        return Err(Error::Malformed);
    }
    let mut p = Put {
        out,
        at: HEADER_LEN,
    };
    let k = put_body(&mut p, msg)?;
    let body = p.at - HEADER_LEN;
    if body > MAX_BODY {
        return Err(Error::Malformed);
    }
    p.bytes(cert)?;
    p.bytes(&[0; SIG_LEN])?;
    let len = p.at;
    let mut h = Put { out: p.out, at: 0 };
    h.bytes(&MAGIC)?;
    h.bytes(&[VERSION, k])?;
    h.bytes(&header.sender.to_be_bytes())?;
    h.bytes(&header.cluster.to_be_bytes())?;
    h.bytes(&header.counter.to_be_bytes())?;
    h.bytes(&(body as u16).to_be_bytes())?;
    h.bytes(&(cert.len() as u16).to_be_bytes())?;
    Ok(len)
}

/// Encodes the body of `msg` alone into `out`: its kind and length.
pub fn encode_body(msg: &Msg<'_>, out: &mut [u8]) -> Result<(u8, usize), Error> {
    let mut p = Put { out, at: 0 };
    let k = put_body(&mut p, msg)?;
    if p.at > MAX_BODY {
        return Err(Error::Malformed);
    }
    Ok((k, p.at))
}

/// Writes the body of `msg` at `p`; its kind.
fn put_body(p: &mut Put<'_>, msg: &Msg<'_>) -> Result<u8, Error> {
    Ok(match msg {
        Msg::Join { config } => {
            p.bytes(&config.to_be_bytes())?;
            kind::JOIN
        }
        Msg::Welcome { member, config } => {
            p.bytes(&member.to_be_bytes())?;
            p.bytes(&config.to_be_bytes())?;
            kind::WELCOME
        }
        Msg::Refuse { why } => {
            p.bytes(&[*why as u8])?;
            kind::REFUSE
        }
        Msg::Offer { members } => {
            p.bytes(&members.to_be_bytes())?;
            kind::OFFER
        }
        Msg::Object { members } => {
            p.bytes(&members.to_be_bytes())?;
            kind::OBJECT
        }
        Msg::MasterAlive(m) => {
            if m.members.0.len() % MEMBER_LEN != 0
                || m.members.len() > MAX_MEMBERS
                || m.owners.0.len() % 2 != 0
            {
                return Err(Error::Malformed);
            }
            p.bytes(&m.config.to_be_bytes())?;
            p.bytes(&m.period_ms.to_be_bytes())?;
            p.bytes(&[m.misses])?;
            p.bytes(&m.table_version.to_be_bytes())?;
            p.blob(m.members.0)?;
            p.blob(m.owners.0)?;
            kind::MASTER_ALIVE
        }
        Msg::MemberAlive { seq, table, config } => {
            p.bytes(&seq.to_be_bytes())?;
            p.bytes(&table.to_be_bytes())?;
            p.bytes(&config.to_be_bytes())?;
            kind::MEMBER_ALIVE
        }
        Msg::Leave { why } => {
            p.bytes(&[*why as u8])?;
            kind::LEAVE
        }
        Msg::TcpState { seq, records } => {
            p.bytes(&seq.to_be_bytes())?;
            p.blob(records)?;
            kind::TCP_STATE
        }
        Msg::TcpAck { seqs, unkept } => {
            if seqs.len() % 8 != 0 || unkept.len() % 8 != 0 {
                return Err(Error::Malformed);
            }
            p.blob(seqs)?;
            if !unkept.is_empty() {
                p.blob(unkept)?;
            }
            kind::TCP_ACK
        }
        Msg::Hello(h) => {
            p.bytes(&h.port.to_be_bytes())?;
            p.bytes(&h.to)?;
            p.bytes(&h.key)?;
            p.bytes(&h.echo)?;
            kind::HELLO
        }
    })
}

/// Reads fields off a body, failing on truncation.
struct Get<'a> {
    b: &'a [u8],
}

impl<'a> Get<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.b.len() < n {
            return Err(Error::Truncated);
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn blob(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Decodes a datagram. Checks its shape only: not the signature, not the
/// counter, not whether the cluster is ours.
pub fn decode(d: &[u8]) -> Result<Datagram<'_>, Error> {
    let mut g = Get { b: d };
    if g.take(4).map_err(|_| Error::NotOurs)? != MAGIC {
        return Err(Error::NotOurs);
    }
    if g.u8()? != VERSION {
        return Err(Error::NotOurs);
    }
    let k = g.u8()?;
    let header = Header {
        sender: g.u16()?,
        cluster: g.u32()?,
        counter: g.u64()?,
    };
    let body_len = usize::from(g.u16()?);
    let cert_len = usize::from(g.u16()?);
    if body_len > MAX_BODY || cert_len > MAX_CERT {
        return Err(Error::Malformed);
    }
    let body = g.take(body_len)?;
    let cert = g.take(cert_len)?;
    let sig: &[u8; SIG_LEN] = g.take(SIG_LEN)?.try_into().map_err(|_| Error::Truncated)?;
    if !g.b.is_empty() {
        return Err(Error::Malformed);
    }
    let msg = decode_body(k, body)?;
    Ok(Datagram {
        header,
        msg,
        cert,
        signed: &d[..HEADER_LEN + body_len + cert_len],
        sig,
    })
}

/// Decodes the body of a message of kind `k`; every byte must belong to
/// it.
pub fn decode_body(k: u8, body: &[u8]) -> Result<Msg<'_>, Error> {
    let mut body = Get { b: body };
    let b = &mut body;
    let msg = match k {
        kind::JOIN => Msg::Join { config: b.u32()? },
        kind::WELCOME => Msg::Welcome {
            member: b.u16()?,
            config: b.u32()?,
        },
        kind::REFUSE => Msg::Refuse {
            why: Nak::from_u8(b.u8()?).ok_or(Error::Malformed)?,
        },
        kind::OFFER => Msg::Offer { members: b.u16()? },
        kind::OBJECT => Msg::Object { members: b.u16()? },
        kind::MASTER_ALIVE => {
            let config = b.u32()?;
            let timing = (b.u16()?, b.u8()?);
            let table_version = b.u32()?;
            let members = b.blob()?;
            let owners = b.blob()?;
            if members.len() % MEMBER_LEN != 0
                || members.len() / MEMBER_LEN > MAX_MEMBERS
                || owners.len() % 2 != 0
            {
                return Err(Error::Malformed);
            }
            Msg::MasterAlive(MasterAlive::new(
                config,
                timing,
                table_version,
                members,
                owners,
            ))
        }
        kind::MEMBER_ALIVE => Msg::MemberAlive {
            seq: b.u32()?,
            table: b.u32()?,
            config: b.u32()?,
        },
        kind::LEAVE => Msg::Leave {
            why: Exit::from_u8(b.u8()?).ok_or(Error::Malformed)?,
        },
        kind::TCP_STATE => Msg::TcpState {
            seq: b.u64()?,
            records: b.blob()?,
        },
        kind::TCP_ACK => {
            let seqs = b.blob()?;
            let unkept = if b.b.is_empty() { &[][..] } else { b.blob()? };
            if seqs.len() % 8 != 0 || unkept.len() % 8 != 0 {
                return Err(Error::Malformed);
            }
            Msg::TcpAck { seqs, unkept }
        }
        kind::HELLO => Msg::Hello(Hello {
            port: b.u16()?,
            to: b.array()?,
            key: b.array()?,
            echo: b.array()?,
        }),
        other => return Err(Error::UnknownKind(other)),
    };
    if !body.b.is_empty() {
        return Err(Error::Malformed);
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const H: Header = Header {
        sender: 3,
        cluster: 0xc1,
        counter: 0x0102_0304_0506_0708,
    };

    fn round_trip(msg: Msg<'_>) {
        let mut buf = [0u8; 4096];
        let cert = [7u8; 300];
        let n = encode(&H, &msg, &cert, &mut buf).unwrap();
        buf[n - SIG_LEN..n].copy_from_slice(&[0xaa; SIG_LEN]);
        let d = decode(&buf[..n]).unwrap();
        assert_eq!(d.header, H);
        assert_eq!(d.msg, msg);
        assert_eq!(d.cert, &cert);
        assert_eq!(d.signed, &buf[..n - SIG_LEN]);
        assert_eq!(d.sig, &[0xaa; SIG_LEN]);
        // Every truncation fails cleanly, as does a trailing byte.
        for cut in 0..n {
            assert!(decode(&buf[..cut]).is_err(), "{msg:?} cut at {cut}");
        }
        assert_eq!(decode(&buf[..n + 1]), Err(Error::Malformed));
        // Too small an output buffer is refused, never overrun.
        for room in 0..n {
            assert_eq!(
                encode(&H, &msg, &cert, &mut buf[..room]),
                Err(Error::NoRoom)
            );
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let members = [
            Member {
                id: 1,
                addr: [9; 16],
            },
            Member {
                id: 2,
                addr: [8; 16],
            },
        ];
        let mut mb = [0u8; 64];
        let ml = encode_members(&members, &mut mb).unwrap();
        let owners = [1u16, 2, 1, 0xffff];
        let mut ob = [0u8; 8];
        encode_owners(&owners, &mut ob).unwrap();
        let alive = MasterAlive::new(5, (50, 3), 9, &mb[..ml], &ob);
        assert_eq!(alive.members.iter().collect::<Vec<_>>(), members);
        assert!(alive.owners.iter().eq(owners));
        for msg in [
            Msg::Join { config: 3 },
            Msg::Welcome {
                member: 4,
                config: 2,
            },
            Msg::Refuse { why: Nak::Revoked },
            Msg::Offer { members: 1 },
            Msg::Object { members: 3 },
            Msg::MasterAlive(alive),
            Msg::MemberAlive {
                seq: 77,
                table: 9,
                config: 3,
            },
            Msg::Leave {
                why: Exit::OtherMasterExists,
            },
            Msg::TcpState {
                seq: 1 << 40,
                records: &[1, 2, 3, 4],
            },
            Msg::TcpAck {
                seqs: &[0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9],
                unkept: &[],
            },
            Msg::TcpAck {
                seqs: &[0, 0, 0, 0, 0, 0, 0, 7],
                unkept: &[0, 0, 0, 0, 0, 0, 1, 2],
            },
            Msg::Hello(Hello {
                port: 7401,
                to: [5; 16],
                key: [6; KEY_LEN],
                echo: [0; KEY_LEN],
            }),
        ] {
            round_trip(msg);
            let mut body = [0u8; 256];
            if let Ok((k, n)) = encode_body(&msg, &mut body) {
                assert_eq!(decode_body(k, &body[..n]), Ok(msg));
            }
        }
    }

    #[test]
    fn foreign_and_bad_input() {
        let mut buf = [0u8; 256];
        let n = encode(&H, &Msg::Offer { members: 1 }, b"c", &mut buf).unwrap();
        let mut bad = buf;
        bad[0] = b'X';
        assert_eq!(decode(&bad[..n]), Err(Error::NotOurs));
        let mut bad = buf;
        bad[4] = 1;
        assert_eq!(decode(&bad[..n]), Err(Error::NotOurs), "version 1");
        let mut bad = buf;
        bad[5] = 99;
        assert_eq!(decode(&bad[..n]), Err(Error::UnknownKind(99)));
        // A body length pointing past the end.
        let mut bad = buf;
        bad[21] = 40;
        assert_eq!(decode(&bad[..n]), Err(Error::Truncated));
        let mut bad = buf;
        bad[22] = 0x10; // a certificate over MAX_CERT
        assert_eq!(decode(&bad[..n]), Err(Error::Malformed));
        assert_eq!(
            encode(
                &H,
                &Msg::Join { config: 1 },
                &[0; MAX_CERT + 1],
                &mut [0; 4096]
            ),
            Err(Error::Malformed)
        );
        // Unknown reasons.
        let n = encode(&H, &Msg::Refuse { why: Nak::Vetoed }, b"", &mut buf).unwrap();
        buf[HEADER_LEN] = 0;
        assert_eq!(decode(&buf[..n]), Err(Error::Malformed));
        let n = encode(
            &H,
            &Msg::Leave {
                why: Exit::NotAMember,
            },
            b"",
            &mut buf,
        )
        .unwrap();
        buf[HEADER_LEN] = 9;
        assert_eq!(decode(&buf[..n]), Err(Error::Malformed));
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift: deterministic, no dependencies.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = [0u8; 600];
        for round in 0..20_000 {
            let len = (round % buf.len()) + 1;
            for b in buf.iter_mut().take(len) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            // Valid headers now and then, so bodies get exercised too.
            if round % 3 == 0 && len > HEADER_LEN {
                buf[..4].copy_from_slice(&MAGIC);
                buf[4] = VERSION;
                buf[5] = (x % 9) as u8;
                let body = (len.saturating_sub(HEADER_LEN + SIG_LEN)) as u16;
                buf[20..22].copy_from_slice(&body.to_be_bytes());
                buf[22..24].copy_from_slice(&[0, 0]);
            }
            let _ = decode(&buf[..len]);
        }
    }
}
