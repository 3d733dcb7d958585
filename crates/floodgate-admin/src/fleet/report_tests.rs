//! The fleet report's tests.

use super::*;

fn entry(identity: &str, count: u64) -> TopEntry {
    TopEntry {
        kind: "ip".into(),
        identity: identity.into(),
        client: None,
        tier: None,
        rule: None,
        share: None,
        count,
        error: 0,
    }
}

fn report(name: &str, allowed: u64, top: Vec<TopEntry>) -> Report {
    let t = Totals {
        allowed,
        limited: 1,
        shadow_limited: 0,
        near_limit: 0,
    };
    Report {
        replica: name.into(),
        instance: "i".into(),
        time_ms: 0,
        started_ms: 0,
        policy_version: 1,
        totals: t,
        last_minute: t,
        rules: vec![RuleReport {
            rule: "r".into(),
            totals: t,
            last_minute: t,
        }],
        top_limited: top,
        top_near_limit: Vec::new(),
        latency: Latency::default(),
        store: Value::Null,
        region: None,
    }
}

#[test]
fn only_alive_replicas_count_and_top_lists_add_up() {
    let member = |name: &str, seen_ms: u64, r: Option<Report>| FleetMember {
        replica: name.into(),
        seen_ms,
        report: r.map(|r| serde_json::to_string(&r).unwrap()),
    };
    let members = vec![
        member("b", 9_000, Some(report("b", 5, vec![entry("1.1.1.1", 4)]))),
        member(
            "a",
            10_000,
            Some(report(
                "a",
                7,
                vec![entry("1.1.1.1", 3), entry("2.2.2.2", 5)],
            )),
        ),
        member(
            "gone",
            1_000,
            Some(report("gone", 100, vec![entry("3.3.3.3", 99)])),
        ),
        FleetMember {
            replica: "garbled".into(),
            seen_ms: 10_400,
            report: Some("{\"totals\": 7}".into()),
        },
    ];
    let v = FleetView::new("a", 10_500, 2_000, members, 10);
    assert_eq!((v.alive, v.gone), (3, 1));
    let names: Vec<(&str, bool, bool)> = v
        .replicas
        .iter()
        .map(|r| (r.replica.as_str(), r.alive, r.this))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a", true, true),
            ("b", true, false),
            ("garbled", true, false),
            ("gone", false, false)
        ]
    );
    // Alive, but out of the sums, and saying why.
    assert!(v.replicas[2].report.is_none());
    let why = v.replicas[2].report_error.as_deref().unwrap();
    assert!(why.starts_with("unreadable report"), "{why}");
    // A report of an older or newer version reads, its missing fields
    // empty.
    let old: Report = serde_json::from_str("{\"replica\":\"x\"}").unwrap();
    assert_eq!((old.replica.as_str(), old.totals.allowed), ("x", 0));
    assert_eq!(v.totals.allowed, 12);
    assert_eq!(v.rules.len(), 1);
    assert_eq!(v.rules[0].totals.allowed, 12);
    assert_eq!(v.rules[0].totals.limited, 2);
    let top: Vec<(&str, u64)> = v
        .top_limited
        .iter()
        .map(|e| (e.identity.as_str(), e.count))
        .collect();
    assert_eq!(top, vec![("1.1.1.1", 7), ("2.2.2.2", 5)]);
    assert_eq!(v.replicas[3].age_ms, 9_500);
}

#[test]
fn a_full_report_stays_under_32_kib() {
    // 64 rules of 64-character names (past 64 the analytics count the
    // rest together), full top lists of 64-byte identities.
    let long = |c: char| std::iter::repeat_n(c, 64).collect::<String>();
    let mut r = report("r", u64::MAX, Vec::new());
    let big = Totals {
        allowed: u64::MAX,
        limited: u64::MAX,
        shadow_limited: u64::MAX,
        near_limit: u64::MAX,
    };
    r.totals = big;
    r.last_minute = big;
    r.rules = (0..64)
        .map(|i| RuleReport {
            rule: format!("{i:02}{}", long('r')),
            totals: big,
            last_minute: big,
        })
        .collect();
    let top: Vec<TopEntry> = (0..10)
        .map(|i| TopEntry {
            kind: "api_key".into(),
            identity: format!("{i}{}", long('k')),
            client: Some(long('c')),
            tier: Some(long('t')),
            rule: Some(long('r')),
            share: Some(0.999),
            count: u64::MAX,
            error: u64::MAX,
        })
        .collect();
    r.top_limited = top.clone();
    r.top_near_limit = top;
    let len = serde_json::to_string(&r).unwrap().len();
    assert!(len < 32 * 1024, "{len} bytes");
    assert!(
        len > 24 * 1024,
        "{len} bytes: the test builds a full report"
    );
}

#[test]
fn replicas_are_grouped_by_region() {
    let member = |name: &str, seen_ms: u64, region: &str| FleetMember {
        replica: name.into(),
        seen_ms,
        report: Some(
            serde_json::to_string(&Report {
                region: Some(region.into()),
                ..report(name, 1, Vec::new())
            })
            .unwrap(),
        ),
    };
    let members = vec![
        member("us-2", 10_000, "us"),
        member("eu-1", 10_000, "eu"),
        member("us-1", 1_000, "us"),
        member("eu-2", 10_000, "eu"),
    ];
    let v = FleetView::new("eu-1", 10_000, 5_000, members, 10);
    let order: Vec<(&str, Option<&str>)> = v
        .replicas
        .iter()
        .map(|r| (r.replica.as_str(), r.region.as_deref()))
        .collect();
    assert_eq!(
        order,
        [
            ("eu-1", Some("eu")),
            ("eu-2", Some("eu")),
            ("us-2", Some("us")),
            ("us-1", Some("us")),
        ],
        "by region, alive first"
    );
    let regions: Vec<(&str, usize, usize)> = v
        .regions
        .iter()
        .map(|g| (g.region.as_str(), g.alive, g.gone))
        .collect();
    assert_eq!(regions, [("eu", 2, 0), ("us", 1, 1)]);
}
