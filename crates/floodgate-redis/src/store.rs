//! `RedisStore`: the `Store` trait on Redis or Redis Cluster.
//!
//! - Standalone: every check of a request goes into one script call.
//! - Cluster: checks are grouped by hash slot (a client's limits share
//!   one, through the hash tag); each group is one atomic script call.
//!   Groups are decided in order: once a group denies, the later ones are
//!   only peeked at (decided without consuming), and the earlier ones,
//!   which consumed, are refunded. See `docs/redis.md` for the window this
//!   leaves.
//! - Connections: a few multiplexed connections (standalone, each a
//!   `ConnectionManager` that reconnects on its own) or one cluster
//!   connection; requests are pipelined on them. Every `check` is bounded
//!   by `timeout` as a whole.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use floodgate_core::store::BoxFuture;
use floodgate_core::{Decision, LimitCheck, Store, StoreError, Timestamp};
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::Script;

use crate::config::{RedisConfig, RedisKind, TimeSource};
use crate::keys::{slot, state_key};
use crate::script::{self, Mode, Reply};

/// With caller time, the pace of time is the caller's, which Redis' own
/// expiry cannot follow: written keys live at least this long.
const CALLER_TIME_MIN_TTL_MS: u64 = 3_600_000;

/// Connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The config does not validate.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Redis refused or did not answer in time.
    #[error("cannot connect to redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within `connect_timeout`.
    #[error("cannot connect to redis within {0:?}")]
    Timeout(Duration),
}

enum Conn {
    Single {
        pool: Vec<ConnectionManager>,
        next: AtomicUsize,
    },
    Cluster(ClusterConnection),
}

/// A [`Store`] on Redis or Redis Cluster. Cheap to share behind an `Arc`.
pub struct RedisStore {
    conn: Conn,
    script: Script,
    prefix: String,
    timeout: Duration,
    time: TimeSource,
    refund_failures: AtomicU64,
}

impl RedisStore {
    /// Connects as `config` says and loads the script.
    pub async fn connect(config: &RedisConfig) -> Result<RedisStore, ConnectError> {
        config.validate()?;
        let ct = config.connect_timeout;
        let conn = match config.kind {
            RedisKind::Redis => {
                let url = config.url.as_deref().unwrap_or_default();
                let client = redis::Client::open(url)?;
                let mgr_config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(ct))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(500));
                let mut pool = Vec::with_capacity(config.connections);
                for _ in 0..config.connections {
                    let c = within(
                        ct,
                        Box::pin(ConnectionManager::new_with_config(
                            client.clone(),
                            mgr_config.clone(),
                        )),
                    )
                    .await?;
                    pool.push(c);
                }
                Conn::Single {
                    pool,
                    next: AtomicUsize::new(0),
                }
            }
            RedisKind::RedisCluster => {
                let client = redis::cluster::ClusterClientBuilder::new(config.nodes.clone())
                    .connection_timeout(ct)
                    .response_timeout(config.timeout)
                    .retries(1)
                    .build()?;
                let c = within(
                    ct,
                    Box::pin(async move { client.get_async_connection().await }),
                )
                .await?;
                Conn::Cluster(c)
            }
        };
        let store = RedisStore {
            conn,
            script: Script::new(script::SOURCE),
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            time: config.time,
            refund_failures: AtomicU64::new(0),
        };
        // Load now, so the first request pays no SCRIPT LOAD (a later
        // NOSCRIPT, after a restart or SCRIPT FLUSH, reloads it).
        let script = store.script.clone();
        match &store.conn {
            Conn::Single { pool, .. } => {
                within(ct, Box::pin(script.load_async(&mut pool[0].clone()))).await?;
            }
            Conn::Cluster(c) => {
                within(ct, Box::pin(script.load_async(&mut c.clone()))).await?;
            }
        }
        Ok(store)
    }

    /// The SHA1 of the script (for `redis-benchmark` or `redis-cli`).
    pub fn script_sha(&self) -> &str {
        self.script.get_hash()
    }

    /// The script's source.
    pub fn script_source() -> &'static str {
        script::SOURCE
    }

    /// The Redis key holding `identity`'s state under `limit_id`.
    pub fn key(&self, identity: &str, limit_id: &str) -> String {
        state_key(&self.prefix, identity, limit_id)
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
        let min_ttl = match self.time {
            TimeSource::Redis => 0,
            TimeSource::Caller => CALLER_TIME_MIN_TTL_MS,
        };
        let mut inv = self.script.prepare_invoke();
        script::prepare(&mut inv, mode, time, min_ttl, keys, checks);
        let r = match &self.conn {
            Conn::Single { pool, next } => {
                let i = next.fetch_add(1, Ordering::Relaxed) % pool.len();
                inv.invoke_async(&mut pool[i].clone()).await
            }
            Conn::Cluster(c) => inv.invoke_async(&mut c.clone()).await,
        };
        r.map_err(to_store_error)
    }

    async fn check_inner(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<Decision>, StoreError> {
        let time = match self.time {
            TimeSource::Redis => None,
            TimeSource::Caller => Some(now.as_micros()),
        };
        let keys: Vec<String> = checks
            .iter()
            .map(|c| self.key(&c.identity, &c.limit_id))
            .collect();
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
            } = script::decode(&raw, &gchecks)?;
            for (&i, d) in group.iter().zip(decisions) {
                out[i] = Some(d);
            }
            if mode == Mode::Check && all_allowed {
                consumed.push((group, t));
            } else {
                denied = true;
            }
        }
        if denied {
            for (group, t) in consumed {
                let gkeys: Vec<&str> = group.iter().map(|&i| keys[i].as_str()).collect();
                let gchecks: Vec<&LimitCheck> = group.iter().map(|&i| &checks[i]).collect();
                if let Err(e) = self.call(Mode::Refund, Some(t), &gkeys, &gchecks).await {
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

    /// Indices of the checks, grouped by hash slot in order of first
    /// appearance (one group on a standalone server).
    fn groups(&self, keys: &[String]) -> Vec<Vec<usize>> {
        match self.conn {
            Conn::Single { .. } => vec![(0..keys.len()).collect()],
            Conn::Cluster(_) => {
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

async fn within<T>(
    ct: Duration,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, ConnectError> {
    tokio::time::timeout(ct, f)
        .await
        .map_err(|_| ConnectError::Timeout(ct))?
        .map_err(ConnectError::Redis)
}

fn to_store_error(e: redis::RedisError) -> StoreError {
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_cluster_error()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(
                redis::ServerErrorKind::BusyLoading
                    | redis::ServerErrorKind::TryAgain
                    | redis::ServerErrorKind::ClusterDown
                    | redis::ServerErrorKind::Moved
                    | redis::ServerErrorKind::Ask
                    | redis::ServerErrorKind::MasterDown
            )
        );
    let msg = format!("redis: {e}");
    if transient {
        StoreError::transient(msg)
    } else {
        StoreError::permanent(msg)
    }
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
            match tokio::time::timeout(self.timeout, self.check_inner(checks, now)).await {
                Ok(r) => r,
                Err(_) => Err(StoreError::transient(format!(
                    "redis: no answer within {:?}",
                    self.timeout
                ))),
            }
        })
    }
}
