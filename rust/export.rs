// SPDX-License-Identifier: GPL-2.0
//! TCP survival, the kernel's part: every segment a connection to a
//! cluster address sends shows its state as the peer will know it (the
//! sequence numbers it carries, the window it opens). For clusters made
//! with `tcp-export`, LOCAL_OUT turns that state into the shared core's
//! failover records (`tcpstate.rs`: Initial and Essential, or Closed) and
//! multicasts them on the `tcp` group, where the daemon coalesces and
//! replicates them. Nothing is kept per connection here.

use crate::bindings::ipcluster_tcp_snap;
use crate::cluster::NetState;
use crate::filter::{self, Verdict};
use crate::hash::IPPROTO_TCP;
use crate::packet::{addr_words, Bytes};
use crate::rcu::RcuGuard;
use crate::skb::Skb;
use crate::tcpstate::{
    conn_id, Closed, Essential, Flags, Initial, Record, ESSENTIAL_LEN, INITIAL_LEN,
};
use core::sync::atomic::{AtomicU32, Ordering};

/// IPv4 LOCAL_OUT.
pub(crate) fn ipv4_out(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
    segment(st, rcu, skb, ifindex, false);
    Verdict::Accept
}

/// IPv6 LOCAL_OUT: the neighbour discovery rewrites, then the export.
pub(crate) fn ipv6_out(st: &NetState, rcu: &RcuGuard, skb: &mut Skb<'_>, ifindex: i32) -> Verdict {
    let v = filter::ndisc_out(st, rcu, skb, ifindex);
    if v == Verdict::Accept {
        segment(st, rcu, skb, ifindex, true);
    }
    v
}

/// Update generations: they rise with every record sent, for any
/// connection, so they rise for each.
static GENERATION: AtomicU32 = AtomicU32::new(0);

fn segment(st: &NetState, rcu: &RcuGuard, skb: &Skb<'_>, ifindex: i32, v6: bool) {
    let Some(set) = st.read(rcu) else {
        return;
    };
    // A TCP segment from a cluster address (IPv6: without extension
    // headers, as TCP sends them).
    let cluster = if v6 {
        let Some(h) = skb.read::<40>(0) else {
            return;
        };
        let src: [u8; 16] = h[8..24].try_into().unwrap_or_default();
        (h[6] == IPPROTO_TCP)
            .then(|| set.by_addr6(ifindex, &addr_words(&src)))
            .flatten()
    } else {
        let Some(h) = skb.read::<20>(0) else {
            return;
        };
        let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        (h[9] == IPPROTO_TCP)
            .then(|| set.by_addr4(ifindex, src))
            .flatten()
    };
    let Some(c) = cluster.filter(|c| c.cfg.tcp_export) else {
        return;
    };
    if !st.net.tcp_listeners() {
        return;
    }
    let Some(snap) = skb.tcp_snap() else {
        return;
    };
    let mut buf = [0u8; INITIAL_LEN + ESSENTIAL_LEN];
    let gen = GENERATION.fetch_add(1, Ordering::Relaxed);
    if let Some(n) = encode(&snap, gen, &mut buf) {
        st.net.tcp_notify(c.cfg.id, &buf[..n]);
    }
}

/// The records for one snapshot: Initial and Essential, or Closed.
fn encode(s: &ipcluster_tcp_snap, gen: u32, out: &mut [u8]) -> Option<usize> {
    let id = conn_id(&s.peer, &s.local, s.peer_port, s.local_port);
    if s.closing != 0 {
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
        v6: s.v6 != 0,
    });
    let essential = Record::Essential(Essential {
        id,
        gen,
        flags: Flags(s.flags),
        snd_wscale: s.snd_wscale.min(14),
        rcv_wscale: s.rcv_wscale.min(14),
        snd_nxt: s.snd_nxt,
        snd_wl1: s.snd_wl1,
        snd_wl2: s.snd_una,
        snd_wnd: s.snd_wnd,
        rcv_nxt: s.rcv_nxt,
        rcv_wnd: s.rcv_wnd,
        ts_recent: s.ts_recent,
        ts_val: s.ts_val,
    });
    let n = initial.encode(out)?;
    Some(n + essential.encode(out.get_mut(n..)?)?)
}
