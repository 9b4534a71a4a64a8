//! The netfilter queue where the kernel parks each segment of an
//! output-commit cluster (`nfnetlink_queue`): bind it, read the segments'
//! headers, give verdicts. A few messages of a stable ABI, over a plain
//! netlink socket that tokio can poll — the `nfq` crate reads blocking
//! only and offers no descriptor to poll.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::shared::tcpstate::{conn_id, Initial};

// The ABI's numbers, from libc (they are all small): a number typed in
// by hand read NFQA_SKB_INFO as the captured length once, and every
// segment whose checksum the device was to fill in went out unheld.
const NETLINK_NETFILTER: libc::c_int = libc::NETLINK_NETFILTER;
const NFNL_SUBSYS_QUEUE: u16 = libc::NFNL_SUBSYS_QUEUE as u16;
const NFQNL_MSG_PACKET: u16 = libc::NFQNL_MSG_PACKET as u16;
const NFQNL_MSG_VERDICT: u16 = libc::NFQNL_MSG_VERDICT as u16;
const NFQNL_MSG_CONFIG: u16 = libc::NFQNL_MSG_CONFIG as u16;
const NFQA_PACKET_HDR: u16 = libc::NFQA_PACKET_HDR as u16;
const NFQA_VERDICT_HDR: u16 = libc::NFQA_VERDICT_HDR as u16;
const NFQA_PAYLOAD: u16 = libc::NFQA_PAYLOAD as u16;
const NFQA_CAP_LEN: u16 = libc::NFQA_CAP_LEN as u16;
const NFQA_CFG_CMD: u16 = libc::NFQA_CFG_CMD as u16;
const NFQA_CFG_PARAMS: u16 = libc::NFQA_CFG_PARAMS as u16;
const NFQA_CFG_QUEUE_MAXLEN: u16 = libc::NFQA_CFG_QUEUE_MAXLEN as u16;
const NFQA_CFG_MASK: u16 = libc::NFQA_CFG_MASK as u16;
const NFQA_CFG_FLAGS: u16 = libc::NFQA_CFG_FLAGS as u16;
const NFQNL_CFG_CMD_BIND: u8 = libc::NFQNL_CFG_CMD_BIND as u8;
const NFQNL_COPY_PACKET: u8 = libc::NFQNL_COPY_PACKET as u8;
/// Take GSO packets whole: one verdict per 64 KiB, not per segment.
const NFQA_CFG_F_GSO: u32 = libc::NFQA_CFG_F_GSO as u32;
const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const NLM_F_ACK: u16 = libc::NLM_F_ACK as u16;
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
/// Enough of a segment for its IP and TCP headers with options.
const COPY: u32 = 128;
/// Segments the kernel may hold for us.
const MAX_LEN: u32 = 8192;

/// `NF_ACCEPT` / `NF_DROP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The packet goes on.
    Accept = 1,
    /// The packet is dropped.
    Drop = 0,
}

/// A segment waiting in the kernel's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The queue's packet id, for the verdict.
    pub packet: u32,
    /// Its connection (`tcpstate::conn_id`).
    pub conn: u64,
    /// The sequence number after its last byte (SYN and FIN count).
    pub end: u32,
    /// Its acknowledgement number, if it has the ACK flag.
    pub ack: Option<u32>,
    /// Its whole length in bytes, the IP header included.
    pub len: u32,
    /// Its connection's addresses and ports, as its Initial record has
    /// them (the MSS and options are not known here: 0).
    pub flow: Initial,
}

/// A bound queue.
pub struct Queue {
    fd: OwnedFd,
    num: u16,
    seq: u32,
}

fn attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Netlink attributes of `b`, as (kind, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes(b.get(..2)?.try_into().ok()?));
        let kind = u16::from_ne_bytes(b.get(2..4)?.try_into().ok()?) & 0x3fff;
        let payload = b.get(4..len)?;
        b = b.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

impl Queue {
    /// Binds queue `num`: headers only, GSO packets whole.
    pub fn bind(num: u16) -> io::Result<Queue> {
        // SAFETY: plain socket(2); the result is checked and owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        crate::sys::sockbuf::grow_netlink(fd.as_raw_fd());
        let mut q = Queue { fd, num, seq: 0 };
        let mut a = Vec::new();
        attr(&mut a, NFQA_CFG_CMD, &[NFQNL_CFG_CMD_BIND, 0, 0, 0]);
        q.config(&a)?;
        let mut a = Vec::new();
        let mut params = COPY.to_be_bytes().to_vec();
        params.push(NFQNL_COPY_PACKET);
        attr(&mut a, NFQA_CFG_PARAMS, &params);
        attr(&mut a, NFQA_CFG_QUEUE_MAXLEN, &MAX_LEN.to_be_bytes());
        attr(&mut a, NFQA_CFG_FLAGS, &NFQA_CFG_F_GSO.to_be_bytes());
        attr(&mut a, NFQA_CFG_MASK, &NFQA_CFG_F_GSO.to_be_bytes());
        q.config(&a)?;
        Ok(q)
    }

