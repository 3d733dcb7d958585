//! Every request example is accepted, and every GET answers as
//! documented.

use serde_json::Value;

use super::common::*;
use super::doc::*;
use super::START;

/// An operation's request example: `(path, method, operation, media
/// type, example)`.
type Example = (String, String, Value, String, Value);

/// Every request example of the document.
fn request_examples(doc: &Value) -> Vec<Example> {
    let mut examples = Vec::new();
    for (path, method, op) in operations(doc) {
        let Some(body) = op.get("requestBody") else {
            continue;
        };
        for (media, mt) in body["content"].as_object().unwrap() {
            examples.push((
                path.clone(),
                method.clone(),
                op.clone(),
                media.clone(),
                mt["example"].clone(),
            ));
        }
    }
    examples
}

#[tokio::test]
async fn every_request_example_is_accepted() {
    let doc = document();
    let s = start(START).await;
    let base = format!("http://{}", s.admin);
    let mut examples = request_examples(&doc);
    assert!(examples.len() >= 10, "{} examples", examples.len());
    // The whole policy first (it makes the rule, tiers and client the other
    // examples name), the rollback last.
    let rank = |path: &str, method: &str| match (path, method) {
        ("/v1/policy", "put") => 0,
        ("/v1/policy/rollback", _) => 2,
        _ => 1,
    };
    examples.sort_by_key(|e| rank(&e.0, &e.1));
    let mut sent = 0;
    let mut gets_checked = false;
    for example in &examples {
        if rank(&example.0, &example.1) == 2 && !gets_checked {
            // Every GET answers as documented, on the state the examples
            // made (before the rollback undoes it).
            check_gets(&doc, &base).await;
            gets_checked = true;
        }
        send_example(&doc, &base, example).await;
        sent += 1;
    }
    assert_eq!(sent, examples.len());
    assert!(gets_checked);
    s.running.shutdown().await.unwrap();
}

/// Sends one request example: it fits its schema, is accepted, and the
/// answer is as documented.
async fn send_example(doc: &Value, base: &str, example: &Example) {
    let (path, method, op, media, example) = example;
    if media == "application/json" {
        if let Some(e) = misfit(
            doc,
            &op["requestBody"]["content"][media]["schema"],
            example,
            "example",
        ) {
            panic!("{method} {path}: the example does not fit its schema: {e}");
        }
    }
    let body = match example {
        Value::String(text) if media != "application/json" => text.clone(),
        v => v.to_string(),
    };
    let url = sample_url(doc, base, path, op);
    let etag;
    let mut headers = vec![("content-type", media.as_str())];
    if needs_if_match(doc, path, op) {
        etag = get(&format!("{base}/v1/policy"), &[])
            .await
            .header("etag")
            .expect("an ETag")
            .to_string();
        headers.push(("if-match", etag.as_str()));
    }
    let r = send(&method.to_uppercase(), &url, &headers, body).await;
    if matches!(path.as_str(), "/v1/release" | "/v1/renew") {
        // The example names a lease nobody holds: well formed (no
        // 400), it finds no slot. (tests/concurrency.rs releases and
        // renews leases that are held.)
        assert_eq!(r.status, 404, "{method} {url}");
        assert_eq!(r.json()["error"], "lease_not_found");
    } else {
        assert!(
            r.status.is_success(),
            "{method} {url} ({media}) refused its example: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_documented_answer(doc, path, method, op, &r);
}

/// Every GET of the document, with its sample parameters, answers 2xx as
/// documented.
async fn check_gets(doc: &Value, base: &str) {
    let mut n = 0;
    for (path, method, op) in operations(doc) {
        if method != "get" {
            continue;
        }
        let url = sample_url(doc, base, &path, &op);
        let r = get(&url, &[]).await;
        assert!(
            r.status.is_success(),
            "GET {url}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert_documented_answer(doc, &path, &method, &op, &r);
        n += 1;
    }
    assert!(n >= 10, "{n} GETs");
}
