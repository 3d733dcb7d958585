//! What a replica publishes of itself ([`Report`]), and the fleet as one
//! replica's dashboard shows it ([`FleetView`]): every replica heard of,
//! alive or gone, and the alive ones' counts added up.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analytics::snapshot::{Latency, Totals};
use crate::analytics::topk::{merge_top, Ranked};
use crate::analytics::{Snapshot, TopEntry};
use floodgate_redis::FleetMember;

/// One rule's counts on one replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleReport {
    /// The rule.
    pub rule: String,
    /// Since the replica started.
    pub totals: Totals,
    /// Over the last minute.
    pub last_minute: Totals,
}

/// A replica's report: its counts, top identities (API keys by
/// fingerprint, never raw), decision latency, store health and policy
/// version.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// Its name.
    pub replica: String,
    /// Its run's random id.
    pub instance: String,
    /// When it was made, Unix ms.
    pub time_ms: u64,
    /// When the replica started, Unix ms.
    pub started_ms: u64,
    /// The live policy's version it runs.
    pub policy_version: u64,
    /// All rules since start.
    pub totals: Totals,
    /// All rules over the last minute.
    pub last_minute: Totals,
    /// Each rule.
    pub rules: Vec<RuleReport>,
    /// Its most limited identities of the last 5 to 10 minutes.
    pub top_limited: Vec<TopEntry>,
    /// Its identities most often near a limit.
    pub top_near_limit: Vec<TopEntry>,
    /// Its decision latency over the last minute.
    pub latency: Latency,
    /// Its view of the store (as the dashboard's `store`).
    pub store: Value,
    /// Its region, when it runs in one of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

fn sum(v: &[u64]) -> u64 {
    v.iter().fold(0, |a, b| a.saturating_add(*b))
}

impl Report {
    /// The report of a snapshot of the last minute.
    pub fn new(
        replica: &str,
        instance: &str,
        time_ms: u64,
        started_ms: u64,
        policy_version: u64,
        s: Snapshot,
        store: Value,
    ) -> Report {
        let rules: Vec<RuleReport> = s
            .rules
            .iter()
            .map(|r| RuleReport {
                rule: r.rule.clone(),
                totals: r.totals,
                last_minute: Totals {
                    allowed: sum(&r.allowed),
                    limited: sum(&r.limited),
                    shadow_limited: sum(&r.shadow_limited),
                    near_limit: sum(&r.near_limit),
                },
            })
            .collect();
        let mut last_minute = Totals::default();
        for r in &rules {
            last_minute.add(&r.last_minute);
        }
        Report {
            replica: replica.to_string(),
            instance: instance.to_string(),
            time_ms,
            started_ms,
            policy_version,
            totals: s.totals,
            last_minute,
            rules,
            top_limited: s.top_limited,
            top_near_limit: s.top_near_limit,
            latency: s.latency,
            store,
            region: None,
        }
    }
}

/// One replica in the fleet view.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaView {
    /// Its name.
    pub replica: String,
    /// Whether it is the replica answering.
    pub this: bool,
    /// Heard from within the replica timeout.
    pub alive: bool,
    /// When it last published, Unix ms.
    pub seen_ms: u64,
    /// How long ago, ms (by the answering replica's clock).
    pub age_ms: u64,
    /// Its last report (none if unreadable).
    pub report: Option<Report>,
    /// Why its report could not be read, when it could not.
    pub report_error: Option<String>,
    /// Its instance id keeps changing: two replicas publish under this
    /// name, and overwrite each other's report.
    pub name_conflict: bool,
    /// Its region (from its report), when it runs in one of several.
    pub region: Option<String>,
}

/// One region's replicas in the fleet view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RegionView {
    /// The region.
    pub region: String,
    /// Its replicas alive.
    pub alive: usize,
    /// Its replicas gone.
    pub gone: usize,
}

