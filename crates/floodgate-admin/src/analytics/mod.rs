//! Bounded analytics of decisions, for the dashboard: per-rule counts a
//! second in ring buffers ([`series`]), the top limited and near-limit
//! identities in space-saving sketches ([`topk`]), and decision latency.
//!
//! Recording sits on the decision path, so it is sharded: each thread
//! records into a shard of its own (a lock nobody else takes but a
//! reader), and a shard's counts of a second are merged into the shared
//! rings once, when the thread's next decision falls in a later second
//! or when a reader takes a [`Snapshot`]. Nothing is allocated for a
//! decision whose rules and identity are already tracked.
//!
//! # Bounds
//!
//! - series: [`MAX_RULES`] rules (more are counted under
//!   [`OTHER_RULES`]), each [`HISTORY_SECS`] one-second slots of four
//!   counts;
//! - top identities: [`SHARDS`] shards, each with two generations of two
//!   sketches (limited, near-limit) of [`SKETCH_CAPACITY`] identities;
//!   labels are inline ([`Label::MAX`] bytes);
//! - latency: [`LATENCY_SECS`] one-second histograms.
//!
//! Time comes from the decision (`Seen::now`, the injected clock) and,
//! for snapshots, from the clock the analytics are given.
//!
//! # Layout
//!
//! - [`series`]: the ring buffers;
//! - [`topk`]: the space-saving sketch;
//! - [`label`]: an identity's inline name;
//! - [`record`]: a shard and what one decision adds to it;
//! - [`snapshot`]: what a reader gets.

mod bounds;
pub mod label;
pub mod record;
pub mod series;
pub mod snapshot;
pub mod topk;

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use floodgate_core::Clock;
use floodgate_tower::{Observer, Seen};
use parking_lot::Mutex;

pub use bounds::{LATENCY_SECS, MAX_RULES, OTHER_RULES, SHARDS, SKETCH_CAPACITY, TOP_WINDOW_SECS};
pub use label::{Kind, Label};
use record::{Shard, LATENCY_BUCKETS};
pub use series::HISTORY_SECS;
use series::{Counts, Ring, RuleSeries};
pub use snapshot::{Snapshot, TopEntry};

/// The shared rings the shards merge into.
struct Merged {
    rules: Vec<RuleSeries>,
    latency: Ring<[u64; LATENCY_BUCKETS]>,
}

impl Merged {
    fn rule(&mut self, name: &Arc<str>) -> &mut RuleSeries {
        let i = match self.rules.iter().position(|r| r.rule == *name) {
            Some(i) => i,
            None if self.rules.len() < MAX_RULES => {
                self.rules.push(RuleSeries::new(name.clone()));
                self.rules.len() - 1
            }
            None => match self.rules.iter().position(|r| &*r.rule == OTHER_RULES) {
                Some(i) => i,
                None => {
                    self.rules.push(RuleSeries::new(OTHER_RULES.into()));
                    self.rules.len() - 1
                }
            },
        };
        &mut self.rules[i]
    }
}

/// The analytics of one server.
pub struct Analytics {
    shards: Box<[Mutex<Shard>]>,
    merged: Mutex<Merged>,
    clock: Arc<dyn Clock>,
    hasher: RandomState,
    /// The near-limit share, in thousandths.
    near_permille: u64,
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

impl Analytics {
    /// Empty analytics: a request is near its limit when it leaves a
    /// limit used at or above `near_limit_share` (0 to 1); snapshots are
    /// taken on `clock`.
    pub fn new(near_limit_share: f64, clock: Arc<dyn Clock>) -> Analytics {
        Analytics {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            merged: Mutex::new(Merged {
                rules: Vec::with_capacity(MAX_RULES + 1),
                latency: Ring::new(LATENCY_SECS),
            }),
            clock,
            hasher: RandomState::new(),
            near_permille: (near_limit_share.clamp(0.0, 1.0) * 1000.0).round() as u64,
        }
    }

    /// The calling thread's shard.
    fn shard(&self) -> &Mutex<Shard> {
        let i = SHARD.with(|c| {
            if c.get() == usize::MAX {
                c.set(NEXT_SHARD.fetch_add(1, Ordering::Relaxed));
            }
            c.get()
        });
        &self.shards[i % self.shards.len()]
    }

    /// Merges a shard's pending second into the shared rings.
    fn flush(&self, shard: &mut Shard) {
        if shard.is_idle() {
            return;
        }
        let mut m = self.merged.lock();
        for (rule, counts) in shard.pending.iter() {
            m.rule(rule).record(shard.sec, counts);
        }
        if let Some(slot) = m.latency.slot_mut(shard.sec) {
            for (a, b) in slot.iter_mut().zip(&shard.latency) {
                *a += *b;
            }
        }
        drop(m);
        shard.clear_pending();
    }

    /// The bytes the analytics hold on the heap: shards (sketches and
    /// pending counts) and the merged rings.
    pub fn heap_bytes(&self) -> usize {
        let shards: usize = self.shards.iter().map(|s| s.lock().heap_bytes()).sum();
        let m = self.merged.lock();
        let rules: usize = m.rules.iter().map(|r| r.ring.heap_bytes()).sum::<usize>()
            + m.rules.capacity() * std::mem::size_of::<RuleSeries>();
        shards + rules + m.latency.heap_bytes()
    }

    /// The most [`Analytics::heap_bytes`] can be with `rules` rules (at
    /// most [`MAX_RULES`] + 1 series are kept, whatever the traffic).
    pub fn heap_bound(rules: usize) -> usize {
        let series = rules.min(MAX_RULES + 1);
        SHARDS * Shard::heap_bound(series)
            + (MAX_RULES + 1) * std::mem::size_of::<RuleSeries>()
            + series * Ring::<Counts>::new(HISTORY_SECS).heap_bytes()
            + Ring::<[u64; LATENCY_BUCKETS]>::new(LATENCY_SECS).heap_bytes()
    }
}

impl Observer for Analytics {
    fn observe(&self, seen: &Seen<'_>) {
        let Ok(verdict) = seen.verdict else {
            return;
        };
        let sec = seen.now.0 / 1_000_000;
        let mut shard = self.shard().lock();
        if shard.sec != sec {
            self.flush(&mut shard);
            shard.sec = sec;
        }
        shard.rotate(sec / TOP_WINDOW_SECS);
        shard.record(seen, verdict, self.near_permille, &self.hasher);
    }
}

#[cfg(test)]
mod tests;
