//! Redis backend benchmark (not a timed test): `RedisStore::check` at
//! concurrency 64, with gathering (the default) and without
//! (`gather_max: 1`), each followed by a paced run at 1,200 decisions/s
//! over 12,000 clients; the Redis CPU per decision from `INFO
//! commandstats`; then `redis-benchmark` running the same `FCALL` at
//! `-c 64` and pipelined (`-P 16`), against the same fresh `redis-server`,
//! in the same run.
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
        lease: None,
        sync: None,
        scope: floodgate_core::store::Scope::Region,
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

/// µs of Redis CPU spent in `command` calls so far (`INFO commandstats`).
fn redis_usec(server: &RedisServer, command: &str) -> u64 {
    let stats = server.cli(&["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{}:", command.to_lowercase());
    stats
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("usec=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One store's figures: closed loop at 64 tasks (decisions/s, p50, p99,
/// Redis µs per decision, requests per call), then paced (p50, p99).
struct Figures {
    rps: f64,
    p50: Duration,
    p99: Duration,
    redis_us: f64,
    per_call: f64,
    paced50: Duration,
    paced99: Duration,
}

fn measure(
    rt: &tokio::runtime::Runtime,
    server: &RedisServer,
    config: &RedisConfig,
    secs: u64,
) -> Figures {
    let store = Arc::new(rt.block_on(RedisStore::connect(config)).expect("connect"));
    let cmd = store.call_command();
    // Warm up (keys, connections).
    rt.block_on(saturate(Arc::clone(&store), 1));
    let (usec0, (calls0, reqs0)) = (redis_usec(server, cmd), store.gather_stats());
    let (rps, p50, p99) = rt.block_on(saturate(Arc::clone(&store), secs));
    let (usec1, (calls1, reqs1)) = (redis_usec(server, cmd), store.gather_stats());
    let (paced50, paced99, _) = rt.block_on(paced(Arc::clone(&store), 1_200, secs));
    let reqs = (reqs1 - reqs0).max(1) as f64;
    Figures {
        rps,
        p50,
        p99,
        redis_us: (usec1 - usec0) as f64 / reqs,
        per_call: reqs / (calls1 - calls0).max(1) as f64,
        paced50,
        paced99,
    }
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
    let gathering = RedisConfig::standalone(server.url());
    let alone = RedisConfig {
        gather_max: 1,
        ..gathering.clone()
    };
    let g = measure(&rt, &server, &gathering, secs);
    let a = measure(&rt, &server, &alone, secs);
    let name = RedisStore::library_name();
    let call = ["FCALL", name.as_str()];
    let n = (g.rps * secs as f64) as u64;
    let (ceil_rps, cp50, cp99) = ceiling(server.port(), &call, n.max(10_000), 1);
    let (piped_rps, pipe50, pipe99) = ceiling(server.port(), &call, 4 * n.max(10_000), 16);

    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    println!("## Redis backend: RedisStore::check vs redis-benchmark (same run)");
    println!();
    println!("| | decisions/s | p50 (ms) | p99 (ms) | Redis µs per decision | requests per call | paced 1,200/s p50 (ms) | paced p99 (ms) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!("| redis-benchmark FCALL -c 64 | {ceil_rps:.0} | {cp50} | {cp99} | | 1 | | |");
    println!("| redis-benchmark FCALL -c 64 -P 16 (pipelined) | {piped_rps:.0} | {pipe50} | {pipe99} | | 1 | | |");
    for (label, f) in [
        ("RedisStore::check, 64 tasks, gathering (default)", &g),
        ("RedisStore::check, 64 tasks, gather_max 1", &a),
    ] {
        println!(
            "| {label} | {:.0} | {} | {} | {:.2} | {:.1} | {} | {} |",
            f.rps,
            ms(f.p50),
            ms(f.p99),
            f.redis_us,
            f.per_call,
            ms(f.paced50),
            ms(f.paced99)
        );
    }
    println!();
    println!(
        "gathering: {:.0}% of redis-benchmark -c 64, {:.0}% of -P 16; without: {:.0}% and {:.0}%",
        100.0 * g.rps / ceil_rps,
        100.0 * g.rps / piped_rps,
        100.0 * a.rps / ceil_rps,
        100.0 * a.rps / piped_rps
    );
}
