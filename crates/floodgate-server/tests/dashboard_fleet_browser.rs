//! The fleet view in a real browser: two replicas on one real Redis; the
//! first one's dashboard lists both as alive with their own counts and,
//! once the second stops and the first's clock has moved past the
//! replica timeout, shows it gone; replicas in two regions listed under a
//! row per region. No console errors.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{browser, chromedriver, console_errors, text, wait_text};
use common::*;
use fantoccini::Locator;
use floodgate_testkit::redis::RedisServer;

fn yaml(name: &str, redis: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n  dashboard: {{ replica: {name}, publish_every: 100ms, replica_timeout: 1s }}\nrules:\n  - name: per-ip\n    match: {{ path: /api/v1/data }}\n    key: ip\n    limits:\n      - {{ algorithm: fixed_window, limit: 5, window: 1h }}\nstore:\n  kind: redis\n  url: {redis}\n  time: caller\n  timeout: 2s\n"
    )
}

fn cell(replica: &str, n: usize) -> String {
    format!("#fleet tbody tr[data-replica=\"{replica}\"] td:nth-child({n})")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_table_shows_every_replica_and_who_is_gone() {
    let redis = RedisServer::start();
    let a = start(&yaml("edge-a", &redis.url())).await;
    let b = start(&yaml("edge-b", &redis.url())).await;
    // 3 requests to a, 7 to b, from one address: 5 allowed in all.
    for (s, n) in [(&a, 3), (&b, 7)] {
        for _ in 0..n {
            get(&format!("http://{}/api/v1/data", s.public), &[]).await;
        }
    }

    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    // A loopback admin listener without tokens: the dashboard is open.
    c.goto(&format!("http://{}/dashboard", a.admin))
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("fleet")).await.unwrap();
    wait_text(&c, &cell("edge-b", 2), "alive").await;
    wait_text(&c, &cell("edge-a", 1), "edge-a (this one)").await;
    wait_text(&c, &cell("edge-a", 5), "3").await;
    wait_text(&c, &cell("edge-b", 5), "2").await;
    wait_text(&c, &cell("edge-b", 6), "5").await;
    wait_text(&c, "#fleet-rules tbody tr:first-child td.limited", "5").await;
    wait_text(
        &c,
        "#fleet-top-limited tbody tr:first-child td.identity",
        "ip 127.0.0.1",
    )
    .await;
    assert!(text(&c, "#fleet-summary")
        .await
        .starts_with("(2 alive, 0 gone"));

    b.running.shutdown().await.unwrap();
    a.clock.advance(Duration::from_secs(2));
    wait_text(&c, &cell("edge-b", 2), "gone").await;
    wait_text(&c, &cell("edge-a", 2), "alive").await;
    assert!(text(&c, "#fleet-summary")
        .await
        .starts_with("(1 alive, 1 gone"));

    let shot = c.screenshot().await.unwrap();
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-fleet.png");
    std::fs::write(&path, &shot).unwrap();
    let errors = console_errors(&c, &driver).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    c.close().await.unwrap();
    a.running.shutdown().await.unwrap();
}

/// Replicas in two regions (each on its own Redis) share one fleet view on
/// the global store: the table lists each region under a row naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_table_groups_replicas_by_region() {
    let (us_redis, eu_redis, global) = (
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    );
    let in_region = |name: &str, region: &str, redis: &str| {
        format!(
            "{}region: {{ name: {region}, regions: [eu, us] }}\nglobal_store: {{ kind: redis, url: {}, time: caller }}\n",
            yaml(name, redis),
            global.url()
        )
    };
    let a = start(&in_region("edge-eu", "eu", &eu_redis.url())).await;
    let b = start(&in_region("edge-us", "us", &us_redis.url())).await;

    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&format!("http://{}/dashboard", a.admin))
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("fleet")).await.unwrap();
    wait_text(
        &c,
        "#fleet tbody tr.region[data-region=\"eu\"] th",
        "Region eu: 1 alive, 0 gone",
    )
    .await;
    wait_text(
        &c,
        "#fleet tbody tr.region[data-region=\"us\"] th",
        "Region us: 1 alive, 0 gone",
    )
    .await;
    // In order: eu's row, its replica, us's row, its replica.
    let rows = c.find_all(Locator::Css("#fleet tbody tr")).await.unwrap();
    let mut order = Vec::new();
    for r in rows {
        let region = r.attr("data-region").await.unwrap();
        let replica = r.attr("data-replica").await.unwrap();
        order.push((region, replica));
    }
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        order,
        [
            (s("eu"), None),
            (s("eu"), s("edge-eu")),
            (s("us"), None),
            (s("us"), s("edge-us")),
        ]
    );
    let errors = console_errors(&c, &driver).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    c.close().await.unwrap();
    a.running.shutdown().await.unwrap();
    b.running.shutdown().await.unwrap();
}
