//! `RedisFleet` on a real Redis and a real Redis Cluster: reports kept by
//! replica, newest first; silent replicas forgotten; the number kept and
//! the keys' lifetime bounded.

mod common;

use std::time::Duration;

use common::*;
use floodgate_redis::fleet::MAX_REPLICAS;
use floodgate_redis::keys::slot;
use floodgate_redis::{RedisConfig, RedisFleet};

const HOUR: Duration = Duration::from_secs(3_600);
const T: u64 = 1_764_028_800_000;

async fn reports_kept_newest_first_and_forgotten(fleet: &RedisFleet) {
    assert_eq!(fleet.read().await.unwrap().members, Vec::new());
    assert_eq!(
        fleet
            .publish("a:1", Some(T), "{\"n\":1}", HOUR)
            .await
            .map(|p| p.replicas),
        Ok(1)
    );
    assert_eq!(
        fleet
            .publish("b:1", Some(T + 500), "{\"n\":2}", HOUR)
            .await
            .map(|p| p.replicas),
        Ok(2)
    );
    // A newer report replaces the older one.
    assert_eq!(
        fleet
            .publish("a:1", Some(T + 1_000), "{\"n\":3}", HOUR)
            .await
            .map(|p| p.replicas),
        Ok(2)
    );
    let m = fleet.read().await.unwrap().members;
    let got: Vec<(&str, u64, Option<&str>)> = m
        .iter()
        .map(|m| (m.replica.as_str(), m.seen_ms, m.report.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a:1", T + 1_000, Some("{\"n\":3}")),
            ("b:1", T + 500, Some("{\"n\":2}")),
        ]
    );
    // Past `forget_after` of the newest report, `b:1` is gone for good.
    let later = T + 500 + HOUR.as_millis() as u64 + 1;
    assert_eq!(
        fleet
            .publish("a:1", Some(later), "{}", HOUR)
            .await
            .map(|p| p.replicas),
        Ok(1)
    );
    let m = fleet.read().await.unwrap().members;
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].replica.as_str(), m[0].seen_ms), ("a:1", later));
}

#[tokio::test]
async fn standalone_keeps_reports_and_forgets_the_silent() {
    let server = RedisServer::start();
    let fleet = RedisFleet::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    reports_kept_newest_first_and_forgotten(&fleet).await;
    // Both keys expire when nobody publishes for `forget_after`.
    let ttl: i64 = server
        .cli(&["PTTL", fleet.seen_key()])
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= HOUR.as_millis() as i64, "{ttl}");
    let ttl: i64 = server
        .cli(&["PTTL", fleet.reports_key()])
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= HOUR.as_millis() as i64, "{ttl}");
}

#[tokio::test]
async fn at_most_the_bound_of_replicas_is_kept_the_oldest_go() {
    let server = RedisServer::start();
    let fleet = RedisFleet::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    let n = MAX_REPLICAS + 10;
    for i in 0..n {
        let p = fleet
            .publish(&format!("r{i}"), Some(T + i as u64), "{}", HOUR)
            .await
            .unwrap();
        assert_eq!(p.replicas, (i + 1).min(MAX_REPLICAS));
        assert_eq!(p.evicted, usize::from(i >= MAX_REPLICAS));
    }
    let m = fleet.read().await.unwrap().members;
    assert_eq!(m.len(), MAX_REPLICAS);
    assert_eq!(m[0].replica, format!("r{}", n - 1));
    assert_eq!(m[MAX_REPLICAS - 1].replica, "r10");
    assert!(m.iter().all(|m| m.report.is_some()));
    let fields: usize = server
        .cli(&["HLEN", fleet.reports_key()])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(fields, MAX_REPLICAS, "the reports hash is trimmed too");
}

#[tokio::test]
async fn cluster_keeps_the_fleet_in_one_slot() {
    let cluster = RedisCluster::start();
    let fleet = RedisFleet::connect(&RedisConfig::cluster(cluster.urls()))
        .await
        .unwrap();
    assert_eq!(slot(fleet.seen_key()), slot(fleet.reports_key()));
    reports_kept_newest_first_and_forgotten(&fleet).await;
}

#[tokio::test]
async fn without_a_caller_time_reports_are_stamped_by_redis() {
    let server = RedisServer::start();
    let fleet = RedisFleet::connect(&RedisConfig::standalone(server.url()))
        .await
        .unwrap();
    fleet.publish("r", None, "{}", HOUR).await.unwrap();
    let read = fleet.read().await.unwrap();
    let redis_ms: u64 = {
        let t = server.cli(&["TIME"]);
        let mut l = t.lines();
        let secs: u64 = l.next().unwrap().trim().parse().unwrap();
        let us: u64 = l.next().unwrap().trim().parse().unwrap();
        secs * 1_000 + us / 1_000
    };
    let seen = read.members[0].seen_ms;
    // Stamped and read on Redis' clock: in order, and near what TIME says.
    assert!(
        seen <= read.redis_now_ms && read.redis_now_ms <= redis_ms,
        "{read:?} {redis_ms}"
    );
    assert!(redis_ms - seen < 60_000, "{read:?} {redis_ms}");
}
