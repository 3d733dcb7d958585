//! The OpenAPI document of the admin API, kept true: it is OpenAPI 3.1 and
//! is what `GET /v1/openapi.json` serves; it documents exactly the routes
//! the admin router registers (read from the source) with their methods,
//! and the running server answers each of them; every request example is
//! accepted, and every answer fits its documented schema; `PUT
//! /v1/policy` gives every status documented for it, and no other.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// The router fallback's message (a handler's 404 names what is missing).
const NO_SUCH_ENDPOINT: &str = "no such admin endpoint";

/// The policy the examples are sent to.
const START: &str = "listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\ntiers: [free, pro]\ndefault_tier: free\nrules:\n  - name: api\n    match: { path: /api/v1/data }\n    key: api_key\n    limits:\n      - { algorithm: fixed_window, limit: 2, window: 1h }\n";

fn document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../floodgate-admin/src/openapi.json"
    );
    let text = std::fs::read_to_string(path).expect("the document exists");
    serde_json::from_str(&text).expect("the document is JSON")
}

/// Follows `$ref` (`#/components/...`) until a value that is none.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r}: only local references"));
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{r} names nothing"));
    }
    v
}

/// Every `(path, method, operation)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

/// The parameters of an operation (its path item's and its own), resolved.
fn parameters(doc: &Value, path: &str, op: &Value) -> Vec<Value> {
    let item = &doc["paths"][path];
    item["parameters"]
        .as_array()
        .into_iter()
        .chain(op["parameters"].as_array())
        .flatten()
        .map(|p| resolve(doc, p).clone())
        .collect()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The path with every path parameter replaced by its example, and the
/// required query parameters added.
fn sample_url(doc: &Value, base: &str, path: &str, op: &Value) -> String {
    let mut url = path.to_string();
    let mut query = Vec::new();
    for p in parameters(doc, path, op) {
        let name = p["name"].as_str().expect("a parameter name");
        let example = p["example"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: parameter {name} has no example"));
        match p["in"].as_str() {
            Some("path") => url = url.replace(&format!("{{{name}}}"), &percent_encode(example)),
            Some("query") if p["required"] == true => {
                query.push(format!("{name}={}", percent_encode(example)))
            }
            _ => {}
        }
    }
    assert!(
        !url.contains('{'),
        "{path}: a path parameter is not documented"
    );
    if query.is_empty() {
        format!("{base}{url}")
    } else {
        format!("{base}{url}?{}", query.join("&"))
    }
}

fn needs_if_match(doc: &Value, path: &str, op: &Value) -> bool {
    parameters(doc, path, op)
        .iter()
        .any(|p| p["in"] == "header" && p["name"] == "If-Match" && p["required"] == true)
}

/// Why `value` does not fit `schema`, if it does not (the subset of JSON
/// Schema the document uses).
fn misfit(doc: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    let schema = resolve(doc, schema);
    if let Some(all) = schema["allOf"].as_array() {
        if let Some(e) = all.iter().find_map(|s| misfit(doc, s, value, at)) {
            return Some(e);
        }
    }
    if let Some(one) = schema["oneOf"].as_array() {
        if one.iter().all(|s| misfit(doc, s, value, at).is_some()) {
            return Some(format!("{at}: {value} fits none of oneOf"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            return Some(format!("{at}: {value} is not {c}"));
        }
    }
    if let Some(e) = schema["enum"].as_array() {
        if !e.contains(value) {
            return Some(format!("{at}: {value} is not one of {e:?}"));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{at}: type {t}"),
        };
        let fits = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("{at}: unknown type {other}"),
        });
        if !fits {
            return Some(format!("{at}: {value} is not {t}"));
        }
    }
    if let Some(obj) = value.as_object() {
        let props = schema["properties"].as_object();
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return Some(format!("{at}: `{r}` is required"));
            }
        }
        for (k, v) in obj {
            let here = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => {
                    if let Some(e) = misfit(doc, s, v, &here) {
                        return Some(e);
                    }
                }
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Some(format!("{here}: not a documented property"))
                    }
                    Some(s @ Value::Object(_)) => {
                        if let Some(e) = misfit(doc, s, v, &here) {
                            return Some(e);
                        }
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            if let Some(e) = misfit(doc, items, v, &format!("{at}[{i}]")) {
                return Some(e);
            }
        }
    }
    None
}

