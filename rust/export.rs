// SPDX-License-Identifier: GPL-2.0
//! TCP survival, the kernel's part: every segment a connection to a
//! cluster address sends shows its state as the peer will know it (the
//! sequence numbers it carries, the window it opens). For clusters made
//! with `tcp-export`, LOCAL_OUT turns that state into the shared core's
//! failover records (`tcpstate.rs`: Initial and Essential, or Closed) and
//! multicasts them on the `tcp` group (in batches, see
//! `rust/c/tcp_batch.c`), where the daemon coalesces and replicates them.
//! Nothing is kept per connection here.
//!
//! A half-closed or closing connection is exported as an established one
//! whose Essential counts its FINs (`Fins`): until both are acknowledged
//! the client may still need its bytes and our FIN, and a restore makes
//! the FINs again. Closed goes out for every end of a connection, so that
//! no replica outlives it: with a segment that shows it past that (a RST
//! sent, a socket in TIME_WAIT or closed), and again when its socket leaves
//! for TCP_CLOSE ([`ended`]), which is the one sign of an end that sends
//! nothing: the client's RST, a timeout, an abort without a RST, and the
//! last ACK of a close.
//!
//! Output commit (clusters with a `commit-queue`): the bytes each segment
//! carries go with its records (Data), those of segments received too,
//! and every exported segment is passed to the netfilter queue, where the
//! daemon holds it until another member has what it reveals. The records
//! go out before the segment is queued, so the daemon always reads the
//! state before the segment that waits for it.

use crate::cluster::{Cluster, NetState};
use crate::shared::hash::IPPROTO_TCP;
use crate::shared::packet::{addr_words, Bytes};
use crate::shared::tcpstate::{
    conn_id, Closed, Data, Dir, Essential, Flags, Initial, Record, CLOSED_LEN, DATA_HEAD_LEN,
    DATA_MAX, ESSENTIAL_LEN, INITIAL_LEN,
};
use crate::sys::nf::Verdict;
use crate::sys::rcu::RcuGuard;
use crate::sys::skb::{Skb, SkbBytes};
use crate::sys::tcp::Snapshot;
use crate::sys::tcp_close::Ended;

/// LOCAL_OUT: exports the state a TCP segment from a cluster address
/// shows, for clusters made with `tcp-export`; under output commit, the
/// segment then waits in the cluster's netfilter queue.
pub(crate) fn segment(
    st: &NetState,
    rcu: &RcuGuard,
    skb: &mut Skb<'_>,
    ifindex: i32,
    v6: bool,
) -> Verdict {
    let Some(c) = sender(st, rcu, skb, ifindex, v6).filter(|c| c.cfg.tcp_export) else {
        return Verdict::Accept;
    };
    // Segments of a full socket, and SYN-ACKs (the connection as it will
    // be once the client acknowledges them): a TIME_WAIT answer or a SYN
    // cookie's SYN-ACK shows no connection state.
    let Some(snap) = skb.tcp_snap() else {
        return Verdict::Accept;
    };
    if st.net.tcp_listeners() {
        send_state(st, c, skb, &snap);
    }
    // A connection past restoring is restored nowhere: nothing to hold.
    match c.cfg.commit_queue {
        Some(q) if !snap.closing => {
            skb.uncharge();
            Verdict::Queue(q)
        }
        _ => Verdict::Accept,
    }
}

/// A connection's socket left for TCP_CLOSE, however it ended: Closed, to
/// every `tcp-export` cluster whose address is its local one (a socket
/// is tied to no interface: a cluster address on two gets it twice). A
/// RST that TCP refused (out of its window) changes no state and comes
/// nowhere near here. The same way as the connection's last records, and
/// so after them: through the batch, or at once under output commit,
/// where a new connection on the same 4-tuple (a TIME_WAIT socket
/// accepting a new SYN) exports its records at once, and an old Closed
/// still in the batch would come after them and end the new one.
pub(crate) fn ended(st: &NetState, rcu: &RcuGuard, c: &Ended) {
    if !st.net.tcp_listeners() {
        return;
    }
    let Some(set) = st.read(rcu) else {
        return;
    };
    let mut clusters = set
        .list
        .iter()
        .filter(|k| k.cfg.tcp_export && k.cfg.is_address(c.v6, &c.local))
        .peekable();
    if clusters.peek().is_none() {
        return;
    }
    let id = conn_id(&c.peer, &c.local, c.peer_port, c.local_port);
    let mut buf = [0u8; CLOSED_LEN];
    let Some(n) = Record::Closed(Closed { id }).encode(&mut buf) else {
        return;
    };
    for k in clusters {
        if k.cfg.commit_queue.is_some() {
            st.net.tcp_notify(k.cfg.id, &buf[..n], None);
        } else {
            st.net.tcp_batch(k.cfg.id, 0, &buf[..n]);
        }
    }
}

