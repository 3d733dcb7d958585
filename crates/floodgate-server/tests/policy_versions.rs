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

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tonic::transport::Channel;

/// Policy changes the run makes at least.
const MIN_CHANGES: u64 = 50;
/// Answers each entry point gives at least.
const MIN_ANSWERS: u64 = 400;
/// Answers checked against the live version that each entry point gives
/// after each change, before the next.
const VERIFIED_PER_CHANGE: u64 = 3;
/// Tasks asking each entry point at once.
const TASKS: usize = 3;
/// How long the whole run may take before it fails.
const DEADLINE: Duration = Duration::from_secs(25);
/// How long one answer may take.
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    A,
    B,
}

use Version::{A, B};

impl Version {
    const BOTH: [Version; 2] = [A, B];

    fn tag(self) -> &'static str {
        match self {
            A => "a",
            B => "b",
        }
    }

    fn index(self) -> usize {
        match self {
            A => 0,
            B => 1,
        }
    }

    /// The version live after `changes` changes (A first).
    fn after(changes: u64) -> Version {
        if changes % 2 == 0 {
            A
        } else {
            B
        }
    }

    /// The HTTP rule's limit for its pro clients.
    fn pro_limit(self) -> u64 {
        match self {
            A => 1_000_011,
            B => 1_000_021,
        }
    }

    /// The HTTP rule's limit for everyone else (free).
    fn free_limit(self) -> u64 {
        match self {
            A => 1_000_012,
            B => 1_000_022,
        }
    }

    /// The tier a request carrying both keys is under this version's
    /// identity: A reads `x-key-a` (a pro client), B `x-key-b` (unknown).
    fn tier(self) -> &'static str {
        match self {
            A => "pro",
            B => "free",
        }
    }

    /// The limit such a request gets: its tier's, in this version.
    fn http_limit(self) -> u64 {
        match self {
            A => A.pro_limit(),
            B => B.free_limit(),
        }
    }

    /// The limit of descriptor rule `i` (0: `one`, 1: `two`).
    fn descriptor_limit(self, i: usize) -> u64 {
        match self {
            A => 1_000_031 + i as u64,
            B => 1_000_041 + i as u64,
        }
    }

    fn rule(self) -> String {
        format!("http-{}", self.tag())
    }

    fn limit_names(self) -> [String; 2] {
        let t = self.tag();
        [format!("{t}-first"), format!("{t}-second")]
    }

    fn shadow_names(self) -> [String; 2] {
        let t = self.tag();
        [
            format!("shadow-{t}-1/{t}-s1"),
            format!("shadow-{t}-2/{t}-s2"),
        ]
    }

    /// The descriptor rules' limits.
    fn descriptor_limit_names(self) -> [String; 2] {
        let t = self.tag();
        [format!("{t}-one"), format!("{t}-two")]
    }

    /// The descriptor rules' limits as a `ShouldRateLimit` status names
    /// them (`rule/limit`).
    fn descriptor_names(self) -> [String; 2] {
        let t = self.tag();
        self.descriptor_limit_names()
            .map(|limit| format!("grpc-{t}-{}/{limit}", &limit[2..]))
    }

    /// The version's policy document (YAML).
    fn policy(self) -> String {
        let t = self.tag();
        let (pro, free) = (self.pro_limit(), self.free_limit());
        let (one, two) = (self.descriptor_limit(0), self.descriptor_limit(1));
        let pem = std::fs::read_to_string(format!("{DATA}/jwt_ec1.pub.pem")).unwrap();
        let pem = serde_json::to_string(&pem).unwrap();
        format!(
            r#"tiers: [free, pro]
default_tier: free
clients:
  - {{ api_key: key-pro, tier: pro }}
identity:
  api_key_header: x-key-{t}
  jwt:
    algorithms: [ES256]
    keys: [ {{ kid: e1, alg: ES256, pem: {pem} }} ]
rules:
  - name: http-{t}
    match: {{ path: /api/v1/data }}
    key: api_key
    limits:
      - {{ name: {t}-first, algorithm: fixed_window, limit: {free}, window: 1h }}
      - {{ name: {t}-second, algorithm: fixed_window, limit: {free}, window: 1h }}
    tiers:
      pro:
        - {{ name: {t}-first, algorithm: fixed_window, limit: {pro}, window: 1h }}
        - {{ name: {t}-second, algorithm: fixed_window, limit: {pro}, window: 1h }}
  - name: shadow-{t}-1
    match: {{ path: /api/v1/data }}
    key: global
    shadow: true
    limits: [ {{ name: {t}-s1, algorithm: fixed_window, limit: 1, window: 1h }} ]
  - name: shadow-{t}-2
    match: {{ path: /api/v1/data }}
    key: global
    shadow: true
    limits: [ {{ name: {t}-s2, algorithm: fixed_window, limit: 1, window: 1h }} ]
  - name: grpc-{t}-one
    match: {{ domain: edge, descriptors: [ {{ key: one }} ] }}
    limits: [ {{ name: {t}-one, algorithm: fixed_window, limit: {one}, window: 1h }} ]
  - name: grpc-{t}-two
    match: {{ domain: edge, descriptors: [ {{ key: two }} ] }}
    limits: [ {{ name: {t}-two, algorithm: fixed_window, limit: {two}, window: 1h }} ]
"#
        )
    }

    /// The version a name of `names(v)` belongs to.
    fn owning<const N: usize>(name: &str, names: fn(Version) -> [String; N]) -> Option<Version> {
        Version::BOTH
            .into_iter()
            .find(|v| names(*v).iter().any(|n| n == name))
    }
}

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

