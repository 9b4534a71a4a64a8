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

use super::super::segment::{bare, ACK, FIN};
use crate::shared::tcpstate::{Essential, Flags, Initial};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// `TCP_ESTABLISHED` of the kernel's `enum tcp_state` (`tcpi_state`).
const TCP_ESTABLISHED: u8 = 1;
/// How long the looped-back FIN may take to reach the socket (it is
/// usually taken before `sendto` returns): a restore waits this long, and
/// other connections' commits with it.
const TAKEN_WITHIN: Duration = Duration::from_millis(100);

/// Sends connection `i`'s client FIN to its socket `s` (in repair mode,
/// its receive queue at `e.rcv_nxt`, its send queue at `snd_una`) and
/// waits until the socket has taken it.
pub(super) fn receive(s: &Socket, i: &Initial, e: &Essential, snd_una: u32) -> io::Result<()> {
    let (client, cluster) = (
        super::addr(&i.src, i.v6, i.sport),
        super::addr(&i.dst, i.v6, i.dport),
    );
    let tcp = segment(client, cluster, e, snd_una);
    let (domain, packet) = match (client.ip(), cluster.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (Domain::IPV4, ipv4(a.octets(), b.octets(), &tcp)),
        (IpAddr::V6(a), IpAddr::V6(b)) => (Domain::IPV6, ipv6(a.octets(), b.octets(), &tcp)),
        _ => return Err(io::Error::other("mixed address families")),
    };
    // IPPROTO_RAW: the header is ours (IP_HDRINCL, IPV6_HDRINCL).
    let raw = Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))?;
    raw.send_to(&packet, &SockAddr::from(SocketAddr::new(cluster.ip(), 0)))?;
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

/// The FIN|ACK: at the FIN's place in the sequence, the acknowledgement
/// and window the client last sent.
fn segment(client: SocketAddr, cluster: SocketAddr, e: &Essential, snd_una: u32) -> [u8; 20] {
    let shift = if e.flags.has(Flags::WSCALE_OK) {
        e.snd_wscale
    } else {
        0
    };
    let window = (e.snd_wnd >> shift).min(u32::from(u16::MAX)) as u16;
    bare(client, cluster, (e.rcv_nxt, snd_una), FIN | ACK, window)
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
    fn the_fin_opens_the_clients_last_window_scaled() {
        let client = "192.0.2.2:40000".parse().unwrap();
        let cluster = "192.0.2.100:80".parse().unwrap();
        let e = Essential {
            rcv_nxt: 1000,
            snd_wnd: 65535 << 7,
            snd_wscale: 7,
            flags: Flags(Flags::WSCALE_OK),
            ..Essential::default()
        };
        let h = segment(client, cluster, &e, 5000);
        assert_eq!(u16::from_be_bytes([h[14], h[15]]), 65535);
        assert_eq!(
            &h[4..12],
            &[1000u32.to_be_bytes(), 5000u32.to_be_bytes()].concat()[..]
        );
        assert_eq!(h[13], FIN | ACK);
    }
}
