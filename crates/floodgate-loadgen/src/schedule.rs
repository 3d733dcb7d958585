//! The send schedule: a rate profile (a steady rate with peaks) turned into
//! exact send times, with no clock and no I/O.
//!
//! The profile is a piecewise-constant rate `r(t)` over `[0, duration)`.
//! Its cumulative count `R(t) = ∫₀ᵗ r` maps time to "requests so far"; the
//! k-th request (from 0) is sent at `R⁻¹(c_k)`:
//!
//! - `uniform` arrivals: `c_k = k`, so requests are evenly spaced within a
//!   segment (500 req/s → one every 2 ms, the first at 0);
//! - `poisson` arrivals: `c_k` is a sum of exponential(1) gaps, which gives
//!   a Poisson process whose intensity follows the profile.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::SplitMix64;

/// A burst of a higher (or lower) rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Peak {
    /// When it starts, from the beginning of the run.
    pub at: Duration,
    /// How long it lasts.
    pub duration: Duration,
    /// Its rate, requests per second (it replaces the steady rate).
    pub rate: f64,
}

/// How requests are spread within the profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Evenly spaced: exactly `rate` requests per second.
    #[default]
    Uniform,
    /// A Poisson process (seeded) with the profile as its intensity.
    Poisson,
}

/// A steady rate with peaks, over a fixed duration.
#[derive(Clone, Debug, PartialEq)]
pub struct RateProfile {
    /// Requests per second outside peaks.
    pub steady: f64,
    /// Peaks, sorted and not overlapping.
    pub peaks: Vec<Peak>,
    /// Length of the run.
    pub duration: Duration,
}

/// A rate profile that cannot be run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// The steady rate is negative or not finite.
    #[error("steady rate {0} is not a rate")]
    Steady(f64),
    /// A zero duration.
    #[error("the duration must be positive")]
    NoDuration,
    /// A peak rate that is negative or not finite.
    #[error("peak rate {0} is not a rate")]
    Peak(f64),
    /// A peak that starts before the previous one ends.
    #[error("the peak at {at:?} starts before the previous one ends ({last_end:?}); list peaks in order, without overlap")]
    Overlap {
        /// Its start.
        at: Duration,
        /// The previous one's end.
        last_end: Duration,
    },
    /// A peak that ends after the run.
    #[error("the peak at {at:?} lasting {lasting:?} ends after the run ({run:?})")]
    PastEnd {
        /// Its start.
        at: Duration,
        /// Its length.
        lasting: Duration,
        /// The run's length.
        run: Duration,
    },
}

/// A stretch of constant rate, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    start: f64,
    end: f64,
    rate: f64,
    /// Requests sent before `start`.
    before: f64,
}

impl RateProfile {
    /// A constant rate.
    pub fn steady(rate: f64, duration: Duration) -> RateProfile {
        RateProfile {
            steady: rate,
            peaks: Vec::new(),
            duration,
        }
    }

