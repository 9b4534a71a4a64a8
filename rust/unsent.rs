// SPDX-License-Identifier: GPL-2.0
//! `tcp-unsent`, output commit's question: the bytes an application wrote
//! to a connection that its client has not acknowledged, from a sequence
//! number on. Those its socket has not sent yet (a full congestion or
//! receive window, segments held in the queue) show in no segment, so the
//! export never carries them; the daemon asks here once it sees a state
//! record with more written than it holds, and replicates the answer
//! before that record.

use crate::cluster::NetState;
use crate::control;
use crate::shared::tcpstate::{Data, Dir, Record, DATA_HEAD_LEN};
use crate::sys::genl::{Msg, Request, Writer};
use crate::sys::uapi::*;
use kernel::c_str;
use kernel::prelude::*;

/// Most bytes one answer carries (the daemon reads up to 32 KiB at once).
pub(crate) const UNSENT_MAX: usize = 16 * 1024;

/// tcp-unsent (do). Request records: the connection's Initial and an empty
/// Data head (direction out) at the first sequence number wanted. Reply:
/// a Data record with up to [`UNSENT_MAX`] bytes. Only for a connection to
/// the cluster's address (EPERM otherwise).
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
    let ask = match Record::decode(records) {
        Ok((Record::Initial(i), n)) => match records.get(n..).map(Record::decode) {
            Some(Ok((Record::Data(d), m)))
                if n + m == records.len() && d.dir == Dir::Out && d.len == 0 =>
            {
                Some((i, d.seq))
            }
            _ => None,
        },
        _ => None,
    };
    let Some((conn, from)) = ask else {
        return Err(req.fail(
            Some(IPCLUSTER_A_TCP_STATE_RECORDS),
            c_str!("want a connection's Initial record and an empty Data head (out)"),
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
    let mut buf = KVec::from_elem(0u8, DATA_HEAD_LEN + UNSENT_MAX, GFP_KERNEL)?;
    let (seq, n) = st
        .net
        .tcp_unsent(c.cfg.ifindex, &conn, from, &mut buf[DATA_HEAD_LEN..])
        .map_err(|e| match e {
            e if e == ENOENT => req.fail(
                Some(IPCLUSTER_A_TCP_STATE_RECORDS),
                c_str!("no established connection has those addresses"),
                ENOENT,
            ),
            e => e,
        })?;
    let head = Data {
        id: conn.id,
        dir: Dir::Out,
        seq,
        len: n as u32,
    };
    Record::Data(head)
        .encode(&mut buf[..DATA_HEAD_LEN])
        .ok_or(EINVAL)?;
    let mut m = Msg::reply(req, IPCLUSTER_CMD_TCP_UNSENT, DATA_HEAD_LEN + n + 64)?;
    m.u32(IPCLUSTER_A_TCP_STATE_CLUSTER_ID, c.cfg.id)?;
    m.put(IPCLUSTER_A_TCP_STATE_RECORDS, &buf[..DATA_HEAD_LEN + n])?;
    m.send_reply(req)
}
