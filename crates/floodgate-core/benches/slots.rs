//! The cost of a concurrency limit on the memory store, beside a token
//! bucket decision in the same run: one request's token-bucket decision;
//! the same request also taking a slot (one store call, two limits) and
//! giving it back (a second call); and a slot alone, taken and given back.
//! 10,000 clients, one key each per limit, used in turn; the slots are
//! released at once, so every decision allows. `lease_id` is the cost of a
//! new random lease id alone (part of the two before it).
//!
//! Run: `cargo bench -p floodgate-core --bench slots -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use floodgate_core::{LeaseId, LeaseOp, LimitCheck, MemoryStore, Quota, Rate, Timestamp};

const CLIENTS: usize = 10_000;

fn checks(name: &str, quota: Quota) -> Vec<LimitCheck> {
    (0..CLIENTS)
        .map(|i| {
            let who: Arc<str> = Arc::from(format!("client-{i:07}"));
            LimitCheck::new(Arc::from(name), who, quota, 1)
        })
        .collect()
}

fn slots(c: &mut Criterion) {
    let bucket = Quota::token_bucket(1_000_000, Rate::per_second(1_000_000).unwrap()).unwrap();
    let slot = Quota::concurrency(8, Duration::from_secs(60)).unwrap();
    let rates = checks("api/rate", bucket);
    let held = checks("api/slots", slot);
    let now = Timestamp::from_micros(1_764_028_800_000_000);
    let mut group = c.benchmark_group("concurrency");

    let store = MemoryStore::default();
    let mut i = 0;
    group.bench_function("token_bucket", |b| {
        b.iter(|| {
            i = (i + 1) % CLIENTS;
            black_box(store.check_one(&rates[i], now))
        })
    });

    let store = MemoryStore::default();
    group.bench_function("token_bucket+slot_acquire_release", |b| {
        b.iter(|| {
            i = (i + 1) % CLIENTS;
            let lease = Some(LeaseId::random());
            let pair = [rates[i].clone(), held[i].clone().with_lease(lease)];
            let d = store.check_sync(&pair, now);
            black_box(store.lease_sync(LeaseOp::Release, &pair[1..], now));
            d
        })
    });

    let store = MemoryStore::default();
    group.bench_function("slot_acquire_release", |b| {
        b.iter(|| {
            i = (i + 1) % CLIENTS;
            let one = [held[i].clone().with_lease(Some(LeaseId::random()))];
            let d = store.check_one(&one[0], now);
            black_box(store.lease_sync(LeaseOp::Release, &one, now));
            d
        })
    });
    group.bench_function("lease_id", |b| b.iter(LeaseId::random));
    group.finish();
}

criterion_group!(benches, slots);
criterion_main!(benches);
