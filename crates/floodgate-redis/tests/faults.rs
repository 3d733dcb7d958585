//! Faults on a real redis-server: killed, restarted, frozen (SIGSTOP).
//! Decisions follow the failure policy (each check's own mode, or the
//! default), a frozen Redis is cut off by the store's timeout, the store
//! comes back on its own, and the breaker opens, lets one probe through per
//! cool-down and closes. The breaker's time is a `ManualClock` moved by the
//! tests; only the server's own recovery is waited for, by polling.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{FailureMode, LimitCheck, ManualClock, Quota, RetryAfter, Store, Timestamp};
use floodgate_redis::{
    BreakerState, FailurePolicy, FailureSettings, RedisConfig, RedisStore, ResilientStore,
};

type Resilient = ResilientStore<Counting<RedisStore>>;

/// A resilient store on `server` as `config` says, with its breaker on a
/// manual clock and the calls that reach Redis counted.
async fn resilient_with(config: &RedisConfig) -> (Resilient, ManualClock) {
    let redis = RedisStore::connect(config).await.unwrap();
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let store = ResilientStore::with_clock(
        Counting::new(redis),
        FailurePolicy::from(config),
        Arc::new(clock.clone()),
    );
    (store, clock)
}

async fn resilient(server: &RedisServer, mode: FailureMode) -> (Resilient, ManualClock) {
    resilient_with(&outage_config(server, mode)).await
}

fn one_per_hour() -> Quota {
    Quota::fixed_window(1, Duration::from_secs(3_600)).unwrap()
}

fn with_mode(check: LimitCheck, mode: Option<FailureMode>) -> LimitCheck {
    LimitCheck {
        on_failure: mode,
        ..check
    }
}

/// How many of `times` requests of `check` alone `store` allows.
async fn allowed_of(store: &Resilient, check: &LimitCheck, times: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..times {
        let d = store.check(std::slice::from_ref(check), NOW).await.unwrap();
        allowed += usize::from(d[0].allowed);
    }
    allowed
}

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

/// Makes `n` calls of `identity`'s one-per-hour limit; returns how many
/// were allowed.
async fn calls(store: &dyn Store, identity: &str, n: usize) -> usize {
    let c = check("faults/hourly/0", identity, one_per_hour(), 1);
    let mut allowed = 0;
    for _ in 0..n {
        let d = store.check(std::slice::from_ref(&c), NOW).await.unwrap();
        allowed += usize::from(d[0].allowed);
    }
    allowed
}

/// Fails the test if `f` never finishes (a call the store's timeout did
/// not end would hang it).
async fn finishes<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("a call never finished")
}

#[tokio::test]
async fn killed_redis_fails_open() {
    let mut server = RedisServer::start();
    let (store, _clock) = resilient(&server, FailureMode::FailOpen).await;
    assert_eq!(calls(&store, "a", 3).await, 1, "redis decides");
    assert_eq!(store.stats().degraded(), 0);
    server.kill();
    assert_eq!(
        calls(&store, "a", 10).await,
        10,
        "fail_open allows everything"
    );
    let s = store.stats();
    assert_eq!(s.degraded_open, 10, "{s:?}");
    // Three failures open the breaker; the other seven skip Redis.
    assert_eq!((s.store_errors, s.short_circuited), (3, 7), "{s:?}");
    assert_eq!(store.inner().calls(), 3 + 3);
}

#[tokio::test]
async fn killed_redis_fails_closed() {
    let mut server = RedisServer::start();
    let (store, _clock) = resilient(&server, FailureMode::FailClosed).await;
    assert_eq!(calls(&store, "a", 1).await, 1);
    server.kill();
    assert_eq!(
        calls(&store, "b", 10).await,
        0,
        "fail_closed denies everything"
    );
    assert_eq!(store.stats().degraded_closed, 10);
    let c = check("faults/hourly/0", "b", one_per_hour(), 1);
    let d = store.check(&[c], NOW).await.unwrap();
    assert_eq!(d[0].retry_after, Some(RetryAfter::Unavailable(COOLDOWN)));
}

#[tokio::test]
async fn killed_redis_falls_back_to_local_limits() {
    let mut server = RedisServer::start();
    let (store, _clock) = resilient(&server, FailureMode::Local).await;
    server.kill();
    assert_eq!(
        calls(&store, "c", 5).await,
        1,
        "the local store enforces the limit"
    );
    assert_eq!(store.stats().degraded_local, 5);
}

#[tokio::test]
async fn local_mode_divides_limits_by_the_replica_count() {
    let mut server = RedisServer::start();
    let mut c = outage_config(&server, FailureMode::Local);
    c.failure.local_divisor = 4;
    let (store, _clock) = resilient_with(&c).await;
    server.kill();
    let q = Quota::fixed_window(8, Duration::from_secs(3_600)).unwrap();
    let chk = check("div/l/0", "d", q, 1);
    let allowed = allowed_of(&store, &chk, 10).await;
    assert_eq!(allowed, 2, "8 shared by 4 replicas: 2 each");
}

