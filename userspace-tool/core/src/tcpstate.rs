// SPDX-License-Identifier: GPL-2.0
//! The TCP failover state of one connection to a cluster address (patent
//! Fig. 7), as fixed little-endian records: what the kernel exports, the
//! owner's daemon replicates to every member, and the new owner of a dead
//! member's bucket restores the connection from.
//!
//! - [`Initial`], sent once: the addresses and ports, the MSS and the
//!   options size.
//! - [`Essential`], sent on each change: the flags, send next, the window
//!   update segment's sequence and acknowledgement numbers, the send
//!   window, receive next, the advertised receive window, both window
//!   scales and the recent timestamp — plus our own timestamp clock, so
//!   that the timestamps the client sees keep rising on the new owner.
//! - [`Closed`]: the connection is gone; forget it.
//! - [`Data`], in the output-commit mode only: bytes a segment carried,
//!   out (sent, perhaps not yet acknowledged) or in (received, perhaps not
//!   yet read by the application), so that the new owner can put them back
//!   into the send and receive queues.
//!
//! Everything else is calculable and never sent (Fig. 7's third part):
//! state ESTABLISHED, timers idle, `snd_una = snd_nxt`, `rcv_wup =
//! rcv_nxt`, the largest window seen = the send window, RTT estimates and
//! congestion window from scratch.
//!
//! A connection is named by a 64-bit id (a keyed hash of its addresses
//! and ports, the same on every member), so an update need not repeat the
//! addresses: 56 bytes each, within the goal of 64. `gen` rises with every update of a connection, so that a
//! replica can drop one that arrives after a newer one.
//!
//! ```text
//! Initial   0 kind 1   1 flags (bit 0: IPv6)   2 mss (u16)   4 options size (u8)
//!           5 reserved (3)   8 id (u64)  16 src (16)  32 dst (16)
//!          48 sport (u16)  50 dport (u16)  52 reserved (4)          = 56 bytes
//! Essential 0 kind 2   1 flags   2 snd_wscale (bits 0-3), FINs (bits 4-5)
//!           3 rcv_wscale   4 gen (u32)
//!           8 id (u64)  16 snd_nxt  20 snd_wl1  24 snd_wl2  28 snd_wnd
//!          32 rcv_nxt  36 rcv_wnd  40 ts_recent  44 ts_val
//!          48 copied  52 written (u32 each)                         = 56
//! Closed    0 kind 3   1 reserved (7)   8 id (u64)                  = 16
//! Data      0 kind 4   1 direction (0 in, 1 out)   2 reserved (2)
//!           4 length (u32)   8 id (u64)  16 seq (u32)  20 reserved (4)
//!          24 the bytes                                    = 24 + length
//! ```
//! IPv4 addresses are carried mapped into IPv6 (`::ffff:a.b.c.d`).

/// Bytes of an [`Initial`] record.
pub const INITIAL_LEN: usize = 56;
/// Bytes of an [`Essential`] record.
pub const ESSENTIAL_LEN: usize = 56;
/// Bytes of a [`Closed`] record.
pub const CLOSED_LEN: usize = 16;
/// Bytes of a [`Data`] record's head; its bytes follow.
pub const DATA_HEAD_LEN: usize = 24;
/// Most bytes one [`Data`] record carries. The kernel sends a segment's
/// records and its bytes in one netlink attribute, whose length is 16
/// bits (4 of them its header): a received segment's Data record fills it
/// at most. A sent segment's records take more room (see
/// `rust/export.rs`); the tail it cannot carry the daemon fetches from the
/// socket.
pub const DATA_MAX: u32 = u16::MAX as u32 - 4 - DATA_HEAD_LEN as u32;

const KIND_INITIAL: u8 = 1;
const KIND_ESSENTIAL: u8 = 2;
const KIND_CLOSED: u8 = 3;
const KIND_DATA: u8 = 4;

