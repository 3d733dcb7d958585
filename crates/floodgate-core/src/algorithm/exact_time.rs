//! A time kept exactly: whole µs plus a remainder in `1/k` µs, for rates of
//! `k` per period. GCRA keeps its theoretical arrival time this way, and
//! the shaping leaky bucket its last departure.

use super::math::ceil_div_signed;

/// The time `at + frac/k` µs.
///
/// Ordered as the time it stands for (`at` first, then `frac`), so long as
/// both sides have `frac < k` for the same `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExactTime {
    /// Whole µs.
    pub at: u64,
    /// Remainder, in `1/k` µs (`0 ≤ frac < k`).
    pub frac: u64,
}

impl ExactTime {
    /// The whole µs `t`.
    pub(crate) fn whole(t: u64) -> ExactTime {
        ExactTime { at: t, frac: 0 }
    }

    /// This time plus `units/k` µs.
    pub(crate) fn plus(self, units: u64, k: u64) -> ExactTime {
        let frac = self.frac + units;
        ExactTime {
            at: self.at + frac / k,
            frac: frac % k,
        }
    }

    /// This time minus `units/k` µs, or the epoch when that is before it.
    pub(crate) fn minus(self, units: u64, k: u64) -> ExactTime {
        let total = (self.at as u128) * (k as u128) + self.frac as u128;
        match total.checked_sub(units as u128) {
            Some(left) => ExactTime {
                at: (left / k as u128) as u64,
                frac: (left % k as u128) as u64,
            },
            None => ExactTime { at: 0, frac: 0 },
        }
    }

    /// The later of this time and the whole µs `t`.
    pub(crate) fn not_before(self, t: u64) -> ExactTime {
        self.max(ExactTime::whole(t))
    }

    /// `(self − t)·k`, floored at 0: how far ahead of `t` this time is, in
    /// `1/k` µs.
    pub(crate) fn ahead(&self, t: u64, k: u64) -> u64 {
        if self.at >= t {
            (self.at - t) * k + self.frac
        } else {
            0
        }
    }

    /// µs from `t` until `self + units/k`, rounded up; negative when that
    /// time is before `t`.
    pub(crate) fn until_plus(&self, units: i128, t: u64, k: u64) -> i128 {
        self.at as i128 + ceil_div_signed(self.frac as i128 + units, k as i128) - t as i128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times, rates and costs around the edges: whole µs, one `1/k` µs
    /// either side, and `t` before, at and after the time.
    #[test]
    fn arithmetic_matches_the_spelled_out_formulas() {
        let mut checked = 0u64;
        for k in [1u64, 2, 3, 7, 1_000] {
            for p in [1u64, 7, 1_000, 333_333, 1_000_000, 3_000_000] {
                for at in [0u64, 1, 999_999, 1_700_006_400_000_000] {
                    for frac in [0, 1, k / 2, k - 1] {
                        let s = ExactTime { at, frac };
                        for t in [
                            at.saturating_sub(2_000_000),
                            at.saturating_sub(1),
                            at,
                            at + 1,
                            at + 5_000_000,
                        ] {
                            for cost in 0u64..=4 {
                                // max(s, t) + n·P/k, and s + n·P/k then max with t.
                                let base = if at >= t { (at, frac) } else { (t, 0) };
                                let f = base.1 + cost * p;
                                let want = (base.0 + f / k, f % k);
                                let got = s.not_before(t).plus(cost * p, k);
                                assert_eq!((got.at, got.frac), want);
                                let f = frac + cost * p;
                                let (a, r) = (at + f / k, f % k);
                                let want = if a < t || (a == t && r == 0) {
                                    (t, 0)
                                } else {
                                    (a, r)
                                };
                                let got = s.plus(cost * p, k).not_before(t);
                                assert_eq!((got.at, got.frac), want);
                                // (s − t)·k floored at 0.
                                let want = if at >= t { (at - t) * k + frac } else { 0 };
                                assert_eq!(s.ahead(t, k), want);
                                // µs from t until s + (n − B)·P/k, rounded up.
                                for burst in [0u64, 1, 3] {
                                    let units = (cost * p) as i128 - (burst * p) as i128;
                                    let num = frac as i128 + units;
                                    let q = num.div_euclid(k as i128);
                                    let up = q + i128::from(num.rem_euclid(k as i128) != 0);
                                    let want = at as i128 + up - t as i128;
                                    assert_eq!(s.until_plus(units, t, k), want);
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn orders_as_the_time_it_stands_for() {
        let t = |at, frac| ExactTime { at, frac };
        assert!(t(5, 0) < t(5, 1));
        assert!(t(5, 6) < t(6, 0));
        assert_eq!(t(5, 3).not_before(5), t(5, 3));
        assert_eq!(t(4, 9).not_before(5), t(5, 0));
        assert_eq!(t(5, 0).not_before(5), t(5, 0));
    }
}
