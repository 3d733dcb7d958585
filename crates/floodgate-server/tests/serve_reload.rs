//! End-to-end: the real server on port 0, spoken to over HTTP; reloads of
//! its config file, asked for and on its own.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn a_reload_that_breaks_the_file_keeps_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    let two_rules = format!(
        "{BASE}  - name: res\n    match: {{ path: /resource }}\n    limits:\n      - {{ algorithm: fixed_window, limit: 2, window: 1m }}\n"
    );
    std::fs::write(&path, &two_rules).unwrap();
    let s = start_with_path(&two_rules, Some(path.clone())).await;
    let data = format!("http://{}/api/v1/data", s.public);
    let res = format!("http://{}/resource", s.public);
    for _ in 0..3 {
        assert_eq!(get(&data, &[]).await.status, 200);
    }
    assert_eq!(get(&res, &[]).await.status, 200);
    // Broken file: refused, old config stays.
    std::fs::write(&path, BASE.replace("limit: 5", "limit: five")).unwrap();
    let err = s.running.reload().await.unwrap_err();
    assert!(err.to_string().contains("floodgate.yaml:"), "{err}");
    assert_eq!(
        get(&data, &[]).await.header("x-ratelimit-remaining"),
        Some("1")
    );
    // A good file that changes only /resource's limit: the per-ip counter
    // is kept, and so is the changed limit's (the same window: its count
    // carries over, one request used of 9).
    let changed = two_rules.replace("limit: 2, window", "limit: 9, window");
    std::fs::write(&path, changed).unwrap();
    s.running.reload().await.unwrap();
    assert_eq!(
        get(&data, &[]).await.header("x-ratelimit-remaining"),
        Some("0")
    );
    let r = get(&res, &[]).await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("9"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("7"));
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_changed_file_is_reloaded_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, BASE).unwrap();
    let s = start_watching(BASE, Some(path.clone()), Some(Duration::from_millis(50))).await;
    let url = format!("http://{}/api/v1/data", s.public);
    assert_eq!(get(&url, &[]).await.header("x-ratelimit-limit"), Some("5"));
    std::fs::write(&path, BASE.replace("limit: 5", "limit: 12")).unwrap();
    let mut seen = None;
    for _ in 0..100 {
        seen = get(&url, &[])
            .await
            .header("x-ratelimit-limit")
            .map(str::to_string);
        if seen.as_deref() == Some("12") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.as_deref(), Some("12"));
    s.running.shutdown().await.unwrap();
}
