//! A recording shard, and what one decision adds to it: per-rule counts
//! of the current second, a latency histogram of that second, and the
//! limited and near-limit identities of the current and previous top
//! window.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::policy::{LimitOutcome, Verdict};
use floodgate_tower::Seen;

use super::bounds::SKETCH_CAPACITY;
use super::label::{Kind, Label};
use super::series::{add, Counts, Outcome};
use super::topk::SpaceSaving;

/// Upper bounds (µs) of the latency buckets; the last one takes the rest.
pub const LATENCY_BOUNDS_US: [u64; LATENCY_BUCKETS] = [
    5,
    10,
    20,
    30,
    50,
    75,
    100,
    150,
    200,
    300,
    500,
    750,
    1_000,
    1_500,
    2_000,
    3_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    250_000,
    1_000_000,
    u64::MAX,
];
/// Latency buckets.
pub const LATENCY_BUCKETS: usize = 24;

/// One thread's recording state.
pub struct Shard {
    /// The second `pending` and `latency` belong to.
    pub sec: u64,
    /// Counts of that second by rule.
    pub pending: Vec<(Arc<str>, Counts)>,
    /// Decision latency of that second.
    pub latency: [u64; LATENCY_BUCKETS],
    /// The top window `limited[0]` and `near[0]` belong to.
    pub generation: u64,
    /// Limited identities: this window, the previous one.
    pub limited: [SpaceSaving; 2],
    /// Near-limit identities: this window, the previous one.
    pub near: [SpaceSaving; 2],
}

impl Default for Shard {
    fn default() -> Shard {
        Shard::new()
    }
}

impl Shard {
    /// An empty shard, its sketches allocated.
    pub fn new() -> Shard {
        let sketch = || SpaceSaving::new(SKETCH_CAPACITY);
        Shard {
            sec: 0,
            pending: Vec::with_capacity(8),
            latency: [0; LATENCY_BUCKETS],
            generation: 0,
            limited: [sketch(), sketch()],
            near: [sketch(), sketch()],
        }
    }

    /// Whether nothing waits to be merged.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.latency.iter().all(|n| *n == 0)
    }

    /// Forgets the merged second (keeping the memory).
    pub fn clear_pending(&mut self) {
        self.pending.clear();
        self.latency = [0; LATENCY_BUCKETS];
    }

    /// Moves to top window `generation`: the current sketches become the
    /// previous ones, or both are emptied after a longer gap.
    pub fn rotate(&mut self, generation: u64) {
        if generation == self.generation {
            return;
        }
        for pair in [&mut self.limited, &mut self.near] {
            if generation == self.generation + 1 {
                pair.swap(0, 1);
                pair[0].clear();
            } else {
                pair[0].clear();
                pair[1].clear();
            }
        }
        self.generation = generation;
    }

    /// Records one decided request.
    pub fn record<S: BuildHasher>(
        &mut self,
        seen: &Seen<'_>,
        verdict: &Verdict,
        near_permille: u64,
        hasher: &S,
    ) {
        let bucket = latency_bucket(seen.elapsed);
        self.latency[bucket] += 1;
        let outcomes = &verdict.outcomes;
        let mut near_any = false;
        for (i, o) in outcomes.iter().enumerate() {
            // Each rule once: at its first outcome, over all of its own.
            if outcomes[..i].iter().any(|p| p.rule == o.rule) {
                continue;
            }
            let mine = || outcomes[i..].iter().filter(|p| p.rule == o.rule);
            let allowed = mine().all(|p| p.decision.allowed);
            let near = allowed && mine().any(|p| is_near(p, near_permille));
            near_any |= near && !o.shadow;
            let mut c = Counts::default();
            match (allowed, o.shadow) {
                (true, _) => c[Outcome::Allowed as usize] = 1,
                (false, true) => c[Outcome::ShadowLimited as usize] = 1,
                (false, false) => c[Outcome::Limited as usize] = 1,
            }
            if near {
                c[Outcome::NearLimit as usize] = 1;
            }
            match self.pending.iter_mut().find(|(r, _)| *r == o.rule) {
                Some((_, counts)) => add(counts, &c),
                None => self.pending.push((o.rule.clone(), c)),
            }
        }
        let sketch = if !verdict.allowed {
            &mut self.limited[0]
        } else if near_any {
            &mut self.near[0]
        } else {
            return;
        };
        let (key, kind) = identity_key(seen, hasher);
        sketch.add(key, 1, || label(seen, kind), verdict.tier.as_ref());
    }

    /// The bytes this shard holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.limited
            .iter()
            .chain(&self.near)
            .map(SpaceSaving::heap_bytes)
            .sum::<usize>()
            + self.pending.capacity() * std::mem::size_of::<(Arc<str>, Counts)>()
    }

    /// The most a shard holds with `rules` rules decided in one second.
    pub fn heap_bound(rules: usize) -> usize {
        Shard::new().heap_bytes()
            + rules.next_power_of_two().max(8) * std::mem::size_of::<(Arc<str>, Counts)>()
    }
}

/// Whether `o` left its limit used at or above the share.
fn is_near(o: &LimitOutcome, near_permille: u64) -> bool {
    let d = &o.decision;
    d.limit > 0 && (d.limit - d.remaining.min(d.limit)) * 1000 >= near_permille * d.limit
}

/// The latency bucket of `d`.
pub fn latency_bucket(d: Duration) -> usize {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    LATENCY_BOUNDS_US
        .iter()
        .position(|b| us <= *b)
        .unwrap_or(LATENCY_BUCKETS - 1)
}

/// Who is counted: the API key, else the user, else the client IP.
fn identity_key<S: BuildHasher>(seen: &Seen<'_>, hasher: &S) -> (u64, Kind) {
    let mut h = hasher.build_hasher();
    let kind = if seen.hash_key(&mut h) {
        Kind::ApiKey
    } else if let Some(u) = seen.user {
        u.hash(&mut h);
        Kind::User
    } else if let Some(ip) = seen.ip {
        ip.hash(&mut h);
        Kind::Ip
    } else {
        Kind::Unknown
    };
    kind.hash(&mut h);
    (h.finish(), kind)
}

/// The name of an identity first tracked (never a raw key).
fn label(seen: &Seen<'_>, kind: Kind) -> Label {
    match kind {
        Kind::ApiKey => Label::new(kind, &seen.key_fingerprint().unwrap_or_default()),
        Kind::User => Label::new(kind, seen.user.unwrap_or_default()),
        Kind::Ip => Label::new(kind, &seen.ip.map(|ip| ip.to_string()).unwrap_or_default()),
        Kind::Unknown => Label::new(kind, "unknown"),
    }
}
