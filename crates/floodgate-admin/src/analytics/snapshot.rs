//! What a reader gets of the analytics: each rule's last seconds and
//! totals, the top identities, and latency percentiles.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::record::Shard;
use super::record::{LATENCY_BOUNDS_US, LATENCY_BUCKETS};
use super::series::Counts;
use super::topk::{merge_top, Counted, Ranked};

use super::bounds::{LATENCY_SECS, TOP_WINDOW_SECS};
use super::series::HISTORY_SECS;
use super::Analytics;

/// Counts by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Allowed.
    pub allowed: u64,
    /// Denied by an enforced limit.
    pub limited: u64,
    /// Would have been denied by a shadow rule.
    pub shadow_limited: u64,
    /// Allowed, near a limit.
    pub near_limit: u64,
}

impl From<Counts> for Totals {
    fn from(c: Counts) -> Totals {
        Totals {
            allowed: c[0],
            limited: c[1],
            shadow_limited: c[2],
            near_limit: c[3],
        }
    }
}

impl Totals {
    /// Adds `o` (saturating: the counts may come from other replicas).
    pub fn add(&mut self, o: &Totals) {
        self.allowed = self.allowed.saturating_add(o.allowed);
        self.limited = self.limited.saturating_add(o.limited);
        self.shadow_limited = self.shadow_limited.saturating_add(o.shadow_limited);
        self.near_limit = self.near_limit.saturating_add(o.near_limit);
    }
}

/// One rule's last seconds, oldest first, and its totals since start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RuleView {
    /// The rule.
    pub rule: String,
    /// Allowed a second.
    pub allowed: Vec<u64>,
    /// Limited a second.
    pub limited: Vec<u64>,
    /// Shadow-limited a second.
    pub shadow_limited: Vec<u64>,
    /// Near-limit a second.
    pub near_limit: Vec<u64>,
    /// Since start.
    pub totals: Totals,
}

/// One of the top identities.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TopEntry {
    /// `api_key` (by fingerprint), `user`, `ip` or `unknown`.
    pub kind: String,
    /// The fingerprint, user id or IP.
    pub identity: String,
    /// The API key's client name, when known.
    pub client: Option<String>,
    /// The tier, when known.
    pub tier: Option<String>,
    /// The rule that limited it (the limited list), or the rule of its
    /// highest share (the near-limit list); the last one seen when several
    /// did equally.
    #[serde(default)]
    pub rule: Option<String>,
    /// The near-limit list: the highest share of a limit it used (0 to 1)
    /// in the window.
    #[serde(default)]
    pub share: Option<f64>,
    /// Requests counted (at most `error` above the truth).
    pub count: u64,
    /// The most `count` may be over.
    pub error: u64,
}

/// A shard's counted identity with its rule's name (shards number their
/// rules each their own way), as the shards' lists are merged.
#[derive(Clone)]
struct Named {
    counted: Counted,
    rule: Option<Arc<str>>,
}

impl Named {
    /// The `entries` of a sketch of `shard`, their rules named.
    fn all(shard: &Shard, entries: &[Counted]) -> Vec<Named> {
        entries
            .iter()
            .map(|c| Named {
                counted: c.clone(),
                rule: shard.rule_name(c.rule),
            })
            .collect()
    }
}

impl Ranked for Named {
    type Key = u64;
    fn key(&self) -> u64 {
        self.counted.key
    }
    fn count(&self) -> u64 {
        self.counted.count
    }
    fn absorb(&mut self, other: &Named) {
        self.counted.absorb(&other.counted);
        if other.counted.peak > self.counted.peak || self.rule.is_none() {
            self.counted.peak = self.counted.peak.max(other.counted.peak);
            self.rule.clone_from(&other.rule);
        }
    }
    fn tie(&self, other: &Named) -> std::cmp::Ordering {
        self.counted.tie(&other.counted)
    }
}

