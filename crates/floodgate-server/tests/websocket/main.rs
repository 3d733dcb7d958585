//! End-to-end: WebSocket connections through the gateway, with a real
//! tokio-tungstenite client and a real echo upstream (hyper with
//! tokio-tungstenite): messages both ways, the upgrade under the rules,
//! the message limit (1008), the size bound (1009), the idle timeout,
//! the connection bound, and the metrics of it all.

#[path = "../common/mod.rs"]
mod common;
mod kit;
mod process;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use http::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use kit::*;

#[tokio::test]
async fn messages_flow_both_ways_and_are_counted() {
    let (up, seen) = echo_upstream().await;
    let s = start(&config(up, "{}")).await;
    let mut ws = connect(&s).await;
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await, Message::binary(vec![0u8, 1, 2, 255]));

    // The upstream saw a forwarded upgrade, without extensions the
    // gateway could not relay.
    let h = seen.upgrades.lock().unwrap()[0].clone();
    assert_eq!(h["upgrade"], "websocket");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert!(h.get("sec-websocket-extensions").is_none());

    assert_eq!(metric(&s, "floodgate_websocket_connections_open").await, 1);
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    // The client's close reaches the upstream as it was sent.
    upstream_closed_with(&seen, 1000, Some("bye")).await;
    metric_reaches(
        &s,
        r#"floodgate_websocket_closed_total{reason="client"}"#,
        1,
    )
    .await;
    let text = metrics(&s).await;
    assert_promtool_accepts(&text);
    for (series, want) in [
        (
            r#"floodgate_websocket_connections_total{outcome="opened"}"#,
            1.0,
        ),
        (
            r#"floodgate_websocket_messages_total{from="client",outcome="forwarded"}"#,
            2.0,
        ),
        (
            r#"floodgate_websocket_messages_total{from="upstream",outcome="forwarded"}"#,
            2.0,
        ),
        ("floodgate_websocket_connections_open", 0.0),
        (r#"floodgate_upstream_responses_total{status="101"}"#, 1.0),
    ] {
        assert_eq!(sample_value(&text, series), Some(want), "{series}:\n{text}");
    }
}

#[tokio::test]
async fn the_message_limit_closes_with_1008_and_refills_on_the_servers_clock() {
    let (up, seen) = echo_upstream().await;
    let ws_config = "{ messages: { algorithm: token_bucket, capacity: 3, refill: 1/s } }";
    let s = start(&config(up, ws_config)).await;
    let mut ws = connect(&s).await;
    for i in 0..3 {
        ws.send(Message::text(format!("m{i}"))).await.unwrap();
        assert_eq!(next(&mut ws).await, Message::text(format!("m{i}")));
    }
    // One token back after a second of the server's clock.
    s.clock.advance(Duration::from_secs(1));
    ws.send(Message::text("m3")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("m3"));
    // The fifth is past the limit: dropped, and the connection closed.
    ws.send(Message::text("m4")).await.unwrap();
    let f = close_frame(&mut ws).await;
    assert_eq!(f.code, CloseCode::Policy);
    assert_eq!(
        f.reason.as_str(),
        "message rate limit exceeded, retry after 1s"
    );
    // The upstream is told the same, and never got the fifth.
    upstream_closed_with(
        &seen,
        1008,
        Some("message rate limit exceeded, retry after 1s"),
    )
    .await;
    metric_reaches(
        &s,
        r#"floodgate_websocket_closed_total{reason="message_limit"}"#,
        1,
    )
    .await;
    let text = metrics(&s).await;
    for (series, want) in [
        (
            r#"floodgate_websocket_messages_total{from="client",outcome="forwarded"}"#,
            4.0,
        ),
        (
            r#"floodgate_websocket_messages_total{from="client",outcome="limited"}"#,
            1.0,
        ),
        (
            r#"floodgate_websocket_messages_total{from="upstream",outcome="forwarded"}"#,
            4.0,
        ),
    ] {
        assert_eq!(sample_value(&text, series), Some(want), "{series}:\n{text}");
    }
}

