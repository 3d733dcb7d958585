//! Deciding a request: its leased checks from the slices (reserving, or
//! rolling back), the slices it lacks taken in one call, the rest of the
//! request on the store.

use super::gate::Fetch;
use super::stats::add;
use super::table::{Key, Slice};
use super::{is_leased, key_of, LeasedStore, Local, Reserved};
use crate::decision::Decision;
use crate::store::{GiveBack, LimitCheck, SliceWant, Store, StoreError, Taken};
use crate::time::Timestamp;

/// Clears the `fetching` marks of a take whose caller (a request, or a
/// tick's renewal) was dropped before it came back.
pub(super) struct Fetching<'a, S: Store> {
    store: &'a LeasedStore<S>,
    wants: &'a [SliceWant],
    armed: bool,
}

impl<'a, S: Store> Fetching<'a, S> {
    /// Armed: dropped as is, it clears the marks of `wants`.
    pub(super) fn new(store: &'a LeasedStore<S>, wants: &'a [SliceWant]) -> Self {
        Fetching {
            store,
            wants,
            armed: true,
        }
    }

    /// The take came back: its outcome clears the marks.
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl<S: Store> Drop for Fetching<'_, S> {
    fn drop(&mut self) {
        if self.armed {
            self.store.unfetch(self.wants);
        }
    }
}

impl<S: Store> LeasedStore<S> {
    pub(super) async fn check_leased(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<Decision>, StoreError> {
        let t = now.as_micros();
        let mut waited = false;
        for _ in 0..3 {
            match self.local(checks, t, waited) {
                Local::Decided(out, reserved, denied) => {
                    return self.finish(checks, now, out, reserved, denied).await;
                }
                Local::OnStore => break,
                Local::Wait(gate) => {
                    add(&self.counters.waited, 1);
                    gate.wait().await;
                    waited = true;
                }
                Local::Take(wants) => {
                    add(&self.counters.take_calls, 1);
                    // A request dropped while it waits (its client went
                    // away) must not leave its keys marked as being taken.
                    let mut guard = Fetching::new(self, &wants);
                    let taken = self.inner.take(&wants, now).await;
                    guard.disarm();
                    match taken {
                        Ok(taken) => self.install(&wants, &taken, t, false),
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
    /// admit (see [`Local`]). A request that `waited` once for another's
    /// take does not wait again.
    fn local(&self, checks: &[LimitCheck], t: u64, waited: bool) -> Local {
        let mut out: Vec<Option<Decision>> = vec![None; checks.len()];
        let mut reserved: Vec<Reserved> = Vec::new();
        let mut wants: Vec<SliceWant> = Vec::new();
        let mut denied = false;
        let mut on_store = false;
        let mut wait = None;
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
                let mut fresh = Slice::empty(c, terms, t);
                fresh.born = self.table.last_gen();
                shard.insert(key.clone(), fresh);
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
                slice.last_used = t;
                out[i] = Some(slice.allowed(t));
                reserved.push(Reserved {
                    key,
                    cost: c.cost,
                    gen: slice.gen,
                    taken_at: slice.taken_at,
                });
                continue;
            }
            if let Some(f) = &slice.fetching {
                if waited {
                    on_store = true;
                } else {
                    wait = Some(f.gate());
                }
                break;
            }
            // What this request already reserved on the key counts too.
            let need = c.cost
                + reserved
                    .iter()
                    .filter(|r| r.key == key)
                    .map(|r| r.cost)
                    .sum::<u64>();
            slice.fetching = Some(Fetch::default());
            let mut check = c.clone();
            check.cost = need;
            wants.push(SliceWant {
                want: slice.want.max(need),
                share_ppm: terms.share_ppm,
                check,
            });
        }
        if denied || on_store || wait.is_some() || !wants.is_empty() {
            self.roll_back(&reserved);
        }
        if on_store {
            self.unfetch(&wants);
            return Local::OnStore;
        }
        if let Some(gate) = wait {
            self.unfetch(&wants);
            return Local::Wait(gate);
        }
        if denied {
            self.unfetch(&wants);
            add(&self.counters.decided_locally, 1);
            return Local::Decided(out, Vec::new(), true);
        }
        if !wants.is_empty() {
            return Local::Take(wants);
        }
        add(&self.counters.decided_locally, 1);
        Local::Decided(out, reserved, false)
    }

    fn table_full(&self) -> bool {
        self.table.count() >= self.config.max_keys
    }

    /// Ends `slice` at `t`: what is left goes to the next give-back, or is
    /// counted as wasted.
    pub(super) fn retire(&self, slice: &mut Slice, key: &Key, t: u64) {
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
                // Taken before the key was dropped (a reset): nothing of
                // it is owed to the store's state since.
                Some(s) if r.gen <= s.born => {}
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
    pub(super) fn unfetch(&self, wants: &[SliceWant]) {
        for w in wants {
            let key = key_of(&w.check);
            // The mark is dropped (its waiters woken) after the lock.
            let mark = match self.table.shard(&key).lock().get_mut(&key) {
                Some(s) => s.fetching.take(),
                None => None,
            };
            drop(mark);
        }
    }

    /// Installs the slices the store handed out (for the tick's renewals
    /// when `renewal`).
    pub(super) fn install(&self, wants: &[SliceWant], taken: &[Taken], t: u64, renewal: bool) {
        for (w, got) in wants.iter().zip(taken) {
            let key = key_of(&w.check);
            let mut shard = self.table.shard(&key).lock();
            let Some(slice) = shard.get_mut(&key) else {
                // Dropped meanwhile (a reset): the store takes it back.
                self.give_back_later(w, got);
                continue;
            };
            if renewal && got.n == 0 && slice.left > 0 && slice.live(t) {
                // A renewal ahead of time the store refused: the slice in
                // hand serves on, and is not renewed again.
                let _done = slice.fetching.take();
                slice.store_remaining = 0;
                continue;
            }
            if got.n > 0 {
                add(&self.counters.slices_taken, 1);
                add(&self.counters.units_taken, got.n);
                // A slice that could not serve the request ends here.
                self.retire(slice, &key, t);
            }
            slice.install(got, w.check.cost, t, self.table.next_gen());
        }
        // A short answer leaves no key marked.
        if taken.len() < wants.len() {
            self.unfetch(&wants[taken.len()..]);
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
