//! One replicated connection, packed: a replica store of a million
//! connections fits in 128 MiB (`IPC_BENCH=store make bench`). The
//! connection id is kept once (in the essential state), IPv4 addresses
//! in 8 bytes, times as nanoseconds since the store's epoch, and the
//! queues, which only output commit fills, behind a pointer.

use super::table::Keyed;
use super::Stream;
use crate::shared::tcpstate::{after, newer, Essential, Initial};

/// A connection's addresses: IPv4 (mapped into IPv6, as nearly every
/// client's are) in 8 bytes, any other boxed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Addrs {
    V4 { src: [u8; 4], dst: [u8; 4] },
    Other(Box<[[u8; 16]; 2]>),
}

/// The prefix of an IPv4 address mapped into IPv6.
const MAPPED: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

impl Addrs {
    fn new(src: &[u8; 16], dst: &[u8; 16]) -> Self {
        let v4 = |a: &[u8; 16]| a[..12] == MAPPED;
        if v4(src) && v4(dst) {
            let tail = |a: &[u8; 16]| [a[12], a[13], a[14], a[15]];
            Addrs::V4 {
                src: tail(src),
                dst: tail(dst),
            }
        } else {
            Addrs::Other(Box::new([*src, *dst]))
        }
    }

    /// Source and destination, as the Initial had them.
    fn get(&self) -> ([u8; 16], [u8; 16]) {
        match self {
            Addrs::V4 { src, dst } => {
                let full = |a: &[u8; 4]| {
                    let mut f = [0; 16];
                    f[..12].copy_from_slice(&MAPPED);
                    f[12..].copy_from_slice(a);
                    f
                };
                (full(src), full(dst))
            }
            Addrs::Other(b) => (b[0], b[1]),
        }
    }
}

/// The bytes of both directions, once any came.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Queues {
    /// Bytes sent, from the oldest the client has not acknowledged.
    pub(crate) out: Stream,
    /// Bytes received, from the oldest the application may not have
    /// answered yet.
    pub(crate) inb: Stream,
}

/// `Conn::has`: the essential state is known (else only `state.id` is).
const KNOWN: u8 = 1;
/// `Conn::has`: `answered` is set.
const ANSWERED: u8 = 2;

/// One replicated connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Conn {
    /// Its latest essential state, when `has` says it is known; its `id`
    /// always is (the connection's only copy).
    state: Essential,
    /// When that arrived (nanoseconds since the store's epoch).
    pub(crate) at: u64,
    /// Its queues, once bytes came.
    queues: Option<Box<Queues>>,
    /// Its Initial but the id.
    addrs: Addrs,
    sport: u16,
    dport: u16,
    mss: u16,
    opts_len: u8,
    v6: bool,
    /// The first byte received the application may not have answered,
    /// when `has` says it is set: where `copied` stood the last time it
    /// had written more. An application that read a request and died
    /// before it wrote the answer (an output-commit segment may reveal
    /// the read, a window update, before the write happens) gets the
    /// request again.
    answered: u32,
    /// The member that serves it.
    pub(crate) owner: u16,
    /// [`KNOWN`], [`ANSWERED`].
    has: u8,
}

impl Keyed for Conn {
    fn key(&self) -> u64 {
        self.state.id
    }
}

impl Conn {
    /// Connection `i` served by `owner`, its state not known yet, at `now`.
    pub(crate) fn new(owner: u16, i: &Initial, now: u64) -> Self {
        Conn {
            state: Essential {
                id: i.id,
                ..Essential::default()
            },
            at: now,
            queues: None,
            addrs: Addrs::new(&i.src, &i.dst),
            sport: i.sport,
            dport: i.dport,
            mss: i.mss,
            opts_len: i.opts_len,
            v6: i.v6,
            answered: 0,
            owner,
            has: 0,
        }
    }

