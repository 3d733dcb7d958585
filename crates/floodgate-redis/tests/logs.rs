//! The log says once that Redis went away and once that it is back, not
//! once per request.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use floodgate_core::policy::units::DurationField;
use floodgate_core::policy::FailureMode;
use floodgate_core::{Quota, Store, Timestamp};
use floodgate_redis::{
    BreakerConfig, FailurePolicy, RedisConfig, RedisStore, ResilientStore, TimeSource,
};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

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
    let config = RedisConfig {
        time: TimeSource::Caller,
        timeout: DurationField(Duration::from_millis(50)),
        connect_timeout: DurationField(Duration::from_millis(200)),
        on_failure: FailureMode::FailOpen,
        breaker: BreakerConfig {
            failures: 3,
            cooldown: DurationField(Duration::from_millis(50)),
        },
        ..RedisConfig::standalone(server.url())
    };
    let store = ResilientStore::new(
        RedisStore::connect(&config).await.unwrap(),
        FailurePolicy::from_config(&config),
    );
    let quota = Quota::fixed_window(1_000_000, Duration::from_secs(3_600)).unwrap();
    let c = check("logs/hourly/0", "client", quota, 1);
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    let call = || async { store.check(std::slice::from_ref(&c), now).await.unwrap() };

    for _ in 0..5 {
        call().await;
    }
    server.kill();
    // Many requests while Redis is away, across several breaker probes.
    for _ in 0..40 {
        assert!(call().await[0].allowed, "fail_open allows");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.restart();
    let mut back = false;
    for _ in 0..100 {
        call().await;
        if store.stats().store_errors > 0
            && store.breaker_state() == floodgate_redis::BreakerState::Closed
        {
            // One more call on Redis to be sure it decides there.
            let before = store.stats().degraded();
            call().await;
            if store.stats().degraded() == before {
                back = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "back on Redis");
    for _ in 0..5 {
        call().await;
    }
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let down = text.matches("store unavailable").count();
    let up = text.matches("store is back").count();
    assert_eq!((down, up), (1, 1), "{text}");
    assert!(store.stats().degraded() >= 40);
}