#[tokio::test]
async fn each_check_of_a_request_follows_its_own_failure_mode() {
    let mut server = RedisServer::start();
    let mut c = outage_config(&server, FailureMode::FailOpen);
    c.failure.local_divisor = 2;
    let (store, _clock) = resilient_with(&c).await;
    server.kill();
    let hourly = |n| Quota::fixed_window(n, Duration::from_secs(3_600)).unwrap();
    // No mode of its own: the default, fail_open.
    let default = check("mixed/default/0", "n", hourly(1), 1);
    // Local: 4 shared by 2 replicas.
    let local = with_mode(
        check("mixed/local/0", "n", hourly(4), 1),
        Some(FailureMode::Local),
    );
    // Fail open explicitly, even under a stricter default later.
    let open = with_mode(
        check("mixed/open/0", "n", hourly(1), 1),
        Some(FailureMode::FailOpen),
    );
    let closed = with_mode(
        check("mixed/closed/0", "n", hourly(100), 1),
        Some(FailureMode::FailClosed),
    );

    let mut seen = Vec::new();
    for _ in 0..3 {
        let d = store
            .check(&[default.clone(), local.clone(), open.clone()], NOW)
            .await
            .unwrap();
        seen.push(d.iter().map(|d| d.allowed).collect::<Vec<_>>());
    }
    assert_eq!(
        seen,
        [[true, true, true], [true, true, true], [true, false, true]],
        "open, local (4 / 2 = 2), open"
    );

    // One fail_closed check denies the request; its local check consumes
    // nothing.
    let other_local = with_mode(
        check("mixed/local/0", "m", hourly(4), 1),
        Some(FailureMode::Local),
    );
    let d = store
        .check(&[default.clone(), other_local.clone(), closed], NOW)
        .await
        .unwrap();
    assert!(d[0].allowed && d[1].allowed, "{d:?}");
    assert!(!d[2].allowed, "fail_closed denies: {d:?}");
    assert_eq!(d[2].retry_after, Some(RetryAfter::Unavailable(COOLDOWN)));
    let left = allowed_of(&store, &other_local, 3).await;
    assert_eq!(left, 2, "the denied request took none of the 2");

    let s = store.stats();
    assert_eq!(
        (s.degraded_open, s.degraded_local, s.degraded_closed),
        (3 * 2 + 2, 3 + 3, 1),
        "{s:?}"
    );

    // A stricter default changes only the checks without a mode.
    store.reconfigure(FailureSettings {
        on_failure: FailureMode::FailClosed,
        ..c.failure
    });
    let d = store
        .check(std::slice::from_ref(&default), NOW)
        .await
        .unwrap();
    assert!(!d[0].allowed, "the new default: {d:?}");
    let d = store.check(std::slice::from_ref(&open), NOW).await.unwrap();
    assert!(d[0].allowed, "its own mode: {d:?}");
}

#[tokio::test]
async fn restarted_redis_is_used_again_without_restarting_the_store() {
    let mut server = RedisServer::start();
    let (store, clock) = resilient(&server, FailureMode::FailOpen).await;
    server.kill();
    calls(&store, "e", 5).await;
    assert_eq!(store.breaker_state(), BreakerState::Open);
    assert_eq!(store.inner().calls(), 3);
    server.restart();
    // Back on Redis once a probe succeeds (the connection is re-established
    // in the background meanwhile): one probe per cool-down.
    let deadline = Deadline::in_secs(10);
    let mut probes = 0;
    while store.breaker_state() == BreakerState::Open {
        deadline
            .poll(format!("never came back: {:?}", store.stats()))
            .await;
        clock.advance(COOLDOWN);
        calls(&store, "probe", 1).await;
        probes += 1;
        assert_eq!(store.inner().calls(), 3 + probes, "one probe per cool-down");
    }
    // Deciding on Redis: the one-per-hour limit is enforced there.
    let degraded = store.stats().degraded();
    assert_eq!(calls(&store, "f", 3).await, 1);
    assert_eq!(store.stats().degraded(), degraded, "none degraded");
    let key = store.inner().inner.key("f", "faults/hourly/0");
    assert_eq!(
        server.cli(&["EXISTS", &key]).trim(),
        "1",
        "decided on redis"
    );
}

