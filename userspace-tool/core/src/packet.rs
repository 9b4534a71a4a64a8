// SPDX-License-Identifier: GPL-2.0
//! From packet bytes to the [`Flow`] the hash looks at.
//!
//! The parser never trusts a length: every read goes through [`Bytes`],
//! which answers `None` past the end, and a packet whose headers do not fit
//! is [`Malformed`]. The kernel implements [`Bytes`] over an skb
//! (`skb_header_pointer`); the tests over plain slices.
//!
//! Besides the hash inputs of [`crate::hash`], two refinements keep flows
//! whole: an ICMP error is hashed as the flow it reports on (so a "packet
//! too big" reaches the member that owns the connection), and L2TP's tunnel
//! and session IDs are read from UDP port 1701.

use super::hash::{Flow, L2tp, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// UDP port of L2TP.
pub const L2TP_PORT: u16 = 1701;

/// Random access to a packet's bytes, from its network header on.
pub trait Bytes {
    /// `N` bytes at offset `off`, or `None` if the packet is shorter.
    fn read<const N: usize>(&self, off: usize) -> Option<[u8; N]>;
}

impl Bytes for [u8] {
    fn read<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        self.get(off..off.checked_add(N)?)?.try_into().ok()
    }
}

/// The headers do not fit in the packet, or contradict themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// What the network header says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L3 {
    /// Source address (IPv4 as `[0, 0, 0, a]`).
    pub src: [u32; 4],
    /// Destination address.
    pub dst: [u32; 4],
    /// Upper-layer protocol, after any IPv6 extension headers.
    pub proto: u8,
    /// Offset of the upper-layer header.
    pub l4: usize,
    /// A fragment other than the first: no upper-layer header here.
    pub later_fragment: bool,
    /// Any fragment, the first too: a flow only once reassembled.
    pub fragment: bool,
    /// The packet's length as its header gives it (IPv4 total length,
    /// IPv6 40 + payload length); a frame may carry padding beyond it.
    pub len: usize,
}

/// A parsed packet: its flow, and whether it opens a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The hash inputs.
    pub flow: Flow,
    /// A TCP SYN without ACK.
    pub syn: bool,
}

fn be32(b: [u8; 4]) -> u32 {
    u32::from_be_bytes(b)
}

/// An IPv6 address's bytes as the four words [`Flow`] uses.
pub fn addr_words(b: &[u8; 16]) -> [u32; 4] {
    core::array::from_fn(|i| be32([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]))
}

