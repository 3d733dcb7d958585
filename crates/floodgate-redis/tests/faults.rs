//! Faults on a real redis-server: killed, restarted, frozen (SIGSTOP).
//! Decisions follow the failure policy, no call waits much past the
//! timeout, the store comes back on its own, and the breaker opens and
//! closes.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use floodgate_core::policy::units::DurationField;
use floodgate_core::policy::FailureMode;
use floodgate_core::{Quota, Store, Timestamp};
use floodgate_redis::{
    BreakerConfig, BreakerState, FailurePolicy, RedisConfig, RedisStore, ResilientStore, TimeSource,
};

const TIMEOUT: Duration = Duration::from_millis(50);
/// What "not much past the timeout" allows on a busy debug build.
const SLACK: Duration = Duration::from_millis(100);

fn config(server: &RedisServer, mode: FailureMode, cooldown_ms: u64) -> RedisConfig {
    RedisConfig {
        time: TimeSource::Caller,
        timeout: DurationField(TIMEOUT),
        connect_timeout: DurationField(Duration::from_millis(200)),
        on_failure: mode,
        breaker: BreakerConfig {
            failures: 3,
            cooldown: DurationField(Duration::from_millis(cooldown_ms)),
        },
        ..RedisConfig::standalone(server.url())
    }
}

async fn resilient(server: &RedisServer, mode: FailureMode) -> ResilientStore<RedisStore> {
    let c = config(server, mode, 100);
    let redis = RedisStore::connect(&c).await.unwrap();
    ResilientStore::new(redis, FailurePolicy::from_config(&c))
}

fn one_per_hour() -> Quota {
    Quota::fixed_window(1, Duration::from_secs(3_600)).unwrap()
}

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

/// Makes `n` calls of `identity`'s one-per-hour limit; returns how many
/// were allowed and the longest call.
async fn calls(store: &dyn Store, identity: &str, n: usize) -> (usize, Duration) {
    let c = check("faults/hourly/0", identity, one_per_hour(), 1);
    let mut allowed = 0;
    let mut longest = Duration::ZERO;
    for _ in 0..n {
        let start = Instant::now();
        let d = store.check(std::slice::from_ref(&c), NOW).await.unwrap();
        longest = longest.max(start.elapsed());
        allowed += usize::from(d[0].allowed);
    }
    (allowed, longest)
}

#[tokio::test]
async fn killed_redis_fails_open_within_the_timeout() {
    let mut server = RedisServer::start();
    let store = resilient(&server, FailureMode::FailOpen).await;
    assert_eq!(calls(&store, "a", 3).await.0, 1, "redis decides");
    server.kill();
    let (allowed, longest) = calls(&store, "a", 10).await;
    assert_eq!(allowed, 10, "fail_open allows everything");
    assert!(longest < TIMEOUT + SLACK, "a call took {longest:?}");
    let s = store.stats();
    assert!(s.store_errors >= 3, "{s:?}");
    assert_eq!(s.degraded_open, 10);
}

#[tokio::test]
async fn killed_redis_fails_closed_within_the_timeout() {
    let mut server = RedisServer::start();
    let store = resilient(&server, FailureMode::FailClosed).await;
    assert_eq!(calls(&store, "a", 1).await.0, 1);
    server.kill();
    let (allowed, longest) = calls(&store, "b", 10).await;
    assert_eq!(allowed, 0, "fail_closed denies everything");
    assert!(longest < TIMEOUT + SLACK, "a call took {longest:?}");
    assert_eq!(store.stats().degraded_closed, 10);
}

#[tokio::test]
async fn killed_redis_falls_back_to_local_limits_and_per_rule_modes() {
    let mut server = RedisServer::start();
    let store = resilient(&server, FailureMode::Local).await;
    server.kill();
    let (allowed, longest) = calls(&store, "c", 5).await;
    assert_eq!(allowed, 1, "the local store enforces the limit");
    assert!(longest < TIMEOUT + SLACK, "a call took {longest:?}");
    assert_eq!(store.stats().degraded_local, 5);

    // A rule of its own: `faults` fails open while the default is local.
    store.set_rule_modes([("faults".to_string(), FailureMode::FailOpen)].into());
    assert_eq!(calls(&store, "c", 3).await.0, 3);
}

#[tokio::test]
async fn local_mode_divides_limits_by_the_replica_count() {
    let mut server = RedisServer::start();
    let mut c = config(&server, FailureMode::Local, 100);
    c.local_divisor = 4;
    let redis = RedisStore::connect(&c).await.unwrap();
    let store = ResilientStore::new(redis, FailurePolicy::from_config(&c));
    server.kill();
    let q = Quota::fixed_window(8, Duration::from_secs(3_600)).unwrap();
    let chk = check("div/l/0", "d", q, 1);
    let mut allowed = 0;
    for _ in 0..10 {
        allowed +=
            usize::from(store.check(std::slice::from_ref(&chk), NOW).await.unwrap()[0].allowed);
    }
    assert_eq!(allowed, 2, "8 shared by 4 replicas: 2 each");
}