#[tokio::test]
async fn frozen_redis_times_out_and_recovers() {
    let server = RedisServer::start();
    let mut c = outage_config(&server, FailureMode::FailOpen);
    // Every call goes to Redis: the breaker never opens here.
    c.failure.breaker.failures = u32::MAX;
    let (store, _clock) = resilient_with(&c).await;
    let store = Arc::new(store);
    assert_eq!(calls(&*store, "g", 2).await, 1);
    server.pause();
    assert_eq!(
        finishes(calls(&*store, "g", 6)).await,
        6,
        "fail_open while frozen"
    );
    assert_eq!(
        store.inner().timeouts(),
        6,
        "each call ended by the timeout"
    );
    // Concurrent calls on the shared, pipelined connections: each is
    // ended by its own timeout too.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            calls(&*store, &format!("h{i}"), 3).await
        }));
    }
    for t in tasks {
        assert_eq!(finishes(t).await.unwrap(), 3);
    }
    assert_eq!(store.inner().timeouts(), 6 + 16 * 3);
    let s = store.stats();
    assert_eq!((s.store_errors, s.degraded_open), (54, 54), "{s:?}");
    assert_eq!(store.breaker_state(), BreakerState::Closed);

    server.resume();
    let deadline = Deadline::in_secs(10);
    // Back on Redis: "g" already used its one-per-hour there.
    while finishes(calls(&*store, "g", 1)).await != 0 {
        deadline
            .poll(format!("never came back: {:?}", store.stats()))
            .await;
    }
}

#[tokio::test]
async fn breaker_opens_short_circuits_and_closes() {
    let mut server = RedisServer::start();
    let (store, clock) = resilient(&server, FailureMode::FailOpen).await;
    server.kill();
    calls(&store, "i", 3).await;
    let s = store.stats();
    assert_eq!(store.breaker_state(), BreakerState::Open);
    assert_eq!((s.store_errors, s.breaker_opened), (3, 1), "{s:?}");

    // Open: no call reaches Redis.
    assert_eq!(calls(&store, "i", 20).await, 20);
    let s = store.stats();
    assert_eq!(s.short_circuited, 20, "{s:?}");
    assert_eq!(s.store_errors, 3, "{s:?}");
    assert_eq!(store.inner().calls(), 3);

    // Not before an eighth of the cool-down...
    clock.advance(COOLDOWN / 8 - Duration::from_millis(1));
    calls(&store, "i", 1).await;
    assert_eq!(store.inner().calls(), 3);
    // ...then one probe goes through; it fails (Redis is still down) and
    // the breaker stays open.
    clock.advance(Duration::from_millis(1));
    calls(&store, "i", 3).await;
    assert_eq!(store.inner().calls(), 4, "one probe");
    let s = store.stats();
    assert_eq!((s.store_errors, s.short_circuited), (4, 23), "{s:?}");
    assert_eq!(store.breaker_state(), BreakerState::Open);

    server.restart();
    let deadline = Deadline::in_secs(10);
    while store.breaker_state() == BreakerState::Open {
        deadline
            .poll(format!("breaker never closed: {:?}", store.stats()))
            .await;
        clock.advance(COOLDOWN);
        calls(&store, "j", 1).await;
    }
    assert_eq!(store.stats().breaker_opened, 1);
    let before = store.inner().calls();
    assert_eq!(calls(&store, "k", 2).await, 1, "deciding on Redis again");
    assert_eq!(store.inner().calls(), before + 2);
}

#[tokio::test]
async fn a_fail_closed_check_denies_the_request_and_local_checks_consume_nothing() {
    let mut server = RedisServer::start();
    let (store, _clock) = resilient(&server, FailureMode::Local).await;
    server.kill();
    let soft = check("soft/hourly/0", "m", one_per_hour(), 1);
    let strict = with_mode(
        check("strict/hourly/0", "m", one_per_hour(), 1),
        Some(FailureMode::FailClosed),
    );
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

#[tokio::test]
async fn a_connection_idle_through_an_outage_answers_its_first_call_after_it() {
    let mut server = RedisServer::start();
    let config = RedisConfig {
        connections: 2,
        timeout: Duration::from_secs(5),
        ..outage_config(&server, FailureMode::FailOpen)
    };
    let store = RedisStore::connect(&config).await.unwrap();
    // Calls go to the two connections in turn.
    let c = check("faults/hourly/0", "idle", one_per_hour(), 1);
    for _ in 0..2 {
        finishes(store.check(std::slice::from_ref(&c), NOW))
            .await
            .unwrap();
    }
    server.kill();
    // Each connection fails through the outage, twice: the second failure
    // is its reconnection attempt, refused, which it keeps until its next
    // use.
    for _ in 0..4 {
        let r = finishes(store.check(std::slice::from_ref(&c), NOW)).await;
        assert!(r.is_err(), "answered without redis: {r:?}");
    }
    // Each failure started a new attempt in the background. An attempt is
    // three connections refused, 10 ms and 20 ms apart (plus a jitter of at
    // most as much): three whole attempts of new stores, one after the
    // other, outlast the ones in the background, which end refused.
    for _ in 0..3 {
        assert!(finishes(RedisStore::connect(&config)).await.is_err());
    }
    server.restart();
    // Back: the first call on each connection is answered by Redis, not
    // with the refusal kept from the outage.
    let fresh = check("faults/hourly/0", "after", one_per_hour(), 1);
    for i in 0..4 {
        let r = finishes(store.check(std::slice::from_ref(&fresh), NOW)).await;
        let d = r.unwrap_or_else(|e| panic!("call {i} after the outage: {e}"));
        assert_eq!(d[0].allowed, i == 0, "call {i}");
    }
}
