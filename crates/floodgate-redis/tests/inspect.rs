//! Counter inspection and reset on a real Redis, standalone and cluster
//! (the testkit's suite, with caller time), and through `LazyRedisStore`
//! and `ResilientStore`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{FailureMode, ManualClock, MemoryStore, Quota, Rate, Store, Timestamp};
use floodgate_redis::{
    FailurePolicy, FailureSettings, LazyRedisStore, RedisConfig, ResilientStore, TimeSource,
};

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

#[tokio::test]
async fn inspect_suite_on_standalone_redis() {
    let server = RedisServer::start();
    let store = caller_store(&server).await;
    floodgate_testkit::inspect_suite(&store, "standalone")
        .await
        .unwrap();
}

#[tokio::test]
async fn inspect_suite_on_redis_cluster() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster, TimeSource::Caller).await;
    floodgate_testkit::inspect_suite(&store, "cluster")
        .await
        .unwrap();
}

/// Checks on many clients, hence many slots, plus one key named twice.
fn spread() -> Vec<floodgate_core::LimitCheck> {
    let window = Quota::fixed_window(5, Duration::from_secs(60)).unwrap();
    let bucket = Quota::token_bucket(4, Rate::per_second(1).unwrap()).unwrap();
    let mut checks: Vec<_> = (0..8)
        .map(|i| check("spread/minute/0", &format!("client-{i}"), window, 1 + i % 3))
        .collect();
    checks.push(check("spread/bucket/0", "client-0", bucket, 3));
    checks.push(check("spread/bucket/0", "client-0", bucket, 2));
    checks
}

#[tokio::test]
async fn a_cluster_inspects_and_resets_across_slots_as_memory_does() {
    let cluster = RedisCluster::start();
    let redis = cluster_store(&cluster, TimeSource::Caller).await;
    let memory = MemoryStore::default();
    let checks = spread();
    let slots: std::collections::HashSet<u16> = checks
        .iter()
        .map(|c| floodgate_redis::keys::slot(&redis.key(&c.identity, &c.limit_id)))
        .collect();
    assert!(slots.len() > 3, "the checks span several slots: {slots:?}");

    // Consume on each client's own key, so the states differ.
    for c in &checks[..8] {
        for store in [&redis as &dyn Store, &memory] {
            store.check(std::slice::from_ref(c), NOW).await.unwrap();
        }
    }
    let later = Timestamp::from_micros(NOW.as_micros() + 500_000);
    // Each check is inspected on its own: the bucket's two checks of one
    // key (3, then 2, of 4 tokens) both allow, as on the memory store.
    let from_redis = redis.inspect(&checks, later).await.unwrap();
    assert_eq!(from_redis, memory.inspect(&checks, later).await.unwrap());
    assert!(from_redis[8].allowed && from_redis[9].allowed);
    assert_eq!(
        redis.inspect(&checks, later).await.unwrap(),
        from_redis,
        "inspecting consumed nothing"
    );

    // Eight window keys held state, the bucket key none.
    assert_eq!(redis.reset(&checks).await.unwrap(), 8);
    assert_eq!(memory.reset(&checks).await.unwrap(), 8);
    assert_eq!(
        redis.inspect(&checks, later).await.unwrap(),
        memory.inspect(&checks, later).await.unwrap()
    );
    for c in &checks[..8] {
        let key = redis.key(&c.identity, &c.limit_id);
        let s = floodgate_redis::keys::slot(&key);
        let exists: u64 = cluster
            .nodes()
            .iter()
            .map(|n| n.cli(&["EXISTS", &key]).trim().parse::<u64>().unwrap_or(0))
            .sum();
        assert_eq!(exists, 0, "{key} (slot {s}) is gone from every node");
    }
}

#[tokio::test]
async fn lazy_store_forwards_once_connected_and_is_transient_before() {
    let mut server = RedisServer::start();
    let config = RedisConfig {
        connect_timeout: Duration::from_millis(200),
        ..caller_config(&server.url())
    };
    server.kill();
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let store = LazyRedisStore::with_clock(config, Duration::from_secs(5), Arc::new(clock));
    let c = [check(
        "lazy/hourly/0",
        "a",
        Quota::fixed_window(2, Duration::from_secs(3_600)).unwrap(),
        1,
    )];
    let e = store.inspect(&c, NOW).await.unwrap_err();
    assert!(e.transient, "{e}");
    let e = store.reset(&c).await.unwrap_err();
    assert!(e.transient, "{e}");
    assert_eq!(store.attempts(), 1, "an inspection starts an attempt too");

    server.restart();
    store.connect_now().await.unwrap();
    store.check(&c, NOW).await.unwrap();
    assert_eq!(store.inspect(&c, NOW).await.unwrap()[0].remaining, 0);
    assert_eq!(store.reset(&c).await.unwrap(), 1);
    assert_eq!(store.inspect(&c, NOW).await.unwrap()[0].remaining, 1);
}

#[tokio::test]
async fn resilient_store_passes_inspection_errors_back_instead_of_degrading() {
    let mut server = RedisServer::start();
    let redis = caller_store(&server).await;
    let policy = FailurePolicy::from(FailureSettings {
        on_failure: FailureMode::FailOpen,
        ..caller_config(&server.url()).failure
    });
    let store = ResilientStore::new(redis, policy);
    let c = [check(
        "resilient/hourly/0",
        "a",
        Quota::fixed_window(2, Duration::from_secs(3_600)).unwrap(),
        1,
    )];
    store.check(&c, NOW).await.unwrap();
    assert_eq!(store.inspect(&c, NOW).await.unwrap()[0].remaining, 0);
    assert_eq!(store.reset(&c).await.unwrap(), 1);

    server.kill();
    let e = store.inspect(&c, NOW).await.unwrap_err();
    assert!(e.transient, "{e}");
    let e = store.reset(&c).await.unwrap_err();
    assert!(e.transient, "{e}");
    assert_eq!(store.stats().store_errors, 0, "admin calls feed no breaker");
    // A check still degrades: the policy is for requests only.
    assert!(store.check(&c, NOW).await.unwrap()[0].allowed);
    assert_eq!(store.stats().degraded_open, 1);
}
