//! Top identities in bounded memory: the space-saving sketch (Metwally,
//! Agrawal and El Abbadi, 2005). It keeps at most `capacity` counters;
//! an identity not tracked takes over the smallest counter and inherits
//! its count as its possible over-count (`error`). Any identity seen more
//! than `total / capacity` times is certain to be tracked, and each
//! count is at most `error` above the truth.
//!
//! Everything is allocated when the sketch is made: recording never
//! allocates, whatever the number of distinct identities.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::label::Label;

/// Keys are already hashes: this hasher passes them through.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Index = HashMap<u64, u32, BuildHasherDefault<PassThrough>>;

/// One tracked identity.
#[derive(Clone, Debug)]
pub struct Counted {
    /// The identity's hash.
    pub key: u64,
    /// Its count (at most `error` above the truth).
    pub count: u64,
    /// The most its count may be over.
    pub error: u64,
    /// What it is called on the dashboard.
    pub label: Label,
    /// Its tier when it was first tracked.
    pub tier: Option<Arc<str>>,
    /// The rule of its highest share (the last one among equal shares),
    /// by the number its recording shard gives it; [`NO_RULE`] when none.
    pub rule: u8,
    /// The highest share of a limit it used, in thousandths.
    pub peak: u16,
}

/// No rule noted in [`Counted::rule`].
pub const NO_RULE: u8 = u8::MAX;

impl Counted {
    /// Notes that rule number `rule` saw it use `permille` thousandths of
    /// a limit: kept when at least the highest so far.
    pub fn mark(&mut self, rule: u8, permille: u16) {
        if permille >= self.peak {
            self.peak = permille;
            self.rule = rule;
        }
    }
}

/// A space-saving sketch of at most `capacity` identities.
pub struct SpaceSaving {
    capacity: usize,
    index: Index,
    /// The index's table in bytes, as allocated (`HashMap::capacity`
    /// moves with deleted entries; the table does not).
    index_bytes: usize,
    slots: Vec<Counted>,
}

impl SpaceSaving {
    /// An empty sketch of `capacity` (at least 1) identities.
    pub fn new(capacity: usize) -> SpaceSaving {
        let capacity = capacity.max(1);
        // Twice the entries: a table at most half full rehashes its
        // tombstones in place instead of growing, so replacing identities
        // forever never allocates.
        let index = Index::with_capacity_and_hasher(capacity * 2, Default::default());
        // hashbrown: buckets a power of two, filled to 7/8 at most; one
        // control byte per bucket (plus a group) beside each entry.
        let buckets = (index.capacity() * 8 / 7).next_power_of_two();
        SpaceSaving {
            capacity,
            index,
            index_bytes: buckets * (std::mem::size_of::<(u64, u32)>() + 1) + 16,
            slots: Vec::with_capacity(capacity),
        }
    }

    /// Counts `weight` for the identity `key`; `label` and `tier` are
    /// asked for only when the identity is not tracked yet. Returns its
    /// counter (to [`Counted::mark`]).
    pub fn add(
        &mut self,
        key: u64,
        weight: u64,
        label: impl FnOnce() -> Label,
        tier: Option<&Arc<str>>,
    ) -> &mut Counted {
        if let Some(&i) = self.index.get(&key) {
            let c = &mut self.slots[i as usize];
            c.count += weight;
            return c;
        }
        let fresh = |count, error| Counted {
            key,
            count,
            error,
            label: label(),
            tier: tier.cloned(),
            rule: NO_RULE,
            peak: 0,
        };
        if self.slots.len() < self.capacity {
            self.index.insert(key, self.slots.len() as u32);
            self.slots.push(fresh(weight, 0));
            return self.slots.last_mut().expect("just pushed");
        }
        let (i, min) = self
            .slots
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.count)
            .map(|(i, s)| (i, s.count))
            .expect("a full sketch has slots");
        self.index.remove(&self.slots[i].key);
        self.index.insert(key, i as u32);
        self.slots[i] = fresh(min + weight, min);
        &mut self.slots[i]
    }

    /// Forgets every identity (keeping the memory).
    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
    }

    /// The tracked identities, in no order.
    pub fn entries(&self) -> &[Counted] {
        &self.slots
    }

    /// How many identities are tracked.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The bytes this sketch holds on the heap (its index and slots; a
    /// label is inline and a tier is shared with the policy).
    pub fn heap_bytes(&self) -> usize {
        self.index_bytes + self.slots.capacity() * std::mem::size_of::<Counted>()
    }
}

