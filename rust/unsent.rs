// SPDX-License-Identifier: GPL-2.0
//! `tcp-unsent`, output commit's question: the bytes an application wrote
//! to a connection that its client has not acknowledged, from a sequence
//! number on. Those its socket has not sent yet (a full congestion or
//! receive window, segments held in the queue) show in no segment, so the
//! export never carries them; the daemon asks here once it sees a state
//! record with more written than it holds, and replicates the answer
//! before that record.
//!
//! Asked with the connection's Initial alone, it answers what the export
//! would have said: the connection's records as now and its bytes from the
//! first unacknowledged. The daemon asks so for a held segment whose
//! records the export lost, rather than drop the segment and wait for
//! TCP's retransmission timer to export them again.

use crate::cluster::NetState;
use crate::control;
use crate::export;
use crate::shared::tcpstate::{
    Data, Dir, Initial, Record, DATA_HEAD_LEN, ESSENTIAL_LEN, INITIAL_LEN,
};
use crate::sys::genl::{Msg, Request, Writer};
use crate::sys::uapi::*;
use kernel::c_str;
use kernel::prelude::*;

/// Most bytes one answer carries (the daemon reads up to 32 KiB at once).
pub(crate) const UNSENT_MAX: usize = 16 * 1024;

/// Room for a connection's records: Initial and Essential, or Closed.
const STATE_LEN: usize = INITIAL_LEN + ESSENTIAL_LEN;

/// What the daemon asks of a connection.
enum Ask {
    /// Its bytes from this sequence number on.
    From(u32),
    /// Its state as now, and its bytes from the first unacknowledged.
    State,
}

/// tcp-unsent (do). Request records: the connection's Initial and an empty
/// Data head (direction out) at the first sequence number wanted, or the
/// Initial alone. Reply: a Data record with up to [`UNSENT_MAX`] bytes,
/// after the connection's records as now when the Initial came alone.
/// Only for a connection to the cluster's address (EPERM otherwise).
pub(crate) fn tcp_unsent(req: &Request) -> Result {
    let st: &NetState = req.state()?;
    let c = {
        let reg = st.writer.lock();
        control::find(req, st, &reg, IPCLUSTER_A_TCP_STATE_CLUSTER_ID)?
    };
    if !c.cfg.tcp_export {
        return Err(req.fail(
            Some(IPCLUSTER_A_TCP_STATE_CLUSTER_ID),
            c_str!("the cluster does not export TCP state"),
            EINVAL,
        ));
    }
    let records = req.bytes(IPCLUSTER_A_TCP_STATE_RECORDS).unwrap_or_default();
    let Some((conn, ask)) = question(records) else {
        return Err(req.fail(
            Some(IPCLUSTER_A_TCP_STATE_RECORDS),
            c_str!("want a connection's Initial record, and maybe an empty Data head (out)"),
            EINVAL,
        ));
    };
    // Only the connections the cluster exports: its address is the local
    // end (no other socket of the namespace is looked up).
    if !c.cfg.is_address(conn.v6, &conn.dst) {
        return Err(req.fail(
            Some(IPCLUSTER_A_TCP_STATE_RECORDS),
            c_str!("the connection is not to the cluster's address"),
            EPERM,
        ));
    }
    let mut buf = KVec::from_elem(0u8, STATE_LEN + DATA_HEAD_LEN + UNSENT_MAX, GFP_KERNEL)?;
    let bytes = &mut buf[STATE_LEN + DATA_HEAD_LEN..];
    let answer = match ask {
        Ask::From(from) => st
            .net
            .tcp_unsent(c.cfg.ifindex, &conn, from, bytes)
            .map(|(seq, n)| (None, seq, n)),
        Ask::State => st
            .net
            .tcp_state(c.cfg.ifindex, &conn, bytes)
            .map(|(snap, seq, n)| (Some(snap), seq, n)),
    };
    let (snap, seq, n) = answer.map_err(|e| match e {
        e if e == ENOENT => req.fail(
            Some(IPCLUSTER_A_TCP_STATE_RECORDS),
            c_str!("no established connection has those addresses"),
            ENOENT,
        ),
        e => e,
    })?;
    // The records, if any, go right before the Data head and its bytes; a
    // closing connection's Closed alone (it is restored nowhere).
    let mut start = STATE_LEN;
    let mut end = STATE_LEN + DATA_HEAD_LEN + n;
    if let Some(snap) = &snap {
        let k = export::encode(snap, &mut buf[..STATE_LEN]).ok_or(EINVAL)?;
        buf.copy_within(..k, STATE_LEN - k);
        start = STATE_LEN - k;
        if snap.closing {
            end = STATE_LEN;
        }
    }
    let d = Data {
        id: conn.id,
        dir: Dir::Out,
        seq,
        len: n as u32,
    };
    Record::Data(d)
        .encode(&mut buf[STATE_LEN..STATE_LEN + DATA_HEAD_LEN])
        .ok_or(EINVAL)?;
    let mut m = Msg::reply(req, IPCLUSTER_CMD_TCP_UNSENT, end - start + 64)?;
    m.u32(IPCLUSTER_A_TCP_STATE_CLUSTER_ID, c.cfg.id)?;
    m.put(IPCLUSTER_A_TCP_STATE_RECORDS, &buf[start..end])?;
    m.send_reply(req)
}

/// The connection a request's records name and what it asks of it.
fn question(records: &[u8]) -> Option<(Initial, Ask)> {
    let (Record::Initial(i), n) = Record::decode(records).ok()? else {
        return None;
    };
    let rest = records.get(n..)?;
    if rest.is_empty() {
        return Some((i, Ask::State));
    }
    match Record::decode(rest).ok()? {
        (Record::Data(d), m) if m == rest.len() && d.dir == Dir::Out && d.len == 0 => {
            Some((i, Ask::From(d.seq)))
        }
        _ => None,
    }
}
