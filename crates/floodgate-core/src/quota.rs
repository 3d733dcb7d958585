//! Quotas: an algorithm and its parameters, validated.

use std::fmt;
use std::time::Duration;

use crate::time::duration_micros;

pub use crate::rate::{human_micros, Rate};

/// The largest integer all stores compute with exactly (2^53: the Redis Lua
/// scripts use doubles). Validation keeps every scaled quantity below it.
pub const MAX_EXACT: u64 = 1 << 53;

/// What a leaky bucket does with a request that fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeakMode {
    /// A meter: the request goes on at once or is denied.
    Policing,
    /// A queue: the request is held until its turn (`Decision::delay`).
    Shaping,
}

/// An algorithm with its parameters. Build with the constructors, which
/// validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quota {
    /// Bucket of `capacity` tokens, starting full, refilled at `refill`.
    TokenBucket {
        /// Bucket size.
        capacity: u64,
        /// Refill rate.
        refill: Rate,
    },
    /// Bucket of `capacity`, starting empty, leaking at `leak`.
    LeakyBucket {
        /// Bucket (or queue) size.
        capacity: u64,
        /// Leak rate.
        leak: Rate,
        /// Policing or shaping.
        mode: LeakMode,
    },
    /// At most `limit` per epoch-aligned window of `window_us`.
    FixedWindow {
        /// Requests per window.
        limit: u64,
        /// Window length in microseconds.
        window_us: u64,
    },
    /// At most `limit` in any window `(t - window, t]`.
    SlidingLog {
        /// Requests per window.
        limit: u64,
        /// Window length in microseconds.
        window_us: u64,
    },
    /// Weighted estimate over the previous and current fixed windows.
    SlidingCounter {
        /// Requests per window.
        limit: u64,
        /// Window length in microseconds.
        window_us: u64,
    },
    /// Generic cell rate algorithm: `rate`, with bursts of `burst`.
    Gcra {
        /// Sustained rate.
        rate: Rate,
        /// Burst size (requests allowed at once from idle).
        burst: u64,
    },
    /// At most `limit` requests in flight at once, each holding its slot
    /// until released or for `lease_us` after it last acquired or renewed
    /// it.
    Concurrency {
        /// Slots: requests in flight at once.
        limit: u64,
        /// Lease length in microseconds.
        lease_us: u64,
    },
}

/// The largest concurrency limit: a store keeps one entry per slot held.
pub const MAX_CONCURRENCY_LIMIT: u64 = 100_000;

/// The shortest lease of a concurrency limit (100 ms): its holders renew
/// it every third of it.
pub const MIN_LEASE: Duration = Duration::from_millis(100);

/// The longest lease of a concurrency limit (one day).
pub const MAX_LEASE: Duration = Duration::from_secs(86_400);

/// The lease of a concurrency limit that does not set one (60 s).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The largest limit a sliding log accepts: it keeps one entry per allowed
/// request, so the limit bounds its memory per key.
pub const MAX_SLIDING_LOG_LIMIT: u64 = 100_000;

/// A quota whose parameters cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QuotaError {
    field: &'static str,
    message: String,
}

impl QuotaError {
    pub(crate) fn new(field: &'static str, msg: impl Into<String>) -> Self {
        QuotaError {
            field,
            message: msg.into(),
        }
    }

    /// The parameter at fault: `capacity`, `burst`, `limit`, `window`,
    /// `rate` or `lease`.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

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

impl Quota {
    /// This quota with its size and rate divided by `n` (each at least 1),
    /// for a replica that decides alone what `n` replicas share. Returns
    /// the quota unchanged when `n <= 1` or when the divided quota would
    /// not validate.
    pub fn divided(&self, n: u64) -> Quota {
        if n <= 1 {
            return *self;
        }
        let part = |size: u64| (size / n).max(1);
        let rate = |r: &Rate| {
            r.period_us()
                .checked_mul(n)
                .and_then(|p| Rate::new(r.amount(), Duration::from_micros(p)).ok())
        };
        let divided = match *self {
            Quota::TokenBucket { capacity, refill } => {
                rate(&refill).and_then(|r| Quota::token_bucket(part(capacity), r).ok())
            }
            Quota::LeakyBucket {
                capacity,
                leak,
                mode,
            } => rate(&leak).and_then(|r| Quota::leaky_bucket(part(capacity), r, mode).ok()),
            Quota::FixedWindow { limit, window_us } => Some(Quota::FixedWindow {
                limit: part(limit),
                window_us,
            }),
            Quota::SlidingLog { limit, window_us } => Some(Quota::SlidingLog {
                limit: part(limit),
                window_us,
            }),
            Quota::SlidingCounter { limit, window_us } => Some(Quota::SlidingCounter {
                limit: part(limit),
                window_us,
            }),
            Quota::Gcra { rate: r, burst } => {
                rate(&r).and_then(|r| Quota::gcra(r, part(burst)).ok())
            }
            Quota::Concurrency { limit, lease_us } => Some(Quota::Concurrency {
                limit: part(limit),
                lease_us,
            }),
        };
        divided.unwrap_or(*self)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quota::TokenBucket { capacity, refill } => {
                write!(f, "token_bucket(capacity={capacity}, refill={refill})")
            }
            Quota::LeakyBucket {
                capacity,
                leak,
                mode,
            } => write!(
                f,
                "leaky_bucket(capacity={capacity}, leak={leak}, mode={mode:?})"
            ),
            Quota::FixedWindow { limit, window_us } => {
                write!(
                    f,
                    "fixed_window(limit={limit}, window={})",
                    human_micros(*window_us)
                )
            }
            Quota::SlidingLog { limit, window_us } => {
                write!(
                    f,
                    "sliding_window_log(limit={limit}, window={})",
                    human_micros(*window_us)
                )
            }
            Quota::SlidingCounter { limit, window_us } => {
                write!(
                    f,
                    "sliding_window_counter(limit={limit}, window={})",
                    human_micros(*window_us)
                )
            }
            Quota::Gcra { rate, burst } => write!(f, "gcra(rate={rate}, burst={burst})"),
            Quota::Concurrency { limit, lease_us } => write!(
                f,
                "concurrency(limit={limit}, lease={})",
                human_micros(*lease_us)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divided_quotas_share_size_and_rate() {
        let q = Quota::token_bucket(10, Rate::per_second(4).unwrap()).unwrap();
        assert_eq!(
            q.divided(4),
            Quota::token_bucket(2, Rate::per_second(1).unwrap()).unwrap()
        );
        assert_eq!(q.divided(1), q);
        let w = Quota::fixed_window(3, Duration::from_secs(1)).unwrap();
        assert_eq!(w.divided(4).limit(), 1);
    }

    #[test]
    fn oversized_quotas_are_refused() {
        let per_day = Rate::new(1, Duration::from_secs(86_400)).unwrap();
        assert!(Quota::token_bucket(1_000_000_000, per_day).is_err());
        assert!(Quota::token_bucket(1_000, per_day).is_ok());
        assert!(Quota::token_bucket(0, per_day).is_err());
        assert!(Quota::sliding_log(MAX_SLIDING_LOG_LIMIT + 1, Duration::from_secs(1)).is_err());
        assert!(Quota::fixed_window(1, Duration::ZERO).is_err());
    }

    #[test]
    fn policy_window_is_time_to_refill() {
        let q = Quota::token_bucket(100, Rate::per_second(1).unwrap()).unwrap();
        assert_eq!(q.window_secs(), 100);
        let q = Quota::fixed_window(5, Duration::from_millis(500)).unwrap();
        assert_eq!(q.window_secs(), 1);
    }
}
