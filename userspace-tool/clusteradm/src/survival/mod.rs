//! TCP survival (patent Fig. 7), the daemon's part: the owner's daemon
//! coalesces the state records its kernel exports ([`replica::Coalescer`])
//! and sends them to every member; every member keeps the replicas
//! ([`replica::Store`]); when a member dies, the new owner of each of its
//! buckets restores its connections through the kernel's TCP repair
//! ([`restore`]) and hands each to the local application serving its port
//! (`ipcluster_handoff`).

pub(crate) mod replica;
pub(crate) mod restore;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Instant;

use ipcluster_core::hash::{self, Flow, Mode};
use ipcluster_core::packet::addr_words;
use ipcluster_core::proto::MAX_BODY;
use ipcluster_core::tcpstate::{Initial, Record};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::abi::{tcp_state as t, Cmd};
use crate::nl::Client;
use crate::tcp::records;

/// Most record bytes per datagram on the cluster link.
const BATCH: usize = MAX_BODY / 2;

/// What `clusteradm status` shows of TCP survival.
#[derive(Serialize, Deserialize, Debug, Default)]
pub(crate) struct TcpStatus {
    /// Connections of this member being replicated.
    pub(crate) exported: usize,
    /// Replicas of other members' connections held here.
    pub(crate) replicas: usize,
    /// Bytes of replica records received.
    pub(crate) replica_bytes: u64,
    /// Bytes of records sent.
    pub(crate) sent_bytes: u64,
    /// Replicas not kept: the store was full.
    pub(crate) dropped: u64,
    /// Connections restored here and handed to their application.
    pub(crate) restored: u64,
    /// Restores or handoffs that failed.
    pub(crate) failed: u64,
    /// Milliseconds from the newest record sent to its datagram (the
    /// replication lag this member adds).
    pub(crate) lag_ms: u64,
    /// Records ignored: from a host that is not a member.
    pub(crate) ignored: u64,
}

/// One member's TCP survival state.
pub(crate) struct Survival {
    coalescer: replica::Coalescer,
    store: replica::Store,
    pending: Vec<u8>,
    pending_since: Option<Instant>,
    handoff: HashMap<u16, PathBuf>,
    hash: Mode,
    bits: u32,
    status: TcpStatus,
    /// Replicated records ignored (see [`TcpStatus::ignored`]).
    pub(crate) ignored: u64,
}

impl Survival {
    /// For a cluster hashing with `hash` into `1 << bits` buckets, handing
    /// restored connections of each port to its application's socket.
    pub(crate) fn new(hash: Mode, bits: u32, handoff: HashMap<u16, PathBuf>, max: usize) -> Self {
        Survival {
            coalescer: replica::Coalescer::default(),
            store: replica::Store::new(max),
            pending: Vec::new(),
            pending_since: None,
            handoff,
            hash,
            bits,
            status: TcpStatus::default(),
            ignored: 0,
        }
    }

    /// Records from the kernel: the changes go into the next datagram.
    pub(crate) fn exported(&mut self, bytes: &[u8]) {
        for r in records(bytes) {
            if let Some(r) = self.coalescer.offer(r) {
                let mut buf = [0u8; 64];
                if let Some(n) = r.encode(&mut buf) {
                    self.pending.extend_from_slice(&buf[..n]);
                    self.pending_since.get_or_insert_with(Instant::now);
                }
            }
        }
    }

