//! The echo upstream, the client and the waits the WebSocket tests share.
#![allow(dead_code)]

use super::common::*;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the upstream saw.
#[derive(Clone, Default)]
pub(crate) struct Seen {
    /// The headers of each upgrade request.
    pub(crate) upgrades: Arc<Mutex<Vec<http::HeaderMap>>>,
    /// The close frames it received.
    pub(crate) closes: Arc<Mutex<Vec<(u16, String)>>>,
}

/// A real upstream: a WebSocket echo on any WebSocket upgrade (text and
/// binary messages sent back as they came), `plain <path>` to any other
/// request; `/refuse` answers 403 to anything.
pub(crate) async fn echo_upstream() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = l.accept().await.unwrap();
            let s = s.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let s = s.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(req, s)) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, seen)
}

pub(crate) fn answer(mut req: Request<Incoming>, seen: Seen) -> Response<Full<bytes::Bytes>> {
    let upgrade = req
        .headers()
        .get("upgrade")
        .is_some_and(|v| v == "websocket");
    let key = req.headers().get("sec-websocket-key").cloned();
    if req.uri().path() == "/refuse" {
        let mut r = Response::new(Full::new("no websockets here".into()));
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    let (true, Some(key)) = (upgrade, key) else {
        let body = format!("plain {}", req.uri().path());
        return Response::new(Full::new(body.into()));
    };
    seen.upgrades.lock().unwrap().push(req.headers().clone());
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let io = TokioIo::new(upgrade.await.unwrap());
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, Message::Text(_) | Message::Binary(_)) {
                if ws.send(m).await.is_err() {
                    break;
                }
            } else if let Message::Close(f) = m {
                let f = f.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                seen.closes.lock().unwrap().push(f);
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .body(Full::default())
        .unwrap()
}

/// A gateway to `up`: upgrades of `/ws` limited to 3 a minute per IP,
/// and the `websocket:` section `ws`.
pub(crate) fn config(up: SocketAddr, ws: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
admin: {{ listen: 127.0.0.1:0 }}
upstream: http://{up}
rules:
  - name: ws-connect
    match: {{ path: /ws }}
    key: ip
    limits:
      - {{ algorithm: fixed_window, limit: 3, window: 1m }}
websocket: {ws}
"#
    )
}

pub(crate) async fn connect(s: &Server) -> Client {
    let (ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/ws", s.public))
        .await
        .expect("upgrade through the gateway");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// The next message, within a deadline.
pub(crate) async fn next(ws: &mut Client) -> Message {
    tokio::time::timeout(LOG_DEADLINE, ws.next())
        .await
        .expect("a message in time")
        .expect("the connection is open")
        .expect("a valid message")
}

/// The close frame the gateway sends, within a deadline (messages
/// before it are skipped).
pub(crate) async fn close_frame(ws: &mut Client) -> CloseFrame {
    loop {
        if let Message::Close(f) = next(ws).await {
            return f.expect("a close frame with a code");
        }
    }
}

/// The JSON body of a refused upgrade, as the client read it: the
/// client does not decode a chunked body, so its framing is taken off
/// here.
pub(crate) fn refusal_json(body: &Option<Vec<u8>>) -> serde_json::Value {
    let raw = String::from_utf8_lossy(body.as_deref().expect("a body"));
    let json = match (raw.find('{'), raw.rfind('}')) {
        (Some(a), Some(b)) => &raw[a..=b],
        _ => panic!("no JSON in {raw:?}"),
    };
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {raw:?}"))
}

/// Polls until the upstream has received a close frame with `code`
/// (and `reason`, if given).
pub(crate) async fn upstream_closed_with(seen: &Seen, code: u16, reason: Option<&str>) {
    let found = wait_until(LOG_DEADLINE, || async {
        let closes = seen.closes.lock().unwrap();
        closes
            .iter()
            .any(|(c, r)| *c == code && reason.is_none_or(|want| r == want))
    })
    .await;
    assert!(
        found,
        "the upstream never got close {code} {reason:?}: {:?}",
        seen.closes.lock().unwrap()
    );
}

pub(crate) async fn metrics(s: &Server) -> String {
    String::from_utf8_lossy(&get(&format!("http://{}/metrics", s.admin), &[]).await.body)
        .to_string()
}

/// Polls until the metric `series` reads `want`.
pub(crate) async fn metric_reaches(s: &Server, series: &str, want: u64) {
    let reached = wait_until(
        LOG_DEADLINE,
        || async move { metric(s, series).await == want },
    )
    .await;
    assert!(
        reached,
        "{series} never reached {want}: {}",
        metric(s, series).await
    );
}
