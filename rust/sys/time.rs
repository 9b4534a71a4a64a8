// SPDX-License-Identifier: GPL-2.0
//! Kernel time in jiffies, for bucket drains. The 64-bit count does not
//! wrap in the life of a machine, so plain comparisons hold.

use super::bindings;

/// A point in time, in jiffies since boot (plus the kernel's offset).
///
/// # Invariants
///
/// None beyond the value: any `u64` is a point in time, and the zero
/// point is before every clock reading.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Jiffies(u64);

impl Jiffies {
    /// Never: the zero point, before any clock reading.
    pub(crate) const NEVER: Jiffies = Jiffies(0);

    /// Returns the current time.
    pub(crate) fn now() -> Self {
        // SAFETY: reads the jiffies counter; callable from any context.
        Jiffies(unsafe { bindings::ipcluster_jiffies() })
    }

    /// Returns the time `ms` milliseconds after `self`.
    pub(crate) fn after_ms(self, ms: u32) -> Self {
        // SAFETY: a pure conversion, callable from any context.
        let j = unsafe { bindings::ipcluster_msecs_to_jiffies(ms) };
        Jiffies(self.0.saturating_add(j))
    }

    /// Returns the milliseconds from `now` until `self`; 0 once it has
    /// passed.
    pub(crate) fn ms_after(self, now: Jiffies) -> u32 {
        // SAFETY: a pure conversion, callable from any context.
        unsafe { bindings::ipcluster_jiffies_to_msecs(self.0.saturating_sub(now.0)) }
    }
}
