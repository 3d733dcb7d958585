//! Floodgate's Redis backend: the six algorithms as one atomic Lua script,
//! on standalone Redis or Redis Cluster, a failure policy around it, and
//! the policy document the replicas share.
//!
//! # Layout
//!
//! - `lua/*.lua`: one file per algorithm plus `check.lua`, the dispatcher,
//!   concatenated into a Redis Functions library
//!   ([`RedisStore::library_source`], ending with `function.lua`) or one
//!   script ([`RedisStore::script_source`], ending with `eval.lua`); which
//!   one a store calls (`FCALL` or `EVALSHA`) is chosen at connect, in
//!   `calls.rs`; and
//!   `policy_commit.lua`, the policy store's commit, on its own.
//! - [`config`]: [`RedisConfig`], the store's settings (plain values with
//!   their defaults and [`RedisConfig::validate`]; reading them from the
//!   config file is the config crate's job; the failure settings are
//!   core's [`FailureSettings`], which the config crate builds with `From`).
//! - [`store`]: [`RedisStore`], the `Store` on Redis (keys, slots, timeout,
//!   cross-slot refunds, inspection and reset, as script calls in
//!   `store/ops.rs`); its connections and error mapping are in `conn.rs`;
//!   the same calls on blocking connections, driven by the calling
//!   thread, in `store/blocking.rs` ([`BlockingPool`]).
//! - [`lazy`]: [`LazyRedisStore`], a `RedisStore` that connects in the
//!   background, so a replica starts while Redis is unreachable.
//! - [`resilient`]: [`ResilientStore`], fail open / closed / local around
//!   any store, by each check's `on_failure` or the store's default;
//!   [`ResilientStore::reconfigure`] swaps its settings on reload. Its
//!   policy, settings and counters are in `resilient/policy.rs`, the
//!   decisions taken without the inner store in `resilient/degrade.rs`,
//!   its breakers, one per failure domain of the inner store (on a
//!   cluster, per shard), in `resilient/domains.rs`.
//! - `breaker`: the circuit breaker inside [`ResilientStore`]
//!   ([`BreakerState`]).
//! - [`policy_store`]: [`RedisPolicyStore`], the admin API's policy
//!   document (opaque text) with compare-and-set commits
//!   (`lua/policy_commit.lua`), a history, and a watcher of new versions
//!   (`policy_store/watch.rs`).
//! - `slot_map`: on a cluster, which shard holds each hash slot (the
//!   store's failure domains, one breaker each in [`ResilientStore`]),
//!   read with `CLUSTER SLOTS` and kept fresh in the background.
//! - [`keys`]: key names (FNV-1a digests of limit ids, the policy store's
//!   keys) and cluster hash slots.
//!
//! Time that paces the breaker and reconnection attempts comes from an
//! injected [`MonotonicClock`](floodgate_core::MonotonicClock)
//! (`with_clock` constructors; `new` uses the system's), so tests move it
//! by hand instead of sleeping. The policy watcher's poll is a real
//! periodic task on tokio's timer; its tests wait for a value with a
//! deadline.
//!
//! # Example
//!
//! ```no_run
//! use floodgate_core::{LimitCheck, Quota, Rate, Store, Timestamp};
//! use floodgate_redis::{FailurePolicy, RedisConfig, RedisStore, ResilientStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RedisConfig::standalone("redis://127.0.0.1:6379");
//! let redis = RedisStore::connect(&config).await?;
//! let store = ResilientStore::new(redis, FailurePolicy::from(&config));
//! let check = LimitCheck::new(
//!     "api/second/0".into(),
//!     "client-1".into(),
//!     Quota::token_bucket(10, Rate::per_second(5)?)?,
//!     1,
//! );
//! let decisions = store.check(&[check], Timestamp::EPOCH).await?;
//! assert!(decisions[0].allowed);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod breaker;
mod calls;
pub mod config;
mod config_error;
mod conn;
pub mod connect;
pub mod fleet;
mod gather;
pub mod keys;
pub mod lazy;
pub mod placement;
pub mod policy_store;
pub mod region_pool;
pub mod resilient;
mod script;
mod slot_map;
pub mod store;

pub use breaker::BreakerState;
pub use config::{
    BreakerConfig, ConfigError, FailureSettings, RedisConfig, RedisKind, Scripting, TimeSource,
};
pub use connect::{
    redacted_url, Credentials, Secret, SecretError, SentinelSettings, TlsError, TlsSettings,
};
pub use fleet::{FleetMember, FleetRead, Published, RedisFleet};
pub use lazy::LazyRedisStore;
pub use placement::Placement;
pub use policy_store::{
    Announced, ClientsChange, ClientsCommit, ClientsOp, Commit, RedisPolicyStore, StoredPolicy,
    HISTORY_BYTES,
};
pub use region_pool::{PoolStats, RegionPool};
pub use resilient::{FailurePolicy, ResilienceStats, ResilientStore};
pub use store::{BlockingPool, ConnectError, PooledConn, RedisStore};