/// The essential flags (Fig. 7: no delay, no options, request and receive
/// window scaling, request and receive timestamps, permit selective ACK),
/// and whether the state is a handshake's (sent in our SYN-ACK, not yet
/// acknowledged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    /// TCP_NODELAY is set.
    pub const NODELAY: u8 = 1 << 0;
    /// The connection uses no TCP options at all.
    pub const NO_OPTIONS: u8 = 1 << 1;
    /// We asked for window scaling.
    pub const WSCALE_REQ: u8 = 1 << 2;
    /// The peer agreed to window scaling.
    pub const WSCALE_OK: u8 = 1 << 3;
    /// We asked for timestamps.
    pub const TS_REQ: u8 = 1 << 4;
    /// The peer agreed to timestamps.
    pub const TS_OK: u8 = 1 << 5;
    /// Selective ACKs are permitted.
    pub const SACK_OK: u8 = 1 << 6;
    /// The state of a connection in its handshake, as it will be once the
    /// client acknowledges our SYN-ACK (which the state is from).
    pub const HANDSHAKE: u8 = 1 << 7;

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

/// The FINs a connection's sequence numbers count (each takes one): a
/// half-closed or closing connection is restored from the numbers without
/// them ([`Essential::without_fins`]), and its FINs made again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fins(pub u8);

impl Fins {
    /// The peer's FIN was received: `rcv_nxt` is past it.
    pub const IN: u8 = 1 << 0;
    /// Ours was queued after everything written: `written` is past it,
    /// and `snd_nxt` once it was sent.
    pub const OUT: u8 = 1 << 1;
    const ALL: u8 = Self::IN | Self::OUT;

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

/// Sent once per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Initial {
    /// The exporter's name for the connection (its socket cookie).
    pub id: u64,
    /// The client's address (IPv4 mapped into IPv6).
    pub src: [u8; 16],
    /// The cluster address (IPv4 mapped into IPv6).
    pub dst: [u8; 16],
    /// The client's port.
    pub sport: u16,
    /// The cluster port.
    pub dport: u16,
    /// The maximum segment size.
    pub mss: u16,
    /// Bytes of TCP options in each segment (timestamps: 12).
    pub opts_len: u8,
    /// Whether the addresses are IPv6 (else mapped IPv4).
    pub v6: bool,
}

impl Initial {
    /// The flow the kernel hashes the connection's packets as (from the
    /// client to the cluster address): whoever holds the record finds the
    /// connection's bucket with the kernel's own hash.
    pub fn flow(&self) -> super::hash::Flow {
        let words = |a: &[u8; 16]| {
            let w = super::packet::addr_words(a);
            if self.v6 {
                w
            } else {
                [0, 0, 0, w[3]]
            }
        };
        super::hash::Flow {
            src: words(&self.src),
            dst: words(&self.dst),
            proto: super::hash::IPPROTO_TCP,
            sport: self.sport,
            dport: self.dport,
            ..super::hash::Flow::default()
        }
    }
}

/// Sent on each change of any of its fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Essential {
    /// The connection, as its [`Initial`] named it.
    pub id: u64,
    /// Rises with every update of this connection.
    pub gen: u32,
    /// The essential flags.
    pub flags: Flags,
    /// Our send window scale (the peer's advertised shift).
    pub snd_wscale: u8,
    /// The FINs the sequence numbers count.
    pub fins: Fins,
    /// Our receive window scale.
    pub rcv_wscale: u8,
    /// The next sequence number we send.
    pub snd_nxt: u32,
    /// Sequence number of the segment that last updated the send window.
    pub snd_wl1: u32,
    /// Acknowledgement number of that segment.
    pub snd_wl2: u32,
    /// The send window (unscaled bytes).
    pub snd_wnd: u32,
    /// The next sequence number we expect.
    pub rcv_nxt: u32,
    /// The receive window we advertised (unscaled bytes).
    pub rcv_wnd: u32,
    /// The peer's most recent timestamp, echoed in ours.
    pub ts_recent: u32,
    /// Our timestamp clock (the TSval we would send) at this update, as
    /// `getsockopt(TCP_TIMESTAMP)` reads it (low bit: microsecond clock);
    /// a restore sets it, plus the time since, with `TCP_TIMESTAMP`.
    pub ts_val: u32,
    /// The next byte the application reads (`copied_seq`): what lies
    /// between it and `rcv_nxt` is received but unread.
    pub copied: u32,
    /// The end of what the application wrote (`write_seq`): what lies
    /// between `snd_nxt` and it is written but not sent yet.
    pub written: u32,
}