#[tokio::test]
async fn a_client_keyed_budget_is_shared_by_its_connections() {
    let (up, _) = echo_upstream().await;
    let ws_config = "{ key: ip, messages: { algorithm: fixed_window, limit: 3, window: 1m } }";
    let s = start(&config(up, ws_config)).await;
    let mut a = connect(&s).await;
    let mut b = connect(&s).await;
    for (on_a, text) in [(true, "a1"), (false, "b1"), (true, "a2")] {
        let ws = if on_a { &mut a } else { &mut b };
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(next(ws).await, Message::text(text));
    }
    // The fourth message of the client, on either connection, is over.
    b.send(Message::text("b2")).await.unwrap();
    let f = close_frame(&mut b).await;
    assert_eq!(f.code, CloseCode::Policy);
    assert!(f.reason.starts_with("message rate limit exceeded"), "{f:?}");
    a.send(Message::text("a3")).await.unwrap();
    assert_eq!(close_frame(&mut a).await.code, CloseCode::Policy);
    // A new window gives the client a new budget.
    s.clock.advance(Duration::from_secs(60));
    let mut c = connect(&s).await;
    c.send(Message::text("c1")).await.unwrap();
    assert_eq!(next(&mut c).await, Message::text("c1"));
}

#[tokio::test]
async fn the_upgrade_itself_is_rate_limited() {
    let (up, seen) = echo_upstream().await;
    let s = start(&config(up, "{}")).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connect(&s).await);
    }
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", s.public)).await;
    let Err(WsError::Http(resp)) = refused else {
        panic!("the fourth upgrade was not refused: {refused:?}");
    };
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    let body = refusal_json(resp.body());
    assert_eq!(body["error"], "rate_limit_exceeded");
    // Only the allowed ones reached the upstream.
    assert_eq!(seen.upgrades.lock().unwrap().len(), 3);
    assert_eq!(
        metric(
            &s,
            r#"floodgate_websocket_connections_total{outcome="opened"}"#
        )
        .await,
        3
    );
    assert_eq!(metric(&s, "floodgate_websocket_connections_open").await, 3);
}

