// SPDX-License-Identifier: GPL-2.0
//! RCU-published boxes: readers on the packet path never lock; a writer
//! (serialised by the caller's lock) replaces the whole value and frees the
//! old one after a grace period — waiting for it ([`RcuBox::replace`]), or
//! leaving it to `call_rcu` ([`RcuBox::replace_deferred`]) where updates
//! are frequent (bucket tables: a rebalancing cluster replaces one per
//! move, and a synchronous grace period per table-set would stall the
//! daemon that sends them).

use super::bindings;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// Proof that the current context is inside an RCU read-side critical
/// section for as long as the guard lives.
///
/// # Invariants
///
/// While a guard lives, the context that made it is inside an RCU
/// read-side critical section; the guard is neither `Send` nor `Sync`, so
/// it stays in that context.
pub(crate) struct RcuGuard(PhantomData<*mut ()>);

impl RcuGuard {
    /// # Safety
    ///
    /// The caller is inside an RCU read-side critical section that outlives
    /// the returned guard — e.g. a netfilter hook, which netfilter calls
    /// under `rcu_read_lock()`.
    pub(crate) unsafe fn assume_held() -> Self {
        RcuGuard(PhantomData)
    }
}

/// An optional boxed `T`, published with release ordering and read under RCU.
///
/// # Invariants
///
/// `ptr` is null or comes from [`KBox::into_raw`] and is owned by the box.
/// A pointer that has been replaced is freed only after a grace period
/// that began after the replacement (so no reader still holds it), and
/// only one writer replaces at a time (the caller's lock, proved by the
/// `_writer` argument).
pub(crate) struct RcuBox<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: RcuBox owns its T like a KBox would, handing out shared
// references only; sending or sharing it is sound when T allows both.
unsafe impl<T: Send + Sync> Send for RcuBox<T> {}
// SAFETY: as above: only &T escapes, to any thread.
unsafe impl<T: Send + Sync> Sync for RcuBox<T> {}

impl<T> RcuBox<T> {
    /// A box holding `v`.
    pub(crate) fn new(v: Option<KBox<T>>) -> Self {
        RcuBox {
            ptr: AtomicPtr::new(v.map_or(ptr::null_mut(), KBox::into_raw)),
        }
    }

    /// The current value, valid for the read-side critical section.
    pub(crate) fn get<'a>(&'a self, _rcu: &'a RcuGuard) -> Option<&'a T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a published pointer came from KBox::into_raw and is freed
        // only after a grace period following its replacement (the type's
        // invariant), which cannot end while `_rcu` lives (RcuGuard's).
        unsafe { p.as_ref() }
    }

    /// The current value, for a writer: valid while `_writer` is held, as
    /// only writers replace it and the caller serialises them.
    pub(crate) fn get_locked<'a, W>(&'a self, _writer: &'a W) -> Option<&'a T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: writers are serialised by the lock `_writer` proves, so
        // nobody frees the value while the borrow lasts.
        unsafe { p.as_ref() }
    }

    /// Publishes `new`, waits for every reader of the old value to finish,
    /// and returns the old value. May sleep. Writers must be serialised by
    /// the lock that `_writer` proves is held.
    pub(crate) fn replace<W>(&self, new: Option<KBox<T>>, _writer: &W) -> Option<KBox<T>> {
        let old = self.ptr.swap(
            new.map_or(ptr::null_mut(), KBox::into_raw),
            Ordering::AcqRel,
        );
        if old.is_null() {
            return None;
        }
        // SAFETY: process context (the writer may sleep, per the contract).
        unsafe { bindings::synchronize_rcu() };
        // SAFETY: `old` came from KBox::into_raw, is no longer published,
        // and the grace period above has ended every read of it.
        Some(unsafe { KBox::from_raw(old) })
    }
}

/// An old value on its way out: freed by an RCU callback.
///
/// # Invariants
///
/// `head` comes first (`repr(C)`), so a pointer to it is a pointer to the
/// whole; `old` came from [`KBox::into_raw`] and is no longer published.
#[repr(C)]
struct Deferred<T> {
    /// First, so that the callback's pointer is the struct's.
    head: bindings::callback_head,
    old: *mut T,
}

/// # Safety
///
/// `head` is the `head` of a `Deferred<T>` that `replace_deferred` boxed
/// and handed to `call_rcu`, and a grace period has passed since its value
/// was unpublished.
unsafe extern "C" fn free_deferred<T>(head: *mut bindings::callback_head) {
    // SAFETY: per the contract, `head` starts a boxed Deferred<T> (repr(C),
    // head first) that nobody else owns.
    let d = unsafe { KBox::from_raw(head.cast::<Deferred<T>>()) };
    // SAFETY: `old` came from KBox::into_raw and no reader is left.
    drop(unsafe { KBox::from_raw(d.old) });
}

impl<T: Send + 'static> RcuBox<T> {
    /// Publishes `new` and frees the old value after a grace period,
    /// without waiting for it (the free runs in RCU callback context, so
    /// `T`'s drop must not sleep). Falls back to waiting when the small
    /// bookkeeping allocation fails. Writers must be serialised by the lock
    /// that `_writer` proves is held; the module waits for the callbacks
    /// (`rcu_barrier`) before it unloads.
    pub(crate) fn replace_deferred<W>(&self, new: Option<KBox<T>>, _writer: &W) {
        let old = self.ptr.swap(
            new.map_or(ptr::null_mut(), KBox::into_raw),
            Ordering::AcqRel,
        );
        if old.is_null() {
            return;
        }
        let d = Deferred {
            head: bindings::callback_head::default(),
            old,
        };
        match KBox::new(d, GFP_KERNEL) {
            Ok(d) => {
                let d = KBox::into_raw(d);
                // SAFETY: `d` is a live, exclusively owned Deferred<T> whose
                // head call_rcu may use until the callback, which then
                // frees it (see free_deferred's contract).
                unsafe { bindings::call_rcu(&raw mut (*d).head, Some(free_deferred::<T>)) };
            }
            Err(_) => {
                // No memory for the bookkeeping: wait instead.
                // SAFETY: process context (writers may sleep).
                unsafe { bindings::synchronize_rcu() };
                // SAFETY: unpublished, and every reader is gone.
                drop(unsafe { KBox::from_raw(old) });
            }
        }
    }
}

/// Waits for every deferred free to finish (before the module unloads).
pub(crate) fn barrier() {
    // SAFETY: process context (module exit); waits for pending callbacks.
    unsafe { bindings::rcu_barrier() };
}

impl<T> Drop for RcuBox<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: with `&mut self` nobody can read the box any more: its
            // owner unpublished it and waited for readers before dropping
            // it; `p` came from KBox::into_raw (the type's invariant).
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}
