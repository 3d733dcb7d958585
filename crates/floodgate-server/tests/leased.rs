//! Leased limits end to end: four replicas on one real Redis (and on a
//! real three-master Redis Cluster) decide from slices under a zipf load
//! over many users with a global limit, then one hot user at 20 times its
//! limit. Every user and the global limit admit at most their limit
//! (fixed windows: zero over-admission), and at least the limit less what
//! the replicas hold unused; Redis sees far fewer calls than requests.

mod common;

use std::sync::Arc;

use common::*;
use floodgate_testkit::redis::{RedisCluster, RedisServer};

const PER_USER: u64 = 20;
const GLOBAL: u64 = 2_000;

/// A slow call (a busy machine) must not admit by the failure policy:
/// what is tested is what the slices admit. Redis decides at the
/// servers' (manual) time: on Redis' own clock, an hour's boundary
/// crossed during the test would start the windows afresh.
const CALM: &str = "  time: caller\n  timeout: 2s\n  on_failure: fail_closed\n";

fn yaml(store: &str) -> String {
    format!(
        "listen: 127.0.0.1:0
admin: {{ listen: 127.0.0.1:0 }}
rules:
  - name: per-user
    key: user
    sync: leased
    limits:
      - {{ algorithm: fixed_window, limit: {PER_USER}, window: 1h }}
global:
  - {{ algorithm: fixed_window, limit: {GLOBAL}, window: 1h, sync: {{ mode: leased, lease: 1s, max_share: 10% }} }}
store:
{store}"
    )
}

/// A small deterministic generator (an LCG) and zipf(1) over `n` users.
struct Zipf {
    state: u64,
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, seed: u64) -> Zipf {
        let mut acc = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                acc += 1.0 / k as f64;
                acc
            })
            .collect();
        Zipf {
            state: seed,
            cumulative,
        }
    }

    fn next(&mut self) -> usize {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (self.state >> 11) as f64 / (1u64 << 53) as f64;
        let x = u * self.cumulative.last().unwrap();
        self.cumulative.partition_point(|&c| c < x)
    }
}

async fn check(admin: std::net::SocketAddr, user: &str) -> bool {
    let body = format!(r#"{{"attributes":{{"path":"/api","user":"{user}"}}}}"#);
    let r = send(
        "POST",
        &format!("http://{admin}/v1/check"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    match r.status.as_u16() {
        200 => true,
        429 => false,
        s => panic!("unexpected {s}: {}", String::from_utf8_lossy(&r.body)),
    }
}

/// Sends `requests` (user per request) from 32 tasks spread over the
/// replicas; returns how many each user was admitted.
async fn run(servers: &[Server], requests: Vec<String>) -> std::collections::HashMap<String, u64> {
    let admins: Arc<Vec<_>> = Arc::new(servers.iter().map(|s| s.admin).collect());
    let requests = Arc::new(requests);
    let mut tasks = Vec::new();
    for t in 0..32usize {
        let (admins, requests) = (admins.clone(), requests.clone());
        tasks.push(tokio::spawn(async move {
            let mut admitted = Vec::new();
            for (i, user) in requests.iter().enumerate().skip(t).step_by(32) {
                if check(admins[i % admins.len()], user).await {
                    admitted.push(user.clone());
                }
            }
            admitted
        }));
    }
    let mut out = std::collections::HashMap::new();
    for t in tasks {
        for u in t.await.unwrap() {
            *out.entry(u).or_insert(0) += 1;
        }
    }
    out
}

async fn sum(servers: &[Server], series: &str) -> u64 {
    let mut total = 0;
    for s in servers {
        total += metric(s, series).await;
    }
    total
}

async fn leased_replicas_stay_within_the_bounds(store: String) {
    let yaml = yaml(&store);
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(start(&yaml).await);
    }
    // Zipf over 12,000 users, 1,600 requests: the busiest users pass their
    // limit.
    let mut z = Zipf::new(12_000, 7);
    let requests: Vec<String> = (0..1_600).map(|_| format!("u{}", z.next())).collect();
    let mut asked = std::collections::HashMap::new();
    for u in &requests {
        *asked.entry(u.clone()).or_insert(0u64) += 1;
    }
    let admitted = run(&servers, requests).await;
    let total: u64 = admitted.values().sum();
    for (u, n) in &admitted {
        assert!(*n <= PER_USER, "{u}: {n} admitted, limit {PER_USER}");
    }
    let held = sum(&servers, "floodgate_leased_held_units").await;
    // Under: what no limit refused, less what the replicas hold unused.
    let could: u64 = asked.values().map(|&n| n.min(PER_USER)).sum();
    assert!(total <= could);
    assert!(
        total + held >= could,
        "{total} admitted + {held} held < {could}"
    );
    // Most of these users are seen once or twice: their first request
    // takes a slice (a call, as exact mode makes); the busy ones decide
    // from slices and kept denials.
    let calls = sum(&servers, "floodgate_store_calls_total").await;
    assert!(calls < 1_600, "{calls} calls for 1,600 requests");

    // One hot user at 20 times its limit, from every replica at once.
    let before = sum(&servers, "floodgate_store_calls_total").await;
    let hot = run(&servers, vec!["hot".to_string(); 20 * PER_USER as usize]).await;
    let hot = hot.get("hot").copied().unwrap_or(0);
    let held = sum(&servers, "floodgate_leased_held_units").await;
    assert!(hot <= PER_USER, "hot: {hot}");
    assert!(hot + held >= PER_USER, "hot: {hot} + {held} held");

    // Past its limit, the hot user is denied from kept denials: Redis
    // sees a few calls per replica, not one per request.
    let calls = sum(&servers, "floodgate_store_calls_total").await - before;
    assert!(calls < 120, "{calls} calls for 400 requests of one user");

    // 1,200 users once each: the global limit runs out. Over the whole
    // run, at most it was admitted, and at least it less what is held.
    let fresh: Vec<String> = (0..1_200).map(|i| format!("g{i}")).collect();
    let last: u64 = run(&servers, fresh).await.values().sum();
    let all = total + hot + last;
    let held = sum(&servers, "floodgate_leased_held_units").await;
    assert!(all <= GLOBAL, "{all} admitted, global limit {GLOBAL}");
    assert!(
        all + held >= GLOBAL,
        "{all} admitted + {held} held < {GLOBAL}"
    );
    for s in servers {
        s.running.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_replicas_on_one_redis() {
    let redis = RedisServer::start();
    leased_replicas_stay_within_the_bounds(format!(
        "  kind: redis\n  url: \"{}\"\n{CALM}",
        redis.url()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_replicas_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let nodes = cluster
        .urls()
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    leased_replicas_stay_within_the_bounds(format!(
        "  kind: redis_cluster\n  nodes: [{nodes}]\n{CALM}"
    ))
    .await;
}
