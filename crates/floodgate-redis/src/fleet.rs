//! `RedisFleet`: what every replica sharing a Redis (or Redis Cluster)
//! says of itself, so that any replica can show the whole fleet.
//!
//! Each replica publishes a report (opaque text, JSON to the server; this
//! crate never parses it) every few seconds; a reader gets every replica's
//! last report and when it was made, and judges from that which replicas
//! are alive. Keys, both in the hash slot of the tag `fleet`, so that a
//! publication is one script on one node, on a cluster too:
//!
//! - `{key_prefix}{fleet}:seen`: a sorted set, each replica scored by its
//!   last report's time (Unix ms: Redis' `TIME`, or the caller's clock);
//! - `{key_prefix}{fleet}:reports`: a hash, each replica's last report.
//!
//! A read (`lua/fleet_read.lua`) is one script call too, answering Redis'
//! clock beside the members, so that ages are measured on one clock.
//!
//! A publication (`lua/fleet_publish.lua`) also forgets the replicas not
//! heard from since a cutoff, keeps at most a bounded number (the oldest
//! go first) and lets both keys expire when every replica has gone quiet:
//! the fleet's footprint in Redis stays bounded whatever comes and goes.

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::StoreError;
use redis::{Script, Value};

use crate::config::RedisConfig;
use crate::conn::{bounded, Conn, ConnectError};
use crate::keys::{fleet_reports_key, fleet_seen_key};

const PUBLISH: &str = include_str!("../lua/fleet_publish.lua");
const READ: &str = include_str!("../lua/fleet_read.lua");

/// The most replicas a fleet keeps.
pub const MAX_REPLICAS: usize = 256;

/// One replica as last heard of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetMember {
    /// Its name.
    pub replica: String,
    /// When it last published, Unix ms.
    pub seen_ms: u64,
    /// Its last report (none if it vanished between two reads).
    pub report: Option<String>,
}

/// What a publication did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The replicas the fleet holds now.
    pub replicas: usize,
    /// Replicas dropped because the fleet held more than
    /// [`MAX_REPLICAS`] (the oldest first).
    pub evicted: usize,
}

/// The fleet as read at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetRead {
    /// Redis' clock at the read, Unix ms.
    pub redis_now_ms: u64,
    /// Every replica, most recently heard from first.
    pub members: Vec<FleetMember>,
}

/// The fleet's reports in Redis or Redis Cluster. Clones share the
/// connection.
#[derive(Clone)]
pub struct RedisFleet {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    publish: Script,
    read: Script,
    seen_key: String,
    reports_key: String,
    timeout: Duration,
}

fn bad_reply(msg: impl std::fmt::Display) -> StoreError {
    StoreError::permanent(format!("redis fleet reply: {msg}"))
}

fn int(v: &Value) -> Result<u64, StoreError> {
    let n: i64 = redis::from_redis_value_ref(v).map_err(bad_reply)?;
    u64::try_from(n).map_err(bad_reply)
}

impl RedisFleet {
    /// Connects as `config` says (one connection; its `key_prefix` names
    /// the keys) and loads the scripts. Each operation is bounded by the
    /// larger of `config.timeout` and `config.connect_timeout`: these are
    /// background calls, never on a request's path.
    pub async fn connect(config: &RedisConfig) -> Result<RedisFleet, ConnectError> {
        let timeout = config.timeout.max(config.connect_timeout);
        let conn = Conn::open(config, 1, timeout, None).await?;
        let publish = Script::new(PUBLISH);
        let read = Script::new(READ);
        conn.load(&publish, config.connect_timeout).await?;
        conn.load(&read, config.connect_timeout).await?;
        Ok(RedisFleet {
            inner: Arc::new(Inner {
                conn,
                publish,
                read,
                seen_key: fleet_seen_key(&config.key_prefix),
                reports_key: fleet_reports_key(&config.key_prefix),
                timeout,
            }),
        })
    }

    /// Records `report` as `replica`'s, made at `now_ms` (Unix ms; `None`:
    /// Redis' own `TIME`, so that replicas with skewed clocks agree), and
    /// forgets the replicas not heard from within `forget_after` of it.
    pub async fn publish(
        &self,
        replica: &str,
        now_ms: Option<u64>,
        report: &str,
        forget_after: Duration,
    ) -> Result<Published, StoreError> {
        let forget_ms = u64::try_from(forget_after.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let i = &self.inner;
        let mut inv = i.publish.prepare_invoke();
        inv.key(&i.seen_key)
            .key(&i.reports_key)
            .arg(replica)
            .arg(now_ms.map_or_else(String::new, |n| n.to_string()))
            .arg(report)
            .arg(forget_ms)
            .arg(MAX_REPLICAS);
        let reply: Vec<Value> = bounded(i.timeout, i.conn.invoke(&inv)).await?;
        match reply.as_slice() {
            [kept, evicted] => Ok(Published {
                replicas: int(kept)? as usize,
                evicted: int(evicted)? as usize,
            }),
            other => Err(bad_reply(format!("publish: {other:?}"))),
        }
    }

    /// Every replica the fleet holds, most recently heard from first, and
    /// Redis' clock, in one script call.
    pub async fn read(&self) -> Result<FleetRead, StoreError> {
        let i = &self.inner;
        let mut inv = i.read.prepare_invoke();
        inv.key(&i.seen_key).key(&i.reports_key).arg(MAX_REPLICAS);
        let reply: Vec<Value> = bounded(i.timeout, i.conn.invoke(&inv)).await?;
        let [now, seen, reports] = reply.as_slice() else {
            return Err(bad_reply(format!("read: {reply:?}")));
        };
        let now: String = redis::from_redis_value_ref(now).map_err(bad_reply)?;
        let seen: Vec<(String, String)> = redis::from_redis_value_ref(seen).map_err(bad_reply)?;
        let reports: Vec<Option<String>> =
            redis::from_redis_value_ref(reports).map_err(bad_reply)?;
        let members = seen
            .into_iter()
            .zip(reports.into_iter().chain(std::iter::repeat(None)))
            .map(|((replica, score), report)| FleetMember {
                replica,
                seen_ms: score.parse::<f64>().map_or(0, |s| s as u64),
                report,
            })
            .collect();
        Ok(FleetRead {
            redis_now_ms: now.parse().map_err(bad_reply)?,
            members,
        })
    }

    /// The sorted set's key.
    pub fn seen_key(&self) -> &str {
        &self.inner.seen_key
    }

    /// The reports hash's key.
    pub fn reports_key(&self) -> &str {
        &self.inner.reports_key
    }
}
