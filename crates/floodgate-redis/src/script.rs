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
use floodgate_core::store::SliceWant;
use floodgate_core::{Decision, LeakMode, LeaseStatus, LimitCheck, Quota, StoreError, Timestamp};

mod take;
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

/// What the script does with the checks it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Decide all; consume only if all allow.
    Check,
    /// Decide all; consume nothing.
    Peek,
    /// Undo a consume made at the given time.
    Refund,
    /// Take a slice of each limit, each on its own.
    Take,
    /// Release the concurrency slot of each check's lease.
    Release,
    /// Renew the concurrency slot of each check's lease.
    Renew,
}

impl Mode {
    fn code(self) -> &'static str {
        match self {
            Mode::Check => "c",
            Mode::Peek => "p",
            Mode::Refund => "r",
            Mode::Take => "t",
            Mode::Release => "l",
            Mode::Renew => "n",
        }
    }
}

/// The algorithm code and three parameters of `check`'s quota, as the
/// script reads them.
fn params(check: &LimitCheck) -> (&'static str, u64, u64, u64) {
    match check.quota {
        Quota::TokenBucket { capacity, refill } => {
            ("tb", capacity, refill.amount(), refill.period_us())
        }
        Quota::LeakyBucket {
            capacity,
            leak,
            mode,
        } => {
            let code = match mode {
                LeakMode::Policing => "lb",
                LeakMode::Shaping => "ls",
            };
            (code, capacity, leak.amount(), leak.period_us())
        }
        Quota::FixedWindow { limit, window_us } => ("fw", limit, window_us, 0),
        Quota::SlidingLog { limit, window_us } => ("sl", limit, window_us, 0),
        Quota::SlidingCounter { limit, window_us } => ("sc", limit, window_us, 0),
        Quota::Gcra { rate, burst } => ("gc", burst, rate.amount(), rate.period_us()),
        Quota::Concurrency { limit, lease_us } => {
            ("cc", limit, lease_us, check.lease.map_or(0, |l| l.get()))
        }
    }
}

/// One request's part of a call: its mode, time, keys and limits, as the
/// Lua code reads them (see `lua/check.lua`).
#[derive(Clone, Debug)]
pub(crate) struct Request {
    mode: Mode,
    time: Option<u64>,
    keys: Vec<String>,
    /// Per limit: algorithm code, a, b, c, cost.
    limits: Vec<(&'static str, u64, u64, u64, u64)>,
    /// A take's per-limit want and share (in millionths), beside its cost
    /// (the least to take); empty in the other modes.
    slices: Vec<(u64, u32)>,
}

impl Request {
    pub(crate) fn new(
        mode: Mode,
        time: Option<u64>,
        keys: &[&str],
        checks: &[&LimitCheck],
    ) -> Request {
        Request {
            mode,
            time,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            limits: checks
                .iter()
                .map(|c| {
                    let (code, a, b, p) = params(c);
                    (code, a, b, p, c.cost)
                })
                .collect(),
            slices: Vec::new(),
        }
    }

    /// A take of each slice in `wants` (keys in the same order).
    pub(crate) fn take(time: Option<u64>, keys: &[&str], wants: &[&SliceWant]) -> Request {
        let checks: Vec<&LimitCheck> = wants.iter().map(|w| &w.check).collect();
        let mut r = Request::new(Mode::Take, time, keys, &checks);
        r.slices = wants.iter().map(|w| (w.want, w.share_ppm)).collect();
        r
    }

    /// The first key (a request's keys share one hash slot).
    pub(crate) fn first_key(&self) -> &str {
        &self.keys[0]
    }

    fn push_time(&self, cmd: &mut redis::Cmd) {
        match self.time {
            Some(t) => cmd.arg(t),
            None => cmd.arg(""),
        };
    }

    fn push_limits(&self, cmd: &mut redis::Cmd) {
        for (i, &(code, a, b, p, cost)) in self.limits.iter().enumerate() {
            cmd.arg(code).arg(a).arg(b).arg(p);
            match self.slices.get(i) {
                Some((want, share)) => cmd.arg(format!("{want}:{cost}:{share}")),
                None => cmd.arg(cost),
            };
        }
    }

    /// Adds this request as a call of its own to `cmd` (an `EVALSHA sha`
    /// or `FCALL name`): the number of keys, the KEYS and the ARGV.
    pub(crate) fn push(&self, cmd: &mut redis::Cmd, min_ttl_ms: u64) {
        cmd.arg(self.keys.len());
        for key in &self.keys {
            cmd.arg(key);
        }
        cmd.arg(self.mode.code());
        self.push_time(cmd);
        cmd.arg(min_ttl_ms);
        self.push_limits(cmd);
    }
}

/// Adds `requests` as one gathered call to `cmd` (see `lua/check.lua`).
pub(crate) fn push_gathered(cmd: &mut redis::Cmd, requests: &[&Request], min_ttl_ms: u64) {
    cmd.arg(requests.iter().map(|r| r.keys.len()).sum::<usize>());
    for r in requests {
        for key in &r.keys {
            cmd.arg(key);
        }
    }
    cmd.arg("g").arg(min_ttl_ms).arg(requests.len());
    for r in requests {
        cmd.arg(r.mode.code());
        r.push_time(cmd);
        cmd.arg(r.limits.len());
        r.push_limits(cmd);
    }
}

/// Splits the reply to a gathered call of `count` requests into each
/// request's reply, as a call of its own would have returned it.
pub(crate) fn split_gathered(raw: &[i64], count: usize) -> Result<Vec<Vec<i64>>, StoreError> {
    let mut rest = match raw.split_first() {
        Some((&n, rest)) if n == count as i64 => rest,
        _ => return Err(bad(format!("a gathered reply not for {count} requests"))),
    };
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (&len, tail) = rest
            .split_first()
            .ok_or_else(|| bad("gathered reply too short"))?;
        let len = usize::try_from(len).map_err(|_| bad("negative length"))?;
        if tail.len() < len {
            return Err(bad("gathered reply too short"));
        }
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    if !rest.is_empty() {
        return Err(bad("gathered reply too long"));
    }
    Ok(out)
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
