//! The alert rules shipped in `deploy/prometheus`: `promtool check rules`
//! accepts them, their unit tests pass (`promtool test rules`), and every
//! alert has a test case in which it fires.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::assert_promtool;

fn prometheus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus")
}

fn yaml(name: &str) -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(prometheus_dir().join(name)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    assert_promtool(&prometheus_dir(), &["check", "rules", "alerts.yml"]);
    assert_promtool(&prometheus_dir(), &["test", "rules", "alerts.test.yml"]);
}

#[test]
fn every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not() {
    let rules = yaml("alerts.yml");
    let alerts: BTreeSet<String> = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect();
    assert!(alerts.len() >= 5, "{alerts:?}");
    let tests = yaml("alerts.test.yml");
    let (mut firing, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for t in tests["tests"].as_sequence().unwrap() {
        for case in t["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = case["alertname"].as_str().unwrap().to_string();
            match case["exp_alerts"].as_sequence() {
                Some(s) if !s.is_empty() => firing.insert(name),
                _ => quiet.insert(name),
            };
        }
    }
    assert_eq!(firing, alerts, "alerts tested firing");
    assert_eq!(quiet, alerts, "alerts tested quiet");
}
