//! The OpenAPI document of the admin API, kept true: it is OpenAPI 3.1 and
//! is what `GET /v1/openapi.json` serves; it documents exactly the routes
//! the admin router registers (read from the source) with their methods,
//! and the running server answers each of them; every request example is
//! accepted, and every answer fits its documented schema; `PUT
//! /v1/policy` gives every status documented for it, and no other.

#[path = "../common/mod.rs"]
mod common;
mod doc;
mod examples;
mod put_policy;
mod routes;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

use doc::*;

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// The router fallback's message (a handler's 404 names what is missing).
const NO_SUCH_ENDPOINT: &str = "no such admin endpoint";

/// The policy the examples are sent to.
const START: &str = "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\ntiers: [free, pro]\ndefault_tier: free\nrules:\n  - name: api\n    match: { path: /api/v1/data }\n    key: api_key\n    limits:\n      - { algorithm: fixed_window, limit: 2, window: 1h }\n";

#[tokio::test]
async fn the_document_is_openapi_3_1_and_served() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert!(!doc["paths"].as_object().expect("paths").is_empty());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every reference resolves.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50, "the document shares its schemas");
    for r in all {
        assert!(
            doc.pointer(r.trim_start_matches('#')).is_some(),
            "{r} names nothing"
        );
    }
    // Each operation: an id, responses, and an example for every body.
    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_string()), "{id} twice");
        assert!(
            !op["responses"].as_object().expect("responses").is_empty(),
            "{method} {path}"
        );
        if let Some(body) = op.get("requestBody") {
            for (media, mt) in body["content"].as_object().expect("content") {
                assert!(
                    mt.get("example").is_some(),
                    "{method} {path} {media}: no example"
                );
            }
        }
    }

    let s = start(START).await;
    let r = get(&format!("http://{}/v1/openapi.json", s.admin), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), doc, "the served document is the file");
    s.running.shutdown().await.unwrap();
}
