//! One decision on the memory store, per algorithm, with 1, 10,000 and
//! 1,000,000 keys, on 1 and 2 threads; and the same on `governor`'s keyed
//! limiter, in the same run.
//!
//! Benchmark ids are `<algorithm>/<threads>t/<limiter>/<keys>`, e.g.
//! `gcra/1t/floodgate/1000000` and `gcra/1t/governor/1000000`: the pair to
//! compare differs only in the limiter. `governor` is GCRA, so it appears in
//! the `token_bucket` and `gcra` groups (the same code, measured twice).
//!
//! Fairness:
//!
//! - Keys are built before timing: one `Arc<str>` identity per key
//!   (`"client-0000042"`). Floodgate gets pre-built `LimitCheck`s holding
//!   those `Arc`s; governor is keyed by the same `Arc<str>`s (its map hashes
//!   the string's bytes, as floodgate does). Nothing is allocated in the
//!   timed loop on either side except governor's one-off entry creation,
//!   which pre-population already did.
//! - `governor` is its default keyed store (`DashMap`, std `RandomState`,
//!   i.e. SipHash-1-3) — what `DefaultKeyedRateLimiter` uses — and
//!   `governor_foldhash` is the same with the hasher floodgate uses
//!   (`foldhash::quality`), to separate hashing from the rest.
//! - Time: both sides see a fake clock that advances 1024 µs every 1024
//!   decisions of each thread (floodgate: a shared `AtomicU64` passed as
//!   `now`; governor: its `FakeRelativeClock`, read on every decision as
//!   governor always does, advanced with the same period). Neither pays for
//!   a system clock read, and time moves so refills, window rolls and log
//!   expiry happen as in real traffic. Quotas are large enough that the
//!   decisions are (almost) all allowed; the bench prints the share.
//! - Every key is used once before timing (1,000,000 keys pre-populated),
//!   and the key cursor carries over between samples so that large key sets
//!   are not reduced to the first few thousand keys by short samples.
//! - Floodgate's store never sweeps during a run (a one-hour sweep interval)
//!   and has room for every key, like governor's map, which never forgets.
//!
//! Two threads: `iter_custom`; each thread does `iters` decisions (starting
//! half the key set apart), after a barrier, and the sample is the slower
//! thread's time divided by two: wall time per decision at two threads.
//! Perfect scaling halves the one-thread figure.
//!
//! Time: wall-clock by default. With `FLOODGATE_BENCH_TIME=cpu`, each
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) instead, which leaves out
//! the time the thread spent preempted by other processes — on a busy
//! machine the only way to get stable figures — but also time spent parked
//! on a contended lock (parking_lot spins briefly, then sleeps).
//!
//! Run: `cargo bench -p floodgate-core --bench decisions -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use floodgate_core::{
    LeakMode, LimitCheck, MemoryStore, MemoryStoreConfig, Quota, Rate, Timestamp,
};
use governor::clock::FakeRelativeClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::RateLimiter;

/// Decisions between two clock ticks (and the tick, in µs).
const TICK: u64 = 1024;
/// Where floodgate's clock starts (2024-01-01, in µs).
const START_US: u64 = 1_704_067_200_000_000;
const KEY_COUNTS: [usize; 3] = [1, 10_000, 1_000_000];

/// What the timed loop drives.
trait Target: Sync {
    fn len(&self) -> usize;
    /// The time a thread starts with.
    fn now(&self) -> u64;
    /// Moves the shared clock by `TICK` µs and returns the new time.
    fn tick(&self) -> u64;
    /// One decision on key `i` at `now`; whether it was allowed.
    fn decide(&self, i: usize, now: u64) -> bool;
}