#[tokio::test]
async fn an_oversize_message_closes_with_1009() {
    let (up, seen) = echo_upstream().await;
    let s = start(&config(up, "{ max_message: 1KiB }")).await;
    let mut ws = connect(&s).await;
    ws.send(Message::text("x".repeat(1024))).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("x".repeat(1024)));
    ws.send(Message::text("x".repeat(1025))).await.unwrap();
    let f = close_frame(&mut ws).await;
    assert_eq!(f.code, CloseCode::Size);
    assert_eq!(f.reason.as_str(), "client sent a message over 1024 bytes");
    upstream_closed_with(&seen, 1009, Some("client sent a message over 1024 bytes")).await;
    metric_reaches(
        &s,
        r#"floodgate_websocket_closed_total{reason="too_large"}"#,
        1,
    )
    .await;
    assert_eq!(
        metric(
            &s,
            r#"floodgate_websocket_messages_total{from="client",outcome="too_large"}"#
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let (up, _) = echo_upstream().await;
    let s = start(&config(up, "{ idle_timeout: 1s }")).await;
    let mut ws = connect(&s).await;
    ws.send(Message::text("once")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("once"));
    // Nothing more either way: the gateway closes it.
    let f = close_frame(&mut ws).await;
    assert_eq!(f.code, CloseCode::Away);
    assert_eq!(f.reason.as_str(), "idle for 1s");
    metric_reaches(&s, r#"floodgate_websocket_closed_total{reason="idle"}"#, 1).await;
}

#[tokio::test]
async fn past_max_connections_the_upgrade_gets_503() {
    let (up, seen) = echo_upstream().await;
    let s = start(&config(up, "{ max_connections: 1 }")).await;
    let first = connect(&s).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", s.public)).await;
    let Err(WsError::Http(resp)) = refused else {
        panic!("the second upgrade was not refused: {refused:?}");
    };
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = refusal_json(resp.body());
    assert_eq!(body["error"], "too_many_websockets");
    assert_eq!(seen.upgrades.lock().unwrap().len(), 1);
    assert_eq!(
        metric(
            &s,
            r#"floodgate_websocket_connections_total{outcome="refused"}"#
        )
        .await,
        1
    );
    // Once the first closes, its place is free again.
    drop(first);
    metric_reaches(&s, "floodgate_websocket_connections_open", 0).await;
    let mut again = connect(&s).await;
    again.send(Message::text("in")).await.unwrap();
    assert_eq!(next(&mut again).await, Message::text("in"));
}

#[tokio::test]
async fn plain_requests_are_forwarded_as_before() {
    let (up, seen) = echo_upstream().await;
    let s = start(&config(up, "{}")).await;
    let r = get(&format!("http://{}/other", s.public), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"plain /other");
    // `/ws` without an upgrade is a plain request, under its rule.
    let r = get(&format!("http://{}/ws", s.public), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"plain /ws");
    assert_eq!(r.header("x-ratelimit-remaining"), Some("2"));
    assert!(seen.upgrades.lock().unwrap().is_empty());
    assert_eq!(
        metric(
            &s,
            r#"floodgate_websocket_connections_total{outcome="opened"}"#
        )
        .await,
        0
    );
}

#[tokio::test]
async fn with_websocket_disabled_the_upgrade_is_a_plain_request() {
    let (up, seen) = echo_upstream().await;
    let s = start(&config(up, "{ enabled: false }")).await;
    let mut req = format!("ws://{}/ws", s.public)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("x-test", "1".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(req).await;
    // The upgrade headers do not pass (they are hop-by-hop): the upstream
    // answers a plain request.
    let Err(WsError::Http(resp)) = refused else {
        panic!("the upgrade went through: {refused:?}");
    };
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(seen.upgrades.lock().unwrap().is_empty());
    assert!(!metrics(&s).await.contains("floodgate_websocket_"));
}

#[tokio::test]
async fn shutdown_closes_open_connections_with_1001() {
    let (up, seen) = echo_upstream().await;
    let s = start(&config(up, "{}")).await;
    let mut ws = connect(&s).await;
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("before"));
    s.running.shutdown().await.unwrap();
    let f = close_frame(&mut ws).await;
    assert_eq!(f.code, CloseCode::Away);
    assert_eq!(f.reason.as_str(), "server shutting down");
    upstream_closed_with(&seen, 1001, Some("server shutting down")).await;
}

#[tokio::test]
async fn an_upgrade_the_upstream_refuses_passes_as_it_is() {
    let (up, _) = echo_upstream().await;
    let s = start(&config(up, "{}")).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/refuse", s.public)).await;
    let Err(WsError::Http(resp)) = refused else {
        panic!("the upgrade went through: {refused:?}");
    };
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = String::from_utf8_lossy(resp.body().as_deref().unwrap()).to_string();
    assert!(body.contains("no websockets here"), "{body:?}");
    assert_eq!(
        metric(
            &s,
            r#"floodgate_websocket_connections_total{outcome="upstream_declined"}"#
        )
        .await,
        1
    );
    assert_eq!(metric(&s, "floodgate_websocket_connections_open").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_clients_budget_is_shared_by_every_replica() {
    let redis = floodgate_testkit::redis::RedisServer::start();
    let (up, _) = echo_upstream().await;
    let ws_config = "{ key: ip, messages: { algorithm: fixed_window, limit: 3, window: 1h } }";
    let yaml = format!(
        "{}store:\n  kind: redis\n  url: {}\n  time: caller\n",
        config(up, ws_config),
        redis.url()
    );
    let (one, two) = (start(&yaml).await, start(&yaml).await);
    let mut a = connect(&one).await;
    let mut b = connect(&two).await;
    for (on_a, text) in [(true, "a1"), (false, "b1"), (true, "a2")] {
        let ws = if on_a { &mut a } else { &mut b };
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(next(ws).await, Message::text(text));
    }
    // The client's fourth message, on the other replica, is over.
    b.send(Message::text("b2")).await.unwrap();
    assert_eq!(close_frame(&mut b).await.code, CloseCode::Policy);
    a.send(Message::text("a3")).await.unwrap();
    assert_eq!(close_frame(&mut a).await.code, CloseCode::Policy);
}

#[tokio::test]
async fn a_concurrency_limit_on_the_upgrade_holds_its_slot_until_the_101() {
    let (up, _) = echo_upstream().await;
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\nupstream: http://{up}\nrules:\n  - name: ws-attempts\n    match: {{ path: /ws }}\n    key: ip\n    limits:\n      - {{ algorithm: concurrency, limit: 1 }}\n"
    );
    let s = start(&yaml).await;
    // The first connection stays open; its upgrade is over, so its slot
    // is free for the next attempt.
    let mut first = connect(&s).await;
    let mut second = connect(&s).await;
    for (ws, text) in [(&mut first, "one"), (&mut second, "two")] {
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(next(ws).await, Message::text(text));
    }
    assert_eq!(metric(&s, "floodgate_websocket_connections_open").await, 2);
    // Both upgrades took the slot, and gave it back at their 101.
    let labels = r#"{rule="ws-attempts",limit="ws-attempts"}"#;
    assert_eq!(
        metric(&s, &format!("floodgate_concurrency_acquired_total{labels}")).await,
        2
    );
    metric_reaches(&s, &format!("floodgate_concurrency_in_flight{labels}"), 0).await;
}
