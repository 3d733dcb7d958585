//! The log says once that Redis went away and once that it is back, not
//! once per request. The breaker runs on a manual clock, moved past its
//! cool-down to let probes through.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{FailureMode, ManualClock, Quota, Store, Timestamp};
use floodgate_redis::{BreakerState, FailurePolicy, RedisStore, ResilientStore};

#[tokio::test]
async fn outages_are_logged_once_each_way() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut server = RedisServer::start();
    let config = outage_config(&server, FailureMode::FailOpen);
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let store = ResilientStore::with_clock(
        RedisStore::connect(&config).await.unwrap(),
        FailurePolicy::from(&config),
        Arc::new(clock.clone()),
    );
    let quota = Quota::fixed_window(1_000_000, Duration::from_secs(3_600)).unwrap();
    let c = check("logs/hourly/0", "client", quota, 1);
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    let call = || async { store.check(std::slice::from_ref(&c), now).await.unwrap() };

    for _ in 0..5 {
        call().await;
    }
    assert_eq!(store.stats().degraded(), 0);
    server.kill();
    // Many requests while Redis is away, across several breaker probes.
    for i in 0..40 {
        assert!(call().await[0].allowed, "fail_open allows");
        if i % 5 == 4 {
            clock.advance(COOLDOWN);
        }
    }
    let s = store.stats();
    assert_eq!(s.degraded(), 40, "{s:?}");
    assert_eq!(
        s.store_errors,
        3 + 7,
        "three to open, then seven probes: {s:?}"
    );
    server.restart();
    let deadline = Deadline::in_secs(10);
    // Back once a probe succeeds and one more call is decided on Redis.
    loop {
        clock.advance(COOLDOWN);
        call().await;
        if store.breaker_state() == BreakerState::Closed {
            let before = store.stats().degraded();
            call().await;
            if store.stats().degraded() == before {
                break;
            }
        }
        deadline
            .poll(format!("back on Redis: {:?}", store.stats()))
            .await;
    }
    for _ in 0..5 {
        call().await;
    }
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let down = text.matches("store unavailable").count();
    let up = text.matches("store is back").count();
    assert_eq!((down, up), (1, 1), "{text}");
    assert!(store.stats().store_errors >= 10);
}

/// A replica whose Redis refuses its password (met on a background
/// attempt) says so once, as a warning, however many attempts follow;
/// checks meanwhile fail as transient (the failure policy decides).
#[tokio::test]
async fn a_refused_password_is_logged_once() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = RedisServer::start();
    let pw = ">right-password";
    let acl = ["ACL", "SETUSER", "fg", "on", pw, "~*", "&*", "+@all"];
    assert_eq!(server.cli(&acl).trim(), "OK");
    let config = floodgate_redis::RedisConfig {
        credentials: floodgate_redis::Credentials {
            username: Some("fg".into()),
            password: Some(floodgate_redis::Secret::Value("wrong-password".into())),
        },
        ..outage_config(&server, FailureMode::FailOpen)
    };
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let store =
        floodgate_redis::LazyRedisStore::with_clock(config, COOLDOWN, Arc::new(clock.clone()));
    let c = [check(
        "logs/hourly/0",
        "refused",
        Quota::fixed_window(5, Duration::from_secs(3_600)).unwrap(),
        1,
    )];
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    for _ in 0..3 {
        let e = store.check(&c, now).await.unwrap_err();
        assert!(e.transient, "{e}");
        let deadline = Deadline::in_secs(10);
        while store.is_connecting() {
            deadline.poll("the attempt never ended").await;
        }
        clock.advance(COOLDOWN);
    }
    assert_eq!(store.attempts(), 3);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.matches("refuses this configuration").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("WARN") && text.contains("user `fg`"),
        "{text}"
    );
    assert!(!text.contains("wrong-password"), "{text}");
}
