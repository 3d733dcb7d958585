//! The timed loop: `iters` decisions on one or two threads, timed by the
//! wall clock or (`FLOODGATE_BENCH_TIME=cpu`) each thread's CPU time.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::targets::{Target, TICK};

/// Whether to time with thread CPU time rather than wall time.
fn cpu_time_mode() -> bool {
    static MODE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| std::env::var("FLOODGATE_BENCH_TIME").is_ok_and(|v| v == "cpu"))
}

/// CPU time consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call;
    // clock_gettime only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Running state of one benchmark: the target, a key cursor per thread,
/// and counts of decisions and allowed ones.
pub(crate) struct Bench<T> {
    target: T,
    cursors: [AtomicUsize; 2],
    decisions: AtomicU64,
    allowed: AtomicU64,
}

impl<T: Target> Bench<T> {
    pub(crate) fn new(target: T) -> Self {
        let half = target.len() / 2;
        Bench {
            target,
            cursors: [AtomicUsize::new(0), AtomicUsize::new(half)],
            decisions: AtomicU64::new(0),
            allowed: AtomicU64::new(0),
        }
    }

    /// `iters` decisions on thread slot `slot`, timed.
    pub(crate) fn run(&self, slot: usize, iters: u64) -> Duration {
        let cpu = cpu_time_mode();
        let t = &self.target;
        let n = t.len();
        let mut i = self.cursors[slot].load(Ordering::Relaxed);
        let mut now = t.now();
        let mut allowed = 0u64;
        let begin = Instant::now();
        let begin_cpu = if cpu {
            thread_cpu_time()
        } else {
            Duration::ZERO
        };
        for k in 0..iters {
            if k % TICK == TICK - 1 {
                now = t.tick();
            }
            allowed += black_box(t.decide(i, now)) as u64;
            i += 1;
            if i == n {
                i = 0;
            }
        }
        let elapsed = if cpu {
            thread_cpu_time() - begin_cpu
        } else {
            begin.elapsed()
        };
        self.cursors[slot].store(i, Ordering::Relaxed);
        self.decisions.fetch_add(iters, Ordering::Relaxed);
        self.allowed.fetch_add(allowed, Ordering::Relaxed);
        elapsed
    }

    pub(crate) fn run_threads(&self, threads: usize, iters: u64) -> Duration {
        if threads == 1 {
            return self.run(0, iters);
        }
        let barrier = Barrier::new(threads);
        let slowest = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|slot| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        self.run(slot, iters)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread"))
                .max()
                .unwrap_or_default()
        });
        slowest / threads as u32
    }

    pub(crate) fn report(&self, id: &str) {
        let d = self.decisions.load(Ordering::Relaxed).max(1);
        let a = self.allowed.load(Ordering::Relaxed);
        eprintln!(
            "  {id}: {:.4}% of {d} decisions allowed",
            100.0 * a as f64 / d as f64
        );
    }
}
