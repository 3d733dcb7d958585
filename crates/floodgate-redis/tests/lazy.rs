//! `LazyRedisStore`: fails at once while Redis is unreachable, tries to
//! connect in the background at most once per interval (on a manual clock
//! here), and decides on Redis once a connection succeeds.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floodgate_core::{ManualClock, Quota, Store, Timestamp};
use floodgate_redis::{LazyRedisStore, RedisConfig};

const RETRY: Duration = Duration::from_secs(5);
const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

#[tokio::test]
async fn connects_in_the_background_once_per_interval() {
    let mut server = RedisServer::start();
    let config = RedisConfig {
        connect_timeout: Duration::from_millis(200),
        ..caller_config(&server.url())
    };
    server.kill();
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let store = LazyRedisStore::with_clock(config, RETRY, Arc::new(clock.clone()));
    let c = [check(
        "lazy/hourly/0",
        "a",
        Quota::fixed_window(1, Duration::from_secs(3_600)).unwrap(),
        1,
    )];

    let e = store.check(&c, NOW).await.unwrap_err();
    assert!(e.transient, "{e}");
    assert_eq!(store.attempts(), 1, "the first check starts an attempt");
    let deadline = Deadline::in_secs(10);
    while store.is_connecting() {
        deadline.poll("the first attempt never ended").await;
    }
    assert!(store.connected().is_none(), "Redis was down");

    // Redis is back, but the next attempt waits for the interval.
    server.restart();
    clock.advance(RETRY - Duration::from_millis(1));
    for _ in 0..3 {
        assert!(store.check(&c, NOW).await.is_err());
    }
    assert_eq!(store.attempts(), 1);
    assert!(store.connected().is_none());

    clock.advance(Duration::from_millis(1));
    assert!(store.check(&c, NOW).await.is_err(), "not connected yet");
    assert_eq!(store.attempts(), 2);
    let deadline = Deadline::in_secs(10);
    while store.connected().is_none() {
        deadline.poll("never connected").await;
    }

    let d = store.check(&c, NOW).await.unwrap();
    assert!(d[0].allowed);
    assert!(
        !store.check(&c, NOW).await.unwrap()[0].allowed,
        "one per hour"
    );
    let key = store.connected().unwrap().key("a", "lazy/hourly/0");
    assert_eq!(
        server.cli(&["EXISTS", &key]).trim(),
        "1",
        "decided on Redis"
    );
    assert_eq!(store.attempts(), 2, "no attempt once connected");
}

#[tokio::test]
async fn connect_now_uses_a_reachable_redis_from_the_first_check() {
    let server = RedisServer::start();
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
    let store =
        LazyRedisStore::with_clock(caller_config(&server.url()), RETRY, Arc::new(clock.clone()));
    store.connect_now().await.unwrap();
    let c = [check(
        "lazy/hourly/0",
        "b",
        Quota::fixed_window(1, Duration::from_secs(3_600)).unwrap(),
        1,
    )];
    assert!(store.check(&c, NOW).await.unwrap()[0].allowed);
    assert_eq!(store.attempts(), 0, "no background attempt needed");
}
