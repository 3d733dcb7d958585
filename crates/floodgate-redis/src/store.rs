//! `RedisStore`: the `Store` trait on Redis or Redis Cluster.
//!
//! - Standalone: every check of a request goes into one script call.
//! - Cluster: checks are grouped by hash slot (a client's limits share
//!   one, through the hash tag); each group is one atomic script call.
//!   Groups are decided in order: once a group denies, the later ones are
//!   only peeked at (decided without consuming), and the earlier ones,
//!   which consumed, are refunded. See `docs/redis.md` for the window this
//!   leaves.
//! - Concurrency slots are members of a sorted set (lease id, scored by
//!   lease end), taken in the same script call as the request's other
//!   limits; `release` and `renew` are calls of their own, per slot group.
//!   A cross-slot request denied by a later group releases the slots an
//!   earlier group took, as it refunds its rate limits.
//! - Inspection peeks at each slot group (decides, consumes nothing);
//!   a reset `UNLINK`s each slot group's keys.
//! - Keys: an identity that is long or holds an API-key fingerprint is
//!   replaced in its keys by a keyed hash (`keys::store_key`), under the
//!   deployment secret read from `{prefix}secret` at connect.
//! - Connections: a few multiplexed connections (standalone, each a
//!   `ConnectionManager` that reconnects on its own) or one cluster
//!   connection; requests are pipelined on them (see `conn.rs`). Every
//!   `check`, `inspect` and `reset` is bounded by `timeout` as a whole.
//! - Blocking calls (`store/blocking.rs`): a caller that waits on its own
//!   thread sends the same calls on a blocking connection of its own
//!   ([`BlockingPool`]), standalone servers only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{RedisConfig, TimeSource};
use crate::conn::{bounded, Conn};
pub use crate::connect::error::ConnectError;
use crate::gather::Gather;
use crate::keys::{secret_key, slot, store_key};
use crate::placement::Placement;
use crate::script::{self, Mode, Request};
use crate::slot_map::SlotMap;
use floodgate_core::store::{BoxFuture, GiveBack, SliceWant, Taken};
use floodgate_core::{Decision, LeaseOp, LeaseStatus, LimitCheck, Store, StoreError, Timestamp};

mod blocking;
mod ops;
mod pool;
pub use pool::{PoolDeposit, PoolReplaced, PoolTake};

pub use blocking::{BlockingPool, PooledConn};

/// With caller time, the pace of time is the caller's, which Redis' own
/// expiry cannot follow: written keys live at least this long.
const CALLER_TIME_MIN_TTL_MS: u64 = 3_600_000;

/// A [`Store`] on Redis or Redis Cluster. Cheap to share behind an `Arc`.
pub struct RedisStore {
    conn: Arc<Conn>,
    /// The lanes that send decision calls (gathering them under load).
    gather: Gather,
    prefix: String,
    /// The deployment secret (HMAC key of hashed identities), shared by
    /// every store on this Redis and key prefix.
    secret: Vec<u8>,
    timeout: Duration,
    time: TimeSource,
    refund_failures: AtomicU64,
    leases_expired: AtomicU64,
    /// On a cluster: which shard holds each slot (the failure domains).
    slots: Option<Arc<SlotMap>>,
}

impl RedisStore {
    /// Connects as `config` says, reads the deployment secret (writing a
    /// random one first if there is none) and loads the decision code (the
    /// Functions library or the script, as `config.scripting` says).
    pub async fn connect(config: &RedisConfig) -> Result<RedisStore, ConnectError> {
        RedisStore::connect_placed(config, None).await
    }

    /// [`connect`](RedisStore::connect), its connections placed on the
    /// threads that call the store (see [`Placement`]).
    pub async fn connect_placed(
        config: &RedisConfig,
        placement: Option<&Placement>,
    ) -> Result<RedisStore, ConnectError> {
        let conn = Conn::open(config, config.connections, config.timeout, placement).await?;
        let secret = conn
            .secret(
                &secret_key(&config.key_prefix),
                &random_secret()?,
                config.connect_timeout,
            )
            .await?;
        let calls = conn
            .load_calls(config.scripting, config.connect_timeout)
            .await?;
        let conn = Arc::new(conn);
        let slots = if conn.is_cluster() {
            let map = Arc::new(SlotMap::new());
            if let Err(e) = map.read(&conn, config.connect_timeout).await {
                tracing::debug!(error = %e, "redis: no slot map yet; reading it again soon");
                // Read again every 500 ms for a while.
                map.stale();
            }
            SlotMap::keep_fresh(&map, &conn, config.connect_timeout);
            Some(map)
        } else {
            None
        };
        let min_ttl = min_ttl(config.time);
        let gather = Gather::start(
            Arc::clone(&conn),
            calls,
            min_ttl,
            config.gather_max,
            config.gather_in_flight,
        );
        Ok(RedisStore {
            conn,
            gather,
            prefix: config.key_prefix.clone(),
            secret,
            timeout: config.timeout,
            time: config.time,
            refund_failures: AtomicU64::new(0),
            leases_expired: AtomicU64::new(0),
            slots,
        })
    }

