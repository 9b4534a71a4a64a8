//! A distribution of durations, kept as a Prometheus histogram keeps it:
//! a count of the observations in each bucket, and their sum. It is plain
//! data, so that it travels in the status document and the metrics
//! endpoint renders it as it finds it there.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The upper bounds, in seconds, of the histograms of waits: from a
/// millisecond (a segment released at once, records sent on the next
/// tick) to ten seconds (a wait on a slow or emulated host), at 1, 2.5
/// and 5 of each decade.
const WAIT_BOUNDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Observations counted by the bucket they fall in.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Histogram {
    /// The buckets' upper bounds in seconds, rising; one more bucket,
    /// without a bound, takes what is above the last.
    pub bounds: Vec<f64>,
    /// How many observations fell in each bucket (not cumulative): one
    /// more count than bounds.
    pub counts: Vec<u64>,
    /// The observations' sum, in seconds.
    pub sum: f64,
}

/// A histogram of waits ([`WAIT_BOUNDS`]), empty.
impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&WAIT_BOUNDS)
    }
}

impl Histogram {
    /// An empty histogram whose buckets end at `bounds` (rising), and one
    /// more.
    pub fn new(bounds: &[f64]) -> Self {
        Histogram {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Counts `d` in the first bucket whose bound is at or above it, as
    /// Prometheus' `le` (less or equal) has it.
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        let i = self.bounds.partition_point(|&b| b < s);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
            self.sum += s;
        }
    }

    /// How many observations it counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_counts_in_the_first_bucket_at_or_above_it() {
        let mut h = Histogram::new(&[0.001, 0.01, 1.0]);
        for ms in [0, 1, 2, 10, 999, 1000, 1001, 60_000] {
            h.observe(Duration::from_millis(ms));
        }
        assert_eq!(h.counts, [2, 2, 2, 2]);
        assert_eq!(h.count(), 8);
        assert!((h.sum - 63.013).abs() < 1e-9, "{}", h.sum);
    }

    #[test]
    fn the_default_counts_waits_from_a_millisecond_to_ten_seconds() {
        let h = Histogram::default();
        assert_eq!(h.bounds.first(), Some(&0.001));
        assert_eq!(h.bounds.last(), Some(&10.0));
        assert!(h.bounds.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((h.counts.len(), h.count()), (WAIT_BOUNDS.len() + 1, 0));
    }

    #[test]
    fn it_reads_back_as_it_was_written() {
        let mut h = Histogram::default();
        h.observe(Duration::from_millis(30));
        let back: Histogram = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
