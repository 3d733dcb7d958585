//! WebSocket proxying for the gateway (RFC 6455): an upgrade request that
//! the rules allowed is forwarded to the upstream on a connection of its
//! own; once the upstream answers `101 Switching Protocols`, the gateway
//! relays messages both ways, within its bounds (`websocket:`):
//!
//! - `max_connections` open at once (past it: 503, nothing forwarded);
//! - `idle_timeout`: no message either way for so long closes both sides
//!   (close code 1001);
//! - `max_message`: a larger message or frame, either way, closes both
//!   sides (1009);
//! - `messages`: the client's data messages (text and binary) against one
//!   rate limit, per connection or per client (`key`); the first one past
//!   it is dropped and both sides are closed (1008, with the reason).
//!
//! # Layout
//!
//! - this file: the settings and the shared state;
//! - `handshake`: the upgrade request to the upstream and its answer;
//! - `relay`: the messages both ways, and how a connection ends;
//! - `budget`: the message limit, on the connection or in the store.

mod budget;
mod handshake;
mod relay;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use floodgate_config::websocket::{defaults, WebSocketSection};
use floodgate_config::{ConfigError, Source};
use floodgate_core::policy::KeyPart;
use floodgate_core::Quota;
use floodgate_tower::LimiterHandle;
use http::header::{CONNECTION, UPGRADE};
use http::{Method, Request};
use tokio::sync::watch;

use crate::observe::metrics::Metrics;
use floodgate_core::gate::LogGate;

pub use handshake::forward;

/// Whose message budget a connection spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetKey {
    /// Each connection its own, kept with the connection.
    Connection,
    /// Every connection of one client one budget, kept in the store under
    /// the identity a rule keyed by this part gives the client.
    Client(KeyPart),
}

impl BudgetKey {
    /// The name as written in `websocket.key`.
    pub fn name(self) -> &'static str {
        match self {
            BudgetKey::Connection => "connection",
            BudgetKey::Client(KeyPart::Ip) => "ip",
            BudgetKey::Client(KeyPart::ApiKey) => "api_key",
            BudgetKey::Client(KeyPart::User) => "user",
            // Not among the keys `websocket.key` accepts.
            BudgetKey::Client(_) => "client",
        }
    }
}

/// `websocket:` with its defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// WebSocket connections open at once at most.
    pub max_connections: usize,
    /// Close after this long without a message either way.
    pub idle_timeout: Duration,
    /// The largest message or frame, in bytes.
    pub max_message: usize,
    /// The limit on the client's data messages, if any.
    pub messages: Option<Quota>,
    /// Whose budget `messages` is.
    pub key: BudgetKey,
}

impl Settings {
    /// The settings of a checked section; `None` when disabled. `src` is
    /// the file, for the errors of `messages` (already checked).
    pub fn from_section(
        s: &WebSocketSection,
        src: &Source,
    ) -> Result<Option<Settings>, ConfigError> {
        if s.enabled == Some(false) {
            return Ok(None);
        }
        let key = match s.key.as_deref() {
            Some("ip") => BudgetKey::Client(KeyPart::Ip),
            Some("api_key") => BudgetKey::Client(KeyPart::ApiKey),
            Some("user") => BudgetKey::Client(KeyPart::User),
            _ => BudgetKey::Connection,
        };
        Ok(Some(Settings {
            max_connections: s.max_connections.unwrap_or(defaults::MAX_CONNECTIONS) as usize,
            idle_timeout: s.idle_timeout.map_or(defaults::IDLE_TIMEOUT, |d| d.0),
            max_message: usize::try_from(s.max_message.map_or(defaults::MAX_MESSAGE, |m| m.0))
                .unwrap_or(usize::MAX),
            messages: s.messages_quota(src, &["websocket".into()])?,
            key,
        }))
    }
}

/// What every proxied WebSocket connection shares.
pub struct WebSockets {
    settings: Settings,
    open: AtomicUsize,
    metrics: Arc<Metrics>,
    handle: LimiterHandle,
    stop: watch::Receiver<bool>,
    log: LogGate,
    /// Woken when a connection closes.
    closed: tokio::sync::Notify,
}

impl WebSockets {
    /// Proxying within `settings`; message budgets are decided on the
    /// clock and (shared by clients) the store of `handle`; `stop` turning
    /// true closes every connection (1001).
    pub fn new(
        settings: Settings,
        metrics: Arc<Metrics>,
        handle: LimiterHandle,
        stop: watch::Receiver<bool>,
    ) -> Arc<WebSockets> {
        metrics.websocket().enable();
        Arc::new(WebSockets {
            settings,
            open: AtomicUsize::new(0),
            metrics,
            log: LogGate::once_a_second(handle.clock().clone()),
            handle,
            stop,
            closed: tokio::sync::Notify::new(),
        })
    }

    /// Completes once no connection is open: the shutdown waits for it
    /// (within its grace), so that every relay sends both sides its close
    /// frame before the process exits.
    pub async fn drained(&self) {
        loop {
            let closed = self.closed.notified();
            let mut closed = std::pin::pin!(closed);
            closed.as_mut().enable();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            closed.await;
        }
    }

    /// Logs at warn that a bound tripped (`reason`): a line a second at
    /// most, saying how many were left out before it.
    fn warn(&self, reason: &str, what: &str) {
        if let Some(suppressed) = self.log.admit() {
            tracing::warn!(reason, suppressed_before = suppressed, "{what}");
        }
    }

    /// A place among the open connections, if one is free.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let max = self.settings.max_connections;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

/// A place among the open WebSocket connections, given back when dropped.
struct Slot(Arc<WebSockets>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_waiters();
    }
}

/// Whether `req` asks to become a WebSocket connection: `GET` with
/// `Connection: upgrade` and `Upgrade: websocket` (tokens, any case).
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    let has_token = |name, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    req.method() == Method::GET
        && has_token(CONNECTION, "upgrade")
        && has_token(UPGRADE, "websocket")
}
