//! Connections to Redis or Redis Cluster, shared by the limit store and the
//! policy store, and the translation of Redis errors into `StoreError`s.
//!
//! - Standalone: a few multiplexed connections, each a `ConnectionManager`
//!   that reconnects on its own, used in turn (requests are pipelined on
//!   each).
//! - Cluster: one cluster connection, which routes each command by its
//!   keys' slot and refreshes its slot map and connections on its own.
//! - Either is replaced as a whole when the TLS files change or Sentinel
//!   names another primary (`connect/watch.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use floodgate_core::StoreError;
use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Script, ScriptInvocation, Value};

use crate::calls::Calls;
use crate::config::{RedisConfig, RedisKind, Scripting};
pub(crate) use crate::connect::error::{within, ConnectError};
use crate::connect::open::{Links, Opener, PoolConn};
use crate::connect::shared::Shared;
use crate::connect::watch;
use crate::placement::Placement;

/// Connections to Redis, shared: standalone connections or a cluster
/// connection, replaced as a whole when TLS files change or Sentinel
/// names another primary (calls under way finish on the old ones).
pub(crate) struct Conn {
    shared: Arc<Shared>,
}

/// One connection of a [`Conn`], taken for one call.
#[derive(Clone)]
enum Link {
    One(PoolConn),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::One(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::One(c) => c.req_packed_commands(cmd, offset, count),
            Link::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::One(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Connects as `config` says, with `connections` multiplexed
    /// connections to a standalone server (or Sentinel's primary); on a
    /// cluster, a reply slower than `response_timeout` fails. With TLS
    /// files or Sentinel, a watcher opens new connections when the files
    /// change or the primary moves.
    pub(crate) async fn open(
        config: &RedisConfig,
        connections: usize,
        response_timeout: Duration,
        placement: Option<&Placement>,
    ) -> Result<Conn, ConnectError> {
        config.validate()?;
        let opener = Opener {
            config: config.clone(),
            connections: connections.max(1),
            response_timeout,
            placement: placement.cloned(),
        };
        let links = opener
            .open()
            .await
            .map_err(|e| e.explained(opener.user().as_deref()))?;
        let shared = Arc::new(Shared {
            links: ArcSwap::from_pointee(links),
            next: AtomicUsize::new(0),
            placement: placement.cloned(),
            cluster: config.kind == RedisKind::RedisCluster,
            moved: tokio::sync::Notify::new(),
            sentinel: config.kind == RedisKind::RedisSentinel,
        });
        if opener.needs_watch() {
            watch::spawn(Arc::downgrade(&shared), opener);
        }
        Ok(Conn { shared })
    }

    /// The connection for lane `lane` (modulo their number; the cluster
    /// connection on a cluster).
    fn link(&self, lane: usize) -> Link {
        match &**self.shared.links.load() {
            Links::Single { pool, .. } => Link::One(pool[lane % pool.len()].clone()),
            Links::Cluster { conn, .. } => Link::Cluster(conn.clone()),
        }
    }

    /// Clients of the servers now (for pub/sub connections).
    pub(crate) fn clients(&self) -> Vec<redis::Client> {
        self.shared.links.load().clients()
    }

    /// Whether this is a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        self.shared.cluster
    }

    /// Loads `script` now, so the first call pays no `SCRIPT LOAD` (a
    /// later `NOSCRIPT`, after a restart or `SCRIPT FLUSH`, reloads it).
    pub(crate) async fn load(&self, script: &Script, ct: Duration) -> Result<(), ConnectError> {
        let mut c = self.link(0);
        within(ct, Box::pin(script.load_async(&mut c))).await?;
        Ok(())
    }

    /// Loads the decision code as `scripting` says and answers the way to
    /// call it: with `Auto`, the Functions library, or the script when the
    /// server refuses `FUNCTION LOAD` (before Redis 7, or to this ACL
    /// user). A user that may not load or run the code it falls to is an
    /// error that says so.
    pub(crate) async fn load_calls(
        &self,
        scripting: Scripting,
        ct: Duration,
    ) -> Result<Calls, ConnectError> {
        let (calls, fallback) = Calls::preferred(scripting);
        let calls = match within(ct, self.run_cmd::<redis::Value>(&calls.load())).await {
            Ok(_) => calls,
            Err(ConnectError::Redis(e)) if calls.already_loaded(&e) => calls,
            // With `auto`, a user that may not load functions (some managed
            // services refuse them) decides with the script.
            Err(ConnectError::Redis(e)) if !fallback && is_no_permission(&e) => {
                return Err(no_permission(e))
            }
            Err(ConnectError::Redis(e))
                if fallback
                    && matches!(
                        e.kind(),
                        redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
                    ) =>
            {
                tracing::info!(error = %e, "redis: no FUNCTION LOAD here; deciding with EVALSHA");
                let eval = Calls::eval();
                match within(ct, self.run_cmd::<redis::Value>(&eval.load())).await {
                    Err(ConnectError::Redis(e)) if is_no_permission(&e) => {
                        return Err(no_permission(e))
                    }
                    r => r.map(|_| eval)?,
                }
            }
            Err(e) => return Err(e),
        };
        self.probe(&calls, ct).await?;
        Ok(calls)
    }

    /// Runs the decision code once, deciding nothing (a peek at no limit,
    /// at Redis' time): a user that may load it but not call it, or not
    /// run what it runs, is found at connect, not at the first request.
    async fn probe(&self, calls: &Calls, ct: Duration) -> Result<(), ConnectError> {
        let mut cmd = calls.head();
        cmd.arg(0).arg("p").arg("");
        match within(ct, self.run_cmd::<redis::Value>(&cmd)).await {
            Err(ConnectError::Redis(e)) if is_no_permission(&e) => Err(no_permission(e)),
            r => r.map(drop),
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
        match &**self.shared.links.load() {
            Links::Single { pool, .. } => pool.len(),
            Links::Cluster { .. } => 1,
        }
    }

    /// The next connection to use: one of this thread's with a
    /// placement, else the next in turn.
    pub(crate) fn next_lane(&self) -> usize {
        let s = &self.shared;
        if s.cluster {
            return 0;
        }
        match &s.placement {
            Some(p) => p
                .lane(self.lanes(), || s.next.fetch_add(1, Ordering::Relaxed))
                .unwrap_or_else(|| s.next.fetch_add(1, Ordering::Relaxed)),
            None => s.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Where the connections run, if placed.
    pub(crate) fn placement(&self) -> Option<&Placement> {
        if self.shared.cluster {
            return None;
        }
        self.shared.placement.as_ref()
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
            let mut c = self.link(0);
            let value: Option<Vec<u8>> = match within(ct, async {
                let _: redis::Value = set.query_async(&mut c).await?;
                get.query_async(&mut c).await
            })
            .await
            {
                Err(ConnectError::Redis(e)) if is_no_permission(&e) => {
                    return Err(no_permission(e))
                }
                r => r?,
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
        let lane = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let mut c = self.link(lane);
        let r = match inv.invoke_async(&mut c).await {
            Err(e) if !self.shared.cluster && never_sent(&e) => inv.invoke_async(&mut c).await,
            r => r,
        };
        r.map_err(|e| self.failed(e))
    }

    /// Runs a pipeline on the next connection in turn (routed by its keys,
    /// which must share a slot, on a cluster).
    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let mut c = self.link(self.next_lane());
        pipe.query_async(&mut c).await.map_err(|e| self.failed(e))
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
        let mut c = self.link(lane);
        let r = match cmd.query_async(&mut c).await {
            Err(e) if !self.shared.cluster && never_sent(&e) => cmd.query_async(&mut c).await,
            r => r,
        };
        if let Err(e) = &r {
            self.shared.saw(e);
        }
        r
    }

    /// `e` as a store error, noted first (see [`Shared::saw`]).
    fn failed(&self, e: redis::RedisError) -> StoreError {
        self.shared.saw(&e);
        to_store_error(e)
    }
}

/// Redis refused a command (or a key) to this ACL user, directly or
/// inside a script.
fn is_no_permission(e: &redis::RedisError) -> bool {
    e.code() == Some("NOPERM")
        || e.to_string()
            .contains("The user executing the script can't")
}

/// A refused command as an error that names what to grant.
fn no_permission(e: redis::RedisError) -> ConnectError {
    ConnectError::Permission(format!(
        "the Redis user lacks a permission Floodgate needs: {}; grant what docs/redis.md (ACL users) lists",
        e.detail().map_or_else(|| e.to_string(), str::to_string)
    ))
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
                    // A replica answered: Sentinel is asked again.
                    | redis::ServerErrorKind::ReadOnly
            )
        );
    let msg = format!("redis: {e}");
    if transient {
        StoreError::transient(msg)
    } else {
        StoreError::permanent(msg)
    }
}
