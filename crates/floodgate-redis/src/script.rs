//! The Lua code of the decisions, and the translation of checks into its
//! KEYS and ARGV and of its reply into decisions.
//!
//! The per-algorithm files in `lua/` are concatenated (`common.lua` first,
//! `check.lua`, which defines `decide`, after the algorithms) and end
//! either with `eval.lua`, making one script for `EVALSHA`, or with
//! `function.lua`, making a Redis Functions library for `FCALL` (see
//! `calls.rs`): the same code, written once, so one call decides every
//! limit of a request whatever their algorithms. The code decides
//! allow/deny and writes the new state; it returns the state it decided
//! on, and the Decision is computed here by `floodgate_core::algorithm`
//! from that state. The remaining, reset and retry figures therefore come
//! from the very code the memory store runs; the script's allow bit is
//! checked against the core's, and a disagreement is an error, never a
//! guess.

use std::collections::VecDeque;

use floodgate_core::algorithm::{
    self, concurrency, fixed_window, gcra, leaky_bucket, sliding_counter, sliding_log,
    token_bucket, State,
};
use floodgate_core::{Decision, LeakMode, LeaseStatus, LimitCheck, Quota, StoreError, Timestamp};

mod request;
mod take;
pub(crate) use request::{push_gathered, split_gathered, Mode, Request};
pub(crate) use take::decode_take;

/// The algorithms and `decide`, shared by the script and the library.
macro_rules! decide_source {
    () => {
        concat!(
            include_str!("../lua/common.lua"),
            include_str!("../lua/token_bucket.lua"),
            include_str!("../lua/leaky_bucket.lua"),
            include_str!("../lua/fixed_window.lua"),
            include_str!("../lua/sliding_log.lua"),
            include_str!("../lua/sliding_counter.lua"),
            include_str!("../lua/gcra.lua"),
            include_str!("../lua/concurrency.lua"),
            include_str!("../lua/check.lua"),
        )
    };
}

/// The script's source (`EVALSHA`).
pub const SOURCE: &str = concat!(decide_source!(), include_str!("../lua/eval.lua"));

/// The library's body (`FUNCTION LOAD`), without its first lines (see
/// [`library`]).
const LIBRARY_BODY: &str = concat!(decide_source!(), include_str!("../lua/function.lua"));

/// The library's name, also its one function's: `floodgate_` and 16 hex
/// digits of the SHA-256 of its body, so that two versions of the code
/// never share a name.
pub fn library_name() -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(LIBRARY_BODY.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("floodgate_{hex}")
}

/// The library's source, for `FUNCTION LOAD`, named `name`.
pub fn library(name: &str) -> String {
    format!("#!lua name={name}\nlocal FLOODGATE_FUNCTION = '{name}'\n{LIBRARY_BODY}")
}

/// A script reply, decoded.
pub(crate) struct Reply {
    /// The time the script decided at (µs).
    pub t: u64,
    /// Whether every check allowed (and, in check mode, consumed).
    pub all_allowed: bool,
    /// One decision per check.
    pub decisions: Vec<Decision>,
    /// Holders with an ended lease found on the keys where a slot was
    /// taken (removed if the call consumed).
    pub ended: u64,
}

pub(super) fn bad(msg: impl std::fmt::Display) -> StoreError {
    StoreError::permanent(format!("redis script reply: {msg}"))
}

