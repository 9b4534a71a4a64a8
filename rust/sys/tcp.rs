// SPDX-License-Identifier: GPL-2.0
//! TCP connections: the state a segment shows as it leaves, whether a
//! local socket holds a connection, the bytes one has not had
//! acknowledged, and the `tcp` group that carries state to the daemon.

use super::bindings;
use super::net::Net;
use super::rcu::RcuGuard;
use super::skb::{Skb, SkbBytes};
use crate::shared::hash::Flow;
use crate::shared::packet::addr_bytes;
use crate::shared::tcpstate::{Fins, Flags, Initial};
use kernel::error::to_result;
use kernel::prelude::*;

// The C snapshot's flags are the failover record's, bit for bit.
const _: () = {
    assert!(bindings::IPCLUSTER_SNAP_NODELAY == Flags::NODELAY as u32);
    assert!(bindings::IPCLUSTER_SNAP_NO_OPTIONS == Flags::NO_OPTIONS as u32);
    assert!(bindings::IPCLUSTER_SNAP_WSCALE_REQ == Flags::WSCALE_REQ as u32);
    assert!(bindings::IPCLUSTER_SNAP_WSCALE_OK == Flags::WSCALE_OK as u32);
    assert!(bindings::IPCLUSTER_SNAP_TS_REQ == Flags::TS_REQ as u32);
    assert!(bindings::IPCLUSTER_SNAP_TS_OK == Flags::TS_OK as u32);
    assert!(bindings::IPCLUSTER_SNAP_SACK_OK == Flags::SACK_OK as u32);
    assert!(bindings::IPCLUSTER_SNAP_HANDSHAKE == Flags::HANDSHAKE as u32);
    assert!(bindings::IPCLUSTER_SNAP_FIN_IN == Fins::IN as u32);
    assert!(bindings::IPCLUSTER_SNAP_FIN_OUT == Fins::OUT as u32);
};

/// The TCP state of a connection as one of its segments leaves: as it
/// will be once the segment is sent, or for a SYN-ACK once the client
/// acknowledges it. Addresses as IPv6 (IPv4 mapped), the peer's first;
/// ports in host order.
pub(crate) struct Snapshot {
    /// The peer's address.
    pub(crate) peer: [u8; 16],
    /// The cluster address.
    pub(crate) local: [u8; 16],
    /// The peer's port.
    pub(crate) peer_port: u16,
    /// The cluster address's port.
    pub(crate) local_port: u16,
    /// The peer's MSS.
    pub(crate) mss: u16,
    /// Bytes of TCP options on every segment.
    pub(crate) opts_len: u8,
    /// An IPv6 connection.
    pub(crate) v6: bool,
    /// Past what a restore rebuilds (established, or half-closed or
    /// closing with FINs not yet both acknowledged), or this segment has
    /// RST.
    pub(crate) closing: bool,
    /// The essential flags.
    pub(crate) flags: Flags,
    /// The FINs its sequence numbers count.
    pub(crate) fins: Fins,
    /// The peer's window scale.
    pub(crate) snd_wscale: u8,
    /// Our window scale.
    pub(crate) rcv_wscale: u8,
    /// The next sequence number to send (this segment's end, if later).
    pub(crate) snd_nxt: u32,
    /// The sequence number of the segment that last updated the window.
    pub(crate) snd_wl1: u32,
    /// The first unacknowledged sequence number.
    pub(crate) snd_una: u32,
    /// The peer's window.
    pub(crate) snd_wnd: u32,
    /// The next sequence number expected from the peer.
    pub(crate) rcv_nxt: u32,
    /// Our window.
    pub(crate) rcv_wnd: u32,
    /// The peer's last timestamp.
    pub(crate) ts_recent: u32,
    /// Our timestamp clock, as getsockopt(TCP_TIMESTAMP) reads it.
    pub(crate) ts_val: u32,
    /// The first byte the application has not read.
    pub(crate) copied_seq: u32,
    /// The end of what the application wrote.
    pub(crate) write_seq: u32,
    /// The update's generation, taken with the state (socket locked):
    /// of two states of a connection, the later has the later one.
    pub(crate) gen: u32,
    /// The segment's first byte.
    pub(crate) seq: u32,
    /// Where the segment's bytes are, from the network header.
    pub(crate) data_off: u32,
    /// How many it carries.
    pub(crate) data_len: u32,
}