/// The fleet as one replica sees it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FleetView {
    /// A replica silent for longer is gone.
    pub replica_timeout_ms: u64,
    /// Replicas alive.
    pub alive: usize,
    /// Replicas gone (silent past the timeout, not yet forgotten).
    pub gone: usize,
    /// Every replica, by region (when replicas run in several), then
    /// alive first, by name.
    pub replicas: Vec<ReplicaView>,
    /// Each region's replicas alive and gone, by name (empty when no
    /// replica names a region).
    pub regions: Vec<RegionView>,
    /// The alive replicas' totals since each started.
    pub totals: Totals,
    /// The alive replicas' last minute.
    pub last_minute: Totals,
    /// Each rule, over the alive replicas.
    pub rules: Vec<RuleReport>,
    /// The most limited identities over the alive replicas.
    pub top_limited: Vec<TopEntry>,
    /// The identities most often near a limit over the alive replicas.
    pub top_near_limit: Vec<TopEntry>,
    /// When this view was read, Unix ms (the clock reports are stamped
    /// with: Redis' by default).
    pub updated_ms: u64,
    /// The fleet holds the most replicas it keeps (256): the longest
    /// silent are being dropped.
    pub truncated: bool,
    /// Why the fleet could not be read or published to at the last try,
    /// when it could not (the rest of the view is then the last read).
    pub error: Option<String>,
}

impl Ranked for TopEntry {
    type Key = (String, String);
    fn key(&self) -> (String, String) {
        (self.kind.clone(), self.identity.clone())
    }
    fn count(&self) -> u64 {
        self.count
    }
    fn absorb(&mut self, other: &TopEntry) {
        self.count = self.count.saturating_add(other.count);
        self.error = self.error.saturating_add(other.error);
        if self.tier.is_none() {
            self.tier.clone_from(&other.tier);
        }
        // The highest share and its rule (None is below any share).
        if other.share > self.share {
            (self.share, self.rule) = (other.share, other.rule.clone());
        } else if self.rule.is_none() {
            self.rule.clone_from(&other.rule);
        }
    }
    fn tie(&self, other: &TopEntry) -> std::cmp::Ordering {
        (&self.kind, &self.identity).cmp(&(&other.kind, &other.identity))
    }
}

impl FleetView {
    /// The view of `replicas` as `this` sees them at `now_ms`.
    pub fn new(
        this: &str,
        now_ms: u64,
        timeout_ms: u64,
        members: Vec<FleetMember>,
        top: usize,
    ) -> FleetView {
        let mut v = FleetView {
            replica_timeout_ms: timeout_ms,
            ..FleetView::default()
        };
        let mut rules: Vec<RuleReport> = Vec::new();
        for m in members {
            let (replica, seen_ms) = (m.replica, m.seen_ms);
            let (report, report_error) =
                match m.report.as_deref().map(serde_json::from_str::<Report>) {
                    Some(Ok(r)) => (Some(r), None),
                    Some(Err(e)) => (None, Some(format!("unreadable report: {e}"))),
                    None => (None, Some("no report".to_string())),
                };
            let age_ms = now_ms.saturating_sub(seen_ms);
            let alive = age_ms <= timeout_ms;
            if alive {
                v.alive += 1;
                if let Some(r) = &report {
                    v.totals.add(&r.totals);
                    v.last_minute.add(&r.last_minute);
                    for rr in &r.rules {
                        match rules.iter_mut().find(|m| m.rule == rr.rule) {
                            Some(m) => {
                                m.totals.add(&rr.totals);
                                m.last_minute.add(&rr.last_minute);
                            }
                            None => rules.push(rr.clone()),
                        }
                    }
                }
            } else {
                v.gone += 1;
            }
            let region = report.as_ref().and_then(|r| r.region.clone());
            if let Some(name) = &region {
                match v.regions.iter_mut().find(|g| g.region == *name) {
                    Some(g) => {
                        g.alive += usize::from(alive);
                        g.gone += usize::from(!alive);
                    }
                    None => v.regions.push(RegionView {
                        region: name.clone(),
                        alive: usize::from(alive),
                        gone: usize::from(!alive),
                    }),
                }
            }
            v.replicas.push(ReplicaView {
                region,
                this: replica == this,
                replica,
                alive,
                seen_ms,
                age_ms,
                report,
                report_error,
                name_conflict: false,
            });
        }
        v.replicas.sort_by(|a, b| {
            a.region
                .cmp(&b.region)
                .then(b.alive.cmp(&a.alive))
                .then(a.replica.cmp(&b.replica))
        });
        v.regions.sort_by(|a, b| a.region.cmp(&b.region));
        let alive_reports = || {
            v.replicas
                .iter()
                .filter(|r| r.alive)
                .filter_map(|r| r.report.as_ref())
        };
        v.top_limited = merge_top(alive_reports().map(|r| r.top_limited.as_slice()), top);
        v.top_near_limit = merge_top(alive_reports().map(|r| r.top_near_limit.as_slice()), top);
        v.rules = rules;
        v
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
