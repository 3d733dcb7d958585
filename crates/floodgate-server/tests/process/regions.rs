//! Three regions on the real binary: two replicas per region, one real
//! Redis per region, and a real global Redis behind a latency-adding TCP
//! proxy per region (40 ms each way). A `region_weighted` limit is each
//! region's weight of it; a `global` limit (leased slices) gives a client
//! active in one region the whole limit there, and never more than the
//! limit to one active everywhere; a request decided from slices does not
//! wait for the global store; a partition (one region's proxy cut) is
//! decided on that region's share, with no error, and charged back once
//! healed.

use std::time::{Duration, Instant};

use floodgate_testkit::redis::RedisServer;
use floodgate_testkit::DelayProxy;

use super::common::*;
use super::kit::*;

const REGIONS: [(&str, u64); 3] = [("us", 50), ("eu", 30), ("asia", 20)];
const DELAY: Duration = Duration::from_millis(40);

fn config(region_redis: &str, global: &str, upstream: std::net::SocketAddr) -> String {
    format!(
        "listen: 127.0.0.1:0
admin: {{ listen: 127.0.0.1:0, dashboard: {{ publish_every: 200ms }} }}
upstream: http://{upstream}
log: {{ format: json }}
region: {{ regions: {{ us: 50%, eu: 30%, asia: 20% }} }}
store: {{ kind: redis, url: {region_redis} }}
global_store: {{ kind: redis, url: {global}, connections: 1, timeout: 1s, local_divisor: 2, breaker: {{ failures: 1, cooldown: 300ms }} }}
rules:
  - name: weighted
    match: {{ path: /weighted }}
    key: api_key
    scope: region_weighted
    limits: [{{ algorithm: fixed_window, limit: 100, window: 24h }}]
  - name: shared
    match: {{ path: /shared }}
    key: api_key
    scope: global
    limits: [{{ algorithm: fixed_window, limit: 60, window: 24h }}]
  - name: fast
    match: {{ path: /fast }}
    key: api_key
    scope: global
    sync: {{ mode: leased, lease: 20s }}
    limits: [{{ algorithm: fixed_window, limit: 1000000, window: 24h }}]
  - name: exact
    match: {{ path: /exact }}
    key: api_key
    scope: global
    sync: exact
    limits: [{{ algorithm: fixed_window, limit: 1000000, window: 24h }}]
"
    )
}

struct Region {
    name: &'static str,
    proxy: DelayProxy,
    replicas: Vec<Serving>,
    _redis: RedisServer,
}

struct World {
    regions: Vec<Region>,
    _global: RedisServer,
    _dir: tempfile::TempDir,
}

async fn start() -> World {
    let upstream = upstream().await;
    let global = RedisServer::start();
    let global_addr = global.url().trim_start_matches("redis://").to_string();
    let dir = tempfile::tempdir().unwrap();
    let regions = REGIONS
        .iter()
        .map(|&(name, _)| {
            let redis = RedisServer::start();
            let proxy = DelayProxy::start(
                "127.0.0.1:0".parse().unwrap(),
                global_addr.parse().unwrap(),
                DELAY,
            )
            .unwrap();
            let path = dir.path().join(format!("{name}.yaml"));
            let global_url = format!("redis://{}", proxy.addr());
            std::fs::write(&path, config(&redis.url(), &global_url, upstream)).unwrap();
            let replicas = (0..2)
                .map(|_| spawn_serve_with_env(&path, &[("FLOODGATE_REGION", name)]))
                .collect();
            Region {
                name,
                proxy,
                replicas,
                _redis: redis,
            }
        })
        .collect();
    World {
        regions,
        _global: global,
        _dir: dir,
    }
}

