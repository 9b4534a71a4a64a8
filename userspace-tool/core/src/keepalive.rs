// SPDX-License-Identifier: GPL-2.0
//! Adaptive keepalive maths (patent, "adaptive keepalive interval").
//!
//! The master estimates each member's packet loss from the gaps in its
//! keepalive sequence numbers, `SΔ = seq − last − 1`, smoothed as
//! `P ← P·127/128 + SΔ/128`, and chooses the interval `n` — how many
//! keepalives may go missing before a member is declared dead — as the least
//! `n ≥ 2` with `n·Pⁿ < 1/K`, `K = 3600`. Fixed point (Q32.32): no floats
//! in anything the kernel also compiles.

/// `1.0` in the Q32.32 fixed point used here.
pub const ONE: u64 = 1 << 32;
/// The patent's policy constant K.
pub const K: u64 = 3600;
/// The least interval.
pub const MIN_INTERVAL: u32 = 2;
/// The greatest interval (the patent takes n between 2 and 20).
pub const MAX_INTERVAL: u32 = 20;

/// Loss estimate of one member's keepalive stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loss {
    p: u64,
    last: Option<u32>,
}

impl Loss {
    /// A fresh estimate: no loss seen, no sequence number yet.
    pub const fn new() -> Self {
        Loss { p: 0, last: None }
    }

    /// Smoothed loss per keepalive, Q32.32 (clamped to 1.0).
    pub const fn p(&self) -> u64 {
        self.p
    }

    /// The last sequence number accepted.
    pub const fn last(&self) -> Option<u32> {
        self.last
    }

    /// Takes keepalive `seq`. Returns `SΔ`, or `None` for a duplicate, a
    /// replay or a reordered old one, which changes nothing. Sequence numbers
    /// wrap; a jump of 2³¹ or more counts as old.
    pub fn observe(&mut self, seq: u32) -> Option<u32> {
        let delta = match self.last {
            None => 1,
            Some(last) => {
                let d = seq.wrapping_sub(last);
                if d == 0 || d >= 1 << 31 {
                    return None;
                }
                d
            }
        };
        self.last = Some(seq);
        let lost = delta - 1;
        // A long silence says nothing more than a saturated estimate does.
        let s = u64::from(lost.min(128));
        self.p = (self.p - self.p / 128 + s * (ONE / 128)).min(ONE);
        Some(lost)
    }

    /// The adaptive interval for this estimate.
    pub fn interval(&self) -> u32 {
        interval(self.p)
    }
}

/// Least `n` in `MIN_INTERVAL..=MAX_INTERVAL` with `n·pⁿ < 1/K` for a loss
/// probability `p` in Q32.32; `MAX_INTERVAL` if none is.
pub fn interval(p: u64) -> u32 {
    let p = u128::from(p.min(ONE));
    let mut pn = (p * p) >> 32; // p², Q32.32
    for n in MIN_INTERVAL..=MAX_INTERVAL {
        // n·pⁿ < 1/K  ⇔  n·K·pⁿ < 1.0
        if u128::from(n) * u128::from(K) * pn < u128::from(ONE) {
            return n;
        }
        pn = (pn * p) >> 32;
    }
    MAX_INTERVAL
}

/// How long a peer may stay silent, at keepalive period `period` and
/// interval `n`, before a watchdog declares it dead: `n` keepalives may go
/// missing, and the next one may be late by half a period (scheduling,
/// queueing) before it counts as missing too. Without that half period a
/// keepalive due exactly at the limit decides a death by its jitter alone.
pub fn silence_limit(period: core::time::Duration, n: u32) -> core::time::Duration {
    period * (n.max(MIN_INTERVAL) + 1) + period / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(x: f64) -> u64 {
        (x * ONE as f64) as u64
    }

    /// The same search in floating point, as the patent writes it.
    fn reference(p: f64) -> u32 {
        (MIN_INTERVAL..=MAX_INTERVAL)
            .find(|&n| f64::from(n) * p.powi(n as i32) < 1.0 / K as f64)
            .unwrap_or(MAX_INTERVAL)
    }

    #[test]
    fn interval_matches_the_formula() {
        for i in 0..=1000 {
            let p = f64::from(i) / 1000.0;
            let got = interval(q(p));
            let want = reference(p);
            // Fixed-point rounding may only matter right at a threshold.
            assert!(got.abs_diff(want) <= 1, "p={p}: {got} vs {want}");
        }
        assert_eq!(interval(0), 2);
        assert_eq!(interval(q(0.01)), 2); // 2·10⁻⁴ < 1/3600
        assert_eq!(interval(q(0.05)), 4); // 3·1.25e-4 > 1/3600 > 4·6.25e-6
        assert_eq!(interval(ONE), MAX_INTERVAL);
    }

    #[test]
    fn smoothing_follows_the_patent() {
        let mut l = Loss::new();
        assert_eq!(l.observe(10), Some(0));
        assert_eq!(l.p(), 0);
        assert_eq!(l.observe(12), Some(1)); // one lost
        assert_eq!(l.p(), ONE / 128);
        assert_eq!(l.observe(13), Some(0));
        assert_eq!(l.p(), ONE / 128 - ONE / 128 / 128);
    }

    #[test]
    fn silence_limit_allows_n_missing_and_a_late_one() {
        use core::time::Duration;
        let p = Duration::from_millis(50);
        assert_eq!(silence_limit(p, 2), Duration::from_millis(175));
        assert_eq!(silence_limit(p, 0), silence_limit(p, MIN_INTERVAL));
        assert_eq!(silence_limit(p, 4), Duration::from_millis(275));
    }

    #[test]
    fn replays_and_duplicates_change_nothing() {
        let mut l = Loss::new();
        l.observe(100);
        l.observe(105);
        let before = l;
        assert_eq!(l.observe(105), None);
        assert_eq!(l.observe(50), None);
        assert_eq!(l.observe(105u32.wrapping_add(1 << 31)), None);
        assert_eq!(l, before);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut l = Loss::new();
        l.observe(u32::MAX);
        assert_eq!(l.observe(0), Some(0));
        assert_eq!(l.observe(2), Some(1));
    }

    #[test]
    fn five_percent_loss_settles_on_a_small_interval() {
        // Every 20th keepalive lost: P → 0.05, n = 4.
        let mut l = Loss::new();
        let mut seq = 0u32;
        for i in 0..5000 {
            seq += if i % 20 == 0 { 2 } else { 1 };
            l.observe(seq);
        }
        let p = l.p() as f64 / ONE as f64;
        assert!((p - 0.05).abs() < 0.02, "p = {p}");
        assert_eq!(l.interval(), 4);
    }
}
