//! Connections to Redis or Redis Cluster, shared by the limit store and the
//! policy store, and the translation of Redis errors into `StoreError`s.
//!
//! - Standalone: a few multiplexed connections, each a `ConnectionManager`
//!   that reconnects on its own, used in turn (requests are pipelined on
//!   each).
//! - Cluster: one cluster connection, which routes each command by its
//!   keys' slot and refreshes its slot map and connections on its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use floodgate_core::StoreError;
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Script, ScriptInvocation};

use crate::calls::Calls;
use crate::config::{RedisConfig, RedisKind, Scripting};
use crate::placement::Placement;

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

/// Standalone connections or a cluster connection.
pub(crate) enum Conn {
    Single {
        pool: Vec<ConnectionManager>,
        next: AtomicUsize,
        placement: Option<Placement>,
    },
    Cluster(ClusterConnection),
}

impl Conn {
    /// Connects as `config` says, with `connections` multiplexed
    /// connections to a standalone server; on a cluster, a reply slower
    /// than `response_timeout` fails.
    pub(crate) async fn open(
        config: &RedisConfig,
        connections: usize,
        response_timeout: Duration,
        placement: Option<&Placement>,
    ) -> Result<Conn, ConnectError> {
        config.validate()?;
        let ct = config.connect_timeout;
        Ok(match config.kind {
            RedisKind::Redis => {
                let url = config.url.as_deref().unwrap_or_default();
                let client = redis::Client::open(url)?;
                let mgr_config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(ct))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(500));
                let mut pool = Vec::with_capacity(connections);
                for i in 0..connections.max(1) {
                    let opening =
                        ConnectionManager::new_with_config(client.clone(), mgr_config.clone());
                    let c = match placement {
                        // Opened there, its driver runs there.
                        Some(p) => {
                            within(ct, async {
                                p.runtime(i).spawn(opening).await.map_err(|e| {
                                    redis::RedisError::from(std::io::Error::other(e.to_string()))
                                })?
                            })
                            .await?
                        }
                        None => within(ct, Box::pin(opening)).await?,
                    };
                    pool.push(c);
                }
                Conn::Single {
                    pool,
                    next: AtomicUsize::new(0),
                    placement: placement.cloned(),
                }
            }
            RedisKind::RedisCluster => {
                let client = redis::cluster::ClusterClientBuilder::new(config.nodes.clone())
                    .connection_timeout(ct)
                    .response_timeout(response_timeout)
                    .retries(1)
                    .build()?;
                let c = within(
                    ct,
                    Box::pin(async move { client.get_async_connection().await }),
                )
                .await?;
                Conn::Cluster(c)
            }
        })
    }

    /// Whether this is a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Loads `script` now, so the first call pays no `SCRIPT LOAD` (a
    /// later `NOSCRIPT`, after a restart or `SCRIPT FLUSH`, reloads it).
    pub(crate) async fn load(&self, script: &Script, ct: Duration) -> Result<(), ConnectError> {
        match self {
            Conn::Single { pool, .. } => {
                within(ct, Box::pin(script.load_async(&mut pool[0].clone()))).await?;
            }
            Conn::Cluster(c) => {
                within(ct, Box::pin(script.load_async(&mut c.clone()))).await?;
            }
        }
        Ok(())
    }

    /// Loads the decision code as `scripting` says and answers the way to
    /// call it: with `Auto`, the Functions library, or the script when the
    /// server refuses `FUNCTION LOAD` (before Redis 7).
    pub(crate) async fn load_calls(
        &self,
        scripting: Scripting,
        ct: Duration,
    ) -> Result<Calls, ConnectError> {
        let (calls, fallback) = Calls::preferred(scripting);
        match within(ct, self.run_cmd::<redis::Value>(&calls.load())).await {
            Ok(_) => Ok(calls),
            Err(ConnectError::Redis(e)) if calls.already_loaded(&e) => Ok(calls),
            Err(ConnectError::Redis(e))
                if fallback
                    && matches!(
                        e.kind(),
                        redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
                    ) =>
            {
                tracing::info!(error = %e, "redis: no FUNCTION LOAD here; deciding with EVALSHA");
                let eval = Calls::eval();
                within(ct, self.run_cmd::<redis::Value>(&eval.load())).await?;
                Ok(eval)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs a decision call made by `calls` (`cmd` starts with its
    /// [`head`](Calls::head)) on connection `lane` (see
    /// [`run_on`](Conn::run_on)); when Redis says the code is missing,
    /// loads it and calls once more.
    pub(crate) async fn call<T: FromRedisValue>(
        &self,
        calls: &Calls,
        cmd: &Cmd,
        lane: usize,
    ) -> Result<T, StoreError> {
        match self.run_on(lane, cmd).await {
            Err(e) if calls.is_missing(&e) => {
                match self.run_on::<redis::Value>(lane, &calls.load()).await {
                    Err(e) if !calls.already_loaded(&e) => return Err(to_store_error(e)),
                    _ => {}
                }
                self.run_on(lane, cmd).await.map_err(to_store_error)
            }
            r => r.map_err(to_store_error),
        }
    }

    /// The number of connections to a standalone server (1 on a cluster,
    /// whose one connection reaches every node).
    pub(crate) fn lanes(&self) -> usize {
        match self {
            Conn::Single { pool, .. } => pool.len(),
            Conn::Cluster(_) => 1,
        }
    }

    /// The next connection to use: one of this thread's with a
    /// placement, else the next in turn.
    pub(crate) fn next_lane(&self) -> usize {
        match self {
            Conn::Single {
                next,
                placement: Some(p),
                pool,
            } => p
                .lane(pool.len(), || next.fetch_add(1, Ordering::Relaxed))
                .unwrap_or_else(|| next.fetch_add(1, Ordering::Relaxed)),
            Conn::Single { next, .. } => next.fetch_add(1, Ordering::Relaxed),
            Conn::Cluster(_) => 0,
        }
    }

    /// Where the connections run, if placed.
    pub(crate) fn placement(&self) -> Option<&Placement> {
        match self {
            Conn::Single { placement, .. } => placement.as_ref(),
            Conn::Cluster(_) => None,
        }
    }

    /// The deployment secret at `key`: `SET key candidate NX`, then
    /// `GET key`, so that every store on this Redis and key prefix uses the
    /// one written first. Read once, when the store connects.
    pub(crate) async fn secret(
        &self,
        key: &str,
        candidate: &str,
        ct: Duration,
    ) -> Result<Vec<u8>, ConnectError> {
        let mut set = redis::cmd("SET");
        set.arg(key).arg(candidate).arg("NX");
        let mut get = redis::cmd("GET");
        get.arg(key);
        // Deleted between the two commands (by hand): write it again.
        for _ in 0..3 {
            let value: Option<Vec<u8>> = match self {
                Conn::Single { pool, .. } => {
                    let mut c = pool[0].clone();
                    within(ct, async {
                        let _: redis::Value = set.query_async(&mut c).await?;
                        get.query_async(&mut c).await
                    })
                    .await?
                }
                Conn::Cluster(c) => {
                    let mut c = c.clone();
                    within(ct, async {
                        let _: redis::Value = set.query_async(&mut c).await?;
                        get.query_async(&mut c).await
                    })
                    .await?
                }
            };
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                return Ok(v);
            }
        }
        Err(ConnectError::Redis(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "the key prefix's secret cannot be kept",
        ))))
    }

    /// Runs a script call.
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let r = match self {
            Conn::Single { pool, next, .. } => {
                let i = next.fetch_add(1, Ordering::Relaxed) % pool.len();
                let mut c = pool[i].clone();
                match inv.invoke_async(&mut c).await {
                    Err(e) if never_sent(&e) => inv.invoke_async(&mut c).await,
                    r => r,
                }
            }
            Conn::Cluster(c) => inv.invoke_async(&mut c.clone()).await,
        };
        r.map_err(to_store_error)
    }

    /// Runs a pipeline on the next connection in turn (routed by its keys,
    /// which must share a slot, on a cluster).
    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let r = match self {
            Conn::Single { pool, .. } => {
                let mut c = pool[self.next_lane() % pool.len()].clone();
                pipe.query_async(&mut c).await
            }
            Conn::Cluster(c) => pipe.query_async(&mut c.clone()).await,
        };
        r.map_err(to_store_error)
    }

    /// Runs one command (routed by its first key, on a cluster).
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.run_cmd(cmd).await.map_err(to_store_error)
    }

    /// Runs one command on the next connection in turn (routed by its
    /// keys, on a cluster).
    async fn run_cmd<T: FromRedisValue>(&self, cmd: &Cmd) -> redis::RedisResult<T> {
        self.run_on(self.next_lane(), cmd).await
    }

    /// Runs one command on connection `lane` (modulo their number; routed
    /// by its keys, on a cluster).
    async fn run_on<T: FromRedisValue>(&self, lane: usize, cmd: &Cmd) -> redis::RedisResult<T> {
        match self {
            Conn::Single { pool, .. } => {
                let mut c = pool[lane % pool.len()].clone();
                match cmd.query_async(&mut c).await {
                    Err(e) if never_sent(&e) => cmd.query_async(&mut c).await,
                    r => r,
                }
            }
            Conn::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        }
    }
}

/// The call failed because its connection could not be opened, so it was
/// never sent and sending it again is safe. A standalone connection keeps
/// the failed attempt of an outage until its next use, which fails at once
/// and starts a new attempt: the second try waits for that one, so a
/// connection left idle through an outage does not fail its first call
/// after Redis is back.
fn never_sent(e: &redis::RedisError) -> bool {
    e.is_connection_refusal()
}

/// `f`, failing with [`ConnectError::Timeout`] past `ct`.
pub(crate) async fn within<T>(
    ct: Duration,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, ConnectError> {
    tokio::time::timeout(ct, f)
        .await
        .map_err(|_| ConnectError::Timeout(ct))?
        .map_err(ConnectError::Redis)
}

/// `f`, failing with a transient "no answer" error past `limit`.
pub(crate) async fn bounded<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::transient(format!(
            "redis: no answer within {limit:?}"
        ))),
    }
}

/// A Redis error as a store error: transient when trying again later may
/// work (connection trouble, a timeout, a cluster in flux).
pub(crate) fn to_store_error(e: redis::RedisError) -> StoreError {
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
