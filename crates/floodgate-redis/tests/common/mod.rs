//! Shared test setup: real Redis servers, stores on them.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floodgate_core::store::{BoxFuture, StoreWrapper};
use floodgate_core::FailureMode;
use floodgate_core::{Decision, LimitCheck, Quota, Store, StoreError, Timestamp};
use floodgate_redis::{
    BreakerConfig, FailureSettings, RedisConfig, RedisStore, Scripting, TimeSource,
};

pub use floodgate_testkit::redis::{RedisCluster, RedisServer};

/// A standalone config for `url` deciding at the caller's time, with a
/// generous timeout (debug builds on a shared machine).
pub fn caller_config(url: &str) -> RedisConfig {
    RedisConfig {
        time: TimeSource::Caller,
        timeout: Duration::from_millis(2_000),
        ..RedisConfig::standalone(url)
    }
}

pub async fn caller_store(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&caller_config(&server.url()))
        .await
        .expect("connect to the test redis")
}

/// A store like [`caller_store`] that decides with `scripting`, under a
/// key prefix of its own, checked to use `command` (`FCALL`, `EVALSHA`).
pub async fn scripted_store(
    server: &RedisServer,
    scripting: Scripting,
    command: &str,
) -> RedisStore {
    let config = RedisConfig {
        scripting,
        key_prefix: format!("{}:", command.to_lowercase()),
        ..caller_config(&server.url())
    };
    let store = RedisStore::connect(&config)
        .await
        .expect("connect to the test redis");
    assert_eq!(store.call_command(), command);
    store
}

pub async fn cluster_store(cluster: &RedisCluster, time: TimeSource) -> RedisStore {
    let config = RedisConfig {
        time,
        timeout: Duration::from_millis(2_000),
        ..RedisConfig::cluster(cluster.urls())
    };
    RedisStore::connect(&config)
        .await
        .expect("connect to the test cluster")
}

pub fn check(limit_id: &str, identity: &str, quota: Quota, cost: u64) -> LimitCheck {
    LimitCheck::new(Arc::from(limit_id), Arc::from(identity), quota, cost)
}

/// A store that forwards to `inner` and counts the calls, and the errors
/// that were the store's own timeout.
pub struct Counting<S> {
    pub inner: S,
    calls: AtomicU64,
    timeouts: AtomicU64,
}

impl<S> Counting<S> {
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            calls: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        }
    }

    /// Calls that reached `inner`.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Calls that `inner` ended with its timeout error.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::SeqCst)
    }
}

impl<S: Store> StoreWrapper for Counting<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let r = self.inner.check(checks, now).await;
            if let Err(e) = &r {
                if e.transient && e.message.contains("no answer within") {
                    self.timeouts.fetch_add(1, Ordering::SeqCst);
                }
            }
            r
        })
    }
}

/// A deadline for polling a condition that takes real time (a server
/// restarting, a connection being re-established).
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    pub fn in_secs(secs: u64) -> Deadline {
        Deadline {
            at: Instant::now() + Duration::from_secs(secs),
        }
    }

    /// Fails with `what` once the deadline has passed; otherwise waits a
    /// moment before the next poll.
    pub async fn poll(&self, what: impl std::fmt::Display) {
        assert!(Instant::now() < self.at, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The breaker's cool-down in outage tests.
pub const COOLDOWN: Duration = Duration::from_secs(1);

/// A standalone config for `server` for outage tests: caller time, short
/// timeouts, `mode` by default, a breaker opening after 3 failures.
pub fn outage_config(server: &RedisServer, mode: FailureMode) -> RedisConfig {
    RedisConfig {
        time: TimeSource::Caller,
        timeout: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(200),
        failure: FailureSettings {
            on_failure: mode,
            breaker: BreakerConfig {
                failures: 3,
                cooldown: COOLDOWN,
            },
            ..FailureSettings::default()
        },
        ..RedisConfig::standalone(server.url())
    }
}

/// Collects everything a tracing subscriber writes.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
