//! The Grafana dashboard shipped in `deploy/grafana`: every PromQL
//! expression in it parses (fed to `promtool check rules` as recording
//! rules, Prometheus' own parser) and names only metrics that a real
//! server, started on port 0 on a real Redis behind a gateway, exports;
//! its data source is the provisioned one.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::*;
use floodgate_testkit::redis::RedisServer;

fn grafana_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana")
}

/// Every `expr` in the dashboard, wherever it sits.
fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// Grafana's interval macros, as Grafana would fill them in.
fn expand(expr: &str) -> String {
    let e = expr
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "15m");
    assert!(!e.contains('$'), "unknown Grafana variable in {expr}");
    e
}

/// Removes what lies between `open` and its matching `close` (quotes
/// when both are `"`).
fn strip(s: &str, open: char, close: char) -> String {
    let (mut out, mut depth) = (String::new(), 0);
    for c in s.chars() {
        if depth > 0 {
            if c == close {
                depth -= 1;
            } else if c == open {
                depth += 1;
            }
            continue;
        }
        if c == open {
            depth = 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// The metric names an expression selects: identifiers outside strings,
/// label matchers, ranges and grouping clauses that are not a function,
/// an aggregation or a keyword.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut s = strip(expr, '"', '"');
    s = strip(&s, '{', '}');
    s = strip(&s, '[', ']');
    for kw in [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ] {
        while let Some(i) = find_word(&s, kw) {
            let rest = s[i + kw.len()..].trim_start();
            let end = if rest.starts_with('(') {
                s.len() - rest.len() + rest.find(')').unwrap() + 1
            } else {
                i + kw.len()
            };
            s.replace_range(i..end, " ");
        }
    }
    let mut names = BTreeSet::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let keyword = ["and", "or", "unless", "bool", "offset"].contains(&word.as_str());
            if next != Some(&'(') && !keyword {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

fn find_word(s: &str, word: &str) -> Option<usize> {
    s.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = s[..i].chars().last();
        let after = s[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// Every name a scrape of `text` yields: samples, and each family with
/// its histogram series.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let mut parts = t.split_whitespace();
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            names.insert(name.to_string());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap();
            names.insert(line[..end].to_string());
        }
    }
    names
}

#[test]
fn metric_names_are_found_in_expressions() {
    let e = r#"sum by (rule, limit) (rate(floodgate_x_total{outcome=~"a|b"}[5m])) / on (job) group_left floodgate_y"#;
    assert_eq!(
        metric_names(e),
        BTreeSet::from(["floodgate_x_total".to_string(), "floodgate_y".to_string()])
    );
    assert_eq!(
        metric_names("histogram_quantile(0.99, sum by (le) (rate(up[5m])))"),
        BTreeSet::from(["up".to_string()])
    );
}

#[tokio::test]
async fn every_dashboard_expression_parses_and_names_exported_metrics() {
    let text = std::fs::read_to_string(grafana_dir().join("dashboards/floodgate.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= 15, "{} expressions", all.len());

    // Parse: one recording rule per expression, checked by promtool.
    let rules: Vec<serde_json::Value> = all
        .iter()
        .enumerate()
        .map(|(i, e)| serde_json::json!({"record": format!("grafana:expr_{i}"), "expr": expand(e)}))
        .collect();
    let doc = serde_json::json!({"groups": [{"name": "grafana", "rules": rules}]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grafana-exprs.yml");
    std::fs::write(&path, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    assert_promtool(dir.path(), &["check", "rules", "grafana-exprs.yml"]);

    // Names: all exported by a real server (Redis store, gateway).
    let redis = RedisServer::start();
    let up = upstream().await;
    let s = start(&format!(
        "{BASE}upstream: http://{up}\nstore:\n  kind: redis\n  url: {}\n  time: caller\n",
        redis.url()
    ))
    .await;
    for _ in 0..7 {
        get(&format!("http://{}/api/v1/data", s.public), &[]).await;
    }
    let r = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let exported = exported(&String::from_utf8_lossy(&r.body));
    let mut named = BTreeSet::new();
    for e in &all {
        let names = metric_names(&expand(e));
        assert!(!names.is_empty(), "no metric in {e}");
        named.extend(names);
    }
    let missing: Vec<&String> = named.difference(&exported).collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    s.running.shutdown().await.unwrap();
}

#[test]
fn dashboard_uses_the_provisioned_data_source() {
    let ds: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(grafana_dir().join("provisioning/datasources/prometheus.yml"))
            .unwrap(),
    )
    .unwrap();
    let uid = ds["datasources"][0]["uid"].as_str().unwrap();
    assert_eq!(ds["datasources"][0]["type"].as_str(), Some("prometheus"));
    let providers: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(grafana_dir().join("provisioning/dashboards/floodgate.yml"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(providers["providers"][0]["type"].as_str(), Some("file"));
    let text = std::fs::read_to_string(grafana_dir().join("dashboards/floodgate.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "floodgate");
    let panels = dashboard["panels"].as_array().unwrap();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], uid, "panel {}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], uid, "panel {}", p["title"]);
        }
    }
}
