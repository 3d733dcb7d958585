//! The report as text, for people; JSON is its `Serialize`.

use std::fmt::Write as _;

use super::{Percentiles, Report};

impl Report {
    /// The report as text.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "scenario {} ({} loop) → {}",
            self.scenario, self.load, self.url
        );
        let c = &self.counts;
        let grpc = self.mode == "grpc";
        let _ = writeln!(
            o,
            "requests {} sent, in {:.2} s: {:.1} {}/s{}",
            c.sent,
            self.elapsed_s,
            self.throughput_rps,
            if grpc { "decisions" } else { "responses" },
            self.offered_rps
                .map(|r| format!(" (offered {r:.1}/s on average)"))
                .unwrap_or_default()
        );
        if grpc {
            let _ = writeln!(
                o,
                "overall_code OK: {}  OVER_LIMIT: {}  errors: {}",
                c.ok_200, c.limited_429, c.errors
            );
        } else {
            let _ = writeln!(
                o,
                "status   200: {}  429: {}  other: {}  errors: {}",
                c.ok_200, c.limited_429, c.other_status, c.errors
            );
        }
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
        if self.latency_by_status_ms.len() > 1 {
            for (code, p) in &self.latency_by_status_ms {
                let name = match (grpc, code) {
                    (true, 200) => "  OK".to_string(),
                    (true, 429) => "  OVER_LIMIT".to_string(),
                    _ => format!("  status {code}"),
                };
                row(&mut o, &name, p);
            }
        }
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
