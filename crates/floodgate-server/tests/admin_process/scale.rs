//! The control plane at the scale of a real API: 12,000 clients imported
//! with `floodgate admin clients import` into three replicas on one real
//! Redis, every replica enforcing every client's tier, the control plane's
//! Redis memory, one client's change reaching every replica, and `admin
//! get` / `apply` round-tripping the policy. The times are measured and
//! printed (docs/benchmarks.md has them), not asserted: the waits have
//! deadlines.

use std::process::Command;
use std::time::{Duration, Instant};

use floodgate_testkit::redis::RedisServer;
use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::common::*;
use super::proc::*;

const CLIENTS: usize = 12_000;

/// Three tiers, each with its own limit: free 100, pro 400, enterprise
/// 1000 an hour.
fn tiered_config(url: &str) -> String {
    config(
        100,
        &format!("store: {{ kind: redis, url: {url}, on_failure: local }}\n"),
    )
    .replace("tiers: [free, pro]", "tiers: [free, pro, enterprise]")
    .replace(
        "      pro: [{ algorithm: fixed_window, limit: 400, window: 1h }]\n",
        "      pro: [{ algorithm: fixed_window, limit: 400, window: 1h }]\n      enterprise: [{ algorithm: fixed_window, limit: 1000, window: 1h }]\n",
    )
}

fn key(i: usize) -> String {
    format!("scale-client-key-{i:06}")
}

fn tier(i: usize) -> (&'static str, &'static str) {
    match i % 10 {
        0 => ("enterprise", "1000"),
        1..=3 => ("pro", "400"),
        _ => ("free", "100"),
    }
}

/// `floodgate admin --url <admin> args…`; its stdout.
fn admin_cli(admin: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .arg("admin")
        .args(args)
        .env("FLOODGATE_ADMIN_URL", admin)
        .env_remove("FLOODGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn total(p: &Proc) -> u64 {
    get(&format!("{}/v1/clients?limit=1", p.admin), &[])
        .await
        .json()["total"]
        .as_u64()
        .unwrap_or(0)
}

/// The clients of `p` whose requests do not carry their tier's limit.
async fn misplaced(p: &Proc) -> Vec<usize> {
    stream::iter(0..CLIENTS)
        .map(|i| async move {
            let want = tier(i).1;
            (p.limit(&key(i)).await.as_deref() != Some(want)).then_some(i)
        })
        .buffer_unordered(32)
        .filter_map(|x| async move { x })
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_thousand_clients_reach_three_replicas() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &tiered_config(&redis.url()));
    let (a, b, c) = (Proc::spawn(&path), Proc::spawn(&path), Proc::spawn(&path));

    let mut csv = String::from("api_key,tier,name\n");
    for i in 0..CLIENTS {
        csv.push_str(&format!("{},{},customer {i}\n", key(i), tier(i).0));
    }
    let file = dir.path().join("clients.csv");
    std::fs::write(&file, csv).unwrap();
    let file = file.to_str().unwrap();

    // Imported through A; B and C follow.
    let started = Instant::now();
    let out = admin_cli(&a.admin, &["clients", "import", file]);
    let imported = started.elapsed();
    assert_eq!(
        out,
        format!("imported {CLIENTS} clients: {CLIENTS} new, 0 changed, 0 as they were\n")
    );
    for (name, p) in [("B", &b), ("C", &c)] {
        assert!(
            wait_until(Duration::from_secs(30), || async {
                total(p).await == CLIENTS as u64
            })
            .await,
            "{name} has {} clients",
            total(p).await
        );
    }
    let everywhere = started.elapsed();
    eprintln!(
        "12,000 clients: imported in {imported:?}, on all three replicas after {everywhere:?}"
    );
    // No policy version for clients.
    for p in [&a, &b, &c] {
        assert_eq!(p.policy_etag().await, "\"1\"");
    }

    // Imported again: nothing changes.
    let out = admin_cli(&a.admin, &["clients", "import", file]);
    assert_eq!(
        out,
        format!("imported {CLIENTS} clients: 0 new, 0 changed, {CLIENTS} as they were\n")
    );

    // Every replica enforces every client's tier.
    for (name, p) in [("A", &a), ("B", &b), ("C", &c)] {
        let wrong = misplaced(p).await;
        assert!(
            wrong.is_empty(),
            "{name}: {} clients with the wrong limit, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
    }

    // The control plane's keys in Redis.
    let mut bytes = 0u64;
    for k in [
        "{policy}:doc",
        "{policy}:clients",
        "{policy}:clients_log",
        "{policy}:clients_history",
        "{policy}:history",
    ] {
        let full = format!("fg:{k}");
        let n = redis.cli(&["MEMORY", "USAGE", &full]);
        bytes += n.trim().parse::<u64>().unwrap_or(0);
    }
    eprintln!("control plane in Redis: {bytes} bytes for {CLIENTS} clients");
    assert!(bytes > 0 && bytes < 10 << 20, "{bytes} bytes");

    // Searched by name: "customer 42", "customer 420"…
    let found = get(
        &format!("{}/v1/clients?q=CUSTOMER%2042&limit=5", c.admin),
        &[],
    )
    .await
    .json();
    assert_eq!(found["total"], 111, "{found}");
    assert_eq!(found["clients"].as_array().map(Vec::len), Some(5));
    assert!(found["next"].is_string(), "{found}");

    // One client's change reaches the other replicas.
    let fp = floodgate_core::policy::fingerprint(&key(42));
    let started = Instant::now();
    let r = send(
        "PATCH",
        &format!("{}/v1/clients/{fp}", a.admin),
        &[],
        json!({"tier": "enterprise"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    for (name, p) in [("B", &b), ("C", &c)] {
        assert!(
            p.limit_becomes(&key(42), "1000", PROPAGATION).await,
            "{name} did not follow within 1 s: {:?}",
            p.limit(&key(42)).await
        );
    }
    eprintln!(
        "one client's change on every replica after {:?}",
        started.elapsed()
    );

    // The policy round-trips through `admin get` and `admin apply`,
    // clients untouched.
    let doc = admin_cli(&b.admin, &["get"]);
    assert!(!doc.contains("clients"), "{doc}");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, &doc).unwrap();
    let out = admin_cli(&b.admin, &["apply", "-f", policy.to_str().unwrap()]);
    assert!(out.contains("no change"), "{out}");
    assert_eq!(total(&c).await, CLIENTS as u64);

    for p in [a, b, c] {
        p.stop().await;
    }
}
