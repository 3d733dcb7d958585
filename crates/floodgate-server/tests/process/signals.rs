//! Signals: SIGHUP reloads (the new policy applies, restart-only changes
//! are reported), SIGTERM drains.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use http::Request;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::common::*;
use super::kit::*;

#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_the_new_limit_and_refuses_a_broken_file() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(up, "127.0.0.1:0", 50)).unwrap();
    let s = spawn_serve(&path);
    let url = format!("http://{}/x", s.public);
    let r = get(&url, &[]).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-ratelimit-limit"), Some("50"));

    // A broken file and SIGHUP: the refusal is logged, the old limit stays.
    std::fs::write(&path, "rules: []\nlog:\n  format: json\n  colour: red\n").unwrap();
    s.signal("-HUP");
    let refused = s
        .logs
        .wait_for("config reload refused; keeping the previous config", 1)
        .await;
    assert_eq!(refused[0]["level"], "ERROR");
    assert!(
        refused[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("floodgate.yaml:4:") && e.contains("colour")),
        "{refused:?}"
    );
    assert_eq!(limit_header(&url).await.as_deref(), Some("50"));
    assert!(s
        .logs
        .with_message("config reloaded; counters of unchanged limits kept")
        .is_empty());

    // A good file and SIGHUP: responses carry the new limit.
    std::fs::write(&path, config(up, "127.0.0.1:0", 7)).unwrap();
    s.signal("-HUP");
    let applied = wait_until(DEADLINE, || async {
        limit_header(&url).await.as_deref() == Some("7")
    })
    .await;
    assert!(
        applied,
        "SIGHUP did not apply limit 7: {:#?}",
        s.logs.lines()
    );
    let reloaded = s
        .logs
        .wait_for("config reloaded; counters of unchanged limits kept", 1)
        .await;
    assert_eq!(reloaded[0]["level"], "INFO");
    assert_eq!(reloaded[0]["rules"], 1);
    assert_eq!(reloaded[0]["file"], path.to_str().unwrap());
    // Nothing that needs a restart changed.
    assert!(s
        .logs
        .with_message("this change takes effect at the next restart; the running value stays")
        .is_empty());

    s.signal("-TERM");
    let (status, _) = s.wait().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reports_a_restart_only_change_and_still_applies_the_policy() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(up, "127.0.0.1:0", 50)).unwrap();
    let s = spawn_serve(&path);
    let url = format!("http://{}/x", s.public);
    assert_eq!(limit_header(&url).await.as_deref(), Some("50"));

    // Another listen address and another limit in the same file.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = taken.local_addr().unwrap().to_string();
    std::fs::write(&path, config(up, &other, 9)).unwrap();
    s.signal("-HUP");
    let warned = s
        .logs
        .wait_for(
            "this change takes effect at the next restart; the running value stays",
            1,
        )
        .await;
    let fields: Vec<&str> = warned.iter().filter_map(|w| w["field"].as_str()).collect();
    assert_eq!(fields, ["listen"], "{warned:?}");
    assert_eq!(warned[0]["level"], "WARN");
    let applied = wait_until(DEADLINE, || async {
        limit_header(&url).await.as_deref() == Some("9")
    })
    .await;
    assert!(
        applied,
        "the policy change did not apply: {:#?}",
        s.logs.lines()
    );
    // The running listener stays where it was.
    assert_eq!(get(&url, &[]).await.status, 201);

    // Reloading the same file again: the running value is still the old
    // one, so the change is reported again, not taken as applied.
    s.signal("-HUP");
    let warned = s
        .logs
        .wait_for(
            "this change takes effect at the next restart; the running value stays",
            2,
        )
        .await;
    assert_eq!(warned[1]["field"], "listen");

    s.signal("-TERM");
    let (status, _) = s.wait().await;
    assert!(status.success(), "{status:?}");
}

/// An upstream whose `/hold` answers only once released; `arrived` is set
/// when such a request reaches it.
async fn holding_upstream() -> (SocketAddr, Arc<AtomicBool>, Arc<Semaphore>) {
    let arrived = Arc::new(AtomicBool::new(false));
    let release = Arc::new(Semaphore::new(0));
    let (a, r) = (arrived.clone(), release.clone());
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (a, r) = (a.clone(), r.clone());
        async move {
            if req.uri().path() == "/hold" {
                a.store(true, Ordering::SeqCst);
                r.acquire().await.unwrap().forget();
            }
            http::Response::builder()
                .status(201)
                .body(Body::from("done"))
                .unwrap()
        }
    });
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, arrived, release)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_a_request_in_flight() {
    let (up, arrived, release) = holding_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    std::fs::write(&path, config(up, "127.0.0.1:0", 50)).unwrap();
    let s = spawn_serve(&path);
    let ready_url = format!("http://{}/readyz", s.admin);
    assert_eq!(get(&ready_url, &[]).await.status, 200);

    let hold = format!("http://{}/hold", s.public);
    let slow = tokio::spawn(async move { get(&hold, &[]).await });
    let in_flight = wait_until(DEADLINE, || {
        let a = arrived.load(Ordering::SeqCst);
        async move { a }
    })
    .await;
    assert!(in_flight, "the request never reached the upstream");

    s.signal("-TERM");
    let draining = wait_until(DEADLINE, || async {
        try_status(&ready_url).await == Some(503)
    })
    .await;
    assert!(draining, "/readyz never answered 503 while draining");
    s.logs
        .wait_for("shutting down: draining in-flight requests", 1)
        .await;
    // Still draining: the held request keeps the process alive.
    assert!(!slow.is_finished());

    release.add_permits(1);
    let r = slow.await.unwrap();
    assert_eq!(r.status, 201, "drained, not cut");
    assert_eq!(&r.body[..], b"done");
    let (status, logs) = s.wait().await;
    assert!(status.success(), "{status:?}");
    let logs = logs.join("\n");
    assert!(logs.contains("\"stopped\""), "{logs}");
    assert!(!logs.contains("grace period over"), "{logs}");
}
