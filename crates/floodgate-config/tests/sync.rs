//! `sync` in the policy document: a limit's own wins over its rule's, the
//! terms default to a 1 s lease and a tenth of what is left, and mistakes
//! are refused where written.

use floodgate_config::parse_policy;
use floodgate_core::store::SliceTerms;

#[test]
fn a_limit_s_sync_wins_over_its_rule_s() {
    let yaml = "\
tiers: [free, pro]
rules:
  - name: api
    sync: leased
    limits:
      - { name: a, algorithm: token_bucket, capacity: 10, refill: 1/s }
      - { name: b, algorithm: fixed_window, limit: 5, window: 1m, sync: exact }
      - name: c
        algorithm: gcra
        rate: 10/s
        burst: 20
        sync: { mode: leased, lease: 250ms, max_share: 50% }
    tiers:
      pro:
        - { algorithm: sliding_window_counter, limit: 100, window: 1m }
global:
  - { algorithm: token_bucket, capacity: 50000, refill: 50000/s, sync: leased }
  - { algorithm: fixed_window, limit: 10, window: 1s }
";
    let p = parse_policy("p.yaml", yaml).unwrap();
    let l = &p.rules[0].limits;
    assert_eq!(l[0].sync, Some(SliceTerms::default_terms()));
    assert_eq!(l[1].sync, None);
    assert_eq!(
        l[2].sync,
        Some(SliceTerms {
            lease_us: 250_000,
            share_ppm: 500_000
        })
    );
    assert_eq!(
        p.rules[0].tiers["pro"][0].sync,
        Some(SliceTerms::default_terms())
    );
    assert_eq!(p.global[0].sync, Some(SliceTerms::default_terms()));
    assert_eq!(p.global[1].sync, None);
    // The mode changes no counter: the same limit exact or leased shares
    // its id.
    let exact = parse_policy("p.yaml", &yaml.replace("    sync: leased\n", "")).unwrap();
    assert_eq!(exact.rules[0].limits[0].id, l[0].id);
    assert_eq!(exact.rules[0].limits[0].sync, None);
}

#[test]
fn bad_sync_is_refused_where_written() {
    for (yaml, line, field, says) in [
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: fixed_window, limit: 3, window: 1s, sync: later }\n",
            4,
            "rules[0].limits[0].sync.mode",
            "unknown sync mode `later`",
        ),
        (
            "rules:\n  - name: a\n    sync: { mode: leased, lease: 2m }\n    limits:\n      - { algorithm: fixed_window, limit: 3, window: 1s }\n",
            3,
            "rules[0].sync.lease",
            "from 10ms to 60s",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - algorithm: fixed_window\n        limit: 3\n        window: 1s\n        sync: { mode: leased, max_share: 0% }\n",
            7,
            "rules[0].limits[0].sync.max_share",
            "from 0.1% to 100%",
        ),
        (
            "rules:\n  - name: a\n    sync: leased\n    limits:\n      - { algorithm: concurrency, limit: 3 }\n",
            3,
            "rules[0].sync",
            "applies to rate limits",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - algorithm: leaky_bucket\n        capacity: 3\n        rate: 1/s\n        mode: shaping\n        sync: leased\n",
            8,
            "rules[0].limits[0].sync",
            "shaping leaky bucket",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: fixed_window, limit: 3, window: 1s, sync: { mode: exact, lease: 1s } }\n",
            4,
            "rules[0].limits[0].sync",
            "apply to `mode: leased` only",
        ),
        (
            "rules:\n  - name: a\n    limits:\n      - { algorithm: fixed_window, limit: 3, window: 1s, sync: { mode: leased, slices: 4 } }\n",
            4,
            "rules[0].limits[0].sync",
            "unknown field `slices`",
        ),
    ] {
        let e = parse_policy("s.yaml", yaml).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().starts_with("s.yaml:"), "{e}");
        assert!(e.message.contains(says), "{e}");
    }
}