impl Snapshot {
    /// The C snapshot `s`, its bytes at `data_off` from the network header.
    fn of(s: &bindings::ipcluster_tcp_snap, data_off: u32) -> Self {
        Snapshot {
            peer: s.peer,
            local: s.local,
            peer_port: s.peer_port,
            local_port: s.local_port,
            mss: s.mss,
            opts_len: s.opts_len,
            v6: s.v6 != 0,
            closing: s.closing != 0,
            flags: Flags(s.flags),
            fins: Fins(s.fins),
            snd_wscale: s.snd_wscale,
            rcv_wscale: s.rcv_wscale,
            snd_nxt: s.snd_nxt,
            snd_wl1: s.snd_wl1,
            snd_una: s.snd_una,
            snd_wnd: s.snd_wnd,
            rcv_nxt: s.rcv_nxt,
            rcv_wnd: s.rcv_wnd,
            ts_recent: s.ts_recent,
            ts_val: s.ts_val,
            copied_seq: s.copied_seq,
            write_seq: s.write_seq,
            gen: s.gen,
            seq: s.seq,
            data_off,
            data_len: s.data_len,
        }
    }
}

impl Skb<'_> {
    /// The state of the TCP connection this outgoing segment belongs to,
    /// if it comes from a full TCP socket or is a request socket's SYN-ACK
    /// (LOCAL_OUT, for a TCP packet).
    pub(crate) fn tcp_snap(&self) -> Option<Snapshot> {
        let mut s = bindings::ipcluster_tcp_snap::default();
        // SAFETY: a valid skb on the output path (Skb's invariant), its
        // socket locked by the caller of tcp_transmit_skb; `s` is a valid
        // output buffer.
        if !unsafe { bindings::ipcluster_tcp_snap(self.as_raw(), &mut s) } {
            return None;
        }
        Some(Snapshot::of(&s, self.net_offset(s.data_off)))
    }

    /// Whether a local TCP socket, not a listener, holds the connection of
    /// a packet of `flow` arriving on the skb's interface.
    pub(crate) fn holds_tcp(&self, _rcu: &RcuGuard, flow: &Flow, v6: bool) -> bool {
        let conn = bindings::ipcluster_tcp_conn {
            peer: addr_bytes(&flow.src),
            local: addr_bytes(&flow.dst),
            peer_port: flow.sport,
            local_port: flow.dport,
            v6: u8::from(v6),
        };
        // SAFETY: a valid skb with its interface (the input path); `conn`
        // outlives the call; the RCU read side is held (`_rcu`).
        unsafe { bindings::ipcluster_tcp_holds(self.as_raw(), &conn) }
    }
}

impl Net {
    /// Whether anyone listens for TCP state (the `tcp` group).
    pub(crate) fn tcp_listeners(&self) -> bool {
        // SAFETY: a live namespace (Net's invariant); a lockless check of
        // the group's bitmap.
        unsafe { bindings::ipcluster_tcp_listeners(self.as_ptr()) }
    }

