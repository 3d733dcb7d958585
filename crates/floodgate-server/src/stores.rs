//! Builds the store the config asks for: memory, or Redis (standalone or
//! cluster) wrapped in its failure policy.

use std::collections::HashMap;
use std::sync::Arc;

use floodgate_core::policy::FailureMode;
use floodgate_core::{MemoryStore, Policy, Store};
use floodgate_redis::{FailurePolicy, LazyRedisStore, RedisConfig, ResilientStore};

use crate::config::Config;

/// A Redis store behind its failure policy.
pub type Resilient = ResilientStore<LazyRedisStore>;

/// The store, and the Redis wrapper when there is one (for metrics and
/// reloads).
pub struct Stores {
    /// What the limiter decides on.
    pub store: Arc<dyn Store>,
    /// The Redis wrapper.
    pub redis: Option<Arc<Resilient>>,
}

/// Per-rule failure modes: the store section's `rules`, overridden by each
/// rule's `on_store_failure`.
pub fn rule_modes(redis: &RedisConfig, policy: &Policy) -> HashMap<String, FailureMode> {
    let mut modes = redis.rules.clone();
    for r in &policy.rules {
        if let Some(m) = r.on_store_failure {
            modes.insert(r.name.to_string(), m);
        }
    }
    modes
}

/// Connects the configured store.
pub async fn build(config: &Config) -> anyhow::Result<Stores> {
    match &config.redis {
        None => Ok(Stores {
            store: Arc::new(MemoryStore::new(config.memory)),
            redis: None,
        }),
        Some(rc) => {
            // Connect now when Redis is there; otherwise start anyway and
            // decide by the failure policy until a background attempt
            // succeeds.
            let redis = LazyRedisStore::new(rc.clone(), rc.breaker.cooldown.0);
            if let Err(e) = redis.connect_now().await {
                tracing::warn!(
                    error = %e,
                    "the Redis store is unreachable: starting anyway, deciding by the failure policy until it answers"
                );
            }
            let policy = FailurePolicy {
                local: config.memory,
                ..FailurePolicy::from_config(rc)
            };
            let resilient = Arc::new(ResilientStore::new(redis, policy));
            resilient.set_rule_modes(rule_modes(rc, &config.policy));
            Ok(Stores {
                store: resilient.clone(),
                redis: Some(resilient),
            })
        }
    }
}
