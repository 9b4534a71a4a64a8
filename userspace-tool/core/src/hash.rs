// SPDX-License-Identifier: GPL-2.0
//! The flow hash: which of the cluster's work-set buckets a packet belongs to.
//!
//! Two modes. [`Mode::Seed`] is the patent's function, kept bit-exact:
//! locally terminated TCP/UDP hashes source IP ⊕ source port, other protocols
//! source ⊕ destination IP, forwarded traffic source ⊕ destination (so both
//! directions of a flow meet on one member), L2TP adds tunnel and session ID;
//! the result is XOR-folded down to the bucket count. [`Mode::Keyed`] feeds
//! the same inputs to SipHash-2-4 under a cluster-wide key, so that nobody
//! outside the cluster can aim a flood at one member; it is the default.
//!
//! Either mode may hash with client [`Affinity`] (MS NLB's None, Single and
//! Network): every flow of one client address, or of one client network,
//! then falls into one bucket, ports and protocol left out.

use super::siphash::{siphash24, Key};

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;

/// Most buckets a cluster may have (a power of two, like every count).
pub const MAX_BUCKET_BITS: u32 = 12;
/// The patent's bucket count, the default.
pub const DEFAULT_BUCKET_BITS: u32 = 10;

/// How flows are mapped to buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The patent's XOR hash, predictable by anyone who knows the scheme.
    Seed,
    /// SipHash-2-4 keyed with the cluster-wide seed.
    Keyed(Key),
}

/// An L2TP tunnel and session, both hashed in so that sessions spread out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L2tp {
    /// Tunnel ID (L2TPv2; 0 for L2TPv3, which has sessions only).
    pub tunnel: u32,
    /// Session ID.
    pub session: u32,
}

/// What the hash looks at in one packet.
///
/// Addresses are four 32-bit words in network order read as numbers; an
/// IPv4 address is `[0, 0, 0, addr]`. Ports are host-order numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: [u32; 4],
    /// Destination address.
    pub dst: [u32; 4],
    /// IP protocol (after IPv6 extension headers).
    pub proto: u8,
    /// Source port (TCP and UDP), else 0.
    pub sport: u16,
    /// Destination port (TCP and UDP), else 0.
    pub dport: u16,
    /// Set for L2TP data and control packets.
    pub l2tp: Option<L2tp>,
    /// Forwarded (router or firewall) traffic, hashed symmetrically.
    pub forwarded: bool,
}

impl Flow {
    /// A locally terminated IPv4 flow.
    pub const fn v4(src: u32, dst: u32, proto: u8, sport: u16, dport: u16) -> Self {
        Flow {
            src: [0, 0, 0, src],
            dst: [0, 0, 0, dst],
            proto,
            sport,
            dport,
            l2tp: None,
            forwarded: false,
        }
    }

    /// A locally terminated IPv6 flow.
    pub const fn v6(src: [u32; 4], dst: [u32; 4], proto: u8, sport: u16, dport: u16) -> Self {
        Flow {
            src,
            dst,
            proto,
            sport,
            dport,
            l2tp: None,
            forwarded: false,
        }
    }

    fn has_ports(&self) -> bool {
        !self.forwarded && (self.proto == IPPROTO_TCP || self.proto == IPPROTO_UDP)
    }
}

/// Which flows of one client share a bucket, as MS NLB's affinity.
///
/// The client is a flow's source: the remote end of a packet to the
/// cluster address, and the original destination inside an ICMP error
/// (the parser swaps them). Forwarded traffic has no client side, and its
/// hash must stay symmetric; it already leaves ports out, so that every
/// flow between two hosts crosses one member whatever the affinity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Affinity {
    /// Each connection by itself (addresses, protocol and ports): the
    /// finest spread.
    #[default]
    None,
    /// Every flow of one client address in one bucket.
    Source,
    /// Every flow of one client network in one bucket: IPv4 clients'
    /// addresses masked to `v4` bits, IPv6 clients' to `v6` bits.
    Network {
        /// IPv4 prefix length, 1 to 32.
        v4: u8,
        /// IPv6 prefix length, 1 to 128.
        v6: u8,
    },
}

/// The default IPv4 prefix of network affinity, NLB's "class C".
pub const DEFAULT_PREFIX4: u8 = 24;
/// The default IPv6 prefix of network affinity, one site's subnet.
pub const DEFAULT_PREFIX6: u8 = 64;

/// Network affinity with the default prefixes.
pub const DEFAULT_NETWORK: Affinity = Affinity::Network {
    v4: DEFAULT_PREFIX4,
    v6: DEFAULT_PREFIX6,
};

