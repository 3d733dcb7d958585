//! Heap bytes per key with 1,000,000 keys, per algorithm, for the memory
//! store, and for `governor`'s keyed limiter for comparison.
//!
//! Run: `cargo run --release -p floodgate-core --example memory_per_key`
//! (optionally with the number of keys as argument).
//!
//! Method: a counting global allocator (below) tracks the bytes currently
//! allocated. The key strings and `LimitCheck`s are built first; the figure
//! is the growth of live heap bytes while one decision per key fills the
//! store (so it is what the store itself holds: tables, slack from the
//! power-of-two growth, boxed logs), divided by the number of keys. Peak
//! is the most heap held during the fill above that baseline, per key
//! (hash tables grow by doubling, so the old table and the new one briefly
//! coexist). Bytes are those requested from the allocator: malloc's own
//! rounding and headers come on top, as they do for governor.

use std::alloc::{GlobalAlloc, Layout, System};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{
    LeakMode, LimitCheck, MemoryStore, MemoryStoreConfig, Quota, Rate, Timestamp,
};

/// `System`, counting the bytes currently allocated and the peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are this allocator's; the counters
// are plain atomics and never touch the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's (forwarded as is).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            add(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Runs `fill`, returning (live growth, peak growth) in bytes.
fn measure(fill: impl FnOnce()) -> (usize, usize) {
    let base = live();
    PEAK.store(base, Ordering::Relaxed);
    fill();
    (
        live().saturating_sub(base),
        PEAK.load(Ordering::Relaxed) - base,
    )
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("number of keys"))
        .unwrap_or(1_000_000);
    let base = live();
    let keys: Vec<Arc<str>> = (0..n)
        .map(|i| Arc::from(format!("client-{i:07}")))
        .collect();
    let key_bytes = live() - base;
    println!("{n} keys; key strings (Arc<str>, \"client-0000042\") and their Vec: {:.1} bytes/key, not counted below", key_bytes as f64 / n as f64);
    println!();
    println!("| limiter | algorithm | bytes/key (live) | bytes/key (peak while filling) |");
    println!("|---|---|---:|---:|");

    floodgate_rows(&keys);
    governor_rows(&keys);
}

/// One row per algorithm: floodgate's memory store holding a state for
/// each of `keys`.
fn floodgate_rows(keys: &[Arc<str>]) {
    let n = keys.len();
    let per_s = Rate::per_second(100).unwrap();
    let window = Duration::from_secs(60);
    let quotas = [
        Quota::token_bucket(100, per_s).unwrap(),
        Quota::leaky_bucket(100, per_s, LeakMode::Policing).unwrap(),
        Quota::leaky_bucket(100, per_s, LeakMode::Shaping).unwrap(),
        Quota::fixed_window(100, window).unwrap(),
        Quota::sliding_log(100, window).unwrap(),
        Quota::sliding_counter(100, window).unwrap(),
        Quota::gcra(per_s, 100).unwrap(),
    ];
    let now = Timestamp::from_micros(1_704_067_200_000_000);
    for quota in quotas {
        let limit_id: Arc<str> = Arc::from(format!("limit:{}", quota.algorithm_name()));
        let checks: Vec<LimitCheck> = keys
            .iter()
            .map(|k| LimitCheck::new(limit_id.clone(), k.clone(), quota, 1))
            .collect();
        let mut store = None;
        let (bytes, peak) = measure(|| {
            let s = MemoryStore::new(MemoryStoreConfig {
                max_keys: 2 * n,
                shards: 64,
                sweep_interval: Duration::from_secs(3600),
            });
            for c in &checks {
                assert!(s.check_one(c, now).allowed);
            }
            store = Some(s);
        });
        let store = store.expect("filled");
        assert_eq!(store.len(), n);
        println!(
            "| floodgate MemoryStore (64 shards) | {} | {:.1} | {:.1} |",
            quota.algorithm_name(),
            bytes as f64 / n as f64,
            peak as f64 / n as f64
        );
        drop(store);
    }
}

/// Governor's keyed limiter, keyed by the same strings, then by `u64`.
fn governor_rows(keys: &[Arc<str>]) {
    let n = keys.len();
    // governor: GCRA, keyed by the same `Arc<str>`s (clones share the
    // strings, so only the map is counted), default DashMap store.
    let gquota = governor::Quota::per_second(NonZeroU32::new(100).unwrap());
    let mut limiter = None;
    let (bytes, peak) = measure(|| {
        let l = governor::DefaultKeyedRateLimiter::<Arc<str>>::keyed(gquota);
        for k in keys {
            assert!(l.check_key(k).is_ok());
        }
        limiter = Some(l);
    });
    assert_eq!(limiter.as_ref().map(|l| l.len()), Some(n));
    println!(
        "| governor DefaultKeyedRateLimiter<Arc<str>> (DashMap) | gcra | {:.1} | {:.1} |",
        bytes as f64 / n as f64,
        peak as f64 / n as f64
    );
    drop(limiter);

    // governor keyed by u64 (the smallest key it can have; floodgate keys
    // its map by a 64-bit hash and keeps no string).
    let mut limiter = None;
    let (bytes, peak) = measure(|| {
        let l = governor::DefaultKeyedRateLimiter::<u64>::keyed(gquota);
        for k in 0..n as u64 {
            assert!(l.check_key(&k).is_ok());
        }
        limiter = Some(l);
    });
    println!(
        "| governor DefaultKeyedRateLimiter<u64> (DashMap) | gcra | {:.1} | {:.1} |",
        bytes as f64 / n as f64,
        peak as f64 / n as f64
    );
    drop(limiter);
}
