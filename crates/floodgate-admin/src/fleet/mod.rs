//! The fleet view: on a Redis store, every replica publishes a report of
//! itself (`admin.dashboard.publish_every`, default every 2 s) into Redis
//! ([`floodgate_redis::RedisFleet`]) and reads everyone's back; its
//! dashboard shows the last read: which replicas are alive (heard from
//! within `admin.dashboard.replica_timeout`), and their counts added up.
//!
//! Both happen in one background task, never on a request's path nor on
//! the dashboard's: a dashboard poll takes the last view from memory, so a
//! slow or absent Redis never holds it up (the view then says why it is
//! stale). Report times follow `store.time`: Redis' `TIME` by default, so
//! that replicas with skewed clocks still agree on who is alive.
//!
//! # Layout
//!
//! - [`report`]: what a replica publishes, and the fleet view.
//! - [`names`]: replicas publishing under one name, found out.

pub mod names;
pub mod report;

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::Clock;
use floodgate_redis::fleet::MAX_REPLICAS;
use floodgate_redis::{RedisConfig, RedisFleet, TimeSource};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::analytics::Snapshot;
use crate::health::TOP;
use names::Instances;
use report::{FleetView, Report};

/// A replica gone quiet this long is forgotten, or three replica
/// timeouts if that is longer (and the fleet's keys expire when every
/// replica has).
pub const FORGET_AFTER: Duration = Duration::from_secs(3_600);

/// The seconds of each rule a report covers.
const REPORT_SECS: usize = 60;

/// Why a round of the fleet view failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The report could not be written as JSON.
    #[error("the report cannot be written: {0}")]
    Report(#[from] serde_json::Error),
    /// Redis cannot be reached.
    #[error("Redis: {0}")]
    Connect(#[from] floodgate_redis::ConnectError),
    /// Redis did not take the report or give the fleet back.
    #[error("Redis: {0}")]
    Store(#[from] floodgate_core::StoreError),
}

/// What a replica reports of itself, asked once a round.
pub trait Reporter: Send + Sync + 'static {
    /// The analytics of the last `secs` with the top `top` identities,
    /// the store's health, and the live policy's version.
    fn report_parts(&self, secs: usize, top: usize) -> (Snapshot, serde_json::Value, u64);
}

/// This replica's part in the fleet view.
pub struct Fleet {
    /// This replica's name.
    pub replica: String,
    /// This run's random id (a restart, or another replica of the same
    /// name, has another).
    pub instance: String,
    /// How often it publishes and reads.
    pub publish_every: Duration,
    /// A replica silent for longer is gone.
    pub replica_timeout: Duration,
    clock: Arc<dyn Clock>,
    caller_time: bool,
    config: RedisConfig,
    started_ms: u64,
    view: Mutex<FleetView>,
    instances: Mutex<Instances>,
    region: Option<String>,
}

fn ms(clock: &dyn Clock) -> u64 {
    clock.now().0 / 1_000
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    // Without randomness, the time: still unlikely to collide.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = (t as u64).to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
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
            instance: random_id(),
            publish_every,
            replica_timeout,
            caller_time: config.time == TimeSource::Caller,
            clock,
            config,
            started_ms,
            view: Mutex::new(FleetView {
                replica_timeout_ms: millis(replica_timeout),
                error: Some("not read yet".into()),
                ..FleetView::default()
            }),
            instances: Mutex::new(Instances::default()),
            region: None,
        }
    }

    /// The same fleet, this replica's reports naming its region (the
    /// fleet view groups replicas by region).
    pub fn in_region(mut self, region: Option<String>) -> Fleet {
        self.region = region;
        self
    }

    /// How long a silent replica is kept.
    pub fn forget_after(&self) -> Duration {
        FORGET_AFTER.max(self.replica_timeout * 3)
    }

    /// This replica's report, now.
    fn report(&self, source: &dyn Reporter) -> Report {
        let (s, store, version) = source.report_parts(REPORT_SECS, TOP);
        Report {
            region: self.region.clone(),
            ..Report::new(
                &self.replica,
                &self.instance,
                ms(self.clock.as_ref()),
                self.started_ms,
                version,
                s,
                store,
            )
        }
    }

    /// Publishes this replica's report and reads the fleet back, once;
    /// the view the dashboard shows is the result (or, on failure, the
    /// last one with the reason).
    pub async fn round(&self, source: &dyn Reporter, redis: &RedisFleet) -> Result<(), FleetError> {
        let report = self.report(source);
        let text = serde_json::to_string(&report)?;
        let at = self.caller_time.then_some(report.time_ms);
        let published = redis
            .publish(&self.replica, at, &text, self.forget_after())
            .await?;
        if published.evicted > 0 {
            tracing::warn!(
                evicted = published.evicted,
                "the fleet holds more than {MAX_REPLICAS} replicas: the longest silent were dropped"
            );
        }
        let read = redis.read().await?;
        let now_ms = if self.caller_time {
            ms(self.clock.as_ref())
        } else {
            read.redis_now_ms
        };
        let mut view = FleetView::new(
            &self.replica,
            now_ms,
            millis(self.replica_timeout),
            read.members,
            TOP,
        );
        let conflicts = self
            .instances
            .lock()
            .observe(view.replicas.iter().filter_map(|r| {
                r.report
                    .as_ref()
                    .map(|rep| (r.replica.as_str(), rep.instance.as_str()))
            }));
        view.truncated = published.evicted > 0 || view.replicas.len() >= MAX_REPLICAS;
        for r in &mut view.replicas {
            r.name_conflict = conflicts.contains(&r.replica);
        }
        view.updated_ms = now_ms;
        *self.view.lock() = view;
        Ok(())
    }

    /// The last view read, at once.
    pub fn view(&self) -> FleetView {
        self.view.lock().clone()
    }

    fn failed(&self, error: FleetError) {
        self.view.lock().error = Some(error.to_string());
    }
}

/// Publishes `source`'s fleet report and reads the fleet every
/// `publish_every` until `stop` turns true (a last report is not sent:
/// the replica simply goes quiet, and is shown gone after the timeout).
/// Failures are logged once per change of state, not every time.
pub fn spawn(fleet: Arc<Fleet>, source: Arc<dyn Reporter>, mut stop: watch::Receiver<bool>) {
    tracing::info!(replica = %fleet.replica, instance = %fleet.instance, "publishing to the fleet view");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(fleet.publish_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redis: Option<RedisFleet> = None;
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let round = async {
                if redis.is_none() {
                    redis = Some(
                        RedisFleet::connect(&fleet.config)
                            .await
                            .map_err(FleetError::Connect)?,
                    );
                }
                match &redis {
                    Some(r) => fleet.round(source.as_ref(), r).await,
                    None => Ok(()),
                }
            };
            let result = tokio::select! {
                r = round => r,
                _ = stop.changed() => return,
            };
            match result {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(replica = %fleet.replica, "fleet view: Redis answers again");
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(replica = %fleet.replica, error = %e, "fleet view: report not published");
                    }
                    fleet.failed(e);
                }
            }
        }
    });
}

/// The default replica name: the host name and the admin listener's port
/// (`localhost:port` when the host name cannot be read or is not made of
/// `A-Z a-z 0-9 _ - .`).
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
