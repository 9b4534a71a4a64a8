//! The status's distributions ([`Histogram`]) as OpenMetrics histograms.
//! The status carries the counts, so the endpoint encodes them as they
//! are rather than observing anything into a histogram of its own.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::state::Histogram;

/// A histogram of the status, to register.
#[derive(Debug)]
pub(super) struct Distribution(pub(super) Histogram);

impl Distribution {
    /// Each bucket's upper bound and count (not cumulative: the encoder
    /// adds them up), the last bucket's bound `+Inf`.
    fn buckets(&self) -> Vec<(f64, u64)> {
        let h = &self.0;
        let mut b: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .copied()
            .zip(h.counts.iter().copied())
            .collect();
        let rest = h.counts.get(h.bounds.len()).copied().unwrap_or(0);
        b.push((f64::INFINITY, rest));
        b
    }
}

impl EncodeMetric for Distribution {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        // The count is every bucket's, the `+Inf` one's as the format
        // requires.
        encoder.encode_histogram::<NoLabelSet>(self.0.sum, self.0.count(), &self.buckets(), None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
