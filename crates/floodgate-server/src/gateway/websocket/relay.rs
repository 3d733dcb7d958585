//! The messages of one proxied connection, both ways, and how it ends.
//!
//! Two pumps run at once (so that neither side waits for the other to
//! read), each forwarding what one side sends to the other; control
//! frames pass too (each side's pings are also answered by the gateway
//! itself). The first pump to stop, the idle timer, or the shutdown says
//! how the connection ends, and both sides are sent a close frame that
//! says why.

use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::budget::{Budget, Spend};
use super::WebSockets;
use floodgate_core::RetryAfter;

/// How long a side that was sent a close frame has to answer it before
/// its socket is closed.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// One side of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Upstream,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Upstream => "upstream",
        }
    }
}

/// Why a connection ended.
enum End {
    /// A side sent a close frame (passed on to the other).
    Closed(Side, Option<CloseFrame>),
    /// The client went past its message limit.
    Limited(Option<RetryAfter>),
    /// A side sent a message or frame past `max_message`.
    TooLarge(Side),
    /// No message either way for `idle_timeout`.
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// A side broke the protocol or its connection.
    Failed(Side),
}

type Io = TokioIo<Upgraded>;

/// When a message last passed, either way.
struct LastSeen(Mutex<Instant>);

impl LastSeen {
    fn touch(&self) {
        *self.0.lock() = Instant::now();
    }
}

/// Relays the upgraded `client` and `upstream` connections until one
/// side closes, a bound trips or the server stops.
pub(super) async fn run(ws: &WebSockets, client: Io, upstream: Io, mut budget: Budget) {
    let max = ws.settings.max_message;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let client = WebSocketStream::from_raw_socket(client, Role::Server, Some(config)).await;
    let upstream = WebSocketStream::from_raw_socket(upstream, Role::Client, Some(config)).await;
    let (mut client_tx, mut client_rx) = client.split();
    let (mut upstream_tx, mut upstream_rx) = upstream.split();
    let last = LastSeen(Mutex::new(Instant::now()));
    let mut stop = ws.stop.clone();
    let end = tokio::select! {
        e = pump(ws, Side::Client, &mut client_rx, &mut upstream_tx, &last, Some(&mut budget)) => e,
        e = pump(ws, Side::Upstream, &mut upstream_rx, &mut client_tx, &last, None) => e,
        () = idle(&last, ws.settings.idle_timeout) => End::Idle,
        _ = stop.wait_for(|s| *s) => End::Shutdown,
    };
    let reason = match &end {
        End::Closed(side, _) => side.label(),
        End::Limited(_) => "message_limit",
        End::TooLarge(_) => "too_large",
        End::Idle => "idle",
        End::Shutdown => "shutdown",
        End::Failed(Side::Client) => "client_error",
        End::Failed(Side::Upstream) => "upstream_error",
    };
    ws.metrics.websocket().closed(reason);
    match &end {
        End::Limited(_) => ws.warn(reason, "WebSocket connection closed: message limit (1008)"),
        End::TooLarge(_) => ws.warn(
            reason,
            "WebSocket connection closed: message too large (1009)",
        ),
        _ => {}
    }
    let (to_client, to_upstream) = close_frames(end, ws);
    tracing::debug!(reason, "WebSocket connection closed");
    // Both sides are told at once; each then has a moment to answer.
    tokio::join!(
        finish(&mut client_tx, &mut client_rx, to_client),
        finish(&mut upstream_tx, &mut upstream_rx, to_upstream),
    );
}

