//! The adaptive bound on requests in flight: additive increase while the
//! upstream answers at its usual latency and the bound is in use,
//! multiplicative decrease when its recent latency rises well above its
//! unloaded latency (queueing) or it fails, at most once per window of
//! requests, as TCP does once per round trip. The bound is lowered only
//! while it is in use (at least half of it in flight): with few requests in
//! flight the bound is not what holds the traffic, and a slow answer then
//! is the upstream's own jitter, not a line this gateway built. Out of use
//! and timely, it drifts back up to where it started.
//!
//! The recent latency (a moving average of the last answers) is compared
//! with the unloaded latency: the lowest mean latency of the *free* windows
//! of 256 answers seen over the last 1024 windows. A window is free when
//! its mean is within `tolerance` of the unloaded latency known so far (it
//! confirms it, or lowers it), or, before any is known, when none of its
//! answers came with the bound full (it does not move before, so the line
//! was not this gateway's), or none with more than `min_limit` in flight
//! (the concurrency the operator declares always fine). Window means, not single answers: one
//! fast answer (a 404, a health check) does not pin the baseline, and an
//! upstream whose endpoints differ in latency is judged by its usual mix.
//! An overload does not teach it (its windows are not free), and a lasting
//! change of the upstream is learned once the span has passed (262,144
//! answers).
//!
//! When no free window is known while the bound is full (a gateway that
//! starts under an overload, or an upstream that stayed slower for the
//! whole span), it *probes*, as BBR does for its round-trip time: the bound
//! drops to its floor, the requests admitted before are let through
//! unmeasured, and the next window of answers, taken at the floor, is the
//! unloaded latency. The bound then grows from the floor in slow start.
//!
//! A pure state machine, counted in answers (no time of its own): it is fed
//! each finished request's latency and the number in flight.

use std::collections::VecDeque;
use std::time::Duration;

/// On congestion the bound is multiplied by `tolerance × unloaded /
/// recent` (how far latency is past the threshold), kept within these.
const DECREASE: (f64, f64) = (0.5, 0.9);
/// Recent latency within this of the unloaded latency is never congestion
/// (loopback answers jitter by more than twice a 50 µs baseline).
const SLACK: f64 = 0.001;
/// Weight of an answer in the recent average.
const RECENT: f64 = 1.0 / 16.0;
/// Answers per window.
const WINDOW: u32 = 256;
/// Windows whose lowest free mean is the unloaded latency.
const WINDOWS: usize = 1024;

/// The window being filled.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    /// Sum of the latencies, seconds.
    sum: f64,
    /// Answers.
    n: u32,
    /// The most in flight when one of them came.
    peak: usize,
    /// Answers that came with the bound full.
    full: u32,
}

impl Window {
    fn mean(&self) -> f64 {
        self.sum / f64::from(self.n)
    }
}

/// A window closed: its mean latency, and whether it was free.
#[derive(Clone, Copy, Debug)]
struct Closed {
    mean: f64,
    free: bool,
}

/// The controller's state.
#[derive(Clone, Debug)]
pub struct Aimd {
    limit: f64,
    /// Where it starts, and drifts back to when out of use.
    start: f64,
    min: f64,
    max: f64,
    tolerance: f64,
    /// Recent average latency, seconds (`None`: no answer yet).
    recent: Option<f64>,
    /// Answers seen (the recent average is a plain mean of the first
    /// ones).
    answers: u64,
    window: Window,
    /// The last windows.
    closed: VecDeque<Closed>,
    /// Samples still to come from requests already in flight at the last
    /// decrease; they saw the old bound and must not lower it again.
    cooldown: usize,
    /// Congestion seen, not yet acted on: the answers still to come in the
    /// round trip that must confirm it.
    suspect: Option<usize>,
    /// Before the first congestion the bound doubles per window in use
    /// (slow start, as TCP); after it, it grows by one per window.
    slow_start: bool,
    /// Probing: the answers still to come from requests admitted before
    /// the bound dropped to its floor (they are not measured).
    probe: Option<usize>,
}

impl Aimd {
    /// Starts at four times `min` (at most `max`) and grows while the
    /// bound is in use and the upstream keeps its latency: an overload
    /// that arrives at once meets a bound near the upstream's pace, not
    /// `max`.
    pub fn new(min: usize, max: usize, tolerance: f64) -> Aimd {
        let start = (4 * min).clamp(min.max(1), max) as f64;
        Aimd {
            limit: start,
            start,
            min: min.max(1) as f64,
            max: max as f64,
            tolerance,
            recent: None,
            answers: 0,
            window: Window::default(),
            closed: VecDeque::with_capacity(WINDOWS),
            cooldown: 0,
            suspect: None,
            slow_start: true,
            probe: None,
        }
    }

