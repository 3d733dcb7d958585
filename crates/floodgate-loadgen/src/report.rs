//! The report: counts, throughput, latency percentiles (HdrHistogram, µs
//! resolution, 3 significant digits) and the accuracy figure; as text or
//! JSON.
//!
//! The latency histogram is in `report/latency.rs`, the accuracy figure in
//! `report/accuracy.rs` and the text rendering in `report/text.rs`.

use serde::Serialize;

use crate::run::{Outcome, Record, RunResult};

mod accuracy;
mod latency;
mod text;

pub use accuracy::{accuracy, Accuracy};
pub use latency::{Latency, Percentiles};

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

/// The report of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// `open` or `closed`.
    pub load: String,
    /// `http`, `check` or `grpc` (where 200 counts `OK` answers and 429
    /// `OVER_LIMIT` ones).
    pub mode: String,
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
    /// Latency by status code (from the schedule in open loop, else from
    /// the send): what admitted and refused requests each waited.
    pub latency_by_status_ms: std::collections::BTreeMap<u16, Percentiles>,
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
impl Report {
    /// The report of `run`, with the replay's verdicts if a policy was given.
    pub fn new(
        scenario: &str,
        mode: crate::scenario::Mode,
        url: &str,
        offered_rps: Option<f64>,
        run: &RunResult,
        expected: Option<&[Option<bool>]>,
    ) -> Report {
        let mut from_schedule = Latency::default();
        let mut from_send = Latency::default();
        let mut lag = Latency::default();
        let mut by_status = std::collections::BTreeMap::<u16, Latency>::new();
        let mut first_error = None;
        for r in &run.records {
            if let Some(s) = r.scheduled {
                lag.record(r.sent.saturating_sub(s));
            }
            match &r.outcome {
                Outcome::Status(code) => {
                    let start = r.scheduled.unwrap_or(r.sent);
                    by_status
                        .entry(*code)
                        .or_default()
                        .record(r.done.saturating_sub(start));
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
            mode: match mode {
                crate::scenario::Mode::Http => "http",
                crate::scenario::Mode::Check => "check",
                crate::scenario::Mode::Grpc => "grpc",
                crate::scenario::Mode::Limitador => "limitador",
            }
            .into(),
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
            latency_by_status_ms: by_status
                .iter()
                .map(|(code, l)| (*code, l.percentiles()))
                .collect(),
            send_lag_ms: run.open_loop.then(|| lag.percentiles()),
            accuracy: expected.map(|e| accuracy(&run.records, e)),
            first_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    pub(super) fn rec(
        index: u64,
        sched_ms: u64,
        sent_ms: u64,
        done_ms: u64,
        outcome: Outcome,
    ) -> Record {
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
        let r = Report::new(
            "t",
            crate::scenario::Mode::Http,
            "http://x/",
            Some(100.0),
            &run,
            None,
        );
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
        // By status, from the schedule: the late 200 waited 6 ms.
        let by = &r.latency_by_status_ms;
        assert_eq!(by.keys().copied().collect::<Vec<_>>(), vec![200, 429, 502]);
        assert!(near(by[&200].max, 6.0), "{}", by[&200].max);
        assert!(near(by[&429].max, 1.0), "{}", by[&429].max);
        assert!(r.text().contains("status 502"));
        assert!(r.text().contains("429: 1"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["counts"]["errors"], 2);
    }
}
