//! `LeasedStore`: decides leased limits (checks with
//! [`LimitCheck::sync`]) from slices of their quota this replica took from
//! the store it wraps, and every other limit on that store.
//!
//! - A key's first request, or one that finds its slice spent or its lease
//!   ended, takes a slice ([`Store::take`]): its size follows the key's
//!   demand here over a lease, and the store caps it at a share of what
//!   is left, so near the edge a slice is one request and decisions are
//!   the store's own. The slices a request needs are taken in one call.
//! - A request is admitted from its slices, all or nothing: its checks
//!   reserve from each slice in turn, and a check that cannot gives the
//!   others back (a local rollback). Limits of the request that are not
//!   leased are decided on the store after the leased ones reserved; a
//!   denial there gives the reservations back.
//! - A denial the store gave for a key is kept until its retry time (at
//!   most a lease): requests on a key over its limit cost no call.
//! - While one request takes a key's slice, the others on that key are
//!   decided on the store (exactly), as are requests whose keys find the
//!   table full, and requests whose slice could not be taken (the store
//!   failed: the wrapped store's failure policy decides).
//! - [`LeasedStore::tick`] ends the leases that ran out and gives back
//!   what is left of them, in one call; [`LeasedStore::give_back_all`]
//!   does it for every slice (shutdown, a policy change).
//!
//! The bounds this keeps are in `docs/leased.md` and proved by the
//! simulation in `sim.rs`.

#[cfg(test)]
mod sim;
mod stats;
mod table;
#[cfg(test)]
mod tests;

pub use stats::LeasedStats;
use stats::{add, Counters};
use table::{Key, Slice, Table};

use super::{
    BoxFuture, GiveBack, LeaseOp, LeaseStatus, LimitCheck, SliceWant, Store, StoreError, Taken,
};
use crate::algorithm::slice::leasable;
use crate::decision::Decision;
use crate::time::Timestamp;

/// Settings of a [`LeasedStore`].
#[derive(Clone, Copy, Debug)]
pub struct LeasedStoreConfig {
    /// Most keys holding a slice (or a kept denial) at once; a request on
    /// a new key past it is decided on the store.
    pub max_keys: usize,
}

impl Default for LeasedStoreConfig {
    fn default() -> Self {
        LeasedStoreConfig { max_keys: 100_000 }
    }
}

/// A store that decides leased limits from slices (see the module).
pub struct LeasedStore<S> {
    inner: S,
    table: Table,
    config: LeasedStoreConfig,
    counters: Counters,
    /// What is left of ended slices, waiting for the next give-back.
    pending: parking_lot::Mutex<Vec<GiveBack>>,
}

/// A reservation a request made on a slice.
struct Reserved {
    key: Key,
    cost: u64,
    gen: u64,
    taken_at: Timestamp,
}

/// What deciding from the slices alone came to.
enum Local {
    /// Every leased check decided: its decision (`None` for the others),
    /// the reservations made, and whether one was denied.
    Decided(Vec<Option<Decision>>, Vec<Reserved>, bool),
    /// These slices must be taken first.
    Take(Vec<SliceWant>),
    /// Decide the request on the store.
    OnStore,
}

fn is_leased(c: &LimitCheck) -> bool {
    c.sync.is_some() && c.lease.is_none() && leasable(&c.quota)
}

fn key_of(c: &LimitCheck) -> Key {
    (c.limit_id.clone(), c.identity.clone())
}

