//! Every decision is made on one policy version. The live policy flips
//! between two versions, A and B, through the admin API (`PUT /v1/policy`
//! with `If-Match`) in a loop, while tasks keep asking `POST /v1/check`,
//! Envoy's `ShouldRateLimit` on the gRPC listener and the public listener
//! (the demo endpoint `/api/v1/data`).
//!
//! Each answer tells which version decided it, and is checked to belong
//! to exactly one:
//!
//! - every name an answer carries (rule, limit, shadow limits, descriptor
//!   limits, `RateLimit-Policy`) and every number (limits,
//!   `requests_per_unit`) is that version's;
//! - the identity settings are part of the version: A reads the API key
//!   from `x-key-a`, B from `x-key-b`. HTTP requests carry both, a pro
//!   client's key in `x-key-a` and an unknown (free) one in `x-key-b`, and
//!   each version gives its two tiers different limits. So A decides
//!   "pro, A's pro limit" and B "free, B's free limit"; a request built
//!   from one version's identity and decided on the other's rules would
//!   get "pro, B's pro limit" or "free, A's free limit", which no version
//!   gives. HTTP requests also carry a valid token (ES256, trusted by
//!   both versions): verifying it is part of building the request from
//!   the identity settings and takes a while, so a change lands in that
//!   gap often (a request decided on a second load of the policy is
//!   caught within a few changes; without the token it went unseen);
//! - a gRPC call carries two descriptors, each matching a rule of its
//!   own, and its answer a status for each and the speaking limit's
//!   `RateLimit-Policy`: all three must be of one version;
//! - an answer asked and received while no change was under way (the
//!   changer's epoch is even and the same before and after) must be the
//!   live version's. After each change the changer waits for a few such
//!   answers from every entry point, so both versions are seen, and
//!   checked, on each.
//!
//! Nothing waits for time to pass: the server's clock stands still and
//! the limits are far above what the test sends.

mod ask;
#[path = "../common/mod.rs"]
mod common;
mod versions;

use ask::*;
use versions::Version::{self, A};

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Policy changes the run makes at least.
const MIN_CHANGES: u64 = 50;
/// Answers each entry point gives at least.
const MIN_ANSWERS: u64 = 400;
/// Answers checked against the live version that each entry point gives
/// after each change, before the next.
const VERIFIED_PER_CHANGE: u64 = 3;
/// Tasks asking each entry point at once.
const TASKS: usize = 3;
/// How long the whole run may take before it fails: a guard against a
/// hang, not a measure (the run takes 3 to 5 s on an idle machine; a
/// loaded one took 26 s for 46 changes).
const DEADLINE: Duration = Duration::from_secs(120);
/// How long one answer may take.
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// The entry points, as the report names them.
const ENTRY_POINTS: [&str; 3] = ["POST /v1/check", "gRPC ShouldRateLimit", "gateway"];
const CHECK: usize = 0;
const GRPC: usize = 1;
const GATEWAY: usize = 2;

/// What one entry point answered.
#[derive(Default)]
struct Tally {
    answers: AtomicU64,
    /// Answers by the version they were decided on.
    seen: [AtomicU64; 2],
    /// Answers asked and received with no change under way, and found to
    /// be the live version's, by version.
    verified: [AtomicU64; 2],
    /// Answers during which a change was under way.
    raced: AtomicU64,
    /// Answers listing both shadow limits of their version.
    with_shadows: AtomicU64,
}

struct Shared {
    /// Even: no change under way, `epoch / 2` changes made; odd: a change
    /// is under way.
    epoch: AtomicU64,
    stop: AtomicBool,
    tallies: [Tally; 3],
    errors: Mutex<Vec<String>>,
    /// Woken at every answer.
    progress: tokio::sync::Notify,
}

/// What an answer showed: its version and, for `/v1/check`, whether it
/// listed both shadow limits.
struct Shown {
    version: Version,
    shadows: bool,
}

impl Shared {
    fn fail(&self, why: String) {
        self.errors.lock().unwrap().push(why);
    }

    fn failed(&self) -> bool {
        !self.errors.lock().unwrap().is_empty()
    }