impl From<Named> for TopEntry {
    fn from(Named { counted: c, rule }: Named) -> TopEntry {
        TopEntry {
            kind: c.label.kind().as_str().into(),
            identity: c.label.text().into(),
            client: None,
            tier: c.tier.map(|t| t.to_string()),
            rule: rule.map(|r| r.to_string()),
            share: Some(f64::from(c.peak) / 1000.0),
            count: c.count,
            error: c.error,
        }
    }
}

/// Decision latency over the last [`LATENCY_SECS`] seconds (bucket upper
/// bounds, so at most that).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Decisions counted.
    pub count: u64,
    /// The median, µs (none without decisions).
    pub p50_us: Option<u64>,
    /// The 99th percentile, µs.
    pub p99_us: Option<u64>,
}

/// The analytics at one moment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last second covered, Unix seconds.
    pub now: u64,
    /// Seconds in each rule's series.
    pub seconds: usize,
    /// Each rule.
    pub rules: Vec<RuleView>,
    /// All rules' totals since start.
    pub totals: Totals,
    /// The identities most limited in the last 5 to 10 minutes.
    pub top_limited: Vec<TopEntry>,
    /// The identities most often near a limit in the last 5 to 10
    /// minutes.
    pub top_near_limit: Vec<TopEntry>,
    /// Decision latency.
    pub latency: Latency,
}

impl Analytics {
    /// The last `seconds` (at most [`HISTORY_SECS`]) of every rule and
    /// the `top` largest identities of each list, as of now.
    pub fn snapshot(&self, seconds: usize, top: usize) -> Snapshot {
        let now = self.clock.now().0 / 1_000_000;
        let generation = now / TOP_WINDOW_SECS;
        let seconds = seconds.min(HISTORY_SECS);
        let mut limited = Vec::new();
        let mut near = Vec::new();
        for s in self.shards.iter() {
            let mut s = s.lock();
            self.flush(&mut s);
            // Keep what falls in the current and previous windows.
            let keep = match generation.checked_sub(s.generation) {
                Some(0) => 2,
                Some(1) => 1,
                _ => 0,
            };
            for i in 0..keep {
                limited.push(Named::all(&s, s.limited[i].entries()));
                near.push(Named::all(&s, s.near[i].entries()));
            }
        }
        let m = self.merged.lock();
        let mut totals = Totals::default();
        let rules = m
            .rules
            .iter()
            .map(|r| {
                let [allowed, limited, shadow_limited, near_limit] = r.window(now, seconds);
                let t = Totals::from(r.totals);
                totals.add(&t);
                RuleView {
                    rule: r.rule.to_string(),
                    allowed,
                    limited,
                    shadow_limited,
                    near_limit,
                    totals: t,
                }
            })
            .collect();
        let mut hist = [0u64; LATENCY_BUCKETS];
        for sec in now.saturating_sub(LATENCY_SECS as u64 - 1)..=now {
            if let Some(h) = m.latency.get(sec) {
                for (a, b) in hist.iter_mut().zip(h) {
                    *a += *b;
                }
            }
        }
        drop(m);
        Snapshot {
            now,
            seconds,
            rules,
            totals,
            top_limited: merge_top(limited.iter().map(Vec::as_slice), top)
                .into_iter()
                .map(|c| TopEntry {
                    share: None,
                    ..c.into()
                })
                .collect(),
            top_near_limit: merge_top(near.iter().map(Vec::as_slice), top)
                .into_iter()
                .map(Into::into)
                .collect(),
            latency: percentiles(&hist),
        }
    }
}

/// p50 and p99 of a histogram.
fn percentiles(hist: &[u64; LATENCY_BUCKETS]) -> Latency {
    let count: u64 = hist.iter().sum();
    let at = |q: f64| {
        if count == 0 {
            return None;
        }
        let rank = ((count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in hist.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(LATENCY_BOUNDS_US[i.min(LATENCY_BUCKETS - 2)]);
            }
        }
        None
    };
    Latency {
        count,
        p50_us: at(0.5),
        p99_us: at(0.99),
    }
}
