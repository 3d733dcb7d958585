//! Building a quota: each algorithm's constructor checks its parameters
//! keep every scaled quantity exact.

use std::time::Duration;

use super::{
    LeakMode, Quota, QuotaError, Rate, MAX_CONCURRENCY_LIMIT, MAX_EXACT, MAX_LEASE,
    MAX_SLIDING_LOG_LIMIT, MIN_LEASE,
};
use crate::time::duration_micros;

fn check_scaled(what: &'static str, size: u64, rate: &Rate) -> Result<(), QuotaError> {
    if size == 0 {
        return Err(QuotaError::new(what, format!("{what} must be at least 1")));
    }
    match size.checked_mul(rate.period_us()) {
        Some(v) if v < MAX_EXACT => Ok(()),
        _ => Err(QuotaError::new(
            what,
            format!(
                "{what} {size} is too large for a rate of {} per {}µs; \
             {what} × period must stay below 2^53 µs (state it per a shorter period)",
                rate.amount(),
                rate.period_us()
            ),
        )),
    }
}

fn check_window(limit: u64, window: Duration) -> Result<u64, QuotaError> {
    if limit == 0 {
        return Err(QuotaError::new("limit", "limit must be at least 1"));
    }
    if limit >= MAX_EXACT {
        return Err(QuotaError::new("limit", "limit must be below 2^53"));
    }
    let w = duration_micros(window);
    if w == 0 {
        return Err(QuotaError::new("window", "window must be at least 1µs"));
    }
    if w >= MAX_EXACT / 4 {
        return Err(QuotaError::new("window", "window is too long"));
    }
    Ok(w)
}

impl Quota {
    /// Token bucket of `capacity`, refilled at `refill`.
    pub fn token_bucket(capacity: u64, refill: Rate) -> Result<Quota, QuotaError> {
        check_scaled("capacity", capacity, &refill)?;
        Ok(Quota::TokenBucket { capacity, refill })
    }

    /// Leaky bucket of `capacity`, leaking at `leak`.
    pub fn leaky_bucket(capacity: u64, leak: Rate, mode: LeakMode) -> Result<Quota, QuotaError> {
        check_scaled("capacity", capacity, &leak)?;
        Ok(Quota::LeakyBucket {
            capacity,
            leak,
            mode,
        })
    }

    /// Fixed window of `limit` per `window`.
    pub fn fixed_window(limit: u64, window: Duration) -> Result<Quota, QuotaError> {
        let window_us = check_window(limit, window)?;
        Ok(Quota::FixedWindow { limit, window_us })
    }

    /// Sliding log of `limit` per `window`.
    pub fn sliding_log(limit: u64, window: Duration) -> Result<Quota, QuotaError> {
        let window_us = check_window(limit, window)?;
        if limit > MAX_SLIDING_LOG_LIMIT {
            return Err(QuotaError::new("limit", format!(
                "a sliding log keeps one entry per request; its limit must be at most {MAX_SLIDING_LOG_LIMIT} \
                 (use sliding_window_counter for larger limits)"
            )));
        }
        Ok(Quota::SlidingLog { limit, window_us })
    }

    /// Sliding window counter of `limit` per `window`.
    pub fn sliding_counter(limit: u64, window: Duration) -> Result<Quota, QuotaError> {
        let window_us = check_window(limit, window)?;
        Ok(Quota::SlidingCounter { limit, window_us })
    }

    /// At most `limit` requests in flight, each slot leased for `lease`.
    pub fn concurrency(limit: u64, lease: Duration) -> Result<Quota, QuotaError> {
        if limit == 0 {
            return Err(QuotaError::new("limit", "limit must be at least 1"));
        }
        if limit > MAX_CONCURRENCY_LIMIT {
            return Err(QuotaError::new(
                "limit",
                format!("a concurrency limit keeps one entry per request in flight; its limit must be at most {MAX_CONCURRENCY_LIMIT}"),
            ));
        }
        if lease < MIN_LEASE || lease > MAX_LEASE {
            return Err(QuotaError::new(
                "lease",
                "lease must be between 100ms and 1d",
            ));
        }
        Ok(Quota::Concurrency {
            limit,
            lease_us: duration_micros(lease),
        })
    }

    /// Whether this is a concurrency limit (slots held while in flight).
    pub fn is_concurrency(&self) -> bool {
        matches!(self, Quota::Concurrency { .. })
    }

    /// GCRA at `rate` with bursts of `burst`.
    pub fn gcra(rate: Rate, burst: u64) -> Result<Quota, QuotaError> {
        check_scaled("burst", burst, &rate)?;
        Ok(Quota::Gcra { rate, burst })
    }

    /// The limit's size as reported in `X-RateLimit-Limit`.
    pub fn limit(&self) -> u64 {
        match *self {
            Quota::TokenBucket { capacity, .. } => capacity,
            // A shaping queue holds `capacity` behind the request departing.
            Quota::LeakyBucket {
                capacity,
                mode: LeakMode::Shaping,
                ..
            } => capacity + 1,
            Quota::LeakyBucket { capacity, .. } => capacity,
            Quota::FixedWindow { limit, .. }
            | Quota::SlidingLog { limit, .. }
            | Quota::SlidingCounter { limit, .. } => limit,
            Quota::Gcra { burst, .. } => burst,
            Quota::Concurrency { limit, .. } => limit,
        }
    }

    /// The policy window in whole seconds (rounded up, at least 1), as sent
    /// in `RateLimit-Policy` (`w=`): the window for window algorithms, the
    /// lease for a concurrency limit, the time to refill or drain the whole
    /// capacity for the others.
    pub fn window_secs(&self) -> u64 {
        let us = match *self {
            Quota::TokenBucket { capacity, refill } => {
                (capacity as u128 * refill.period_us() as u128).div_ceil(refill.amount() as u128)
            }
            Quota::LeakyBucket { capacity, leak, .. } => {
                (capacity as u128 * leak.period_us() as u128).div_ceil(leak.amount() as u128)
            }
            Quota::Gcra { rate, burst } => {
                (burst as u128 * rate.period_us() as u128).div_ceil(rate.amount() as u128)
            }
            Quota::FixedWindow { window_us, .. }
            | Quota::SlidingLog { window_us, .. }
            | Quota::SlidingCounter { window_us, .. } => window_us as u128,
            Quota::Concurrency { lease_us, .. } => lease_us as u128,
        };
        (us.div_ceil(1_000_000) as u64).max(1)
    }

    /// The algorithm's name as written in the config file.
    pub fn algorithm_name(&self) -> &'static str {
        match self {
            Quota::TokenBucket { .. } => "token_bucket",
            Quota::LeakyBucket {
                mode: LeakMode::Policing,
                ..
            } => "leaky_bucket",
            Quota::LeakyBucket {
                mode: LeakMode::Shaping,
                ..
            } => "leaky_bucket_shaping",
            Quota::FixedWindow { .. } => "fixed_window",
            Quota::SlidingLog { .. } => "sliding_window_log",
            Quota::SlidingCounter { .. } => "sliding_window_counter",
            Quota::Gcra { .. } => "gcra",
            Quota::Concurrency { .. } => "concurrency",
        }
    }
}
