//! One shard of the memory store: its map of entries, the sweep of idle
//! ones, and whether a new key has room.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::algorithm::State;

/// The hashes are already uniform; the map only needs its high bits mixed
/// (they are fixed within a shard).
#[derive(Default)]
pub(super) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, _bytes: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(super) struct Entry {
    /// When the state is idle again (µs); past it, the entry can go.
    pub(super) idle_at: u64,
    pub(super) state: State,
}

pub(super) struct Shard {
    pub(super) map: HashMap<u64, Entry, BuildHasherDefault<PreHashed>>,
    pub(super) next_sweep: u64,
    /// No entry is idle before this (a lower bound): a full shard need not
    /// be swept again until then.
    pub(super) first_idle: u64,
    /// Concurrency slots found with their lease ended (see
    /// `MemoryStore::leases_expired`).
    pub(super) leases_expired: u64,
}

impl Shard {
    pub(super) fn sweep(&mut self, now: u64) {
        let mut first = u64::MAX;
        let mut expired = 0;
        self.map.retain(|_, e| {
            let keep = e.idle_at > now;
            if keep {
                first = first.min(e.idle_at);
            } else if let State::Concurrency(s) = &e.state {
                // Idle: every lease has ended.
                expired += s.holders.len() as u64 + s.expired;
            }
            keep
        });
        self.leases_expired += expired;
        self.first_idle = first;
    }

    pub(super) fn insert(&mut self, hash: u64, entry: Entry) {
        self.first_idle = self.first_idle.min(entry.idle_at);
        self.map.insert(hash, entry);
    }

    /// Whether `extra` more keys fit under `cap`, dropping idle entries
    /// first if they do not (counted in `dropped`).
    pub(super) fn has_room(
        &mut self,
        now: u64,
        cap: usize,
        extra: usize,
        dropped: &AtomicU64,
    ) -> bool {
        if self.map.len() + extra < cap {
            return true;
        }
        if now < self.first_idle {
            return false;
        }
        let before = self.map.len();
        self.sweep(now);
        dropped.fetch_add((before - self.map.len()) as u64, Ordering::Relaxed);
        self.map.len() + extra < cap
    }
}