/// A counted identity that lists from several sketches (or replicas)
/// add up into one.
pub trait Ranked: Clone {
    /// What identifies it across lists.
    type Key: std::hash::Hash + Eq;
    /// Its key.
    fn key(&self) -> Self::Key;
    /// Its count.
    fn count(&self) -> u64;
    /// Adds `other`'s count (and error) to its own.
    fn absorb(&mut self, other: &Self);
    /// The order among equal counts.
    fn tie(&self, other: &Self) -> std::cmp::Ordering;
}

/// The `k` largest of `lists` added up by identity, largest first.
pub fn merge_top<'a, T: Ranked + 'a>(lists: impl IntoIterator<Item = &'a [T]>, k: usize) -> Vec<T> {
    let mut all: HashMap<T::Key, T> = HashMap::new();
    for list in lists {
        for c in list {
            all.entry(c.key())
                .and_modify(|m| m.absorb(c))
                .or_insert_with(|| c.clone());
        }
    }
    let mut out: Vec<T> = all.into_values().collect();
    out.sort_by(|a, b| b.count().cmp(&a.count()).then_with(|| a.tie(b)));
    out.truncate(k);
    out
}

impl Ranked for Counted {
    type Key = u64;
    fn key(&self) -> u64 {
        self.key
    }
    fn count(&self) -> u64 {
        self.count
    }
    fn absorb(&mut self, other: &Counted) {
        self.count += other.count;
        self.error += other.error;
    }
    fn tie(&self, other: &Counted) -> std::cmp::Ordering {
        self.label.cmp(&other.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::label::Kind;

    fn ip(n: u64) -> Label {
        Label::new(Kind::Ip, &format!("10.0.{}.{}", n / 256, n % 256))
    }

    #[test]
    fn a_heavy_hitter_stays_on_top_among_many_distinct() {
        let mut s = SpaceSaving::new(16);
        for n in 0..10_000u64 {
            s.add(n, 1, || ip(n), None);
            if n % 4 == 0 {
                s.add(u64::MAX, 1, || Label::new(Kind::ApiKey, "hammer"), None);
            }
        }
        let top = merge_top([s.entries()], 3);
        assert_eq!(top[0].label.text(), "hammer");
        // Space-saving guarantees: the true count (2,500) lies in
        // [count - error, count].
        assert!(top[0].count >= 2_500 && top[0].count - top[0].error <= 2_500);
        assert_eq!(s.len(), 16);
    }

    #[test]
    fn memory_does_not_grow_with_distinct_identities() {
        let mut s = SpaceSaving::new(64);
        let before = s.heap_bytes();
        for n in 0..200_000u64 {
            s.add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1, || ip(n), None);
        }
        assert_eq!(s.heap_bytes(), before);
        assert_eq!(s.len(), 64);
    }

    #[test]
    fn merging_adds_the_counts_of_one_identity() {
        let mut a = SpaceSaving::new(4);
        let mut b = SpaceSaving::new(4);
        a.add(7, 5, || ip(7), None);
        b.add(7, 3, || ip(7), None);
        b.add(8, 4, || ip(8), None);
        let top = merge_top([a.entries(), b.entries()], 10);
        assert_eq!((top[0].key, top[0].count), (7, 8));
        assert_eq!((top[1].key, top[1].count), (8, 4));
    }
}
