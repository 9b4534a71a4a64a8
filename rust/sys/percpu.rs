// SPDX-License-Identifier: GPL-2.0
//! Per-bucket counters, one array per CPU, summed when read. The arrays
//! are allocated in C (`rust/c/stats.c`); counting and summing are here.

use super::bindings;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

/// One bucket's counters, summed over CPUs.
#[derive(Clone, Copy, Default)]
pub(crate) struct BucketStats {
    /// Packets seen.
    pub(crate) packets: u64,
    /// Their bytes, from the network header on.
    pub(crate) bytes: u64,
    /// Connections opened (TCP SYNs without ACK).
    pub(crate) flows: u64,
    /// Packets dropped: the bucket is another member's.
    pub(crate) drops: u64,
    /// Packets handed to their owner (forward mode, on the forwarder).
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

/// One bucket's counters on one CPU: `struct ipcluster_bucket_stats`,
/// seen as atomics so that a reader on another CPU loads each counter
/// whole (the C side's READ_ONCE).
#[repr(C)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    flows: AtomicU64,
    drops: AtomicU64,
    forwarded: AtomicU64,
}

const _: () = assert!(
    core::mem::size_of::<Counters>() == core::mem::size_of::<bindings::ipcluster_bucket_stats>()
);

/// Adds `n` to a counter only this CPU writes: a load and a store, no
/// locked read-modify-write (the single writer makes it exact).
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// A cluster's per-bucket, per-CPU counters.
///
/// # Invariants
///
/// `ptr` came from `ipcluster_stats_alloc(buckets)` and is freed only by
/// `drop`: its `cpu` array has `cpus` entries, each null (a CPU that is
/// not possible) or an array of `buckets` [`Counters`] that lives as long
/// as `self`. Only the packet path counts, in softirq or with BHs off, so
/// each CPU's array has a single writer; everything else only loads.
pub(crate) struct Stats {
    ptr: NonNull<bindings::ipcluster_stats>,
    buckets: u32,
}

// SAFETY: the counters are atomics (see the type's invariant); the
// allocation has no thread affinity.
unsafe impl Send for Stats {}
// SAFETY: as above: shared use only loads and single-writer stores.
unsafe impl Sync for Stats {}

impl Stats {
    /// Zeroed counters for `buckets` buckets on every possible CPU.
    pub(crate) fn new(buckets: u32) -> Result<Self> {
        // SAFETY: plain allocation; a null answer is handled.
        let ptr = unsafe { bindings::ipcluster_stats_alloc(buckets) };
        let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
        Ok(Stats { ptr, buckets })
    }

    /// CPU `cpu`'s counters, if that CPU is possible.
    fn cpu(&self, cpu: u32) -> Option<&[Counters]> {
        let stats = self.ptr.as_ptr();
        // SAFETY: `stats` is live (the type's invariant); `cpus` is not
        // written after the allocation.
        if cpu >= unsafe { (*stats).cpus } {
            return None;
        }
        // SAFETY: `cpu` is within the `cpus` entries of the flexible array.
        let arr = unsafe { *(*stats).cpu.as_ptr().add(cpu as usize) };
        if arr.is_null() {
            return None;
        }
        // SAFETY: a non-null entry is an array of `buckets` counters that
        // lives as long as `self`; `Counters` has its layout (checked
        // above), and its atomics make shared access sound.
        Some(unsafe { core::slice::from_raw_parts(arr.cast::<Counters>(), self.buckets as usize) })
    }

    /// Counts one packet of `len` bytes in `bucket` on this CPU. Packet
    /// path only (softirq, or BHs off).
    pub(crate) fn count(&self, bucket: u32, len: u32, syn: bool, fate: Fate) {
        // SAFETY: the packet path runs with BHs off, so the CPU stays ours.
        let cpu = unsafe { bindings::ipcluster_this_cpu() };
        let Some(c) = self.cpu(cpu).and_then(|a| a.get(bucket as usize)) else {
            return;
        };
        bump(&c.packets, 1);
        bump(&c.bytes, u64::from(len));
        if syn {
            bump(&c.flows, 1);
        }
        match fate {
            Fate::Kept => {}
            Fate::Dropped => bump(&c.drops, 1),
            Fate::Forwarded => bump(&c.forwarded, 1),
        }
    }

    /// `bucket`'s counters summed over all CPUs.
    pub(crate) fn sum(&self, bucket: u32) -> BucketStats {
        let mut s = BucketStats::default();
        // SAFETY: `ptr` is live; `cpus` is not written after allocation.
        let cpus = unsafe { (*self.ptr.as_ptr()).cpus };
        for cpu in 0..cpus {
            let Some(c) = self.cpu(cpu).and_then(|a| a.get(bucket as usize)) else {
                continue;
            };
            let add = |sum: &mut u64, c: &AtomicU64| {
                *sum = sum.wrapping_add(c.load(Ordering::Relaxed));
            };
            add(&mut s.packets, &c.packets);
            add(&mut s.bytes, &c.bytes);
            add(&mut s.flows, &c.flows);
            add(&mut s.drops, &c.drops);
            add(&mut s.forwarded, &c.forwarded);
        }
        s
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        // SAFETY: allocated by ipcluster_stats_alloc and freed once, here;
        // the cluster owning us is unpublished and past its grace period.
        unsafe { bindings::ipcluster_stats_free(self.ptr.as_ptr()) }
    }
}
