//! `ScopedStore`: a region's replica deciding each limit where its
//! [`Scope`] counts it, in the region's own store or in the store every
//! region shares, and a request's limits together across the two.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{
    BoxFuture, GiveBack, LeaseOp, LeaseStatus, LimitCheck, SliceWant, Store, StoreError, Taken,
};
use crate::decision::Decision;
use crate::time::Timestamp;

/// Where a limit is counted when replicas run in several regions (`scope`
/// in the policy). With one region (no global store), every scope is
/// counted in the one store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// In the region's own store, the limit as written: each region has
    /// the whole limit.
    #[default]
    Region,
    /// In the region's own store, the limit times this region's weight:
    /// a global figure split between the regions in fixed shares.
    RegionWeighted,
    /// In the store every region shares: exactly (`sync: exact`), or from
    /// slices the region's replicas lease from it (`sync: leased`).
    Global,
}

impl Scope {
    /// The name as written in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Region => "region",
            Scope::RegionWeighted => "region_weighted",
            Scope::Global => "global",
        }
    }
}

/// This replica's region: its name and its weight, the share of a
/// global figure it has (in millionths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionShare {
    /// The region's name.
    pub name: Arc<str>,
    /// Its weight, in millionths (1,000,000: the whole).
    pub weight_ppm: u32,
}

/// The store of a replica in one region of several: `Region` and
/// `RegionWeighted` checks go to the region's store (the latter with its
/// quota times the region's weight), `Global` checks to the global store.
///
/// A request whose limits span both is decided on the region's store
/// first; when the global store then denies, what the region's store
/// admitted is given back (rate limits) or released (concurrency slots),
/// so a denied request consumes nothing in either. A shaping leaky
/// bucket's delay cannot be given back: it stays granted.
pub struct ScopedStore {
    region: Arc<dyn Store>,
    global: Arc<dyn Store>,
    share: RegionShare,
    /// Requests denied by the global store whose region limits could not
    /// be given back (the region's store failed meanwhile).
    undo_failed: AtomicU64,
}

impl ScopedStore {
    /// Decides on `region` and `global` as each check's scope says.
    pub fn new(region: Arc<dyn Store>, global: Arc<dyn Store>, share: RegionShare) -> ScopedStore {
        ScopedStore {
            region,
            global,
            share,
            undo_failed: AtomicU64::new(0),
        }
    }

    /// Requests the global store denied whose region limits could not be
    /// given back, since start.
    pub fn undo_failures(&self) -> u64 {
        self.undo_failed.load(Ordering::Relaxed)
    }

    /// This replica's region.
    pub fn share(&self) -> &RegionShare {
        &self.share
    }

    /// `check` as the region's store sees it: a weighted limit's quota is
    /// this region's share of it.
    fn local(&self, c: &LimitCheck) -> LimitCheck {
        let mut c = c.clone();
        if c.scope == Scope::RegionWeighted {
            c.quota = c.quota.share(self.share.weight_ppm);
        }
        c
    }

    /// Which checks go where: indices of the region's, then the global's.
    fn split(&self, checks: &[LimitCheck]) -> (Vec<usize>, Vec<usize>) {
        (0..checks.len()).partition(|&i| checks[i].scope != Scope::Global)
    }

    /// Whether every check goes to the region's store as it is.
    fn all_plain_region(checks: &[LimitCheck]) -> bool {
        checks.iter().all(|c| c.scope == Scope::Region)
    }

    fn region_part(&self, checks: &[LimitCheck], idx: &[usize]) -> Vec<LimitCheck> {
        idx.iter().map(|&i| self.local(&checks[i])).collect()
    }

    fn global_part(checks: &[LimitCheck], idx: &[usize]) -> Vec<LimitCheck> {
        idx.iter().map(|&i| checks[i].clone()).collect()
    }