/// The connection is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The connection.
    pub id: u64,
}

/// Which way a [`Data`] record's bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the client (the receive queue).
    In,
    /// To the client (the send queue).
    Out,
}

/// The head of bytes a segment carried; the record's bytes follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data {
    /// The connection.
    pub id: u64,
    /// Which way.
    pub dir: Dir,
    /// The sequence number of the first byte.
    pub seq: u32,
    /// How many bytes follow (at most [`DATA_MAX`]).
    pub len: u32,
}

/// One record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Sent once.
    Initial(Initial),
    /// Sent on each change.
    Essential(Essential),
    /// The end.
    Closed(Closed),
    /// Bytes (the head; the bytes follow it on the wire).
    Data(Data),
}

/// A record that cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the record needs.
    Truncated,
    /// An unknown kind, a window shift past 14, or reserved bytes not zero.
    Malformed,
}

fn put<const N: usize>(out: &mut [u8], at: usize, b: [u8; N]) {
    out[at..at + N].copy_from_slice(&b);
}

fn get<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(get(b, at))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(get(b, at))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(get(b, at))
}

impl Record {
    /// Bytes of this record on the wire.
    pub fn len(&self) -> usize {
        match self {
            Record::Initial(_) => INITIAL_LEN,
            Record::Essential(_) => ESSENTIAL_LEN,
            Record::Closed(_) => CLOSED_LEN,
            Record::Data(d) => DATA_HEAD_LEN + d.len as usize,
        }
    }

    /// Whether the record is empty (never: every record has its kind).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The connection the record is about.
    pub fn id(&self) -> u64 {
        match self {
            Record::Initial(i) => i.id,
            Record::Essential(e) => e.id,
            Record::Closed(c) => c.id,
            Record::Data(d) => d.id,
        }
    }