impl<S: Store> LeasedStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, config: LeasedStoreConfig) -> LeasedStore<S> {
        LeasedStore {
            inner,
            table: Table::new(),
            config,
            counters: Counters::default(),
            pending: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The counters since start.
    pub fn stats(&self) -> LeasedStats {
        self.counters.snapshot()
    }

    /// Keys holding a slice or a kept denial.
    pub fn keys(&self) -> usize {
        self.table.len()
    }

    /// Units held in slices not given back yet (live or ended since the
    /// last tick).
    pub fn held_units(&self) -> u64 {
        self.table
            .shards()
            .map(|s| s.lock().values().map(|sl| sl.left).sum::<u64>())
            .sum()
    }

    /// Units held in live slices at `now`: at most this much is admitted
    /// here that the store already counts as spent.
    pub fn held(&self, now: Timestamp) -> u64 {
        let t = now.as_micros();
        self.table
            .shards()
            .map(|s| {
                s.lock()
                    .values()
                    .filter(|sl| sl.live(t))
                    .map(|sl| sl.left)
                    .sum::<u64>()
            })
            .sum()
    }

    async fn check_leased(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<Decision>, StoreError> {
        let t = now.as_micros();
        for _ in 0..2 {
            match self.local(checks, t) {
                Local::Decided(out, reserved, denied) => {
                    return self.finish(checks, now, out, reserved, denied).await;
                }
                Local::OnStore => break,
                Local::Take(wants) => {
                    add(&self.counters.take_calls, 1);
                    match self.inner.take(&wants, now).await {
                        Ok(taken) => self.install(&wants, &taken, t),
                        Err(_) => {
                            self.unfetch(&wants);
                            break;
                        }
                    }
                }
            }
        }
        add(&self.counters.decided_on_store, 1);
        self.inner.check(checks, now).await
    }

    /// Decides the leased checks from the slices, reserving what they
    /// admit (see [`Local`]).
    fn local(&self, checks: &[LimitCheck], t: u64) -> Local {
        let mut out: Vec<Option<Decision>> = vec![None; checks.len()];
        let mut reserved: Vec<Reserved> = Vec::new();
        let mut wants: Vec<SliceWant> = Vec::new();
        let mut denied = false;
        let mut on_store = false;
        for (i, c) in checks.iter().enumerate() {
            let Some(terms) = c.sync.filter(|_| is_leased(c)) else {
                continue;
            };
            let key = key_of(c);
            let mut shard = self.table.shard(&key).lock();
            if !shard.contains_key(&key) {
                if self.table_full() {
                    add(&self.counters.table_full, 1);
                    on_store = true;
                    break;
                }
                shard.insert(key.clone(), Slice::empty(c, terms, t));
                self.table.added(1);
            }
            let slice = shard.get_mut(&key).expect("just made sure");
            if slice.quota != c.quota || slice.terms != terms {
                self.retire(slice, &key, t);
                *slice = Slice::empty(c, terms, t);
            } else if slice.left > 0 && !slice.live(t) {
                self.retire(slice, &key, t);
            }
            if let Some(d) = slice.denied(t, c.cost) {
                out[i] = Some(d);
                denied = true;
                continue;
            }
            if slice.live(t) && slice.left >= c.cost {
                slice.left -= c.cost;
                slice.used += c.cost;
                out[i] = Some(slice.allowed(t));
                reserved.push(Reserved {
                    key,
                    cost: c.cost,
                    gen: slice.gen,
                    taken_at: slice.taken_at,
                });
                continue;
            }
            if slice.fetching {
                on_store = true;
                break;
            }
            // What this request already reserved on the key counts too.
            let need = c.cost
                + reserved
                    .iter()
                    .filter(|r| r.key == key)
                    .map(|r| r.cost)
                    .sum::<u64>();
            slice.fetching = true;
            let mut check = c.clone();
            check.cost = need;
            wants.push(SliceWant {
                want: slice.want.max(need),
                share_ppm: terms.share_ppm,
                check,
            });
        }
        if denied || on_store || !wants.is_empty() {
            self.roll_back(&reserved);
        }
        if on_store {
            self.unfetch(&wants);
            return Local::OnStore;
        }
        if denied {
            self.unfetch(&wants);
            add(&self.counters.decided_locally, 1);
            return Local::Decided(out, Vec::new(), true);
        }
        if !wants.is_empty() {
            return Local::Take(wants);
        }
        add(&self.counters.decided_locally, reserved.len() as u64);
        Local::Decided(out, reserved, false)
    }

    fn table_full(&self) -> bool {
        self.table.count() >= self.config.max_keys
    }

    /// Ends `slice` at `t`: what is left goes to the next give-back, or is
    /// counted as wasted.
    fn retire(&self, slice: &mut Slice, key: &Key, t: u64) {
        let (back, lost) = slice.retire(key, t);
        if let Some(g) = back {
            self.pending.lock().push(g);
        }
        add(&self.counters.units_wasted, lost);
    }

    /// Gives back the reservations of a request that was not admitted.
    fn roll_back(&self, reserved: &[Reserved]) {
        for r in reserved {
            let mut shard = self.table.shard(&r.key).lock();
            match shard.get_mut(&r.key) {
                Some(s) if s.gen == r.gen => {
                    s.left += r.cost;
                    s.used -= r.cost;
                }
                Some(s) => {
                    // The slice was replaced meanwhile: its successor does
                    // not hold this; the store takes it back.
                    let mut check =
                        LimitCheck::new(r.key.0.clone(), r.key.1.clone(), s.quota, r.cost);
                    check.sync = Some(s.terms);
                    self.pending.lock().push(GiveBack {
                        check,
                        taken_at: r.taken_at,
                    });
                }
                None => {}
            }
        }
    }

    /// Clears the `fetching` marks of slices that will not be taken now.
    fn unfetch(&self, wants: &[SliceWant]) {
        for w in wants {
            let key = key_of(&w.check);
            if let Some(s) = self.table.shard(&key).lock().get_mut(&key) {
                s.fetching = false;
            }
        }
    }

    /// Installs the slices the store handed out.
    fn install(&self, wants: &[SliceWant], taken: &[Taken], t: u64) {
        for (w, got) in wants.iter().zip(taken) {
            let key = key_of(&w.check);
            let mut shard = self.table.shard(&key).lock();
            let Some(slice) = shard.get_mut(&key) else {
                // Dropped meanwhile (a reset): the store takes it back.
                self.give_back_later(w, got);
                continue;
            };
            if got.n > 0 {
                add(&self.counters.slices_taken, 1);
                add(&self.counters.units_taken, got.n);
                // A slice that could not serve the request ends here.
                self.retire(slice, &key, t);
            }
            slice.install(got, w.check.cost, t);
        }
    }

    fn give_back_later(&self, w: &SliceWant, got: &Taken) {
        if got.n > 0 {
            let mut check = w.check.clone();
            check.cost = got.n;
            self.pending.lock().push(GiveBack {
                check,
                taken_at: got.at,
            });
        }
    }

    /// Decides the checks that are not leased, on the store, once the
    /// leased ones reserved; a denial there gives the reservations back.
    async fn finish(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
        mut out: Vec<Option<Decision>>,
        reserved: Vec<Reserved>,
        denied: bool,
    ) -> Result<Vec<Decision>, StoreError> {
        let exact: Vec<usize> = (0..checks.len()).filter(|&i| out[i].is_none()).collect();
        if !exact.is_empty() {
            let sub: Vec<LimitCheck> = exact.iter().map(|&i| checks[i].clone()).collect();
            // A request already denied here consumes nothing on the store.
            let decided = if denied {
                self.inner.inspect(&sub, now).await
            } else {
                self.inner.check(&sub, now).await
            };
            let decided = match decided {
                Ok(d) => d,
                Err(e) => {
                    self.roll_back(&reserved);
                    if denied {
                        // The request is denied all the same; the others'
                        // figures are unknown.
                        return Ok(out
                            .into_iter()
                            .zip(checks)
                            .map(|(d, c)| d.unwrap_or_else(|| unknown(c)))
                            .collect());
                    }
                    return Err(e);
                }
            };
            if !denied && decided.iter().any(|d| !d.allowed) {
                self.roll_back(&reserved);
            }
            for (&i, d) in exact.iter().zip(decided) {
                out[i] = Some(d);
            }
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every check decided"))
            .collect())
    }

    /// Ends the leases that ran out by `now` (and forgets keys idle for a
    /// whole lease), then gives back what is left of ended slices, in one
    /// call. Call it about every tenth of the shortest lease.
    pub async fn tick(&self, now: Timestamp) {
        let t = now.as_micros();
        for shard in self.table.shards() {
            let mut map = shard.lock();
            let before = map.len();
            map.retain(|key, slice| {
                if slice.fetching {
                    return true;
                }
                if slice.left > 0 && !slice.live(t) {
                    self.retire(slice, key, t);
                }
                let denial_holds = slice.denial.is_some_and(|d| t < d.until);
                // Idle: nothing held, nothing used over a lease since the
                // last slice, no denial kept.
                let idle = slice.left == 0
                    && !denial_holds
                    && t >= slice.since.saturating_add(slice.terms.lease_us)
                    && (slice.used == 0 || t >= slice.ends.saturating_add(slice.terms.lease_us));
                !idle
            });
            self.table.removed(before - map.len());
        }
        self.flush(now).await;
    }

    /// Gives back what is left of every slice (shutdown, a policy change).
    pub async fn give_back_all(&self, now: Timestamp) {
        let t = now.as_micros();
        for shard in self.table.shards() {
            let mut map = shard.lock();
            for (key, slice) in map.iter_mut() {
                self.retire(slice, key, t);
            }
            let before = map.len();
            map.retain(|_, s| s.fetching);
            self.table.removed(before - map.len());
        }
        self.flush(now).await;
    }

    async fn flush(&self, now: Timestamp) {
        let pending = std::mem::take(&mut *self.pending.lock());
        if pending.is_empty() {
            return;
        }
        let units: u64 = pending.iter().map(|g| g.check.cost).sum();
        add(&self.counters.give_back_calls, 1);
        match self.inner.give_back(&pending, now).await {
            Ok(()) => add(&self.counters.units_returned, units),
            Err(_) => add(&self.counters.units_wasted, units),
        }
    }
}

/// A decision whose figures are unknown (the store failed to say).
fn unknown(c: &LimitCheck) -> Decision {
    Decision {
        allowed: true,
        limit: crate::algorithm::slice::size(&c.quota),
        remaining: 0,
        reset_after: std::time::Duration::ZERO,
        retry_after: None,
        delay: std::time::Duration::ZERO,
    }
}

impl<S: Store> Store for LeasedStore<S> {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        if !checks.iter().any(is_leased) {
            return self.inner.check(checks, now);
        }
        Box::pin(self.check_leased(checks, now))
    }

    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        self.inner.inspect(checks, now)
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        for c in checks {
            let key = key_of(c);
            if self.table.shard(&key).lock().remove(&key).is_some() {
                self.table.removed(1);
            }
        }
        self.inner.reset(checks)
    }

    fn active_keys(&self) -> Option<u64> {
        self.inner.active_keys()
    }

    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        self.inner.leases(op, checks, now)
    }

    fn leases_expired(&self) -> Option<u64> {
        self.inner.leases_expired()
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        self.inner.take(wants, now)
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.give_back(slices, now)
    }
}
