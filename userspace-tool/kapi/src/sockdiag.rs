//! Aborting a local TCP connection by its addresses: `SOCK_DESTROY` of the
//! kernel's socket diagnostics (what `ss -K` sends). The kernel resets the
//! connection (`tcp_abort`: an RST to the peer, `ECONNABORTED` to the
//! application). It needs `CONFIG_INET_DIAG_DESTROY` and `CAP_NET_ADMIN`
//! in the connection's network namespace. One fixed-layout request of a
//! stable ABI, over a plain netlink socket.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const NETLINK_SOCK_DIAG: libc::c_int = libc::NETLINK_SOCK_DIAG;
/// `SOCK_DESTROY` of `linux/sock_diag.h` (libc has only `SOCK_DIAG_BY_FAMILY`).
const SOCK_DESTROY: u16 = 21;
const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const NLM_F_ACK: u16 = libc::NLM_F_ACK as u16;
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
/// Every TCP state (`idiag_states`).
const ALL_STATES: u32 = !0;
/// `INET_DIAG_NOCOOKIE`: find the socket by its addresses alone.
const NO_COOKIE: [u8; 8] = [0xff; 8];
/// How long the kernel may take to answer.
const ANSWER: Duration = Duration::from_secs(1);

/// Resets the TCP connection from `local` to `remote` in this network
/// namespace. `NotFound` when there is none (it ended already).
pub fn destroy(local: SocketAddr, remote: SocketAddr) -> io::Result<()> {
    // SAFETY: plain socket(2); the result is checked and owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let s = socket2::SockRef::from(&fd);
    s.set_read_timeout(Some(ANSWER))?;
    let m = request(local, remote);
    // SAFETY: `m` is `m.len()` readable bytes; the fd is open. A netlink
    // socket sends to the kernel with no address.
    if unsafe { libc::send(fd.as_raw_fd(), m.as_ptr().cast(), m.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = [0u8; 512];
    // SAFETY: `buf` is writable for its length; the fd is open.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    answer(&buf[..n as usize])
}

/// The request: a netlink header, then `inet_diag_req_v2` with the
/// connection's `inet_diag_sockid` (ports and addresses big-endian).
fn request(local: SocketAddr, remote: SocketAddr) -> Vec<u8> {
    let family = if local.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let addr = |a: IpAddr| -> [u8; 16] {
        let mut b = [0u8; 16];
        match a {
            IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => b = a.octets(),
        }
        b
    };
    let len = 16 + 56;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DESTROY.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel's
    m.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, 0, 0]);
    m.extend_from_slice(&ALL_STATES.to_ne_bytes());
    m.extend_from_slice(&local.port().to_be_bytes());
    m.extend_from_slice(&remote.port().to_be_bytes());
    m.extend_from_slice(&addr(local.ip()));
    m.extend_from_slice(&addr(remote.ip()));
    m.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    m.extend_from_slice(&NO_COOKIE);
    m
}

/// The kernel's answer: `NLMSG_ERROR` with 0, or the error.
fn answer(b: &[u8]) -> io::Result<()> {
    let kind = b.get(4..6).map(|k| u16::from_ne_bytes([k[0], k[1]]));
    let err = b
        .get(16..20)
        .map(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
    match (kind, err) {
        (Some(NLMSG_ERROR), Some(0)) => Ok(()),
        (Some(NLMSG_ERROR), Some(e)) => Err(io::Error::from_raw_os_error(-e)),
        _ => Err(io::Error::other("no answer from sock_diag")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_has_the_kernels_layout() {
        let m = request(
            "192.0.2.100:80".parse().unwrap(),
            "192.0.2.2:40000".parse().unwrap(),
        );
        assert_eq!(m.len(), 72);
        assert_eq!(u32::from_ne_bytes(m[..4].try_into().unwrap()), 72);
        assert_eq!(m[16..18], [libc::AF_INET as u8, libc::IPPROTO_TCP as u8]);
        assert_eq!(m[24..26], 80u16.to_be_bytes());
        assert_eq!(m[26..28], 40000u16.to_be_bytes());
        assert_eq!(m[28..32], [192, 0, 2, 100]);
        assert_eq!(m[44..48], [192, 0, 2, 2]);
        assert_eq!(m[64..72], NO_COOKIE);
        let v6 = request(
            "[2001:db8::100]:80".parse().unwrap(),
            "[2001:db8::2]:1".parse().unwrap(),
        );
        assert_eq!(v6[16], libc::AF_INET6 as u8);
        assert_eq!(v6[43], 0x00);
        assert_eq!(v6[59], 0x02);
    }

    #[test]
    fn the_answer_is_read_as_an_errno() {
        let mut b = vec![0u8; 36];
        b[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert!(answer(&b).is_ok());
        b[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert_eq!(answer(&b).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(answer(&b[..10]).is_err());
    }
}
