//! Which Redis Cluster shard holds each hash slot: the failure domains of
//! a cluster store (see [`Store::failure_domain`]), so that a failure
//! policy around it keeps one circuit breaker per shard.
//!
//! A shard is a primary and its replicas. It is named by the lowest slot
//! it serves, which a failover does not change: when a replica is
//! promoted, its keys stay in the same domain (and that domain's breaker
//! closes on its next successful probe). Domains are numbered in the order
//! the shards are first seen, below [`MAX_FAILURE_DOMAINS`] (a cluster
//! with more shards shares breakers between some of them). Each domain
//! also keeps the address of its primary as last read, for the logs.
//!
//! The map is read with `CLUSTER SLOTS` when the store connects, then
//! every [`REFRESH_EVERY`] by a background task; for [`HURRY_FOR`] after
//! a failed call (or a failed first read), every [`MIN_SPACING`] (the
//! least time between two reads), so that a replica
//! promoted in a dead primary's place is seen within that. A shard's new
//! primary moves the map's [`epoch`](SlotMap::epoch): a failure policy
//! around the store then probes its open breakers at once. Until the
//! first read succeeds every slot is in domain 0.
//!
//! [`Store::failure_domain`]: floodgate_core::Store::failure_domain

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use floodgate_core::store::MAX_FAILURE_DOMAINS;
use floodgate_core::StoreError;
use redis::Value;
use tokio::sync::Notify;

use crate::conn::{bounded, Conn};

/// Hash slots of Redis Cluster.
const SLOTS: usize = 16_384;

/// The map is read again this often.
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Reads are at least this far apart, however many calls fail.
pub(crate) const MIN_SPACING: Duration = Duration::from_millis(500);

/// After a failed call, the map is read every [`MIN_SPACING`] for this
/// long (a failover takes a few times `cluster-node-timeout`).
pub(crate) const HURRY_FOR: Duration = Duration::from_secs(30);

/// One slot range and the primary serving it, as `CLUSTER SLOTS` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    /// First slot.
    pub(crate) start: u16,
    /// Last slot (included).
    pub(crate) end: u16,
    /// The primary's `host:port`.
    pub(crate) primary: String,
    /// The primary's node id (its address when the reply has none).
    pub(crate) node: String,
}

/// The slot → domain table.
struct Table {
    /// Domain of each slot.
    by_slot: Box<[u8]>,
    /// Per domain: the lowest slot of its shard (the shard's identity).
    firsts: Vec<u16>,
    /// Per domain: its primary's address, as last read.
    names: Vec<String>,
}

/// The slot → failure domain map of a cluster store.
pub(crate) struct SlotMap {
    table: RwLock<Table>,
    /// Wakes the refresh task early (after a failed call).
    wake: Notify,
    /// When a call last failed.
    failed_at: Mutex<Option<tokio::time::Instant>>,
    /// Moved each time a shard's primary changes.
    epoch: AtomicU64,
}

impl SlotMap {
    /// An empty map: every slot in domain 0 until the first read.
    pub(crate) fn new() -> SlotMap {
        SlotMap {
            table: RwLock::new(Table {
                by_slot: vec![0u8; SLOTS].into_boxed_slice(),
                firsts: Vec::new(),
                names: Vec::new(),
            }),
            wake: Notify::new(),
            failed_at: Mutex::new(None),
            epoch: AtomicU64::new(0),
        }
    }

    /// Moved each time a read finds a shard with a new primary.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether a call failed less than [`HURRY_FOR`] ago.
    fn hurried(&self) -> bool {
        let at = *self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        at.is_some_and(|at| at.elapsed() < HURRY_FOR)
    }

    /// The domain of `slot`.
    pub(crate) fn domain(&self, slot: u16) -> usize {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        usize::from(t.by_slot[usize::from(slot) % SLOTS])
    }

