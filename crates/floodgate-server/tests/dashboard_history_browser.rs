//! The change history while Redis is down, in a real browser (headless
//! Chromium over chromedriver): the page keeps the last history read,
//! with the reason it cannot be read now and when it was read, as the
//! fleet section does; `/dashboard/data` gives the same.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{browser, chromedriver, console_errors, text, wait_text};
use common::*;
use floodgate_testkit::redis::RedisServer;

fn redis_yaml(redis: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n  dashboard: {{ replica: solo, publish_every: 100ms, replica_timeout: 1s }}\nrules:\n  - name: per-ip\n    key: ip\n    limits:\n      - {{ algorithm: fixed_window, limit: 10, window: 1h }}\nstore:\n  kind: redis\n  url: {redis}\n  time: caller\n  timeout: 1s\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_history_is_the_last_read_with_the_reason() {
    let mut redis = RedisServer::start();
    let s = start(&redis_yaml(&redis.url())).await;
    let data_url = format!("http://{}/dashboard/data", s.admin);
    let p = get(&data_url, &[]).await.json()["policy"].clone();
    assert_eq!(p["history"][0]["summary"], "initial policy", "{p:#}");
    assert!(p["history_error"].is_null());
    assert_eq!(p["history_read"], T0 / 1_000_000);

    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&format!("http://{}/dashboard", s.admin))
        .await
        .unwrap();
    let first = "#history tbody tr:first-child td:nth-child(4)";
    wait_text(&c, first, "initial policy").await;
    assert_eq!(text(&c, "#history-error").await, "");

    redis.kill();
    s.clock.advance(Duration::from_secs(5));
    let ok = wait_until(Duration::from_secs(15), || async {
        text(&c, "#history-error")
            .await
            .starts_with("The change history cannot be read now (")
    })
    .await;
    assert!(ok, "no history error: {}", text(&c, "#history-error").await);
    let shown = text(&c, "#history-error").await;
    assert!(
        shown.contains("Redis") && shown.ends_with("shown as read at 2025-11-25 00:00:00."),
        "{shown}"
    );
    assert_eq!(
        text(&c, first).await,
        "initial policy",
        "the last read stays"
    );
    let p = get(&data_url, &[]).await.json()["policy"].clone();
    assert!(
        p["history_error"]
            .as_str()
            .unwrap()
            .starts_with("the history cannot be read: Redis"),
        "{p:#}"
    );
    assert_eq!(p["history_read"], T0 / 1_000_000);
    assert_eq!(p["history"][0]["summary"], "initial policy");
    let errors = console_errors(&c, &driver).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    c.close().await.unwrap();
    s.running.shutdown().await.unwrap();
}
