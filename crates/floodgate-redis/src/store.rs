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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{RedisConfig, TimeSource};
pub use crate::conn::ConnectError;
use crate::conn::{bounded, Conn};
use crate::gather::Gather;
use crate::keys::{secret_key, slot, store_key};
use crate::placement::Placement;
use crate::script::{self, Mode, Reply, Request};
use floodgate_core::store::BoxFuture;
use floodgate_core::{Decision, LeaseOp, LeaseStatus, LimitCheck, Store, StoreError, Timestamp};

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
        let min_ttl = match config.time {
            TimeSource::Redis => 0,
            TimeSource::Caller => CALLER_TIME_MIN_TTL_MS,
        };
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

    async fn check_inner(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<Decision>, StoreError> {
        let time = self.time_arg(now);
        let keys = self.keys(checks);
        let groups = self.groups(&keys);
        let mut out: Vec<Option<Decision>> = vec![None; checks.len()];
        // Groups that consumed, with the time they did it at.
        let mut consumed: Vec<(&[usize], u64)> = Vec::new();
        let mut denied = false;
        for group in &groups {
            let gkeys: Vec<&str> = group.iter().map(|&i| keys[i].as_str()).collect();
            let gchecks: Vec<&LimitCheck> = group.iter().map(|&i| &checks[i]).collect();
            let mode = if denied { Mode::Peek } else { Mode::Check };
            let raw = self.call(mode, time, &gkeys, &gchecks).await?;
            let Reply {
                t,
                all_allowed,
                decisions,
                ended,
            } = script::decode(&raw, &gchecks)?;
            for (&i, d) in group.iter().zip(decisions) {
                out[i] = Some(d);
            }
            if mode == Mode::Check && all_allowed {
                self.leases_expired.fetch_add(ended, Ordering::Relaxed);
                consumed.push((group, t));
            } else {
                denied = true;
            }
        }
        if denied {
            for (group, t) in consumed {
                let gkeys: Vec<&str> = group.iter().map(|&i| keys[i].as_str()).collect();
                let gchecks: Vec<&LimitCheck> = group.iter().map(|&i| &checks[i]).collect();
                let mut undone = self.call(Mode::Refund, Some(t), &gkeys, &gchecks).await;
                if undone.is_ok() && gchecks.iter().any(|c| c.lease.is_some()) {
                    undone = self.call(Mode::Release, time, &gkeys, &gchecks).await;
                }
                if let Err(e) = undone {
                    self.refund_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "redis refund failed: a denied cross-slot request stays partly consumed");
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every group decided"))
            .collect())
    }

    async fn inspect_inner(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<Decision>, StoreError> {
        let time = self.time_arg(now);
        let keys = self.keys(checks);
        let mut out: Vec<Option<Decision>> = vec![None; checks.len()];
        for group in self.groups(&keys) {
            // The script decides the checks of one call in turn, each on
            // the state the earlier ones would leave; an inspection looks
            // at each check on its own, so a key goes into a call once.
            for call in distinct_keys(&group, &keys) {
                let gkeys: Vec<&str> = call.iter().map(|&i| keys[i].as_str()).collect();
                let gchecks: Vec<&LimitCheck> = call.iter().map(|&i| &checks[i]).collect();
                let raw = self.call(Mode::Peek, time, &gkeys, &gchecks).await?;
                let reply = script::decode(&raw, &gchecks)?;
                for (&i, d) in call.iter().zip(reply.decisions) {
                    out[i] = Some(d);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every check inspected"))
            .collect())
    }

    /// Releases (`Mode::Release`) or renews (`Mode::Renew`) the slot of
    /// each check's lease.
    async fn leases_inner(
        &self,
        mode: Mode,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<LeaseStatus>, StoreError> {
        let time = self.time_arg(now);
        let keys = self.keys(checks);
        let mut out = vec![LeaseStatus::Missing; checks.len()];
        for group in self.groups(&keys) {
            let group: Vec<usize> = group
                .into_iter()
                .filter(|&i| checks[i].lease.is_some() && checks[i].quota.is_concurrency())
                .collect();
            if group.is_empty() {
                continue;
            }
            let gkeys: Vec<&str> = group.iter().map(|&i| keys[i].as_str()).collect();
            let gchecks: Vec<&LimitCheck> = group.iter().map(|&i| &checks[i]).collect();
            let raw = self.call(mode, time, &gkeys, &gchecks).await?;
            let statuses = script::decode_leases(&raw, group.len())?;
            for (&i, st) in group.iter().zip(statuses) {
                if st == LeaseStatus::Expired && mode == Mode::Release {
                    self.leases_expired.fetch_add(1, Ordering::Relaxed);
                }
                out[i] = st;
            }
        }
        Ok(out)
    }

    async fn reset_inner(&self, checks: &[LimitCheck]) -> Result<u64, StoreError> {
        let keys = self.keys(checks);
        let mut removed = 0;
        for group in self.groups(&keys) {
            // UNLINK counts the keys that existed (a key named twice
            // once); each group's keys share a slot, hence a node.
            let mut cmd = redis::cmd("UNLINK");
            for &i in &group {
                cmd.arg(&keys[i]);
            }
            removed += self.conn.query::<u64>(&cmd).await?;
        }
        Ok(removed)
    }

    /// Indices of the checks, grouped by hash slot in order of first
    /// appearance (one group on a standalone server).
    fn groups(&self, keys: &[String]) -> Vec<Vec<usize>> {
        match self.conn.is_cluster() {
            false => vec![(0..keys.len()).collect()],
            true => {
                let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
                for (i, k) in keys.iter().enumerate() {
                    let s = slot(k);
                    match groups.iter_mut().find(|(g, _)| *g == s) {
                        Some((_, v)) => v.push(i),
                        None => groups.push((s, vec![i])),
                    }
                }
                groups.into_iter().map(|(_, v)| v).collect()
            }
        }
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

/// `group` split into calls in which no key appears twice, keeping the
/// order (almost always one call: a key is rarely checked twice).
fn distinct_keys(group: &[usize], keys: &[String]) -> Vec<Vec<usize>> {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    for &i in group {
        let free = calls
            .iter_mut()
            .find(|call| call.iter().all(|&j| keys[j] != keys[i]));
        match free {
            Some(call) => call.push(i),
            None => calls.push(vec![i]),
        }
    }
    calls
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
            bounded(self.timeout, self.check_inner(checks, now)).await
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
}
