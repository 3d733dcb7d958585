//! Decisions on blocking connections, for a caller that waits for Redis
//! on its own thread (the Python package's synchronous `check`).
//!
//! The store's multiplexed connections run on a tokio runtime: a caller
//! on another thread hands its call to that runtime's thread and is woken
//! with the reply, two cross-thread wakeups per decision. A caller that is
//! going to block anyway can instead write the call on a socket of its
//! own and read the reply there: [`BlockingPool`] keeps such connections
//! (a few, opened on demand, each used by one caller at a time), and
//! [`RedisStore::check_blocking`] and [`RedisStore::leases_blocking`] send
//! on one the very calls `check` and `leases` send (the same code, keys,
//! time argument and reply decoding).
//!
//! Standalone servers only: a cluster's request may span slots (refunds
//! across calls), which the async store handles; [`BlockingPool::new`]
//! answers `None` for a cluster config.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use floodgate_core::{Decision, LeaseOp, LeaseStatus, LimitCheck, StoreError, Timestamp};
use redis::{Cmd, FromRedisValue};

use super::RedisStore;
use crate::config::{RedisConfig, RedisKind};
use crate::conn::to_store_error;
use crate::script::{self, Mode, Request};

/// Blocking connections to one standalone server: at most `most` open,
/// idle ones kept for the next caller.
pub struct BlockingPool {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    /// Connections open or being opened, idle or in use.
    open: AtomicUsize,
    most: usize,
    /// The longest wait for a connection to open, and for each read or
    /// write on it.
    timeout: Duration,
}

/// A connection of a [`BlockingPool`], for one caller: opened at its first
/// use, given back to the pool when dropped unless a call on it failed
/// short of a reply from Redis (its stream may hold a late reply).
pub struct PooledConn<'a> {
    pool: &'a BlockingPool,
    conn: Option<redis::Connection>,
    broken: bool,
}

impl BlockingPool {
    /// A pool for `config`'s server, each connection opened and each read
    /// and write on it bounded by `config.timeout` (as its user, over TLS
    /// when `rediss://`, its files read now); `None` for a cluster or
    /// Sentinel, whose primary can move.
    pub fn new(config: &RedisConfig, most: usize) -> Result<Option<BlockingPool>, StoreError> {
        if config.kind != RedisKind::Redis {
            return Ok(None);
        }
        let client = crate::connect::open::standalone_client(config)
            .map_err(|e| StoreError::permanent(e.to_string()))?;
        Ok(Some(BlockingPool {
            client,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            most: most.max(1),
            timeout: config.timeout,
        }))
    }

    /// An idle connection, or room for a new one; `None` when `most`
    /// connections are in use (the caller goes the async way).
    pub fn get(&self) -> Option<PooledConn<'_>> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if idle.is_none() {
            let reserved = self
                .open
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < self.most).then_some(n + 1)
                });
            reserved.ok()?;
        }
        Some(PooledConn {
            pool: self,
            conn: idle,
            broken: false,
        })
    }

    /// Connections open now (idle or in use).
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl PooledConn<'_> {
    /// Runs `cmd`, opening the connection first if needed.
    fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, redis::RedisError> {
        let conn = match &mut self.conn {
            Some(c) => c,
            slot => {
                let timeout = self.pool.timeout;
                let c = self.pool.client.get_connection_with_timeout(timeout)?;
                c.set_read_timeout(Some(timeout))?;
                c.set_write_timeout(Some(timeout))?;
                slot.insert(c)
            }
        };
        let r = cmd.query(conn);
        if let Err(e) = &r {
            // A server's error reply leaves the stream in step; anything
            // else (a timeout, a lost connection) may not.
            if !matches!(
                e.kind(),
                redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
            ) {
                self.broken = true;
            }
        }
        r
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        match self.conn.take() {
            Some(c) if !self.broken => self
                .pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(c),
            _ => {
                self.pool.open.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

impl RedisStore {
    /// [`Store::check`](floodgate_core::Store::check) on `conn`, blocking
    /// this thread until Redis answers (at most the store's timeout per
    /// read or write). A standalone server's store only.
    pub fn check_blocking(
        &self,
        conn: &mut PooledConn<'_>,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<Decision>, StoreError> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let all: Vec<&LimitCheck> = checks.iter().collect();
        let raw = self.call_blocking(conn, Mode::Check, now, &all)?;
        let reply = script::decode(&raw, &all)?;
        if reply.all_allowed {
            self.leases_expired
                .fetch_add(reply.ended, Ordering::Relaxed);
        }
        Ok(reply.decisions)
    }

    /// [`Store::leases`](floodgate_core::Store::leases) on `conn`, blocking
    /// this thread until Redis answers. A standalone server's store only.
    pub fn leases_blocking(
        &self,
        conn: &mut PooledConn<'_>,
        op: LeaseOp,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<LeaseStatus>, StoreError> {
        let mode = match op {
            LeaseOp::Release => Mode::Release,
            LeaseOp::Renew => Mode::Renew,
        };
        let (slots, held): (Vec<usize>, Vec<&LimitCheck>) = checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.lease.is_some() && c.quota.is_concurrency())
            .unzip();
        let mut out = vec![LeaseStatus::Missing; checks.len()];
        if held.is_empty() {
            return Ok(out);
        }
        let raw = self.call_blocking(conn, mode, now, &held)?;
        for (i, st) in slots
            .into_iter()
            .zip(script::decode_leases(&raw, held.len())?)
        {
            if st == LeaseStatus::Expired && mode == Mode::Release {
                self.leases_expired.fetch_add(1, Ordering::Relaxed);
            }
            out[i] = st;
        }
        Ok(out)
    }

    /// One call of `mode` for `checks` (all in one slot: a standalone
    /// server), loading the code once more when Redis has lost it.
    fn call_blocking(
        &self,
        conn: &mut PooledConn<'_>,
        mode: Mode,
        now: Timestamp,
        checks: &[&LimitCheck],
    ) -> Result<Vec<i64>, StoreError> {
        if self.conn.is_cluster() {
            return Err(StoreError::permanent(
                "redis: blocking calls are for a standalone server",
            ));
        }
        let keys: Vec<String> = checks
            .iter()
            .map(|c| self.key(&c.identity, &c.limit_id))
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let calls = self.gather.calls();
        let mut cmd = calls.head();
        Request::new(mode, self.time_arg(now), &keys, checks).push(&mut cmd, self.min_ttl());
        match conn.query(&cmd) {
            Err(e) if calls.is_missing(&e) => {
                match conn.query::<redis::Value>(&calls.load()) {
                    Err(e) if !calls.already_loaded(&e) => return Err(to_store_error(e)),
                    _ => {}
                }
                conn.query(&cmd).map_err(to_store_error)
            }
            r => r.map_err(to_store_error),
        }
    }
}
