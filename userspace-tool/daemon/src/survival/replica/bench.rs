//! `make bench` (IPC_BENCH=store): what the replica store costs per
//! connection, measured by the heap bytes a million replicated
//! connections keep, against the goal of 128 MiB for a million.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::{Limits, Store};
use crate::shared::tcpstate::{conn_id, Essential, Initial, Record};
use crate::survival::trust::Authority;

/// The system allocator, counting the bytes live (as asked for: the
/// store's allocations are few and large, so the allocator's own
/// rounding adds little).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; the counter
// is a side effect only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(p, l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const CONNS: usize = 1_000_000;
const GOAL: usize = 128 << 20;

/// Connection `n` from a client of its own to the cluster address
/// 192.0.2.100, port 7000.
fn initial(n: usize) -> Initial {
    let mut i = crate::shared::fixtures::initial(0, 1024 + (n % 60_000) as u16);
    i.src[13..16].copy_from_slice(&(n / 60_000).to_be_bytes()[5..]);
    i.id = conn_id(&i.src, &i.dst, i.sport, i.dport);
    i
}

/// Member 2 owns every bucket of 192.0.2.100.
fn auth() -> Authority {
    let mut a = Authority::new(
        crate::shared::hash::FlowHash::new(crate::shared::hash::Mode::Seed),
        2,
        vec!["192.0.2.100".parse().unwrap()],
    );
    a.update(&[1, 2], &[2; 4], Instant::now());
    a
}

#[test]
#[ignore = "a benchmark: make bench"]
fn bench_store_bytes_per_connection() {
    let a = auth();
    let limits = Limits {
        conns: CONNS,
        conn_bytes: 1 << 20,
        bytes: 1 << 30,
    };
    let before = LIVE.load(Ordering::Relaxed);
    let mut s = Store::new(limits);
    let mut buf = [0u8; 64];
    let mut wire = Vec::with_capacity(1000 * 2 * 64);
    for first in (0..CONNS).step_by(1000) {
        wire.clear();
        for n in first..first + 1000 {
            let i = initial(n);
            let e = Essential {
                id: i.id,
                gen: 1,
                snd_nxt: 1000,
                snd_wl2: 1000,
                rcv_nxt: 5000,
                copied: 5000,
                written: 1000,
                ..Essential::default()
            };
            for r in [Record::Initial(i), Record::Essential(e)] {
                let k = r.encode(&mut buf).unwrap();
                wire.extend_from_slice(&buf[..k]);
            }
        }
        assert!(s.apply(2, &wire, &a).done);
    }
    drop(wire);
    assert_eq!((s.len(), s.queued(), s.dropped), (CONNS, 0, 0));
    let used = LIVE.load(Ordering::Relaxed) - before;
    let per = used as f64 / CONNS as f64;
    let mib = used as f64 / f64::from(1 << 20);
    println!(
        "store: {per:.1} bytes/connection, {mib:.1} MiB for {CONNS} connections \
         (Initial + Essential each, no bytes queued; goal {} MiB: {})",
        GOAL >> 20,
        if used <= GOAL { "met" } else { "over" }
    );
}
