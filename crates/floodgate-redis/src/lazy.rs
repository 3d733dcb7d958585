//! A Redis store that connects in the background: a replica starts (and
//! decides by its failure policy) while Redis is unreachable, and moves on
//! to Redis as soon as a connection succeeds. Attempts are spaced on an
//! injected [`MonotonicClock`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use floodgate_core::store::{BoxFuture, GiveBack, SliceWant, Taken};
use floodgate_core::{
    Decision, LeaseOp, LeaseStatus, LimitCheck, MonotonicClock, Store, StoreError, SystemMonotonic,
    Timestamp,
};

use crate::config::RedisConfig;
use crate::placement::Placement;
use crate::store::RedisStore;

struct Inner {
    config: RedisConfig,
    placement: Option<Placement>,
    store: OnceLock<RedisStore>,
    connecting: AtomicBool,
    /// When the next background attempt may start (on `clock`).
    next_attempt: Mutex<Duration>,
    retry_every: Duration,
    attempts: AtomicU64,
    clock: Arc<dyn MonotonicClock>,
    /// The last refusal logged (a wrong password, a missing permission):
    /// each distinct one is logged once, as a warning.
    refused: Mutex<String>,
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
    /// attempts (at least the connect timeout), on the system's monotonic
    /// clock.
    pub fn new(config: RedisConfig, retry_every: Duration) -> LazyRedisStore {
        LazyRedisStore::with_clock(config, retry_every, Arc::new(SystemMonotonic::default()))
    }

    /// A store for `config`, not connected yet. `retry_every` spaces the
    /// attempts (at least the connect timeout), on `clock`.
    pub fn with_clock(
        config: RedisConfig,
        retry_every: Duration,
        clock: Arc<dyn MonotonicClock>,
    ) -> LazyRedisStore {
        LazyRedisStore::placed(config, retry_every, clock, None)
    }

    /// [`with_clock`](LazyRedisStore::with_clock), its connections placed
    /// on the threads that call the store (see [`Placement`]).
    pub fn placed(
        config: RedisConfig,
        retry_every: Duration,
        clock: Arc<dyn MonotonicClock>,
        placement: Option<Placement>,
    ) -> LazyRedisStore {
        let retry_every = retry_every.max(config.connect_timeout);
        LazyRedisStore {
            inner: Arc::new(Inner {
                config,
                placement,
                store: OnceLock::new(),
                connecting: AtomicBool::new(false),
                next_attempt: Mutex::new(Duration::ZERO),
                retry_every,
                attempts: AtomicU64::new(0),
                refused: Mutex::new(String::new()),
                clock,
            }),
        }
    }

    /// Tries to connect now, waiting for the outcome (startup does this
    /// once, so that a reachable Redis is used from the first request).
    pub async fn connect_now(&self) -> Result<(), crate::ConnectError> {
        if self.inner.store.get().is_some() {
            return Ok(());
        }
        let store =
            RedisStore::connect_placed(&self.inner.config, self.inner.placement.as_ref()).await?;
        let _ = self.inner.store.set(store);
        Ok(())
    }

    /// The connected store, if any.
    pub fn connected(&self) -> Option<&RedisStore> {
        self.inner.store.get()
    }

    /// Background connection attempts started so far.
    pub fn attempts(&self) -> u64 {
        self.inner.attempts.load(Ordering::Acquire)
    }

    /// Whether a background connection attempt is under way.
    pub fn is_connecting(&self) -> bool {
        self.inner.connecting.load(Ordering::Acquire)
    }

    /// Cross-slot give-backs that failed (0 until connected).
    pub fn refund_failures(&self) -> u64 {
        self.connected().map_or(0, RedisStore::refund_failures)
    }

    /// Decision calls sent to Redis and the requests they carried (see
    /// [`RedisStore::gather_stats`]; 0 until connected).
    pub fn gather_stats(&self) -> (u64, u64) {
        self.connected().map_or((0, 0), RedisStore::gather_stats)
    }

    fn start_attempt(&self) {
        {
            // Nothing under this lock can be left half-written: ignore poison.
            let mut next = self
                .inner
                .next_attempt
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let now = self.inner.clock.elapsed();
            if now < *next {
                return;
            }
            *next = now + self.inner.retry_every;
        }
        if self.inner.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner.attempts.fetch_add(1, Ordering::AcqRel);
        let me = self.clone();
        tokio::spawn(async move {
            match RedisStore::connect_placed(&me.inner.config, me.inner.placement.as_ref()).await {
                Ok(store) => {
                    let _ = me.inner.store.set(store);
                    tracing::info!("connected to the Redis store");
                }
                Err(e) if e.is_refusal() => {
                    let text = e.to_string();
                    let mut last = me.inner.refused.lock().unwrap_or_else(|p| p.into_inner());
                    if *last != text {
                        tracing::warn!(error = %text, "the Redis store refuses this configuration: deciding by the failure policy until it accepts it");
                        *last = text;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "Redis store still unreachable"),
            }
            me.inner.connecting.store(false, Ordering::Release);
        });
    }

    /// `call` on the connected store; not connected yet, an attempt starts
    /// and the call fails as transient.
    fn or_connect<'a, T: Send + 'a>(
        &'a self,
        call: impl FnOnce(&'a RedisStore) -> BoxFuture<'a, Result<T, StoreError>>,
    ) -> BoxFuture<'a, Result<T, StoreError>> {
        match self.inner.store.get() {
            Some(store) => call(store),
            None => {
                self.start_attempt();
                Box::pin(std::future::ready(Err(not_connected())))
            }
        }
    }
}

impl Store for LazyRedisStore {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        self.or_connect(|store| store.check(checks, now))
    }

    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        self.or_connect(|store| store.inspect(checks, now))
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.or_connect(|store| store.reset(checks))
    }

    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        match self.inner.store.get() {
            Some(store) => store.leases(op, checks, now),
            None => Box::pin(std::future::ready(Err(not_connected()))),
        }
    }

    fn leases_expired(&self) -> Option<u64> {
        self.inner.store.get().and_then(|s| s.leases_expired())
    }

    fn failure_domain(&self, check: &LimitCheck) -> usize {
        self.inner
            .store
            .get()
            .map_or(0, |s| s.failure_domain(check))
    }

    fn domain_name(&self, domain: usize) -> Option<String> {
        self.inner.store.get().and_then(|s| s.domain_name(domain))
    }

    fn domains_epoch(&self) -> u64 {
        self.inner.store.get().map_or(0, Store::domains_epoch)
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        self.or_connect(|store| store.take(wants, now))
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.or_connect(|store| store.give_back(slices, now))
    }
}

fn not_connected() -> StoreError {
    StoreError::transient("not connected to Redis yet")
}
