//! The fleet view: on a Redis store, every replica publishes a report of
//! itself (`admin.dashboard.publish_every`, default every 2 s) into Redis
//! ([`floodgate_redis::RedisFleet`]), and any replica's dashboard reads
//! them all: which replicas are alive (heard from within
//! `admin.dashboard.replica_timeout`), and their counts added up.
//!
//! Publishing is a background task, never on a request's path; while
//! Redis is away a replica keeps trying, and its dashboard says why the
//! fleet cannot be read.
//!
//! # Layout
//!
//! - [`report`]: what a replica publishes, and the fleet view.

pub mod report;

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::Clock;
use floodgate_redis::{RedisConfig, RedisFleet};
use tokio::sync::{watch, OnceCell};

use crate::admin::Admin;
use crate::dashboard::data::TOP;
use report::{FleetView, Report};

/// A replica gone quiet for this long is forgotten (and the fleet's keys
/// expire when every replica has).
pub const FORGET_AFTER: Duration = Duration::from_secs(3_600);

/// The seconds of each rule a report covers.
const REPORT_SECS: usize = 60;

/// This replica's part in the fleet view.
pub struct Fleet {
    /// This replica's name.
    pub replica: String,
    /// How often it publishes.
    pub publish_every: Duration,
    /// A replica silent for longer is gone.
    pub replica_timeout: Duration,
    clock: Arc<dyn Clock>,
    config: RedisConfig,
    redis: OnceCell<RedisFleet>,
    started_ms: u64,
}

fn ms(clock: &dyn Clock) -> u64 {
    clock.now().0 / 1_000
}

impl Fleet {
    /// The fleet on the Redis `config` names, as `replica`.
    pub fn new(
        replica: String,
        publish_every: Duration,
        replica_timeout: Duration,
        config: RedisConfig,
        clock: Arc<dyn Clock>,
    ) -> Fleet {
        let started_ms = ms(clock.as_ref());
        Fleet {
            replica,
            publish_every,
            replica_timeout,
            clock,
            config,
            redis: OnceCell::new(),
            started_ms,
        }
    }

    async fn redis(&self) -> Result<&RedisFleet, String> {
        self.redis
            .get_or_try_init(|| RedisFleet::connect(&self.config))
            .await
            .map_err(|e| format!("Redis: {e}"))
    }

    /// This replica's report, now.
    async fn report(&self, admin: &Admin) -> Report {
        let s = admin.dashboard.analytics.snapshot(REPORT_SECS, TOP);
        let store = crate::dashboard::data::store(admin, &s);
        Report::new(
            &self.replica,
            ms(self.clock.as_ref()),
            self.started_ms,
            admin.live.version(),
            s,
            store,
        )
    }

    /// Publishes this replica's report once.
    pub async fn publish(&self, admin: &Admin) -> Result<usize, String> {
        let report = self.report(admin).await;
        let text = serde_json::to_string(&report).map_err(|e| e.to_string())?;
        self.redis()
            .await?
            .publish(&self.replica, report.time_ms, &text, FORGET_AFTER)
            .await
            .map_err(|e| format!("Redis: {e}"))
    }

    /// The fleet as this replica sees it now.
    pub async fn view(&self) -> FleetView {
        let timeout_ms = u64::try_from(self.replica_timeout.as_millis()).unwrap_or(u64::MAX);
        let members = match self.redis().await {
            Ok(r) => r.members().await.map_err(|e| format!("Redis: {e}")),
            Err(e) => Err(e),
        };
        match members {
            Ok(members) => {
                let members = members
                    .into_iter()
                    .map(|m| {
                        let report = m.report.and_then(|t| serde_json::from_str(&t).ok());
                        (m.replica, m.seen_ms, report)
                    })
                    .collect();
                FleetView::new(
                    &self.replica,
                    ms(self.clock.as_ref()),
                    timeout_ms,
                    members,
                    TOP,
                )
            }
            Err(e) => FleetView {
                replica_timeout_ms: timeout_ms,
                error: Some(e),
                ..FleetView::default()
            },
        }
    }
}

/// Publishes `admin`'s fleet report every `publish_every` until `stop`
/// turns true (a last report is not sent: the replica simply goes quiet,
/// and is shown gone after the timeout). Failures are logged once per
/// change of state, not every time.
pub fn spawn_publisher(admin: Admin, mut stop: watch::Receiver<bool>) {
    let Some(fleet) = admin.dashboard.fleet.clone() else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(fleet.publish_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            match fleet.publish(&admin).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!(replica = %fleet.replica, "fleet report published again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(replica = %fleet.replica, error = %e, "fleet report not published");
                }
                Err(_) => {}
            }
        }
    });
}

/// The default replica name: the host name and the admin listener's
/// port.
pub fn default_replica_name(admin_port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 100
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{admin_port}")
}