    /// The same connection, restored by `owner` and replicated anew: its
    /// state starts over from what that member sends (its generations
    /// are its own kernel's), its queues and where the application had
    /// answered stay (a restore keeps the sequence numbers, and until the
    /// new owner sends the bytes again these are the only copy here).
    pub(crate) fn taken_over(&mut self, owner: u16, i: &Initial, now: u64) {
        let (queues, answered) = (self.queues.take(), self.answered);
        let has = self.has & ANSWERED;
        *self = Conn {
            queues,
            answered,
            has,
            ..Conn::new(owner, i, now)
        };
    }

    /// Its Initial again (the same connection: the same id).
    pub(crate) fn set_initial(&mut self, i: &Initial) {
        debug_assert_eq!(i.id, self.state.id);
        self.addrs = Addrs::new(&i.src, &i.dst);
        (self.sport, self.dport, self.mss) = (i.sport, i.dport, i.mss);
        (self.opts_len, self.v6) = (i.opts_len, i.v6);
    }

    pub(crate) fn initial(&self) -> Initial {
        let (src, dst) = self.addrs.get();
        Initial {
            id: self.state.id,
            src,
            dst,
            sport: self.sport,
            dport: self.dport,
            mss: self.mss,
            opts_len: self.opts_len,
            v6: self.v6,
        }
    }

    /// Its latest essential state, once known.
    pub(crate) fn essential(&self) -> Option<Essential> {
        (self.has & KNOWN != 0).then_some(self.state)
    }

    /// Where the application last had answered, once known.
    pub(crate) fn answered(&self) -> Option<u32> {
        (self.has & ANSWERED != 0).then_some(self.answered)
    }

    /// Its queues, if any bytes came.
    pub(crate) fn queues(&self) -> Option<&Queues> {
        self.queues.as_deref()
    }

    /// Its queues, taken out (empty if no bytes came).
    pub(crate) fn take_queues(&mut self) -> Queues {
        self.queues.take().map(|q| *q).unwrap_or_default()
    }

    /// Its queues, made when the first bytes come.
    pub(crate) fn queues_mut(&mut self) -> &mut Queues {
        self.queues.get_or_insert_with(Box::default)
    }

    /// Bytes of its queues held.
    pub(crate) fn len(&self) -> usize {
        self.queues().map_or(0, |q| q.out.len() + q.inb.len())
    }

    /// A newer state, arrived at `now`: the queues trimmed to what the
    /// client may need.
    pub(crate) fn update(&mut self, e: Essential, now: u64) {
        let old = self.essential();
        if !old.is_none_or(|old| newer(e.gen, old.gen)) {
            return;
        }
        let wrote = old.is_none_or(|old| after(e.written, old.written) > 0);
        if wrote || self.answered().is_none() {
            self.answered = e.copied;
            self.has |= ANSWERED;
        }
        self.state = e;
        self.has |= KNOWN;
        self.at = now;
        let answered = self.answered;
        if let Some(q) = self.queues.as_deref_mut() {
            q.out.trim(e.snd_wl2);
            q.inb.trim(answered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_packed_and_gives_its_initial_back() {
        // The bound `IPC_BENCH=store` measures depends on it.
        let size = std::mem::size_of::<Conn>();
        assert!(size <= 104, "{size} bytes");
        let mut v4 = crate::shared::fixtures::initial(7, 40000);
        let mut c = Conn::new(2, &v4, 0);
        assert_eq!((c.initial(), c.essential(), c.answered()), (v4, None, None));
        assert!(matches!(c.addrs, Addrs::V4 { .. }));
        v4.mss = 1200;
        c.set_initial(&v4);
        assert_eq!(c.initial(), v4);
        let mut v6 = v4;
        v6.v6 = true;
        v6.src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        assert_eq!(Conn::new(2, &v6, 0).initial(), v6);
        // Not mapped, whatever the flag says: kept as it came.
        let mut odd = v4;
        odd.src[10] = 0;
        assert_eq!(Conn::new(2, &odd, 0).initial(), odd);
    }
}