/// Checks an answer against what the document says of its status.
fn assert_documented_answer(doc: &Value, path: &str, method: &str, op: &Value, r: &Reply) {
    let status = r.status.as_str();
    let Some(response) = op["responses"].get(status) else {
        panic!(
            "{method} {path} answered {status}, which is not documented: {}",
            String::from_utf8_lossy(&r.body)
        );
    };
    let response = resolve(doc, response);
    if let Some(schema) = response["content"]["application/json"].get("schema") {
        if r.header("content-type") == Some("application/json") {
            if let Some(e) = misfit(doc, schema, &r.json(), "answer") {
                panic!("{method} {path} {status}: {e}");
            }
        }
    }
    if response["headers"].get("ETag").is_some() {
        assert!(
            r.header("etag").is_some(),
            "{method} {path} {status}: ETag documented, none sent"
        );
    }
}

/// `(path, methods)` of each `.route("…", …)` call of `src`: the methods are
/// the calls `get(`, `put(`, `post(`, `patch(`, `delete(` in the route's
/// method chain.
fn routes_in(src: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let Some(quoted) = rest.trim_start().strip_prefix('"') else {
            continue;
        };
        let end = quoted.find('"').expect("a closing quote");
        let path = quoted[..end].to_string();
        let after = &quoted[end + 1..];
        let mut depth = 1;
        let close = after
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(k, _)| k)
            .expect("the route call closes");
        let chain = &after[..close];
        let methods = METHODS
            .iter()
            .filter(|m| {
                let call = format!("{m}(");
                chain.match_indices(&call).any(|(k, _)| {
                    chain[..k]
                        .chars()
                        .last()
                        .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'))
                })
            })
            .map(|m| m.to_string())
            .collect();
        out.push((path, methods));
    }
    out
}

fn registered_routes() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for file in [
        "../floodgate-admin/src/api/mod.rs",
        "../floodgate-admin/src/lib.rs",
        "src/app/admin.rs",
        "src/decide/mod.rs",
    ] {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).expect("the router's source");
        for (route, methods) in routes_in(&src) {
            assert!(!methods.is_empty(), "{file}: no method found for {route}");
            let prev = out.insert(route.clone(), methods);
            assert!(prev.is_none(), "{route} is registered twice");
        }
    }
    out
}

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