    /// The SHA1 of the script (for `redis-benchmark` or `redis-cli`), as
    /// `EVALSHA` calls it.
    pub fn script_sha() -> String {
        redis::Script::new(script::SOURCE).get_hash().to_string()
    }

    /// The script's source (`SCRIPT LOAD`, then `EVALSHA`).
    pub fn script_source() -> &'static str {
        script::SOURCE
    }

    /// The Functions library's name, also the name its function is called
    /// by (`FCALL <name> ...`).
    pub fn library_name() -> String {
        script::library_name()
    }

    /// The Functions library's source (`FUNCTION LOAD`).
    pub fn library_source() -> String {
        script::library(&script::library_name())
    }

    /// The command this store decides with: `FCALL` (Redis Functions) or
    /// `EVALSHA` (a script), as chosen when it connected.
    pub fn call_command(&self) -> &'static str {
        self.gather.calls().command()
    }

    /// Calls sent to Redis and the requests they carried since connect:
    /// more requests than calls when concurrent requests were gathered
    /// (see `store.gather_max`).
    pub fn gather_stats(&self) -> (u64, u64) {
        self.gather.stats()
    }

    /// The Redis key holding `identity`'s state under `limit_id`: the
    /// identity is its hash tag, or `h:` and its keyed hash when it is long
    /// or holds an API-key fingerprint (see [`keys`](crate::keys)).
    pub fn key(&self, identity: &str, limit_id: &str) -> String {
        store_key(&self.prefix, &self.secret, identity, limit_id)
    }

    /// Refunds that failed (a cross-slot request stayed partly consumed).
    pub fn refund_failures(&self) -> u64 {
        self.refund_failures.load(Ordering::Relaxed)
    }

    /// A call failed: on a cluster, the slot map is read again soon (a
    /// failover may have moved slots).
    fn failed<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let (Err(_), Some(map)) = (&r, &self.slots) {
            map.stale();
        }
        r
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn call(
        &self,
        mode: Mode,
        time: Option<u64>,
        keys: &[&str],
        checks: &[&LimitCheck],
    ) -> Result<Vec<i64>, StoreError> {
        self.gather
            .call(Request::new(mode, time, keys, checks))
            .await
    }

    /// The least time to live of a written key (ms), as the calls say it.
    fn min_ttl(&self) -> u64 {
        min_ttl(self.time)
    }

    /// The time argument of a script call at `now`.
    fn time_arg(&self, now: Timestamp) -> Option<u64> {
        match self.time {
            TimeSource::Redis => None,
            TimeSource::Caller => Some(now.as_micros()),
        }
    }

    fn keys(&self, checks: &[LimitCheck]) -> Vec<String> {
        checks
            .iter()
            .map(|c| self.key(&c.identity, &c.limit_id))
            .collect()
    }
}

/// The least time to live of a written key (ms) under `time`.
fn min_ttl(time: TimeSource) -> u64 {
    match time {
        TimeSource::Redis => 0,
        TimeSource::Caller => CALLER_TIME_MIN_TTL_MS,
    }
}

/// 32 random bytes in hex: a new deployment secret.
fn random_secret() -> Result<String, ConnectError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        ConnectError::Redis(redis::RedisError::from(std::io::Error::other(format!(
            "no random bytes for the key prefix's secret: {e}"
        ))))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Store for RedisStore {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(async move {
            if checks.is_empty() {
                return Ok(Vec::new());
            }
            self.failed(bounded(self.timeout, self.check_inner(checks, now)).await)
        })
    }

    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(async move {
            if checks.is_empty() {
                return Ok(Vec::new());
            }
            bounded(self.timeout, self.inspect_inner(checks, now)).await
        })
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            if checks.is_empty() {
                return Ok(0);
            }
            bounded(self.timeout, self.reset_inner(checks)).await
        })
    }

    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        let mode = match op {
            LeaseOp::Release => Mode::Release,
            LeaseOp::Renew => Mode::Renew,
        };
        Box::pin(bounded(self.timeout, self.leases_inner(mode, checks, now)))
    }

    fn leases_expired(&self) -> Option<u64> {
        Some(self.leases_expired.load(Ordering::Relaxed))
    }

    /// On a cluster, the shard holding the check's slot (see
    /// `slot_map.rs`); standalone, 0.
    fn failure_domain(&self, check: &LimitCheck) -> usize {
        match &self.slots {
            Some(map) => map.domain(slot(&self.key(&check.identity, &check.limit_id))),
            None => 0,
        }
    }

    /// On a cluster, the address of the domain's primary.
    fn domain_name(&self, domain: usize) -> Option<String> {
        self.slots.as_ref().and_then(|m| m.name(domain))
    }

    /// On a cluster, moved by each shard's new primary (a failover).
    fn domains_epoch(&self) -> u64 {
        self.slots.as_ref().map_or(0, |m| m.epoch())
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        Box::pin(async move {
            if wants.is_empty() {
                return Ok(Vec::new());
            }
            self.failed(bounded(self.timeout, self.take_inner(wants, now)).await)
        })
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        _now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if slices.is_empty() {
                return Ok(());
            }
            bounded(self.timeout, self.give_back_inner(slices)).await
        })
    }
}
