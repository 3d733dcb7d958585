//! `RedisFleet`: what every replica sharing a Redis (or Redis Cluster)
//! says of itself, so that any replica can show the whole fleet.
//!
//! Each replica publishes a report (opaque text, JSON to the server; this
//! crate never parses it) every few seconds; a reader gets every replica's
//! last report and when it was made, and judges from that which replicas
//! are alive. Keys, both in the hash slot of the tag `fleet`, so that a
//! publication is one script on one node, on a cluster too:
//!
//! - `{prefix}{fleet}:seen`: a sorted set, each replica scored by its last
//!   report's time (Unix ms, the replica's clock);
//! - `{prefix}{fleet}:reports`: a hash, each replica's last report.
//!
//! A publication (`lua/fleet_publish.lua`) also forgets the replicas not
//! heard from since a cutoff, keeps at most a bounded number (the oldest
//! go first) and lets both keys expire when every replica has gone quiet:
//! the fleet's footprint in Redis stays bounded whatever comes and goes.

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::StoreError;
use redis::Script;

use crate::config::RedisConfig;
use crate::conn::{bounded, Conn, ConnectError};
use crate::keys::{fleet_reports_key, fleet_seen_key};

const PUBLISH: &str = include_str!("../lua/fleet_publish.lua");

/// The most replicas a fleet keeps.
pub const MAX_REPLICAS: usize = 256;

/// One replica as last heard of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetMember {
    /// Its name.
    pub replica: String,
    /// When it last published, Unix ms (its clock).
    pub seen_ms: u64,
    /// Its last report (none if it vanished between two reads).
    pub report: Option<String>,
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
    seen_key: String,
    reports_key: String,
    timeout: Duration,
}

impl RedisFleet {
    /// Connects as `config` says (one connection; its `key_prefix` names
    /// the keys) and loads the publication script. Each operation is
    /// bounded by the larger of `config.timeout` and
    /// `config.connect_timeout`: these are background calls, never on a
    /// request's path.
    pub async fn connect(config: &RedisConfig) -> Result<RedisFleet, ConnectError> {
        let timeout = config.timeout.max(config.connect_timeout);
        let conn = Conn::open(config, 1, timeout).await?;
        let publish = Script::new(PUBLISH);
        conn.load(&publish, config.connect_timeout).await?;
        Ok(RedisFleet {
            inner: Arc::new(Inner {
                conn,
                publish,
                seen_key: fleet_seen_key(&config.key_prefix),
                reports_key: fleet_reports_key(&config.key_prefix),
                timeout,
            }),
        })
    }

    /// Records `report` as `replica`'s, made at `now_ms`; forgets the
    /// replicas not heard from within `forget_after` of it. Answers how
    /// many replicas the fleet holds.
    pub async fn publish(
        &self,
        replica: &str,
        now_ms: u64,
        report: &str,
        forget_after: Duration,
    ) -> Result<usize, StoreError> {
        let forget_ms = u64::try_from(forget_after.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let i = &self.inner;
        let mut inv = i.publish.prepare_invoke();
        inv.key(&i.seen_key)
            .key(&i.reports_key)
            .arg(replica)
            .arg(now_ms)
            .arg(report)
            .arg(now_ms.saturating_sub(forget_ms))
            .arg(MAX_REPLICAS)
            .arg(forget_ms);
        bounded(i.timeout, i.conn.invoke(&inv)).await
    }

    /// Every replica the fleet holds, most recently heard from first.
    pub async fn members(&self) -> Result<Vec<FleetMember>, StoreError> {
        let i = &self.inner;
        let mut cmd = redis::cmd("ZREVRANGE");
        cmd.arg(&i.seen_key)
            .arg(0)
            .arg(MAX_REPLICAS - 1)
            .arg("WITHSCORES");
        let seen: Vec<(String, f64)> = bounded(i.timeout, i.conn.query(&cmd)).await?;
        if seen.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&i.reports_key);
        for (name, _) in &seen {
            cmd.arg(name);
        }
        let reports: Vec<Option<String>> = bounded(i.timeout, i.conn.query(&cmd)).await?;
        Ok(seen
            .into_iter()
            .zip(reports)
            .map(|((replica, score), report)| FleetMember {
                replica,
                seen_ms: score as u64,
                report,
            })
            .collect())
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
