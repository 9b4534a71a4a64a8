//! What an endpoint keeps per peer socket address: its sessions (newest
//! first), the key agreement it started, and the messages that wait for
//! one. Bounded: a peer keeps [`SESSIONS`] sessions and [`QUEUE`]
//! waiting messages, and the table [`PEERS`] peers.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::session::{Pending, Session};

/// Sessions kept per peer: both sides may start an agreement at once,
/// and each then sends with the one it finished last, so the receiver
/// must still open the other's.
pub(crate) const SESSIONS: usize = 4;
/// Messages that wait for a session, per peer.
pub(crate) const QUEUE: usize = 256;
/// Peers kept.
pub(crate) const PEERS: usize = 1024;
/// How long a Hello waits for its answer before another goes.
pub(crate) const HELLO_AGAIN: Duration = Duration::from_secs(1);

/// A message waiting for a session: its kind, sender id and body.
pub(crate) type Waiting = (u8, u16, Vec<u8>);

#[derive(Default)]
pub(crate) struct Peer {
    sessions: VecDeque<Session>,
    pub(crate) pending: Option<(Pending, Instant)>,
    pub(crate) queue: VecDeque<Waiting>,
}

impl Peer {
    /// The session to send with.
    pub(crate) fn newest(&mut self) -> Option<&mut Session> {
        self.sessions.front_mut()
    }

    /// The session with id `id`, to open with.
    pub(crate) fn session(&mut self, id: u32) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.id == id)
    }

    /// Makes `s` the session to send with.
    pub(crate) fn install(&mut self, s: Session) {
        self.sessions.retain(|o| o.id != s.id);
        self.sessions.push_front(s);
        self.sessions.truncate(SESSIONS);
    }

    /// Queues a message for when a session exists, the oldest dropped
    /// when full.
    pub(crate) fn wait(&mut self, w: Waiting) {
        if self.queue.len() >= QUEUE {
            self.queue.pop_front();
        }
        self.queue.push_back(w);
    }

    /// Whether a new Hello should go: none waits for its answer, or the
    /// one that does went [`HELLO_AGAIN`] ago.
    pub(crate) fn hello_due(&self, now: Instant) -> bool {
        self.pending
            .as_ref()
            .is_none_or(|(_, at)| now.duration_since(*at) >= HELLO_AGAIN)
    }
}

#[derive(Default)]
pub(crate) struct Peers {
    map: HashMap<SocketAddr, Peer>,
}

impl Peers {
    /// The peer at `a`, made if new. When the table is full, peers with
    /// no session go first.
    pub(crate) fn get(&mut self, a: SocketAddr) -> &mut Peer {
        if !self.map.contains_key(&a) && self.map.len() >= PEERS {
            self.map.retain(|_, p| !p.sessions.is_empty());
            if self.map.len() >= PEERS {
                self.map.clear();
            }
        }
        self.map.entry(a).or_default()
    }

    /// The peer at `a`, if known.
    pub(crate) fn find(&mut self, a: SocketAddr) -> Option<&mut Peer> {
        self.map.get_mut(&a)
    }

    /// Forgets every session (a new trust: each peer's certificate is
    /// checked again by a new agreement).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    /// Peers whose messages wait and whose Hello is due again.
    pub(crate) fn stalled(&self, now: Instant) -> Vec<SocketAddr> {
        self.map
            .iter()
            .filter(|(_, p)| !p.queue.is_empty() && p.hello_due(now))
            .map(|(a, _)| *a)
            .collect()
    }
}