    /// Checks the profile: finite, non-negative rates; peaks inside the run,
    /// sorted, not overlapping.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let ok = |r: f64| r.is_finite() && r >= 0.0;
        if !ok(self.steady) {
            return Err(ProfileError::Steady(self.steady));
        }
        if self.duration.is_zero() {
            return Err(ProfileError::NoDuration);
        }
        let mut last_end = Duration::ZERO;
        for p in &self.peaks {
            if !ok(p.rate) {
                return Err(ProfileError::Peak(p.rate));
            }
            if p.at < last_end {
                return Err(ProfileError::Overlap { at: p.at, last_end });
            }
            last_end = p.at + p.duration;
            if last_end > self.duration {
                return Err(ProfileError::PastEnd {
                    at: p.at,
                    lasting: p.duration,
                    run: self.duration,
                });
            }
        }
        Ok(())
    }

    fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::with_capacity(2 * self.peaks.len() + 1);
        let mut t = 0.0;
        let mut before = 0.0;
        let mut push = |start: f64, end: f64, rate: f64, before: &mut f64| {
            if end > start {
                out.push(Segment {
                    start,
                    end,
                    rate,
                    before: *before,
                });
                *before += (end - start) * rate;
            }
        };
        for p in &self.peaks {
            let (at, end) = (p.at.as_secs_f64(), (p.at + p.duration).as_secs_f64());
            push(t, at, self.steady, &mut before);
            push(at, end, p.rate, &mut before);
            t = end;
        }
        push(t, self.duration.as_secs_f64(), self.steady, &mut before);
        out
    }

    /// The rate at `t`.
    pub fn rate_at(&self, t: Duration) -> f64 {
        for p in &self.peaks {
            if t >= p.at && t < p.at + p.duration {
                return p.rate;
            }
        }
        if t < self.duration {
            self.steady
        } else {
            0.0
        }
    }

    /// `R(duration)`: the number of requests the profile asks for.
    pub fn total(&self) -> f64 {
        self.segments()
            .last()
            .map_or(0.0, |s| s.before + (s.end - s.start) * s.rate)
    }

    /// The send times, from the start of the run, in order.
    pub fn send_times(&self, arrivals: Arrivals, seed: u64) -> Vec<Duration> {
        let segments = self.segments();
        let total = self.total();
        // A tiny tolerance so that 500/s over 2 s gives exactly 1,000
        // requests despite rounding in the sums.
        let total = total - 1e-9 * total.max(1.0);
        let mut out = Vec::with_capacity(total.max(0.0) as usize + 1);
        let mut rng = SplitMix64::new(seed);
        let mut c = match arrivals {
            Arrivals::Uniform => 0.0,
            Arrivals::Poisson => rng.exponential(),
        };
        let mut seg = 0;
        while c < total {
            // Segments are visited in order; zero-rate ones are skipped.
            while seg < segments.len() {
                let s = &segments[seg];
                if s.rate > 0.0 && c < s.before + (s.end - s.start) * s.rate {
                    break;
                }
                seg += 1;
            }
            let Some(s) = segments.get(seg) else { break };
            let t = s.start + (c - s.before) / s.rate;
            out.push(Duration::from_nanos((t * 1e9).round() as u64));
            c = match arrivals {
                Arrivals::Uniform => c + 1.0,
                Arrivals::Poisson => c + rng.exponential(),
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn steady_rate_is_evenly_spaced_from_zero() {
        let times = RateProfile::steady(500.0, ms(2000)).send_times(Arrivals::Uniform, 0);
        assert_eq!(times.len(), 1000);
        for (k, t) in times.iter().enumerate() {
            assert_eq!(*t, Duration::from_micros(2000 * k as u64), "request {k}");
        }
    }

    #[test]
    fn fractional_rates_round_to_the_nanosecond() {
        let times = RateProfile::steady(3.0, ms(1000)).send_times(Arrivals::Uniform, 0);
        assert_eq!(
            times,
            vec![
                Duration::ZERO,
                Duration::from_nanos(333_333_333),
                Duration::from_nanos(666_666_667)
            ]
        );
    }

    #[test]
    fn a_peak_replaces_the_steady_rate_for_its_length() {
        let p = RateProfile {
            steady: 10.0,
            peaks: vec![Peak {
                at: ms(1000),
                duration: ms(500),
                rate: 100.0,
            }],
            duration: ms(3000),
        };
        p.validate().unwrap();
        assert_eq!(p.total(), 10.0 + 50.0 + 15.0);
        let times = p.send_times(Arrivals::Uniform, 0);
        assert_eq!(times.len(), 75);
        // 10 in the first second, one every 100 ms.
        assert_eq!(times[9], ms(900));
        // The peak: 50 requests, one every 10 ms from 1.000 s.
        assert_eq!(times[10], ms(1000));
        assert_eq!(times[11], ms(1010));
        assert_eq!(times[59], ms(1490));
        // Back to 10/s at 1.5 s.
        assert_eq!(times[60], ms(1500));
        assert_eq!(times[61], ms(1600));
        assert_eq!(times[74], ms(2900));
        assert_eq!(
            times
                .iter()
                .filter(|t| **t >= ms(1000) && **t < ms(1500))
                .count(),
            50
        );
    }

    #[test]
    fn the_issue_profile_counts() {
        // 500/s for 40 s with two 4 s peaks at 1,200/s.
        let p = RateProfile {
            steady: 500.0,
            peaks: vec![
                Peak {
                    at: ms(10_000),
                    duration: ms(4000),
                    rate: 1200.0,
                },
                Peak {
                    at: ms(30_000),
                    duration: ms(4000),
                    rate: 1200.0,
                },
            ],
            duration: ms(40_000),
        };
        let times = p.send_times(Arrivals::Uniform, 0);
        assert_eq!(times.len(), 500 * 32 + 1200 * 8);
        let in_peak = times
            .iter()
            .filter(|t| **t >= ms(30_000) && **t < ms(34_000))
            .count();
        assert_eq!(in_peak, 4800);
        assert!(times.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn zero_rate_stretches_send_nothing() {
        let p = RateProfile {
            steady: 0.0,
            peaks: vec![Peak {
                at: ms(2000),
                duration: ms(1000),
                rate: 4.0,
            }],
            duration: ms(5000),
        };
        assert_eq!(
            p.send_times(Arrivals::Uniform, 0),
            vec![ms(2000), ms(2250), ms(2500), ms(2750)]
        );
    }

    #[test]
    fn poisson_is_seeded_and_follows_the_rate() {
        let p = RateProfile::steady(1000.0, ms(20_000));
        let a = p.send_times(Arrivals::Poisson, 7);
        assert_eq!(a, p.send_times(Arrivals::Poisson, 7));
        assert_ne!(a, p.send_times(Arrivals::Poisson, 8));
        // 20,000 expected; a Poisson count has sd √20000 ≈ 141.
        assert!((a.len() as i64 - 20_000).abs() < 800, "{}", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.last().unwrap() < &ms(20_000));
    }

    #[test]
    fn bad_profiles_are_refused() {
        let mut p = RateProfile::steady(10.0, ms(1000));
        p.peaks.push(Peak {
            at: ms(900),
            duration: ms(200),
            rate: 1.0,
        });
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ends after the run"));
        p.peaks = vec![
            Peak {
                at: ms(100),
                duration: ms(200),
                rate: 1.0,
            },
            Peak {
                at: ms(200),
                duration: ms(100),
                rate: 1.0,
            },
        ];
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("without overlap"));
        assert!(RateProfile::steady(f64::NAN, ms(1)).validate().is_err());
        assert!(RateProfile::steady(1.0, Duration::ZERO).validate().is_err());
    }

    #[test]
    fn rate_at_reads_the_profile() {
        let p = RateProfile {
            steady: 5.0,
            peaks: vec![Peak {
                at: ms(100),
                duration: ms(100),
                rate: 50.0,
            }],
            duration: ms(1000),
        };
        assert_eq!(p.rate_at(ms(0)), 5.0);
        assert_eq!(p.rate_at(ms(150)), 50.0);
        assert_eq!(p.rate_at(ms(200)), 5.0);
        assert_eq!(p.rate_at(ms(1000)), 0.0);
    }
}
