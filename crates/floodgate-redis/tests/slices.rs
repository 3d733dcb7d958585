//! Leased slices on a real Redis: the script takes and gives back exactly
//! as floodgate-core does on the memory store, and replicas deciding from
//! slices of one Redis (and one Redis Cluster) admit no more than a fixed
//! window's limit together.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::store::{GiveBack, LeasedStore, LeasedStoreConfig, SliceTerms, SliceWant};
use floodgate_core::{LeakMode, LimitCheck, MemoryStore, Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisStore, TimeSource};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

const BASE: u64 = 1_700_006_400_000_000;

fn quotas() -> Vec<Quota> {
    let r = |n, ms| Rate::new(n, Duration::from_millis(ms)).unwrap();
    vec![
        Quota::token_bucket(30, r(2, 1_000)).unwrap(),
        Quota::leaky_bucket(30, r(3, 1_000), LeakMode::Policing).unwrap(),
        Quota::fixed_window(30, Duration::from_secs(1)).unwrap(),
        Quota::sliding_log(30, Duration::from_millis(1_500)).unwrap(),
        Quota::sliding_counter(30, Duration::from_secs(1)).unwrap(),
        Quota::gcra(r(7, 10), 30).unwrap(),
    ]
}

fn check(q: Quota, id: &str, cost: u64) -> LimitCheck {
    LimitCheck::new(Arc::from("api/slices"), Arc::from(id), q, cost)
}

/// Takes, requests and give-backs in random order give the same answers
/// on Redis as on the memory store.
#[test]
fn redis_takes_and_gives_back_as_the_memory_store() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(caller_store(&server));
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    });
    let op = (0u8..3, 1u64..4, 1u64..40, 1u32..=1_000_000, 0u64..300_000);
    let strategy = (0usize..6, prop::collection::vec(op, 1..40));
    let case = std::sync::atomic::AtomicU64::new(0);
    runner
        .run(&strategy, |(qi, ops)| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let q = quotas()[qi];
            let id = format!("c{case}");
            let memory = MemoryStore::default();
            let mut t = BASE + case * 100_000_000;
            let mut taken: Vec<(u64, Timestamp)> = Vec::new();
            for (kind, cost, want, share, dt) in ops {
                t += dt;
                let now = Timestamp::from_micros(t);
                match kind {
                    0 => {
                        let w = [SliceWant {
                            check: check(q, &id, cost),
                            want,
                            share_ppm: share,
                        }];
                        let r = rt.block_on(store.take(&w, now)).unwrap();
                        let m = memory.take_sync(&w, now);
                        prop_assert_eq!(r, m.clone(), "take {} of {}", want, q);
                        if m[0].n > 0 {
                            taken.push((m[0].n, m[0].at));
                        }
                    }
                    1 => {
                        let c = [check(q, &id, cost)];
                        let r = rt.block_on(store.check(&c, now)).unwrap();
                        prop_assert_eq!(r, memory.check_sync(&c, now));
                    }
                    _ => {
                        let Some((n, at)) = taken.pop() else { continue };
                        let back = n.min(cost * 5);
                        let g = [GiveBack {
                            check: check(q, &id, back),
                            taken_at: at,
                        }];
                        rt.block_on(store.give_back(&g, now)).unwrap();
                        memory.give_back_sync(&g);
                    }
                }
                let c = [check(q, &id, 1)];
                prop_assert_eq!(
                    rt.block_on(store.inspect(&c, now)).unwrap(),
                    memory.inspect_sync(&c, now)
                );
            }
            Ok(())
        })
        .unwrap();
}

/// Four replicas, each with a store of its own, deciding a fixed window
/// from slices: together they admit at most the limit in every window,
/// and all of it but what they held unused when it ended.
async fn four_replicas_share_one_window(stores: Vec<RedisStore>) {
    let q = Quota::fixed_window(500, Duration::from_secs(1)).unwrap();
    let terms = SliceTerms {
        lease_us: 300_000,
        share_ppm: 100_000,
    };
    let replicas: Vec<_> = stores
        .into_iter()
        .map(|s| LeasedStore::new(s, LeasedStoreConfig::default()))
        .collect();
    let mut c = check(q, "everyone", 1);
    c.sync = Some(terms);
    let c = [c];
    // Two windows, 1,200 requests each (more than the limit), 1 ms apart
    // in turn across the replicas.
    for w in 0..2u64 {
        let start = BASE + 10_000_000 + w * 1_000_000;
        let mut admitted = 0;
        for i in 0..1_200u64 {
            let now = Timestamp::from_micros(start + i * 800);
            let r = &replicas[(i % 4) as usize];
            if r.check(&c, now).await.unwrap()[0].allowed {
                admitted += 1;
            }
            if i % 50 == 0 {
                r.tick(now).await;
            }
        }
        let end = Timestamp::from_micros(start + 999_999);
        let held: u64 = replicas.iter().map(|r| r.held(end)).sum();
        assert!(admitted <= 500, "window {w}: {admitted} admitted");
        assert!(
            admitted + held >= 500,
            "window {w}: {admitted} admitted, {held} held"
        );
        let calls: u64 = replicas.iter().map(|r| r.stats().take_calls).sum();
        assert!(calls < 400, "window {w}: {calls} calls for 1,200 requests");
    }
}

#[tokio::test]
async fn four_replicas_on_one_redis_admit_at_most_the_window() {
    let server = RedisServer::start();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(caller_store(&server).await);
    }
    four_replicas_share_one_window(stores).await;
}

#[tokio::test]
async fn four_replicas_on_a_cluster_admit_at_most_the_window() {
    let cluster = RedisCluster::start();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(cluster_store(&cluster, TimeSource::Caller).await);
    }
    four_replicas_share_one_window(stores).await;
}