    /// Books one answer of entry point `e`, asked at `before` and
    /// received at `after` (epochs).
    fn record(&self, e: usize, before: u64, after: u64, answer: Result<Shown, String>) {
        let t = &self.tallies[e];
        match answer {
            Err(why) => self.fail(format!("{}: {why}", ENTRY_POINTS[e])),
            Ok(shown) => {
                let v = shown.version;
                t.seen[v.index()].fetch_add(1, SeqCst);
                if shown.shadows {
                    t.with_shadows.fetch_add(1, SeqCst);
                }
                if before == after && before % 2 == 0 {
                    let live = Version::after(before / 2);
                    if v == live {
                        t.verified[v.index()].fetch_add(1, SeqCst);
                    } else {
                        self.fail(format!(
                            "{}: decided on {v:?} while {live:?} was live (epoch {before})",
                            ENTRY_POINTS[e]
                        ));
                    }
                } else {
                    t.raced.fetch_add(1, SeqCst);
                }
            }
        }
        t.answers.fetch_add(1, SeqCst);
        self.progress.notify_one();
    }

    fn summary(&self) -> String {
        let mut out = format!("epoch {}\n", self.epoch.load(SeqCst));
        for (name, t) in ENTRY_POINTS.iter().zip(&self.tallies) {
            let n = |a: &AtomicU64| a.load(SeqCst);
            out += &format!(
                "{name}: {} answers, A {} B {}, verified A {} B {}, raced {}, with shadows {}\n",
                n(&t.answers),
                n(&t.seen[0]),
                n(&t.seen[1]),
                n(&t.verified[0]),
                n(&t.verified[1]),
                n(&t.raced),
                n(&t.with_shadows),
            );
        }
        out
    }
}

