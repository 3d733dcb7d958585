//! Slices on the memory store: taken and given back under the key's shard
//! lock (the simulation's shared store, and a store for tests).

use super::shard::Entry;
use super::MemoryStore;
use crate::algorithm::{slice, State};
use crate::store::{GiveBack, SliceWant, Taken};
use crate::time::{duration_micros, Timestamp};

impl MemoryStore {
    /// Takes each slice at `now` (see [`Store::take`](crate::Store::take)).
    pub fn take_sync(&self, wants: &[SliceWant], now: Timestamp) -> Vec<Taken> {
        let t = now.as_micros();
        wants
            .iter()
            .map(|w| {
                let c = &w.check;
                let hash = self.hash(c);
                let mut shard = self.shards[self.shard_of(hash)].lock();
                let old = shard.map.get(&hash);
                let old_idle = old.map_or(0, |e| e.idle_at);
                let mut state = match old {
                    Some(e) => e.state.clone(),
                    None => State::fresh(&c.quota, now),
                };
                let (n, decision) =
                    slice::take(&mut state, now, c.cost, w.want, w.share_ppm, &c.quota);
                if n > 0 {
                    let idle_at = t.saturating_add(duration_micros(decision.reset_after));
                    let idle_at = idle_at.max(old_idle);
                    shard.insert(hash, Entry { idle_at, state });
                }
                Taken {
                    n,
                    at: now,
                    decision,
                    age_us: 0,
                }
            })
            .collect()
    }

    /// Gives back what is left of each slice (see
    /// [`Store::give_back`](crate::Store::give_back)).
    pub fn give_back_sync(&self, slices: &[GiveBack]) {
        for g in slices {
            let hash = self.hash(&g.check);
            let mut shard = self.shards[self.shard_of(hash)].lock();
            if let Some(e) = shard.map.get_mut(&hash) {
                slice::give_back(&mut e.state, g.taken_at, g.check.cost, &g.check.quota);
            }
        }
    }
}
