//! The control plane, built on the data plane's parts: admin tokens, the
//! dashboard and its view of the store, and the fleet view on Redis.

use std::net::SocketAddr;
use std::sync::Arc;

use floodgate_admin::auth::Auth;
use floodgate_admin::dashboard::session::Sessions;
use floodgate_admin::dashboard::Dashboard;
use floodgate_admin::fleet::{self, Fleet};
use floodgate_admin::view::Buckets;
use floodgate_admin::{Control, ControlState, RedisHealth, StoreView};

use super::options::Options;
use super::parts::Parts;
use crate::config::Config;
use crate::observe::metrics::store::{Leased, Resilient};
use crate::observe::metrics::Histogram;

/// The store as the dashboard sees it.
struct Store {
    redis: Option<Arc<Resilient>>,
    leased: Option<Arc<Leased>>,
    latency: Arc<Histogram>,
}

impl StoreView for Store {
    fn redis(&self) -> Option<RedisHealth> {
        self.redis.as_ref().map(|r| RedisHealth {
            breaker: r.breaker_state(),
            connected: r.inner().timed().connected().is_some(),
            stats: r.stats(),
            calls: r.inner().timed().gather_stats().0,
            leased: self.leased.as_ref().map(|l| (l.stats(), l.held_units())),
        })
    }

    fn store_latency(&self) -> Buckets {
        self.latency.buckets()
    }
}

/// The control plane's state for a server whose admin listener is at
/// `admin_addr`.
pub fn build(config: &Config, parts: &Parts, opts: &Options, admin_addr: SocketAddr) -> Control {
    let dashboard = &config.document.server.admin.dashboard;
    // In one region of several, the fleet is kept on the global store:
    // every region's replicas in one view, grouped by region.
    let fleet_store = config.global_redis.clone().or_else(|| config.redis.clone());
    let fleet = fleet_store.map(|rc| {
        Arc::new(
            Fleet::new(
                dashboard
                    .replica
                    .clone()
                    .unwrap_or_else(|| fleet::default_replica_name(admin_addr.port())),
                dashboard.publish_every(),
                dashboard.replica_timeout(),
                rc,
                opts.clock.clone(),
            )
            .in_region(config.region.as_ref().map(|r| r.share.name.to_string())),
        )
    });
    let replica = match (&fleet, &dashboard.replica) {
        (Some(f), _) => f.replica.clone(),
        (None, Some(name)) => name.clone(),
        (None, None) => admin_addr.to_string(),
    };
    Control::new(ControlState {
        handle: parts.handle.clone(),
        auth: Arc::new(Auth::new(config.admin_tokens.clone(), opts.clock.clone())),
        live: parts.live.clone(),
        dashboard: Arc::new(Dashboard {
            analytics: parts.analytics.clone(),
            sessions: Sessions::new(dashboard.session_ttl(), opts.clock.clone()),
            store: Arc::new(Store {
                redis: parts.stores.redis.clone(),
                leased: parts.stores.leased.clone(),
                latency: parts.metrics.store_latency().clone(),
            }),
            store_latency: Default::default(),
            replica,
            near_limit_share: dashboard.near_limit_share(),
            fleet,
            history: Default::default(),
        }),
    })
}
