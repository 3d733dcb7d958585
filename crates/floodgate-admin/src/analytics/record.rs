//! A recording shard, and what one decision adds to it: per-rule counts
//! of the current second, a latency histogram of that second, and the
//! limited and near-limit identities of the current and previous top
//! window.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use floodgate_core::policy::{LimitOutcome, Verdict};
use floodgate_tower::Seen;

use super::bounds::{MAX_RULES, OTHER_RULES, SKETCH_CAPACITY};
use super::label::{Kind, Label};
use super::series::{add, Counts, Outcome};
use super::topk::{SpaceSaving, NO_RULE};

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
    /// The rules the sketches' identities name ([`Counted::rule`](super::topk::Counted::rule) is a
    /// place in it): at most [`MAX_RULES`], never forgotten, like the
    /// series; past them, [`OTHER_RULE`].
    pub rules: Vec<Arc<str>>,
}

/// The rules past [`MAX_RULES`] in [`Shard::rules`]: named
/// [`OTHER_RULES`](super::OTHER_RULES).
pub const OTHER_RULE: u8 = u8::MAX - 1;

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
            rules: Vec::with_capacity(MAX_RULES),
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

    /// Records one decided request: its rules' counts and, limited or
    /// near a limit, its identity with the rule that limited it or the
    /// highest share of a limit it used.
    pub fn record<S: BuildHasher>(
        &mut self,
        seen: &Seen<'_>,
        verdict: &Verdict,
        near_permille: u64,
        hasher: &S,
    ) {
        let bucket = latency_bucket(seen.elapsed);
        self.latency[bucket] += 1;
        let (limiting, near) = self.count_rules(verdict, near_permille);
        let mark = if !verdict.allowed {
            limiting.map(|r| (r, 1000))
        } else if near.is_some() {
            near
        } else {
            return;
        };
        let mark = mark.map(|(rule, permille)| (self.rule_number(rule), permille));
        let sketch = match verdict.allowed {
            false => &mut self.limited[0],
            true => &mut self.near[0],
        };
        let (key, kind) = identity_key(seen, hasher);
        let counted = sketch.add(key, 1, || label(seen, kind), verdict.tier.as_ref());
        if let Some((rule, permille)) = mark {
            counted.mark(rule, permille);
        }
    }

    /// The number of `rule` in [`Shard::rules`], added if new.
    fn rule_number(&mut self, rule: &Arc<str>) -> u8 {
        if let Some(i) = self.rules.iter().position(|r| r == rule) {
            return i as u8;
        }
        if self.rules.len() < MAX_RULES {
            self.rules.push(rule.clone());
            return (self.rules.len() - 1) as u8;
        }
        OTHER_RULE
    }

    /// The name of rule number `n` (none for [`NO_RULE`]).
    pub fn rule_name(&self, n: u8) -> Option<Arc<str>> {
        match n {
            NO_RULE => None,
            OTHER_RULE => Some(OTHER_RULES.into()),
            n => self.rules.get(usize::from(n)).cloned(),
        }
    }

    /// Counts each rule of the verdict once; returns the first enforced
    /// rule that denied it, and the enforced rule near its limit with the
    /// highest share of a limit used (thousandths).
    fn count_rules<'v>(
        &mut self,
        verdict: &'v Verdict,
        near_permille: u64,
    ) -> (Option<&'v Arc<str>>, Option<Share<'v>>) {
        let outcomes = &verdict.outcomes;
        let mut limiting = None;
        let mut nearest: Option<Share<'_>> = None;
        for (i, o) in outcomes.iter().enumerate() {
            // Each rule once: at its first outcome, over all of its own.
            if outcomes[..i].iter().any(|p| p.rule == o.rule) {
                continue;
            }
            let mine = || outcomes[i..].iter().filter(|p| p.rule == o.rule);
            let allowed = mine().all(|p| p.decision.allowed);
            let near = allowed && mine().any(|p| is_near(p, near_permille));
            if near && !o.shadow {
                let share = mine().map(share_permille).max().unwrap_or(0);
                if nearest.is_none_or(|(_, s)| share > s) {
                    nearest = Some((&o.rule, share));
                }
            }
            if !allowed && !o.shadow && limiting.is_none() {
                limiting = Some(&o.rule);
            }
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
        (limiting, nearest)
    }

    /// The bytes this shard holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.limited
            .iter()
            .chain(&self.near)
            .map(SpaceSaving::heap_bytes)
            .sum::<usize>()
            + self.pending.capacity() * std::mem::size_of::<(Arc<str>, Counts)>()
            + self.rules.capacity() * std::mem::size_of::<Arc<str>>()
    }

    /// The most a shard holds with `rules` rules decided in one second.
    pub fn heap_bound(rules: usize) -> usize {
        Shard::new().heap_bytes()
            + rules.next_power_of_two().max(8) * std::mem::size_of::<(Arc<str>, Counts)>()
    }
}

/// A rule and the share of one of its limits used, in thousandths.
type Share<'v> = (&'v Arc<str>, u16);

/// The share of its limit `o` left used, in thousandths (at most 1000).
fn share_permille(o: &LimitOutcome) -> u16 {
    let d = &o.decision;
    if d.limit == 0 {
        return 1000;
    }
    let used = d.limit - d.remaining.min(d.limit);
    (u128::from(used) * 1000 / u128::from(d.limit)) as u16
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