    /// Writes the record at the start of `out`; its length, or `None` if
    /// `out` is too short. Of a [`Data`] record only the head is written
    /// (and its length returned): its bytes are the caller's to append.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let n = match self {
            Record::Data(_) => DATA_HEAD_LEN,
            _ => self.len(),
        };
        let out = out.get_mut(..n)?;
        out.fill(0);
        match self {
            Record::Initial(i) => {
                out[0] = KIND_INITIAL;
                out[1] = u8::from(i.v6);
                put(out, 2, i.mss.to_le_bytes());
                out[4] = i.opts_len;
                put(out, 8, i.id.to_le_bytes());
                put(out, 16, i.src);
                put(out, 32, i.dst);
                put(out, 48, i.sport.to_le_bytes());
                put(out, 50, i.dport.to_le_bytes());
            }
            Record::Essential(e) => {
                out[0] = KIND_ESSENTIAL;
                out[1] = e.flags.0;
                out[2] = e.snd_wscale | (e.fins.0 << 4);
                out[3] = e.rcv_wscale;
                put(out, 4, e.gen.to_le_bytes());
                put(out, 8, e.id.to_le_bytes());
                let words = [
                    e.snd_nxt,
                    e.snd_wl1,
                    e.snd_wl2,
                    e.snd_wnd,
                    e.rcv_nxt,
                    e.rcv_wnd,
                    e.ts_recent,
                    e.ts_val,
                    e.copied,
                    e.written,
                ];
                for (k, w) in words.iter().enumerate() {
                    put(out, 16 + 4 * k, w.to_le_bytes());
                }
            }
            Record::Closed(c) => {
                out[0] = KIND_CLOSED;
                put(out, 8, c.id.to_le_bytes());
            }
            Record::Data(d) => {
                out[0] = KIND_DATA;
                out[1] = u8::from(d.dir == Dir::Out);
                put(out, 4, d.len.to_le_bytes());
                put(out, 8, d.id.to_le_bytes());
                put(out, 16, d.seq.to_le_bytes());
            }
        }
        Some(n)
    }

    /// Reads one record from the start of `b`; the record and its length
    /// (of a [`Data`] record: head and bytes, which are `b[DATA_HEAD_LEN..
    /// length]`). Never reads past `b`, whatever it holds.
    pub fn decode(b: &[u8]) -> Result<(Record, usize), Error> {
        let kind = *b.first().ok_or(Error::Truncated)?;
        let n = match kind {
            KIND_INITIAL => INITIAL_LEN,
            KIND_ESSENTIAL => ESSENTIAL_LEN,
            KIND_CLOSED => CLOSED_LEN,
            KIND_DATA => {
                let len = u32_at(b.get(..DATA_HEAD_LEN).ok_or(Error::Truncated)?, 4);
                if len > DATA_MAX {
                    return Err(Error::Malformed);
                }
                DATA_HEAD_LEN + len as usize
            }
            _ => return Err(Error::Malformed),
        };
        let b = b.get(..n).ok_or(Error::Truncated)?;
        let zero = |r: core::ops::Range<usize>| b[r].iter().all(|&x| x == 0);
        let r = match kind {
            KIND_INITIAL => {
                if b[1] > 1 || !zero(5..8) || !zero(52..56) {
                    return Err(Error::Malformed);
                }
                Record::Initial(Initial {
                    id: u64_at(b, 8),
                    src: get(b, 16),
                    dst: get(b, 32),
                    sport: u16_at(b, 48),
                    dport: u16_at(b, 50),
                    mss: u16_at(b, 2),
                    opts_len: b[4],
                    v6: b[1] == 1,
                })
            }
            KIND_ESSENTIAL => {
                // Window shifts above 14 do not exist (RFC 7323).
                let (snd_wscale, fins) = (b[2] & 0x0f, b[2] >> 4);
                if snd_wscale > 14 || b[3] > 14 || fins & !Fins::ALL != 0 {
                    return Err(Error::Malformed);
                }
                let w = |k: usize| u32_at(b, 16 + 4 * k);
                Record::Essential(Essential {
                    id: u64_at(b, 8),
                    gen: u32_at(b, 4),
                    flags: Flags(b[1]),
                    snd_wscale,
                    fins: Fins(fins),
                    rcv_wscale: b[3],
                    snd_nxt: w(0),
                    snd_wl1: w(1),
                    snd_wl2: w(2),
                    snd_wnd: w(3),
                    rcv_nxt: w(4),
                    rcv_wnd: w(5),
                    ts_recent: w(6),
                    ts_val: w(7),
                    copied: w(8),
                    written: w(9),
                })
            }
            KIND_DATA => {
                if b[1] > 1 || !zero(2..4) || !zero(20..24) {
                    return Err(Error::Malformed);
                }
                Record::Data(Data {
                    id: u64_at(b, 8),
                    dir: if b[1] == 1 { Dir::Out } else { Dir::In },
                    seq: u32_at(b, 16),
                    len: u32_at(b, 4),
                })
            }
            _ => {
                if !zero(1..8) {
                    return Err(Error::Malformed);
                }
                Record::Closed(Closed { id: u64_at(b, 8) })
            }
        };
        Ok((r, n))
    }
}

impl Essential {
    /// The state as if neither FIN had been sent or received, `fins`
    /// still saying which were: where a restore starts before it makes
    /// them again (the peer's received anew, ours queued after the bytes
    /// written).
    pub fn without_fins(self) -> Essential {
        let mut e = self;
        if e.fins.has(Fins::IN) {
            e.rcv_nxt = e.rcv_nxt.wrapping_sub(1);
            // An application that read the end of the stream moved
            // `copied` past the FIN too.
            e.copied = at_most(e.copied, e.rcv_nxt);
        }
        if e.fins.has(Fins::OUT) {
            e.written = e.written.wrapping_sub(1);
            e.snd_nxt = at_most(e.snd_nxt, e.written);
            e.snd_wl2 = at_most(e.snd_wl2, e.written);
        }
        e
    }
}

/// The name of the connection between `src`:`sport` (the client) and
/// `dst`:`dport` (the cluster address), the same on every member: a
/// connection restored on another member keeps it.
pub fn conn_id(src: &[u8; 16], dst: &[u8; 16], sport: u16, dport: u16) -> u64 {
    let mut m = [0u8; 36];
    m[..16].copy_from_slice(src);
    m[16..32].copy_from_slice(dst);
    m[32..34].copy_from_slice(&sport.to_le_bytes());
    m[34..].copy_from_slice(&dport.to_le_bytes());
    super::siphash::siphash24(&super::siphash::Key(*b"ipcluster tcp id"), &m)
}

