//! Builds the store the config asks for: memory, or Redis (standalone or
//! cluster) wrapped in its failure policy, with the local fallback sized
//! by `store.max_keys` and `store.shards`.

use std::sync::Arc;

use super::error::ServerError;

use floodgate_core::store::{LeasedStore, LeasedStoreConfig};
use floodgate_core::{MemoryStore, MonotonicClock, Store};
use floodgate_redis::{FailurePolicy, LazyRedisStore, Placement, ResilientStore};

use crate::observe::metrics::store::{Leased, Resilient, Timed};
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
        },
        Some(rc) => {
            // Connect now when Redis is there; otherwise start anyway and
            // decide by the failure policy until a background attempt
            // succeeds.
            // The store's connections run on the serving threads.
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
                    "the Redis store is unreachable: starting anyway, deciding by the failure policy until it answers"
                ),
                Ok(()) => {}
            }
            let policy = FailurePolicy {
                local: config.memory,
                ..FailurePolicy::from(rc)
            };
            let resilient = Arc::new(ResilientStore::with_clock(
                Timed::new(redis, latency),
                policy,
                clock,
            ));
            // Limits with `sync: leased` are decided from slices; every
            // other check goes straight through to the Redis wrapper.
            let leased = Arc::new(LeasedStore::new(
                resilient.clone(),
                LeasedStoreConfig {
                    max_keys: config.memory.max_keys,
                    ..LeasedStoreConfig::default()
                },
            ));
            let policy = Arc::new(RedisBackend::new(rc.clone()));
            Stores {
                store: leased.clone(),
                redis: Some(resilient),
                leased: Some(leased),
                policy_backend: policy.clone(),
                redis_policy: Some(policy),
            }
        }
    })
}
