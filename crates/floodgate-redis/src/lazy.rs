//! A Redis store that connects in the background: a replica starts (and
//! decides by its failure policy) while Redis is unreachable, and moves on
//! to Redis as soon as a connection succeeds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use floodgate_core::store::BoxFuture;
use floodgate_core::{Decision, LimitCheck, Store, StoreError, Timestamp};

use crate::config::RedisConfig;
use crate::store::RedisStore;

struct Inner {
    config: RedisConfig,
    store: OnceLock<RedisStore>,
    connecting: AtomicBool,
    next_attempt: Mutex<Instant>,
    retry_every: Duration,
}

/// [`RedisStore`] behind a background connection: until one succeeds,
/// every check fails at once with a transient error (so a
/// [`ResilientStore`](crate::ResilientStore) around it decides by policy)
/// and a connection attempt is started, at most one at a time and one per
/// `retry_every`.
#[derive(Clone)]
pub struct LazyRedisStore {
    inner: Arc<Inner>,
}

impl LazyRedisStore {
    /// A store for `config`, not connected yet. `retry_every` spaces the
    /// attempts (at least the connect timeout).
    pub fn new(config: RedisConfig, retry_every: Duration) -> LazyRedisStore {
        let retry_every = retry_every.max(config.connect_timeout.0);
        LazyRedisStore {
            inner: Arc::new(Inner {
                config,
                store: OnceLock::new(),
                connecting: AtomicBool::new(false),
                next_attempt: Mutex::new(Instant::now()),
                retry_every,
            }),
        }
    }

    /// Tries to connect now, waiting for the outcome (startup does this
    /// once, so that a reachable Redis is used from the first request).
    pub async fn connect_now(&self) -> Result<(), crate::ConnectError> {
        if self.inner.store.get().is_some() {
            return Ok(());
        }
        let store = RedisStore::connect(&self.inner.config).await?;
        let _ = self.inner.store.set(store);
        Ok(())
    }

    /// The connected store, if any.
    pub fn connected(&self) -> Option<&RedisStore> {
        self.inner.store.get()
    }

    /// Cross-slot give-backs that failed (0 until connected).
    pub fn refund_failures(&self) -> u64 {
        self.connected().map_or(0, RedisStore::refund_failures)
    }

    fn start_attempt(&self) {
        {
            // Nothing under this lock can be left half-written: ignore poison.
            let mut next = self
                .inner
                .next_attempt
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if now < *next {
                return;
            }
            *next = now + self.inner.retry_every;
        }
        if self.inner.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            match RedisStore::connect(&me.inner.config).await {
                Ok(store) => {
                    let _ = me.inner.store.set(store);
                    tracing::info!("connected to the Redis store");
                }
                Err(e) => tracing::debug!(error = %e, "Redis store still unreachable"),
            }
            me.inner.connecting.store(false, Ordering::Release);
        });
    }
}

impl Store for LazyRedisStore {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        match self.inner.store.get() {
            Some(store) => store.check(checks, now),
            None => {
                self.start_attempt();
                Box::pin(std::future::ready(Err(StoreError::transient(
                    "not connected to Redis yet",
                ))))
            }
        }
    }
}
