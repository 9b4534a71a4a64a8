//! Rebuilding a connection from its replicated state through the kernel's
//! own TCP repair (what CRIU uses): a socket in repair mode takes its
//! sequence numbers, becomes ESTABLISHED on `connect` without a SYN, takes
//! the negotiated options, timestamp clock and windows, and leaves repair
//! mode with a window probe that tells the client where it stands. Nothing
//! of `tcp_sock` is poked by hand.
//!
//! With the queues' bytes (output commit), the send queue starts at the
//! client's last acknowledgement and holds the bytes sent since, as sent:
//! the retransmission timer sends them again unless the client's answer to
//! the window probe acknowledges them; the receive queue holds what the
//! old owner's application had not read yet. Without them (async mode)
//! both queues start empty at `snd_nxt` and `rcv_nxt`.
//!
//! A half-closed or closing connection is rebuilt established from the
//! numbers without its FINs, then made what it was: the client's FIN
//! received again (`fin`), ours queued after the bytes written with
//! `shutdown`.
//!
//! What is calculable (Fig. 7) starts afresh: RTT and congestion window
//! estimates, timers.

mod fin;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use super::trust::{Authority, Refusal};
use crate::shared::tcpstate::{Essential, Fins, Flags, Initial};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// `TCP_REPAIR_QUEUE` values.
const TCP_RECV_QUEUE: libc::c_int = 1;
const TCP_SEND_QUEUE: libc::c_int = 2;
/// `TCP_REPAIR` off: leave repair mode, sending a window probe.
const TCP_REPAIR_OFF: libc::c_int = 0;
/// TCP option kinds for `TCP_REPAIR_OPTIONS`.
const TCPOPT_MSS: u32 = 2;
const TCPOPT_WINDOW: u32 = 3;
const TCPOPT_SACK_PERM: u32 = 4;
const TCPOPT_TIMESTAMP: u32 = 8;

/// `struct tcp_repair_opt`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RepairOpt {
    code: u32,
    val: u32,
}

/// `struct tcp_repair_window`.
#[repr(C)]
struct RepairWindow {
    snd_wl1: u32,
    snd_wnd: u32,
    max_window: u32,
    rcv_wnd: u32,
    rcv_wup: u32,
}

fn setsockopt<T>(s: &Socket, opt: libc::c_int, val: &T) -> io::Result<()> {
    setsockopt_bytes(s, opt, (val as *const T).cast(), std::mem::size_of::<T>())
}

