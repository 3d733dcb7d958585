//! The report: counts, throughput, latency percentiles (HdrHistogram, µs
//! resolution, 3 significant digits) and the accuracy figure; as text or
//! JSON.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::expect::measured_allowed;
use crate::run::{Outcome, Record, RunResult};

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

/// Responses and failures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests sent.
    pub sent: u64,
    /// 200 OK.
    pub ok_200: u64,
    /// 429 Too Many Requests.
    pub limited_429: u64,
    /// Any other status.
    pub other_status: u64,
    /// Timeouts and connection errors.
    pub errors: u64,
}

/// Expected against measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Accuracy {
    /// Requests replayed (those that got a response).
    pub replayed: u64,
    /// Allowed according to the policy replay.
    pub expected_allowed: u64,
    /// Allowed according to the responses (not 429 nor 401).
    pub measured_allowed: u64,
    /// `measured - expected`.
    pub difference: i64,
    /// `|difference| / expected`, percent.
    pub error_percent: f64,
    /// Requests the server allowed that the replay denied.
    pub allowed_not_expected: u64,
    /// Requests the server denied that the replay allowed.
    pub denied_not_expected: u64,
    /// Requests where server and replay agree, percent.
    pub agreement_percent: f64,
}

/// The report of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// `open` or `closed`.
    pub load: String,
    /// Target URL.
    pub url: String,
    /// Requests in the schedule (open loop) or sent (closed loop).
    pub planned: u64,
    /// Seconds from the start to the last completion.
    pub elapsed_s: f64,
    /// Requests per second the schedule asked for (open loop).
    pub offered_rps: Option<f64>,
    /// Responses per second.
    pub throughput_rps: f64,
    /// Counts.
    pub counts: Counts,
    /// Latency from the scheduled send time (open loop; includes any lag
    /// of the loadgen: no coordinated omission).
    pub latency_from_schedule_ms: Option<Percentiles>,
    /// Latency from the actual send.
    pub latency_from_send_ms: Percentiles,
    /// How late requests left against their schedule (open loop).
    pub send_lag_ms: Option<Percentiles>,
    /// Expected against measured, with `--policy`.
    pub accuracy: Option<Accuracy>,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

fn count(records: &[Record]) -> Counts {
    let mut c = Counts::default();
    for r in records {
        c.sent += 1;
        match r.outcome {
            Outcome::Status(200) => c.ok_200 += 1,
            Outcome::Status(429) => c.limited_429 += 1,
            Outcome::Status(_) => c.other_status += 1,
            Outcome::Timeout | Outcome::Error(_) => c.errors += 1,
        }
    }
    c
}

/// Compares the replay (`expected`, per record) with the responses.
pub fn accuracy(records: &[Record], expected: &[Option<bool>]) -> Accuracy {
    let mut a = Accuracy::default();
    let mut agree = 0u64;
    for (r, e) in records.iter().zip(expected) {
        let (Outcome::Status(status), Some(e)) = (&r.outcome, e) else {
            continue;
        };
        let m = measured_allowed(*status);
        a.replayed += 1;
        a.expected_allowed += u64::from(*e);
        a.measured_allowed += u64::from(m);
        match (m, *e) {
            (true, false) => a.allowed_not_expected += 1,
            (false, true) => a.denied_not_expected += 1,
            _ => agree += 1,
        }
    }
    a.difference = a.measured_allowed as i64 - a.expected_allowed as i64;
    a.error_percent = if a.expected_allowed == 0 {
        if a.measured_allowed == 0 {
            0.0
        } else {
            100.0
        }
    } else {
        100.0 * a.difference.unsigned_abs() as f64 / a.expected_allowed as f64
    };
    a.agreement_percent = if a.replayed == 0 {
        100.0
    } else {
        100.0 * agree as f64 / a.replayed as f64
    };
    a
}

