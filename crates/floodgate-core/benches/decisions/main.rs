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
//!
//! Layout: `targets` (what the timed loop drives: floodgate's store and
//! governor's limiter, and the quotas), `timing` (the timed loop on one or
//! two threads, wall or CPU time).

mod targets;
mod timing;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

use targets::{floodgate, governor, identities, quotas, Target};
use timing::Bench;

const KEY_COUNTS: [usize; 3] = [1, 10_000, 1_000_000];

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
