//! `Limiter`: a policy and a store, deciding requests.

use std::sync::Arc;

use super::descriptor::Descriptor;
use super::identity::Request;
use super::model::Policy;
use super::verdict::{CheckError, DescriptorVerdict, Verdict};
use crate::store::Store;
use crate::time::Timestamp;

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

    /// Decides `req` of `cost` at `now`.
    pub async fn check(
        &self,
        req: &Request<'_>,
        cost: u64,
        now: Timestamp,
    ) -> Result<Verdict, CheckError> {
        let plan = self.policy.plan(req, cost, now)?;
        let mut outcomes = Vec::with_capacity(plan.enforced.checks.len());
        let mut allowed = true;
        if !plan.enforced.checks.is_empty() {
            let decisions = self.store.check(&plan.enforced.checks, now).await?;
            allowed = decisions.iter().all(|d| d.allowed);
            outcomes.extend(plan.enforced.outcomes(decisions, false));
        }
        for group in plan.shadow {
            let decisions = self.store.check(&group.checks, now).await?;
            outcomes.extend(group.outcomes(decisions, true));
        }
        Ok(Verdict {
            allowed,
            tier: plan.tier,
            outcomes,
        })
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
