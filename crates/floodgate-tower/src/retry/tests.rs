use std::sync::{Arc, Mutex};

use http::HeaderValue;

use super::*;

/// Records the waits asked for; never waits.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Duration>>>);

impl Sleeper for Recorder {
    fn sleep(&self, d: Duration) -> WaitFuture {
        self.0.lock().unwrap().push(d);
        Box::pin(std::future::ready(()))
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_028_800)
    }
}

fn policy() -> RetryPolicy<Recorder> {
    RetryPolicy::new().with_sleeper(Recorder::default())
}

fn retry_after(secs: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("retry-after", HeaderValue::from_str(secs).unwrap());
    h
}

#[test]
fn a_429_waits_at_least_what_the_server_asks() {
    let mut p = policy();
    for _ in 0..50 {
        p.retries = 0;
        let w = p
            .next_wait(StatusCode::TOO_MANY_REQUESTS, &retry_after("5"))
            .unwrap();
        assert!(w >= Duration::from_secs(5), "{w:?}");
        assert!(w <= Duration::from_millis(5_500), "{w:?}");
    }
}

#[test]
fn attempts_are_capped() {
    let mut p = policy().max_retries(2);
    let h = retry_after("1");
    assert!(p.next_wait(StatusCode::TOO_MANY_REQUESTS, &h).is_some());
    assert!(p.next_wait(StatusCode::TOO_MANY_REQUESTS, &h).is_some());
    assert_eq!(p.next_wait(StatusCode::TOO_MANY_REQUESTS, &h), None);
    let mut never = policy().max_retries(0);
    assert_eq!(never.next_wait(StatusCode::TOO_MANY_REQUESTS, &h), None);
}

#[test]
fn waits_past_max_wait_are_not_taken() {
    let mut p = policy().max_wait(Duration::from_secs(30));
    let long = retry_after("3600");
    assert_eq!(p.next_wait(StatusCode::TOO_MANY_REQUESTS, &long), None);
    // Nothing was counted: a shorter wait is still taken.
    assert_eq!(p.retries, 0);
    assert!(p
        .next_wait(StatusCode::TOO_MANY_REQUESTS, &retry_after("2"))
        .is_some());
}

#[test]
fn a_wait_of_exactly_max_wait_is_taken_whatever_the_spread() {
    // The default max_wait is 60 s: `Retry-After: 60` is within it, and
    // the spread added after the comparison never turns it down.
    for _ in 0..200 {
        let mut p = policy();
        let w = p
            .next_wait(StatusCode::TOO_MANY_REQUESTS, &retry_after("60"))
            .expect("retried");
        assert!(w >= Duration::from_secs(60), "{w:?}");
        assert!(w <= Duration::from_secs(61), "{w:?}");
    }
    let mut p = policy();
    assert_eq!(
        p.next_wait(StatusCode::TOO_MANY_REQUESTS, &retry_after("61")),
        None
    );
}

#[test]
fn only_429_and_503_with_a_wait_are_retried() {
    let mut p = policy();
    let h = retry_after("1");
    assert_eq!(p.next_wait(StatusCode::OK, &h), None);
    assert_eq!(p.next_wait(StatusCode::INTERNAL_SERVER_ERROR, &h), None);
    assert_eq!(
        p.next_wait(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new()),
        None
    );
    assert!(p.next_wait(StatusCode::SERVICE_UNAVAILABLE, &h).is_some());
}

#[test]
fn without_a_hint_backoff_doubles_with_jitter_up_to_the_cap() {
    let base = Duration::from_millis(100);
    let max = Duration::from_millis(1_000);
    let mut seen = Vec::new();
    for _ in 0..200 {
        let mut p = policy().max_retries(6).backoff(base, max);
        let waits: Vec<Duration> = (0..6)
            .map(|_| {
                p.next_wait(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new())
                    .unwrap()
            })
            .collect();
        for (n, w) in waits.iter().enumerate() {
            let full = (base * 2u32.pow(n as u32)).min(max);
            assert!(*w >= full / 2 && *w <= full, "retry {n}: {w:?}");
        }
        seen.push(waits[0]);
    }
    // Jittered: two hundred first waits are not all the same.
    seen.sort();
    seen.dedup();
    assert!(seen.len() > 100, "only {} distinct waits", seen.len());
}

#[test]
fn cloned_requests_keep_everything() {
    let mut p = policy();
    let mut req = Request::builder()
        .method("POST")
        .uri("http://example.com/a?b=c")
        .header("x-api-key", "k")
        .body(String::from("payload"))
        .unwrap();
    req.extensions_mut().insert(7u32);
    let copy = <RetryPolicy<Recorder> as Policy<_, Response<()>, ()>>::clone_request(&mut p, &req)
        .unwrap();
    assert_eq!(copy.method(), "POST");
    assert_eq!(copy.uri(), "http://example.com/a?b=c");
    assert_eq!(copy.headers()["x-api-key"], "k");
    assert_eq!(copy.body(), "payload");
    assert_eq!(copy.extensions().get::<u32>(), Some(&7));
}