fn setsockopt_bytes(
    s: &Socket,
    opt: libc::c_int,
    val: *const libc::c_void,
    len: usize,
) -> io::Result<()> {
    // SAFETY: `val` points at `len` initialised bytes (a `T` or a slice of
    // them, see the callers) that outlive the call; the fd is open.
    let r = unsafe { libc::setsockopt(s.as_raw_fd(), libc::SOL_TCP, opt, val, len as u32) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn addr(a: &[u8; 16], v6: bool, port: u16) -> SocketAddr {
    SocketAddr::new(crate::kapi::addr::unmapped(a, v6), port)
}

/// Closes restored connection `fd` with a reset (a zero linger time): a
/// connection nobody will serve must not leave its client waiting.
pub(crate) fn reset(fd: OwnedFd) {
    let s = Socket::from(fd);
    // Without the linger time it closes with a FIN instead; nothing else
    // to do about it.
    let _ = s.set_linger(Some(Duration::ZERO));
}

/// The options a restored connection negotiated, for `TCP_REPAIR_OPTIONS`.
fn options(i: &Initial, e: &Essential) -> Vec<RepairOpt> {
    let mut v = vec![RepairOpt {
        code: TCPOPT_MSS,
        val: u32::from(i.mss),
    }];
    if e.flags.has(Flags::WSCALE_OK) {
        v.push(RepairOpt {
            code: TCPOPT_WINDOW,
            val: u32::from(e.snd_wscale) | u32::from(e.rcv_wscale) << 16,
        });
    }
    if e.flags.has(Flags::SACK_OK) {
        v.push(RepairOpt {
            code: TCPOPT_SACK_PERM,
            val: 0,
        });
    }
    if e.flags.has(Flags::TS_OK) {
        v.push(RepairOpt {
            code: TCPOPT_TIMESTAMP,
            val: 0,
        });
    }
    v
}

/// The timestamp clock to restore: the old owner's, moved on by the time
/// since its last update (milliseconds, or microseconds when the low bit
/// says so), so the client's PAWS check sees it rise.
fn ts_val(e: &Essential, since: Duration) -> u32 {
    let usec = e.ts_val & 1;
    let step = if usec == 1 {
        since.as_micros()
    } else {
        since.as_millis()
    };
    (e.ts_val.wrapping_add(step as u32) & !1) | usec
}

/// Writes all of `b` into the queue repair mode selected.
fn fill(s: &Socket, b: &[u8]) -> io::Result<()> {
    let mut done = 0;
    while done < b.len() {
        done += s.send(&b[done..])?;
    }
    Ok(())
}

/// Whether connection `i` may be restored here: named by its 4-tuple, to
/// one of the cluster's addresses (a replica must never make this host
/// bind 127.0.0.1 or an address that is not the cluster's, and hand its
/// "unread" bytes to an application as a request), in a bucket `mine`
/// says this member owns now. Checked again at the restore, whatever the
/// replica passed when it came.
pub(crate) fn admissible(i: &Initial, auth: &Authority, mine: bool) -> Result<(), Refusal> {
    auth.well_formed(i)?;
    if !mine {
        return Err(Refusal::NotMine);
    }
    Ok(())
}

/// Rebuilds the connection `i`/`e` (last updated `since` ago; its numbers
/// without its FINs, see `Essential::without_fins`) as a socket of this
/// host, out of repair mode: ESTABLISHED, or half-closed or closing as
/// its FINs say; with the bytes sent but unacknowledged (from
/// `e.snd_wl2`, sent again at once) and received but unread (from
/// `e.copied`) when they are known. `prepare` sees the socket first,
/// while it is fresh.
pub(crate) fn restore(
    i: &Initial,
    e: &Essential,
    since: Duration,
    unacked: Option<&[u8]>,
    unread: Option<&[u8]>,
    prepare: &mut dyn FnMut(BorrowedFd<'_>) -> io::Result<()>,
) -> io::Result<OwnedFd> {
    let s = connect_repaired(i, e, (unacked.is_some(), unread.is_some()), prepare)?;
    set_negotiated(&s, i, e, since)?;
    // In repair mode, bytes written go into the selected queue (the
    // receive queue, selected last) as received: rcv_nxt moves past them.
    if let Some(b) = unread.filter(|b| !b.is_empty()) {
        fill(&s, b)?;
    }
    let fin_in = e.fins.has(Fins::IN);
    let w = RepairWindow {
        snd_wl1: e.snd_wl1,
        snd_wnd: e.snd_wnd,
        max_window: e.snd_wnd,
        // The client's FIN, made again, takes one more sequence number:
        // its last window update came after it (snd_wl1 past rcv_nxt), which
        // TCP_REPAIR_WINDOW refuses beyond the window's end.
        rcv_wnd: e.rcv_wnd + u32::from(fin_in),
        rcv_wup: e.rcv_nxt,
    };
    setsockopt(&s, libc::TCP_REPAIR_WINDOW, &w)?;
    if fin_in {
        let snd_una = if unacked.is_some() {
            e.snd_wl2
        } else {
            e.snd_nxt
        };
        fin::receive(&s, i, e, snd_una)?;
    }
    if e.flags.has(Flags::NODELAY) {
        s.set_tcp_nodelay(true)?;
    }
    setsockopt(&s, libc::TCP_REPAIR, &TCP_REPAIR_OFF)?;
    if let Some(b) = unacked.filter(|b| !b.is_empty()) {
        resend(&s, b)?;
    }
    if e.fins.has(Fins::OUT) {
        s.shutdown(std::net::Shutdown::Write)?;
    }
    Ok(s.into())
}

/// A socket in repair mode bound to the cluster address and connected to
/// the client of `i` without a SYN, its send queue starting at the
/// client's last acknowledgement when `unacked` bytes come with it (else
/// at `snd_nxt`), its receive queue at the application's last read when
/// `unread` bytes do (else at `rcv_nxt`); the receive queue is left
/// selected.
fn connect_repaired(
    i: &Initial,
    e: &Essential,
    (unacked, unread): (bool, bool),
    prepare: &mut dyn FnMut(BorrowedFd<'_>) -> io::Result<()>,
) -> io::Result<Socket> {
    let local = addr(&i.dst, i.v6, i.dport);
    let peer = addr(&i.src, i.v6, i.sport);
    let s = Socket::new(
        Domain::for_address(local),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    prepare(s.as_fd())?;
    // Repair mode first: binding then ignores the application's listener
    // on the same port (SK_FORCE_REUSE; SO_REUSEADDR would undo it), and
    // connect sends no SYN.
    setsockopt(&s, libc::TCP_REPAIR, &1i32)?;
    s.bind(&SockAddr::from(local))?;
    let snd = if unacked { e.snd_wl2 } else { e.snd_nxt };
    let rcv = if unread { e.copied } else { e.rcv_nxt };
    setsockopt(&s, libc::TCP_REPAIR_QUEUE, &TCP_SEND_QUEUE)?;
    setsockopt(&s, libc::TCP_QUEUE_SEQ, &snd)?;
    setsockopt(&s, libc::TCP_REPAIR_QUEUE, &TCP_RECV_QUEUE)?;
    setsockopt(&s, libc::TCP_QUEUE_SEQ, &rcv)?;
    s.connect(&SockAddr::from(peer)).map_err(|err| {
        // The 4-tuple is in use: a socket of this host holds the connection
        // already (e.g. restored before, by a member that was not dead).
        if err.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
            io::Error::new(io::ErrorKind::AlreadyExists, "held here already")
        } else {
            err
        }
    })?;
    Ok(s)
}

/// The options the connection negotiated, and its timestamp clock moved on
/// by `since`.
fn set_negotiated(s: &Socket, i: &Initial, e: &Essential, since: Duration) -> io::Result<()> {
    let opts = options(i, e);
    setsockopt_bytes(
        s,
        libc::TCP_REPAIR_OPTIONS,
        opts.as_ptr().cast(),
        std::mem::size_of_val(opts.as_slice()),
    )?;
    if e.flags.has(Flags::TS_OK) {
        setsockopt(s, libc::TCP_TIMESTAMP, &ts_val(e, since))?;
    }
    Ok(())
}

/// Out of repair mode, sends the bytes sent but unacknowledged again now,
/// as new data from snd_una (the client drops what it already has).
/// Written in repair mode they would count as sent, and a socket with no
/// RTT sample retransmits them only after TCP_TIMEOUT_INIT, a second. The
/// send buffer first makes room for them all (past wmem_max: bytes
/// written but not sent may be many), so that the write never waits for
/// the client.
fn resend(s: &Socket, b: &[u8]) -> io::Result<()> {
    crate::kapi::sys::sockbuf::grow(
        s.as_raw_fd(),
        crate::kapi::sys::sockbuf::Buf::Send,
        2 * b.len(),
    )?;
    fill(s, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A restore as the daemon makes one, a millisecond after the state,
    /// with nothing to prepare.
    fn restored(
        i: &Initial,
        e: &Essential,
        unacked: Option<&[u8]>,
        unread: Option<&[u8]>,
    ) -> io::Result<OwnedFd> {
        restore(i, e, Duration::from_millis(1), unacked, unread, &mut |_| {
            Ok(())
        })
    }
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn only_the_clusters_connections_in_our_buckets_are_restored() {
        use crate::shared::hash::{FlowHash, Mode};
        use crate::shared::tcpstate::conn_id;
        let auth = Authority::new(
            FlowHash::new(Mode::Seed),
            2,
            vec!["192.0.2.100".parse().unwrap()],
        );
        let named = |mut i: Initial| {
            i.id = conn_id(&i.src, &i.dst, i.sport, i.dport);
            i
        };
        let good = named(crate::shared::fixtures::initial(0, 40000));
        assert_eq!(admissible(&good, &auth, true), Ok(()));
        assert_eq!(admissible(&good, &auth, false), Err(Refusal::NotMine));
        let mut local = good;
        local.dst[12..].copy_from_slice(&[127, 0, 0, 1]);
        let local = named(local);
        assert_eq!(
            admissible(&local, &auth, true),
            Err(Refusal::ForeignDestination)
        );
        let mut foreign = good;
        foreign.dst[15] = 7;
        let foreign = named(foreign);
        assert_eq!(
            admissible(&foreign, &auth, true),
            Err(Refusal::ForeignDestination)
        );
        let renamed = Initial {
            id: good.id ^ 1,
            ..good
        };
        assert_eq!(admissible(&renamed, &auth, true), Err(Refusal::BadId));
    }

    #[test]
    fn timestamps_move_on_in_their_unit() {
        let ms = Essential {
            ts_val: 1000,
            ..Essential::default()
        };
        assert_eq!(ts_val(&ms, Duration::from_millis(250)), 1250);
        let us = Essential {
            ts_val: 1001,
            ..Essential::default()
        };
        assert_eq!(ts_val(&us, Duration::from_micros(10)), 1011);
        let wrap = Essential {
            ts_val: u32::MAX - 1,
            ..Essential::default()
        };
        assert_eq!(ts_val(&wrap, Duration::from_millis(4)), 2);
    }

    #[test]
    fn options_follow_the_flags() {
        let i = Initial {
            id: 1,
            src: [0; 16],
            dst: [0; 16],
            sport: 1,
            dport: 2,
            mss: 1448,
            opts_len: 12,
            v6: false,
        };
        let e = Essential {
            flags: Flags(Flags::WSCALE_OK | Flags::TS_OK),
            snd_wscale: 7,
            rcv_wscale: 9,
            ..Essential::default()
        };
        let got: Vec<(u32, u32)> = options(&i, &e).iter().map(|o| (o.code, o.val)).collect();
        assert_eq!(got, [(2, 1448), (3, 7 | 9 << 16), (8, 0)]);
    }

    /// A live connection's server side is restored onto a second socket
    /// (as root, where repair mode is allowed): the client talks on with
    /// it. The state is read from the old socket as the kernel's export
    /// would (TCP_REPAIR getsockopts), and the old one is closed silently.
    #[test]
    fn a_restored_socket_carries_the_connection_on() {
        let Some((_l, mut client, mut server)) = connection() else {
            return;
        };
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        server.write_all(b"pong").unwrap();
        client.read_exact(&mut buf).unwrap();
        let (i, e) = snapshot(&server, &client);
        vanish(server);
        let restored = restored(&i, &e, None, None).unwrap();
        let mut server = TcpStream::from(restored);
        client.write_all(b"more").unwrap();
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"more");
        server.write_all(b"back").unwrap();
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"back");
    }

    /// A connection a local socket still holds is not restored twice:
    /// the restore says so, and the connection carries on as it was.
    #[test]
    fn a_connection_held_here_is_not_restored_again() {
        let Some((_l, mut client, mut server)) = connection() else {
            return;
        };
        let (i, e) = snapshot(&server, &client);
        let err = restored(&i, &e, None, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }

    /// With its queues (output commit): bytes the old server had received
    /// but not read are read from the restored one, and bytes it sent
    /// unacknowledged are sent again (the client, which has them, drops
    /// the copy).
    #[test]
    fn a_restored_socket_gets_its_queues_back() {
        let Some((_l, mut client, server)) = connection() else {
            return;
        };
        let mut buf = [0u8; 4];
        (&server).write_all(b"pong").unwrap();
        client.read_exact(&mut buf).unwrap();
        client.write_all(b"more").unwrap();
        std::thread::sleep(Duration::from_millis(50)); // received, unread
        let (i, mut e) = snapshot(&server, &client);
        e.copied = e.rcv_nxt.wrapping_sub(4);
        e.snd_wl2 = e.snd_nxt.wrapping_sub(4);
        vanish(server);
        let fd = restored(&i, &e, Some(b"pong"), Some(b"more")).unwrap();
        let mut server = TcpStream::from(fd);
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"more");
        server.write_all(b"back").unwrap();
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"back");
    }

    /// Bytes the old server sent that never reached the client (lost with
    /// it) reach the client from the restored socket at once, not after
    /// its retransmission timer (200 ms at the least; 1 s with no RTT
    /// sample cached for the peer).
    #[test]
    fn bytes_the_client_never_got_are_sent_at_once() {
        let Some((_l, mut client, server)) = connection() else {
            return;
        };
        let (i, mut e) = snapshot(&server, &client);
        // As if "lost" had been sent (snd_nxt past it) and lost on the way.
        e.snd_wl2 = e.snd_nxt;
        e.snd_nxt = e.snd_nxt.wrapping_add(4);
        vanish(server);
        let fd = restored(&i, &e, Some(b"lost"), Some(b"")).unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"lost");
        drop(fd);
    }

    /// A connection whose client had sent its request and its FIN, the
    /// server reading neither: the restored server reads the request,
    /// then the end of the stream, and its answer and FIN reach the
    /// client.
    #[test]
    fn a_half_closed_connection_gets_the_clients_fin_again() {
        half_closed_restored("127.0.0.1:0");
    }

    /// The same over IPv6: the FIN made again with an IPv6 header.
    #[test]
    fn a_half_closed_ipv6_connection_gets_the_clients_fin_again() {
        half_closed_restored("[::1]:0");
    }

    fn half_closed_restored(addr: &str) {
        let Some((_l, mut client, server)) = connection_at(addr) else {
            return;
        };
        client.write_all(b"req").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(50)); // received, unread
        let (i, mut e) = snapshot(&server, &client);
        e.fins = Fins(Fins::IN);
        e.copied = e.rcv_nxt.wrapping_sub(4);
        vanish(server);
        let e = e.without_fins();
        let fd = restored(&i, &e, Some(b""), Some(b"req")).unwrap();
        let mut server = TcpStream::from(fd);
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"req");
        server.write_all(b"ans").unwrap();
        drop(server);
        assert_eq!(to_the_end(&mut client), b"ans");
    }

    /// A connection both sides had closed, the server's answer and FIN
    /// lost with it: the restored socket, closed at once as the daemon
    /// does, sends the answer and then the FIN.
    #[test]
    fn a_closed_connection_sends_what_is_left_then_its_fin() {
        let Some((_l, mut client, server)) = connection() else {
            return;
        };
        client.shutdown(std::net::Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let (i, mut e) = snapshot(&server, &client);
        vanish(server);
        // As if the server had written "ans" and closed, and both were
        // lost on the way.
        e.fins = Fins(Fins::IN | Fins::OUT);
        e.written = e.snd_nxt.wrapping_add(4);
        e.snd_nxt = e.written;
        let e = e.without_fins();
        drop(restored(&i, &e, Some(b"ans"), None).unwrap());
        assert_eq!(to_the_end(&mut client), b"ans");
    }

    /// What `client` reads up to the end of the stream, which must come
    /// within 5 s.
    fn to_the_end(client: &mut TcpStream) -> Vec<u8> {
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        got
    }

    /// A loopback connection (its listener, client and server sides), or
    /// None when not root: repair mode needs CAP_NET_ADMIN. The listener
    /// stays while the test runs: a restore binds beside it, as on a
    /// member.
    fn connection() -> Option<(TcpListener, TcpStream, TcpStream)> {
        connection_at("127.0.0.1:0")
    }

    /// The same, its listener bound to `addr`.
    fn connection_at(addr: &str) -> Option<(TcpListener, TcpStream, TcpStream)> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: repair mode needs CAP_NET_ADMIN");
            return None;
        }
        let l = TcpListener::bind(addr).unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        Some((l, client, server))
    }

    /// Closes the old server side without a FIN or RST: in repair mode.
    fn vanish(server: TcpStream) {
        let old = Socket::from(OwnedFd::from(server));
        setsockopt(&old, libc::TCP_REPAIR, &1i32).unwrap();
    }

    fn getsockopt_u32(s: &impl AsRawFd, opt: libc::c_int) -> u32 {
        let mut v = 0u32;
        let mut len = 4u32;
        // SAFETY: `v` has room for the 4 bytes asked for; the fd is open.
        let r = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::SOL_TCP,
                opt,
                (&raw mut v).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        v
    }

    fn snapshot(server: &TcpStream, client: &TcpStream) -> (Initial, Essential) {
        let mapped = |a: SocketAddr| crate::kapi::addr::mapped(a.ip());
        let (peer, local) = (client.local_addr().unwrap(), server.local_addr().unwrap());
        let sock = socket2::SockRef::from(server);
        setsockopt(&sock, libc::TCP_REPAIR, &1i32).unwrap();
        setsockopt(&sock, libc::TCP_REPAIR_QUEUE, &TCP_SEND_QUEUE).unwrap();
        let snd_nxt = getsockopt_u32(server, libc::TCP_QUEUE_SEQ);
        setsockopt(&sock, libc::TCP_REPAIR_QUEUE, &TCP_RECV_QUEUE).unwrap();
        let rcv_nxt = getsockopt_u32(server, libc::TCP_QUEUE_SEQ);
        let ts = getsockopt_u32(server, libc::TCP_TIMESTAMP);
        setsockopt(&sock, libc::TCP_REPAIR, &TCP_REPAIR_OFF).unwrap();
        let i = Initial {
            id: 1,
            src: mapped(peer),
            dst: mapped(local),
            sport: peer.port(),
            dport: local.port(),
            mss: 1448,
            opts_len: 12,
            v6: peer.is_ipv6(),
        };
        let e = Essential {
            id: 1,
            gen: 1,
            flags: Flags(Flags::TS_OK | Flags::SACK_OK | Flags::WSCALE_OK),
            snd_wscale: 7,
            rcv_wscale: 7,
            fins: Fins::default(),
            snd_nxt,
            snd_wl1: rcv_nxt,
            snd_wl2: snd_nxt,
            snd_wnd: 65535,
            rcv_nxt,
            rcv_wnd: 65535,
            ts_recent: 0,
            ts_val: ts,
            copied: rcv_nxt,
            written: snd_nxt,
        };
        (i, e)
    }
}