/// Rebuilds the core state of `quota` from the script's fields.
pub(super) fn rebuild(quota: &Quota, f: &[u64]) -> Result<State, StoreError> {
    let need = |n: usize| {
        if f.len() == n {
            Ok(())
        } else {
            Err(bad(format!(
                "{} fields for {}, expected {n}",
                f.len(),
                quota.algorithm_name()
            )))
        }
    };
    Ok(match quota {
        Quota::TokenBucket { .. } => {
            need(2)?;
            State::TokenBucket(token_bucket::Bucket {
                level: f[0],
                last: f[1],
            })
        }
        Quota::LeakyBucket {
            mode: LeakMode::Policing,
            ..
        } => {
            need(2)?;
            State::LeakyBucket(leaky_bucket::Meter {
                level: f[0],
                last: f[1],
            })
        }
        Quota::LeakyBucket {
            mode: LeakMode::Shaping,
            ..
        } => {
            need(2)?;
            State::Shaping(leaky_bucket::Queue {
                at: f[0],
                frac: f[1],
            })
        }
        Quota::FixedWindow { .. } => {
            need(2)?;
            State::FixedWindow(fixed_window::Window {
                start: f[0],
                count: f[1],
            })
        }
        Quota::SlidingCounter { .. } => {
            need(3)?;
            State::SlidingCounter(sliding_counter::Counter {
                start: f[0],
                prev: f[1],
                curr: f[2],
            })
        }
        Quota::Gcra { .. } => {
            need(2)?;
            State::Gcra(gcra::Tat {
                at: f[0],
                frac: f[1],
            })
        }
        Quota::Concurrency { .. } => {
            return Err(bad("a concurrency state is decided from its summary"));
        }
        Quota::SlidingLog { .. } => {
            if f.len() % 2 != 0 {
                return Err(bad("odd number of sliding log fields"));
            }
            let entries: VecDeque<(u64, u64)> = f.chunks(2).map(|p| (p[0], p[1])).collect();
            let total = entries.iter().map(|e| e.1).sum();
            State::SlidingLog(Box::new(sliding_log::Log { entries, total }))
        }
    })
}

/// Decodes the reply to a check or peek of `checks`.
pub(crate) fn decode(raw: &[i64], checks: &[&LimitCheck]) -> Result<Reply, StoreError> {
    let mut it = raw
        .iter()
        .map(|&v| u64::try_from(v).map_err(|_| bad(format!("negative value {v}"))));
    let mut next = || it.next().unwrap_or_else(|| Err(bad("too short")));
    let t = next()?;
    let all_allowed = next()? == 1;
    let now = Timestamp::from_micros(t);
    let mut decisions = Vec::with_capacity(checks.len());
    let mut ended = 0;
    for c in checks {
        let allowed = next()? == 1;
        let present = next()? == 1;
        let n = next()? as usize;
        let fields = (0..n).map(|_| next()).collect::<Result<Vec<u64>, _>>()?;
        if let (Quota::Concurrency { limit, lease_us }, true) = (c.quota, present) {
            let [held, first, last, gone] = fields[..] else {
                return Err(bad(format!(
                    "{} fields for a concurrency limit",
                    fields.len()
                )));
            };
            let d = concurrency::decision(held, first, last, t, limit, lease_us);
            if d.allowed != allowed {
                return Err(bad(format!(
                    "the script and floodgate-core disagree on {} at {t} (state {fields:?})",
                    c.quota
                )));
            }
            if c.lease.is_some() {
                ended += gone;
            }
            decisions.push(d);
            continue;
        }
        let mut state = if present {
            rebuild(&c.quota, &fields)?
        } else {
            State::fresh(&c.quota, now)
        };
        let d = algorithm::evaluate(&mut state, now, c.cost, &c.quota);
        if d.allowed != allowed {
            return Err(bad(format!(
                "the script {} but floodgate-core {} ({} cost {} at {t}, state {fields:?})",
                if allowed { "allowed" } else { "denied" },
                if d.allowed { "allows" } else { "denies" },
                c.quota,
                c.cost
            )));
        }
        decisions.push(d);
    }
    Ok(Reply {
        t,
        all_allowed,
        decisions,
        ended,
    })
}

/// Decodes the reply to a release or a renewal of `n` checks.
pub(crate) fn decode_leases(raw: &[i64], n: usize) -> Result<Vec<LeaseStatus>, StoreError> {
    if raw.len() != n + 1 {
        return Err(bad(format!("{} values for {n} leases", raw.len())));
    }
    raw[1..]
        .iter()
        .map(|&v| match v {
            1 => Ok(LeaseStatus::Held),
            2 => Ok(LeaseStatus::Expired),
            0 => Ok(LeaseStatus::Missing),
            v => Err(bad(format!("lease status {v}"))),
        })
        .collect()
}
