//! What a listener's connections share: its name, bounds, metrics and
//! log gate.

use std::net::SocketAddr;
use std::sync::Arc;

use floodgate_core::gate::LogGate;

use super::bounds::Bounds;
use crate::config::ConnectionLimits;
use crate::observe::metrics::Metrics;

/// One listener's bounds, metrics and log gate.
pub(crate) struct Shared {
    pub(super) name: &'static str,
    pub(super) limits: ConnectionLimits,
    pub(super) metrics: Arc<Metrics>,
    pub(super) bounds: Arc<Bounds>,
    pub(super) log: LogGate,
}

impl Shared {
    pub(super) fn new(
        name: &'static str,
        limits: ConnectionLimits,
        metrics: Arc<Metrics>,
    ) -> Arc<Shared> {
        let bounds = Bounds::new(
            limits.max,
            limits.max_per_ip,
            metrics.connections_open(name),
        );
        Arc::new(Shared {
            name,
            limits,
            metrics,
            bounds,
            log: LogGate::once_a_second(Arc::new(floodgate_core::SystemClock)),
        })
    }

    pub(super) fn body_too_large(&self, declared: Option<u64>) {
        self.metrics.request_too_large(self.name, "body");
        if let Some(suppressed) = self.log.admit() {
            tracing::warn!(
                listener = self.name,
                max_body = self.limits.max_body,
                content_length = declared,
                suppressed_before = suppressed,
                "request body too large: answered 413"
            );
        }
    }

    pub(super) fn warn(&self, peer: SocketAddr, reason: &str, what: &str) {
        if let Some(suppressed) = self.log.admit() {
            tracing::warn!(
                listener = self.name,
                peer = %peer.ip(),
                reason,
                suppressed_before = suppressed,
                "{what}"
            );
        }
    }
}