#[tokio::test]
async fn restarted_redis_is_used_again_without_restarting_the_store() {
    let mut server = RedisServer::start();
    let store = resilient(&server, FailureMode::FailOpen).await;
    server.kill();
    calls(&store, "e", 5).await;
    assert_eq!(store.breaker_state(), BreakerState::Open);
    server.restart();
    // Back on Redis once the breaker's probe succeeds and the connection
    // is re-established: the one-per-hour limit is enforced again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (allowed, _) = calls(&store, "f", 3).await;
        if allowed == 1 && store.breaker_state() == BreakerState::Closed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never came back: {:?}",
            store.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let key = store.inner().key("f", "faults/hourly/0");
    assert_eq!(
        server.cli(&["EXISTS", &key]).trim(),
        "1",
        "decided on redis"
    );
}

#[tokio::test]
async fn frozen_redis_times_out_and_recovers() {
    let server = RedisServer::start();
    let store = Arc::new(resilient(&server, FailureMode::FailOpen).await);
    assert_eq!(calls(&*store, "g", 2).await.0, 1);
    server.pause();
    let (allowed, longest) = calls(&*store, "g", 6).await;
    assert_eq!(allowed, 6, "fail_open while frozen");
    assert!(longest < TIMEOUT + SLACK, "a call took {longest:?}");
    // Concurrent calls on the shared, pipelined connections: none waits
    // past the timeout either.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            calls(&*store, &format!("h{i}"), 3).await.1
        }));
    }
    for t in tasks {
        let longest = t.await.unwrap();
        assert!(
            longest < TIMEOUT + SLACK,
            "a concurrent call took {longest:?}"
        );
    }
    server.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Back on Redis: "g" already used its one-per-hour there.
        if calls(&*store, "g", 1).await.0 == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never came back: {:?}",
            store.stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn breaker_opens_short_circuits_and_closes() {
    let mut server = RedisServer::start();
    let c = config(&server, FailureMode::FailOpen, 300);
    let redis = RedisStore::connect(&c).await.unwrap();
    let store = ResilientStore::new(redis, FailurePolicy::from_config(&c));
    server.kill();
    calls(&store, "i", 3).await;
    let s = store.stats();
    assert_eq!(store.breaker_state(), BreakerState::Open);
    assert_eq!((s.store_errors, s.breaker_opened), (3, 1), "{s:?}");

    // Open: no call reaches Redis, and none waits.
    let (allowed, longest) = calls(&store, "i", 20).await;
    assert_eq!(allowed, 20);
    assert!(
        longest < Duration::from_millis(10),
        "short circuit took {longest:?}"
    );
    let s = store.stats();
    assert_eq!(s.short_circuited, 20, "{s:?}");
    assert_eq!(s.store_errors, 3, "{s:?}");

    // After the cool-down one probe goes through; it fails (Redis is
    // still down) and the breaker stays open.
    tokio::time::sleep(Duration::from_millis(350)).await;
    calls(&store, "i", 2).await;
    let s = store.stats();
    assert_eq!(s.store_errors, 4, "one probe: {s:?}");
    assert_eq!(store.breaker_state(), BreakerState::Open);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.breaker_state() == BreakerState::Open {
        assert!(
            Instant::now() < deadline,
            "breaker never closed: {:?}",
            store.stats()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        calls(&store, "j", 1).await;
    }
    assert_eq!(store.stats().breaker_opened, 1);
    assert_eq!(calls(&store, "k", 2).await.0, 1, "deciding on Redis again");
}

#[tokio::test]
async fn a_fail_closed_rule_denies_the_request_and_local_rules_consume_nothing() {
    let mut server = RedisServer::start();
    let mut c = config(&server, FailureMode::Local, 100);
    c.rules = [("strict".to_string(), FailureMode::FailClosed)].into();
    let redis = RedisStore::connect(&c).await.unwrap();
    let store = ResilientStore::new(redis, FailurePolicy::from_config(&c));
    server.kill();
    let soft = check("soft/hourly/0", "m", one_per_hour(), 1);
    let strict = check("strict/hourly/0", "m", one_per_hour(), 1);
    let d = store.check(&[soft.clone(), strict], NOW).await.unwrap();
    assert!(!d[1].allowed, "fail_closed denies: {d:?}");
    assert!(d[1].retry_after.is_some());
    // The local limit was not consumed by the denied request.
    let d = store.check(std::slice::from_ref(&soft), NOW).await.unwrap();
    assert!(d[0].allowed, "{d:?}");
    let d = store.check(std::slice::from_ref(&soft), NOW).await.unwrap();
    assert!(!d[0].allowed, "local enforces one per hour: {d:?}");
    let s = store.stats();
    assert_eq!((s.degraded_closed, s.degraded_local), (1, 2), "{s:?}");
}
