//! The routes the admin router registers (read from its source) are the
//! documented ones, and the running server answers each of them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::common::*;
use super::doc::*;
use super::{METHODS, NO_SUCH_ENDPOINT, START};

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