    /// Multicasts TCP state records of cluster `id` to the `tcp` group,
    /// followed by `bytes` (a packet's, which the last record, a Data
    /// head, announces). Any context: the message is allocated atomically
    /// (and dropped when that fails: the next segment carries newer state).
    pub(crate) fn tcp_notify(&self, id: u32, records: &[u8], bytes: Option<SkbBytes<'_, '_>>) {
        let Ok(len) = i32::try_from(records.len()) else {
            return;
        };
        let (skb, off, n) = match bytes {
            Some(b) => match b.skb.data_offset(b.off as usize) {
                Some(off) => (b.skb.as_raw().cast_const(), off as u32, b.len),
                None => return,
            },
            None => (core::ptr::null(), 0, 0),
        };
        // SAFETY: a live namespace; `records` is `len` readable bytes and
        // the skb (if any) is live for the call, `off + n` within it
        // (checked by the C side's skb_copy_bits): both are copied into the
        // message before the call returns.
        unsafe {
            bindings::ipcluster_tcp_notify(
                self.as_ptr(),
                id,
                records.as_ptr().cast(),
                len,
                skb,
                off,
                n,
            )
        }
    }

    /// Hands TCP state records of cluster `id` to the namespace's batch:
    /// they go to the `tcp` group with others, within `IPCLUSTER_BATCH_MS`
    /// (20 ms); those of connection `conn` (0: none) replace its own just
    /// before.
    pub(crate) fn tcp_batch(&self, id: u32, conn: u64, records: &[u8]) {
        let Ok(len) = i32::try_from(records.len()) else {
            return;
        };
        // SAFETY: a live namespace whose batch exists while its hooks run
        // (made before they are registered, freed after they are gone: see
        // `pernet`); `records` is `len` readable bytes, copied before the
        // call returns.
        unsafe {
            bindings::ipcluster_tcp_batch(self.as_ptr(), id, conn, records.as_ptr().cast(), len)
        }
    }

    /// Up to `buf.len()` bytes the application wrote to connection `c` (on
    /// interface `ifindex`) and its client has not acknowledged, from
    /// sequence number `from` or the first unacknowledged if later: their
    /// first sequence number and how many. `ENOENT`: no established
    /// connection has those addresses. Process context (locks the socket).
    pub(crate) fn tcp_unsent(
        &self,
        ifindex: i32,
        c: &Initial,
        from: u32,
        buf: &mut [u8],
    ) -> Result<(u32, usize)> {
        self.unsent_raw(ifindex, c, from, buf, None)
    }

    /// Connection `c`'s state as now, and up to `buf.len()` bytes from its
    /// first unacknowledged on (where they start, how many), as
    /// [`Net::tcp_unsent`].
    pub(crate) fn tcp_state(
        &self,
        ifindex: i32,
        c: &Initial,
        buf: &mut [u8],
    ) -> Result<(Snapshot, u32, usize)> {
        let mut s = bindings::ipcluster_tcp_snap::default();
        let (seq, n) = self.unsent_raw(ifindex, c, 0, buf, Some(&mut s))?;
        Ok((Snapshot::of(&s, 0), seq, n))
    }

    fn unsent_raw(
        &self,
        ifindex: i32,
        c: &Initial,
        from: u32,
        buf: &mut [u8],
        snap: Option<&mut bindings::ipcluster_tcp_snap>,
    ) -> Result<(u32, usize)> {
        let conn = bindings::ipcluster_tcp_conn {
            peer: c.src,
            local: c.dst,
            peer_port: c.sport,
            local_port: c.dport,
            v6: u8::from(c.v6),
        };
        let cap = u32::try_from(buf.len()).map_err(|_| EINVAL)?;
        let snap = snap.map_or(core::ptr::null_mut(), |s| s as *mut _);
        let mut seq = 0;
        // SAFETY: a live namespace; `conn`, `seq` and `snap` (null or a
        // valid output buffer) outlive the call, which writes at most
        // `cap` bytes to `buf` and returns before `buf` is used again.
        let n = unsafe {
            bindings::ipcluster_tcp_unsent(
                self.as_ptr(),
                ifindex,
                &conn,
                from,
                buf.as_mut_ptr(),
                cap,
                &mut seq,
                snap,
            )
        };
        to_result(n)?;
        Ok((seq, n as usize))
    }
}