/// What each side is sent (`None`: nothing more, its socket is closed).
fn close_frames(end: End, ws: &WebSockets) -> (Option<CloseFrame>, Option<CloseFrame>) {
    let frame = |code, reason: String| {
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    };
    let normal = || frame(CloseCode::Normal, String::new());
    match end {
        // The side that closed has had its close answered already; the
        // other gets the same frame (a frame without a code: a normal
        // close).
        End::Closed(Side::Client, f) => (None, f.or_else(normal)),
        End::Closed(Side::Upstream, f) => (f.or_else(normal), None),
        End::Limited(retry) => {
            let reason = match retry.and_then(RetryAfter::whole_seconds) {
                Some(s) => format!("message rate limit exceeded, retry after {s}s"),
                None => "message rate limit exceeded".to_string(),
            };
            let f = frame(CloseCode::Policy, reason);
            (f.clone(), f)
        }
        End::TooLarge(side) => {
            let max = ws.settings.max_message;
            let f = frame(
                CloseCode::Size,
                format!("{} sent a message over {max} bytes", side.label()),
            );
            (f.clone(), f)
        }
        End::Idle => {
            let secs = ws.settings.idle_timeout.as_secs();
            let f = frame(CloseCode::Away, format!("idle for {secs}s"));
            (f.clone(), f)
        }
        End::Shutdown => {
            let f = frame(CloseCode::Away, "server shutting down".into());
            (f.clone(), f)
        }
        End::Failed(Side::Client) => (None, frame(CloseCode::Away, "client went away".into())),
        End::Failed(Side::Upstream) => (
            frame(CloseCode::Error, "upstream connection failed".into()),
            None,
        ),
    }
}

/// Forwards what `from` sends until it stops or its client goes past a
/// bound. Only the client's pump has a budget.
async fn pump<R, W>(
    ws: &WebSockets,
    from: Side,
    rx: &mut R,
    tx: &mut W,
    last: &LastSeen,
    mut budget: Option<&mut Budget>,
) -> End
where
    R: Stream<Item = Result<Message, WsError>> + Unpin,
    W: Sink<Message, Error = WsError> + Unpin,
{
    let metrics = ws.metrics.websocket();
    let to = match from {
        Side::Client => Side::Upstream,
        Side::Upstream => Side::Client,
    };
    loop {
        let msg = match rx.next().await {
            Some(Ok(m)) => m,
            Some(Err(WsError::Capacity(_))) => {
                metrics.message(from.label(), "too_large");
                return End::TooLarge(from);
            }
            Some(Err(e)) => {
                tracing::debug!(side = from.label(), error = %e, "WebSocket read failed");
                return End::Failed(from);
            }
            None => return End::Failed(from),
        };
        last.touch();
        let data = match &msg {
            Message::Close(f) => return End::Closed(from, f.clone()),
            Message::Text(_) | Message::Binary(_) => true,
            _ => false,
        };
        if data {
            if let Some(b) = budget.as_deref_mut() {
                match b.spend().await {
                    Spend::Go(delay) if delay.is_zero() => {}
                    Spend::Go(delay) => tokio::time::sleep(delay).await,
                    Spend::Limited(retry) => {
                        metrics.message(from.label(), "limited");
                        return End::Limited(retry);
                    }
                }
            }
        }
        if let Err(e) = tx.send(msg).await {
            tracing::debug!(side = to.label(), error = %e, "WebSocket write failed");
            return End::Failed(to);
        }
        if data {
            metrics.message(from.label(), "forwarded");
        }
    }
}

/// Completes once no message has passed for `timeout`.
async fn idle(last: &LastSeen, timeout: Duration) {
    loop {
        let at = *last.0.lock() + timeout;
        if at <= Instant::now() {
            return;
        }
        tokio::time::sleep_until(at).await;
    }
}

/// Sends `frame` (if any) to one side, waits a moment for its answer,
/// and closes its socket.
async fn finish<W, R>(tx: &mut W, rx: &mut R, frame: Option<CloseFrame>)
where
    W: Sink<Message, Error = WsError> + Unpin,
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    if let Some(f) = frame {
        if tx.send(Message::Close(Some(f))).await.is_ok() {
            // Read until its close (or anything that ends the stream).
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                while let Some(Ok(m)) = rx.next().await {
                    if m.is_close() {
                        break;
                    }
                }
            })
            .await;
        }
    }
    let _ = tx.close().await;
}