/// The cluster whose address sends this TCP segment (IPv6: without
/// extension headers, as TCP sends them), if any.
fn sender<'a>(
    st: &'a NetState,
    rcu: &'a RcuGuard,
    skb: &Skb<'_>,
    ifindex: i32,
    v6: bool,
) -> Option<&'a Cluster> {
    let set = st.read(rcu)?;
    if v6 {
        let h = skb.read::<40>(0)?;
        let src: [u8; 16] = h[8..24].try_into().unwrap_or_default();
        (h[6] == IPPROTO_TCP)
            .then(|| set.by_addr6(ifindex, &addr_words(&src)))
            .flatten()
    } else {
        let h = skb.read::<20>(0)?;
        let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        (h[9] == IPPROTO_TCP)
            .then(|| set.by_addr4(ifindex, src))
            .flatten()
    }
}

/// Most bytes of a sent segment exported with its records, which share
/// the netlink attribute [`DATA_MAX`] fills. A GSO segment can carry up to
/// 64 KiB: the daemon fetches the rest from the socket when it finds the
/// gap.
const OUT_MAX: u32 = DATA_MAX - (INITIAL_LEN + ESSENTIAL_LEN) as u32;

/// Sends the records of `snap` to the daemon: under output commit at once,
/// with the segment's bytes; otherwise through the namespace's batch.
fn send_state(st: &NetState, c: &Cluster, skb: &Skb<'_>, snap: &Snapshot) {
    let mut buf = [0u8; INITIAL_LEN + ESSENTIAL_LEN + DATA_HEAD_LEN];
    let Some(mut n) = encode(snap, &mut buf) else {
        return;
    };
    let id = || conn_id(&snap.peer, &snap.local, snap.peer_port, snap.local_port);
    if c.cfg.commit_queue.is_some() {
        let mut bytes = None;
        if snap.data_len > 0 {
            let len = snap.data_len.min(OUT_MAX);
            n += data(id(), Dir::Out, snap.seq, len, &mut buf[n..]);
            bytes = Some(SkbBytes {
                skb,
                off: snap.data_off,
                len,
            });
        }
        st.net.tcp_notify(c.cfg.id, &buf[..n], bytes);
    } else {
        // Only an established connection's update replaces its last one:
        // a handshake's state and a close always go.
        let settled = !snap.closing && !snap.flags.has(Flags::HANDSHAKE);
        let conn = if settled { id() } else { 0 };
        st.net.tcp_batch(c.cfg.id, conn, &buf[..n]);
    }
}

/// A Data head for `len` bytes (at most [`DATA_MAX`]) from `seq`; its
/// length, 0 if it does not fit.
fn data(id: u64, dir: Dir, seq: u32, len: u32, out: &mut [u8]) -> usize {
    let len = len.min(DATA_MAX);
    Record::Data(Data { id, dir, seq, len })
        .encode(out)
        .unwrap_or(0)
}

/// PRE_ROUTING, a segment kept for cluster `c` in output-commit mode: the
/// bytes it carries go to the daemon (before TCP acknowledges them in a
/// segment the daemon holds).
pub(crate) fn received(st: &NetState, c: &Cluster, skb: &mut Skb<'_>, v6: bool) {
    if !st.net.tcp_listeners() {
        return;
    }
    let Some(i) = tcp_in(skb, v6) else {
        return;
    };
    let id = conn_id(&i.peer, &i.local, i.peer_port, i.local_port);
    let len = i.data_len.min(DATA_MAX);
    let mut buf = [0u8; DATA_HEAD_LEN];
    let n = data(id, Dir::In, i.seq, len, &mut buf);
    if n == DATA_HEAD_LEN {
        let bytes = SkbBytes {
            skb,
            off: i.data_off,
            len,
        };
        st.net.tcp_notify(c.cfg.id, &buf, Some(bytes));
    }
}

