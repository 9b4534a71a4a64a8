//! Restored connections on their way to the applications: a thread of
//! their own, so that an application that does not read its hand-off
//! socket (its queue holds ten messages by default) delays only its own
//! connections, never the replication thread's acks and verdicts.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

/// Restored connections waiting for the hand-off thread; past this the
/// newest fail at once.
const QUEUE: usize = 4096;

/// How long one connection waits for room in its application's queue.
const WAIT: Duration = Duration::from_secs(2);

/// The hand-off socket of each port, and the thread that sends to them.
pub(crate) struct Handoff {
    paths: HashMap<u16, PathBuf>,
    tx: SyncSender<(OwnedFd, u16)>,
    /// Connections the thread could not hand over.
    failed: Arc<AtomicU64>,
}

impl Handoff {
    /// Hands the connections of each port in `paths` to the socket there.
    pub(crate) fn new(paths: HashMap<u16, PathBuf>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<(OwnedFd, u16)>(QUEUE);
        let failed = Arc::new(AtomicU64::new(0));
        let (to, count) = (paths.clone(), failed.clone());
        std::thread::Builder::new()
            .name("handoff".into())
            .spawn(move || {
                for (fd, port) in rx {
                    let Some(path) = to.get(&port) else { continue };
                    if let Err(err) = ipcluster_handoff::send(path, fd.as_fd(), port, WAIT) {
                        count.fetch_add(1, Ordering::Relaxed);
                        warn!(port, path = %path.display(), %err, "handing a restored connection over");
                    }
                }
            })?;
        Ok(Handoff { paths, tx, failed })
    }

    /// Whether `port` has a hand-off socket.
    pub(crate) fn serves(&self, port: u16) -> bool {
        self.paths.contains_key(&port)
    }

    /// Queues restored connection `fd` of `port` for its application;
    /// fails at once when the port has no hand-off socket or the queue
    /// is full.
    pub(crate) fn give(&self, fd: OwnedFd, port: u16) -> std::io::Result<()> {
        if !self.paths.contains_key(&port) {
            return Err(std::io::Error::other(format!(
                "no [tcp] handoff for port {port}"
            )));
        }
        self.tx.try_send((fd, port)).map_err(|e| match e {
            TrySendError::Full(_) => std::io::Error::other("hand-off queue full"),
            TrySendError::Disconnected(_) => std::io::Error::other("hand-off thread gone"),
        })
    }

    /// No hand-off sockets, and no thread (for tests).
    #[cfg(test)]
    pub(crate) fn none() -> Self {
        let (tx, _) = sync_channel(1);
        let failed = Arc::default();
        Handoff {
            paths: HashMap::new(),
            tx,
            failed,
        }
    }

    /// Connections that reached the thread and not their application.
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}
