//! Rates: an amount of tokens per period, kept in lowest terms, and
//! durations written the way the config file writes them.

use std::fmt;
use std::time::Duration;

use super::error::QuotaError;
use crate::time::duration_micros;

/// A rate: `amount` tokens every `period_us` microseconds, kept in lowest
/// terms so that scaled quantities stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    amount: u64,
    period_us: u64,
}

impl Rate {
    /// `amount` per `period`. Errors when either is zero.
    pub fn new(amount: u64, period: Duration) -> Result<Rate, QuotaError> {
        let period_us = duration_micros(period);
        if amount == 0 {
            return Err(QuotaError::new("rate", "rate amount must be at least 1"));
        }
        if period_us == 0 {
            return Err(QuotaError::new("rate", "rate period must be at least 1µs"));
        }
        let g = gcd(amount, period_us);
        Ok(Rate {
            amount: amount / g,
            period_us: period_us / g,
        })
    }

    /// `n` per second.
    pub fn per_second(n: u64) -> Result<Rate, QuotaError> {
        Rate::new(n, Duration::from_secs(1))
    }

    /// Tokens per period (lowest terms).
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// Period in microseconds (lowest terms).
    pub fn period_us(&self) -> u64 {
        self.period_us
    }

    /// Tokens per second, as a real number (for display).
    pub fn per_sec_f64(&self) -> f64 {
        self.amount as f64 * 1e6 / self.period_us as f64
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.amount, human_micros(self.period_us))
    }
}

/// A duration in µs as the config file writes it: `1d`, `1m30s`, `500ms`.
pub fn human_micros(us: u64) -> String {
    if us == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = us;
    for (unit, size) in [
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
        ("us", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_micros(90_000_000), "1m30s");
        assert_eq!(human_micros(500_000), "500ms");
        assert_eq!(human_micros(86_400_000_000), "1d");
        let r = Rate::new(100, Duration::from_secs(60)).unwrap();
        assert_eq!(r.to_string(), "1/600ms");
    }

    #[test]
    fn rates_are_reduced() {
        let r = Rate::new(100, Duration::from_secs(60)).unwrap();
        assert_eq!((r.amount(), r.period_us()), (1, 600_000));
        assert!(Rate::new(0, Duration::from_secs(1)).is_err());
        assert!(Rate::new(1, Duration::ZERO).is_err());
    }
}
