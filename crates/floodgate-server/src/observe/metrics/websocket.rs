//! The gateway's WebSocket metrics: connections open and attempted,
//! messages relayed or refused, and why connections closed. Reported only
//! when the gateway proxies WebSocket connections.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::primitives::{single, Counters};

/// Counts of the proxied WebSocket connections.
#[derive(Default)]
pub struct WebSocketMetrics {
    enabled: AtomicBool,
    open: AtomicU64,
    connections: Counters,
    messages: Counters,
    closed: Counters,
}

impl WebSocketMetrics {
    /// Report these metrics (the gateway proxies WebSocket connections).
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// A connection was relayed from now on.
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.connections.inc(&["opened"]);
    }

    /// An upgrade request did not become a relayed connection: `refused`
    /// (at `max_connections`), `upstream_declined` (the upstream answered
    /// without switching protocols), `upstream_error` (unreachable or too
    /// slow).
    pub fn not_opened(&self, outcome: &str) {
        self.connections.inc(&[outcome]);
    }

    /// A message from `from` (`client`, `upstream`) was `forwarded`, or
    /// refused: `limited` (past `messages`), `too_large` (past
    /// `max_message`).
    pub fn message(&self, from: &str, outcome: &str) {
        self.messages.inc(&[from, outcome]);
    }

    /// A relayed connection closed for `reason`.
    pub fn closed(&self, reason: &str) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.closed.inc(&[reason]);
    }

    /// Writes the families (nothing unless enabled).
    pub fn render(&self, out: &mut String) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        single(
            out,
            "floodgate_websocket_connections_open",
            "WebSocket connections relayed to the upstream now.",
            "gauge",
            self.open.load(Ordering::Relaxed),
        );
        self.connections.render(
            out,
            "floodgate_websocket_connections_total",
            "WebSocket upgrade requests past the rules, by outcome (opened, refused, upstream_declined, upstream_error).",
            &["outcome"],
        );
        self.messages.render(
            out,
            "floodgate_websocket_messages_total",
            "WebSocket data messages, by sender (client, upstream) and outcome (forwarded, limited, too_large).",
            &["from", "outcome"],
        );
        self.closed.render(
            out,
            "floodgate_websocket_closed_total",
            "Relayed WebSocket connections closed, by reason (client, upstream, message_limit, too_large, idle, shutdown, client_error, upstream_error).",
            &["reason"],
        );
    }
}
