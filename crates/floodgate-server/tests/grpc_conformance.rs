//! The shared conformance cases (floodgate-testkit) through Envoy's rate
//! limit service: every case becomes a descriptor rule, every step a
//! `ShouldRateLimit` call at the step's time on the server's clock, and
//! the answer must say what the case expects, as far as the API can say
//! it: allowed or not, `limit_remaining`, `duration_until_reset` (to the
//! nanosecond), `X-RateLimit-Limit` and `Retry-After` (whole seconds,
//! rounded up). Memory, Redis and Redis Cluster.

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use common::*;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::UInt64Value;
use floodgate_core::decision::ceil_secs;
use floodgate_core::{LeakMode, Quota, RetryAfter, Timestamp};
use floodgate_server::decide::check::MAX_COST;
use floodgate_testkit::redis::{RedisCluster, RedisServer};
use floodgate_testkit::{cases, Case, Step};
use tonic::transport::Channel;

const DAY_US: u64 = 86_400_000_000;
const DOMAIN: &str = "conformance";

/// A quota as the policy file writes it.
fn limit_yaml(q: &Quota) -> String {
    let window = |limit: u64, us: u64, algorithm: &str| {
        format!("{{ name: l, algorithm: {algorithm}, limit: {limit}, window: {us}us }}")
    };
    match *q {
        Quota::TokenBucket { capacity, refill } => format!(
            "{{ name: l, algorithm: token_bucket, capacity: {capacity}, refill: \"{}/{}us\" }}",
            refill.amount(),
            refill.period_us()
        ),
        Quota::LeakyBucket {
            capacity,
            leak,
            mode,
        } => format!(
            "{{ name: l, algorithm: leaky_bucket, capacity: {capacity}, rate: \"{}/{}us\", mode: {} }}",
            leak.amount(),
            leak.period_us(),
            match mode {
                LeakMode::Policing => "policing",
                LeakMode::Shaping => "shaping",
            }
        ),
        Quota::FixedWindow { limit, window_us } => window(limit, window_us, "fixed_window"),
        Quota::SlidingLog { limit, window_us } => window(limit, window_us, "sliding_window_log"),
        Quota::SlidingCounter { limit, window_us } => {
            window(limit, window_us, "sliding_window_counter")
        }
        Quota::Gcra { rate, burst } => format!(
            "{{ name: l, algorithm: gcra, rate: \"{}/{}us\", burst: {burst} }}",
            rate.amount(),
            rate.period_us()
        ),
        Quota::Concurrency { .. } => {
            unreachable!("descriptor rules hold no concurrency limit; no case has one")
        }
    }
}

/// One descriptor rule per case (`case` = the case's name), and a pair of
/// rules for the all-or-nothing check, on `store`.
fn config(store: &str) -> String {
    let mut y = String::from(
        "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\ngrpc: { listen: 127.0.0.1:0 }\nrules:\n",
    );
    for (i, case) in cases().iter().enumerate() {
        let _ = writeln!(
            y,
            "  - name: c{i}\n    match: {{ domain: {DOMAIN}, descriptors: [ {{ key: case, value: \"{}\" }} ] }}\n    limits: [ {} ]",
            case.name,
            limit_yaml(&case.quota)
        );
    }
    y.push_str(
        "  - name: wide\n    match: { domain: atomic, descriptors: [ { key: a } ] }\n    limits: [ { algorithm: token_bucket, capacity: 5, refill: 1/1s } ]\n\
         \x20 - name: narrow\n    match: { domain: atomic, descriptors: [ { key: b } ] }\n    limits: [ { algorithm: fixed_window, limit: 1, window: 1m } ]\n",
    );
    y.push_str(store);
    y
}

fn descriptor(key: &str, value: &str, cost: Option<u64>) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: vec![Entry {
            key: key.into(),
            value: value.into(),
        }],
        hits_addend: cost.map(|value| UInt64Value { value }),
        ..RateLimitDescriptor::default()
    }
}