    /// The datagram bodies to send now (whole records, at most BATCH bytes
    /// each).
    pub(crate) fn take_batches(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = &self.pending[..];
        while !rest.is_empty() {
            let mut n = 0;
            while let Ok((_, len)) = Record::decode(&rest[n..]) {
                if n + len > BATCH {
                    break;
                }
                n += len;
            }
            if n == 0 {
                break;
            }
            out.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        if let Some(t) = self.pending_since.take() {
            self.status.lag_ms = t.elapsed().as_millis() as u64;
        }
        self.status.sent_bytes += self.pending.len() as u64;
        self.pending.clear();
        out
    }

    /// Records member `owner` replicated.
    pub(crate) fn replicated(&mut self, owner: u16, bytes: &[u8]) {
        self.store.apply(owner, &records(bytes));
    }

    /// After installing `owners` as member `me`: restores the connections
    /// of members that are gone (not `alive`) whose buckets are now ours.
    pub(crate) fn take_over(&mut self, me: u16, owners: &[u16], alive: impl Fn(u16) -> bool) {
        let (hash, bits) = (&self.hash, self.bits);
        let mine = |i: &Initial| {
            let b = hash::bucket(hash, &flow(i), bits) as usize;
            owners.get(b) == Some(&me)
        };
        for (i, e, age) in self.store.take_orphans(|o| o == me || alive(o), mine) {
            match self.restore_one(&i, &e, age) {
                Ok(()) => self.status.restored += 1,
                Err(err) => {
                    self.status.failed += 1;
                    warn!(sport = i.sport, dport = i.dport, %err, "restoring a connection");
                }
            }
        }
    }

    fn restore_one(
        &self,
        i: &Initial,
        e: &ipcluster_core::tcpstate::Essential,
        age: std::time::Duration,
    ) -> std::io::Result<()> {
        let Some(path) = self.handoff.get(&i.dport) else {
            return Err(std::io::Error::other(format!(
                "no [tcp] handoff for port {}",
                i.dport
            )));
        };
        let fd = restore::restore(i, e, age)?;
        ipcluster_handoff::send(path, fd.as_fd(), i.dport)?;
        info!(sport = i.sport, dport = i.dport, "restored a connection");
        Ok(())
    }

    /// The numbers for `clusteradm status`.
    pub(crate) fn status(&self) -> TcpStatus {
        TcpStatus {
            exported: self.coalescer.len(),
            replicas: self.store.len(),
            replica_bytes: self.store.bytes,
            dropped: self.store.dropped,
            ignored: self.ignored,
            ..self.status
        }
    }
}

/// The flow the kernel hashes a connection's packets as.
fn flow(i: &Initial) -> Flow {
    let words = |a: &[u8; 16]| {
        let w = addr_words(a);
        if i.v6 {
            w
        } else {
            [0, 0, 0, w[3]]
        }
    };
    Flow {
        src: words(&i.src),
        dst: words(&i.dst),
        proto: hash::IPPROTO_TCP,
        sport: i.sport,
        dport: i.dport,
        ..Flow::default()
    }
}

/// Reads the kernel's exports of cluster `id` on a thread of its own (a
/// blocking netlink socket), handing each payload to `tx`.
pub(crate) fn watch_kernel(id: u32, tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>) {
    std::thread::spawn(move || {
        let mut nl = match Client::connect().and_then(|mut c| c.subscribe("tcp").map(|()| c)) {
            Ok(c) => c,
            Err(e) => {
                warn!(%e, "TCP state export");
                return;
            }
        };
        loop {
            match nl.next_event() {
                Ok((cmd, a)) if cmd == Cmd::TcpStateNtf as u8 => {
                    if a.u32(t::CLUSTER_ID).ok().flatten() == Some(id) {
                        let Some(r) = a.get(t::RECORDS) else { continue };
                        if tx.send(r.to_vec()).is_err() {
                            return;
                        }
                    }
                }
                Ok(_) => {}
                // ENOBUFS: the kernel sent faster than we read; the next
                // segment of each connection carries newer state.
                Err(e) => warn!(%e, "TCP state export"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcluster_core::tcpstate::{Closed, Essential};

    fn initial(sport: u16) -> Initial {
        let mut src = [0u8; 16];
        src[10..12].copy_from_slice(&[0xff, 0xff]);
        src[12..].copy_from_slice(&[192, 0, 2, 2]);
        let mut dst = src;
        dst[15] = 100;
        Initial {
            id: u64::from(sport),
            src,
            dst,
            sport,
            dport: 7000,
            mss: 1448,
            opts_len: 12,
            v6: false,
        }
    }

    #[test]
    fn flows_hash_as_the_kernel_sees_them() {
        let f = flow(&initial(40000));
        assert_eq!(f.src, [0, 0, 0, 0xc000_0202]);
        assert_eq!(f.dst, [0, 0, 0, 0xc000_0264]);
        assert_eq!((f.sport, f.dport, f.proto), (40000, 7000, 6));
    }

    #[test]
    fn exports_are_batched_in_whole_records() {
        let mut s = Survival::new(Mode::Seed, 10, HashMap::new(), 100);
        let mut bytes = Vec::new();
        for p in 0..400u16 {
            let mut buf = [0u8; 64];
            let n = Record::Initial(initial(p)).encode(&mut buf).unwrap();
            bytes.extend_from_slice(&buf[..n]);
            let e = Essential {
                id: u64::from(p),
                gen: 1,
                ..Essential::default()
            };
            let n = Record::Essential(e).encode(&mut buf).unwrap();
            bytes.extend_from_slice(&buf[..n]);
        }
        s.exported(&bytes);
        let batches = s.take_batches();
        assert!(batches.len() > 1);
        assert!(batches.iter().all(|b| b.len() <= BATCH));
        let n: usize = batches.iter().map(|b| records(b).len()).sum();
        assert_eq!(n, 800);
        assert!(s.take_batches().is_empty());
        // The receiving side: member 2's connections, restored by nobody
        // while 2 lives.
        let mut r = Survival::new(Mode::Seed, 10, HashMap::new(), 1000);
        for b in &batches {
            r.replicated(2, b);
        }
        assert_eq!(r.status().replicas, 400);
        r.take_over(1, &[1; 1024], |m| m == 2);
        assert_eq!(r.status().restored + r.status().failed, 0);
        let mut buf = [0u8; 16];
        let n = Record::Closed(Closed { id: 0 }).encode(&mut buf).unwrap();
        r.replicated(2, &buf[..n]);
        assert_eq!(r.status().replicas, 399);
        // Member 2 dies and every bucket is ours: no handoff configured
        // for port 7000, so each one fails, and is counted.
        r.take_over(1, &[1; 1024], |m| m != 2);
        assert_eq!(r.status().failed, 399);
        assert_eq!(r.status().replicas, 0);
    }
}