    /// The address of `domain`'s primary, as last read.
    pub(crate) fn name(&self, domain: usize) -> Option<String> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        t.names.get(domain).cloned()
    }

    /// Asks for a read soon, and frequent reads for a while (a call
    /// failed: a failover may be under way).
    pub(crate) fn stale(&self) {
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::time::Instant::now());
        self.wake.notify_one();
    }

    /// Takes in what `CLUSTER SLOTS` said. Shards seen before keep their
    /// domain; new ones get the next.
    pub(crate) fn apply(&self, ranges: &[Range]) {
        // The lowest slot of each primary's ranges names its shard.
        let mut lowest: Vec<(&str, u16)> = Vec::new();
        for r in ranges {
            match lowest.iter_mut().find(|(n, _)| *n == r.node) {
                Some((_, l)) => *l = (*l).min(r.start),
                None => lowest.push((&r.node, r.start)),
            }
        }
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        for r in ranges {
            let first = lowest
                .iter()
                .find(|(n, _)| *n == r.node)
                .map_or(r.start, |(_, l)| *l);
            let domain = match t.firsts.iter().position(|f| *f == first) {
                Some(d) => d,
                None if t.firsts.len() < MAX_FAILURE_DOMAINS => {
                    t.firsts.push(first);
                    t.names.push(String::new());
                    t.firsts.len() - 1
                }
                None => usize::from(first) % MAX_FAILURE_DOMAINS,
            };
            if t.firsts[domain] == first && t.names[domain] != r.primary {
                if !t.names[domain].is_empty() {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                }
                t.names[domain].clone_from(&r.primary);
            }
            let end = usize::from(r.end).min(SLOTS - 1);
            let d = u8::try_from(domain).unwrap_or(0);
            for s in &mut t.by_slot[usize::from(r.start)..=end] {
                *s = d;
            }
        }
    }

    /// Reads the map on `conn` (bounded by `limit`) and takes it in.
    pub(crate) async fn read(&self, conn: &Conn, limit: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SLOTS");
        let reply: Value = bounded(limit, conn.query(&cmd)).await?;
        let ranges = parse_slots(&reply)
            .ok_or_else(|| StoreError::permanent("redis: unexpected CLUSTER SLOTS reply"))?;
        self.apply(&ranges);
        Ok(())
    }

    /// Reads the map again every [`REFRESH_EVERY`], and soon after
    /// [`stale`](SlotMap::stale) (then every [`MIN_SPACING`] for
    /// [`HURRY_FOR`]), until the store (`map` or `conn`) is dropped.
    pub(crate) fn keep_fresh(map: &Arc<SlotMap>, conn: &Arc<Conn>, limit: Duration) {
        let map: Weak<SlotMap> = Arc::downgrade(map);
        let conn: Weak<Conn> = Arc::downgrade(conn);
        tokio::spawn(async move {
            loop {
                let Some(wake) = map.upgrade() else { return };
                if !wake.hurried() {
                    tokio::select! {
                        _ = tokio::time::sleep(REFRESH_EVERY) => {}
                        _ = wake.wake.notified() => {}
                    }
                }
                let (Some(m), Some(c)) = (map.upgrade(), conn.upgrade()) else {
                    return;
                };
                if let Err(e) = m.read(&c, limit).await {
                    tracing::debug!(error = %e, "redis: cannot read the cluster's slot map now");
                }
                drop((m, c, wake));
                tokio::time::sleep(MIN_SPACING).await;
            }
        });
    }
}

/// The ranges of a `CLUSTER SLOTS` reply: `[start, end, [host, port, id,
/// ...], replicas...]` each; `None` if it is not shaped so.
pub(crate) fn parse_slots(reply: &Value) -> Option<Vec<Range>> {
    let Value::Array(entries) = reply else {
        return None;
    };
    entries
        .iter()
        .map(|e| {
            let Value::Array(e) = e else { return None };
            let start = int(e.first()?)?;
            let end = int(e.get(1)?)?;
            let Value::Array(primary) = e.get(2)? else {
                return None;
            };
            let host = text(primary.first()?)?;
            let port = int(primary.get(1)?)?;
            let address = format!("{host}:{port}");
            let node = primary
                .get(2)
                .and_then(text)
                .unwrap_or_else(|| address.clone());
            Some(Range {
                start,
                end,
                primary: address,
                node,
            })
        })
        .collect()
}

fn int(v: &Value) -> Option<u16> {
    match v {
        Value::Int(i) => u16::try_from(*i).ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u16, end: u16, primary: &str, node: &str) -> Range {
        Range {
            start,
            end,
            primary: primary.into(),
            node: node.into(),
        }
    }

    #[test]
    fn parses_cluster_slots() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(5460),
            Value::Array(vec![bulk("127.0.0.1"), Value::Int(7001), bulk("abc")]),
            Value::Array(vec![bulk("127.0.0.1"), Value::Int(7004), bulk("def")]),
        ])]);
        assert_eq!(
            parse_slots(&reply),
            Some(vec![range(0, 5460, "127.0.0.1:7001", "abc")])
        );
        assert_eq!(parse_slots(&Value::Int(1)), None);
    }

    #[test]
    fn a_failover_keeps_the_shards_domain() {
        let map = SlotMap::new();
        assert_eq!(map.domain(9000), 0, "one domain before the first read");
        map.apply(&[
            range(0, 5460, "a:1", "A"),
            range(5461, 10922, "b:1", "B"),
            range(10923, 16383, "c:1", "C"),
        ]);
        assert_eq!(
            [map.domain(0), map.domain(9000), map.domain(16383)],
            [0, 1, 2]
        );
        assert_eq!(map.name(1).as_deref(), Some("b:1"));
        assert_eq!(map.epoch(), 0, "the first read moves nothing");
        // b's replica is promoted: same slots, a new primary.
        map.apply(&[
            range(10923, 16383, "c:1", "C"),
            range(5461, 10922, "e:1", "E"),
            range(0, 5460, "a:1", "A"),
        ]);
        assert_eq!(map.domain(9000), 1, "same shard, same domain");
        assert_eq!(map.name(1).as_deref(), Some("e:1"));
        assert_eq!(map.epoch(), 1, "one shard has a new primary");
        assert_eq!(map.domain(16383), 2);
    }

    #[test]
    fn a_shard_with_several_ranges_is_one_domain() {
        let map = SlotMap::new();
        map.apply(&[
            range(100, 200, "a:1", "A"),
            range(0, 99, "b:1", "B"),
            range(201, 300, "a:1", "A"),
        ]);
        assert_eq!(map.domain(150), map.domain(250));
        assert_ne!(map.domain(50), map.domain(150));
    }
}
