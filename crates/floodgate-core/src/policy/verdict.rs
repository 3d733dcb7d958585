//! The verdict on a request: each limit's decision, and which one speaks.

use std::sync::Arc;
use std::time::Duration;

use crate::decision::{Decision, RetryAfter};
use crate::quota::Quota;
use crate::store::StoreError;

/// One limit's part in a verdict.
#[derive(Clone, Debug)]
pub struct LimitOutcome {
    /// The rule (`global` for global limits).
    pub rule: Arc<str>,
    /// The limit's name.
    pub limit: Arc<str>,
    /// Its quota.
    pub quota: Quota,
    /// Whether it belongs to a shadow rule.
    pub shadow: bool,
    /// Its soft share, thousandths of the limit (see [`Limit::soft`]).
    ///
    /// [`Limit::soft`]: crate::policy::Limit::soft
    pub soft: Option<u16>,
    /// Its decision.
    pub decision: Decision,
}

impl LimitOutcome {
    /// Whether this allowed request went past the limit's soft share: more
    /// than `soft` thousandths of the limit are used once it is counted.
    /// With `limit: 10, soft: 80%`, the 9th and 10th requests of a window
    /// are degraded, the 11th denied.
    pub fn past_soft(&self) -> bool {
        let d = &self.decision;
        match self.soft {
            Some(s) if d.allowed && !self.shadow => {
                let used = d.limit.saturating_sub(d.remaining) as u128;
                used * 1000 > d.limit as u128 * s as u128
            }
            _ => false,
        }
    }
}

/// The verdict on one request.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The client's tier.
    pub tier: Option<Arc<str>>,
    /// Every limit decided, enforced ones first.
    pub outcomes: Vec<LimitOutcome>,
}

impl Verdict {
    /// The limit that speaks for the request: when denied, the enforced
    /// limit that denied with the longest wait; when allowed, the enforced
    /// limit with the least remaining. `None` when no enforced limit
    /// applied.
    pub fn deciding(&self) -> Option<&LimitOutcome> {
        deciding(self.allowed, self.outcomes.iter())
    }

    /// Whether this denial is the store's absence (a `fail_closed` limit
    /// while the store cannot decide), not a limit reached.
    pub fn unavailable(&self) -> bool {
        !self.allowed
            && self
                .deciding()
                .is_some_and(|o| matches!(o.decision.retry_after, Some(RetryAfter::Unavailable(_))))
    }

    /// The enforced limits this allowed request went past the soft share
    /// of (none when denied).
    pub fn degraded(&self) -> impl Iterator<Item = &LimitOutcome> {
        self.outcomes
            .iter()
            .filter(move |o| self.allowed && o.past_soft())
    }

    /// How long to hold the request (shaping limits).
    pub fn delay(&self) -> Duration {
        if !self.allowed {
            return Duration::ZERO;
        }
        self.outcomes
            .iter()
            .filter(|o| !o.shadow)
            .map(|o| o.decision.delay)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Shadow rules that would have denied this request.
    pub fn shadow_denials(&self) -> impl Iterator<Item = &LimitOutcome> {
        self.outcomes
            .iter()
            .filter(|o| o.shadow && !o.decision.allowed)
    }
}

/// The limit that speaks among `outcomes` for a request `allowed` or not
/// (see [`Verdict::deciding`]).
fn deciding<'a>(
    allowed: bool,
    outcomes: impl Iterator<Item = &'a LimitOutcome>,
) -> Option<&'a LimitOutcome> {
    let enforced = outcomes.filter(|o| !o.shadow);
    if allowed {
        enforced.min_by_key(|o| {
            (
                o.decision.remaining,
                std::cmp::Reverse(o.decision.reset_after),
            )
        })
    } else {
        enforced
            .filter(|o| !o.decision.allowed)
            .max_by_key(|o| match o.decision.retry_after {
                Some(RetryAfter::Never) => (2, Duration::MAX),
                // The store's absence, not a limit, is the reason.
                Some(RetryAfter::Unavailable(d)) => (1, d),
                Some(RetryAfter::After(d)) => (0, d),
                None => (0, Duration::ZERO),
            })
    }
}

/// The verdict on a descriptor request: the verdict over all its
/// descriptors, and which descriptor each outcome belongs to.
#[derive(Clone, Debug)]
pub struct DescriptorVerdict {
    /// The verdict over every descriptor (`allowed` is the overall code).
    pub verdict: Verdict,
    /// The descriptor of each outcome, in the same order.
    pub descriptor: Vec<usize>,
}

impl DescriptorVerdict {
    /// The verdict on descriptor `i` alone: its outcomes, allowed unless
    /// one of its enforced limits denied. A descriptor no rule matched has
    /// no outcome.
    pub fn of(&self, i: usize) -> Verdict {
        let outcomes: Vec<LimitOutcome> = self.own(i).cloned().collect();
        Verdict {
            allowed: outcomes.iter().all(|o| o.shadow || o.decision.allowed),
            tier: None,
            outcomes,
        }
    }

    /// What [`of`](Self::of)`(i)` says, borrowed: whether descriptor `i`
    /// is allowed, and the limit that speaks for it.
    pub fn status(&self, i: usize) -> (bool, Option<&LimitOutcome>) {
        let allowed = self.own(i).all(|o| o.shadow || o.decision.allowed);
        (allowed, deciding(allowed, self.own(i)))
    }

    /// The outcomes of descriptor `i`.
    fn own(&self, i: usize) -> impl Iterator<Item = &LimitOutcome> + Clone {
        self.verdict
            .outcomes
            .iter()
            .zip(&self.descriptor)
            .filter(move |(_, d)| **d == i)
            .map(|(o, _)| o)
    }
}

/// Why a request was not decided.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The policy requires an API key and the request has none.
    #[error("an API key is required")]
    MissingApiKey,
    /// The policy requires a known API key and this one is not.
    #[error("unknown API key")]
    UnknownApiKey,
    /// The request's token is invalid and the policy refuses such.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}