impl Affinity {
    /// The client address, masked to its network, that `f` hashes by;
    /// `None` when it hashes per connection (no affinity, or forwarded).
    ///
    /// An IPv4 address is the words `[0, 0, 0, a]`, which no IPv6 client
    /// has (`::/96` is not assignable), so the family shows in the words.
    pub fn client(&self, f: &Flow) -> Option<[u32; 4]> {
        if f.forwarded {
            return None;
        }
        let s = f.src;
        match *self {
            Affinity::None => None,
            Affinity::Source => Some(s),
            Affinity::Network { v4, .. } if s[..3] == [0, 0, 0] => {
                Some([0, 0, 0, s[3] & prefix_mask(u32::from(v4))])
            }
            Affinity::Network { v6, .. } => {
                let mut m = s;
                for (i, w) in m.iter_mut().enumerate() {
                    *w &= prefix_mask(u32::from(v6).saturating_sub(32 * i as u32));
                }
                Some(m)
            }
        }
    }
}

/// The top `bits` bits of a word set (all of them from 32 on).
const fn prefix_mask(bits: u32) -> u32 {
    match bits {
        0 => 0,
        1..=31 => !0 << (32 - bits),
        _ => !0,
    }
}

/// A cluster's flow hash: the function and the client affinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHash {
    /// The function.
    pub mode: Mode,
    /// Which flows of one client share a bucket.
    pub affinity: Affinity,
}

impl FlowHash {
    /// Per-connection hashing with `mode`.
    pub const fn new(mode: Mode) -> Self {
        FlowHash {
            mode,
            affinity: Affinity::None,
        }
    }

    /// The bucket, in `0..1 << bits`, that flow `f` belongs to.
    pub fn bucket(&self, f: &Flow, bits: u32) -> u32 {
        match self.affinity.client(f) {
            None => bucket(&self.mode, f, bits),
            Some(c) => client_bucket(&self.mode, &c, bits),
        }
    }
}

