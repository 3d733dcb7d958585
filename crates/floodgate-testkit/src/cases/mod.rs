//! The conformance suite: every algorithm and its edges, as data.
//!
//! Every number here is worked out by hand from DESIGN.md's algorithm table
//! (the comments show the sums), not copied from the implementation. Times
//! are µs after [`BASE`](crate::BASE), which is day-aligned, so an offset of
//! `k·W` is a window boundary for every window `W` that divides a day.
//!
//! Layout: `build` (the shorthands), `buckets` (token and leaky buckets),
//! `windows` (fixed window, sliding log and counter), `gcra`.

mod buckets;
mod build;
mod gcra;
mod windows;

use crate::case::Case;
pub use build::YEARS_100;

/// Every conformance case. Names are unique.
pub fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(buckets::token_bucket());
    all.extend(buckets::token_bucket_rates());
    all.extend(buckets::leaky_policing());
    all.extend(buckets::leaky_shaping());
    all.extend(buckets::leaky_shaping_edges());
    all.extend(windows::fixed_window());
    all.extend(windows::sliding_log());
    all.extend(windows::sliding_counter());
    all.extend(gcra::gcra());
    all
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_steps_ordered() {
        let all = cases();
        let names: HashSet<_> = all.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), all.len());
        for c in &all {
            assert!(!c.steps.is_empty(), "{}", c.name);
            assert!(
                c.steps.windows(2).all(|w| w[0].at_us <= w[1].at_us),
                "{}: steps go back in time",
                c.name
            );
        }
    }

    #[test]
    fn every_algorithm_is_covered() {
        let names: HashSet<_> = cases().iter().map(|c| c.quota.algorithm_name()).collect();
        for algo in [
            "token_bucket",
            "leaky_bucket",
            "leaky_bucket_shaping",
            "fixed_window",
            "sliding_window_log",
            "sliding_window_counter",
            "gcra",
        ] {
            assert!(names.contains(algo), "no case for {algo}");
        }
    }
}
