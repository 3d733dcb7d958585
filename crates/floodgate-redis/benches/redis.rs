//! Redis backend benchmark (not a timed test): `RedisStore::check` at
//! concurrency 64 next to `redis-benchmark` running the same call (FCALL on Redis 7) at
//! `-c 64`, against one fresh `redis-server`, in the same run; then a paced
//! run at 1,200 decisions/s over 12,000 clients for the latency it adds.
//!
//! Run with `cargo bench -p floodgate-redis --bench redis` (or
//! `crates/floodgate-redis/benches/run.sh`). Needs `redis-server` and
//! `redis-benchmark` on the PATH. `FLOODGATE_BENCH_SECS` sets the length of
//! each phase (default 5).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floodgate_core::{LimitCheck, Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_testkit::redis::RedisServer;

const CONCURRENCY: usize = 64;
const CLIENTS: u64 = 12_000;

fn quota() -> Quota {
    // 100 per client, 10/s: at tens of thousands of decisions/s over
    // 12,000 clients most are allowed, and keys live about 10 s.
    Quota::token_bucket(100, Rate::per_second(10).unwrap()).unwrap()
}

fn check_for(client: u64) -> LimitCheck {
    LimitCheck {
        limit_id: Arc::from("bench/tb/00000000"),
        identity: Arc::from(format!("client:{client}")),
        quota: quota(),
        cost: 1,
        on_failure: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// A small xorshift, so the benchmark needs no RNG crate.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Closed loop: `CONCURRENCY` tasks calling `check` back to back.
async fn saturate(store: Arc<RedisStore>, secs: u64) -> (f64, Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..CONCURRENCY {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
            let mut lat = Vec::with_capacity(100_000);
            while !stop.load(Ordering::Relaxed) {
                let c = check_for(next(&mut seed) % CLIENTS);
                let start = Instant::now();
                store
                    .check(std::slice::from_ref(&c), Timestamp::EPOCH)
                    .await
                    .expect("redis decides");
                lat.push(start.elapsed());
            }
            lat
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    (
        all.len() as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
    )
}

/// Open loop: `rate` decisions per second, each on its own task.
async fn paced(store: Arc<RedisStore>, rate: u64, secs: u64) -> (Duration, Duration, usize) {
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut tasks = Vec::new();
    for _ in 0..rate * secs {
        ticker.tick().await;
        let c = check_for(next(&mut seed) % CLIENTS);
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            store
                .check(std::slice::from_ref(&c), Timestamp::EPOCH)
                .await
                .expect("redis decides");
            start.elapsed()
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.unwrap());
    }
    all.sort_unstable();
    (percentile(&all, 0.50), percentile(&all, 0.99), all.len())
}

/// `redis-benchmark -c 64 -P <pipeline>` running the store's call (`call`:
/// `FCALL <name>` or `EVALSHA <sha>`) with the same arguments over the same
/// 12,000 keys; returns its requests/s and p50/p99 (ms) from its summary.
fn ceiling(port: u16, call: &[&str], requests: u64, pipeline: u32) -> (f64, String, String) {
    let key = "fg:{i:__rand_int__}:7pXr0l";
    let out = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-c", "64"])
        .args(["-P", &pipeline.to_string()])
        .args(["-n", &requests.to_string(), "-r", &CLIENTS.to_string()])
        .args(call)
        .args(["1", key])
        // mode, time (Redis TIME), least TTL, then token_bucket(100, 10/s)
        // as the store sends it: capacity, k = 1, P = 100000 µs, cost.
        .args(["c", "", "0", "tb", "100", "1", "100000", "1"])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let rps: f64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("throughput summary:"))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no throughput in redis-benchmark output: {text}"));
    // latency summary (msec):
    //           avg       min       p50       p95       p99       max
    //         1.561     0.360     1.495     2.463     3.071    10.111
    let at = lines
        .iter()
        .position(|l| l.starts_with("latency summary"))
        .unwrap_or_else(|| panic!("no latency summary: {text}"));
    let values: Vec<&str> = lines
        .get(at + 2)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let v = |i: usize| values.get(i).copied().unwrap_or("?").to_string();
    (rps, v(2), v(4))
}

fn main() {
    let secs: u64 = std::env::var("FLOODGATE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(
        rt.block_on(RedisStore::connect(&RedisConfig::standalone(server.url())))
            .expect("connect"),
    );
    let name = RedisStore::library_name();
    let sha = RedisStore::script_sha();
    let call: [&str; 2] = match store.call_command() {
        "FCALL" => ["FCALL", &name],
        _ => ["EVALSHA", &sha],
    };
    let cmd = call[0];

    // Warm up (keys, script cache, connections).
    rt.block_on(saturate(Arc::clone(&store), 1));

    let (store_rps, p50, p99) = rt.block_on(saturate(Arc::clone(&store), secs));
    let n = (store_rps * secs as f64) as u64;
    let (ceil_rps, cp50, cp99) = ceiling(server.port(), &call, n.max(10_000), 1);
    let (piped_rps, pipe50, pipe99) = ceiling(server.port(), &call, 4 * n.max(10_000), 16);
    let (pp50, pp99, paced_n) = rt.block_on(paced(Arc::clone(&store), 1_200, secs));

    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    println!("## Redis backend: RedisStore::check vs redis-benchmark (same run)");
    println!();
    println!("| | decisions/s | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|---|");
    println!("| redis-benchmark {cmd} -c 64 (ceiling) | {ceil_rps:.0} | {cp50} | {cp99} |");
    println!(
        "| redis-benchmark {cmd} -c 64 -P 16 (pipelined) | {piped_rps:.0} | {pipe50} | {pipe99} |"
    );
    println!(
        "| RedisStore::check, 64 tasks | {store_rps:.0} | {} | {} |",
        ms(p50),
        ms(p99)
    );
    println!(
        "| RedisStore::check, paced 1,200/s, 12,000 clients ({paced_n} calls) | 1200 | {} | {} |",
        ms(pp50),
        ms(pp99)
    );
    println!();
    println!(
        "ratio RedisStore / redis-benchmark -c 64: {:.0}%; / pipelined: {:.0}%",
        100.0 * store_rps / ceil_rps,
        100.0 * store_rps / piped_rps
    );
}