fn header<'a>(r: &'a RateLimitResponse, name: &str) -> Option<&'a str> {
    r.response_headers_to_add
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// What is wrong with `r` as the answer to `step` of a case under `quota`.
fn mismatch(step: &Step, quota: &Quota, r: &RateLimitResponse) -> Option<String> {
    let mut errs = String::new();
    let [st] = r.statuses.as_slice() else {
        return Some(format!(" {} statuses for 1 descriptor", r.statuses.len()));
    };
    let allowed = r.overall_code == Code::Ok as i32;
    if allowed != step.expect_allowed || st.code != r.overall_code {
        let _ = write!(
            errs,
            " overall {} / status {} (want allowed={});",
            r.overall_code, st.code, step.expect_allowed
        );
    }
    let limit = quota.limit().to_string();
    if header(r, "X-RateLimit-Limit") != Some(limit.as_str()) {
        let _ = write!(errs, " X-RateLimit-Limit (want {limit});");
    }
    if let Some(n) = step.expect_remaining {
        if u64::from(st.limit_remaining) != n {
            let _ = write!(errs, " limit_remaining={} (want {n});", st.limit_remaining);
        }
    }
    if let Some(us) = step.expect_reset_us {
        let want = Duration::from_micros(us);
        let got = st
            .duration_until_reset
            .as_ref()
            .map(|d| Duration::new(d.seconds as u64, d.nanos as u32));
        if got != Some(want) {
            let _ = write!(errs, " duration_until_reset={got:?} (want {want:?});");
        }
    }
    let retry = header(r, "Retry-After");
    let want_retry = match (step.expect_allowed, step.expect_retry) {
        (true, _) | (false, Some(RetryAfter::Never)) => Some(None),
        (false, Some(RetryAfter::After(d) | RetryAfter::Unavailable(d))) => {
            Some(Some(ceil_secs(d).to_string()))
        }
        // A denial whose wait the case leaves open still says one: a
        // whole number of seconds.
        (false, None) => retry
            .and_then(|r| r.parse::<u64>().ok())
            .is_none()
            .then_some(Some("a number of seconds".into())),
    };
    if let Some(want) = want_retry {
        if retry != want.as_deref() {
            let _ = write!(errs, " Retry-After={retry:?} (want {want:?});");
        }
    }
    (!errs.is_empty()).then_some(errs)
}

/// Replays case `i` at day `i` after `T0` (a day boundary, so every
/// case's windows align as they do at the testkit's base). Steps send
/// the cost per descriptor and per request in turn (per descriptor when
/// it does not fit the request's 32 bits).
async fn run_case(s: &Server, c: &mut RateLimitServiceClient<Channel>, i: usize, case: &Case) {
    for (n, step) in case.steps.iter().enumerate() {
        let at = T0 + i as u64 * DAY_US + step.at_us;
        s.clock.set(Timestamp::from_micros(at));
        let request_cost = u32::try_from(step.cost).ok().filter(|_| n % 2 == 1);
        let req = RateLimitRequest {
            domain: DOMAIN.into(),
            descriptors: vec![descriptor(
                "case",
                case.name,
                request_cost.is_none().then_some(step.cost),
            )],
            hits_addend: request_cost.unwrap_or(0),
        };
        let answer = c.should_rate_limit(req).await;
        if step.cost > MAX_COST {
            // Refused as input, as `/v1/check` refuses it: it could never
            // be allowed, and it consumes nothing.
            let e = answer.expect_err("a cost above the API's bound is refused");
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
            assert!(!step.expect_allowed);
            continue;
        }
        let r = answer.expect("answered").into_inner();
        if let Some(m) = mismatch(step, &case.quota, &r) {
            panic!(
                "case `{}` ({}), step {n} (at +{}µs, cost {}):{m} got {r:?}",
                case.name, case.quota, step.at_us, step.cost
            );
        }
    }
}

/// Two descriptors of one call, the second denied: the first consumes
/// nothing.
async fn all_or_nothing(c: &mut RateLimitServiceClient<Channel>) {
    let both = || RateLimitRequest {
        domain: "atomic".into(),
        descriptors: vec![descriptor("a", "x", None), descriptor("b", "x", None)],
        hits_addend: 0,
    };
    let codes = |r: &RateLimitResponse| -> Vec<i32> { r.statuses.iter().map(|s| s.code).collect() };
    let (ok, over) = (Code::Ok as i32, Code::OverLimit as i32);
    let r = c.should_rate_limit(both()).await.unwrap().into_inner();
    assert_eq!((r.overall_code, codes(&r)), (ok, vec![ok, ok]));
    let r = c.should_rate_limit(both()).await.unwrap().into_inner();
    assert_eq!((r.overall_code, codes(&r)), (over, vec![ok, over]));
    let alone = RateLimitRequest {
        domain: "atomic".into(),
        descriptors: vec![descriptor("a", "x", None)],
        hits_addend: 0,
    };
    let r = c.should_rate_limit(alone).await.unwrap().into_inner();
    assert_eq!(r.overall_code, ok);
    assert_eq!(
        r.statuses[0].limit_remaining, 3,
        "the denied call took nothing"
    );
}

