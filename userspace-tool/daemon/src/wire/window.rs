//! Anti-replay windows: a session's over its counters (RFC 4303 §3.4.3),
//! and a certificate's over its signed counters, which are the sender's
//! clock in microseconds and so far apart.

/// The highest counter seen and which of the 64 below it were seen.
#[derive(Default)]
pub(crate) struct Window {
    top: u64,
    bits: u64,
}

impl Window {
    /// Whether `c` would be new, leaving the window as it is: checked
    /// before the costly checks, so that replays never reach them.
    pub(crate) fn peek(&self, c: u64) -> bool {
        if c > self.top {
            return true;
        }
        let age = self.top - c;
        c != 0 && age < 64 && self.bits & (1 << age) == 0
    }

    /// Whether `c` is new; if so, it is now seen.
    pub(crate) fn fresh(&mut self, c: u64) -> bool {
        if !self.peek(c) {
            return false;
        }
        if c > self.top {
            let shift = c - self.top;
            self.bits = if shift >= 64 { 0 } else { self.bits << shift };
            self.bits |= 1;
            self.top = c;
        } else {
            self.bits |= 1 << (self.top - c);
        }
        true
    }
}

/// The signed counters of one certificate: the newest 64, whatever their
/// distance. A counter below all of them, or among them, is not new. A
/// unicast datagram that waited for ARP while a multicast one sent after
/// it arrived is still taken, as long as fewer than 64 came in between.
#[derive(Default)]
pub(crate) struct Recent {
    seen: Vec<u64>,
}

impl Recent {
    const KEPT: usize = 64;

    /// Whether `c` would be new, leaving the set as it is.
    pub(crate) fn peek(&self, c: u64) -> bool {
        let full = self.seen.len() >= Self::KEPT;
        c != 0 && !self.seen.contains(&c) && !(full && self.seen.iter().all(|&s| c < s))
    }

    /// Whether `c` is new; if so, it is now seen (the oldest forgotten).
    pub(crate) fn fresh(&mut self, c: u64) -> bool {
        if !self.peek(c) {
            return false;
        }
        if self.seen.len() >= Self::KEPT {
            if let Some(i) = (0..self.seen.len()).min_by_key(|&i| self.seen[i]) {
                self.seen.swap_remove(i);
            }
        }
        self.seen.push(c);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_window_takes_late_messages_once() {
        let mut w = Window::default();
        assert!(!w.fresh(0), "counters start above zero");
        assert!(w.fresh(10));
        assert!(w.fresh(12));
        assert!(w.peek(11));
        assert!(w.fresh(11), "late, but not seen");
        assert!(!w.peek(11));
        assert!(!w.fresh(11));
        assert!(!w.fresh(12));
        assert!(w.fresh(100));
        assert!(w.fresh(37), "within 64 of the top");
        assert!(!w.fresh(36), "older than the window");
        assert!(w.fresh(1000));
        assert!(!w.fresh(100));
    }

    #[test]
    fn signed_counters_are_kept_by_rank_not_distance() {
        let mut r = Recent::default();
        assert!(r.fresh(1_000_000));
        assert!(r.fresh(9_000_000), "far ahead");
        assert!(r.fresh(5_000_000), "late by seconds, but not seen");
        assert!(!r.fresh(5_000_000));
        for c in 0..64 {
            assert!(r.fresh(10_000_000 + c));
        }
        assert!(!r.peek(9_999_999), "below the newest 64");
        assert!(!r.fresh(10_000_000), "seen");
        assert!(r.fresh(10_000_100));
    }
}
