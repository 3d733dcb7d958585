//! The Redis store's latency over the last minute, from the data plane's
//! store latency histogram (cumulative since start, read through the
//! [`StoreView`](crate::StoreView)): the dashboard keeps
//! one copy of its buckets a second, at most [`KEPT`], and takes the
//! percentiles of the difference between now and a minute ago.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::Serialize;

use crate::view::Buckets;

/// Copies kept (one a second).
pub const KEPT: usize = 61;

/// Store latency percentiles, in µs (bucket upper bounds, so at most).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StoreLatency {
    /// Calls to Redis counted.
    pub calls: u64,
    /// The median.
    pub p50_us: Option<u64>,
    /// The 99th percentile (`None` past the last bucket, 1 s).
    pub p99_us: Option<u64>,
}

/// The copies of one histogram.
#[derive(Default)]
pub struct Window {
    kept: Mutex<VecDeque<(u64, Vec<u64>, u64)>>,
}

impl Window {
    /// The percentiles of the last minute (or since the first copy), as
    /// of `now` (Unix seconds), the histogram being `buckets` now.
    pub fn last_minute(&self, now: u64, buckets: Buckets) -> StoreLatency {
        let (bounds, counts, total) = buckets;
        let mut kept = self.kept.lock();
        if kept.back().is_none_or(|(t, _, _)| *t < now) {
            kept.push_back((now, counts.clone(), total));
        }
        while kept.len() > KEPT || kept.front().is_some_and(|(t, _, _)| *t + 60 < now) {
            kept.pop_front();
        }
        let (_, old, old_total) = kept.front().cloned().unwrap_or_default();
        drop(kept);
        let diff: Vec<u64> = counts
            .iter()
            .zip(old.iter().chain(std::iter::repeat(&0)))
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let calls = total.saturating_sub(old_total);
        let at = |q: f64| {
            let rank = ((calls as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (b, n) in bounds.iter().zip(&diff) {
                seen += n;
                if seen >= rank {
                    return Some((b * 1e6).round() as u64);
                }
            }
            None
        };
        if calls == 0 {
            return StoreLatency::default();
        }
        StoreLatency {
            calls,
            p50_us: at(0.5),
            p99_us: at(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: &[f64] = &[0.0001, 0.001, 0.01];

    #[test]
    fn percentiles_of_the_last_minute_only() {
        let w = Window::default();
        // 100 calls of 5 ms (the third bucket).
        let mut counts = vec![0, 0, 100];
        // The first copy is taken now: nothing since.
        assert_eq!(w.last_minute(1_000, (BOUNDS, counts.clone(), 100)).calls, 0);
        // 99 calls of 50 µs, one of 500 µs.
        counts[0] += 99;
        counts[1] += 1;
        let l = w.last_minute(1_001, (BOUNDS, counts.clone(), 200));
        assert_eq!((l.calls, l.p50_us, l.p99_us), (100, Some(100), Some(100)));
        // A minute later the old copy is gone and nothing more came.
        let l = w.last_minute(1_100, (BOUNDS, counts, 200));
        assert_eq!(l.calls, 0);
    }
}