/// One request; its status must be a decision (the upstream's 201, or
/// 429), never an error.
async fn hit(s: &Serving, path: &str, key: &str) -> bool {
    let r = get(&format!("http://{}{path}", s.public), &[("x-api-key", key)]).await;
    assert!(
        r.status == 201 || r.status == 429,
        "{path} answered {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.status == 201
}

/// Sends requests round robin over `replicas` until 24 in a row are
/// denied (or `max` are sent); returns how many were admitted.
async fn until_denied(replicas: &[&Serving], path: &str, key: &str, max: usize) -> u64 {
    let (mut admitted, mut denied_in_a_row) = (0, 0);
    for i in 0..max {
        if hit(replicas[i % replicas.len()], path, key).await {
            admitted += 1;
            denied_in_a_row = 0;
        } else {
            denied_in_a_row += 1;
            if denied_in_a_row == 24 {
                break;
            }
        }
    }
    admitted
}

async fn metric_of(s: &Serving, series: &str) -> f64 {
    let r = get(&format!("http://{}/metrics", s.admin), &[]).await;
    sample_value(&String::from_utf8_lossy(&r.body), series).unwrap_or(0.0)
}

fn p99(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    ms[(ms.len() * 99).div_ceil(100) - 1]
}

/// The latencies (ms) of `n` requests in turn on one replica.
async fn latencies(s: &Serving, path: &str, key: &str, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        assert!(hit(s, path, key).await);
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn three_regions_share_one_global_limit_and_ride_out_a_partition() {
    let w = start().await;
    let all: Vec<&Serving> = w.regions.iter().flat_map(|r| &r.replicas).collect();

    // A region_weighted limit of 100: each region its weight of it, exactly.
    for (r, &(name, weight)) in w.regions.iter().zip(&REGIONS) {
        let ours: Vec<&Serving> = r.replicas.iter().collect();
        let got = until_denied(&ours, "/weighted", "weighted-client", 200).await;
        assert_eq!(got, weight, "region {name}: its weight of 100");
    }

    // The fleet view, kept on the global store: every region's replicas,
    // grouped by region.
    let fleet_url = format!("http://{}/dashboard/data", w.regions[0].replicas[0].admin);
    let grouped = wait_until(DEADLINE, || async {
        let f = get(&fleet_url, &[]).await.json()["fleet"].clone();
        f["regions"]
            == serde_json::json!([
                { "region": "asia", "alive": 2, "gone": 0 },
                { "region": "eu", "alive": 2, "gone": 0 },
                { "region": "us", "alive": 2, "gone": 0 }
            ])
    })
    .await;
    assert!(
        grouped,
        "the fleet view never showed three regions of two replicas"
    );

    // A global limit of 60, a client active in one region only: the whole
    // limit there.
    let us: Vec<&Serving> = w.regions[0].replicas.iter().collect();
    assert_eq!(until_denied(&us, "/shared", "solo", 400).await, 60);
    // Slices came down through the region's pool: the replica that took
    // for the region left the surplus there for the other.
    let mut pooled = 0.0;
    for s in &us {
        pooled += metric_of(s, "floodgate_region_pool_slices_total{from=\"pool\"}").await;
    }
    assert!(pooled > 0.0, "no slice came from the us pool");

    // A client active in all three at once: never more than the limit.
    let everywhere = until_denied(&all, "/shared", "everywhere", 600).await;
    assert!(
        (54..=60).contains(&everywhere),
        "{everywhere} admitted everywhere, limit 60"
    );

    // Decided from slices, a request does not wait for the global store;
    // an exact global decision does (the proxy is in the way).
    let eu = &w.regions[1].replicas[0];
    assert!(hit(eu, "/fast", "fast-client").await, "the first take");
    let far = p99(latencies(eu, "/fast", "fast-client", 200).await);
    let exact = latencies(eu, "/exact", "exact-client", 10).await;
    assert!(
        exact
            .iter()
            .all(|&ms| ms >= 2.0 * DELAY.as_secs_f64() * 1e3),
        "an exact global decision crosses the proxy both ways: {exact:?}"
    );
    w.regions[1].proxy.set_delay(Duration::ZERO);
    let near = p99(latencies(eu, "/fast", "fast-client", 200).await);
    w.regions[1].proxy.set_delay(DELAY);
    assert!(
        far < near + DELAY.as_secs_f64() * 1e3 / 2.0,
        "p99 {far:.1} ms behind a {DELAY:?} proxy, {near:.1} ms without"
    );

    // A partition: the us region's link to the global store is cut. Its
    // replicas decide on its share (50% of 60, split over 2 replicas), with
    // no error; the other regions go on with the global store.
    let us_region = &w.regions[0];
    us_region.proxy.cut();
    let during = until_denied(&us, "/shared", "split", 200).await;
    assert!(
        during <= 30,
        "{during} admitted in us during the partition: its share is 30"
    );
    assert!(during >= 20, "{during} admitted in us during the partition");
    for s in &us {
        assert_eq!(metric_of(s, "floodgate_global_partitioned").await, 1.0);
    }
    let others: Vec<&Serving> = w.regions[1..].iter().flat_map(|r| &r.replicas).collect();
    let elsewhere = until_denied(&others, "/shared", "split", 200).await;
    assert_eq!(
        elsewhere, 60,
        "the other regions still have the global limit"
    );

    // Healed: what us admitted is charged to the global store, so the
    // client is limited everywhere, and the partition cost at most us's
    // share above the limit.
    us_region.proxy.heal();
    let healed = wait_until(DEADLINE, || async {
        let mut closed = true;
        for s in &us {
            hit(s, "/shared", "heal-probe").await;
            closed &= metric_of(s, "floodgate_global_partitioned").await == 0.0;
        }
        closed
    })
    .await;
    assert!(
        healed,
        "the us replicas never reached the global store again"
    );
    let mut charged = 0.0;
    for s in &us {
        charged += metric_of(
            s,
            "floodgate_global_charge_back_units_total{outcome=\"charged\"}",
        )
        .await
            + metric_of(
                s,
                "floodgate_global_charge_back_units_total{outcome=\"lost\"}",
            )
            .await;
    }
    assert!(
        charged >= during as f64,
        "{charged} charged back or lost, {during} admitted in the partition"
    );
    let after = until_denied(&all, "/shared", "split", 200).await;
    let total = during + elsewhere + after;
    assert!(
        total <= 60 + 30,
        "{total} admitted for one client around a partition: the bound is the limit plus us's share"
    );
    assert_eq!(after, 0, "the partition's admissions were charged back");
    // One live policy for every region: a change made on a US replica
    // reaches the Asian ones.
    let rule = serde_json::json!({
        "match": { "path": "/exact" },
        "key": "api_key",
        "scope": "global",
        "sync": "exact",
        "limits": [{ "algorithm": "fixed_window", "limit": 5, "window": "24h" }]
    });
    let r = send(
        "PUT",
        &format!("http://{}/v1/rules/exact", us[0].admin),
        &[],
        rule.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let version = r.json()["version"].clone();
    let asia = &w.regions[2].replicas[1];
    let followed = wait_until(DEADLINE, || async {
        let p = get(&format!("http://{}/v1/policy", asia.admin), &[]).await;
        p.header("etag") == Some(format!("\"{version}\"").as_str())
    })
    .await;
    assert!(followed, "the Asian replica never ran version {version}");
    eprintln!(
        "regions: everywhere {everywhere}/60; p99 {far:.2} ms behind the proxy, {near:.2} ms without; exact global p50 {:.1} ms; partition: us {during}, elsewhere {elsewhere}, after {after}, charged back {charged}",
        exact[exact.len() / 2]
    );
    stop(w).await;
}

/// Stops every replica (SIGTERM: they give their slices back).
async fn stop(w: World) {
    for r in w.regions {
        for s in r.replicas {
            s.signal("-TERM");
            let (status, _) = s.wait().await;
            assert!(status.success(), "{}: {status}", r.name);
        }
    }
}
