// SPDX-License-Identifier: GPL-2.0
//! RCU-published boxes: readers on the packet path never lock; a writer
//! (serialised by the caller's lock) replaces the whole value and frees the
//! old one after a grace period.

use crate::bindings;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// Proof that the current context is inside an RCU read-side critical
/// section for as long as the guard lives.
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
        // only after a grace period following its replacement (see
        // `replace`), which cannot end while `_rcu` lives.
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

impl<T> Drop for RcuBox<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: with `&mut self` nobody can read the box any more (its
            // owner unpublished it and waited for readers, see NetState).
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}
