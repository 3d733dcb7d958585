//! The six rate algorithms and the concurrency limit, as pure state
//! transitions.
//!
//! Each algorithm has a state type and two functions:
//!
//! - `evaluate(&mut state, now, cost, params) -> Decision` decides without
//!   consuming. It may bring the state up to `now` (refill, drop expired log
//!   entries), which changes no decision, ever.
//! - `consume(&mut state, now, cost, params)` records an allowed request.
//!
//! Splitting the two lets a store decide every limit of a request first and
//! consume only when all of them allow. [`decide`] does both for one limit.
//!
//! A concurrency limit consumes only under a lease id: [`consume_as`] and
//! [`decide_as`] take one (see [`concurrency`]).
//!
//! All arithmetic is on integers below 2^53 (microseconds, and quantities
//! scaled so that rates are whole numbers), except the sliding window
//! counter's weighted estimate, which is a double computed in a fixed order.
//! The Redis Lua scripts repeat the same operations, so both stores agree
//! exactly.

pub mod concurrency;
pub mod exact_time;
pub mod fixed_window;
pub mod gcra;
pub mod leaky_bucket;
pub mod level;
mod math;
pub mod slice;
pub mod sliding_counter;
pub mod sliding_log;
pub mod token_bucket;

use crate::decision::Decision;
use crate::quota::{LeakMode, Quota};
use crate::time::Timestamp;

/// The state of one key under one quota.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Token bucket.
    TokenBucket(token_bucket::Bucket),
    /// Leaky bucket, policing.
    LeakyBucket(leaky_bucket::Meter),
    /// Leaky bucket, shaping.
    Shaping(leaky_bucket::Queue),
    /// Fixed window.
    FixedWindow(fixed_window::Window),
    /// Sliding window log (boxed: it grows with the limit).
    SlidingLog(Box<sliding_log::Log>),
    /// Sliding window counter.
    SlidingCounter(sliding_counter::Counter),
    /// GCRA.
    Gcra(gcra::Tat),
    /// Concurrency: the holders of the slots (boxed: it grows with the
    /// limit).
    Concurrency(Box<concurrency::Slots>),
}

impl State {
    /// The idle state for `quota` at `now` (a key nobody has used).
    pub fn fresh(quota: &Quota, now: Timestamp) -> State {
        match *quota {
            Quota::TokenBucket { capacity, refill } => {
                State::TokenBucket(token_bucket::full(capacity, &refill, now))
            }
            Quota::LeakyBucket {
                mode: LeakMode::Policing,
                ..
            } => State::LeakyBucket(leaky_bucket::Meter::default()),
            Quota::LeakyBucket {
                mode: LeakMode::Shaping,
                ..
            } => State::Shaping(leaky_bucket::FRESH),
            Quota::FixedWindow { .. } => State::FixedWindow(fixed_window::Window::default()),
            Quota::SlidingLog { .. } => State::SlidingLog(Box::default()),
            Quota::SlidingCounter { .. } => {
                State::SlidingCounter(sliding_counter::Counter::default())
            }
            Quota::Gcra { .. } => State::Gcra(gcra::FRESH),
            Quota::Concurrency { .. } => State::Concurrency(Box::default()),
        }
    }

    /// Whether this state belongs to `quota`'s algorithm.
    pub fn fits(&self, quota: &Quota) -> bool {
        matches!(
            (self, quota),
            (State::TokenBucket(_), Quota::TokenBucket { .. })
                | (
                    State::LeakyBucket(_),
                    Quota::LeakyBucket {
                        mode: LeakMode::Policing,
                        ..
                    }
                )
                | (
                    State::Shaping(_),
                    Quota::LeakyBucket {
                        mode: LeakMode::Shaping,
                        ..
                    }
                )
                | (State::FixedWindow(_), Quota::FixedWindow { .. })
                | (State::SlidingLog(_), Quota::SlidingLog { .. })
                | (State::SlidingCounter(_), Quota::SlidingCounter { .. })
                | (State::Gcra(_), Quota::Gcra { .. })
                | (State::Concurrency(_), Quota::Concurrency { .. })
        )
    }
}