/// Asks `ask` again and again until told to stop, booking each answer.
async fn drive<F, Fut>(shared: Arc<Shared>, e: usize, ask: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Shown, String>>,
{
    while !shared.stop.load(SeqCst) {
        let before = shared.epoch.load(SeqCst);
        let answer = tokio::time::timeout(ANSWER_DEADLINE, ask())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {ANSWER_DEADLINE:?}")));
        let after = shared.epoch.load(SeqCst);
        shared.record(e, before, after, answer);
    }
}

type Http = Client<HttpConnector, Full<Bytes>>;

/// Makes `next` live through `PUT /v1/policy`; the new ETag.
async fn change(admin: &str, etag: &str, next: Version) -> String {
    let r = send(
        "PUT",
        &format!("{admin}/v1/policy"),
        &[("if-match", etag), ("content-type", "application/yaml")],
        next.policy(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.header("etag").expect("an ETag").to_string()
}

/// Waits until `done` holds, woken by answers; false past `deadline`.
async fn wait_for(shared: &Shared, deadline: Instant, done: impl Fn() -> bool) -> bool {
    loop {
        let woken = shared.progress.notified();
        if done() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tokio::time::timeout(left, woken).await.is_err() {
            return done();
        }
    }
}

/// `TASKS` tasks asking each entry point of `s`, until `shared.stop`.
async fn spawn_askers(s: &Server, shared: &Arc<Shared>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let check_url: Arc<str> = format!("http://{}/v1/check", s.admin).into();
    let data_url: Arc<str> = format!("http://{}/api/v1/data", s.public).into();
    let bearer: Arc<str> = bearer().into();
    let body = check_body(&bearer);
    for _ in 0..TASKS {
        let client: Http = Client::builder(TokioExecutor::new()).build_http();
        let (url, body) = (check_url.clone(), body.clone());
        tasks.push(tokio::spawn(drive(shared.clone(), CHECK, move || {
            ask_check(client.clone(), url.clone(), body.clone())
        })));
        let client: Http = Client::builder(TokioExecutor::new()).build_http();
        let (url, bearer) = (data_url.clone(), bearer.clone());
        tasks.push(tokio::spawn(drive(shared.clone(), GATEWAY, move || {
            ask_gateway(client.clone(), url.clone(), bearer.clone())
        })));
        let grpc = RateLimitServiceClient::connect(format!("http://{}", s.grpc.unwrap()))
            .await
            .expect("connects");
        tasks.push(tokio::spawn(drive(shared.clone(), GRPC, move || {
            ask_grpc(grpc.clone())
        })));
    }
    tasks
}

/// The changer: makes the live policy flip until there are enough changes
/// and answers (or a failure, or `deadline`); whether it was in time, the
/// changes made and the last ETag.
async fn change_until_done(shared: &Shared, admin: &str, deadline: Instant) -> (bool, u64, String) {
    let mut etag = get(&format!("{admin}/v1/policy"), &[])
        .await
        .header("etag")
        .expect("an ETag")
        .to_string();
    let mut changes = 0;
    let in_time = loop {
        let live = Version::after(changes).index();
        let verified = |t: &Tally| t.verified[live].load(SeqCst);
        let base: Vec<u64> = shared.tallies.iter().map(verified).collect();
        let in_time = wait_for(shared, deadline, || {
            shared.failed()
                || shared
                    .tallies
                    .iter()
                    .zip(&base)
                    .all(|(t, b)| verified(t) >= b + VERIFIED_PER_CHANGE)
        })
        .await;
        let enough = changes >= MIN_CHANGES
            && shared
                .tallies
                .iter()
                .all(|t| t.answers.load(SeqCst) >= MIN_ANSWERS);
        if !in_time || enough || shared.failed() {
            break in_time;
        }
        shared.epoch.fetch_add(1, SeqCst);
        etag = change(admin, &etag, Version::after(changes + 1)).await;
        changes += 1;
        shared.epoch.fetch_add(1, SeqCst);
    };
    (in_time, changes, etag)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_decision_is_made_on_one_policy_version() {
    let started = Instant::now();
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\ngrpc: {{ listen: 127.0.0.1:0 }}\n{}",
        A.policy()
    );
    let s = start(&yaml).await;
    let admin = format!("http://{}", s.admin);
    let shared = Arc::new(Shared {
        epoch: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        tallies: Default::default(),
        errors: Mutex::new(Vec::new()),
        progress: tokio::sync::Notify::new(),
    });

    let tasks = spawn_askers(&s, &shared).await;

    // The changer: after each change (and before the first), wait until
    // every entry point has answered a few requests checked against the
    // live version, then change again, until there are enough changes
    // and answers.
    let (in_time, changes, etag) = change_until_done(&shared, &admin, started + DEADLINE).await;
    shared.stop.store(true, SeqCst);
    for t in tasks {
        t.await.expect("a request task");
    }
    let summary = shared.summary();
    println!("{changes} changes in {:?}\n{summary}", started.elapsed());

    let errors = shared.errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} answers not of one version (or not of the live one), first ones:\n{}\n{summary}",
        errors.len(),
        errors[..errors.len().min(10)].join("\n")
    );
    assert!(
        in_time,
        "not done within {DEADLINE:?}: {changes} changes\n{summary}"
    );
    assert!(changes >= MIN_CHANGES, "{changes} changes\n{summary}");
    // The server kept every change: the live version is the last one.
    assert_eq!(etag, format!("\"{}\"", changes + 1));
    for (name, t) in ENTRY_POINTS.iter().zip(&shared.tallies) {
        assert!(t.answers.load(SeqCst) >= MIN_ANSWERS, "{name}\n{summary}");
        // Changes landed while requests were under way.
        assert!(t.raced.load(SeqCst) > 0, "{name}\n{summary}");
        // Checked against the live version while it was live, a few
        // each time, so every entry point was seen deciding on both.
        let epochs = [changes / 2 + 1, changes.div_ceil(2)];
        for v in Version::BOTH {
            let verified = t.verified[v.index()].load(SeqCst);
            assert!(
                verified >= VERIFIED_PER_CHANGE * epochs[v.index()],
                "{name}: {verified} verified on {v:?}\n{summary}"
            );
        }
    }
    // Each shadow limit allows one request ever, then lists itself in
    // every check answer of its version: nearly all check answers carried
    // the names of three rules, all of one version.
    let check = &shared.tallies[CHECK];
    assert!(
        2 * check.with_shadows.load(SeqCst) >= check.answers.load(SeqCst),
        "{summary}"
    );
    s.running.shutdown().await.unwrap();
}
