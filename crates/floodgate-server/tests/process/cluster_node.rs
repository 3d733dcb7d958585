//! One Redis Cluster primary killed under the real binary (3 primaries +
//! 3 replicas, 600 requests/s on keys of every shard, `fail_open`): only
//! some keys go to the failure policy (those of the dead node's slots),
//! the log says once that the node failed, and the redis client's own
//! warnings come through at most 5 a second per target, with summaries of
//! the rest.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use floodgate_testkit::ReplicatedCluster;

use super::common::*;
use super::kit::*;

/// The hourly limit: a decision on Redis leaves less than this remaining,
/// a `fail_open` one all of it.
const LIMIT: u64 = 1_000_000;

/// Keys (API keys) sent each round, and the rounds' pace (600/s).
const KEYS: usize = 30;
const ROUND: Duration = Duration::from_millis(50);

fn config(nodes: &[String]) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nlog: {{ format: json }}\nstore: {{ kind: redis_cluster, nodes: [{}], timeout: 500ms, on_failure: fail_open, breaker: {{ failures: 3, cooldown: 1s }} }}\nrules:\n  - name: api\n    key: api_key\n    limits:\n      - {{ name: hourly, algorithm: fixed_window, limit: {LIMIT}, window: 1h }}\n",
        nodes.join(", ")
    )
}

/// One round: every key once, at the same time; (key, decided on Redis).
async fn round(url: &Arc<String>) -> Vec<(usize, bool)> {
    let mut set = tokio::task::JoinSet::new();
    for k in 0..KEYS {
        let url = Arc::clone(url);
        set.spawn(async move {
            let key = format!("cluster-node-key-{k:02}");
            let r = get(&url, &[("x-api-key", &key)]).await;
            let remaining: Option<u64> = r
                .header("x-ratelimit-remaining")
                .and_then(|v| v.parse().ok());
            (k, r.status == 200 && remaining.is_some_and(|n| n < LIMIT))
        });
    }
    let mut out = Vec::with_capacity(KEYS);
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_primary_is_logged_once_and_the_redis_client_s_flood_summarised() {
    let mut cluster = ReplicatedCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(&cluster.urls())).unwrap();
    let s = spawn_serve(&path);
    let url = Arc::new(format!("http://{}/resource", s.public));
    assert!(
        round(&url).await.iter().all(|(_, on_redis)| *on_redis),
        "every key decided on Redis before the kill"
    );

    let victim = cluster.primaries()[0];
    let victim_port = cluster.nodes()[victim].port();
    cluster.kill(victim);
    // Ten seconds of traffic: the failover and some time after it.
    let mut degraded_keys: HashSet<usize> = HashSet::new();
    let (mut total, mut on_redis) = (0u64, 0u64);
    let mut next = tokio::time::Instant::now();
    for _ in 0..(10_000 / ROUND.as_millis()) {
        for (k, r) in round(&url).await {
            total += 1;
            on_redis += u64::from(r);
            if !r {
                degraded_keys.insert(k);
            }
        }
        next += ROUND;
        tokio::time::sleep_until(next).await;
    }

    s.signal("-TERM");
    let (_, logs) = s.wait().await;
    let lines: Vec<serde_json::Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let target = |l: &serde_json::Value| l["target"].as_str().unwrap_or_default().to_string();
    let message = |l: &serde_json::Value| l["message"].as_str().unwrap_or_default().to_string();
    // The redis crate's lines written, per target and second.
    let mut per_second: HashMap<(String, String), u64> = HashMap::new();
    for l in lines.iter().filter(|l| target(l).starts_with("redis")) {
        let second = l["timestamp"].as_str().unwrap_or_default();
        let second = second.get(..19).unwrap_or(second).to_string();
        *per_second.entry((target(l), second)).or_default() += 1;
    }
    let written: u64 = per_second.values().sum();
    let summaries: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| target(l) == "floodgate::logs" && message(l).contains("messages in the last"))
        .collect();
    let suppressed: u64 = summaries
        .iter()
        .filter_map(|l| l["suppressed"].as_u64())
        .sum();
    let failing = lines
        .iter()
        .filter(|l| message(l).starts_with(&format!("redis node 127.0.0.1:{victim_port} failing")))
        .count();
    let back = lines
        .iter()
        .filter(|l| message(l).starts_with(&format!("redis node 127.0.0.1:{victim_port} back")))
        .count();
    eprintln!(
        "primary 127.0.0.1:{victim_port} killed: {on_redis}/{total} requests decided on Redis; \
         keys that went to the failure policy: {} of {KEYS}; redis client lines written: \
         {written}, suppressed: {suppressed} in {} summaries; node lines: {failing} failing, \
         {back} back",
        degraded_keys.len(),
        summaries.len()
    );
    for l in &summaries {
        eprintln!("{}", message(l));
    }
    assert!(
        !degraded_keys.is_empty() && degraded_keys.len() < KEYS,
        "only the dead node's keys degrade: {degraded_keys:?}"
    );
    assert_eq!(failing, 1, "one line for the node's failure: {logs:?}");
    assert!(back <= 1, "at most one line for its return: {logs:?}");
    // Five a window of one second per target; windows start at a
    // target's first line, not on the clock's second: at most ten in one.
    let most = per_second.values().max().copied().unwrap_or(0);
    assert!(most <= 10, "at most 5 a second per target: {per_second:?}");
}
