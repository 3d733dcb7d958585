//! The dashboard's state: the analytics the decisions feed, the open
//! sessions, the store's view, the fleet view, and the last change
//! history read.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

use super::session::Sessions;
use crate::analytics::Analytics;
use crate::fleet::Fleet;
use crate::health::latency::Window;
use crate::view::StoreView;

/// The dashboard's state.
pub struct Dashboard {
    /// The analytics the decisions feed.
    pub analytics: Arc<Analytics>,
    /// Open sessions.
    pub sessions: Sessions,
    /// The data plane's store, for its health and latency.
    pub store: Arc<dyn StoreView>,
    /// The Redis store's latency over the last minute.
    pub store_latency: Window,
    /// This replica's name.
    pub replica: String,
    /// The near-limit share in force.
    pub near_limit_share: f64,
    /// The fleet view (on a Redis store).
    pub fleet: Option<Arc<Fleet>>,
    /// The last change history read, shown while it cannot be read.
    pub history: LastHistory,
}

/// The change history as last read: its entries (newest first) and when
/// they were read (Unix seconds); nothing before the first read.
#[derive(Default)]
pub struct LastHistory(Mutex<Option<(Vec<Value>, u64)>>);

impl LastHistory {
    /// Keeps `entries`, read at `now`.
    pub fn keep(&self, entries: Vec<Value>, now: u64) {
        *self.0.lock() = Some((entries, now));
    }

    /// The last entries kept and when they were read.
    pub fn last(&self) -> (Vec<Value>, Option<u64>) {
        match &*self.0.lock() {
            Some((entries, at)) => (entries.clone(), Some(*at)),
            None => (Vec::new(), None),
        }
    }
}
