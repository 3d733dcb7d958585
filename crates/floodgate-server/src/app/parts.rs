//! The data plane's shared parts, built once at start: the store (with
//! its failure policy), the live policy's first version and the one
//! limiter built from it, the handle every entry point decides on, the
//! metrics and the analytics the decisions feed.

use std::sync::Arc;

use floodgate_admin::analytics::Analytics;
use floodgate_admin::live::{Initial, LivePolicy};
use floodgate_core::Limiter;
use floodgate_tower::{Both, LimiterHandle};

use super::error::ServerError;
use super::options::Options;
use super::stores::{self, Stores};
use crate::config::Config;
use crate::gateway::overload::Overload;
use crate::net::Workers;
use crate::observe::logs::RejectionLog;
use crate::observe::metrics::store::STORE_BUCKETS;
use crate::observe::metrics::{Exposition, Histogram, Metrics, Sources};

/// What the listeners and the control plane share.
pub struct Parts {
    /// The store, its Redis wrapper, and where the policy is kept.
    pub stores: Stores,
    /// Every decision is made on it.
    pub handle: LimiterHandle,
    /// The live policy.
    pub live: Arc<LivePolicy>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The dashboard's analytics.
    pub analytics: Arc<Analytics>,
    /// The gateway's load shedding, if on.
    pub overload: Option<Arc<Overload>>,
}

impl Parts {
    /// Builds the parts for `config`; the store's connections run on
    /// `workers`.
    pub async fn build(
        config: &Config,
        opts: &Options,
        workers: &Workers,
    ) -> Result<Parts, ServerError> {
        let store_latency = Arc::new(Histogram::new(STORE_BUCKETS));
        let stores = stores::build(
            config,
            opts.monotonic.clone(),
            store_latency.clone(),
            workers.placement(),
        )
        .await?;
        let stores =
            stores::with_global(stores, config, opts.monotonic.clone(), workers.placement())
                .await?;
        let initial = Initial::load(
            config.document.policy.clone(),
            config.policy.clone(),
            stores.policy_backend.as_ref(),
            opts.clock.now(),
        )
        .await?;
        let overload = config
            .upstream
            .as_ref()
            .and_then(|u| u.overload)
            .map(|s| Overload::new(s, opts.monotonic.clone()));
        // The dashboard and the metric `floodgate_near_limit_total` count
        // near-limit decisions at the same share.
        let near_limit_share = config.document.server.admin.dashboard.near_limit_share();
        let metrics = Arc::new(Metrics::new(Sources {
            store: stores.store.clone(),
            redis: stores.redis.clone(),
            leased: stores.leased.clone(),
            global: stores
                .global
                .as_ref()
                .map(|g| crate::observe::metrics::global::Source {
                    share: g.share.clone(),
                    redis: g.redis.clone(),
                    pool: g.pool.clone(),
                    scoped: stores.scoped.clone().expect("a region's store is scoped"),
                    leased: g.leased.clone(),
                    latency: g.latency.clone(),
                }),
            store_latency,
            overload: overload.clone().map(|o| o as Arc<dyn Exposition>),
            rejections: RejectionLog::new(config.log.rejections_per_second, opts.clock.clone()),
            near_limit_share,
        }));
        let analytics = Arc::new(Analytics::new(near_limit_share, opts.clock.clone()));
        // The one limiter of the first version.
        let limiter = Arc::new(Limiter::new(initial.policy().clone(), stores.store.clone()));
        let handle = LimiterHandle::with_clock(
            limiter,
            config.trusted_proxies.clone(),
            opts.clock.clone(),
            Some(Arc::new(Both(metrics.clone(), analytics.clone()))),
        );
        handle.set_unavailable_status(config.fail_closed_status);
        let live = LivePolicy::start(
            initial,
            stores.policy_backend.clone(),
            handle.clone(),
            stores.store.clone(),
            opts.clock.clone(),
        )
        .await;
        Ok(Parts {
            stores,
            handle,
            live,
            metrics,
            analytics,
            overload,
        })
    }
}
