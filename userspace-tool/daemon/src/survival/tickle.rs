//! Resets that reach the client whatever the replica knew.
//!
//! A restored connection that cannot go on is reset from its restored
//! socket, with the sequence number its replica had. When the replica lags
//! what the client received (asynchronous replication is up to a flush
//! behind), that number is behind the client's window: the client ignores
//! the reset, and one that waits for an answer to a request it has sent
//! never speaks again, so nothing tells it the connection is gone.
//!
//! So, as CTDB does after an IP takeover, the daemon then sends the client
//! a "tickle": a bare ACK from the cluster address with a sequence number
//! far outside the client's window, which any TCP answers with an ACK of
//! its own carrying its true sequence numbers. The daemon reads that
//! answer off the wire (a packet socket sees it before the module's hook,
//! which may drop it in a bucket that drains) and resets the connection
//! with the client's own next sequence number, a reset the client takes.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::segment::{bare, ACK, RST};
use crate::kapi::addr::unmapped;
use crate::shared::tcpstate::{Essential, Initial};

/// A connection to reset: its client's end, the cluster address's end,
/// and the sequence numbers the replica had (the tickle's acknowledgement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Conn {
    pub(crate) client: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) snd_nxt: u32,
    pub(crate) rcv_nxt: u32,
}

impl Conn {
    /// Connection `i` as its replica `e` last had it.
    pub(crate) fn of(i: &Initial, e: &Essential) -> Self {
        Conn {
            client: SocketAddr::new(unmapped(&i.src, i.v6), i.sport),
            local: SocketAddr::new(unmapped(&i.dst, i.v6), i.dport),
            snd_nxt: e.snd_nxt,
            rcv_nxt: e.rcv_nxt,
        }
    }
}

/// Resets connection `c` at its client, from the cluster address: an
/// RST with the connection's newest state, which the client takes
/// whether it is established (the sequence number it expects) or still
/// waits for the handshake's answer (the ACK of its SYN).
pub(crate) fn reset(c: &Conn) -> std::io::Result<()> {
    send(c.local, c.client, c.snd_nxt, c.rcv_nxt, RST | ACK)
}

/// Tickles per connection.
const TRIES: u32 = 3;
/// How long each round waits for answers: Linux answers a segment outside
/// its window at most every 500 ms per connection (tcp_invalid_ratelimit).
const ROUND: Duration = Duration::from_millis(600);

/// Tickles each of `conns` and resets those whose client answers; how
/// many were reset. Blocks for up to [`TRIES`] × [`ROUND`].
pub(crate) fn reset_all(mut conns: Vec<Conn>) -> std::io::Result<usize> {
    let eth_p_all = (libc::ETH_P_ALL as u16).to_be();
    let wire = Socket::new(
        Domain::PACKET,
        Type::DGRAM,
        Some(Protocol::from(i32::from(eth_p_all))),
    )?;
    wire.set_read_timeout(Some(Duration::from_millis(50)))?;
    let total = conns.len();
    let mut buf = [0u8; 2048];
    for _ in 0..TRIES {
        for c in &conns {
            // Far behind anything the client may expect: outside its window.
            let seq = c.snd_nxt.wrapping_sub(1 << 30);
            send(c.local, c.client, seq, c.rcv_nxt, ACK)?;
        }
        let until = Instant::now() + ROUND;
        while !conns.is_empty() && Instant::now() < until {
            let n = match (&wire).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            let Some(seg) = parse(&buf[..n]) else {
                continue;
            };
            let Some(k) = conns.iter().position(|c| seg.answers(c)) else {
                continue;
            };
            let c = conns.swap_remove(k);
            send(c.local, c.client, seg.ack, 0, RST)?;
        }
        if conns.is_empty() {
            break;
        }
    }
    Ok(total - conns.len())
}

/// A TCP segment seen on the wire: its ends and numbers.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    from: SocketAddr,
    to: SocketAddr,
    ack: u32,
    flags: u8,
}

impl Seen {
    /// Whether this is the client of `c` acknowledging (not resetting).
    fn answers(&self, c: &Conn) -> bool {
        self.from == c.client
            && self.to == c.local
            && self.flags & ACK != 0
            && self.flags & RST == 0
    }
}

/// The TCP segment in IP packet `p`, if it is one (IPv6 without extension
/// headers).
fn parse(p: &[u8]) -> Option<Seen> {
    let (src, dst, tcp): (IpAddr, IpAddr, &[u8]) = match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if p.len() < ihl + 20 || p[9] != 6 {
                return None;
            }
            let a = |o: usize| Some(IpAddr::from(<[u8; 4]>::try_from(&p[o..o + 4]).ok()?));
            (a(12)?, a(16)?, &p[ihl..])
        }
        6 => {
            if p.len() < 60 || p[6] != 6 {
                return None;
            }
            let a = |o: usize| Some(IpAddr::from(<[u8; 16]>::try_from(&p[o..o + 16]).ok()?));
            (a(8)?, a(24)?, &p[40..])
        }
        _ => return None,
    };
    let u16_at = |o: usize| u16::from_be_bytes([tcp[o], tcp[o + 1]]);
    Some(Seen {
        from: SocketAddr::new(src, u16_at(0)),
        to: SocketAddr::new(dst, u16_at(2)),
        ack: u32::from_be_bytes(tcp[8..12].try_into().ok()?),
        flags: tcp[13],
    })
}

/// Sends a bare TCP segment from `from` to `to` (a raw socket bound to
/// the cluster address: the kernel adds the IP header).
fn send(from: SocketAddr, to: SocketAddr, seq: u32, ack: u32, flags: u8) -> std::io::Result<()> {
    let s = Socket::new(Domain::for_address(from), Type::RAW, Some(Protocol::TCP))?;
    s.bind(&SockAddr::from(SocketAddr::new(from.ip(), 0)))?;
    s.send_to(
        &bare(from, to, (seq, ack), flags, 0),
        &SockAddr::from(SocketAddr::new(to.ip(), 0)),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_answer_is_found_in_an_ipv4_packet() {
        let client: SocketAddr = "192.0.2.2:40000".parse().unwrap();
        let local: SocketAddr = "192.0.2.100:80".parse().unwrap();
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 2, 192, 0, 2, 100,
        ];
        p.extend_from_slice(&bare(client, local, (7, 99), ACK, 0));
        let seen = parse(&p).unwrap();
        assert_eq!(seen.ack, 99);
        let c = Conn {
            client,
            local,
            snd_nxt: 0,
            rcv_nxt: 0,
        };
        assert!(seen.answers(&c));
        // Our own tickle, going the other way, is no answer; nor a reset.
        p.truncate(20);
        p[12..20].copy_from_slice(&[192, 0, 2, 100, 192, 0, 2, 2]);
        p.extend_from_slice(&bare(local, client, (7, 99), ACK, 0));
        assert!(!parse(&p).unwrap().answers(&c));
        assert!(parse(&p[..30]).is_none());
    }
}