#[tokio::test]
async fn every_route_is_documented_and_answered() {
    let doc = document();
    let registered = registered_routes();
    assert!(
        registered.len() >= 15 && registered["/v1/policy"].contains("put"),
        "the source was read: {registered:?}"
    );
    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .cloned()
                .collect();
            (p.clone(), methods)
        })
        .collect();
    for (route, methods) in &registered {
        assert_eq!(
            documented.get(route),
            Some(methods),
            "{route}: the router answers {methods:?}"
        );
    }
    for route in documented.keys() {
        assert!(
            registered.contains_key(route),
            "{route} is documented but not registered"
        );
    }

    // The running server answers each documented method of each path, and
    // a JSON 405 for every other method.
    let s = start(START).await;
    let base = format!("http://{}", s.admin);
    let r = get(&format!("{base}/v1/no-such-thing"), &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], NO_SUCH_ENDPOINT);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let documented = item.get(method);
            let op = documented.unwrap_or(&Value::Null);
            let url = sample_url(&doc, &base, path, op);
            let body = op["requestBody"]["content"]["application/json"]["example"].to_string();
            let body = if op.get("requestBody").is_some() {
                body
            } else {
                String::new()
            };
            let r = send(
                &method.to_uppercase(),
                &url,
                &[("content-type", "application/json")],
                body,
            )
            .await;
            if documented.is_some() {
                let fallback = r.status == 404
                    && serde_json::from_slice::<Value>(&r.body)
                        .is_ok_and(|b| b["message"] == NO_SUCH_ENDPOINT);
                assert!(!fallback, "{method} {url}: no such route");
                assert_ne!(r.status, 405, "{method} {url}: method not routed");
            } else {
                assert_eq!(r.status, 405, "{method} {url} is not documented");
                assert_eq!(r.json()["error"], "method_not_allowed");
                assert!(r.json()["message"].is_string());
            }
        }
    }
    s.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_request_example_is_accepted() {
    let doc = document();
    let s = start(START).await;
    let base = format!("http://{}", s.admin);
    let mut examples = Vec::new();
    for (path, method, op) in operations(&doc) {
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
    for (path, method, op, media, example) in &examples {
        if rank(path, method) == 2 && !gets_checked {
            // Every GET answers as documented, on the state the examples
            // made (before the rollback undoes it).
            check_gets(&doc, &base).await;
            gets_checked = true;
        }
        if media == "application/json" {
            if let Some(e) = misfit(
                &doc,
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
        let url = sample_url(&doc, &base, path, op);
        let etag;
        let mut headers = vec![("content-type", media.as_str())];
        if needs_if_match(&doc, path, op) {
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
        assert_documented_answer(&doc, path, method, op, &r);
        sent += 1;
    }
    assert_eq!(sent, examples.len());
    assert!(gets_checked);
    s.running.shutdown().await.unwrap();
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

/// Request headers, owned.
type Headers = Vec<(&'static str, String)>;

const OPS_TOKEN: &str = "ops-token-0001";
const CI_TOKEN: &str = "ci-token-0001";

#[tokio::test]
async fn put_policy_gives_every_documented_status() {
    let doc = document();
    let op = doc["paths"]["/v1/policy"]["put"].clone();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("policy-state.json");
    let yaml = format!(
        "{START}admin:\n  listen: 127.0.0.1:0\n  state_file: {}\n  tokens:\n    - {{ name: ops, role: admin, sha256: 05f6eaa0482a1a816fc0329ed8589a048d9a6236a9287e65a13d3f28a6fdfde9 }}\n    - {{ name: ci, role: read, sha256: fcb7f71dde0ee2381fa1f89556744696bfbf882191abf0fb47a6993a513de5c4 }}\n",
        state.display()
    )
    .replace("admin: { listen: 127.0.0.1:0 }\n", "");
    let s = start(&yaml).await;
    let url = format!("http://{}/v1/policy", s.admin);
    let ops = format!("Bearer {OPS_TOKEN}");
    let ci = format!("Bearer {CI_TOKEN}");
    let current = get(&url, &[("authorization", &ops)]).await;
    assert_eq!(current.status, 200);
    let policy = current.json();
    let mut invalid = policy.clone();
    invalid["rules"][0]["limits"][0]["limit"] = 0.into();
    // Real changes (a policy put back unchanged makes no new version).
    let changed = |by: u64| {
        let mut p = policy.clone();
        let limit = p["rules"][0]["limits"][0]["limit"].as_u64().unwrap();
        p["rules"][0]["limits"][0]["limit"] = (limit + by).into();
        p.to_string()
    };
    let (good, good_again, bad) = (changed(1), changed(2), invalid.to_string());

    let mut seen = BTreeMap::new();
    let put = |headers: Headers, body: &str| {
        let url = url.clone();
        let body = body.to_string();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send("PUT", &url, &h, body).await
        }
    };
    let auth = |t: &str| ("authorization", t.to_string());
    let cases: Vec<(u16, Headers, &str)> = vec![
        (200, vec![auth(&ops), ("if-match", "\"1\"".into())], &good),
        (400, vec![auth(&ops), ("if-match", "one".into())], &good),
        (403, vec![auth(&ci), ("if-match", "\"2\"".into())], &good),
        (409, vec![auth(&ops), ("if-match", "\"1\"".into())], &good),
        (422, vec![auth(&ops), ("if-match", "\"2\"".into())], &bad),
        (428, vec![auth(&ops)], &good),
    ];
    for (want, headers, body) in cases {
        let r = put(headers, body).await;
        assert_eq!(r.status, want, "{}", String::from_utf8_lossy(&r.body));
        assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
        seen.insert(want, ());
    }
    // Over the admin listener's body bound (1 MiB by default): 413.
    let huge = format!("{{\"tiers\": [\"{}\"]}}", "x".repeat(2 << 20));
    let r = put(vec![auth(&ops), ("if-match", "\"2\"".into())], &huge).await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
    seen.insert(413, ());
    // The state file cannot be written: 503, nothing changed.
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    let r = put(vec![auth(&ops), ("if-match", "\"2\"".into())], &good_again).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
    seen.insert(503, ());
    // No token: 401; failing again and again: 429.
    let r = put(vec![("if-match", "\"2\"".into())], &good).await;
    assert_eq!(r.status, 401);
    assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
    seen.insert(401, ());
    let mut last = r.status;
    for _ in 0..20 {
        let r = put(
            vec![auth("Bearer wrong-token"), ("if-match", "\"2\"".into())],
            &good,
        )
        .await;
        last = r.status;
        if last == 429 {
            assert_documented_answer(&doc, "/v1/policy", "put", &op, &r);
            assert!(r.header("retry-after").is_some());
            break;
        }
    }
    assert_eq!(last, 429);
    seen.insert(429, ());

    let documented: BTreeSet<u16> = op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    let produced: BTreeSet<u16> = seen.into_keys().collect();
    assert_eq!(documented, produced);
    s.running.shutdown().await.unwrap();
}
