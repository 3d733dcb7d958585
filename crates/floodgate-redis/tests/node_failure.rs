//! One node's failure stays that node's: on a real Redis Cluster of 3
//! primaries and 3 replicas, a primary is killed (SIGKILL) under steady
//! traffic on keys of all three shards. Requests on the two healthy
//! shards keep being decided on Redis throughout; requests on the dead
//! shard go to the failure policy until its replica is promoted, then
//! come back to Redis; the log says once that the node failed and once
//! that it is back.
//!
//! The breaker runs on the system's monotonic clock here: what is
//! measured is how long the real failover keeps keys away from Redis,
//! so time passes as the cluster's does (polled with deadlines).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use floodgate_core::{FailureMode, Quota, Store, Timestamp};
use floodgate_redis::keys::slot;
use floodgate_redis::{
    BreakerConfig, FailurePolicy, FailureSettings, RedisConfig, RedisStore, ResilientStore,
    TimeSource,
};
use floodgate_testkit::ReplicatedCluster;

/// The quota of every check: large, so Redis never denies, and a decision
/// made on Redis is told from a `fail_open` one by its `remaining`.
const LIMIT: u64 = 1_000_000;

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

/// Identities checked each round (spread over the three shards).
const CLIENTS: usize = 30;

/// A round of `CLIENTS` concurrent checks goes every this long (600/s).
const ROUND: Duration = Duration::from_millis(50);

/// The dead shard is back after this many rounds (2 s) with each of its
/// checks on Redis.
const BACK_ROUNDS: u32 = 40;

/// Checks and how many were decided on Redis.
#[derive(Debug, Default)]
struct Tally {
    total: u64,
    on_redis: u64,
}

impl Tally {
    fn add(&mut self, on_redis: bool) {
        self.total += 1;
        self.on_redis += u64::from(on_redis);
    }

    fn share(&self) -> f64 {
        self.on_redis as f64 / self.total.max(1) as f64
    }
}

#[tokio::test]
async fn a_dead_primary_sends_only_its_own_keys_to_the_failure_policy() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut cluster = ReplicatedCluster::start();
    let config = RedisConfig {
        time: TimeSource::Caller,
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        failure: FailureSettings {
            on_failure: FailureMode::FailOpen,
            breaker: BreakerConfig {
                failures: 3,
                cooldown: Duration::from_secs(1),
            },
            ..FailureSettings::default()
        },
        ..RedisConfig::cluster(cluster.urls())
    };
    let redis = RedisStore::connect(&config).await.unwrap();
    let store = Arc::new(ResilientStore::new(redis, FailurePolicy::from(&config)));
    let quota = Quota::fixed_window(LIMIT, Duration::from_secs(3_600)).unwrap();

    // Each client's shard, by the primary serving its key's slot.
    let clients: Vec<(String, u16, usize)> = (0..CLIENTS)
        .map(|i| {
            let id = format!("client-{i}");
            let s = slot(&store.inner().key(&id, "node/hourly/0"));
            let primary = cluster.primary_of(s).expect("every slot is served");
            (id, s, primary)
        })
        .collect();
    let victim = clients[0].2;
    let victim_port = cluster.nodes()[victim].port();
    let dead_slot = clients[0].1;
    let mut shards: Vec<usize> = clients.iter().map(|c| c.2).collect();
    shards.sort_unstable();
    shards.dedup();
    assert_eq!(shards.len(), 3, "the clients cover the three shards");

    // One round: every client's check at once; (client, on Redis).
    let round = || {
        let mut set = tokio::task::JoinSet::new();
        for (i, (id, _, _)) in clients.iter().enumerate() {
            let store = Arc::clone(&store);
            let c = check("node/hourly/0", id, quota, 1);
            set.spawn(async move {
                let d = store.check(std::slice::from_ref(&c), NOW).await.unwrap();
                (i, d[0].allowed && d[0].remaining < LIMIT)
            });
        }
        set
    };

    let dead_per_round = clients.iter().filter(|c| c.2 == victim).count() as u32;
    let mut before = round();
    while let Some(r) = before.join_next().await {
        assert!(
            r.unwrap().1,
            "every check is decided on Redis before the kill"
        );
    }

    cluster.kill(victim);
    let killed = Instant::now();
    let mut healthy = Tally::default();
    let mut dead = Tally::default();
    let mut last_degraded: Option<Duration> = None;
    // Dead-shard checks decided on Redis in a row, since the last one
    // that was not.
    let mut back_streak = 0u32;
    let deadline = Deadline::in_secs(30);
    // When a live node first listed another primary for the dead slots.
    let mut promoted: Option<Duration> = None;
    let mut next = tokio::time::Instant::now();
    for n in 0u64.. {
        if promoted.is_none() && n % 4 == 0 && cluster.primary_of(dead_slot) != Some(victim) {
            promoted = Some(killed.elapsed());
        }
        let mut set = round();
        while let Some(r) = set.join_next().await {
            let (i, on_redis) = r.unwrap();
            if clients[i].2 == victim {
                dead.add(on_redis);
                if on_redis {
                    back_streak += 1;
                } else {
                    back_streak = 0;
                    last_degraded = Some(killed.elapsed());
                }
            } else {
                healthy.add(on_redis);
            }
        }
        if last_degraded.is_some() && back_streak >= dead_per_round * BACK_ROUNDS {
            break;
        }
        deadline
            .poll(format!(
                "the dead shard back on Redis: healthy {healthy:?}, dead {dead:?}, {:?}",
                store.stats()
            ))
            .await;
        next += ROUND;
        tokio::time::sleep_until(next).await;
    }

    let away = last_degraded.expect("the dead shard went to the failure policy");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let failing = text.matches("failing: deciding its keys").count();
    let back = text
        .matches(&format!("redis node 127.0.0.1:{victim_port} back"))
        .count();
    println!(
        "killed primary 127.0.0.1:{victim_port}: replica promoted (seen) after {:.1} s; \
         its keys on the failure policy until {:.1} s; \
         healthy shards: {}/{} checks on Redis ({:.2} %); dead shard: {}/{} on Redis; {:?}",
        promoted.unwrap_or_default().as_secs_f64(),
        away.as_secs_f64(),
        healthy.on_redis,
        healthy.total,
        healthy.share() * 100.0,
        dead.on_redis,
        dead.total,
        store.stats()
    );
    assert!(
        healthy.share() >= 0.99,
        "healthy shards decided on Redis: {healthy:?}"
    );
    assert!(
        dead.total > dead.on_redis,
        "the dead shard degraded: {dead:?}"
    );
    assert_ne!(
        cluster.primary_of(dead_slot),
        Some(victim),
        "a replica serves the dead node's slots"
    );
    let promoted = promoted.expect("the promotion was seen");
    assert!(
        away <= promoted + Duration::from_millis(1_500),
        "back on Redis within the cool-down (and a round) of the promotion: \
         {away:?} vs {promoted:?}"
    );
    assert!(
        text.contains(&format!("redis node 127.0.0.1:{victim_port} failing")),
        "{text}"
    );
    assert_eq!((failing, back), (1, 1), "one line each way: {text}");
}
