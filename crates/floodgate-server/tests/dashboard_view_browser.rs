//! What a person reads on the dashboard, in a real browser (headless
//! Chromium over chromedriver) against the real server on a manual
//! clock: every algorithm's parameters and each rule's tier limits in the
//! live policy; charts with axes, time labels (UTC), a range of 5
//! minutes, 15 minutes or an hour, and the counts of the second under
//! the pointer; the rule of each identity in the top lists and, near a
//! limit, the highest share of it used.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{browser, chromedriver, console_errors, text, wait_text};
use common::*;
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::{Client, Locator};

const YAML: &str = r#"
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
tiers: [free, pro]
default_tier: free
clients:
  - { api_key: key-pro-1, tier: pro, name: acme }
rules:
  - name: per-ip
    match: { path: /api/v1/data }
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 10, window: 1m, soft: 80% }
  - name: buckets
    match: { path: /resource }
    key: ip
    limits:
      - { algorithm: token_bucket, capacity: 20, refill: 5/s }
      - { algorithm: leaky_bucket, capacity: 30, rate: 2/s }
      - { algorithm: gcra, rate: 10/s, burst: 5 }
      - { algorithm: sliding_window_log, limit: 100, window: 1h }
      - { algorithm: sliding_window_counter, limit: 1000, window: 1d }
    tiers:
      pro:
        - { name: pro-burst, algorithm: token_bucket, capacity: 200, refill: 50/s }
  - name: uploads
    match: { path: /upload }
    key: ip
    limits:
      - { algorithm: concurrency, limit: 2 }
      - { algorithm: leaky_bucket, capacity: 4, rate: 1/s, mode: shaping }
"#;

fn policy_cell(rule: &str, class: &str) -> String {
    format!("#policy-rules tbody tr[data-rule=\"{rule}\"] td.{class}")
}

/// Moves the pointer over `rule`'s chart at `frac` of its time axis
/// (0 the oldest second, 1 the newest). The chart's box stays while its
/// SVG is drawn again every second: the pointer moves relative to the box.
async fn point_at(c: &Client, rule: &str, frac: f64) {
    let chart = format!(".chart[data-rule=\"{rule}\"]");
    for _ in 0..20 {
        let rects = async {
            let svg = c.find(Locator::Css(&format!("{chart} svg"))).await?;
            let (sx, sy, sw, sh) = svg.rectangle().await?;
            let the_box = c.find(Locator::Css(&chart)).await?;
            let (bx, by, bw, bh) = the_box.rectangle().await?;
            Ok::<_, fantoccini::error::CmdError>((the_box, (sx, sy, sw, sh), (bx, by, bw, bh)))
        };
        let Ok((the_box, (sx, sy, sw, sh), (bx, by, bw, bh))) = rects.await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // The plot runs from 56 to 872 of the chart's 900 units.
        let x = sx + sw * (56.0 + frac * 816.0) / 900.0 - (bx + bw / 2.0);
        let y = sy + sh / 2.0 - (by + bh / 2.0);
        let mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
            element: the_box,
            duration: None,
            x: x.round(),
            y: y.round(),
        });
        c.perform_actions(mouse).await.unwrap();
        return;
    }
    panic!("no chart for {rule}");
}

