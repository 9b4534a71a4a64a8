//! The client's FIN, made again for a restored half-closed connection.
//! TCP repair has no way to set a received FIN: the socket is rebuilt
//! established with `rcv_nxt` before it, and then receives the FIN from
//! the client's address through a raw socket (as CRIU's libsoccr does),
//! which loops back to it like any packet to a local address. TCP input
//! runs on a socket in repair mode as on any other: the FIN moves it to
//! CLOSE_WAIT (LAST_ACK once our own FIN follows), and its application
//! reads the end of the stream after the bytes it had not read.
//!
//! The segment carries no options: without a timestamp the PAWS check
//! does not run (the client's last one may be older than any we could
//! name), and the window it opens is the client's last one.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::shared::tcpstate::{Essential, Flags, Initial};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// `TCP_ESTABLISHED` of the kernel's `enum tcp_state` (`tcpi_state`).
const TCP_ESTABLISHED: u8 = 1;
const TH_FIN: u8 = 0x01;
const TH_ACK: u8 = 0x10;
/// A TCP header without options.
const TCP_LEN: usize = 20;
/// How long the looped-back FIN may take to reach the socket (it is
/// usually taken before `sendto` returns): a restore waits this long, and
/// other connections' commits with it.
const TAKEN_WITHIN: Duration = Duration::from_millis(100);

/// Sends connection `i`'s client FIN to its socket `s` (in repair mode,
/// its receive queue at `e.rcv_nxt`, its send queue at `snd_una`) and
/// waits until the socket has taken it.
pub(super) fn receive(s: &Socket, i: &Initial, e: &Essential, snd_una: u32) -> io::Result<()> {
    let src = crate::kapi::addr::unmapped(&i.src, i.v6);
    let dst = crate::kapi::addr::unmapped(&i.dst, i.v6);
    let tcp = segment(i, e, snd_una, &src, &dst);
    let (domain, packet) = match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (Domain::IPV4, ipv4(a.octets(), b.octets(), &tcp)),
        (IpAddr::V6(a), IpAddr::V6(b)) => (Domain::IPV6, ipv6(a.octets(), b.octets(), &tcp)),
        _ => return Err(io::Error::other("mixed address families")),
    };
    // IPPROTO_RAW: the header is ours (IP_HDRINCL, IPV6_HDRINCL).
    let raw = Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))?;
    raw.send_to(&packet, &SockAddr::from(SocketAddr::new(dst, 0)))?;
    let start = Instant::now();
    while !half_closed(s)? {
        if start.elapsed() > TAKEN_WITHIN {
            return Err(io::Error::other(
                "the client's FIN made again was not taken",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// The FIN|ACK, checksummed: at the FIN's place in the sequence, the
/// acknowledgement and window the client last sent.
fn segment(i: &Initial, e: &Essential, snd_una: u32, src: &IpAddr, dst: &IpAddr) -> [u8; TCP_LEN] {
    let shift = if e.flags.has(Flags::WSCALE_OK) {
        e.snd_wscale
    } else {
        0
    };
    let window = (e.snd_wnd >> shift).min(u32::from(u16::MAX)) as u16;
    let mut h = [0u8; TCP_LEN];
    h[0..2].copy_from_slice(&i.sport.to_be_bytes());
    h[2..4].copy_from_slice(&i.dport.to_be_bytes());
    h[4..8].copy_from_slice(&e.rcv_nxt.to_be_bytes());
    h[8..12].copy_from_slice(&snd_una.to_be_bytes());
    h[12] = (TCP_LEN as u8 / 4) << 4;
    h[13] = TH_FIN | TH_ACK;
    h[14..16].copy_from_slice(&window.to_be_bytes());
    let sum = checksum(&pseudo(src, dst), &h);
    h[16..18].copy_from_slice(&sum.to_be_bytes());
    h
}

/// The pseudo-header the TCP checksum covers (RFC 9293, RFC 8200).
fn pseudo(src: &IpAddr, dst: &IpAddr) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            p.extend_from_slice(&a.octets());
            p.extend_from_slice(&b.octets());
            p.extend_from_slice(&[0, libc::IPPROTO_TCP as u8]);
            p.extend_from_slice(&(TCP_LEN as u16).to_be_bytes());
        }
        (a, b) => {
            let v6 = |ip: &IpAddr| match ip {
                IpAddr::V6(x) => x.octets(),
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
            };
            p.extend_from_slice(&v6(a));
            p.extend_from_slice(&v6(b));
            p.extend_from_slice(&(TCP_LEN as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, libc::IPPROTO_TCP as u8]);
        }
    }
    p
}

/// The Internet checksum of `a` then `b` (RFC 1071); `a` has even length.
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

/// An IPv4 packet of `tcp` (the kernel fills in its length, identifier
/// and checksum).
fn ipv4(src: [u8; 4], dst: [u8; 4], tcp: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    p[8] = 64;
    p[9] = libc::IPPROTO_TCP as u8;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p.extend_from_slice(tcp);
    p
}

/// An IPv6 packet of `tcp`.
fn ipv6(src: [u8; 16], dst: [u8; 16], tcp: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(tcp.len() as u16).to_be_bytes());
    p[6] = libc::IPPROTO_TCP as u8;
    p[7] = 64;
    p[8..24].copy_from_slice(&src);
    p[24..40].copy_from_slice(&dst);
    p.extend_from_slice(tcp);
    p
}

/// Whether socket `s` has received its peer's FIN (`tcpi_state`).
fn half_closed(s: &Socket) -> io::Result<bool> {
    let mut info = [0u8; 8];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: `info` has room for the `len` bytes asked for (the kernel
    // copies at most that many of struct tcp_info); the fd is open.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info[0] != TCP_ESTABLISHED)
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
        // A segment with its checksum in sums to all ones.
        let (src, dst) = ("192.0.2.1".parse().unwrap(), "192.0.2.100".parse().unwrap());
        let i = crate::shared::fixtures::initial(1, 40000);
        let e = Essential {
            rcv_nxt: 1000,
            snd_wnd: 65535 << 7,
            snd_wscale: 7,
            flags: Flags(Flags::WSCALE_OK),
            ..Essential::default()
        };
        let h = segment(&i, &e, 5000, &src, &dst);
        assert_eq!(checksum(&pseudo(&src, &dst), &h), 0);
        assert_eq!(u16::from_be_bytes([h[14], h[15]]), 65535);
        assert_eq!(h[13], TH_FIN | TH_ACK);
    }
}
