//! Sending: open loop (on schedule, whatever the latency) or closed loop
//! (a fixed number of workers, each sending as soon as its last answer
//! came back, for saturation).
//!
//! Open loop has no coordinated omission: a dispatcher thread releases
//! every request at its scheduled time whether or not earlier ones have
//! been answered, and latency is measured both from the scheduled time
//! (what a user arriving then would see, including any lag of the loadgen)
//! and from the actual send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floodgate_core::{Clock, SystemClock, Timestamp};
use http_body_util::BodyExt;

use crate::client::Clients;
use crate::keys::Picker;
pub use crate::record::{Outcome, Record};
use crate::scenario::Scenario;

/// How requests are released.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    /// On the scenario's schedule.
    Open,
    /// `concurrency` workers back to back, until `requests` are sent or
    /// `duration` has passed.
    Closed {
        /// Workers.
        concurrency: usize,
        /// Stop after this many requests.
        requests: Option<u64>,
        /// Stop after this long.
        duration: Duration,
    },
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Every request, by index.
    pub records: Vec<Record>,
    /// Wall-clock time of the start (for replaying the policy).
    pub start_wall: Timestamp,
    /// From the start to the last completion.
    pub elapsed: Duration,
    /// Requests the schedule held (open loop) or that were sent (closed).
    pub planned: u64,
    /// Open loop or not.
    pub open_loop: bool,
}

async fn one(
    clients: Arc<Clients>,
    client: usize,
    index: u64,
    scheduled: Option<Duration>,
    start: Instant,
    timeout: Duration,
) -> Record {
    let (outcome, sent) = match clients.grpc() {
        Some(channels) => {
            let req = clients.grpc_request(client);
            let sent = start.elapsed();
            let answer = channels.should_rate_limit(index, req);
            let outcome = tokio::time::timeout(timeout, answer)
                .await
                .unwrap_or(Outcome::Timeout);
            (outcome, sent)
        }
        None => {
            let req = clients.request(client);
            let sent = start.elapsed();
            (http(clients.client(client), req, timeout).await, sent)
        }
    };
    Record {
        index,
        client: client as u32,
        scheduled,
        sent,
        done: start.elapsed(),
        outcome,
    }
}

/// Sends `req` on `pool` and reads the whole response.
async fn http(
    pool: &crate::client::HttpClient,
    req: http::Request<http_body_util::Full<bytes::Bytes>>,
    timeout: Duration,
) -> Outcome {
    let exchange = async {
        let resp = pool.request(req).await.map_err(|e| {
            use std::error::Error as _;
            match e.source() {
                Some(s) => format!("{e}: {s}"),
                None => e.to_string(),
            }
        })?;
        let status = resp.status().as_u16();
        resp.into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?;
        Ok::<u16, String>(status)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(status)) => Outcome::Status(status),
        Ok(Err(e)) => Outcome::Error(e),
        Err(_) => Outcome::Timeout,
    }
}

/// Wakes a blocking thread at scheduled instants. `std::thread::sleep`
/// overshoots by the kernel's timer slack and wake-up latency (about
/// 100 µs on the benchmark VM); the waker learns that overshoot, sleeps
/// that much less, and spins (yielding) the last stretch, so requests leave
/// within microseconds of their schedule. What lag remains shows in the
/// send lag and in the latency from the schedule, as it should.
#[derive(Debug, Default)]
struct Waker {
    /// Smoothed overshoot of `sleep`, in µs.
    overshoot_us: f64,
}

impl Waker {
    fn sleep_until(&mut self, target: Instant) {
        let now = Instant::now();
        if target <= now {
            return;
        }
        let margin = Duration::from_micros(self.overshoot_us as u64 + 20);
        let remaining = target - now;
        if remaining > margin {
            let ask = remaining - margin;
            std::thread::sleep(ask);
            let over = now.elapsed().saturating_sub(ask).as_micros() as f64;
            // Slow to forget a large overshoot, so that one hiccup does not
            // make the next sleeps spin for long.
            self.overshoot_us = (0.9 * self.overshoot_us + 0.1 * over).min(2000.0);
        }
        while Instant::now() < target {
            std::thread::yield_now();
        }
    }
}

/// Runs `scenario` under `load`. Must be called within a multi-threaded
/// tokio runtime: the requests run on it, the open-loop dispatcher on a
/// blocking thread of its own.
pub async fn run(scenario: &Scenario, load: Load) -> RunResult {
    let picker = Arc::new(Picker::new(
        scenario.pick,
        scenario.clients,
        scenario.zipf_exponent,
        scenario.seed,
    ));
    let clients = Arc::new(Clients::new(scenario));
    let timeout = scenario.timeout;
    let start_wall = SystemClock.now();
    let start = Instant::now();
    let mut records = match load {
        Load::Open => {
            let times = scenario
                .profile
                .send_times(scenario.arrivals, scenario.seed);
            let handle = tokio::runtime::Handle::current();
            let (picker, clients) = (picker.clone(), clients.clone());
            let dispatch = tokio::task::spawn_blocking(move || {
                let mut tasks = Vec::with_capacity(times.len());
                let mut waker = Waker::default();
                for (i, at) in times.into_iter().enumerate() {
                    waker.sleep_until(start + at);
                    let i = i as u64;
                    let k = picker.client(i);
                    tasks.push(handle.spawn(one(clients.clone(), k, i, Some(at), start, timeout)));
                }
                tasks
            });
            let tasks = dispatch.await.expect("dispatcher");
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                out.push(t.await.expect("request task"));
            }
            out
        }
        Load::Closed {
            concurrency,
            requests,
            duration,
        } => {
            let next = Arc::new(AtomicU64::new(0));
            let limit = requests.unwrap_or(u64::MAX);
            let mut workers = Vec::with_capacity(concurrency);
            for _ in 0..concurrency.max(1) {
                let (next, picker, clients) = (next.clone(), picker.clone(), clients.clone());
                workers.push(tokio::spawn(async move {
                    let mut out = Vec::new();
                    loop {
                        if start.elapsed() >= duration {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= limit {
                            break;
                        }
                        let k = picker.client(i);
                        out.push(one(clients.clone(), k, i, None, start, timeout).await);
                    }
                    out
                }));
            }
            let mut out = Vec::new();
            for w in workers {
                out.extend(w.await.expect("worker"));
            }
            out
        }
    };
    records.sort_by_key(|r| r.index);
    let elapsed = records.iter().map(|r| r.done).max().unwrap_or_default();
    RunResult {
        planned: records.len() as u64,
        records,
        start_wall,
        elapsed,
        open_loop: matches!(load, Load::Open),
    }
}
