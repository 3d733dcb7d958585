//! Latency: an HdrHistogram in microseconds and its percentiles in
//! milliseconds.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles, milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// A latency histogram in microseconds, 1 µs to 1 h, 3 significant digits.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"))
    }
}

impl Latency {
    /// Records one latency (saturating at the bounds).
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(us);
    }

    /// The percentiles.
    pub fn percentiles(&self) -> Percentiles {
        let h = &self.0;
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_thousand() {
        let mut l = Latency::default();
        for us in 1..=1000 {
            l.record(Duration::from_micros(us));
        }
        let p = l.percentiles();
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50, 0.5);
        assert_eq!(p.p90, 0.9);
        assert_eq!(p.p99, 0.99);
        assert_eq!(p.p999, 0.999);
        assert_eq!(p.max, 1.0);
        assert!((p.mean - 0.5005).abs() < 1e-3, "{}", p.mean);
    }

    #[test]
    fn percentiles_keep_three_significant_digits() {
        let mut l = Latency::default();
        for _ in 0..999 {
            l.record(Duration::from_micros(250));
        }
        l.record(Duration::from_millis(1234));
        let p = l.percentiles();
        assert_eq!(p.p50, 0.25);
        assert_eq!(p.p99, 0.25);
        // One in a thousand is the outlier: p99.9 is still the bulk, the
        // max is the outlier within 0.1%.
        assert_eq!(p.p999, 0.25);
        assert!((p.max - 1234.0).abs() / 1234.0 < 1e-3, "{}", p.max);
        assert_eq!(Latency::default().percentiles(), Percentiles::default());
    }
}
