//! The TCP failover state the kernel exports for clusters made with
//! `tcp-export` (the `tcp` multicast group, `tcp-state-ntf`): its records,
//! the bytes not yet sent and the records lost that output commit asks for
//! (`tcp-unsent`), and
//! the adoption of a restored connection by its application's listener
//! (`tcp-adopt`).

use crate::shared::tcpstate::{Data, Dir, Initial, Record, DATA_HEAD_LEN, INITIAL_LEN};

use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};

use crate::abi::{tcp_adopt, tcp_state as t, Cmd};
use crate::attr::Attr;
use crate::client::Client;
use crate::error::Error;

/// The records of one `tcp-state-ntf` payload; malformed ones end it.
pub fn records(b: &[u8]) -> Vec<Record> {
    records_with_bytes(b).into_iter().map(|(r, _)| r).collect()
}

/// Records back to back, each with the bytes that follow its head (a Data
/// record's; empty for the others).
pub fn records_with_bytes(mut b: &[u8]) -> Vec<(Record, &[u8])> {
    let mut v = Vec::new();
    while let Ok((r, n)) = Record::decode(b) {
        let head = match r {
            Record::Data(_) => DATA_HEAD_LEN,
            _ => n,
        };
        v.push((r, &b[head..n]));
        b = &b[n..];
    }
    v
}

/// Asks the kernel (`tcp-unsent`) for the bytes of connection `i` of
/// cluster `cluster` that its client has not acknowledged, from sequence
/// number `from` (or the first unacknowledged, if later) on: where they
/// start and the bytes, at most 16 KiB a time. Output commit asks for
/// those not sent yet, which no exported segment carried.
pub fn unsent(
    nl: &mut Client,
    cluster: u32,
    i: &Initial,
    from: u32,
) -> Result<(u32, Vec<u8>), Error> {
    let mut req = [0u8; INITIAL_LEN + DATA_HEAD_LEN];
    let head = Data {
        id: i.id,
        dir: Dir::Out,
        seq: from,
        len: 0,
    };
    let n = Record::Initial(*i).encode(&mut req);
    n.and_then(|n| Record::Data(head).encode(&mut req[n..]))
        .ok_or_else(|| Error::failed("tcp-unsent: the request does not fit"))?;
    let r = ask(nl, cluster, &req)?;
    match records_with_bytes(&r).into_iter().next() {
        Some((Record::Data(d), bytes)) => Ok((d.seq, bytes.to_vec())),
        _ => Err(Error::failed("tcp-unsent: no bytes in the reply")),
    }
}

/// Asks the kernel (`tcp-unsent` with the Initial alone) for connection
/// `i`'s records as now and its bytes from the first its client has not
/// acknowledged (at most 16 KiB): the records of the reply, as the export
/// carries them (`records_with_bytes`). Output commit asks so when the
/// export lost the records a held segment waits for.
pub fn state(nl: &mut Client, cluster: u32, i: &Initial) -> Result<Vec<u8>, Error> {
    let mut req = [0u8; INITIAL_LEN];
    Record::Initial(*i)
        .encode(&mut req)
        .ok_or_else(|| Error::failed("tcp-unsent: the request does not fit"))?;
    ask(nl, cluster, &req)
}

/// `tcp-unsent` with records `req`: the records of its reply.
fn ask(nl: &mut Client, cluster: u32, req: &[u8]) -> Result<Vec<u8>, Error> {
    let attrs = [
        Attr::u32(t::CLUSTER_ID, cluster),
        Attr::bytes(t::RECORDS, req),
    ];
    nl.request(Cmd::TcpUnsent, &attrs)?
        .iter()
        .find_map(|a| a.get(t::RECORDS).map(<[u8]>::to_vec))
        .ok_or_else(|| Error::failed("tcp-unsent: no records in the reply"))
}

/// Queues restored connection `fd` (established, out of repair mode) on
/// the accept queue of the listener for its local address and port
/// (`tcp-adopt`): the server's next `accept()` returns it. The kernel
/// takes the descriptor whatever the outcome, and resets a connection it
/// cannot queue (no listener, a full accept queue): an error means the
/// client saw a reset. Only a request that never reached the kernel (a
/// full netlink buffer) leaves the descriptor open, unused.
pub fn adopt(nl: &mut Client, fd: OwnedFd) -> Result<(), Error> {
    let raw = fd.into_raw_fd();
    let raw = u32::try_from(raw).map_err(|_| Error::failed("tcp-adopt: bad fd"))?;
    nl.request(Cmd::TcpAdopt, &[Attr::u32(tcp_adopt::FD, raw)])?;
    Ok(())
}

/// Releases `fd`, a TCP socket just made, from this process's memory
/// cgroup (`tcp-adopt-prepare`): adopted, it is charged to the server that
/// accepts it, which the kernel can do only for a socket charged to none.
pub fn adopt_prepare(nl: &mut Client, fd: BorrowedFd<'_>) -> Result<(), Error> {
    let raw =
        u32::try_from(fd.as_raw_fd()).map_err(|_| Error::failed("tcp-adopt-prepare: bad fd"))?;
    nl.request(Cmd::TcpAdoptPrepare, &[Attr::u32(tcp_adopt::FD, raw)])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::tcpstate::{Closed, Essential, Flags};

    #[test]
    fn records_decode_back_to_back() {
        let i = Record::Initial(crate::shared::fixtures::initial(0xabc, 40000));
        let e = Record::Essential(Essential {
            id: 0xabc,
            gen: 3,
            flags: Flags(Flags::TS_REQ | Flags::TS_OK | Flags::SACK_OK),
            snd_nxt: 10,
            rcv_nxt: 20,
            ..Essential::default()
        });
        let c = Record::Closed(Closed { id: 0xabc });
        let mut buf = vec![0u8; 200];
        let mut n = 0;
        for r in [i, e, c] {
            n += r.encode(&mut buf[n..]).unwrap();
        }
        buf.truncate(n);
        buf.push(0); // trailing garbage ends the list
        let v = records(&buf);
        assert_eq!(v, [i, e, c]);
    }
}
