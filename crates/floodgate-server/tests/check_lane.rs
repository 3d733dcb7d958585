//! The decision API's own HTTP/1.1 lane, over raw sockets: plain
//! `POST /v1/check` requests pipelined on one connection are answered in
//! order; any other request on that connection (another endpoint, a
//! chunked body, `Expect: 100-continue`) is answered by hyper from then
//! on, the bytes already read included; a body that arrives in pieces is
//! waited for; the watchdog and the stop hold on the lane as on hyper.
//!
//! Nothing sleeps to let time pass: each wait reads with a deadline.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Two decisions per API key, then 429.
const CONFIG: &str = r#"
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  connections: { header_read_timeout: 300ms, idle_timeout: 600ms }
rules:
  - name: per-key
    key: api_key
    limits:
      - { algorithm: fixed_window, limit: 2, window: 1m }
"#;

fn check(key: &str) -> String {
    let body = format!(r#"{{"attributes":{{"path":"/x","api_key":"{key}"}}}}"#);
    format!(
        "POST /v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn pipelined_checks_are_answered_in_order_with_their_headers() {
    let s = start(CONFIG).await;
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    let three = format!("{}{}{}", check("a"), check("a"), check("a"));
    c.write_all(three.as_bytes()).await.unwrap();
    let mut rs = Responses::new();
    for (i, want) in [(1, 200), (2, 200), (3, 429)] {
        let (status, head, body) = rs.next(&mut c).await;
        assert_eq!(status, want, "request {i}: {head}\n{body}");
        let d = json(&body);
        assert_eq!(d["allowed"], want == 200, "{body}");
        assert_eq!(d["limit"], 2, "{body}");
        assert_eq!(header(&head, "content-type"), Some("application/json"));
        assert_eq!(
            header(&head, "content-length"),
            Some(&*body.len().to_string())
        );
        assert!(header(&head, "date").is_some(), "{head}");
        assert_eq!(header(&head, "x-ratelimit-limit"), Some("2"), "{head}");
    }
    assert!(rs.data.is_empty(), "{:?}", rs.data);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn other_requests_hand_the_connection_to_hyper_with_the_bytes_read() {
    let s = start(CONFIG).await;
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    let mut rs = Responses::new();
    // A plain check, then, in the same write, a request the lane does not
    // answer and a plain check behind it: hyper gets both.
    let first = format!(
        "{}GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n{}",
        check("b"),
        check("b")
    );
    c.write_all(first.as_bytes()).await.unwrap();
    let (status, _, body) = rs.next(&mut c).await;
    assert_eq!((status, json(&body)["remaining"].clone()), (200, 1.into()));
    let (status, _, body) = rs.next(&mut c).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = rs.next(&mut c).await;
    assert_eq!((status, json(&body)["remaining"].clone()), (200, 0.into()));
    // A chunked check, then one that expects 100-continue: hyper's too.
    let body = r#"{"attributes":{"path":"/x","api_key":"b"}}"#;
    let chunked = format!(
        "POST /v1/check HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    c.write_all(chunked.as_bytes()).await.unwrap();
    let (status, _, answer) = rs.next(&mut c).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(json(&answer)["allowed"], false);
    let expect = format!(
        "POST /v1/check HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(expect.as_bytes()).await.unwrap();
    let (status, _, _) = rs.next(&mut c).await;
    assert_eq!(status, 100);
    c.write_all(body.as_bytes()).await.unwrap();
    let (status, _, _) = rs.next(&mut c).await;
    assert_eq!(status, 429);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_in_pieces_is_waited_for_and_a_bad_one_is_a_json_400() {
    let s = start(CONFIG).await;
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    let mut rs = Responses::new();
    let req = check("c");
    let (head, body) = req.split_at(req.len() - 10);
    c.write_all(head.as_bytes()).await.unwrap();
    c.flush().await.unwrap();
    // Nothing is answered before the whole body is there.
    let mut one = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(100), c.read(&mut one)).await;
    assert!(early.is_err(), "answered before the body was whole");
    c.write_all(body.as_bytes()).await.unwrap();
    let (status, _, answer) = rs.next(&mut c).await;
    assert_eq!(status, 200, "{answer}");
    // The length is honoured: a body that is not a check is refused, and
    // the connection goes on.
    let bad = "POST /v1/check HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n{\"a\":";
    c.write_all(bad.as_bytes()).await.unwrap();
    let (status, _, answer) = rs.next(&mut c).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(json(&answer)["error"], "bad_request");
    c.write_all(check("c").as_bytes()).await.unwrap();
    assert_eq!(rs.next(&mut c).await.0, 200);
    s.running.shutdown().await.unwrap();
}

/// Reads until the server closes `c`, or panics after `within`.
async fn closed_within(c: &mut TcpStream, within: Duration) -> Duration {
    match wait_closed(c, within).await {
        Seen::Closed(after) => after,
        Seen::Open => panic!("still open after {within:?}"),
    }
}

#[tokio::test]
async fn the_watchdog_closes_a_trickled_head_and_an_idle_connection_on_the_lane() {
    let s = start(CONFIG).await;
    let timeouts = |reason: &str| {
        format!("floodgate_connection_timeouts_total{{listener=\"admin\",reason=\"{reason}\"}}")
    };
    let (head_before, idle_before) = (
        metric(&s, &timeouts("header_read")).await,
        metric(&s, &timeouts("idle")).await,
    );
    // A head that never ends.
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    c.write_all(b"POST /v1/check HTTP/1.1\r\nContent-Le")
        .await
        .unwrap();
    let after = closed_within(&mut c, Duration::from_secs(3)).await;
    assert!(
        after >= Duration::from_millis(250),
        "closed after {after:?}"
    );
    // A connection idle after an answer from the lane.
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    c.write_all(check("d").as_bytes()).await.unwrap();
    assert_eq!(Responses::new().next(&mut c).await.0, 200);
    let after = closed_within(&mut c, Duration::from_secs(3)).await;
    assert!(
        after >= Duration::from_millis(500),
        "closed after {after:?}"
    );
    assert_eq!(metric(&s, &timeouts("header_read")).await, head_before + 1);
    assert_eq!(metric(&s, &timeouts("idle")).await, idle_before + 1);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_stop_closes_a_connection_waiting_between_checks() {
    // Far from its idle timeout: only the stop can close it.
    let s = start(&CONFIG.replace("idle_timeout: 600ms", "idle_timeout: 60s")).await;
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    c.write_all(check("e").as_bytes()).await.unwrap();
    assert_eq!(Responses::new().next(&mut c).await.0, 200);
    let stopped = tokio::spawn(s.running.shutdown());
    closed_within(&mut c, Duration::from_secs(3)).await;
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the server stops with a connection that was open")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_check_head_past_max_head_gets_hypers_431_counted() {
    let s =
        start(&CONFIG.replace("idle_timeout: 600ms", "idle_timeout: 600ms, max_head: 8KiB")).await;
    let counted = "floodgate_requests_too_large_total{listener=\"admin\",part=\"head\"}";
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    let head = format!(
        "POST /v1/check HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nX-Big: {}\r\n\r\n{{}}",
        "y".repeat(16 * 1024)
    );
    let _ = c.write_all(head.as_bytes()).await;
    assert_eq!(Responses::new().next(&mut c).await.0, 431);
    let deadline = Instant::now() + Duration::from_secs(2);
    while metric(&s, counted).await != 1 {
        assert!(Instant::now() < deadline, "the 431 was not counted");
        tokio::task::yield_now().await;
    }
    // Within the bound, the same request is the lane's.
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    let req = check("f").replace(
        "Host: t\r\n",
        &format!("Host: t\r\nX-Pad: {}\r\n", "z".repeat(6 * 1024)),
    );
    c.write_all(req.as_bytes()).await.unwrap();
    assert_eq!(Responses::new().next(&mut c).await.0, 200);
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_cut_short_gets_a_json_400_and_an_odd_query_hypers_400() {
    let s = start(CONFIG).await;
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    let req = check("g");
    c.write_all(&req.as_bytes()[..req.len() - 10])
        .await
        .unwrap();
    c.shutdown().await.unwrap();
    let (status, head, body) = Responses::new().next(&mut c).await;
    assert_eq!(status, 400, "{head}\n{body}");
    assert_eq!(json(&body)["error"], "bad_request");
    assert!(
        json(&body)["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("failed to read the request body")),
        "{body}"
    );
    closed_within(&mut c, Duration::from_secs(3)).await;
    // A query `http` refuses: hyper's 400, as before the lane.
    let mut c = TcpStream::connect(s.admin).await.unwrap();
    let odd = check("g").replace("/v1/check", "/v1/check?a\"b");
    c.write_all(odd.as_bytes()).await.unwrap();
    assert_eq!(Responses::new().next(&mut c).await.0, 400);
    s.running.shutdown().await.unwrap();
}
