//! Floods of the Redis client's own log lines, held back: while a
//! cluster node is down, the `redis` crate logs a warning for each
//! request or reconnection attempt it makes (hundreds a second). At most
//! [`PER_SECOND`] events a second of each `redis` target are written; the
//! rest are counted, and [`NoisyTargets::flush`] (run every second by
//! [`logs::init`](super::logs::init)) writes one summary line per target:
//! "suppressed N redis::cluster_handling messages in the last Xs".
//!
//! Floodgate's own lines are never held back: its failure policy already
//! logs once when a node fails and once when it is back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use floodgate_core::MonotonicClock;
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata};
use tracing_subscriber::layer::{Context, Filter};

/// Events written a second, per target.
pub const PER_SECOND: u64 = 5;

/// Targets held back: the `redis` crate's (and its modules').
const LIMITED: &str = "redis";

/// Targets counted apart; past this, further ones share one count.
const MAX_TARGETS: usize = 64;

/// The window of [`PER_SECOND`].
const WINDOW: Duration = Duration::from_secs(1);

/// One target's window and what it held back.
struct Window {
    /// When the current window started (on the clock).
    start: Duration,
    /// Events written in the current window.
    written: u64,
    /// Events held back since the last summary.
    suppressed: u64,
    /// When the first of them was held back.
    since: Duration,
}

/// Which `redis` events are written, per target, and the counts of those
/// held back.
pub struct NoisyTargets {
    clock: Arc<dyn MonotonicClock>,
    per_second: u64,
    windows: Mutex<HashMap<String, Window>>,
}

/// A summary due: a target, how many of its events were held back, over
/// how long.
#[derive(Clone, Debug, PartialEq)]
pub struct Suppressed {
    /// The target.
    pub target: String,
    /// Events held back.
    pub count: u64,
    /// Since the first of them.
    pub over: Duration,
}

impl NoisyTargets {
    /// At most `per_second` events a second of each `redis` target, timed
    /// on `clock`.
    pub fn new(per_second: u64, clock: Arc<dyn MonotonicClock>) -> NoisyTargets {
        NoisyTargets {
            clock,
            per_second,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Window>> {
        // Plain counts, never left half-written: ignore poison.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an event of `target` is written now.
    pub fn admit(&self, target: &str) -> bool {
        if !is_limited(target) {
            return true;
        }
        let now = self.clock.elapsed();
        let mut windows = self.lock();
        let key = if windows.len() < MAX_TARGETS || windows.contains_key(target) {
            target
        } else {
            LIMITED
        };
        let w = windows.entry(key.to_owned()).or_insert(Window {
            start: now,
            written: 0,
            suppressed: 0,
            since: now,
        });
        if now.saturating_sub(w.start) >= WINDOW {
            w.start = now;
            w.written = 0;
        }
        if w.written < self.per_second {
            w.written += 1;
            return true;
        }
        if w.suppressed == 0 {
            w.since = now;
        }
        w.suppressed += 1;
        false
    }

    /// The summaries due (targets that held events back since the last
    /// call), their counts reset.
    pub fn take_suppressed(&self) -> Vec<Suppressed> {
        let now = self.clock.elapsed();
        let mut out: Vec<Suppressed> = self
            .lock()
            .iter_mut()
            .filter(|(_, w)| w.suppressed > 0)
            .map(|(t, w)| Suppressed {
                target: t.clone(),
                count: std::mem::take(&mut w.suppressed),
                over: now.saturating_sub(w.since),
            })
            .collect();
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    }

    /// Writes one line per target that held events back since the last
    /// flush.
    pub fn flush(&self) {
        for s in self.take_suppressed() {
            // At least the window: a count over "0.0s" reads as a burst
            // with no duration.
            let secs = s.over.max(WINDOW).as_secs_f64();
            tracing::warn!(
                target: "floodgate::logs",
                suppressed = s.count,
                from = %s.target,
                "suppressed {} {} messages in the last {secs:.1}s",
                s.count,
                s.target
            );
        }
    }
}

/// Whether `target` is the `redis` crate's.
fn is_limited(target: &str) -> bool {
    target == LIMITED || target.starts_with("redis::")
}

/// The per-layer filter: holds back `redis` events past the limit.
#[derive(Clone)]
pub struct LimitNoisy(pub Arc<NoisyTargets>);

impl<S> Filter<S> for LimitNoisy {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        let target = event.metadata().target();
        if target != "log" {
            return self.0.admit(target);
        }
        // Forwarded from the `log` crate (as the redis crate logs): the
        // real target is a field.
        let mut v = LogTarget(None);
        event.record(&mut v);
        match v.0 {
            Some(t) => self.0.admit(&t),
            None => true,
        }
    }
}

/// Reads the `log.target` field of an event forwarded from `log`.
struct LogTarget(Option<String>);

impl Visit for LogTarget {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log.target" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "log.target" && self.0.is_none() {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{ManualClock, Timestamp};
    use std::io::Write;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    /// Collects everything the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_redis_flood_is_cut_and_summarised() {
        let clock = ManualClock::new(Timestamp::from_micros(1_000_000));
        let noisy = Arc::new(NoisyTargets::new(PER_SECOND, Arc::new(clock.clone())));
        let captured = Captured::default();
        let writer = captured.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_filter(LimitNoisy(Arc::clone(&noisy)));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..275 {
                tracing::warn!(target: "redis::cluster_handling", "refreshing slots failed");
            }
            for _ in 0..20 {
                tracing::warn!(target: "redis::aio", "reconnecting");
                tracing::warn!(target: "floodgate_redis::resilient", "own line");
            }
            noisy.flush();
            let text = captured.text();
            assert_eq!(text.matches("refreshing slots failed").count(), 5);
            assert_eq!(text.matches("reconnecting").count(), 5);
            assert_eq!(text.matches("own line").count(), 20, "not held back");
            assert!(
                text.contains("suppressed 270 redis::cluster_handling messages in the last 1.0s"),
                "{text}"
            );
            assert!(text.contains("suppressed 15 redis::aio messages"), "{text}");

            // Nothing held back since: no summary. A new second: five more.
            noisy.flush();
            assert_eq!(captured.text().matches("messages in the last").count(), 2);
            clock.advance(Duration::from_millis(999));
            tracing::warn!(target: "redis::cluster_handling", "refreshing slots failed");
            assert_eq!(
                captured.text().matches("refreshing slots failed").count(),
                5
            );
            clock.advance(Duration::from_millis(1));
            for _ in 0..6 {
                tracing::warn!(target: "redis::cluster_handling", "refreshing slots failed");
            }
            assert_eq!(
                captured.text().matches("refreshing slots failed").count(),
                10
            );
            clock.advance(Duration::from_millis(2_500));
            noisy.flush();
            assert!(
                captured
                    .text()
                    .contains("suppressed 2 redis::cluster_handling messages in the last 2.5s"),
                "{}",
                captured.text()
            );
        });
    }

    #[test]
    fn only_redis_targets_are_limited() {
        assert!(is_limited("redis"));
        assert!(is_limited("redis::cluster_handling::x"));
        assert!(!is_limited("redis_other"));
        assert!(!is_limited("floodgate_redis::resilient"));
    }
}