/// The texts of the elements `css` finds, read again when the chart was
/// drawn again meanwhile.
async fn labels(c: &Client, css: &str) -> Vec<String> {
    'again: for _ in 0..20 {
        let mut out = Vec::new();
        for e in c.find_all(Locator::Css(css)).await.unwrap() {
            match e.text().await {
                Ok(t) => out.push(t),
                Err(_) => continue 'again,
            }
        }
        return out;
    }
    panic!("{css} kept changing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_limits_charts_and_top_lists() {
    let s = start(YAML).await;
    let url = format!("http://{}/api/v1/data", s.public);
    // acme: 9 of the address's 10 (near at 8 and 9: 80% and 90%); then
    // without a key: the 10th (100%) and 2 limited.
    for _ in 0..9 {
        assert_eq!(get(&url, &[("x-api-key", "key-pro-1")]).await.status, 200);
    }
    for status in [200, 429, 429] {
        assert_eq!(get(&url, &[]).await.status, status);
    }
    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&format!("http://{}/dashboard", s.admin))
        .await
        .unwrap();

    // Every algorithm with its parameters; the tiers' limits.
    wait_text(
        &c,
        &policy_cell("per-ip", "limits"),
        "fixed window: 10 per 1m, soft 80%",
    )
    .await;
    let buckets = "token bucket: capacity 20, refill 5/s\nleaky bucket (policing): capacity 30, leak 2/s\nGCRA: rate 10/s, burst 5\nsliding window log: 100 per 1h\nsliding window counter: 1000 per 1d";
    assert_eq!(text(&c, &policy_cell("buckets", "limits")).await, buckets);
    assert_eq!(
        text(&c, &policy_cell("buckets", "tier-limits")).await,
        "pro: pro-burst: token bucket: capacity 200, refill 50/s"
    );
    assert_eq!(
        text(&c, &policy_cell("uploads", "limits")).await,
        "concurrency: 2 at once, lease 1m\nleaky bucket (shaping): capacity 4, leak 1/s"
    );
    assert_eq!(text(&c, &policy_cell("per-ip", "tier-limits")).await, "–");
    assert!(!text(&c, "#policy-rules").await.contains("undefined"));

    // The top lists: the rule that limited, the highest share used.
    let limited = "#top-limited tbody tr:first-child";
    wait_text(&c, &format!("{limited} td.identity"), "ip 127.0.0.1").await;
    assert_eq!(text(&c, &format!("{limited} td.rule")).await, "per-ip");
    assert_eq!(text(&c, &format!("{limited} td.count")).await, "2");
    let near = |n: usize, col: &str| format!("#top-near tbody tr:nth-child({n}) td.{col}");
    assert_eq!(text(&c, &near(1, "client")).await, "acme");
    assert_eq!(text(&c, &near(1, "rule")).await, "per-ip");
    assert_eq!(text(&c, &near(1, "share")).await, "90%");
    assert_eq!(text(&c, &near(1, "count")).await, "2");
    assert_eq!(text(&c, &near(2, "identity")).await, "ip 127.0.0.1");
    assert_eq!(text(&c, &near(2, "share")).await, "100%");

    check_charts(&c).await;
    let errors = console_errors(&c, &driver).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let shot = c.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-view.png");
    std::fs::write(&path, &shot).unwrap();
    c.close().await.unwrap();
    s.running.shutdown().await.unwrap();
}

/// Axes, time labels, the range buttons and the pointer's second.
async fn check_charts(c: &Client) {
    let chart = ".chart[data-rule=\"per-ip\"]";
    // 15 minutes by default: the y axis from 0 to 10 a second, and a
    // time label every 3 minutes (UTC; the clock stands at midnight).
    wait_text(c, "#range-label", "15 minutes").await;
    let y = labels(c, &format!("{chart} text.y-label")).await;
    assert_eq!(y, ["0", "5", "10"]);
    let x = labels(c, &format!("{chart} text.x-label")).await;
    assert_eq!(x, ["23:48", "23:51", "23:54", "23:57", "00:00"]);
    let title = "per-ip — peak 10/s, 23:45:01 to 00:00:00 UTC";
    wait_text(c, &format!("{chart} .chart-title"), title).await;
    c.find(Locator::Css("#range button[data-seconds=\"300\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "#range-label", "5 minutes").await;
    let x = labels(c, &format!("{chart} text.x-label")).await;
    assert_eq!(x, ["23:56", "23:57", "23:58", "23:59", "00:00"]);
    c.find(Locator::Css("#range button[data-seconds=\"3600\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "#range-label", "hour").await;
    let x = labels(c, &format!("{chart} text.x-label")).await;
    assert_eq!(x, ["23:10", "23:20", "23:30", "23:40", "23:50", "00:00"]);
    assert_eq!(
        text(c, "#range button.on").await,
        "1 h",
        "the chosen range is marked"
    );
    // The pointer on the newest second: its counts, still there after
    // the next refresh.
    point_at(c, "per-ip", 1.0).await;
    let tip = format!("{chart} .tip");
    let want = "00:00:00 UTC · allowed 10 · limited 2 · shadow-limited 0 · near limit 3";
    wait_text(c, &tip, want).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(text(c, &tip).await, want);
    // An hour back: nothing.
    point_at(c, "per-ip", 0.0).await;
    wait_text(
        c,
        &tip,
        "23:00:01 UTC · allowed 0 · limited 0 · shadow-limited 0 · near limit 0",
    )
    .await;
}
