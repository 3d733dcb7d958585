//! Builds the store the config asks for: memory, or Redis (standalone or
//! cluster) wrapped in its failure policy, with the local fallback sized
//! by `store.max_keys` and `store.shards`.

use std::sync::Arc;

use super::error::ServerError;

use floodgate_core::store::{LeasedStore, LeasedStoreConfig, RegionShare, ScopedStore};
use floodgate_core::{MemoryStore, MonotonicClock, Store};
use floodgate_redis::{FailurePolicy, LazyRedisStore, Placement, RegionPool, ResilientStore};

use crate::observe::metrics::store::STORE_BUCKETS;
use crate::observe::metrics::store::{GlobalLeased, Leased, Pooled, Resilient, Timed};
use crate::observe::metrics::Histogram;

use crate::config::Config;
use floodgate_admin::live::backend::{FileBackend, MemoryBackend, PolicyBackend};
use floodgate_admin::live::redis::RedisBackend;

/// The store, and the Redis wrapper when there is one (for metrics and
/// reloads).
pub struct Stores {
    /// What the limiter decides on.
    pub store: Arc<dyn Store>,
    /// The Redis wrapper.
    pub redis: Option<Arc<Resilient>>,
    /// The slices of leased limits, around the Redis wrapper (for its
    /// ticks, give-backs and metrics).
    pub leased: Option<Arc<Leased>>,
    /// Where the live policy is kept: Redis with a Redis store; else the
    /// state file (`admin.state_file`) if set; else nowhere but memory.
    pub policy_backend: Arc<dyn PolicyBackend>,
    /// The Redis backend, whose sync task the server starts.
    pub redis_policy: Option<Arc<RedisBackend>>,
    /// The region's Redis store (where a region's pools of global slices
    /// are kept).
    pub region_redis: Option<LazyRedisStore>,
    /// The store deciding each limit where its scope counts it, when this
    /// replica runs in a region.
    pub scoped: Option<Arc<ScopedStore>>,
    /// The store every region shares, when this replica runs in a region
    /// with `global_store:`.
    pub global: Option<Global>,
}

/// The global store's stack: the Redis every region shares, in its
/// failure policy (a partition decides on this region's static share),
/// its leased slices, and the latency of its calls.
pub struct Global {
    /// This replica's region.
    pub share: RegionShare,
    /// The global Redis in its failure policy.
    pub redis: Arc<Resilient>,
    /// The global store, slices handed down through the region's pool.
    pub pool: Arc<Pooled>,
    /// The slices of `global` limits leased from it.
    pub leased: Arc<GlobalLeased>,
    /// The latency of its calls.
    pub latency: Arc<Histogram>,
}

fn local_backend(config: &Config) -> Arc<dyn PolicyBackend> {
    match &config.document.server.admin.state_file {
        Some(path) => Arc::new(FileBackend::new(path.clone())),
        None => Arc::new(MemoryBackend::default()),
    }
}

/// Connects the configured store; the breaker and reconnects are paced
/// by `clock`, and the Redis store's checks are timed into `latency`. A
/// Redis store's connections are placed by `placement`. A Redis that
/// answers but refuses the config (its password, a permission, a TLS
/// file) is an error; one that does not answer is not.
pub async fn build(
    config: &Config,
    clock: Arc<dyn MonotonicClock>,
    latency: Arc<Histogram>,
    placement: Option<Placement>,
) -> Result<Stores, ServerError> {
    Ok(match &config.redis {
        None => Stores {
            store: Arc::new(MemoryStore::new(config.memory)),
            redis: None,
            leased: None,
            policy_backend: local_backend(config),
            redis_policy: None,
            region_redis: None,
            scoped: None,
            global: None,
        },
        Some(rc) => {
            // The store's connections run on the serving threads.
            let redis = connect(rc, &clock, placement, "the Redis store").await?;
            let region_redis = Some(redis.clone());
            let (resilient, leased) = redis_stack(config, rc, redis, latency, clock, 1_000_000);
            let policy = Arc::new(RedisBackend::new(rc.clone()));
            Stores {
                store: leased.clone(),
                redis: Some(resilient),
                leased: Some(leased),
                policy_backend: policy.clone(),
                redis_policy: Some(policy),
                region_redis,
                scoped: None,
                global: None,
            }
        }
    })
}

