//! `Limiter`: a policy and a store, deciding requests.

use std::sync::Arc;

use super::descriptor::Descriptor;
use super::identity::Request;
use super::model::Policy;
use super::plan::Plan;
use super::verdict::{CheckError, DescriptorVerdict, Verdict};
use crate::store::{LeaseId, LeaseStatus, LimitCheck, Store, StoreError};
use crate::time::Timestamp;

/// A rule name and a limit name.
pub type RuleLimit = (Arc<str>, Arc<str>);

/// The concurrency slots a request holds: its lease and the checks it
/// holds them on (each with the lease set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The lease id.
    pub lease: LeaseId,
    /// One check per slot held.
    pub checks: Vec<LimitCheck>,
    /// The rule and limit name of each slot, in the same order.
    pub names: Vec<RuleLimit>,
}

impl Held {
    /// The shortest lease among the slots: renew well within it.
    pub fn lease_length(&self) -> std::time::Duration {
        self.checks
            .iter()
            .filter_map(|c| match c.quota {
                crate::Quota::Concurrency { lease_us, .. } => Some(lease_us),
                _ => None,
            })
            .min()
            .map(std::time::Duration::from_micros)
            .unwrap_or(crate::quota::DEFAULT_LEASE)
    }
}

/// A policy and a store: decides requests.
pub struct Limiter {
    policy: Arc<Policy>,
    store: Arc<dyn Store>,
}

impl Limiter {
    /// A limiter deciding `policy` on `store`.
    pub fn new(policy: Arc<Policy>, store: Arc<dyn Store>) -> Limiter {
        Limiter { policy, store }
    }

    /// The policy.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Decides `req` of `cost` at `now`. Concurrency limits say whether a
    /// slot is free and take none (see [`Limiter::acquire`]).
    pub async fn check(
        &self,
        req: &Request<'_>,
        cost: u64,
        now: Timestamp,
    ) -> Result<Verdict, CheckError> {
        let plan = self.policy.plan(req, cost, now)?;
        Ok(self.decide(plan, None, now).await?.0)
    }

    /// Decides `req` of `cost` at `now` as [`Limiter::check`] does, and an
    /// allowed request takes a slot of every concurrency limit that
    /// applies, held under a new lease until [`Limiter::release`] (or the
    /// end of the lease; [`Limiter::renew`] extends it). All or nothing: a
    /// request denied by any limit holds no slot and consumes no rate
    /// quota. `Held` is `None` when no slot was taken.
    pub async fn acquire(
        &self,
        req: &Request<'_>,
        cost: u64,
        now: Timestamp,
    ) -> Result<(Verdict, Option<Held>), CheckError> {
        let plan = self.policy.plan(req, cost, now)?;
        let concurrent =
            plan.enforced.has_concurrency() || plan.shadow.iter().any(|g| g.has_concurrency());
        let lease = concurrent.then(LeaseId::random);
        self.decide(plan, lease, now).await
    }

    /// Decides a plan; concurrency checks of groups that allow hold a slot
    /// under `lease`, if any.
    async fn decide(
        &self,
        mut plan: Plan,
        lease: Option<LeaseId>,
        now: Timestamp,
    ) -> Result<(Verdict, Option<Held>), CheckError> {
        let mut outcomes = Vec::with_capacity(plan.enforced.checks.len());
        let mut allowed = true;
        let mut held: Vec<(LimitCheck, RuleLimit)> = Vec::new();
        if !plan.enforced.checks.is_empty() {
            plan.enforced.lease(lease);
            let decisions = self.store.check(&plan.enforced.checks, now).await?;
            allowed = decisions.iter().all(|d| d.allowed);
            if allowed {
                held.extend(plan.enforced.concurrency());
            }
            outcomes.extend(plan.enforced.outcomes(decisions, false));
        }
        for mut group in plan.shadow {
            // A shadow rule counts slots as if enforced, but only for a
            // request that goes on (a denied one would never release them).
            group.lease(lease.filter(|_| allowed));
            let decisions = self.store.check(&group.checks, now).await?;
            if allowed && decisions.iter().all(|d| d.allowed) {
                held.extend(group.concurrency());
            }
            outcomes.extend(group.outcomes(decisions, true));
        }
        let held = match lease {
            Some(lease) if !held.is_empty() => {
                let (checks, names) = held.into_iter().unzip();
                Some(Held {
                    lease,
                    checks,
                    names,
                })
            }
            _ => None,
        };
        let verdict = Verdict {
            allowed,
            tier: plan.tier,
            outcomes,
        };
        Ok((verdict, held))
    }

    /// Gives back the slots of `held` at `now`: one status per slot.
    pub async fn release(
        &self,
        held: &Held,
        now: Timestamp,
    ) -> Result<Vec<LeaseStatus>, StoreError> {
        self.store.release(&held.checks, now).await
    }

    /// Extends the lease of every slot of `held` from `now`: one status per
    /// slot.
    pub async fn renew(&self, held: &Held, now: Timestamp) -> Result<Vec<LeaseStatus>, StoreError> {
        self.store.renew(&held.checks, now).await
    }

    /// Decides `descriptors` of `domain` at `now`: every enforced limit of
    /// every descriptor together (if one denies, none consumes), each
    /// shadow rule on its own. No client tier applies.
    pub async fn check_descriptors(
        &self,
        domain: &str,
        descriptors: &[Descriptor<'_>],
        now: Timestamp,
    ) -> Result<DescriptorVerdict, CheckError> {
        let plan = self.policy.plan_descriptors(domain, descriptors, now);
        let mut outcomes = Vec::with_capacity(plan.enforced.checks.len());
        let mut descriptor = plan.enforced_of;
        let mut allowed = true;
        if !plan.enforced.checks.is_empty() {
            let decisions = self.store.check(&plan.enforced.checks, now).await?;
            allowed = decisions.iter().all(|d| d.allowed);
            outcomes.extend(plan.enforced.outcomes(decisions, false));
        }
        for (group, i) in plan.shadow {
            let decisions = self.store.check(&group.checks, now).await?;
            descriptor.extend(std::iter::repeat_n(i, decisions.len()));
            outcomes.extend(group.outcomes(decisions, true));
        }
        Ok(DescriptorVerdict {
            verdict: Verdict {
                allowed,
                tier: None,
                outcomes,
            },
            descriptor,
        })
    }
}
