//! The frame written by hand against prost's encoding of the same
//! response (`status::response`), byte for byte.

use std::sync::Arc;
use std::time::Duration;

use floodgate_core::policy::{DescriptorVerdict, LimitOutcome, Verdict};
use floodgate_core::{Decision, Quota, Rate, RetryAfter, Timestamp};

use super::response_frame;
use crate::decide::grpc::{status, unary};

fn now() -> Timestamp {
    Timestamp::from_micros(1_700_000_000_250_000)
}

fn outcome(
    rule: &str,
    limit: &str,
    quota: Quota,
    decision: Decision,
    shadow: bool,
) -> LimitOutcome {
    LimitOutcome {
        rule: Arc::from(rule),
        limit: Arc::from(limit),
        quota,
        shadow,
        soft: None,
        decision,
    }
}

fn allowed(limit: u64, remaining: u64, reset_after: Duration) -> Decision {
    Decision {
        allowed: true,
        limit,
        remaining,
        reset_after,
        retry_after: None,
        delay: Duration::ZERO,
    }
}

fn denied(limit: u64, reset_after: Duration, retry: Option<RetryAfter>) -> Decision {
    Decision {
        allowed: false,
        remaining: 0,
        retry_after: retry,
        ..allowed(limit, 0, reset_after)
    }
}

fn verdict(outcomes: Vec<(usize, LimitOutcome)>) -> DescriptorVerdict {
    let (descriptor, outcomes): (Vec<usize>, Vec<LimitOutcome>) = outcomes.into_iter().unzip();
    DescriptorVerdict {
        verdict: Verdict {
            allowed: outcomes.iter().all(|o| o.shadow || o.decision.allowed),
            tier: None,
            outcomes,
        },
        descriptor,
    }
}

fn assert_same(v: &DescriptorVerdict, count: usize, what: &str) {
    let expected = unary::frame(&status::response(v, count, now()));
    assert_eq!(
        &response_frame(v, count, now())[..],
        &expected[..],
        "{what}"
    );
}

#[test]
fn the_frame_is_prosts_encoding_of_the_response() {
    let fw = Quota::fixed_window(40, Duration::from_secs(4)).unwrap();
    let tb = Quota::token_bucket(100, Rate::new(10, Duration::from_secs(1)).unwrap()).unwrap();
    let day = Quota::fixed_window(5_000, Duration::from_secs(7 * 86_400)).unwrap();
    let secs = |s: u64| Duration::from_secs(s);

    assert_same(
        &verdict(vec![(
            0,
            outcome(
                "per-key",
                "per-key",
                fw,
                allowed(40, 39, Duration::from_millis(1_500)),
                false,
            ),
        )]),
        1,
        "one descriptor, allowed",
    );
    assert_same(
        &verdict(vec![
            (
                0,
                outcome(
                    "edge",
                    "burst",
                    tb,
                    allowed(100, 7, Duration::from_micros(930_001)),
                    false,
                ),
            ),
            (
                0,
                outcome(
                    "edge",
                    "weekly",
                    day,
                    allowed(5_000, 4_000, secs(86_400 * 3)),
                    false,
                ),
            ),
            (
                2,
                outcome(
                    "login",
                    "minute",
                    fw,
                    denied(
                        40,
                        secs(3),
                        Some(RetryAfter::After(Duration::from_millis(2_100))),
                    ),
                    false,
                ),
            ),
            (
                2,
                outcome(
                    "login",
                    "shadow",
                    fw,
                    denied(40, secs(3), Some(RetryAfter::After(secs(9)))),
                    true,
                ),
            ),
        ]),
        3,
        "three descriptors: two limits, none, a denial and a shadow denial",
    );
    assert_same(
        &verdict(vec![(
            0,
            outcome(
                "r",
                "never",
                fw,
                denied(0, Duration::ZERO, Some(RetryAfter::Never)),
                false,
            ),
        )]),
        1,
        "a limit of 0: no requests per unit, an empty duration, no retry-after",
    );
    assert_same(
        &verdict(vec![(
            0,
            outcome(
                "r",
                "unavailable",
                fw,
                denied(40, secs(1), Some(RetryAfter::Unavailable(secs(1)))),
                false,
            ),
        )]),
        1,
        "the store's absence",
    );
    assert_same(
        &verdict(vec![(
            0,
            outcome(
                "r\u{e9}\"q",
                "big",
                day,
                allowed(u64::MAX, u64::MAX, Duration::from_secs(1 << 40)),
                false,
            ),
        )]),
        1,
        "past u32, and a name to escape",
    );
    // Names of 64 bytes each: `rule/limit` of 129 bytes, whose length
    // and the status' take two bytes as varints.
    let long = "n".repeat(64);
    assert_same(
        &verdict(vec![(
            0,
            outcome(
                &long,
                &long,
                fw,
                allowed(40, 1, Duration::from_millis(10)),
                false,
            ),
        )]),
        1,
        "names whose lengths take two-byte varints",
    );
    assert_same(&verdict(vec![]), 2, "no rule matched");
    assert_same(
        &verdict(vec![(
            1,
            outcome("s", "shadow-only", fw, denied(40, secs(2), None), true),
        )]),
        2,
        "a shadow rule only",
    );
}
