//! Planning: which limits apply to a request, under which identities,
//! each check carrying its rule's failure mode.

use std::sync::Arc;

use super::identity::{key_digest, Request};
use super::model::{KeyDigest, Limit, Override, Policy};
use super::verdict::{CheckError, LimitOutcome};
use crate::decision::Decision;
use crate::store::{FailureMode, LeaseId, LimitCheck};
use crate::time::Timestamp;

/// The planned checks of one request.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The client's tier.
    pub tier: Option<Arc<str>>,
    /// Enforced limits, decided together.
    pub enforced: Group,
    /// Shadow rules, each decided on its own.
    pub shadow: Vec<Group>,
}

/// Checks decided in one store call, with the rule and limit name of each.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// What the store decides.
    pub checks: Vec<LimitCheck>,
    /// `(rule, limit name, soft share)` of each check, in the same order.
    pub owners: Vec<(Arc<str>, Arc<str>, Option<u16>)>,
}

impl Group {
    pub(crate) fn push(
        &mut self,
        rule: &Arc<str>,
        on_failure: Option<FailureMode>,
        limit: &Limit,
        identity: &Arc<str>,
        cost: u64,
    ) {
        self.checks.push(LimitCheck {
            limit_id: limit.id.clone(),
            identity: identity.clone(),
            quota: limit.quota,
            cost,
            on_failure,
            lease: None,
            sync: limit.sync,
            scope: limit.scope,
        });
        self.owners
            .push((rule.clone(), limit.name.clone(), limit.soft));
    }

    /// Whether a check is of a concurrency limit.
    pub fn has_concurrency(&self) -> bool {
        self.checks.iter().any(|c| c.quota.is_concurrency())
    }

    /// Sets `lease` on the concurrency checks: allowed, they hold a slot
    /// under it.
    pub(crate) fn lease(&mut self, lease: Option<LeaseId>) {
        for c in self.checks.iter_mut().filter(|c| c.quota.is_concurrency()) {
            c.lease = lease;
        }
    }

    /// The concurrency checks (those that hold slots once allowed), each
    /// with its rule and limit name.
    pub(crate) fn concurrency(
        &self,
    ) -> impl Iterator<Item = (LimitCheck, (Arc<str>, Arc<str>))> + '_ {
        self.checks
            .iter()
            .zip(&self.owners)
            .filter(|(c, _)| c.quota.is_concurrency())
            .map(|(c, (rule, limit, _))| (c.clone(), (rule.clone(), limit.clone())))
    }

    /// Pairs the store's decisions with their owners.
    pub(crate) fn outcomes(
        self,
        decisions: Vec<Decision>,
        shadow: bool,
    ) -> impl Iterator<Item = LimitOutcome> {
        self.owners.into_iter().zip(self.checks).zip(decisions).map(
            move |(((rule, limit, soft), check), decision)| LimitOutcome {
                rule,
                limit,
                quota: check.quota,
                shadow,
                soft,
                decision,
            },
        )
    }
}

/// The rule name and identity of global limits, shared by every request.
static GLOBAL: std::sync::LazyLock<(Arc<str>, Arc<str>)> =
    std::sync::LazyLock::new(|| (Arc::from("global"), Arc::from("g")));

impl Policy {
    /// The tier of a request whose API key (if any) has `digest`, or why it
    /// is refused.
    pub fn tier_of(&self, digest: Option<&KeyDigest>) -> Result<Option<Arc<str>>, CheckError> {
        match digest.and_then(|d| self.clients.tier_of(d)) {
            Some(tier) => Ok(Some(tier)),
            None if self.identity.require_api_key => Err(match digest {
                None => CheckError::MissingApiKey,
                Some(_) => CheckError::UnknownApiKey,
            }),
            None => Ok(self.default_tier.clone()),
        }
    }

    /// The override of `rule` for `identity` in force at `now`, if any.
    pub fn override_for(&self, rule: &str, identity: &str, now: Timestamp) -> Option<&Override> {
        self.overrides
            .get(rule)
            .and_then(|m| m.get(identity))
            .filter(|o| o.live_at(now))
    }

    /// Which limits apply to `req` at `now`, under which keys.
    pub fn plan(&self, req: &Request<'_>, cost: u64, now: Timestamp) -> Result<Plan, CheckError> {
        // The key's digest is taken once: it finds the client and keys
        // its counters.
        let digest = req.api_key.map(key_digest);
        // A verified token's tier wins over the client's; a required API
        // key is required all the same.
        let tier = self.tier_of(digest.as_ref())?;
        let tier = req.tier.clone().or(tier);
        let mut plan = Plan {
            tier: tier.clone(),
            ..Plan::default()
        };
        for rule in &self.rules {
            if !rule.matcher.matches(req.method, req.path) {
                continue;
            }
            let mut limits = tier
                .as_ref()
                .and_then(|t| rule.tiers.get(t))
                .unwrap_or(&rule.limits);
            let has_overrides = self.overrides.contains_key(&rule.name);
            if limits.is_empty() && !has_overrides {
                continue;
            }
            let identity = self.identity(&rule.key, req, digest.as_ref());
            if has_overrides {
                if let Some(o) = self.override_for(&rule.name, &identity, now) {
                    limits = &o.limits;
                }
            }
            if limits.is_empty() {
                continue;
            }
            let group = if rule.shadow {
                plan.shadow.push(Group::default());
                plan.shadow.last_mut().expect("just pushed")
            } else {
                &mut plan.enforced
            };
            for l in limits {
                group.push(&rule.name, rule.on_store_failure, l, &identity, cost);
            }
        }
        let (global, identity) = &*GLOBAL;
        for l in &self.global {
            plan.enforced.push(global, None, l, identity, cost);
        }
        Ok(plan)
    }
}
