//! The anti-replay window of one sender or session (RFC 4303 §3.4.3).

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
}