/// Decides without consuming. A state of another algorithm is replaced by
/// a fresh one first.
pub fn evaluate(state: &mut State, now: Timestamp, cost: u64, quota: &Quota) -> Decision {
    if !state.fits(quota) {
        *state = State::fresh(quota, now);
    }
    let t = now.as_micros();
    match (state, *quota) {
        (State::TokenBucket(s), Quota::TokenBucket { capacity, refill }) => {
            token_bucket::evaluate(s, t, cost, capacity, &refill)
        }
        (State::LeakyBucket(s), Quota::LeakyBucket { capacity, leak, .. }) => {
            leaky_bucket::evaluate_policing(s, t, cost, capacity, &leak)
        }
        (State::Shaping(s), Quota::LeakyBucket { capacity, leak, .. }) => {
            leaky_bucket::evaluate_shaping(s, t, cost, capacity, &leak)
        }
        (State::FixedWindow(s), Quota::FixedWindow { limit, window_us }) => {
            fixed_window::evaluate(s, t, cost, limit, window_us)
        }
        (State::SlidingLog(s), Quota::SlidingLog { limit, window_us }) => {
            sliding_log::evaluate(s, t, cost, limit, window_us)
        }
        (State::SlidingCounter(s), Quota::SlidingCounter { limit, window_us }) => {
            sliding_counter::evaluate(s, t, cost, limit, window_us)
        }
        (State::Gcra(s), Quota::Gcra { rate, burst }) => gcra::evaluate(s, t, cost, burst, &rate),
        (State::Concurrency(s), Quota::Concurrency { limit, lease_us }) => {
            concurrency::evaluate(s, t, limit, lease_us)
        }
        _ => unreachable!("state was made to fit the quota above"),
    }
}

/// Records an allowed request. Call only after [`evaluate`] allowed it at
/// the same `now` with the same `cost`. A concurrency limit takes no slot
/// (there is no lease to hold it under): see [`consume_as`].
pub fn consume(state: &mut State, now: Timestamp, cost: u64, quota: &Quota) {
    let t = now.as_micros();
    match (state, *quota) {
        (State::TokenBucket(s), Quota::TokenBucket { capacity, refill }) => {
            token_bucket::consume(s, t, cost, capacity, &refill)
        }
        (State::LeakyBucket(s), Quota::LeakyBucket { capacity, leak, .. }) => {
            leaky_bucket::consume_policing(s, t, cost, capacity, &leak)
        }
        (State::Shaping(s), Quota::LeakyBucket { leak, .. }) => {
            leaky_bucket::consume_shaping(s, t, cost, &leak)
        }
        (State::FixedWindow(s), Quota::FixedWindow { window_us, .. }) => {
            fixed_window::consume(s, t, cost, window_us)
        }
        (State::SlidingLog(s), Quota::SlidingLog { window_us, .. }) => {
            sliding_log::consume(s, t, cost, window_us)
        }
        (State::SlidingCounter(s), Quota::SlidingCounter { window_us, .. }) => {
            sliding_counter::consume(s, t, cost, window_us)
        }
        (State::Gcra(s), Quota::Gcra { rate, .. }) => gcra::consume(s, t, cost, &rate),
        (State::Concurrency(_), Quota::Concurrency { .. }) => {}
        (s, q) => debug_assert!(false, "consume on a state that does not fit: {s:?} {q:?}"),
    }
}

/// Records an allowed request of a holder: as [`consume`], and a
/// concurrency limit takes a slot under `lease` when there is one.
pub fn consume_as(state: &mut State, now: Timestamp, cost: u64, quota: &Quota, lease: Option<u64>) {
    match (state, *quota, lease) {
        (State::Concurrency(s), Quota::Concurrency { lease_us, .. }, Some(id)) => {
            concurrency::acquire(s, now.as_micros(), id, lease_us)
        }
        (state, _, _) => consume(state, now, cost, quota),
    }
}

/// Decides one limit for a holder and consumes when allowed (see
/// [`consume_as`]).
pub fn decide_as(
    state: &mut State,
    now: Timestamp,
    cost: u64,
    quota: &Quota,
    lease: Option<u64>,
) -> Decision {
    if lease.is_none() || !matches!(quota, Quota::Concurrency { .. }) {
        return decide(state, now, cost, quota);
    }
    let d = evaluate(state, now, cost, quota);
    if d.allowed {
        consume_as(state, now, cost, quota, lease);
    }
    d
}

/// Decides one limit and consumes when allowed.
pub fn decide(state: &mut State, now: Timestamp, cost: u64, quota: &Quota) -> Decision {
    // The hottest algorithms decide and consume in one pass.
    match (&mut *state, *quota) {
        (State::TokenBucket(s), Quota::TokenBucket { capacity, refill }) => {
            return token_bucket::decide(s, now.as_micros(), cost, capacity, &refill);
        }
        (State::Gcra(s), Quota::Gcra { rate, burst }) => {
            return gcra::decide(s, now.as_micros(), cost, burst, &rate);
        }
        _ => {}
    }
    let d = evaluate(state, now, cost, quota);
    if d.allowed {
        consume(state, now, cost, quota);
    }
    d
}
