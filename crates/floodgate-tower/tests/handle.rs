//! The handle: every way of deciding builds the request the same way,
//! decides on the limiter in force and reports to the observer.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use floodgate_config::parse_policy;
use floodgate_core::policy::{fingerprint, Origin};
use floodgate_core::{CheckError, Limiter, ManualClock, MemoryStore, Timestamp};
use floodgate_tower::{LimiterHandle, Observer, Seen, TrustedProxies};
use http::HeaderMap;

/// One request per API key (or IP), and one per route.
const POLICY: &str = r#"
rules:
  - name: per-key
    key: api_key
    limits:
      - { algorithm: fixed_window, limit: 1, window: 60s }
"#;

const PER_ROUTE: &str = r#"
rules:
  - name: per-route
    key: route
    limits:
      - { algorithm: fixed_window, limit: 1, window: 60s }
"#;

/// What the observer was shown, one entry per decision.
#[derive(Debug, PartialEq)]
struct Entry {
    ip: Option<IpAddr>,
    method: String,
    path: String,
    key_fingerprint: Option<String>,
    allowed: Option<bool>,
}

impl Entry {
    fn with_allowed(&self, allowed: Option<bool>) -> Entry {
        Entry {
            ip: self.ip,
            method: self.method.clone(),
            path: self.path.clone(),
            key_fingerprint: self.key_fingerprint.clone(),
            allowed,
        }
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Entry>>);

impl Observer for Recorder {
    fn observe(&self, seen: &Seen<'_>) {
        self.0.lock().unwrap().push(Entry {
            ip: seen.ip,
            method: seen.method.to_string(),
            path: seen.path.to_string(),
            key_fingerprint: seen.key_fingerprint(),
            allowed: seen.verdict.ok().map(|v| v.allowed),
        });
    }
}

fn limiter(yaml: &str) -> Arc<Limiter> {
    let policy = parse_policy("inline", yaml).unwrap();
    Arc::new(Limiter::new(
        Arc::new(policy),
        Arc::new(MemoryStore::default()),
    ))
}

fn handle(yaml: &str) -> (LimiterHandle, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let clock = ManualClock::new(Timestamp::from_micros(1_000_000_000));
    let handle = LimiterHandle::with_clock(
        limiter(yaml),
        TrustedProxies::none(),
        Arc::new(clock),
        Some(recorder.clone()),
    );
    (handle, recorder)
}

fn allowed(d: &floodgate_tower::Decided) -> bool {
    d.result.as_ref().expect("decided").allowed
}

#[tokio::test]
async fn decide_request_decides_on_the_current_limiter_and_reports() {
    let (handle, recorder) = handle(POLICY);
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let policy = handle.limiter().policy().clone();
    let req = policy
        .identity
        .request(
            Some(ip),
            "POST",
            "/pay",
            |name| (name == "x-api-key").then_some("sk-live-secret"),
            Origin::default(),
        )
        .unwrap();

    assert!(allowed(&handle.decide_request(&req, 1).await));
    let second = handle.decide_request(&req, 1).await;
    assert!(!allowed(&second));
    assert_eq!(second.cost, 1);

    // A reload: the next decision is on the new limiter's fresh counters.
    handle.swap(limiter(POLICY), TrustedProxies::none());
    assert!(allowed(&handle.decide_request(&req, 1).await));

    let seen = recorder.0.lock().unwrap();
    let expected = |allowed| Entry {
        ip: Some(ip),
        method: "POST".into(),
        path: "/pay".into(),
        key_fingerprint: Some(fingerprint("sk-live-secret")),
        allowed: Some(allowed),
    };
    assert_eq!(*seen, vec![expected(true), expected(false), expected(true)]);
    // The observer never gets the key itself.
    assert!(!format!("{seen:?}").contains("sk-live-secret"));
}

#[tokio::test]
async fn decide_and_decide_request_share_counters_and_reports() {
    let (handle, recorder) = handle(POLICY);
    let ip: IpAddr = "198.51.100.3".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("X-Api-Key", "k1".parse().unwrap());
    assert!(allowed(
        &handle.decide(Some(ip), "GET", "/a", &headers, 1).await
    ));
    // The same key, prepared by hand, finds its counter spent.
    let policy = handle.limiter().policy().clone();
    let req = policy
        .identity
        .request(
            Some(ip),
            "GET",
            "/a",
            |n| (n == "x-api-key").then_some("k1"),
            Origin::default(),
        )
        .unwrap();
    assert!(!allowed(&handle.decide_request(&req, 1).await));
    let seen = recorder.0.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1].with_allowed(Some(true)));
}

#[tokio::test]
async fn a_query_string_does_not_change_the_route_key() {
    let (handle, recorder) = handle(PER_ROUTE);
    let headers = HeaderMap::new();
    let peer = Some("203.0.113.9".parse().unwrap());
    assert!(allowed(
        &handle.decide(peer, "GET", "/a?x=1", &headers, 1).await
    ));
    assert!(!allowed(
        &handle.decide(peer, "GET", "/a", &headers, 1).await
    ));
    assert!(!allowed(
        &handle.decide_for(peer, "GET", "/a?y=2", &headers, 1).await
    ));
    // Another route has its own counter.
    assert!(allowed(
        &handle.decide(peer, "GET", "/b", &headers, 1).await
    ));
    let paths: Vec<String> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(paths, ["/a", "/a", "/a", "/b"]);
}

#[tokio::test]
async fn an_empty_api_key_counts_as_absent() {
    let yaml = format!("{POLICY}identity: {{ require_api_key: true }}\n");
    let (handle, recorder) = handle(&yaml);
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", "".parse().unwrap());
    let d = handle.decide(None, "GET", "/", &headers, 1).await;
    assert!(matches!(d.result, Err(CheckError::MissingApiKey)));
    let seen = recorder.0.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].key_fingerprint, None);
    assert_eq!(seen[0].allowed, None);
}
