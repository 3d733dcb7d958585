//! Connection hygiene on both listeners, over real sockets: silent and
//! trickling clients are closed at the header-read timeout, idle keep-alive
//! connections at the idle timeout; connections past `max_per_ip` or `max`
//! are closed at once; a normal client is answered while hundreds of idle
//! connections are held; bodies past `max_body` get a JSON 413, heads past
//! `max_head` a 431; every error the listeners make is JSON; each bound
//! that trips is counted.
//!
//! Nothing sleeps to let time pass: timeouts are short in the config, and
//! each check polls the socket with a deadline.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A config with these `connections:` (public) and `admin.connections:`.
fn config(public: &str, admin: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n  connections: {{ {admin} }}\nconnections: {{ {public} }}\nrules:\n  - name: per-ip\n    key: ip\n    limits:\n      - {{ algorithm: token_bucket, capacity: 10000, refill: 1000/s }}\n"
    )
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", l.join(","))
}

/// Whether `stream` is still open right now (nothing to read, no EOF).
fn still_open(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

const GET_RESOURCE: &[u8] = b"GET /resource HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_header_read_timeout_on_both_listeners() {
    let s = start(&config(
        "header_read_timeout: 200ms, idle_timeout: 5s",
        "header_read_timeout: 300ms, idle_timeout: 5s",
    ))
    .await;
    for (addr, listener, at_least) in [
        (s.public, "public", Duration::from_millis(150)),
        (s.admin, "admin", Duration::from_millis(250)),
    ] {
        let timeouts = series(
            "floodgate_connection_timeouts_total",
            &[("listener", listener), ("reason", "header_read")],
        );
        let before = metric(&s, &timeouts).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        match wait_closed(&mut c, Duration::from_secs(3)).await {
            Seen::Closed(after) => assert!(after >= at_least, "{listener}: closed after {after:?}"),
            Seen::Open => panic!("{listener}: a silent connection stayed open"),
        }
        assert_eq!(metric(&s, &timeouts).await, before + 1, "{listener}");
    }
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_trickling_its_head_is_closed_at_the_header_read_timeout() {
    let s = start(&config("header_read_timeout: 300ms, idle_timeout: 5s", "")).await;
    let mut c = TcpStream::connect(s.public).await.unwrap();
    c.write_all(b"GET /resource HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = loop {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "still open after 3s of one byte every 50ms"
        );
        if c.write_all(b"a").await.is_err() {
            break start.elapsed();
        }
        // Each byte is followed by 50 ms of watching for the close.
        match tokio::time::timeout(Duration::from_millis(50), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break start.elapsed(),
            Ok(Ok(n)) => panic!("answered: {}", String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    };
    assert!(
        closed >= Duration::from_millis(250),
        "closed after {closed:?}"
    );
    let timeouts = series(
        "floodgate_connection_timeouts_total",
        &[("listener", "public"), ("reason", "header_read")],
    );
    assert_eq!(metric(&s, &timeouts).await, 1);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_keep_alive_connection_idle_after_a_response_is_closed_at_the_idle_timeout() {
    let s = start(&config(
        "header_read_timeout: 200ms, idle_timeout: 700ms",
        "",
    ))
    .await;
    let mut c = TcpStream::connect(s.public).await.unwrap();
    // Two requests on one connection: the second, sent after more than the
    // header-read timeout of idling, is still answered.
    c.write_all(GET_RESOURCE).await.unwrap();
    assert_eq!(read_response(&mut c).await.0, 200);
    assert_eq!(
        wait_closed(&mut c, Duration::from_millis(400)).await,
        Seen::Open,
        "an idle keep-alive connection is not held to the header-read timeout"
    );
    c.write_all(GET_RESOURCE).await.unwrap();
    assert_eq!(read_response(&mut c).await.0, 200);
    let after = match wait_closed(&mut c, Duration::from_secs(3)).await {
        Seen::Closed(after) => after,
        Seen::Open => panic!("an idle keep-alive connection stayed open"),
    };
    assert!(
        after >= Duration::from_millis(600),
        "closed after {after:?}"
    );
    let idle = series(
        "floodgate_connection_timeouts_total",
        &[("listener", "public"), ("reason", "idle")],
    );
    let header = series(
        "floodgate_connection_timeouts_total",
        &[("listener", "public"), ("reason", "header_read")],
    );
    assert_eq!(metric(&s, &idle).await, 1);
    assert_eq!(metric(&s, &header).await, 0);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_normal_client_is_answered_while_300_idle_connections_are_held() {
    let s = start(&config(
        "header_read_timeout: 30s, idle_timeout: 30s, max_per_ip: 400, max: 1000",
        "",
    ))
    .await;
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut c = TcpStream::connect(s.public).await.unwrap();
        // Half of them stall inside a request head.
        if held.len() % 2 == 0 {
            c.write_all(b"GET /resource HTTP/1.1\r\nHost: t\r\n")
                .await
                .unwrap();
        }
        held.push(c);
    }
    let open = series("floodgate_connections_open", &[("listener", "public")]);
    let deadline = Instant::now() + Duration::from_secs(5);
    // Every one of them is accepted (and so counted) by the server.
    while metric(&s, &open).await < 300 {
        assert!(
            Instant::now() < deadline,
            "{} of 300 accepted",
            metric(&s, &open).await
        );
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let mut c = TcpStream::connect(s.public).await.unwrap();
    c.write_all(GET_RESOURCE).await.unwrap();
    let (status, _, body) = read_response(&mut c).await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(metric(&s, &open).await, 301);
    // ...while all 300 are still open.
    assert!(held.iter().all(still_open), "a held connection was closed");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&s, &open).await > 1 {
        assert!(
            Instant::now() < deadline,
            "closed connections still counted"
        );
        tokio::task::yield_now().await;
    }
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_connection_past_max_per_ip_or_max_is_closed_at_once_and_counted() {
    for (bounds, bound, allowed) in [
        ("header_read_timeout: 30s, max_per_ip: 3", "max_per_ip", 3),
        ("header_read_timeout: 30s, max: 2", "max", 2),
    ] {
        let s = start(&config(bounds, "")).await;
        let mut held = Vec::new();
        for _ in 0..allowed {
            held.push(TcpStream::connect(s.public).await.unwrap());
        }
        let mut extra = TcpStream::connect(s.public).await.unwrap();
        match wait_closed(&mut extra, Duration::from_secs(2)).await {
            Seen::Closed(_) => {}
            Seen::Open => panic!("a connection past {bound} stayed open"),
        }
        assert!(held.iter().all(still_open), "{bound}: the first ones stay");
        let rejected = series(
            "floodgate_connections_rejected_total",
            &[("listener", "public"), ("reason", bound)],
        );
        assert_eq!(metric(&s, &rejected).await, 1, "{bound}");
        // A place freed is taken again.
        held.pop();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut c = TcpStream::connect(s.public).await.unwrap();
            if c.write_all(GET_RESOURCE).await.is_ok() {
                let mut buf = [0u8; 12];
                if c.read_exact(&mut buf).await.is_ok() {
                    assert_eq!(&buf[9..12], b"200");
                    break;
                }
            }
            assert!(Instant::now() < deadline, "{bound}: no place came back");
            tokio::task::yield_now().await;
        }
        assert!(metric(&s, &rejected).await >= 1);
        s.running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_body_past_max_body_gets_a_json_413_on_the_gateway_and_the_admin_listener() {
    let up = upstream().await;
    let yaml = config("max_body: 1KiB", "max_body: 2KiB")
        .replace("rules:", &format!("upstream: http://{up}\nrules:"));
    let s = start(&yaml).await;
    let big = "x".repeat(4096);
    let too_large = |r: &Reply, what: &str| {
        assert_eq!(r.status, 413, "{what}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        assert_eq!(r.json()["error"], "payload_too_large", "{what}");
    };
    // Declared by Content-Length.
    let r = send(
        "POST",
        &format!("http://{}/echo", s.public),
        &[],
        big.clone(),
    )
    .await;
    too_large(&r, "gateway, Content-Length");
    // Within the bound, forwarded.
    let r = send(
        "POST",
        &format!("http://{}/echo", s.public),
        &[],
        "x".repeat(1000),
    )
    .await;
    assert_eq!(r.status, 201);
    // Chunked: found while forwarding.
    for (addr, path) in [(s.public, "/echo"), (s.admin, "/v1/check")] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        c.write_all(head.as_bytes()).await.unwrap();
        for _ in 0..4 {
            let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
            if c.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = c.write_all(b"0\r\n\r\n").await;
        let (status, head, body) = read_response(&mut c).await;
        assert_eq!(status, 413, "{path}: {head}\n{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(v["error"], "payload_too_large", "{path}");
        assert!(v["message"].as_str().unwrap().contains("bytes"), "{v}");
    }
    let r = send("POST", &format!("http://{}/v1/check", s.admin), &[], big).await;
    too_large(&r, "admin, Content-Length");
    // The cut body is not taken for an upstream failure.
    let connect = series("floodgate_upstream_errors_total", &[("kind", "connect")]);
    assert_eq!(metric(&s, &connect).await, 0);
    for (listener, n) in [("public", 2), ("admin", 2)] {
        let c = series(
            "floodgate_requests_too_large_total",
            &[("listener", listener), ("part", "body")],
        );
        assert_eq!(metric(&s, &c).await, n, "{listener}");
    }
    s.running.shutdown().await.unwrap();
}

/// The 413 for a declared body past `max_body` is sent while the body is
/// drained: a client still writing a body of megabytes reads it, rather
/// than failing its write on a closed connection (this failed about one
/// time in three before).
#[tokio::test]
async fn a_client_still_writing_a_body_past_max_body_reads_the_413() {
    let up = upstream().await;
    let yaml = config("max_body: 1KiB", "max_body: 2KiB")
        .replace("rules:", &format!("upstream: http://{up}\nrules:"));
    let s = start(&yaml).await;
    let big = "x".repeat(4 << 20);
    for _ in 0..5 {
        for url in [
            format!("http://{}/echo", s.public),
            format!("http://{}/v1/check", s.admin),
        ] {
            let r = send("POST", &url, &[], big.clone()).await;
            assert_eq!(r.status, 413, "{url}");
            assert_eq!(r.json()["error"], "payload_too_large", "{url}");
        }
    }
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn errors_of_the_public_listener_are_json_and_a_head_past_max_head_gets_431() {
    let s = start(&config("max_head: 8KiB", "")).await;
    let r = send(
        "POST",
        &format!("http://{}/api/v1/data", s.public),
        &[],
        "{}",
    )
    .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["error"], "method_not_allowed");
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
    let r = send("PUT", &format!("http://{}/healthz", s.admin), &[], "").await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"].clone()),
        (405, "method_not_allowed".into())
    );

    // A head past max_head: hyper answers 431 itself (no body), counted.
    let mut c = TcpStream::connect(s.public).await.unwrap();
    let head = format!(
        "GET /resource HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "y".repeat(16 * 1024)
    );
    let _ = c.write_all(head.as_bytes()).await;
    let (status, _, _) = read_response(&mut c).await;
    assert_eq!(status, 431);
    let c = series(
        "floodgate_requests_too_large_total",
        &[("listener", "public"), ("part", "head")],
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while metric(&s, &c).await != 1 {
        assert!(Instant::now() < deadline, "the 431 was not counted");
        tokio::task::yield_now().await;
    }
    // A head within the bound is served.
    let r = get(
        &format!("http://{}/resource", s.public),
        &[("x-pad", &"z".repeat(6 * 1024))],
    )
    .await;
    assert_eq!(r.status, 200);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn connection_bounds_apply_at_restart_and_a_reload_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floodgate.yaml");
    let before = config("max: 10", "");
    std::fs::write(&path, &before).unwrap();
    let s = start_with_path(&before, Some(path.clone())).await;
    std::fs::write(&path, config("max: 20", "idle_timeout: 1s")).unwrap();
    let report = s.running.reload().await.unwrap();
    assert_eq!(
        report.needs_restart,
        vec!["connections", "admin.connections"]
    );
    // Out of range: refused where it stands.
    std::fs::write(&path, config("max: 0", "")).unwrap();
    let e = s.running.reload().await.unwrap_err().to_string();
    assert!(
        e.contains("floodgate.yaml:5") && e.contains("connections.max"),
        "{e}"
    );
    s.running.shutdown().await.unwrap();
}
