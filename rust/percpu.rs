// SPDX-License-Identifier: GPL-2.0
//! Per-bucket counters, one set per CPU, summed when read.

use crate::bindings;
use kernel::prelude::*;

/// A cluster's per-bucket, per-CPU counters.
pub(crate) struct Stats {
    ptr: *mut bindings::ipcluster_stats,
    buckets: u32,
}

/// One bucket's counters, summed over CPUs.
#[derive(Clone, Copy, Default)]
pub(crate) struct BucketStats {
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) flows: u64,
    pub(crate) drops: u64,
    pub(crate) forwarded: u64,
}

/// What became of a counted packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Owned: passed to the local stack.
    Kept,
    /// Not owned: dropped.
    Dropped,
    /// Not owned: handed to its owner (forward mode, on the forwarder).
    Forwarded,
}

// SAFETY: each CPU's array is written only by the packet path on that CPU
// (softirq, a single writer) and read with READ_ONCE; no thread affinity.
unsafe impl Send for Stats {}
// SAFETY: as above.
unsafe impl Sync for Stats {}

impl Stats {
    /// Zeroed counters for `buckets` buckets on every possible CPU.
    pub(crate) fn new(buckets: u32) -> Result<Self> {
        // SAFETY: plain allocation; a null answer is handled.
        let ptr = unsafe { bindings::ipcluster_stats_alloc(buckets) };
        if ptr.is_null() {
            return Err(ENOMEM);
        }
        Ok(Stats { ptr, buckets })
    }

    /// Counts one packet of `len` bytes in `bucket` on this CPU.
    pub(crate) fn count(&self, bucket: u32, len: u32, syn: bool, fate: Fate) {
        if bucket < self.buckets {
            let (drop, fwd) = (fate == Fate::Dropped, fate == Fate::Forwarded);
            // SAFETY: `ptr` holds live arrays of `buckets` entries; only the
            // packet path (softirq: one writer per CPU) counts.
            unsafe { bindings::ipcluster_stats_count(self.ptr, bucket, len, syn, drop, fwd) }
        }
    }

    /// `bucket`'s counters summed over all CPUs.
    pub(crate) fn sum(&self, bucket: u32) -> BucketStats {
        let mut s = bindings::ipcluster_bucket_stats::default();
        if bucket < self.buckets {
            // SAFETY: as in `count`; `s` is a valid output buffer.
            unsafe { bindings::ipcluster_stats_sum(self.ptr, bucket, &mut s) };
        }
        BucketStats {
            packets: s.packets,
            bytes: s.bytes,
            flows: s.flows,
            drops: s.drops,
            forwarded: s.forwarded,
        }
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        // SAFETY: allocated by ipcluster_stats_alloc, freed once; the
        // cluster owning us is unpublished and past its grace period.
        unsafe { bindings::ipcluster_stats_free(self.ptr) }
    }
}