    /// The bound in force.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// Probing for the unloaded latency, at the floor.
    pub fn probing(&self) -> bool {
        self.probe.is_some()
    }

    /// The unloaded latency learned so far: the lowest free window mean.
    pub fn baseline(&self) -> Option<Duration> {
        self.unloaded().map(Duration::from_secs_f64)
    }

    fn unloaded(&self) -> Option<f64> {
        self.closed
            .iter()
            .filter(|w| w.free)
            .map(|w| w.mean)
            .reduce(f64::min)
    }

    /// One request finished after `latency` (to its response headers), or
    /// `failed` (timed out or could not connect), with `in_flight` still in
    /// flight, itself included. Returns the new bound.
    pub fn on_sample(&mut self, latency: Duration, failed: bool, in_flight: usize) -> usize {
        let l = latency.as_secs_f64();
        if let Some(skip) = self.probe {
            self.on_probe_sample(l, failed, in_flight, skip);
            return self.limit();
        }
        let in_use = in_flight as f64 + 1.0 >= self.limit / 2.0;
        if !failed {
            self.learn(l, in_flight, false);
        }
        let Some(unloaded) = self.unloaded() else {
            // Nothing unloaded known and the bound full: probe. (In use
            // but not full, a busy start may yet show a free window.)
            if in_flight as f64 + 1.0 >= self.limit {
                self.start_probe(in_flight);
            }
            return self.limit();
        };
        let recent = self.recent.unwrap_or(l);
        let factor = (self.tolerance * unloaded / recent).clamp(DECREASE.0, DECREASE.1);
        let congested = failed || (recent > unloaded * self.tolerance && recent > unloaded + SLACK);
        self.cooldown = self.cooldown.saturating_sub(1);
        let confirmed = match (congested && in_use, self.suspect) {
            (false, _) => {
                self.suspect = None;
                false
            }
            (true, None) => {
                self.suspect = Some(in_flight);
                false
            }
            (true, Some(n)) => {
                self.suspect = Some(n.saturating_sub(1));
                n == 0
            }
        };
        if congested {
            if confirmed && self.cooldown == 0 {
                self.limit = (self.limit * factor).max(self.min);
                self.cooldown = in_flight.max(1);
                self.slow_start = false;
                // The next congestion is confirmed over a round trip again.
                self.suspect = None;
            }
        } else if in_use {
            // In use and timely: one more per answer in slow start, else
            // one more per bound's worth of them.
            let step = if self.slow_start {
                1.0
            } else {
                1.0 / self.limit
            };
            self.limit = (self.limit + step).min(self.max);
        } else if self.limit < self.start {
            // At rest and timely: back to the start, one more per answer,
            // so a calm after an overload does not keep the bound that the
            // overload left.
            self.limit = (self.limit + 1.0).min(self.start);
        }
        self.limit()
    }

    /// Adds an answer to the recent average and the window; closes the
    /// window when it is complete (`probe`: taken at the floor, free).
    /// Whether it closed one.
    fn learn(&mut self, l: f64, in_flight: usize, probe: bool) -> bool {
        self.answers = self.answers.saturating_add(1);
        let weight = RECENT.max(1.0 / self.answers as f64);
        self.recent = Some(match self.recent {
            None => l,
            Some(r) => r + (l - r) * weight,
        });
        self.window.sum += l;
        self.window.n += 1;
        self.window.peak = self.window.peak.max(in_flight);
        self.window.full += u32::from(in_flight as f64 + 1.0 >= self.limit);
        if self.window.n < WINDOW {
            return false;
        }
        let mean = self.window.mean();
        let free = probe
            || match self.unloaded() {
                Some(u) => mean <= u * self.tolerance || mean <= u + SLACK,
                // Nothing known yet: the bound (which does not move then)
                // never full, or never more than the floor in flight.
                None => self.window.full == 0 || self.window.peak as f64 <= self.min,
            };
        if self.closed.len() == WINDOWS {
            self.closed.pop_front();
        }
        self.closed.push_back(Closed { mean, free });
        self.window = Window::default();
        true
    }

    /// Drops the bound to its floor; the answers of the `in_flight`
    /// requests admitted before (this one included) are not measured.
    fn start_probe(&mut self, in_flight: usize) {
        self.limit = self.min;
        self.probe = Some(in_flight.saturating_sub(1));
        self.window = Window::default();
        self.cooldown = 0;
    }

    fn on_probe_sample(&mut self, l: f64, failed: bool, in_flight: usize, skip: usize) {
        if skip > 0 {
            self.probe = Some(skip - 1);
            return;
        }
        if failed {
            return;
        }
        if self.learn(l, in_flight, true) {
            // The unloaded latency is known again: grow from the floor.
            self.probe = None;
            self.recent = self.closed.back().map(|w| w.mean);
            self.slow_start = true;
        }
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