/// The four words of [`Flow`] back to an IPv6 address's bytes.
pub fn addr_bytes(w: &[u32; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (i, x) in w.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    b
}

fn v6addr<P: Bytes + ?Sized>(p: &P, off: usize) -> Option<[u32; 4]> {
    Some(addr_words(&p.read(off)?))
}

/// Parses an IPv4 header at offset `off`.
pub fn ipv4<P: Bytes + ?Sized>(p: &P, off: usize) -> Result<L3, Malformed> {
    let h: [u8; 20] = p.read(off).ok_or(Malformed)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || ihl < 20 {
        return Err(Malformed);
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    Ok(L3 {
        src: [0, 0, 0, be32([h[12], h[13], h[14], h[15]])],
        dst: [0, 0, 0, be32([h[16], h[17], h[18], h[19]])],
        proto: h[9],
        l4: off + ihl,
        later_fragment: frag & 0x1fff != 0,
        fragment: frag & 0x3fff != 0, // more fragments, or an offset
        len: usize::from(u16::from_be_bytes([h[2], h[3]])),
    })
}

/// Most IPv6 extension headers walked before giving up.
const MAX_EXT_HEADERS: usize = 8;

/// Parses an IPv6 header and its extension headers at offset `off`.
pub fn ipv6<P: Bytes + ?Sized>(p: &P, off: usize) -> Result<L3, Malformed> {
    let h: [u8; 8] = p.read(off).ok_or(Malformed)?;
    if h[0] >> 4 != 6 {
        return Err(Malformed);
    }
    let mut l3 = L3 {
        src: v6addr(p, off + 8).ok_or(Malformed)?,
        dst: v6addr(p, off + 24).ok_or(Malformed)?,
        proto: h[6],
        l4: off + 40,
        later_fragment: false,
        fragment: false,
        len: 40 + usize::from(u16::from_be_bytes([h[4], h[5]])),
    };
    for _ in 0..MAX_EXT_HEADERS {
        let len = match l3.proto {
            // Hop-by-hop, routing, destination options: 8-octet units.
            0 | 43 | 60 => {
                let e: [u8; 2] = p.read(l3.l4).ok_or(Malformed)?;
                (usize::from(e[1]) + 1) * 8
            }
            // Authentication header: 4-octet units.
            51 => {
                let e: [u8; 2] = p.read(l3.l4).ok_or(Malformed)?;
                (usize::from(e[1]) + 2) * 4
            }
            44 => {
                let e: [u8; 4] = p.read(l3.l4).ok_or(Malformed)?;
                if u16::from_be_bytes([e[2], e[3]]) & 0xfff8 != 0 {
                    l3.later_fragment = true;
                }
                l3.fragment = true;
                8
            }
            _ => return Ok(l3),
        };
        let e: [u8; 1] = p.read(l3.l4).ok_or(Malformed)?;
        l3.proto = e[0];
        l3.l4 += len;
    }
    Err(Malformed)
}

fn is_icmp_error(proto: u8, typ: u8) -> bool {
    match proto {
        // Destination unreachable, source quench, redirect, time exceeded,
        // parameter problem.
        IPPROTO_ICMP => matches!(typ, 3 | 4 | 5 | 11 | 12),
        // Destination unreachable, packet too big, time exceeded, parameter
        // problem.
        IPPROTO_ICMPV6 => (1..=4).contains(&typ),
        _ => false,
    }
}

fn l2tp<P: Bytes + ?Sized>(p: &P, off: usize) -> Result<L2tp, Malformed> {
    let h: [u8; 2] = p.read(off).ok_or(Malformed)?;
    match h[1] & 0x0f {
        2 => {
            // L2TPv2: the optional length field shifts the IDs.
            let at = off + if h[0] & 0x40 != 0 { 4 } else { 2 };
            let ids: [u8; 4] = p.read(at).ok_or(Malformed)?;
            Ok(L2tp {
                tunnel: u32::from(u16::from_be_bytes([ids[0], ids[1]])),
                session: u32::from(u16::from_be_bytes([ids[2], ids[3]])),
            })
        }
        3 => {
            // L2TPv3 over UDP: a data message carries its session ID, a
            // control message (T bit) its control connection ID.
            if h[0] & 0x80 != 0 {
                let c: [u8; 4] = p.read(off + 4).ok_or(Malformed)?;
                Ok(L2tp {
                    tunnel: be32(c),
                    session: 0,
                })
            } else {
                let s: [u8; 4] = p.read(off + 4).ok_or(Malformed)?;
                Ok(L2tp {
                    tunnel: 0,
                    session: be32(s),
                })
            }
        }
        _ => Err(Malformed),
    }
}

/// The flow of the packet whose network header `l3` describes.
///
/// `forwarded` selects the symmetric hash of routed traffic. A TCP or UDP
/// header that does not fit whole is [`Malformed`].
pub fn parse<P: Bytes + ?Sized>(
    p: &P,
    l3: &L3,
    forwarded: bool,
    v6: bool,
) -> Result<Parsed, Malformed> {
    let mut flow = Flow {
        src: l3.src,
        dst: l3.dst,
        proto: l3.proto,
        forwarded,
        ..Flow::default()
    };
    if l3.later_fragment {
        return Ok(Parsed { flow, syn: false });
    }
    let mut syn = false;
    match l3.proto {
        IPPROTO_TCP => {
            let h: [u8; 20] = p.read(l3.l4).ok_or(Malformed)?;
            if h[12] >> 4 < 5 {
                return Err(Malformed);
            }
            flow.sport = u16::from_be_bytes([h[0], h[1]]);
            flow.dport = u16::from_be_bytes([h[2], h[3]]);
            syn = h[13] & 0x12 == 0x02;
        }
        IPPROTO_UDP => {
            let h: [u8; 8] = p.read(l3.l4).ok_or(Malformed)?;
            flow.sport = u16::from_be_bytes([h[0], h[1]]);
            flow.dport = u16::from_be_bytes([h[2], h[3]]);
            if !forwarded && (flow.sport == L2TP_PORT || flow.dport == L2TP_PORT) {
                flow.l2tp = Some(l2tp(p, l3.l4 + 8)?);
            }
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 if (l3.proto == IPPROTO_ICMPV6) == v6 => {
            flow = quoted_flow(p, l3, forwarded, v6).unwrap_or(flow);
        }
        _ => {}
    }
    Ok(Parsed { flow, syn })
}

/// For an ICMP error, the flow of the packet it quotes — one this host
/// sent — seen from the other side. `None` for other ICMP messages and for
/// quotes too short to tell (only the first 8 bytes past the quoted IP
/// header are promised).
fn quoted_flow<P: Bytes + ?Sized>(p: &P, l3: &L3, forwarded: bool, v6: bool) -> Option<Flow> {
    let t: [u8; 1] = p.read(l3.l4)?;
    if !is_icmp_error(l3.proto, t[0]) {
        return None;
    }
    let inner = if v6 {
        ipv6(p, l3.l4 + 8)
    } else {
        ipv4(p, l3.l4 + 8)
    }
    .ok()?;
    let mut flow = Flow {
        src: inner.dst,
        dst: inner.src,
        proto: inner.proto,
        forwarded,
        ..Flow::default()
    };
    if matches!(inner.proto, IPPROTO_TCP | IPPROTO_UDP) && !inner.later_fragment {
        let ports: [u8; 4] = p.read(inner.l4)?;
        flow.sport = u16::from_be_bytes([ports[2], ports[3]]);
        flow.dport = u16::from_be_bytes([ports[0], ports[1]]);
    }
    Some(flow)
}

/// Sets the link-layer address option of type `option` (1: source, 2:
/// target) in an ICMPv6 neighbour discovery message `msg` (from its type
/// byte; NS and NA have 24 bytes before their options) to `mac`. Returns
/// whether one was found.
pub fn set_lladdr_option(msg: &mut [u8], option: u8, mac: &[u8; 6]) -> bool {
    let mut off = 24;
    while off + 8 <= msg.len() {
        let len = usize::from(msg[off + 1]) * 8;
        if len == 0 || off + len > msg.len() {
            return false;
        }
        if msg[off] == option && len == 8 {
            msg[off + 2..off + 8].copy_from_slice(mac);
            return true;
        }
        off += len;
    }
    false
}

/// The ICMPv6 checksum of `msg` (whose checksum field is zeroed here first)
/// sent from `src` to `dst`.
pub fn icmpv6_checksum(src: &[u8], dst: &[u8], msg: &mut [u8]) -> u16 {
    if msg.len() >= 4 {
        msg[2] = 0;
        msg[3] = 0;
    }
    let mut sum: u64 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(src);
    add(dst);
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(msg);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn ip4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut p = std::vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        let len = (p.len() + payload.len()) as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut t = std::vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = std::vec![0u8; 8];
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(payload);
        u
    }

    const C: [u8; 4] = [192, 0, 2, 100];
    const A: [u8; 4] = [192, 0, 2, 2];

    fn parse4(p: &[u8]) -> Result<Parsed, Malformed> {
        parse(p, &ipv4(p, 0)?, false, false)
    }

    #[test]
    fn tcp_syn_and_ports() {
        let p = ip4(IPPROTO_TCP, A, C, &tcp(40000, 80, 0x02));
        let r = parse4(&p).unwrap();
        assert_eq!(
            r.flow,
            Flow::v4(0xc000_0202, 0xc000_0264, IPPROTO_TCP, 40000, 80)
        );
        assert!(r.syn);
        let p = ip4(IPPROTO_TCP, A, C, &tcp(40000, 80, 0x12));
        assert!(!parse4(&p).unwrap().syn, "SYN-ACK opens nothing here");
    }

    #[test]
    fn every_truncation_is_malformed_never_a_panic() {
        let full = ip4(IPPROTO_TCP, A, C, &tcp(1, 2, 0x02));
        for cut in 0..full.len() {
            assert_eq!(parse4(&full[..cut]), Err(Malformed), "cut at {cut}");
        }
        let full = ip4(IPPROTO_UDP, A, C, &udp(1, 2, b""));
        for cut in 0..full.len() {
            assert_eq!(parse4(&full[..cut]), Err(Malformed), "cut at {cut}");
        }
    }

    #[test]
    fn ip_options_move_the_transport_header() {
        let mut p = ip4(IPPROTO_TCP, A, C, &[]);
        p[0] = 0x46; // IHL 6: one word of options (NOPs)
        p.extend_from_slice(&[1, 1, 1, 1]);
        p.extend_from_slice(&tcp(5555, 80, 0x02));
        let r = parse4(&p).unwrap();
        assert_eq!((r.flow.sport, r.flow.dport), (5555, 80));
    }

    #[test]
    fn bad_headers_are_malformed() {
        let mut p = ip4(IPPROTO_TCP, A, C, &tcp(1, 2, 0));
        p[0] = 0x44; // IHL below 5
        assert_eq!(parse4(&p), Err(Malformed));
        let mut p = ip4(IPPROTO_TCP, A, C, &tcp(1, 2, 0));
        p[20 + 12] = 4 << 4; // TCP data offset below 5
        assert_eq!(parse4(&p), Err(Malformed));
    }

    #[test]
    fn later_fragments_hash_without_ports() {
        let mut p = ip4(IPPROTO_TCP, A, C, &[0; 8]);
        p[6] = 0x00;
        p[7] = 0x10; // offset 16 × 8
        let r = parse4(&p).unwrap();
        assert_eq!((r.flow.sport, r.flow.dport), (0, 0));
    }

    #[test]
    fn fragments_and_lengths_show_in_the_header() {
        let whole = ip4(IPPROTO_UDP, A, C, &[0; 8]);
        let l3 = ipv4(&whole[..], 0).unwrap();
        // DF is not a fragment; the length is the header's, not the buffer's.
        assert!(!l3.fragment && !l3.later_fragment);
        assert_eq!(l3.len, 28);
        let mut padded = whole.clone();
        padded.extend_from_slice(&[0; 18]);
        assert_eq!(ipv4(&padded[..], 0).unwrap().len, 28);
        let mut first = whole.clone();
        first[6] = 0x20; // more fragments, offset 0
        let l3 = ipv4(&first[..], 0).unwrap();
        assert!(l3.fragment && !l3.later_fragment);
        let mut last = whole;
        last[6] = 0x00;
        last[7] = 0x10; // offset 16 × 8, no more fragments
        let l3 = ipv4(&last[..], 0).unwrap();
        assert!(l3.fragment && l3.later_fragment);
    }

    #[test]
    fn icmp_errors_hash_as_the_quoted_flow() {
        // The member sent C:80 → A:40000; A's router says "too big".
        let quoted = ip4(IPPROTO_TCP, C, A, &tcp(80, 40000, 0x10)[..8]);
        let mut icmp = std::vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
        icmp.extend_from_slice(&quoted);
        let p = ip4(IPPROTO_ICMP, A, C, &icmp);
        let r = parse4(&p).unwrap();
        let direct = parse4(&ip4(IPPROTO_TCP, A, C, &tcp(40000, 80, 0x10))).unwrap();
        assert_eq!(r.flow, direct.flow);
        // An echo request is plain ICMP.
        let p = ip4(IPPROTO_ICMP, A, C, &[8, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(
            parse4(&p).unwrap().flow,
            Flow::v4(0xc000_0202, 0xc000_0264, IPPROTO_ICMP, 0, 0)
        );
        // A truncated quote falls back to the plain ICMP hash.
        let p = ip4(IPPROTO_ICMP, A, C, &[3, 4, 0, 0, 0, 0, 0, 0, 0x45, 0]);
        assert_eq!(parse4(&p).unwrap().flow.sport, 0);
    }

    #[test]
    fn l2tp_ids() {
        // v2 with the length bit: flags 0x4002, length, tunnel 5, session 7.
        let p = ip4(
            IPPROTO_UDP,
            A,
            C,
            &udp(1701, 1701, &[0x40, 0x02, 0, 20, 0, 5, 0, 7]),
        );
        assert_eq!(
            parse4(&p).unwrap().flow.l2tp,
            Some(L2tp {
                tunnel: 5,
                session: 7
            })
        );
        // v2 without it.
        let p = ip4(
            IPPROTO_UDP,
            A,
            C,
            &udp(1701, 1701, &[0x00, 0x02, 0, 5, 0, 7]),
        );
        assert_eq!(
            parse4(&p).unwrap().flow.l2tp,
            Some(L2tp {
                tunnel: 5,
                session: 7
            })
        );
        // v3 data: session ID after four bytes.
        let p = ip4(
            IPPROTO_UDP,
            A,
            C,
            &udp(1701, 1701, &[0, 3, 0, 0, 0, 0, 1, 2]),
        );
        assert_eq!(
            parse4(&p).unwrap().flow.l2tp,
            Some(L2tp {
                tunnel: 0,
                session: 0x102
            })
        );
        // Truncated or unknown version: malformed.
        let p = ip4(IPPROTO_UDP, A, C, &udp(1701, 1701, &[0, 2, 0]));
        assert_eq!(parse4(&p), Err(Malformed));
        let p = ip4(
            IPPROTO_UDP,
            A,
            C,
            &udp(1701, 1701, &[0, 9, 0, 0, 0, 0, 0, 0]),
        );
        assert_eq!(parse4(&p), Err(Malformed));
    }

    fn ip6(next: u8, ext: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut p = std::vec![0x60, 0, 0, 0, 0, 0, next, 64];
        let len = (ext.len() + payload.len()) as u16;
        p[4..6].copy_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        p.extend_from_slice(ext);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ipv6_walks_extension_headers() {
        // Hop-by-hop (8 bytes) then destination options (16 bytes) then TCP.
        let mut ext = std::vec![60, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&[IPPROTO_TCP, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let p = ip6(0, &ext, &tcp(443, 80, 0x02));
        let l3 = ipv6(&p[..], 0).unwrap();
        assert_eq!(l3.l4, 40 + 24);
        let r = parse(&p[..], &l3, false, true).unwrap();
        assert_eq!(r.flow.src, [0x2001_0db8, 0, 0, 2]);
        assert_eq!(
            (r.flow.proto, r.flow.sport, r.flow.dport, r.syn),
            (IPPROTO_TCP, 443, 80, true)
        );
        for cut in 0..p.len() {
            let q = &p[..cut];
            assert!(
                ipv6(q, 0)
                    .and_then(|l3| parse(q, &l3, false, true))
                    .is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn ipv6_header_loops_are_bounded() {
        let ext: Vec<u8> = (0..16).flat_map(|_| [0u8, 0, 0, 0, 0, 0, 0, 0]).collect();
        let p = ip6(0, &ext, &[]);
        assert_eq!(ipv6(&p[..], 0), Err(Malformed));
    }

    #[test]
    fn ipv6_later_fragment() {
        let p = ip6(44, &[IPPROTO_TCP, 0, 0x00, 0x08, 0, 0, 0, 1], &[0; 8]);
        let l3 = ipv6(&p[..], 0).unwrap();
        assert!(l3.later_fragment && l3.fragment);
        assert_eq!(l3.len, 40 + 16);
    }

    #[test]
    fn ipv6_first_fragment_is_a_fragment() {
        // Offset 0, more fragments: the ports are here, the flow is not whole.
        let p = ip6(
            44,
            &[IPPROTO_TCP, 0, 0x00, 0x01, 0, 0, 0, 1],
            &tcp(1, 2, 0x02),
        );
        let l3 = ipv6(&p[..], 0).unwrap();
        assert!(l3.fragment && !l3.later_fragment);
        let whole = ip6(IPPROTO_TCP, &[], &tcp(1, 2, 0x02));
        assert!(!ipv6(&whole[..], 0).unwrap().fragment);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut buf = [0u8; 96];
        for _ in 0..200_000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            buf[0] = if x & 1 == 0 { 0x45 } else { 0x60 };
            let len = (x >> 8) as usize % buf.len();
            let p = &buf[..len];
            let v6 = buf[0] == 0x60;
            let _ = if v6 { ipv6(p, 0) } else { ipv4(p, 0) }
                .and_then(|l3| parse(p, &l3, x & 2 == 0, v6));
        }
    }

    #[test]
    fn neighbour_advertisement_rewrite_keeps_a_valid_checksum() {
        let src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        // NA: type 136, code 0, checksum, flags, target, option 2 (len 1).
        let mut na = std::vec![136, 0, 0, 0, 0x20, 0, 0, 0];
        na.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        na.extend_from_slice(&[2, 1, 0x02, 0, 0, 0, 0, 1]);
        let sum = icmpv6_checksum(&src, &dst, &mut na);
        na[2..4].copy_from_slice(&sum.to_be_bytes());
        // A message with its checksum in place sums to zero (RFC 1071).
        let verify = |m: &[u8]| {
            let mut s: u64 = 0;
            for b in [
                &src[..],
                &dst[..],
                &(m.len() as u32).to_be_bytes(),
                &[0, 0, 0, 58],
                m,
            ] {
                for c in b.chunks(2) {
                    s += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
                }
            }
            while s >> 16 != 0 {
                s = (s & 0xffff) + (s >> 16);
            }
            s == 0xffff
        };
        assert!(verify(&na));
        let mac = [0x01, 0x00, 0x5e, 0, 2, 100];
        assert!(set_lladdr_option(&mut na, 2, &mac));
        assert_eq!(&na[26..32], &mac);
        assert!(!verify(&na), "stale checksum after the rewrite");
        let sum = icmpv6_checksum(&src, &dst, &mut na);
        na[2..4].copy_from_slice(&sum.to_be_bytes());
        assert!(verify(&na));
        assert!(
            !set_lladdr_option(&mut na, 1, &mac),
            "no source option in an NA"
        );
        let mut bad = na.clone();
        bad[25] = 0; // zero-length option: stop, never loop
        assert!(!set_lladdr_option(&mut bad, 2, &mac));
    }
}
