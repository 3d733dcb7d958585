//! End-to-end with a real Redis: replicas share exact counts, simulate
//! agrees with the memory store, and a dead Redis is handled by policy.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use floodgate_testkit::redis::{RedisCluster, RedisServer};

fn store_yaml(store: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nrules:\n  - name: shared\n    key: global\n    limits:\n      - {{ algorithm: fixed_window, limit: 50, window: 1h }}\nstore:\n{store}"
    )
}

/// Four servers, one store, 16 concurrent clients, 200 requests at one key:
/// exactly the limit is allowed in total.
async fn replicas_share_exact_counts(store: String) {
    let yaml = store_yaml(&store);
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(start(&yaml).await);
    }
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("http://{}/resource", s.public))
        .collect();
    let mut tasks = Vec::new();
    for c in 0..16 {
        let urls = urls.clone();
        tasks.push(tokio::spawn(async move {
            let mut allowed = 0;
            let mut denied = 0;
            for i in 0..13 {
                match get(&urls[(c + i) % 4], &[]).await.status.as_u16() {
                    200 => allowed += 1,
                    429 => denied += 1,
                    other => panic!("unexpected status {other}"),
                }
            }
            (allowed, denied)
        }));
    }
    let (mut allowed, mut denied) = (0, 0);
    for t in tasks {
        let (a, d) = t.await.unwrap();
        allowed += a;
        denied += d;
    }
    assert_eq!(allowed, 50, "exactly the limit across four replicas");
    assert_eq!(denied, 16 * 13 - 50);
    for s in servers {
        s.running.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_replicas_on_one_redis_allow_exactly_the_limit() {
    let redis = RedisServer::start();
    let store = format!(
        "  kind: redis\n  url: {}\n  time: caller\n  timeout: 2s\n",
        redis.url()
    );
    replicas_share_exact_counts(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_replicas_on_a_cluster_allow_exactly_the_limit() {
    let cluster = RedisCluster::start();
    let nodes: Vec<String> = cluster.urls();
    let store = format!(
        "  kind: redis_cluster\n  nodes: [{}]\n  time: caller\n  timeout: 2s\n",
        nodes.join(", ")
    );
    replicas_share_exact_counts(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_redis_is_decided_by_policy_and_comes_back() {
    let mut redis = RedisServer::start();
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nrules:\n  - name: closed\n    match: {{ path: /resource }}\n    on_store_failure: fail_closed\n    limits:\n      - {{ algorithm: fixed_window, limit: 100, window: 1h }}\n  - name: local\n    match: {{ path: /api/v1/data }}\n    limits:\n      - {{ algorithm: fixed_window, limit: 3, window: 1h }}\nstore:\n  kind: redis\n  url: {}\n  time: caller\n  timeout: 50ms\n  on_failure: local\n  breaker: {{ failures: 3, cooldown: 200ms }}\n",
        redis.url()
    );
    let s = start(&yaml).await;
    let res = format!("http://{}/resource", s.public);
    let data = format!("http://{}/api/v1/data", s.public);
    assert_eq!(get(&res, &[]).await.status, 200);
    assert_eq!(get(&data, &[]).await.status, 200);

    redis.kill();
    for _ in 0..5 {
        let r = get(&res, &[]).await;
        assert_eq!(r.status, 503, "fail_closed denies without Redis");
        assert_eq!(r.json()["code"], "limiter_unavailable");
    }
    // `local`: decided on the local store, which starts empty.
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(get(&data, &[]).await.status.as_u16());
        }
        v
    };
    assert_eq!(statuses, [200, 200, 200, 429]);
    let m = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let text = String::from_utf8_lossy(&m.body).to_string();
    assert!(text.contains("floodgate_store_breaker_open 1"), "{text}");
    assert!(text.contains("floodgate_store_breakers_open 1"), "{text}");
    assert!(
        text.contains("floodgate_degraded_decisions_total{mode=\"fail_closed\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("floodgate_degraded_decisions_total{mode=\"local\"} 4"),
        "{text}"
    );

    redis.restart();
    let mut back = false;
    // Each turn: a cool-down passes on the server's clock, so the breaker
    // lets a probe through; the real wait is only for Redis to come up.
    for _ in 0..100 {
        s.clock.advance(Duration::from_millis(250));
        tokio::time::sleep(Duration::from_millis(50)).await;
        if get(&res, &[]).await.status == 200 {
            back = true;
            break;
        }
    }
    assert!(back, "back on Redis without a restart");
    let m = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let text = String::from_utf8_lossy(&m.body);
    assert!(text.contains("floodgate_store_breaker_open 0"), "{text}");
    assert!(text.contains("floodgate_store_breakers_open 0"), "{text}");
    s.running.shutdown().await.unwrap();
}

#[test]
fn simulate_on_redis_matches_memory() {
    let redis = RedisServer::start();
    let cluster = RedisCluster::start();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = |store: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
            .current_dir(&root)
            .args([
                "simulate",
                "--config",
                "examples/floodgate.yaml",
                "--trace",
                "examples/trace.jsonl",
                "--store",
                store,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let memory = run("memory");
    assert!(memory.lines().count() > 200);
    assert_eq!(run(&redis.url()), memory, "standalone Redis");
    let nodes: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| u.trim_start_matches("redis://").to_string())
        .collect();
    assert_eq!(
        run(&format!("redis-cluster://{}", nodes.join(","))),
        memory,
        "Redis Cluster"
    );
}

/// The local-mode counter of `/metrics`.
async fn degraded_local(admin: std::net::SocketAddr) -> u64 {
    let m = get(&format!("http://{admin}/metrics"), &[]).await;
    let text = String::from_utf8_lossy(&m.body).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("floodgate_degraded_decisions_total{mode=\"local\"} "))
        .unwrap_or_else(|| panic!("no local counter in {text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn starts_without_redis_and_moves_to_it_when_it_answers() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.kill();
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nrules:\n  - name: r\n    match: {{ path: /resource }}\n    limits:\n      - {{ algorithm: fixed_window, limit: 3, window: 1h }}\nstore:\n  kind: redis\n  url: {url}\n  time: caller\n  timeout: 50ms\n  connect_timeout: 200ms\n  on_failure: local\n  breaker: {{ failures: 2, cooldown: 100ms }}\n"
    );
    let s = start(&yaml).await;
    let res = format!("http://{}/resource", s.public);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&res, &[]).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429], "decided locally meanwhile");
    assert_eq!(degraded_local(s.admin).await, 4);

    redis.restart();
    let mut on_redis = false;
    for _ in 0..100 {
        // A reconnect attempt is due once per cool-down of the server's
        // clock; the real wait is for the attempt to finish.
        s.clock.advance(Duration::from_millis(250));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = degraded_local(s.admin).await;
        let status = get(&res, &[]).await.status;
        if degraded_local(s.admin).await == before {
            // Decided on Redis, which came back empty: the 3 admitted
            // locally were charged to it first, so the client is still
            // limited.
            assert_eq!(status, 429);
            on_redis = true;
            break;
        }
    }
    assert!(on_redis, "moved to Redis once it answered");
    assert_eq!(
        metric(
            &s,
            "floodgate_store_outage_units_total{outcome=\"charged\"}"
        )
        .await,
        3
    );
    s.running.shutdown().await.unwrap();
}