struct Floodgate {
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

struct Gov<S: std::hash::BuildHasher + Clone> {
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

fn identities(n: usize) -> Vec<Arc<str>> {
    (0..n)
        .map(|i| Arc::from(format!("client-{i:07}")))
        .collect()
}

fn floodgate(quota: Quota, keys: &[Arc<str>]) -> Floodgate {
    let store = MemoryStore::new(MemoryStoreConfig {
        max_keys: 4 * keys.len().max(1024),
        shards: 64,
        sweep_interval: Duration::from_secs(3600),
    });
    let limit_id: Arc<str> = Arc::from(format!("bench:{}", quota.algorithm_name()));
    let checks: Vec<LimitCheck> = keys
        .iter()
        .map(|k| LimitCheck {
            limit_id: limit_id.clone(),
            identity: k.clone(),
            quota,
            cost: 1,
            on_failure: None,
            lease: None,
        })
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
fn governor_quota() -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::new(1_000_000).unwrap())
        .allow_burst(NonZeroU32::new(1_000_000_000).unwrap())
}

fn governor<S>(keys: &[Arc<str>], hasher: S) -> Gov<S>
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
fn quotas() -> Vec<(&'static str, Quota)> {
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

/// Whether to time with thread CPU time rather than wall time.
fn cpu_time_mode() -> bool {
    static MODE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| std::env::var("FLOODGATE_BENCH_TIME").is_ok_and(|v| v == "cpu"))
}

/// CPU time consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call;
    // clock_gettime only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Running state of one benchmark: the target, a key cursor per thread,
/// and counts of decisions and allowed ones.
struct Bench<T> {
    target: T,
    cursors: [AtomicUsize; 2],
    decisions: AtomicU64,
    allowed: AtomicU64,
}

impl<T: Target> Bench<T> {
    fn new(target: T) -> Self {
        let half = target.len() / 2;
        Bench {
            target,
            cursors: [AtomicUsize::new(0), AtomicUsize::new(half)],
            decisions: AtomicU64::new(0),
            allowed: AtomicU64::new(0),
        }
    }

    /// `iters` decisions on thread slot `slot`, timed.
    fn run(&self, slot: usize, iters: u64) -> Duration {
        let cpu = cpu_time_mode();
        let t = &self.target;
        let n = t.len();
        let mut i = self.cursors[slot].load(Ordering::Relaxed);
        let mut now = t.now();
        let mut allowed = 0u64;
        let begin = Instant::now();
        let begin_cpu = if cpu {
            thread_cpu_time()
        } else {
            Duration::ZERO
        };
        for k in 0..iters {
            if k % TICK == TICK - 1 {
                now = t.tick();
            }
            allowed += black_box(t.decide(i, now)) as u64;
            i += 1;
            if i == n {
                i = 0;
            }
        }
        let elapsed = if cpu {
            thread_cpu_time() - begin_cpu
        } else {
            begin.elapsed()
        };
        self.cursors[slot].store(i, Ordering::Relaxed);
        self.decisions.fetch_add(iters, Ordering::Relaxed);
        self.allowed.fetch_add(allowed, Ordering::Relaxed);
        elapsed
    }

    fn run_threads(&self, threads: usize, iters: u64) -> Duration {
        if threads == 1 {
            return self.run(0, iters);
        }
        let barrier = Barrier::new(threads);
        let slowest = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|slot| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        self.run(slot, iters)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread"))
                .max()
                .unwrap_or_default()
        });
        slowest / threads as u32
    }

    fn report(&self, id: &str) {
        let d = self.decisions.load(Ordering::Relaxed).max(1);
        let a = self.allowed.load(Ordering::Relaxed);
        eprintln!(
            "  {id}: {:.4}% of {d} decisions allowed",
            100.0 * a as f64 / d as f64
        );
    }
}

fn bench_one<T: Target>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    group_name: &str,
    id: &str,
    threads: usize,
    make: impl FnOnce() -> T,
) {
    let mut make = Some(make);
    let mut bench: Option<Bench<T>> = None;
    group.bench_function(id, |b| {
        // Built on first use, so filtered-out benchmarks cost nothing.
        let bench = bench.get_or_insert_with(|| Bench::new((make.take().expect("once"))()));
        b.iter_custom(|iters| bench.run_threads(threads, iters));
    });
    if let Some(bench) = bench {
        bench.report(&format!("{group_name}/{id}"));
    }
}

fn decisions(c: &mut Criterion) {
    let key_sets: Vec<(usize, Vec<Arc<str>>)> =
        KEY_COUNTS.iter().map(|&n| (n, identities(n))).collect();
    for (name, quota) in quotas() {
        for threads in [1usize, 2] {
            let group_name = format!("{name}/{threads}t");
            let mut group = c.benchmark_group(&group_name);
            for (n, keys) in &key_sets {
                bench_one(
                    &mut group,
                    &group_name,
                    &format!("floodgate/{n}"),
                    threads,
                    || floodgate(quota, keys),
                );
                if name == "token_bucket" || name == "gcra" {
                    bench_one(
                        &mut group,
                        &group_name,
                        &format!("governor/{n}"),
                        threads,
                        || governor(keys, std::hash::RandomState::new()),
                    );
                    bench_one(
                        &mut group,
                        &group_name,
                        &format!("governor_foldhash/{n}"),
                        threads,
                        || governor(keys, foldhash::quality::RandomState::default()),
                    );
                }
            }
            group.finish();
        }
    }
}

criterion_group!(benches, decisions);
criterion_main!(benches);
