//! What the timed loop drives: floodgate's memory store and governor's
//! keyed limiter, on the same keys and fake time, and the quotas.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::{
    LeakMode, LimitCheck, MemoryStore, MemoryStoreConfig, Quota, Rate, Timestamp,
};
use governor::clock::FakeRelativeClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::RateLimiter;

/// Decisions between two clock ticks (and the tick, in µs).
pub(crate) const TICK: u64 = 1024;
/// Where floodgate's clock starts (2024-01-01, in µs).
pub(crate) const START_US: u64 = 1_704_067_200_000_000;
/// What the timed loop drives.
pub(crate) trait Target: Sync {
    fn len(&self) -> usize;
    /// The time a thread starts with.
    fn now(&self) -> u64;
    /// Moves the shared clock by `TICK` µs and returns the new time.
    fn tick(&self) -> u64;
    /// One decision on key `i` at `now`; whether it was allowed.
    fn decide(&self, i: usize, now: u64) -> bool;
}

pub(crate) struct Floodgate {
    store: MemoryStore,
    checks: Vec<LimitCheck>,
    clock: AtomicU64,
}

impl Target for Floodgate {
    fn len(&self) -> usize {
        self.checks.len()
    }
    fn now(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }
    fn tick(&self) -> u64 {
        self.clock.fetch_add(TICK, Ordering::Relaxed) + TICK
    }
    #[inline]
    fn decide(&self, i: usize, now: u64) -> bool {
        self.store
            .check_one(&self.checks[i], Timestamp::from_micros(now))
            .allowed
    }
}

type Governor<S> = RateLimiter<
    Arc<str>,
    DashMapStateStore<Arc<str>, S>,
    FakeRelativeClock,
    NoOpMiddleware<<FakeRelativeClock as governor::clock::Clock>::Instant>,
>;

pub(crate) struct Gov<S: std::hash::BuildHasher + Clone> {
    limiter: Governor<S>,
    keys: Vec<Arc<str>>,
    clock: FakeRelativeClock,
}

impl<S> Target for Gov<S>
where
    S: std::hash::BuildHasher + Clone + Send + Sync,
{
    fn len(&self) -> usize {
        self.keys.len()
    }
    fn now(&self) -> u64 {
        0
    }
    fn tick(&self) -> u64 {
        self.clock.advance(Duration::from_micros(TICK));
        0
    }
    #[inline]
    fn decide(&self, i: usize, _now: u64) -> bool {
        self.limiter.check_key(&self.keys[i]).is_ok()
    }
}

pub(crate) fn identities(n: usize) -> Vec<Arc<str>> {
    (0..n)
        .map(|i| Arc::from(format!("client-{i:07}")))
        .collect()
}

pub(crate) fn floodgate(quota: Quota, keys: &[Arc<str>]) -> Floodgate {
    let store = MemoryStore::new(MemoryStoreConfig {
        max_keys: 4 * keys.len().max(1024),
        shards: 64,
        sweep_interval: Duration::from_secs(3600),
    });
    let limit_id: Arc<str> = Arc::from(format!("bench:{}", quota.algorithm_name()));
    let checks: Vec<LimitCheck> = keys
        .iter()
        .map(|k| LimitCheck::new(limit_id.clone(), k.clone(), quota, 1))
        .collect();
    let t = Floodgate {
        store,
        checks,
        clock: AtomicU64::new(START_US),
    };
    for i in 0..t.len() {
        t.decide(i, START_US);
    }
    assert_eq!(t.store.len(), keys.len());
    t
}

/// One million per second with a burst of a billion: a key used on every
/// decision (one per µs of fake time) is never limited.
pub(crate) fn governor_quota() -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::new(1_000_000).unwrap())
        .allow_burst(NonZeroU32::new(1_000_000_000).unwrap())
}

pub(crate) fn governor<S>(keys: &[Arc<str>], hasher: S) -> Gov<S>
where
    S: std::hash::BuildHasher + Default + Clone + Send + Sync,
{
    let clock = FakeRelativeClock::default();
    let limiter =
        RateLimiter::dashmap_with_clock_and_hasher(governor_quota(), clock.clone(), hasher);
    let t = Gov {
        limiter,
        keys: keys.to_vec(),
        clock,
    };
    for i in 0..t.len() {
        t.decide(i, 0);
    }
    assert_eq!(t.limiter.len(), keys.len());
    t
}

/// Large quotas: one decision per µs of fake time on a single key stays
/// (almost) always allowed.
pub(crate) fn quotas() -> Vec<(&'static str, Quota)> {
    let per_us = Rate::per_second(1_000_000).unwrap();
    let big = 1_000_000_000;
    vec![
        ("token_bucket", Quota::token_bucket(big, per_us).unwrap()),
        (
            "leaky_bucket",
            Quota::leaky_bucket(
                big,
                Rate::per_second(2_000_000).unwrap(),
                LeakMode::Policing,
            )
            .unwrap(),
        ),
        (
            "leaky_bucket_shaping",
            Quota::leaky_bucket(big, Rate::per_second(2_000_000).unwrap(), LeakMode::Shaping)
                .unwrap(),
        ),
        (
            "fixed_window",
            Quota::fixed_window(big, Duration::from_secs(1)).unwrap(),
        ),
        // The log keeps one entry per allowed request: a short window keeps
        // the single-key log at about 10,000 entries.
        (
            "sliding_log",
            Quota::sliding_log(100_000, Duration::from_millis(10)).unwrap(),
        ),
        (
            "sliding_counter",
            Quota::sliding_counter(big, Duration::from_secs(1)).unwrap(),
        ),
        ("gcra", Quota::gcra(per_us, big).unwrap()),
    ]
}