    fn send(&mut self, kind: u16, flags: u16, attrs: &[u8]) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let len = 16 + 4 + attrs.len();
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&(NFNL_SUBSYS_QUEUE << 8 | kind).to_ne_bytes());
        m.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: AF_UNSPEC, version 0, the queue (big-endian).
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&self.num.to_be_bytes());
        m.extend_from_slice(attrs);
        // SAFETY: `m` is `m.len()` readable bytes; the fd is open. A
        // netlink socket sends to the kernel with no address.
        let r = unsafe { libc::send(self.fd.as_raw_fd(), m.as_ptr().cast(), m.len(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// A configuration message, and the kernel's answer to it.
    fn config(&mut self, attrs: &[u8]) -> io::Result<()> {
        self.send(NFQNL_MSG_CONFIG, NLM_F_ACK, attrs)?;
        let mut buf = vec![0u8; 8192];
        for _ in 0..200 {
            match self.recv_raw(&mut buf) {
                Ok(n) => {
                    let b = &buf[..n];
                    let kind = u16::from_ne_bytes([b[4], b[5]]);
                    if kind == NLMSG_ERROR && n >= 20 {
                        let err = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
                        return match err {
                            0 => Ok(()),
                            e => Err(io::Error::from_raw_os_error(-e)),
                        };
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no answer from nfnetlink_queue"))
    }

    fn recv_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is writable for its length; the fd is open.
        let r = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }

    /// The segments queued now (none: `WouldBlock`), each with its packet
    /// id; packets that are no TCP segment come back as `Err(id)`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Vec<Result<Segment, u32>>> {
        let n = self.recv_raw(buf)?;
        let mut out = Vec::new();
        let mut b = &buf[..n];
        while b.len() >= 16 {
            let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let kind = u16::from_ne_bytes([b[4], b[5]]);
            let Some(m) = b.get(..len).filter(|_| len >= 16) else {
                break;
            };
            if kind == NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET {
                if let Some(p) = packet(m.get(20..).unwrap_or(&[])) {
                    out.push(p);
                }
            }
            b = b.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        }
        Ok(out)
    }

    /// Lets packet `id` go on, or drops it.
    pub fn verdict(&mut self, id: u32, v: Verdict) -> io::Result<()> {
        let mut hdr = (v as u32).to_be_bytes().to_vec();
        hdr.extend_from_slice(&id.to_be_bytes());
        let mut a = Vec::new();
        attr(&mut a, NFQA_VERDICT_HDR, &hdr);
        self.send(NFQNL_MSG_VERDICT, 0, &a)
    }
}

impl AsRawFd for Queue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// One queued packet's attributes: its id and, if it is a TCP segment
/// over IPv4 or IPv6 (no extension headers, as TCP sends them), what the
/// commit needs of it.
fn packet(b: &[u8]) -> Option<Result<Segment, u32>> {
    let (mut id, mut payload, mut cap) = (None, None, None);
    for (kind, p) in attrs(b) {
        match kind {
            NFQA_PACKET_HDR => id = Some(u32::from_be_bytes(p.get(..4)?.try_into().ok()?)),
            NFQA_PAYLOAD => payload = Some(p),
            NFQA_CAP_LEN => cap = Some(u32::from_be_bytes(p.get(..4)?.try_into().ok()?)),
            _ => {}
        }
    }
    let id = id?;
    Some(payload.and_then(|p| segment(id, p, cap)).ok_or(id))
}

/// The commit's view of a segment whose first bytes are `p` and whose
/// whole length is `cap` (when the queue cut it) or `p`'s.
pub fn segment(packet: u32, p: &[u8], cap: Option<u32>) -> Option<Segment> {
    let whole = cap.map_or(p.len(), |c| c as usize);
    let v = p.first()? >> 4;
    let (src, dst, l4) = match v {
        4 => {
            let ihl = usize::from(p[0] & 0xf) * 4;
            if *p.get(9)? != 6 || ihl < 20 {
                return None;
            }
            let m = |a: &[u8]| {
                crate::addr::mapped(std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).into())
            };
            (m(p.get(12..16)?), m(p.get(16..20)?), ihl)
        }
        6 => {
            if *p.get(6)? != 6 {
                return None;
            }
            let a = |r: std::ops::Range<usize>| -> Option<[u8; 16]> { p.get(r)?.try_into().ok() };
            (a(8..24)?, a(24..40)?, 40)
        }
        _ => return None,
    };
    let t = p.get(l4..l4 + 20)?;
    let sport = u16::from_be_bytes([t[0], t[1]]);
    let dport = u16::from_be_bytes([t[2], t[3]]);
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    let doff = usize::from(t[12] >> 4) * 4;
    let flags = t[13];
    let bytes = whole.checked_sub(l4 + doff)?;
    let (syn, fin, has_ack) = (flags & 2 != 0, flags & 1 != 0, flags & 0x10 != 0);
    let end = seq
        .wrapping_add(bytes as u32)
        .wrapping_add(u32::from(syn) + u32::from(fin));
    // We send from the cluster address: the client is the destination.
    let conn = conn_id(&dst, &src, dport, sport);
    Some(Segment {
        packet,
        conn,
        end,
        ack: has_ack.then_some(ack),
        len: u32::try_from(whole).unwrap_or(u32::MAX),
        flow: Initial {
            id: conn,
            src: dst,
            dst: src,
            sport: dport,
            dport: sport,
            mss: 0,
            opts_len: 0,
            v6: v == 6,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_read_as_the_commit_needs_it() {
        // 192.0.2.100:7000 → 192.0.2.2:40000, seq 1000, ack 500, ACK|PSH,
        // 10 bytes: the queue cut it at 44 of its 50 bytes.
        let mut p = vec![0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0];
        p.extend_from_slice(&[192, 0, 2, 100, 192, 0, 2, 2]);
        p.extend_from_slice(&7000u16.to_be_bytes());
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&1000u32.to_be_bytes());
        p.extend_from_slice(&500u32.to_be_bytes());
        p.extend_from_slice(&[0x50, 0x18, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[b'x'; 10]);
        let s = segment(9, &p[..44], Some(50)).unwrap();
        let client = std::net::Ipv4Addr::new(192, 0, 2, 2)
            .to_ipv6_mapped()
            .octets();
        let cluster = std::net::Ipv4Addr::new(192, 0, 2, 100)
            .to_ipv6_mapped()
            .octets();
        assert_eq!(s.conn, conn_id(&client, &cluster, 40000, 7000));
        assert_eq!((s.packet, s.end, s.ack, s.len), (9, 1010, Some(500), 50));
        let f = s.flow;
        assert_eq!(
            (f.src, f.dst, f.sport, f.dport),
            (client, cluster, 40000, 7000)
        );
        assert_eq!((f.id, f.v6), (s.conn, false));
        // Not TCP, or cut inside its header: not a segment.
        let mut udp = p.clone();
        udp[9] = 17;
        assert_eq!(segment(1, &udp, None), None);
        assert_eq!(segment(1, &p[..30], None), None);
    }

    #[test]
    fn a_segment_whose_checksum_is_not_ready_is_one() {
        // The kernel adds NFQA_SKB_INFO (CSUMNOTREADY) for a segment the
        // device is to checksum, as every locally sent one on a device
        // with offloads: it is no captured length.
        let mut p = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        p.extend_from_slice(&[192, 0, 2, 100, 192, 0, 2, 2]);
        p.extend_from_slice(&[0x1b, 0x58, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 2]);
        p.extend_from_slice(&[0x50, 0x12, 0, 0, 0, 0, 0, 0]);
        let mut a = Vec::new();
        attr(&mut a, NFQA_PACKET_HDR, &[0, 0, 0, 7, 8, 0, 3]);
        attr(&mut a, libc::NFQA_SKB_INFO as u16, &1u32.to_be_bytes());
        attr(&mut a, NFQA_PAYLOAD, &p);
        let s = packet(&a).unwrap().unwrap();
        assert_eq!((s.packet, s.end, s.ack, s.len), (7, 2, Some(2), 40));
    }

    #[test]
    fn attributes_are_walked_without_reading_past_the_end() {
        let mut a = Vec::new();
        attr(&mut a, NFQA_PACKET_HDR, &[0, 0, 0, 5, 8, 0, 3]);
        attr(&mut a, NFQA_CAP_LEN, &100u32.to_be_bytes());
        let got: Vec<u16> = attrs(&a).map(|(k, _)| k).collect();
        assert_eq!(got, [NFQA_PACKET_HDR, NFQA_CAP_LEN]);
        assert_eq!(packet(&a), Some(Err(5)));
        // A length past the end stops the walk.
        a[12] = 0xff;
        assert_eq!(attrs(&a).count(), 1);
        assert_eq!(packet(&a[..3]), None);
    }
}