/// A Redis store for `rc`, connected now when it answers; otherwise the
/// server starts anyway and decides by the failure policy until a
/// background attempt succeeds. One that answers but refuses the config
/// is an error. `what` names it in the log.
async fn connect(
    rc: &floodgate_redis::RedisConfig,
    clock: &Arc<dyn MonotonicClock>,
    placement: Option<Placement>,
    what: &str,
) -> Result<LazyRedisStore, ServerError> {
    let redis = LazyRedisStore::placed(
        rc.clone(),
        rc.failure.breaker.cooldown,
        clock.clone(),
        placement,
    );
    match redis.connect_now().await {
        Err(e) if e.is_refusal() => return Err(ServerError::StoreRefused(e)),
        Err(e) => tracing::warn!(
            error = %e,
            store = what,
            "a Redis store is unreachable: starting anyway, deciding by the failure policy until it answers"
        ),
        Ok(()) => {}
    }
    Ok(redis)
}

/// A Redis store in its failure policy (`local` mode deciding
/// `local_share_ppm` of each limit after `local_divisor`), with leased
/// slices around it: limits with `sync: leased` are decided from slices,
/// every other check goes straight through to the failure policy.
fn redis_stack(
    config: &Config,
    rc: &floodgate_redis::RedisConfig,
    redis: LazyRedisStore,
    latency: Arc<Histogram>,
    clock: Arc<dyn MonotonicClock>,
    local_share_ppm: u32,
) -> (Arc<Resilient>, Arc<Leased>) {
    let policy = FailurePolicy {
        local: config.memory,
        ..FailurePolicy::from(rc)
    };
    let resilient = Arc::new(
        ResilientStore::with_clock(Timed::new(redis, latency), policy, clock)
            .with_local_share(local_share_ppm),
    );
    let leased = Arc::new(LeasedStore::new(
        resilient.clone(),
        LeasedStoreConfig {
            max_keys: config.memory.max_keys,
            ..LeasedStoreConfig::default()
        },
    ));
    (resilient, leased)
}

/// How long before a slice of a global limit would run out (its lease
/// ending, or its units at the key's rate) the tick renews it, for keys in
/// use: a tick and a round trip across regions, with room to spare.
pub const GLOBAL_RENEW_AHEAD: std::time::Duration = std::time::Duration::from_millis(250);

/// Adds the global store to `stores` when this replica runs in a region
/// with `global_store:`: `global` limits go to it, the rest to the
/// region's store.
pub async fn with_global(
    mut stores: Stores,
    config: &Config,
    clock: Arc<dyn MonotonicClock>,
    placement: Option<Placement>,
) -> Result<Stores, ServerError> {
    let Some(region) = &config.region else {
        return Ok(stores);
    };
    let Some(gc) = &config.global_redis else {
        // One store for every scope, `region_weighted` limits this
        // region's weight of theirs.
        let scoped = Arc::new(ScopedStore::new(
            stores.store.clone(),
            stores.store.clone(),
            region.share.clone(),
        ));
        stores.scoped = Some(scoped.clone());
        stores.store = scoped;
        return Ok(stores);
    };
    let redis = connect(gc, &clock, placement, "the global store").await?;
    let latency = Arc::new(Histogram::new(STORE_BUCKETS));
    let share = region.share.clone();
    let (resilient, _) = redis_stack(config, gc, redis, latency.clone(), clock, share.weight_ppm);
    // Slices of global limits go from the global store to the region's
    // pool (a take for the region: a replica's want times its replicas,
    // `local_divisor`), then to its replicas.
    let pool = Arc::new(RegionPool::new(
        stores.region_redis.clone(),
        resilient.clone(),
        gc.failure.local_divisor,
        config.memory.max_keys,
    ));
    // A slice of a busy key is renewed before it runs out, so that its
    // requests never wait for the round trip to the global store.
    let leased = Arc::new(LeasedStore::new(
        pool.clone(),
        LeasedStoreConfig {
            max_keys: config.memory.max_keys,
            renew_ahead: GLOBAL_RENEW_AHEAD,
            ..LeasedStoreConfig::default()
        },
    ));
    let scoped = Arc::new(ScopedStore::new(
        stores.store.clone(),
        leased.clone(),
        share.clone(),
    ));
    stores.scoped = Some(scoped.clone());
    stores.store = scoped;
    // One live policy (and one set of clients) for every region: kept on
    // the global store, followed by every replica of every region.
    let policy = Arc::new(RedisBackend::new(gc.clone()));
    stores.policy_backend = policy.clone();
    stores.redis_policy = Some(policy);
    stores.global = Some(Global {
        share,
        redis: resilient,
        pool,
        leased,
        latency,
    });
    Ok(stores)
}
