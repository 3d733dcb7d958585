//! The control plane's state: what every admin API and dashboard handler
//! reaches. It sees the data plane only through the limiter handle it
//! swaps policies into and the [`StoreView`](crate::StoreView).

use std::sync::Arc;

use floodgate_tower::LimiterHandle;

use crate::analytics::Snapshot;
use crate::auth::Auth;
use crate::dashboard::state::Dashboard;
use crate::live::LivePolicy;

/// The control plane's state, shared: every request gets a clone of
/// one `Arc` (one reference count), whatever the state holds.
#[derive(Clone)]
pub struct Control(Arc<ControlState>);

impl Control {
    /// The state, shared.
    pub fn new(state: ControlState) -> Control {
        Control(Arc::new(state))
    }
}

impl std::ops::Deref for Control {
    type Target = ControlState;
    fn deref(&self) -> &ControlState {
        &self.0
    }
}

/// What the admin API and the dashboard reach.
pub struct ControlState {
    /// The limiter the data plane decides with (the live policy swaps
    /// it; the counters API inspects and resets its store).
    pub handle: LimiterHandle,
    /// Admin tokens and failed attempts (tokens swapped by reloads).
    pub auth: Arc<Auth>,
    /// The live policy (the admin API changes it).
    pub live: Arc<LivePolicy>,
    /// The dashboard: analytics, sessions, the store's health.
    pub dashboard: Arc<Dashboard>,
}

impl crate::fleet::Reporter for Control {
    fn report_parts(&self, secs: usize, top: usize) -> (Snapshot, serde_json::Value, u64) {
        let d = &self.dashboard;
        let s = d.analytics.snapshot(secs, top);
        let store = crate::health::store(d.store.as_ref(), &d.store_latency, &s);
        (s, store, self.live.version())
    }
}
