//! How a quota is written: the config file's form.

use std::fmt;

use super::{human_micros, Quota};

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
