//! Floodgate's Redis backend: the six algorithms as one atomic Lua script,
//! on standalone Redis or Redis Cluster, and a failure policy around it.
//!
//! # Layout
//!
//! - `lua/*.lua`: one file per algorithm plus `check.lua`, the dispatcher;
//!   concatenated into one script ([`RedisStore::script_source`]).
//! - [`config`]: [`RedisConfig`], the server's `store:` section.
//! - [`store`]: [`RedisStore`], the `Store` on Redis (keys, slots, timeout,
//!   cross-slot refunds).
//! - [`resilient`]: [`ResilientStore`], fail open / closed / local and the
//!   circuit breaker, around any store.
//! - [`keys`]: key names and cluster hash slots.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use floodgate_core::{LimitCheck, Quota, Rate, Store, Timestamp};
//! use floodgate_redis::{FailurePolicy, RedisConfig, RedisStore, ResilientStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RedisConfig::standalone("redis://127.0.0.1:6379");
//! let redis = RedisStore::connect(&config).await?;
//! let store = ResilientStore::new(redis, FailurePolicy::from_config(&config));
//! let check = LimitCheck {
//!     limit_id: Arc::from("api/second/0"),
//!     identity: Arc::from("client-1"),
//!     quota: Quota::token_bucket(10, Rate::per_second(5)?)?,
//!     cost: 1,
//!, on_failure: None };
//! let decisions = store.check(&[check], Timestamp::EPOCH).await?;
//! assert!(decisions[0].allowed);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod keys;
pub mod lazy;
pub mod resilient;
mod script;
pub mod store;

pub use config::{BreakerConfig, ConfigError, RedisConfig, RedisKind, TimeSource};
pub use lazy::LazyRedisStore;
pub use resilient::{BreakerState, FailurePolicy, ResilienceStats, ResilientStore};
pub use store::{ConnectError, RedisStore};