async fn http(
    client: &Http,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Full::new(body)).unwrap();
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, headers, body))
}

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// A valid token (ES256, the key both versions trust), as an
/// `Authorization` value. Verifying it is part of building a request from
/// the identity settings, and it takes a while: a change lands between
/// reading the settings and deciding far more often than with a request
/// built in a few microseconds.
fn bearer() -> String {
    let private = std::fs::read(format!("{DATA}/jwt_ec1.pem")).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("e1".into());
    let claims = serde_json::json!({ "sub": "someone", "exp": T0 / 1_000_000 + 86_400 });
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&private).unwrap();
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    )
}

/// Both keys, a pro client's under A's header and an unknown one under
/// B's, and a token.
fn identity_headers(bearer: &str) -> [(&'static str, String); 3] {
    [
        ("x-key-a", "key-pro".into()),
        ("x-key-b", "key-unknown".into()),
        ("authorization", bearer.into()),
    ]
}

/// A check of the demo endpoint carrying [`identity_headers`].
fn check_body(bearer: &str) -> Bytes {
    let headers: serde_json::Map<String, Value> = identity_headers(bearer)
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    let body = serde_json::json!({
        "attributes": {
            "ip": "192.0.2.7",
            "method": "GET",
            "path": "/api/v1/data",
            "headers": headers,
        }
    });
    Bytes::from(body.to_string())
}

/// One `POST /v1/check` and the version its answer is wholly of.
async fn ask_check(client: Http, url: Arc<str>, body: Bytes) -> Result<Shown, String> {
    let json = [("content-type", "application/json".to_string())];
    let (status, _, body) = http(&client, "POST", &url, &json, body).await?;
    let text = String::from_utf8_lossy(&body).to_string();
    let j: Value = serde_json::from_slice(&body).map_err(|e| format!("{e}: {text}"))?;
    let version = check_version(status, &j).map_err(|why| format!("{why}: {status} {text}"))?;
    let shadows = j["shadow_limited"].as_array().is_some_and(|s| s.len() == 2);
    Ok(Shown { version, shadows })
}

fn check_version(status: u16, j: &Value) -> Result<Version, String> {
    if status != 200 || j["allowed"] != true {
        return Err("not allowed".into());
    }
    let rule = j["rule"].as_str().ok_or("no rule")?;
    let v = Version::BOTH
        .into_iter()
        .find(|v| v.rule() == rule)
        .ok_or("an unknown rule")?;
    // The tier says which identity settings built the request; the limit
    // which version's rules decided it.
    if j["tier"] != v.tier() {
        return Err(format!("{v:?}'s rule with the tier of the other identity"));
    }
    if j["limit"] != v.http_limit() {
        return Err(format!(
            "{v:?}'s rule with a limit not {v:?}'s for this tier"
        ));
    }
    let name = j["limit_name"].as_str().ok_or("no limit name")?;
    if Version::owning(name, Version::limit_names) != Some(v) {
        return Err(format!("{v:?}'s rule with limit `{name}`"));
    }
    for s in j["shadow_limited"].as_array().ok_or("no shadow_limited")? {
        let s = s.as_str().ok_or("a shadow limit not a string")?;
        if Version::owning(s, Version::shadow_names) != Some(v) {
            return Err(format!("{v:?}'s rule with shadow limit `{s}`"));
        }
    }
    Ok(v)
}

/// `"name";q=N;w=W` of `RateLimit-Policy`: the name and N.
fn policy_header(value: &str) -> Option<(&str, u64)> {
    let rest = value.strip_prefix('"')?;
    let (name, rest) = rest.split_once('"')?;
    let q = rest.strip_prefix(";q=")?.split(';').next()?.parse().ok()?;
    Some((name, q))
}

/// One request to the public listener and the version its answer is of.
async fn ask_gateway(client: Http, url: Arc<str>, bearer: Arc<str>) -> Result<Shown, String> {
    let headers = identity_headers(&bearer);
    let (status, headers, _) = http(&client, "GET", &url, &headers, Bytes::new()).await?;
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let version = (|| {
        if status != 200 {
            return Err("not allowed".to_string());
        }
        let policy = h("ratelimit-policy").ok_or("no RateLimit-Policy")?;
        let (name, q) = policy_header(policy).ok_or("RateLimit-Policy unreadable")?;
        let v = Version::owning(name, Version::limit_names).ok_or("an unknown limit")?;
        if q != v.http_limit() {
            return Err(format!(
                "{v:?}'s limit `{name}` at a quota {v:?} gives no request carrying both keys"
            ));
        }
        if h("x-ratelimit-limit") != Some(q.to_string().as_str()) {
            return Err("X-RateLimit-Limit is not RateLimit-Policy's".into());
        }
        Ok(v)
    })()
    .map_err(|why| format!("{why}: {status} {headers:?}"))?;
    Ok(Shown {
        version,
        shadows: false,
    })
}

fn grpc_request() -> RateLimitRequest {
    let d = |key: &str| RateLimitDescriptor {
        entries: vec![Entry {
            key: key.into(),
            value: "v".into(),
        }],
        ..RateLimitDescriptor::default()
    };
    RateLimitRequest {
        domain: "edge".into(),
        descriptors: vec![d("one"), d("two")],
        hits_addend: 0,
    }
}

/// One `ShouldRateLimit` of two descriptors, each matching a rule of
/// its own, and the version all its statuses are of.
async fn ask_grpc(mut client: RateLimitServiceClient<Channel>) -> Result<Shown, String> {
    let r = client
        .should_rate_limit(grpc_request())
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let version = (|| {
        if r.overall_code != Code::Ok as i32 || r.statuses.len() != 2 {
            return Err("not OK with two statuses".to_string());
        }
        let mut versions = Vec::new();
        for (i, st) in r.statuses.iter().enumerate() {
            let limit = st.current_limit.as_ref().ok_or("no current_limit")?;
            let v = Version::owning(&limit.name, Version::descriptor_names)
                .ok_or("an unknown limit")?;
            if limit.name != v.descriptor_names()[i]
                || u64::from(limit.requests_per_unit) != v.descriptor_limit(i)
                || limit.unit != Unit::Hour as i32
            {
                return Err(format!("status {i} is not {v:?}'s limit"));
            }
            versions.push(v);
        }
        let header = r
            .response_headers_to_add
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case("RateLimit-Policy"))
            .ok_or("no RateLimit-Policy")?;
        let (name, q) = policy_header(&header.value).ok_or("RateLimit-Policy unreadable")?;
        let v = Version::owning(name, Version::descriptor_limit_names)
            .ok_or("RateLimit-Policy names an unknown limit")?;
        let i = usize::from(name == v.descriptor_limit_names()[1]);
        if q != v.descriptor_limit(i) {
            return Err("RateLimit-Policy's quota is not its limit's".into());
        }
        versions.push(v);
        if versions.iter().any(|v| *v != versions[0]) {
            return Err(format!("versions mixed: {versions:?}"));
        }
        Ok(versions[0])
    })()
    .map_err(|why| format!("{why}: {r:?}"))?;
    Ok(Shown {
        version,
        shadows: false,
    })
}

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

    let mut tasks = Vec::new();
    let check_url: Arc<str> = format!("{admin}/v1/check").into();
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

    // The changer: after each change (and before the first), wait until
    // every entry point has answered a few requests checked against the
    // live version, then change again, until there are enough changes
    // and answers.
    let deadline = started + DEADLINE;
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
        let in_time = wait_for(&shared, deadline, || {
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
        etag = change(&admin, &etag, Version::after(changes + 1)).await;
        changes += 1;
        shared.epoch.fetch_add(1, SeqCst);
    };
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
