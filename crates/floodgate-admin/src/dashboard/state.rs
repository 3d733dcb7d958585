//! The dashboard's state: the analytics the decisions feed, the open
//! sessions, the store's view, and the fleet view.

use std::sync::Arc;

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
}