/// How far `a` lies after `b`, negative before: sequence numbers and
/// generations wrap (serial number arithmetic, RFC 1982).
pub fn after(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// Sequence number `seq`, or `end` if `seq` lies after it.
pub fn at_most(seq: u32, end: u32) -> u32 {
    if after(seq, end) > 0 {
        end
    } else {
        seq
    }
}

/// Whether update `a` of a connection is newer than `b` (generations wrap).
pub fn newer(a: u32, b: u32) -> bool {
    after(a, b) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial() -> Initial {
        crate::fixtures::initial(0x0123_4567_89ab_cdef, 40000)
    }

    fn essential() -> Essential {
        Essential {
            id: 0x0123_4567_89ab_cdef,
            gen: 7,
            flags: Flags(Flags::NODELAY | Flags::TS_REQ | Flags::TS_OK | Flags::SACK_OK),
            snd_wscale: 7,
            fins: Fins(Fins::IN),
            rcv_wscale: 9,
            snd_nxt: 0xdead_beef,
            snd_wl1: 1000,
            snd_wl2: 0xdead_be00,
            snd_wnd: 64240,
            rcv_nxt: 1001,
            rcv_wnd: 65160,
            ts_recent: 123_456,
            ts_val: 0x8000_0000,
            copied: 990,
            written: 0xdead_f00d,
        }
    }

    fn all() -> [Record; 4] {
        [
            Record::Initial(initial()),
            Record::Essential(essential()),
            Record::Closed(Closed { id: 42 }),
            Record::Data(Data {
                id: 42,
                dir: Dir::Out,
                seq: 7,
                len: 8,
            }),
        ]
    }

    #[test]
    fn records_round_trip_at_their_sizes() {
        for r in all() {
            let mut buf = [0xaau8; 64];
            let head = r.encode(&mut buf).unwrap();
            let n = r.len();
            let want = if let Record::Data(_) = r {
                DATA_HEAD_LEN
            } else {
                n
            };
            assert_eq!(head, want);
            assert_eq!(Record::decode(&buf[..n]), Ok((r, n)));
            // Trailing bytes belong to the next record.
            assert_eq!(Record::decode(&buf), Ok((r, n)));
        }
        assert_eq!(ESSENTIAL_LEN, 56);
        const { assert!(ESSENTIAL_LEN <= 64) }; // the issue's goal per update
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let mut buf = [0u8; ESSENTIAL_LEN];
        Record::Essential(essential()).encode(&mut buf).unwrap();
        assert_eq!(buf[0], 2);
        assert_eq!(buf[2], 7 | 1 << 4);
        assert_eq!(&buf[4..8], &7u32.to_le_bytes());
        assert_eq!(&buf[8..16], &0x0123_4567_89ab_cdefu64.to_le_bytes());
        assert_eq!(&buf[16..20], &0xdead_beefu32.to_le_bytes());
        assert_eq!(&buf[44..48], &0x8000_0000u32.to_le_bytes());
        assert_eq!(&buf[48..52], &990u32.to_le_bytes());
        assert_eq!(&buf[52..56], &0xdead_f00du32.to_le_bytes());
        let d = Data {
            id: 5,
            dir: Dir::In,
            seq: 9,
            len: 3,
        };
        let mut buf = [0u8; DATA_HEAD_LEN + 3];
        assert_eq!(Record::Data(d).encode(&mut buf), Some(DATA_HEAD_LEN));
        buf[DATA_HEAD_LEN..].copy_from_slice(b"abc");
        assert_eq!(buf[0], 4);
        assert_eq!(&buf[4..8], &3u32.to_le_bytes());
        assert_eq!(&buf[16..20], &9u32.to_le_bytes());
        assert_eq!(
            Record::decode(&buf),
            Ok((Record::Data(d), DATA_HEAD_LEN + 3))
        );
        // A length beyond the most a record carries is refused, whatever
        // follows.
        buf[4..8].copy_from_slice(&(DATA_MAX + 1).to_le_bytes());
        assert_eq!(Record::decode(&buf), Err(Error::Malformed));
    }

    #[test]
    fn short_or_bad_records_are_refused() {
        for r in all() {
            let mut buf = [0u8; 64];
            let n = r.encode(&mut buf).unwrap();
            for cut in 0..n {
                assert_eq!(
                    Record::decode(&buf[..cut]),
                    Err(Error::Truncated),
                    "{r:?} at {cut}"
                );
            }
            assert_eq!(r.encode(&mut [0u8; 8]), None);
        }
        assert_eq!(Record::decode(&[0; 64]), Err(Error::Malformed));
        assert_eq!(Record::decode(&[9; 64]), Err(Error::Malformed));
        let mut buf = [0u8; 64];
        Record::Essential(essential()).encode(&mut buf).unwrap();
        let mut bad = buf;
        bad[2] = 15; // no such window shift
        assert_eq!(Record::decode(&bad), Err(Error::Malformed));
        bad[2] = 7 | 4 << 4; // no such FIN
        assert_eq!(Record::decode(&bad), Err(Error::Malformed));
        Record::Closed(Closed { id: 1 }).encode(&mut buf).unwrap();
        buf[3] = 1; // reserved
        assert_eq!(Record::decode(&buf), Err(Error::Malformed));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut buf = [0u8; 64];
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            buf[0] %= 5;
            if buf[0] == 4 {
                buf[4..8].copy_from_slice(&(x as u32 % 48).to_le_bytes());
            }
            let len = (x >> 8) as usize % 65;
            if let Ok((r, n)) = Record::decode(&buf[..len]) {
                let mut again = [0u8; 64];
                let head = r.encode(&mut again).unwrap();
                again[head..n].copy_from_slice(&buf[head..n]);
                assert_eq!(&again[..n], &buf[..n]);
            }
        }
    }

    #[test]
    fn connection_ids_depend_on_every_part_of_the_tuple() {
        let i = initial();
        let id = conn_id(&i.src, &i.dst, i.sport, i.dport);
        assert_eq!(id, conn_id(&i.src, &i.dst, i.sport, i.dport));
        assert_ne!(id, conn_id(&i.dst, &i.src, i.sport, i.dport));
        assert_ne!(id, conn_id(&i.src, &i.dst, i.dport, i.sport));
        assert_ne!(id, conn_id(&i.src, &i.dst, i.sport + 1, i.dport));
    }

    #[test]
    fn flows_hash_as_the_kernel_sees_them() {
        let f = initial().flow();
        assert_eq!(f.src, [0, 0, 0, 0xc000_0202]);
        assert_eq!(f.dst, [0, 0, 0, 0xc000_0264]);
        assert_eq!((f.sport, f.dport, f.proto), (40000, 7000, 6));
        assert!(!f.forwarded && f.l2tp.is_none());
    }

    #[test]
    fn a_restore_starts_from_the_numbers_without_fins() {
        let e = Essential {
            snd_nxt: 108,
            snd_wl2: 108,
            written: 108,
            rcv_nxt: 51,
            copied: 51,
            ..Essential::default()
        };
        assert_eq!(e.without_fins(), e);
        // The peer's FIN received and read: rcv_nxt and copied before it.
        let got = Essential {
            fins: Fins(Fins::IN),
            ..e
        }
        .without_fins();
        assert_eq!((got.rcv_nxt, got.copied), (50, 50));
        assert_eq!(got.fins, Fins(Fins::IN));
        // Ours sent and acknowledged: everything ends at the last byte.
        let got = Essential {
            fins: Fins(Fins::OUT),
            ..e
        }
        .without_fins();
        assert_eq!((got.snd_nxt, got.snd_wl2, got.written), (107, 107, 107));
        // Ours queued behind bytes not sent yet: only written moves.
        let got = Essential {
            fins: Fins(Fins::OUT),
            snd_nxt: 100,
            snd_wl2: 90,
            ..e
        }
        .without_fins();
        assert_eq!((got.snd_nxt, got.snd_wl2, got.written), (100, 90, 107));
    }

    #[test]
    fn generations_wrap() {
        assert!(newer(2, 1));
        assert!(!newer(1, 2));
        assert!(!newer(5, 5));
        assert!(newer(0, u32::MAX));
        assert_eq!(after(3, u32::MAX), 4);
        assert_eq!(after(u32::MAX, 3), -4);
        assert_eq!(after(7, 7), 0);
    }
}