/// The bucket of a client address (or network) alone: the seed hash
/// folds its words, the keyed hash takes its 16 bytes (a message length
/// no per-connection hash uses).
fn client_bucket(mode: &Mode, c: &[u32; 4], bits: u32) -> u32 {
    match mode {
        Mode::Seed => fold(fold_addr(c), bits),
        Mode::Keyed(_) if bits == 0 => 0,
        Mode::Keyed(key) => {
            let mut m = [0u8; 16];
            for (i, w) in c.iter().enumerate() {
                m[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            (siphash24(key, &m) >> (64 - bits)) as u32
        }
    }
}

fn fold_addr(a: &[u32; 4]) -> u32 {
    a[0] ^ a[1] ^ a[2] ^ a[3]
}

/// XOR-folds `x` into `bits` bits (the patent's "folded to 0..1023").
pub const fn fold(mut x: u32, bits: u32) -> u32 {
    if bits == 0 {
        return 0;
    }
    if bits >= 32 {
        return x;
    }
    let mask = (1u32 << bits) - 1;
    let mut r = 0;
    while x != 0 {
        r ^= x & mask;
        x >>= bits;
    }
    r
}

/// The patent's 32-bit key before folding.
pub fn seed_key(f: &Flow) -> u32 {
    let mut k = if f.has_ports() {
        fold_addr(&f.src) ^ u32::from(f.sport)
    } else {
        // Symmetric: swapping source and destination gives the same key.
        fold_addr(&f.src) ^ fold_addr(&f.dst)
    };
    if let Some(l) = f.l2tp {
        k ^= l.tunnel ^ l.session;
    }
    k
}

/// The keyed 64-bit hash.
pub fn keyed_hash(key: &Key, f: &Flow) -> u64 {
    // Fixed layout: 16 + 16 address bytes, proto, two ports, L2TP IDs.
    let mut m = [0u8; 48];
    let (a, b) = if f.has_ports() || f.src <= f.dst {
        (&f.src, &f.dst)
    } else {
        (&f.dst, &f.src) // forwarded or portless: order-independent
    };
    for i in 0..4 {
        m[i * 4..i * 4 + 4].copy_from_slice(&a[i].to_be_bytes());
        m[16 + i * 4..20 + i * 4].copy_from_slice(&b[i].to_be_bytes());
    }
    m[32] = f.proto;
    if f.has_ports() {
        m[33..35].copy_from_slice(&f.sport.to_be_bytes());
        m[35..37].copy_from_slice(&f.dport.to_be_bytes());
    }
    if let Some(l) = f.l2tp {
        m[37] = 1;
        m[38..42].copy_from_slice(&l.tunnel.to_be_bytes());
        m[42..46].copy_from_slice(&l.session.to_be_bytes());
    }
    siphash24(key, &m)
}

/// The bucket, in `0..1 << bits`, that flow `f` belongs to.
pub fn bucket(mode: &Mode, f: &Flow, bits: u32) -> u32 {
    match mode {
        Mode::Seed => fold(seed_key(f), bits),
        Mode::Keyed(key) => {
            if bits == 0 {
                0
            } else {
                (keyed_hash(key, f) >> (64 - bits)) as u32
            }
        }
    }
}

/// A known answer both the module (at load) and `cargo test` check.
#[derive(Clone, Copy, Debug)]
pub struct Vector {
    /// The flow.
    pub flow: Flow,
    /// `true`: keyed with [`VECTOR_KEY`]; `false`: the seed hash.
    pub keyed: bool,
    /// Bucket count, as bits.
    pub bits: u32,
    /// The client affinity.
    pub affinity: Affinity,
    /// The expected bucket.
    pub bucket: u32,
}

/// The key of the keyed test vectors: bytes 0, 1, …, 15.
pub const VECTOR_KEY: Key = Key([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);

const C4: u32 = 0xc0a8_0001; // 192.168.0.1, the cluster IP of the vectors
const A4: u32 = 0x0a00_0002; // 10.0.0.2
const B4: u32 = 0x0a00_004d; // 10.0.0.77, in 10.0.0.2's /24
const NONE: Affinity = Affinity::None;
const SOURCE: Affinity = Affinity::Source;
const NET: Affinity = DEFAULT_NETWORK;
const V6C: [u32; 4] = [0x2001_0db8, 0, 0, 1];
const V6A: [u32; 4] = [0x2001_0db8, 0, 0, 0x42];

const fn fwd(mut f: Flow) -> Flow {
    f.forwarded = true;
    f
}

const fn with_l2tp(mut f: Flow, tunnel: u32, session: u32) -> Flow {
    f.l2tp = Some(L2tp { tunnel, session });
    f
}

/// Known answers. The seed ones follow from the definition by hand (see the
/// comments); the keyed ones pin the SipHash layout so the module and the
/// tool can never drift apart.
#[rustfmt::skip]
pub const VECTORS: [Vector; 19] = [
    // 0x0a000002 ^ 40000 = 0x0a009c42; fold10: 0x042 ^ 0x027 ^ 0x0a0 ^ 0 = 0x0c5
    Vector { flow: Flow::v4(A4, C4, IPPROTO_TCP, 40000, 80), keyed: false, bits: 10, affinity: NONE, bucket: 0x0c5 },
    // UDP is hashed like TCP
    Vector { flow: Flow::v4(A4, C4, IPPROTO_UDP, 40000, 53), keyed: false, bits: 10, affinity: NONE, bucket: 0x0c5 },
    // ICMP: 0x0a000002 ^ 0xc0a80001 = 0xcaa80003; fold10: 0x003 ^ 0x200 ^ 0x0aa ^ 0x3 = 0x2aa
    Vector { flow: Flow::v4(A4, C4, IPPROTO_ICMP, 0, 0), keyed: false, bits: 10, affinity: NONE, bucket: 0x2aa },
    // forwarded, reversed direction: same bucket as the ICMP one
    Vector { flow: fwd(Flow::v4(C4, A4, IPPROTO_TCP, 80, 40000)), keyed: false, bits: 10, affinity: NONE, bucket: 0x2aa },
    // L2TP: 0x0a009c42 ^ 5 ^ 7 = 0x0a009c40; fold10: 0x040 ^ 0x027 ^ 0x0a0 = 0x0c7
    Vector { flow: with_l2tp(Flow::v4(A4, C4, IPPROTO_UDP, 40000, 1701), 5, 7), keyed: false, bits: 10, affinity: NONE, bucket: 0x0c7 },
    // IPv6: 0x20010db8 ^ 0x42 ^ 443 = 0x20010c41; fold10: 0x041 ^ 0x043 ^ 0x200 = 0x202
    Vector { flow: Flow::v6(V6A, V6C, IPPROTO_TCP, 443, 80), keyed: false, bits: 10, affinity: NONE, bucket: 0x202 },
    Vector { flow: Flow::v4(A4, C4, IPPROTO_TCP, 40000, 80), keyed: true, bits: 10, affinity: NONE, bucket: 0x23c },
    Vector { flow: fwd(Flow::v4(C4, A4, IPPROTO_UDP, 53, 40000)), keyed: true, bits: 10, affinity: NONE, bucket: 0x2ca },
    Vector { flow: fwd(Flow::v4(A4, C4, IPPROTO_UDP, 40000, 53)), keyed: true, bits: 10, affinity: NONE, bucket: 0x2ca },
    Vector { flow: Flow::v6(V6A, V6C, IPPROTO_UDP, 443, 80), keyed: true, bits: 12, affinity: NONE, bucket: 0x3b8 },
    // Source affinity, seed hash: the client address alone, 0x0a000002;
    // fold10: 0x002 ^ 0x000 ^ 0x0a0 = 0x0a2, whatever the ports and protocol
    Vector { flow: Flow::v4(A4, C4, IPPROTO_TCP, 40000, 80), keyed: false, bits: 10, affinity: SOURCE, bucket: 0x0a2 },
    Vector { flow: Flow::v4(A4, C4, IPPROTO_UDP, 5201, 53), keyed: false, bits: 10, affinity: SOURCE, bucket: 0x0a2 },
    // an ICMP error about a packet sent to the client: the client's bucket
    Vector { flow: Flow::v4(A4, C4, IPPROTO_ICMP, 0, 0), keyed: false, bits: 10, affinity: SOURCE, bucket: 0x0a2 },
    // Network /24: 10.0.0.77 masked is 0x0a000000; fold10: 0x0a0
    Vector { flow: Flow::v4(B4, C4, IPPROTO_TCP, 1234, 80), keyed: false, bits: 10, affinity: NET, bucket: 0x0a0 },
    // IPv6 source: 0x20010db8 ^ 0x42 = 0x20010dfa; fold10: 0x1fa ^ 0x043 ^ 0x200 = 0x3b9
    Vector { flow: Flow::v6(V6A, V6C, IPPROTO_TCP, 443, 80), keyed: false, bits: 10, affinity: SOURCE, bucket: 0x3b9 },
    // IPv6 /64: 0x20010db8; fold10: 0x1b8 ^ 0x043 ^ 0x200 = 0x3fb
    Vector { flow: Flow::v6(V6A, V6C, IPPROTO_TCP, 443, 80), keyed: false, bits: 10, affinity: NET, bucket: 0x3fb },
    // Keyed: SipHash of the 16 bytes of the (masked) client address,
    // ::10.0.0.2 and ::10.0.0.0 (checked with an independent SipHash)
    Vector { flow: Flow::v4(A4, C4, IPPROTO_TCP, 40000, 80), keyed: true, bits: 10, affinity: SOURCE, bucket: 0x1d8 },
    Vector { flow: Flow::v4(B4, C4, IPPROTO_UDP, 9, 53), keyed: true, bits: 10, affinity: NET, bucket: 0x2ec },
    // forwarded traffic is hashed as without affinity (vector 7)
    Vector { flow: fwd(Flow::v4(C4, A4, IPPROTO_UDP, 53, 40000)), keyed: true, bits: 10, affinity: SOURCE, bucket: 0x2ca },
];

/// Checks [`VECTORS`]; on a mismatch returns the index of the first wrong one.
pub fn check_vectors() -> Result<(), usize> {
    for (i, v) in VECTORS.iter().enumerate() {
        if v.hash().bucket(&v.flow, v.bits) != v.bucket {
            return Err(i);
        }
    }
    Ok(())
}

impl Vector {
    /// The flow hash the vector is checked with.
    pub const fn hash(&self) -> FlowHash {
        FlowHash {
            mode: if self.keyed {
                Mode::Keyed(VECTOR_KEY)
            } else {
                Mode::Seed
            },
            affinity: self.affinity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_hold() {
        for (i, v) in VECTORS.iter().enumerate() {
            assert_eq!(
                v.hash().bucket(&v.flow, v.bits),
                v.bucket,
                "vector {i}: {v:?}"
            );
        }
        assert_eq!(check_vectors(), Ok(()));
    }

    #[test]
    fn fold_stays_in_range() {
        for bits in 0..=MAX_BUCKET_BITS {
            for x in [0u32, 1, 0xffff_ffff, 0xdead_beef, 0x8000_0000] {
                assert!(fold(x, bits) < (1 << bits).max(1));
            }
        }
        assert_eq!(fold(0x1234_5678, 32), 0x1234_5678);
    }

    #[test]
    fn forwarded_is_symmetric_in_both_modes() {
        let mut x = 0x9e37_79b9u32;
        for _ in 0..1000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let a = fwd(Flow::v4(
                x,
                x.rotate_left(7),
                IPPROTO_TCP,
                x as u16,
                (x >> 16) as u16,
            ));
            let b = fwd(Flow::v4(a.dst[3], a.src[3], IPPROTO_TCP, a.dport, a.sport));
            for mode in [Mode::Seed, Mode::Keyed(VECTOR_KEY)] {
                assert_eq!(bucket(&mode, &a, 10), bucket(&mode, &b, 10));
            }
        }
    }

    #[test]
    fn keyed_spreads_source_ports_evenly() {
        // 64 Ki connections from one client must cover every bucket, none
        // with more than twice its share.
        let mut count = [0u32; 1024];
        for port in 0..=u16::MAX {
            let f = Flow::v4(A4, C4, IPPROTO_TCP, port, 80);
            count[bucket(&Mode::Keyed(VECTOR_KEY), &f, 10) as usize] += 1;
        }
        assert!(count.iter().all(|&c| c > 0 && c < 128), "{:?}", count);
    }

    #[test]
    fn source_affinity_ignores_ports_and_protocol() {
        for mode in [Mode::Seed, Mode::Keyed(VECTOR_KEY)] {
            let h = FlowHash {
                mode,
                affinity: Affinity::Source,
            };
            let want = h.bucket(&Flow::v4(A4, C4, IPPROTO_TCP, 1, 80), 10);
            for port in (0..=u16::MAX).step_by(97) {
                for proto in [IPPROTO_TCP, IPPROTO_UDP] {
                    let f = Flow::v4(A4, C4, proto, port, port ^ 0x5a5a);
                    assert_eq!(h.bucket(&f, 10), want);
                }
            }
        }
    }

    #[test]
    fn network_affinity_groups_by_prefix() {
        let h = FlowHash {
            mode: Mode::Keyed(VECTOR_KEY),
            affinity: Affinity::Network { v4: 24, v6: 48 },
        };
        let b4 = |a: u32| h.bucket(&Flow::v4(a, C4, IPPROTO_TCP, 40000, 80), 10);
        assert!((0..256).all(|i| b4(0x0a00_0000 | i) == b4(A4)));
        assert_ne!(b4(0x0a00_0102), b4(A4)); // the next /24, as it happens
        let b6 = |w: [u32; 4]| h.bucket(&Flow::v6(w, V6C, IPPROTO_TCP, 1, 80), 10);
        assert_eq!(b6([0x2001_0db8, 0x0000_ffff, 7, 9]), b6(V6A));
        assert_ne!(b6([0x2001_0db8, 0x0001_0000, 0, 0x42]), b6(V6A));
    }

    #[test]
    fn affinity_spreads_clients() {
        // 4096 clients over 1024 buckets: every member of a cluster still
        // gets a share, and no bucket gets more than 4 times its own.
        for affinity in [Affinity::Source, DEFAULT_NETWORK] {
            let h = FlowHash {
                mode: Mode::Keyed(VECTOR_KEY),
                affinity,
            };
            let mut count = [0u32; 1024];
            for c in 0..4096u32 {
                let a = if affinity == Affinity::Source {
                    0x0a00_0000 + c
                } else {
                    c << 8
                };
                count[h.bucket(&Flow::v4(a, C4, IPPROTO_TCP, 1, 80), 10) as usize] += 1;
            }
            assert!(count.iter().all(|&c| c <= 16), "{affinity:?}");
            assert!(
                count.iter().filter(|&&c| c > 0).count() > 900,
                "{affinity:?}"
            );
        }
    }

    #[test]
    fn forwarded_flows_ignore_affinity() {
        let f = fwd(Flow::v4(A4, C4, IPPROTO_TCP, 40000, 80));
        for affinity in [Affinity::Source, DEFAULT_NETWORK] {
            let h = FlowHash {
                mode: Mode::Keyed(VECTOR_KEY),
                affinity,
            };
            assert_eq!(h.bucket(&f, 10), bucket(&h.mode, &f, 10));
        }
    }

    #[test]
    fn prefix_masks() {
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(1), 0x8000_0000);
        assert_eq!(prefix_mask(24), 0xffff_ff00);
        assert_eq!(prefix_mask(32), !0);
        assert_eq!(prefix_mask(96), !0);
    }

    #[test]
    fn key_moves_flows() {
        let f = Flow::v4(A4, C4, IPPROTO_TCP, 40000, 80);
        let moved = (0..64u8)
            .filter(|&i| {
                let k = Key([i; 16]);
                bucket(&Mode::Keyed(k), &f, 10) != bucket(&Mode::Keyed(Key([0xff; 16])), &f, 10)
            })
            .count();
        assert!(moved > 56);
    }
}