impl Report {
    /// The report of `run`, with the replay's verdicts if a policy was given.
    pub fn new(
        scenario: &str,
        url: &str,
        offered_rps: Option<f64>,
        run: &RunResult,
        expected: Option<&[Option<bool>]>,
    ) -> Report {
        let mut from_schedule = Latency::default();
        let mut from_send = Latency::default();
        let mut lag = Latency::default();
        let mut first_error = None;
        for r in &run.records {
            if let Some(s) = r.scheduled {
                lag.record(r.sent.saturating_sub(s));
            }
            match &r.outcome {
                Outcome::Status(_) => {
                    from_send.record(r.done.saturating_sub(r.sent));
                    if let Some(s) = r.scheduled {
                        from_schedule.record(r.done.saturating_sub(s));
                    }
                }
                Outcome::Timeout => {
                    first_error.get_or_insert_with(|| "timeout".to_string());
                }
                Outcome::Error(e) => {
                    first_error.get_or_insert_with(|| e.clone());
                }
            }
        }
        let counts = count(&run.records);
        let responses = counts.sent - counts.errors;
        let elapsed = run.elapsed.as_secs_f64();
        Report {
            scenario: scenario.to_string(),
            load: if run.open_loop { "open" } else { "closed" }.into(),
            url: url.to_string(),
            planned: run.planned,
            elapsed_s: elapsed,
            offered_rps,
            throughput_rps: if elapsed > 0.0 {
                responses as f64 / elapsed
            } else {
                0.0
            },
            counts,
            latency_from_schedule_ms: run.open_loop.then(|| from_schedule.percentiles()),
            latency_from_send_ms: from_send.percentiles(),
            send_lag_ms: run.open_loop.then(|| lag.percentiles()),
            accuracy: expected.map(|e| accuracy(&run.records, e)),
            first_error,
        }
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "scenario {} ({} loop) → {}",
            self.scenario, self.load, self.url
        );
        let c = &self.counts;
        let _ = writeln!(
            o,
            "requests {} sent, in {:.2} s: {:.1} responses/s{}",
            c.sent,
            self.elapsed_s,
            self.throughput_rps,
            self.offered_rps
                .map(|r| format!(" (offered {r:.1}/s on average)"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            o,
            "status   200: {}  429: {}  other: {}  errors: {}",
            c.ok_200, c.limited_429, c.other_status, c.errors
        );
        let row = |o: &mut String, name: &str, p: &Percentiles| {
            let _ = writeln!(
                o,
                "{name:<22} p50 {:>8.3}  p90 {:>8.3}  p99 {:>8.3}  p99.9 {:>8.3}  max {:>8.3}  mean {:>8.3}",
                p.p50, p.p90, p.p99, p.p999, p.max, p.mean
            );
        };
        let _ = writeln!(o, "latency (ms)");
        if let Some(p) = &self.latency_from_schedule_ms {
            row(&mut o, "  from schedule", p);
        }
        row(&mut o, "  from send", &self.latency_from_send_ms);
        if let Some(p) = &self.send_lag_ms {
            row(&mut o, "  send lag", p);
        }
        if let Some(a) = &self.accuracy {
            let _ = writeln!(
                o,
                "accuracy allowed: measured {} vs expected {} ({:+}, {:.3}% off) of {} replayed; per request agreement {:.3}% ({} allowed but expected denied, {} denied but expected allowed)",
                a.measured_allowed,
                a.expected_allowed,
                a.difference,
                a.error_percent,
                a.replayed,
                a.agreement_percent,
                a.allowed_not_expected,
                a.denied_not_expected
            );
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(o, "first error: {e}");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: u64, sched_ms: u64, sent_ms: u64, done_ms: u64, outcome: Outcome) -> Record {
        Record {
            index,
            client: 0,
            scheduled: Some(Duration::from_millis(sched_ms)),
            sent: Duration::from_millis(sent_ms),
            done: Duration::from_millis(done_ms),
            outcome,
        }
    }

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

    #[test]
    fn latency_counts_from_the_schedule_and_from_the_send() {
        // Due at 0 but sent 5 ms late (the loadgen lagged, or the server
        // held it back): 5 + 1 ms from the schedule, 1 ms from the send.
        let run = RunResult {
            records: vec![
                rec(0, 0, 5, 6, Outcome::Status(200)),
                rec(1, 10, 10, 11, Outcome::Status(429)),
                rec(2, 20, 20, 21, Outcome::Status(502)),
                rec(3, 30, 30, 40, Outcome::Timeout),
                rec(4, 40, 40, 41, Outcome::Error("refused".into())),
            ],
            start_wall: floodgate_core::Timestamp::EPOCH,
            elapsed: Duration::from_millis(50),
            planned: 5,
            open_loop: true,
        };
        let r = Report::new("t", "http://x/", Some(100.0), &run, None);
        assert_eq!(
            r.counts,
            Counts {
                sent: 5,
                ok_200: 1,
                limited_429: 1,
                other_status: 1,
                errors: 2
            }
        );
        // 3 responses in 50 ms.
        assert!((r.throughput_rps - 60.0).abs() < 1e-9);
        let s = r.latency_from_schedule_ms.as_ref().unwrap();
        assert_eq!(s.count, 3);
        // Within the histogram's 3 significant digits.
        let near = |got: f64, want: f64| (got - want).abs() <= want * 1e-3;
        assert!(near(s.max, 6.0), "{}", s.max);
        assert!(near(s.p50, 1.0), "{}", s.p50);
        let t = &r.latency_from_send_ms;
        assert_eq!(t.max, 1.0);
        let lag = r.send_lag_ms.as_ref().unwrap();
        assert!(near(lag.max, 5.0), "{}", lag.max);
        assert_eq!(lag.count, 5);
        assert_eq!(r.first_error.as_deref(), Some("timeout"));
        assert!(r.text().contains("429: 1"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["counts"]["errors"], 2);
    }

    #[test]
    fn accuracy_compares_each_request() {
        let records = vec![
            rec(0, 0, 0, 1, Outcome::Status(200)), // allowed, expected allowed
            rec(1, 0, 0, 1, Outcome::Status(200)), // allowed, expected denied
            rec(2, 0, 0, 1, Outcome::Status(429)), // denied, expected denied
            rec(3, 0, 0, 1, Outcome::Status(429)), // denied, expected allowed
            rec(4, 0, 0, 1, Outcome::Status(503)), // upstream error: passed
            rec(5, 0, 0, 1, Outcome::Status(401)), // refused: not allowed
            rec(6, 0, 0, 1, Outcome::Timeout),     // not replayed
        ];
        let expected = vec![
            Some(true),
            Some(false),
            Some(false),
            Some(true),
            Some(true),
            Some(false),
            None,
        ];
        let a = accuracy(&records, &expected);
        assert_eq!(a.replayed, 6);
        assert_eq!(a.expected_allowed, 3);
        assert_eq!(a.measured_allowed, 3);
        assert_eq!(a.difference, 0);
        assert_eq!(a.error_percent, 0.0);
        assert_eq!(a.allowed_not_expected, 1);
        assert_eq!(a.denied_not_expected, 1);
        assert!((a.agreement_percent - 400.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn accuracy_error_is_relative_to_expected() {
        let records: Vec<Record> = (0..10)
            .map(|i| rec(i, 0, 0, 1, Outcome::Status(if i < 9 { 200 } else { 429 })))
            .collect();
        let expected: Vec<Option<bool>> = (0..10).map(|i| Some(i < 8)).collect();
        let a = accuracy(&records, &expected);
        assert_eq!((a.measured_allowed, a.expected_allowed), (9, 8));
        assert_eq!(a.difference, 1);
        assert!((a.error_percent - 12.5).abs() < 1e-9);
        assert!((a.agreement_percent - 90.0).abs() < 1e-9);
    }
}