/// A received TCP segment's connection (addresses as IPv6, IPv4 mapped;
/// ports in host order) and where its bytes are.
struct Segment {
    peer: [u8; 16],
    local: [u8; 16],
    peer_port: u16,
    local_port: u16,
    seq: u32,
    /// From the network header.
    data_off: u32,
    data_len: u32,
}

/// An IPv4 address as an IPv4-mapped IPv6 one (`::ffff:a.b.c.d`).
fn mapped(a: &[u8]) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[10] = 0xff;
    m[11] = 0xff;
    m[12..].copy_from_slice(&a[..4]);
    m
}

/// The received TCP segment in `skb`, if it carries bytes, is neither a
/// SYN nor a RST, and its checksum is good: bytes TCP will refuse must not
/// reach a replica. IPv6 without extension headers, IPv4 unfragmented:
/// as TCP sends them.
fn tcp_in(skb: &mut Skb<'_>, v6: bool) -> Option<Segment> {
    let (peer, local, l4) = if v6 {
        let h = skb.read::<40>(0)?;
        if h[6] != IPPROTO_TCP {
            return None;
        }
        let addr = |b: &[u8]| -> [u8; 16] { b.try_into().unwrap_or_default() };
        (addr(&h[8..24]), addr(&h[24..40]), 40)
    } else {
        let h = skb.read::<20>(0)?;
        // Fragment offset and more-fragments bits.
        let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
        if h[9] != IPPROTO_TCP || fragment {
            return None;
        }
        let ihl = usize::from(h[0] & 0x0f) * 4;
        (mapped(&h[12..16]), mapped(&h[16..20]), ihl)
    };
    let th = skb.read::<20>(l4)?;
    let doff = usize::from(th[12] >> 4) * 4;
    let (syn, rst) = (th[13] & 0x02 != 0, th[13] & 0x04 != 0);
    let len = skb.len() as usize;
    if doff < 20 || syn || rst || len <= l4 + doff || !skb.tcp_checksum_ok(l4, v6) {
        return None;
    }
    Some(Segment {
        peer,
        local,
        peer_port: u16::from_be_bytes([th[0], th[1]]),
        local_port: u16::from_be_bytes([th[2], th[3]]),
        seq: u32::from_be_bytes([th[4], th[5], th[6], th[7]]),
        data_off: (l4 + doff) as u32,
        data_len: (len - l4 - doff) as u32,
    })
}

/// The records for one snapshot: Initial and Essential, or Closed; their
/// length.
pub(crate) fn encode(s: &Snapshot, out: &mut [u8]) -> Option<usize> {
    let id = conn_id(&s.peer, &s.local, s.peer_port, s.local_port);
    if s.closing {
        return Record::Closed(Closed { id }).encode(out);
    }
    let initial = Record::Initial(Initial {
        id,
        src: s.peer,
        dst: s.local,
        sport: s.peer_port,
        dport: s.local_port,
        mss: s.mss,
        opts_len: s.opts_len,
        v6: s.v6,
    });
    let essential = Record::Essential(Essential {
        id,
        gen: s.gen,
        flags: s.flags,
        snd_wscale: s.snd_wscale.min(14),
        fins: s.fins,
        rcv_wscale: s.rcv_wscale.min(14),
        snd_nxt: s.snd_nxt,
        snd_wl1: s.snd_wl1,
        snd_wl2: s.snd_una,
        snd_wnd: s.snd_wnd,
        rcv_nxt: s.rcv_nxt,
        rcv_wnd: s.rcv_wnd,
        ts_recent: s.ts_recent,
        ts_val: s.ts_val,
        copied: s.copied_seq,
        written: s.write_seq,
    });
    let n = initial.encode(out)?;
    Some(n + essential.encode(out.get_mut(n..)?)?)
}
