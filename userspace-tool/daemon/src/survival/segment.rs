//! Bare TCP segments the daemon sends on a connection's behalf: a header
//! without options or payload, its checksum filled in. The tickle sends
//! them from the cluster address (`tickle.rs`), a restore sends the
//! client's FIN from the client's address (`restore/fin.rs`).

use std::net::{IpAddr, SocketAddr};

pub(crate) const FIN: u8 = 0x01;
pub(crate) const RST: u8 = 0x04;
pub(crate) const ACK: u8 = 0x10;

/// A 20-byte TCP header from `from` to `to`, no options, no payload, its
/// checksum filled in.
pub(crate) fn bare(
    from: SocketAddr,
    to: SocketAddr,
    (seq, ack): (u32, u32),
    flags: u8,
    window: u16,
) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0..2].copy_from_slice(&from.port().to_be_bytes());
    h[2..4].copy_from_slice(&to.port().to_be_bytes());
    h[4..8].copy_from_slice(&seq.to_be_bytes());
    h[8..12].copy_from_slice(&ack.to_be_bytes());
    h[12] = 5 << 4;
    h[13] = flags;
    h[14..16].copy_from_slice(&window.to_be_bytes());
    let sum = checksum(&pseudo_header(from.ip(), to.ip(), h.len()), &h);
    h[16..18].copy_from_slice(&sum.to_be_bytes());
    h
}

/// The pseudo-header TCP's checksum covers (RFC 9293, RFC 8200).
fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&[0, 6]);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            let six = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            v.extend_from_slice(&six(src));
            v.extend_from_slice(&six(dst));
            v.extend_from_slice(&(len as u32).to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, 6]);
        }
    }
    v
}

/// The Internet checksum (RFC 1071) of `a` then `b` (`a` of even length).
fn checksum(a: &[u8], b: &[u8]) -> u16 {
    let mut sum: u32 = a
        .chunks(2)
        .chain(b.chunks(2))
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_the_internet_one() {
        // RFC 1071's example: 0001 f203 f4f5 f6f7 sums to ddf2.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03], &[0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn a_segment_checksums_to_zero_with_its_pseudo_header() {
        for (from, to) in [
            ("192.0.2.100:80", "192.0.2.2:40000"),
            ("[2001:db8::100]:80", "[2001:db8::2]:40000"),
        ] {
            let (from, to): (SocketAddr, SocketAddr) = (from.parse().unwrap(), to.parse().unwrap());
            let h = bare(from, to, (0x1234_5678, 0x9abc_def0), ACK, 0xfedc);
            assert_eq!(checksum(&pseudo_header(from.ip(), to.ip(), 20), &h), 0);
            assert_eq!(h[13], ACK);
            assert_eq!(&h[4..8], &0x1234_5678u32.to_be_bytes());
            assert_eq!(&h[14..16], &0xfedcu16.to_be_bytes());
        }
    }
}