async fn conformance(store: &str) {
    let s = start(&config(store)).await;
    let addr = s.grpc.expect("a gRPC listener");
    let mut c = RateLimitServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connects");
    let all = cases();
    assert!(all.len() >= 20, "the whole suite: {} cases", all.len());
    for (i, case) in all.iter().enumerate() {
        run_case(&s, &mut c, i, case).await;
    }
    s.clock
        .set(Timestamp::from_micros(T0 + all.len() as u64 * DAY_US));
    all_or_nothing(&mut c).await;
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_case_through_grpc_on_the_memory_store() {
    conformance("").await;
}

#[tokio::test]
async fn every_case_through_grpc_on_redis() {
    let redis = RedisServer::start();
    conformance(&format!(
        "store:\n  kind: redis\n  url: {}\n  time: caller\n  timeout: 2s\n",
        redis.url()
    ))
    .await;
}

#[tokio::test]
async fn every_case_through_grpc_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    conformance(&format!(
        "store:\n  kind: redis_cluster\n  nodes: [{}]\n  time: caller\n  timeout: 2s\n",
        cluster.urls().join(", ")
    ))
    .await;
}

/// envoyproxy/ratelimit fields through `ShouldRateLimit`, on `store`:
/// `requests_per_unit: 0` is always `OVER_LIMIT` (and said as 0 per
/// unit), a `*` in the middle matches, and `share_threshold` gives every
/// matching value one counter.
async fn reference_fields(store: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("edge.yaml"),
        "domain: edge\ndescriptors:\n  - key: ip\n    value: 50.0.0.5\n    rate_limit: { unit: second, requests_per_unit: 0 }\n  - key: path\n    value: /api/*/action\n    share_threshold: true\n    rate_limit: { unit: minute, requests_per_unit: 2 }\n",
    )
    .unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin: {{ listen: 127.0.0.1:0 }}\ngrpc: {{ listen: 127.0.0.1:0 }}\nenvoy_ratelimit: {}\n{store}",
        dir.path().display()
    );
    let s = start(&yaml).await;
    let addr = s.grpc.expect("a gRPC listener");
    let mut c = RateLimitServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connects");
    let mut ask = async |key: &str, value: &str| {
        let r = RateLimitRequest {
            domain: "edge".into(),
            descriptors: vec![descriptor(key, value, None)],
            ..RateLimitRequest::default()
        };
        c.should_rate_limit(r).await.unwrap().into_inner()
    };
    for _ in 0..2 {
        let r = ask("ip", "50.0.0.5").await;
        assert_eq!(r.overall_code, Code::OverLimit as i32);
        let l = r.statuses[0].current_limit.as_ref().unwrap();
        assert_eq!(l.requests_per_unit, 0);
    }
    assert_eq!(ask("ip", "50.0.0.6").await.overall_code, Code::Ok as i32);
    // Two values of `/api/*/action` spend one counter of 2.
    assert_eq!(
        ask("path", "/api/1/action").await.overall_code,
        Code::Ok as i32
    );
    assert_eq!(
        ask("path", "/api/2/action").await.overall_code,
        Code::Ok as i32
    );
    let r = ask("path", "/api/3/action").await;
    assert_eq!(r.overall_code, Code::OverLimit as i32);
    // Not matched by the pattern: no rule, no limit.
    let r = ask("path", "/api/3/other").await;
    assert_eq!(r.overall_code, Code::Ok as i32);
    assert!(r.statuses[0].current_limit.is_none());
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn reference_fields_through_grpc_on_the_memory_store() {
    reference_fields("").await;
}

#[tokio::test]
async fn reference_fields_through_grpc_on_redis() {
    let redis = RedisServer::start();
    reference_fields(&format!(
        "store:\n  kind: redis\n  url: {}\n  timeout: 2s\n",
        redis.url()
    ))
    .await;
}
