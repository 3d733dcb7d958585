//! Quotas: an algorithm and its parameters, validated.

use std::time::Duration;

mod build;
mod display;
mod error;
mod rate;

pub use error::QuotaError;
pub use rate::{human_micros, Rate};

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

impl Quota {
    /// Feeds `h` what the meaning of this quota's stored state depends on:
    /// the algorithm, and the unit its state is counted in or the windows
    /// it is aligned to. A limit's counters are kept across a change that
    /// leaves this alone (a bucket's capacity, a window's limit, a GCRA's
    /// burst, a concurrency limit's slots or lease) and start afresh
    /// otherwise:
    ///
    /// - token buckets and policing leaky buckets: the rate's period in
    ///   lowest terms (their level is counted in `1/period` tokens); a
    ///   leaky bucket's mode; a shaping one's rate amount in lowest terms
    ///   (its queue's end is kept in `1/amount` µs);
    /// - fixed window, sliding log and sliding counter: the window;
    /// - GCRA: the rate's amount in lowest terms (its time is kept in
    ///   `1/amount` µs).
    pub fn hash_state_shape<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        std::mem::discriminant(self).hash(h);
        match *self {
            Quota::TokenBucket { refill, .. } => refill.period_us().hash(h),
            // Policing keeps a level in 1/period tokens; shaping, the time
            // the queue empties in 1/amount µs (as GCRA).
            Quota::LeakyBucket { leak, mode, .. } => {
                mode.hash(h);
                match mode {
                    LeakMode::Policing => leak.period_us().hash(h),
                    LeakMode::Shaping => leak.amount().hash(h),
                }
            }
            Quota::FixedWindow { window_us, .. }
            | Quota::SlidingLog { window_us, .. }
            | Quota::SlidingCounter { window_us, .. } => window_us.hash(h),
            Quota::Gcra { rate, .. } => rate.amount().hash(h),
            Quota::Concurrency { .. } => {}
        }
    }

    /// This quota with its size and rate divided by `n` (each at least 1,
    /// but a limit of 0 stays 0),
    /// for a replica that decides alone what `n` replicas share. Returns
    /// the quota unchanged when `n <= 1` or when the divided quota would
    /// not validate.
    pub fn divided(&self, n: u64) -> Quota {
        if n <= 1 {
            return *self;
        }
        self.scaled(1, n)
    }

    /// This quota's share of `ppm` millionths: its size and rate times
    /// `ppm / 1,000,000` (each at least 1, but a limit of 0 stays 0), for
    /// a region's weight of a global figure. Unchanged at 1,000,000 or
    /// more, at 0, or when the share would not validate.
    pub fn share(&self, ppm: u32) -> Quota {
        if ppm == 0 || ppm >= 1_000_000 {
            return *self;
        }
        self.scaled(ppm as u64, 1_000_000)
    }

    /// Sizes times `num / den` (at least 1 unless 0), rates' periods
    /// times `den / num`; `self` when the result would not validate.
    fn scaled(&self, num: u64, den: u64) -> Quota {
        let part = |size: u64| {
            if size == 0 {
                0
            } else {
                ((size as u128 * num as u128 / den as u128) as u64).max(1)
            }
        };
        let rate = |r: &Rate| {
            let p = r.period_us() as u128 * den as u128 / num as u128;
            u64::try_from(p)
                .ok()
                .and_then(|p| Rate::new(r.amount(), Duration::from_micros(p)).ok())
        };
        let scaled = match *self {
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
        scaled.unwrap_or(*self)
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
    fn shares_scale_size_and_rate() {
        let q = Quota::token_bucket(100, Rate::per_second(100).unwrap()).unwrap();
        let s = q.share(400_000);
        assert_eq!(s.limit(), 40);
        assert_eq!(
            s,
            Quota::token_bucket(
                40,
                Rate::new(100, Duration::from_micros(2_500_000)).unwrap()
            )
            .unwrap()
        );
        assert_eq!(q.share(1_000_000), q);
        let w = Quota::fixed_window(1000, Duration::from_secs(60)).unwrap();
        assert_eq!(w.share(200_000).limit(), 200);
        assert_eq!(w.share(1).limit(), 1, "a share is at least one request");
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
