//! The dashboard's fleet view on a real Redis: three replicas publish
//! their reports, any one's `/dashboard/data` shows all three with their
//! own counts and the fleet's sum, and a stopped replica is shown gone
//! once it has been silent past the replica timeout (the replicas'
//! clocks are moved, never waited for).

mod common;

use std::time::Duration;

use common::*;
use floodgate_testkit::redis::RedisServer;
use serde_json::Value;

fn yaml(name: &str, redis: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n  dashboard: {{ replica: {name}, publish_every: 100ms, replica_timeout: 1s }}\nrules:\n  - name: per-ip\n    match: {{ path: /api/v1/data }}\n    key: ip\n    limits:\n      - {{ algorithm: fixed_window, limit: 10, window: 1h }}\nstore:\n  kind: redis\n  url: {redis}\n  time: caller\n  timeout: 2s\n"
    )
}

async fn data(s: &Server) -> Value {
    let r = get(&format!("http://{}/dashboard/data", s.admin), &[]).await;
    assert_eq!(r.status, 200);
    r.json()
}

/// The fleet as `s` shows it, once `ok` holds of it (polled, 10 s).
async fn fleet_when(s: &Server, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        last = data(s).await["fleet"].clone();
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the fleet never showed {what}: {last:#}");
}

fn replica<'a>(fleet: &'a Value, name: &str) -> &'a Value {
    fleet["replicas"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["replica"] == name))
        .unwrap_or_else(|| panic!("no replica {name} in {fleet:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_shows_the_whole_fleet_and_who_is_gone() {
    let redis = RedisServer::start();
    let mut servers = Vec::new();
    for name in ["r1", "r2", "r3"] {
        servers.push(start(&yaml(name, &redis.url())).await);
    }
    // 4, 6 and 8 requests from one address: 18 in all, 10 allowed by the
    // shared limit.
    for (s, n) in servers.iter().zip([4, 6, 8]) {
        let url = format!("http://{}/api/v1/data", s.public);
        for _ in 0..n {
            let status = get(&url, &[]).await.status.as_u16();
            assert!(status == 200 || status == 429, "{status}");
        }
    }
    let counted = |f: &Value| {
        f["alive"] == 3
            && f["totals"]["allowed"].as_u64().unwrap_or(0)
                + f["totals"]["limited"].as_u64().unwrap_or(0)
                == 18
    };
    for s in &servers {
        let f = fleet_when(s, "three replicas and 18 decisions", counted).await;
        assert_eq!(f["totals"]["allowed"], 10, "exact across replicas: {f:#}");
        assert_eq!(f["totals"]["limited"], 8);
        assert_eq!(f["gone"], 0);
        assert_eq!(f["rules"][0]["rule"], "per-ip");
        assert_eq!(f["rules"][0]["totals"]["limited"], 8);
        for (name, n) in [("r1", 4), ("r2", 6), ("r3", 8)] {
            let r = replica(&f, name);
            assert_eq!(r["alive"], true);
            let t = &r["report"]["totals"];
            assert_eq!(
                t["allowed"].as_u64().unwrap() + t["limited"].as_u64().unwrap(),
                n,
                "{name}: {r:#}"
            );
            assert_eq!(r["report"]["store"]["kind"], "redis");
            assert_eq!(r["report"]["last_minute"], r["report"]["totals"]);
        }
        // The fleet's most limited identity: the one address, all 8.
        assert_eq!(f["top_limited"][0]["identity"], "127.0.0.1");
        assert_eq!(f["top_limited"][0]["count"], 8);
    }
    let f = fleet_when(&servers[1], "r2 as itself", counted).await;
    let this: Vec<&str> = f["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["this"] == true)
        .filter_map(|r| r["replica"].as_str())
        .collect();
    assert_eq!(this, vec!["r2"]);

    // r3 stops; the others' clocks move past the timeout: r3 is gone, its
    // counts leave the fleet's sum, r1 and r2 stay alive.
    let r3 = servers.pop().unwrap();
    r3.running.shutdown().await.unwrap();
    for s in &servers {
        s.clock.advance(Duration::from_secs(2));
    }
    for s in &servers {
        let f = fleet_when(s, "r3 gone", |f| f["alive"] == 2 && f["gone"] == 1).await;
        assert_eq!(replica(&f, "r3")["alive"], false);
        assert!(replica(&f, "r3")["age_ms"].as_u64().unwrap() >= 2_000);
        assert_eq!(replica(&f, "r1")["alive"], true);
        // What r1 and r2 decided: 4 and 6.
        assert_eq!(
            f["totals"]["allowed"].as_u64().unwrap() + f["totals"]["limited"].as_u64().unwrap(),
            10
        );
        assert_eq!(f["replicas"][2]["replica"], "r3", "the gone come last");
    }
    for s in servers {
        s.running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_memory_store_has_no_fleet() {
    let s = start(BASE).await;
    let d = data(&s).await;
    assert!(d["fleet"].is_null(), "{d:#}");
    assert!(d["analytics"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_fleet_says_why_and_comes_back() {
    let mut redis = RedisServer::start();
    let s = start(&yaml("solo", &redis.url())).await;
    fleet_when(&s, "the replica alive", |f| {
        f["alive"] == 1 && f["error"].is_null()
    })
    .await;
    redis.kill();
    // The dashboard still answers, with the last read and the reason.
    let f = fleet_when(&s, "an error", |f| f["error"].is_string()).await;
    assert!(f["error"].as_str().unwrap().starts_with("Redis"), "{f:#}");
    assert_eq!(replica(&f, "solo")["this"], true, "the last read is kept");
    assert!(data(&s).await["analytics"].is_object());
    // So is the change history's, with the reason it cannot be read now.
    let p = data(&s).await["policy"].clone();
    assert_eq!(p["history"][0]["summary"], "initial policy", "{p:#}");
    let why = p["history_error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("the history cannot be read: Redis"),
        "{p:#}"
    );
    assert_eq!(p["history_read"], T0 / 1_000_000);
    redis.restart();
    fleet_when(&s, "the fleet back", |f| {
        f["alive"] == 1 && f["error"].is_null()
    })
    .await;
    s.running.shutdown().await.unwrap();
}

#[test]
fn the_fleet_options_are_accepted_at_their_bounds() {
    let ms = Duration::from_millis;
    for (every, timeout, want) in [
        ("100ms", "200ms", (ms(100), ms(200))),
        ("1m", "1h", (ms(60_000), ms(3_600_000))),
    ] {
        let y = format!(
            "admin:\n  dashboard: {{ replica: \"host-1.example:9090\", publish_every: {every}, replica_timeout: {timeout} }}\n"
        );
        let c = floodgate_server::config::Config::parse("t.yaml", &y)
            .unwrap_or_else(|e| panic!("{every} / {timeout}: {e}"));
        let d = &c.document.server.admin.dashboard;
        assert_eq!(d.replica.as_deref(), Some("host-1.example:9090"));
        assert_eq!((d.publish_every(), d.replica_timeout()), want);
    }
    let c = floodgate_server::config::Config::parse("t.yaml", "rules: []\n").unwrap();
    let d = &c.document.server.admin.dashboard;
    assert_eq!(
        (d.publish_every(), d.replica_timeout()),
        (Duration::from_secs(2), Duration::from_secs(10))
    );
}
