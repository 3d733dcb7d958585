//! The store a `store:` section describes, built as the server builds
//! it: memory; or Redis / Redis Cluster (the same scripts and keys as the
//! gateway) connecting in the background, wrapped in the failure policy
//! (`on_failure`, `local_divisor`, `breaker`), with the memory store's
//! size as the local fallback's.
//!
//! Inside the failure policy, [`Routed`] sends each Redis call one of two
//! ways: on the limiter's runtime (the multiplexed connections, where
//! `async` callers' calls go), or, while a synchronous caller decides on
//! its own thread ([`on_this_thread`]), on a blocking connection of its
//! own (a standalone server only): no hand-over to the runtime's thread
//! and back. Both ways share one breaker, one local fallback and one
//! count.

use std::cell::Cell;
use std::sync::Arc;

use floodgate_config::redis::redis_config;
use floodgate_config::StoreDocument;
use floodgate_core::store::BoxFuture;
use floodgate_core::{
    Decision, LeaseOp, LeaseStatus, LimitCheck, MemoryStore, MemoryStoreConfig, Store, StoreError,
    Timestamp,
};
use floodgate_redis::{BlockingPool, FailurePolicy, LazyRedisStore, RedisConfig, ResilientStore};

/// Blocking connections a limiter keeps at most: as many synchronous
/// callers decide on their own connection at once; more go through the
/// runtime's (shared, pipelined) connections.
pub const BLOCKING_CONNECTIONS: usize = 16;

thread_local! {
    /// Whether this thread is deciding for a synchronous caller, which
    /// waits for Redis here anyway.
    static ON_THIS_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with this thread's Redis calls sent on a blocking connection
/// (see [`Routed`]). Only for a thread that may block: never a runtime's.
pub fn on_this_thread<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ON_THIS_THREAD.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(ON_THIS_THREAD.with(|c| c.replace(true)));
    f()
}

/// The Redis store, called on the runtime or on this thread: see the
/// module's documentation.
pub struct Routed {
    lazy: LazyRedisStore,
    blocking: Option<BlockingPool>,
}

impl Routed {
    fn new(lazy: LazyRedisStore, config: &RedisConfig) -> Routed {
        // An unusable URL fails to connect on the async way too, where the
        // failure policy decides.
        let blocking = BlockingPool::new(config, BLOCKING_CONNECTIONS)
            .ok()
            .flatten();
        Routed { lazy, blocking }
    }

    /// The connected store and a blocking connection, when this thread
    /// may use one.
    fn here<T>(
        &self,
        call: impl FnOnce(
            &floodgate_redis::RedisStore,
            &mut floodgate_redis::PooledConn<'_>,
        ) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        if !ON_THIS_THREAD.with(Cell::get) {
            return None;
        }
        let store = self.lazy.connected()?;
        let mut conn = self.blocking.as_ref()?.get()?;
        Some(call(store, &mut conn))
    }
}

impl Store for Routed {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        match self.here(|s, c| s.check_blocking(c, checks, now)) {
            Some(r) => Box::pin(std::future::ready(r)),
            None => self.lazy.check(checks, now),
        }
    }

    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        self.lazy.inspect(checks, now)
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.lazy.reset(checks)
    }

    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        match self.here(|s, c| s.leases_blocking(c, op, checks, now)) {
            Some(r) => Box::pin(std::future::ready(r)),
            None => self.lazy.leases(op, checks, now),
        }
    }

    fn leases_expired(&self) -> Option<u64> {
        self.lazy.leases_expired()
    }
}

/// What a limiter decides on, and the Redis part of it when there is one.
pub struct Built {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The Redis store inside the failure policy, to connect at once.
    pub redis: Option<LazyRedisStore>,
}

/// Builds the store of `section` (not connecting yet: see
/// [`LazyRedisStore::connect_now`]). Must run inside a tokio runtime.
pub fn build(section: &StoreDocument, memory: MemoryStoreConfig) -> Built {
    let Some(config) = redis_config(section, RedisConfig::DEFAULT_CONNECTIONS) else {
        return Built {
            store: Arc::new(MemoryStore::new(memory)),
            redis: None,
        };
    };
    let redis = LazyRedisStore::new(config.clone(), config.failure.breaker.cooldown);
    let policy = FailurePolicy {
        local: memory,
        ..FailurePolicy::from(&config)
    };
    let routed = Routed::new(redis.clone(), &config);
    Built {
        store: Arc::new(ResilientStore::new(routed, policy)),
        redis: Some(redis),
    }
}
