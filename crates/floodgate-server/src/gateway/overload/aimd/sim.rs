//! The controller in front of a simulated upstream: Poisson arrivals, a
//! pool of workers with a line behind them, simulated time. The arrivals
//! past the bound are shed, as the gateway does.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use super::Aimd;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (x + 1) as f64 / (1u64 << 53) as f64
    }
}

/// One phase of offered load.
struct Phase {
    /// Arrivals per second.
    rate: f64,
    /// Seconds.
    secs: f64,
}

/// What the simulated clients saw in each phase.
#[derive(Debug, Default)]
struct Seen {
    shed: u64,
    /// Latencies of the admitted requests, seconds.
    latencies: Vec<f64>,
    /// The lowest bound in force during the phase.
    lowest_limit: usize,
}

impl Seen {
    fn p99(&mut self) -> f64 {
        self.latencies.sort_by(f64::total_cmp);
        let i = (self.latencies.len() * 99 / 100).min(self.latencies.len() - 1);
        self.latencies[i]
    }
}

/// Nanoseconds.
fn ns(secs: f64) -> u64 {
    (secs * 1e9) as u64
}

/// Runs `phases` against `workers` workers whose service time is drawn by
/// `service` (seconds).
fn run(
    mut aimd: Aimd,
    workers: usize,
    phases: &[Phase],
    service: impl Fn(&mut Rng) -> f64,
) -> Vec<Seen> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // (time done, time arrived) of the requests being served, nanoseconds.
    let mut serving: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut line: VecDeque<u64> = VecDeque::new();
    let mut in_flight = 0usize;
    let mut seen: Vec<Seen> = Vec::new();
    let mut start = 0u64;
    for phase in phases {
        let end = start + ns(phase.secs);
        let mut s = Seen {
            lowest_limit: aimd.limit(),
            ..Seen::default()
        };
        let mut arrival = start;
        loop {
            let done = serving.peek().map(|Reverse((t, _))| *t);
            if done.is_some_and(|d| d <= arrival && d < end) {
                let Some(Reverse((t, arrived))) = serving.pop() else {
                    break;
                };
                let latency = (t - arrived) as f64 / 1e9;
                aimd.on_sample(Duration::from_secs_f64(latency), false, in_flight);
                s.lowest_limit = s.lowest_limit.min(aimd.limit());
                in_flight -= 1;
                s.latencies.push(latency);
                if let Some(a) = line.pop_front() {
                    serving.push(Reverse((t + ns(service(&mut rng)), a)));
                }
            } else if arrival < end {
                let t = arrival;
                arrival += ns(-rng.unit().ln() / phase.rate);
                if in_flight >= aimd.limit() {
                    s.shed += 1;
                    continue;
                }
                in_flight += 1;
                if serving.len() < workers {
                    serving.push(Reverse((t + ns(service(&mut rng)), t)));
                } else {
                    line.push_back(t);
                }
            } else {
                break;
            }
        }
        seen.push(s);
        start = end;
    }
    seen
}

/// A 5 ms endpoint, give or take 10%.
fn five_ms(rng: &mut Rng) -> f64 {
    0.005 * (0.9 + 0.2 * rng.unit())
}

/// A 5 ms endpoint whose answers are now and then much slower: 4% at
/// 10 ms, 1% at 30 ms.
fn heavy_tailed(rng: &mut Rng) -> f64 {
    let r = rng.unit();
    if r < 0.01 {
        0.030
    } else if r < 0.05 {
        0.010
    } else {
        0.003 + 0.003 * rng.unit()
    }
}

fn phase(rate: f64, secs: f64) -> Phase {
    Phase { rate, secs }
}

#[test]
fn a_cold_start_under_overload_learns_the_unloaded_latency() {
    // 16 workers at 5 ms serve 3,200/s; twice that arrives from the first
    // moment.
    let seen = run(
        Aimd::new(16, 1024, 1.2),
        16,
        &[phase(6400.0, 2.0), phase(6400.0, 8.0)],
        five_ms,
    );
    let mut settled = seen.into_iter().nth(1).unwrap();
    let served = settled.latencies.len() as f64 / 8.0;
    let p99 = settled.p99();
    // Taking the first answers (64 in flight: 20 ms) as unloaded would
    // let the admitted requests wait 4 x the endpoint's time.
    assert!(p99 < 0.008, "admitted p99 {p99} s");
    assert!(served > 0.95 * 3200.0, "served {served}/s");
    assert!(settled.shed > 0);
}

#[test]
fn an_overload_after_a_calm_start_keeps_the_admitted_latency() {
    let mut seen = run(
        Aimd::new(16, 1024, 1.2),
        16,
        &[
            phase(800.0, 5.0),
            // The first second of the overload, while the bound comes down
            // from where the calm left it.
            phase(6400.0, 1.0),
            phase(6400.0, 4.0),
            // The line the overload left drains.
            phase(800.0, 0.1),
            phase(800.0, 5.0),
        ],
        five_ms,
    );
    let calm = seen[0].p99();
    assert_eq!(seen[0].shed, 0);
    let first = seen[1].p99();
    assert!(
        first < 4.0 * calm,
        "first second p99 {first} s, calm {calm} s"
    );
    let over = seen[2].p99();
    assert!(over < 1.5 * calm, "overload p99 {over} s, calm {calm} s");
    assert!(seen[2].latencies.len() as f64 > 0.95 * 3200.0 * 4.0);
    // After it, the bound is back where it started and sheds nothing.
    assert_eq!(seen[4].shed, 0, "recovery");
    assert_eq!(seen[4].lowest_limit, 64);
}

#[test]
fn a_healthy_upstream_with_jitter_is_never_shed() {
    // One worker (a plain async app doing its work inline) at 500/s: about
    // 1 ms per answer, give or take, 2% at 5-10 ms (a slow query), 0.1% at
    // 30 ms (a collection pause): busy 60% of the time, with a line behind
    // every slow answer.
    let inline = |rng: &mut Rng| {
        let r = rng.unit();
        if r < 0.001 {
            0.030
        } else if r < 0.021 {
            0.005 + 0.005 * rng.unit()
        } else {
            0.0007 + 0.0008 * rng.unit()
        }
    };
    for min in [16, 32] {
        let aimd = Aimd::new(min, 1024, 1.2);
        let start = aimd.limit();
        let seen = run(aimd, 1, &[phase(500.0, 120.0)], inline);
        assert_eq!(seen[0].shed, 0, "min_limit {min}");
        assert_eq!(seen[0].lowest_limit, start, "min_limit {min}");
    }
    // 16 workers, busy 60% of the time, heavy-tailed.
    for rate in [1600.0, 2000.0] {
        let aimd = Aimd::new(16, 1024, 1.2);
        let seen = run(aimd, 16, &[phase(rate, 60.0)], heavy_tailed);
        assert_eq!(seen[0].shed, 0, "{rate}/s");
        assert_eq!(seen[0].lowest_limit, 64, "{rate}/s");
    }
}
