//! The listeners' metrics: connections open, accepted, rejected and timed
//! out, and requests refused for their size.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::primitives::{header, sample, Counters};

/// Counts of the listeners, by listener name.
#[derive(Default)]
pub struct Connections {
    open: Mutex<BTreeMap<&'static str, Arc<AtomicU64>>>,
    accepted: Counters,
    rejected: Counters,
    timeouts: Counters,
    too_large: Counters,
}

impl Connections {
    /// The count of `listener`'s open connections, which the listener
    /// keeps (and bounds) and the gauge reports.
    pub fn open(&self, listener: &'static str) -> Arc<AtomicU64> {
        self.open.lock().entry(listener).or_default().clone()
    }

    /// `listener` accepted a connection within its bounds.
    pub fn accepted(&self, listener: &str) {
        self.accepted.inc(&[listener]);
    }

    /// `listener` closed a new connection at once, past a bound.
    pub fn rejected(&self, listener: &str, reason: &str) {
        self.rejected.inc(&[listener, reason]);
    }

    /// `listener` closed a connection that timed out.
    pub fn timed_out(&self, listener: &str, reason: &str) {
        self.timeouts.inc(&[listener, reason]);
    }

    /// `listener` refused a request whose `part` was too large.
    pub fn too_large(&self, listener: &str, part: &str) {
        self.too_large.inc(&[listener, part]);
    }

    /// Writes the families.
    pub fn render(&self, out: &mut String) {
        header(
            out,
            "floodgate_connections_open",
            "Connections open, by listener.",
            "gauge",
        );
        for (listener, n) in self.open.lock().iter() {
            sample(
                out,
                "floodgate_connections_open",
                &[("listener", listener)],
                n.load(Ordering::Relaxed),
            );
        }
        self.accepted.render(
            out,
            "floodgate_connections_accepted_total",
            "Connections accepted within the listener's bounds.",
            &["listener"],
        );
        self.rejected.render(
            out,
            "floodgate_connections_rejected_total",
            "New connections closed at once, by the bound they were past (max, max_per_ip).",
            &["listener", "reason"],
        );
        self.timeouts.render(
            out,
            "floodgate_connection_timeouts_total",
            "Connections closed for a timeout (header_read: no whole request head in time; idle: no request on a keep-alive connection).",
            &["listener", "reason"],
        );
        self.too_large.render(
            out,
            "floodgate_requests_too_large_total",
            "Requests refused for a part larger than its bound (head: 431, body: 413).",
            &["listener", "part"],
        );
    }
}