    /// Gives back what the region's store admitted for a request the
    /// global store then denied.
    async fn undo_region(&self, admitted: &[LimitCheck], decided: &[Decision], now: Timestamp) {
        let back: Vec<GiveBack> = admitted
            .iter()
            .zip(decided)
            .filter(|(c, d)| d.allowed && c.cost > 0 && crate::algorithm::slice::leasable(&c.quota))
            .map(|(c, _)| GiveBack {
                check: c.clone(),
                taken_at: now,
            })
            .collect();
        if !back.is_empty() && self.region.give_back(&back, now).await.is_err() {
            self.undo_failed.fetch_add(1, Ordering::Relaxed);
        }
        let slots: Vec<LimitCheck> = admitted
            .iter()
            .filter(|c| c.quota.is_concurrency() && c.lease.is_some())
            .cloned()
            .collect();
        if !slots.is_empty() && self.region.release(&slots, now).await.is_err() {
            self.undo_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A decision not made: the request was denied by another limit first.
fn undecided(c: &LimitCheck) -> Decision {
    Decision {
        allowed: true,
        limit: c.quota.limit(),
        remaining: 0,
        reset_after: Duration::ZERO,
        retry_after: None,
        delay: Duration::ZERO,
    }
}

/// Puts the two parts' answers back in the checks' order.
fn merge<T>(n: usize, parts: [(Vec<usize>, Vec<T>); 2]) -> Vec<T> {
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for (idx, answers) in parts {
        for (i, a) in idx.into_iter().zip(answers) {
            out[i] = Some(a);
        }
    }
    out.into_iter()
        .map(|a| a.expect("one answer per check"))
        .collect()
}

impl Store for ScopedStore {
    fn check<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        if Self::all_plain_region(checks) {
            return self.region.check(checks, now);
        }
        Box::pin(async move {
            let (r, g) = self.split(checks);
            let region = self.region_part(checks, &r);
            let global = Self::global_part(checks, &g);
            if global.is_empty() {
                return self.region.check(&region, now).await;
            }
            if region.is_empty() {
                return self.global.check(&global, now).await;
            }
            let rd = self.region.check(&region, now).await?;
            if rd.iter().any(|d| !d.allowed) {
                let gd = global.iter().map(undecided).collect();
                return Ok(merge(checks.len(), [(r, rd), (g, gd)]));
            }
            let gd = match self.global.check(&global, now).await {
                Ok(gd) => gd,
                Err(e) => {
                    self.undo_region(&region, &rd, now).await;
                    return Err(e);
                }
            };
            if gd.iter().any(|d| !d.allowed) {
                self.undo_region(&region, &rd, now).await;
            }
            Ok(merge(checks.len(), [(r, rd), (g, gd)]))
        })
    }

    fn inspect<'a>(
        &'a self,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Decision>, StoreError>> {
        Box::pin(async move {
            let (r, g) = self.split(checks);
            let (region, global) = (self.region_part(checks, &r), Self::global_part(checks, &g));
            let rd = if region.is_empty() {
                Vec::new()
            } else {
                self.region.inspect(&region, now).await?
            };
            let gd = if global.is_empty() {
                Vec::new()
            } else {
                self.global.inspect(&global, now).await?
            };
            Ok(merge(checks.len(), [(r, rd), (g, gd)]))
        })
    }

    fn reset<'a>(&'a self, checks: &'a [LimitCheck]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let (r, g) = self.split(checks);
            let mut n = 0;
            if !r.is_empty() {
                n += self.region.reset(&self.region_part(checks, &r)).await?;
            }
            if !g.is_empty() {
                n += self.global.reset(&Self::global_part(checks, &g)).await?;
            }
            Ok(n)
        })
    }

    fn active_keys(&self) -> Option<u64> {
        self.region.active_keys()
    }

    fn leases<'a>(
        &'a self,
        op: LeaseOp,
        checks: &'a [LimitCheck],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>, StoreError>> {
        if Self::all_plain_region(checks) {
            return self.region.leases(op, checks, now);
        }
        Box::pin(async move {
            let (r, g) = self.split(checks);
            // Both, whatever the other answers: a slot one store failed to
            // release must not keep the other's held.
            let rs = self
                .region
                .leases(op, &self.region_part(checks, &r), now)
                .await;
            let gs = self
                .global
                .leases(op, &Self::global_part(checks, &g), now)
                .await;
            Ok(merge(checks.len(), [(r, rs?), (g, gs?)]))
        })
    }

    fn leases_expired(&self) -> Option<u64> {
        let r = self.region.leases_expired();
        let g = self.global.leases_expired();
        match (r, g) {
            (None, None) => None,
            (r, g) => Some(r.unwrap_or(0) + g.unwrap_or(0)),
        }
    }

    fn failure_domain(&self, check: &LimitCheck) -> usize {
        self.region.failure_domain(check)
    }

    fn domain_name(&self, domain: usize) -> Option<String> {
        self.region.domain_name(domain)
    }

    fn domains_epoch(&self) -> u64 {
        self.region.domains_epoch()
    }

    fn take<'a>(
        &'a self,
        wants: &'a [SliceWant],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Taken>, StoreError>> {
        Box::pin(async move {
            let (r, g): (Vec<usize>, Vec<usize>) =
                (0..wants.len()).partition(|&i| wants[i].check.scope != Scope::Global);
            let part = |idx: &[usize], local: bool| -> Vec<SliceWant> {
                idx.iter()
                    .map(|&i| {
                        let mut w = wants[i].clone();
                        if local {
                            w.check = self.local(&w.check);
                        }
                        w
                    })
                    .collect()
            };
            let rt = self.region.take(&part(&r, true), now).await?;
            let gt = self.global.take(&part(&g, false), now).await?;
            Ok(merge(wants.len(), [(r, rt), (g, gt)]))
        })
    }

    fn give_back<'a>(
        &'a self,
        slices: &'a [GiveBack],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let (r, g): (Vec<&GiveBack>, Vec<&GiveBack>) =
                slices.iter().partition(|s| s.check.scope != Scope::Global);
            let r: Vec<GiveBack> = r
                .into_iter()
                .map(|s| GiveBack {
                    check: self.local(&s.check),
                    taken_at: s.taken_at,
                })
                .collect();
            let g: Vec<GiveBack> = g.into_iter().cloned().collect();
            if !r.is_empty() {
                self.region.give_back(&r, now).await?;
            }
            if !g.is_empty() {
                self.global.give_back(&g, now).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
#[path = "scoped_tests.rs"]
mod tests;
