use super::*;

const FAST: Duration = Duration::from_millis(10);
const SLOW: Duration = Duration::from_millis(60);

/// A controller that has learned a 10 ms upstream while idle.
fn learned(min: usize, max: usize) -> Aimd {
    let mut a = Aimd::new(min, max, 2.0);
    for _ in 0..1000 {
        a.on_sample(FAST, false, 0);
    }
    a
}

/// `baseline` is `expected`, but for the rounding of a mean.
fn near(baseline: Option<Duration>, expected: Duration) -> bool {
    baseline.is_some_and(|b| b.abs_diff(expected) < Duration::from_nanos(10))
}

/// A controller that has seen one window of `latency` while idle.
fn idle(min: usize, max: usize, latency: Duration) -> Aimd {
    let mut a = Aimd::new(min, max, 2.0);
    for _ in 0..WINDOW {
        a.on_sample(latency, false, 0);
    }
    a
}

/// A controller at `limit`, grown there in slow start on a 10 ms upstream.
fn grown(min: usize, max: usize, limit: usize) -> Aimd {
    let mut a = learned(min, max);
    while a.limit() < limit {
        let n = a.limit();
        a.on_sample(FAST, false, n - 1);
    }
    a
}

#[test]
fn congestion_confirmed_over_a_round_trip_lowers_the_bound_once_per_window() {
    let mut a = grown(250, 1000, 1000);
    assert_eq!(a.limit(), 1000);
    // Just past the threshold (21 ms against 2 x 10 ms, with the slack):
    // the recent average needs a few slow answers to rise, then a round
    // trip (the 600 in flight) to confirm it, then the bound drops by 10%;
    // the 599 others that were in flight with that answer do not lower it
    // again, and the next drop is confirmed over a round trip of its own.
    let just_past = Duration::from_millis(22);
    let mut n = 0;
    while a.on_sample(just_past, false, 600) == 1000 {
        n += 1;
        assert!(n < 700, "never lowered");
    }
    assert!(n > 600, "lowered after {n}");
    assert_eq!(a.limit(), 900);
    // Samples until the bound moves again, and where to.
    let next = |a: &mut Aimd, l: Duration| {
        let before = a.limit();
        let mut n = 1;
        while a.on_sample(l, false, 600) == before {
            n += 1;
            assert!(n < 2_000, "never lowered");
        }
        (n, a.limit())
    };
    let (n, limit) = next(&mut a, just_past);
    assert_eq!(limit, 810);
    assert!((600..=602).contains(&n), "after {n}");
    // Far past it (60 ms), the next drop halves it at most.
    let (n, limit) = next(&mut a, SLOW);
    assert_eq!(limit, 405);
    assert!((600..=602).contains(&n), "after {n}");
}

#[test]
fn a_short_spike_is_not_congestion() {
    let mut a = grown(250, 1000, 1000);
    // Slow answers for less than a round trip, then timely ones.
    for _ in 0..300 {
        a.on_sample(SLOW, false, 600);
    }
    for _ in 0..1_000 {
        a.on_sample(FAST, false, 600);
    }
    assert_eq!(a.limit(), 1000);
}

#[test]
fn it_starts_low_and_doubles_per_window_until_the_first_congestion() {
    let mut a = learned(16, 1024);
    assert_eq!(a.limit(), 64);
    // In use and timely: one more per answer.
    for _ in 0..64 {
        let n = a.limit();
        a.on_sample(FAST, false, n / 2);
    }
    assert_eq!(a.limit(), 128);
    // After a congestion, one more per window.
    while a.on_sample(SLOW, false, 100) >= 128 {}
    let after = a.limit();
    for _ in 0..2_000 {
        a.on_sample(FAST, false, after);
    }
    // About 2,000 / the bound, where slow start would have added 2,000.
    assert!(a.limit() < after + 35, "{} from {after}", a.limit());
    assert!(a.limit() > after, "{} from {after}", a.limit());
}

#[test]
fn the_bound_never_leaves_its_range() {
    let mut a = learned(16, 64);
    for _ in 0..10_000 {
        let n = a.limit();
        a.on_sample(SLOW, true, n);
    }
    assert_eq!(a.limit(), 16);
    for _ in 0..100_000 {
        a.on_sample(FAST, false, 64);
    }
    assert_eq!(a.limit(), 64);
}

#[test]
fn it_moves_only_while_in_use() {
    let mut a = grown(10, 200, 200);
    // Slow answers with few in flight: the upstream's own pace, not a line
    // behind the bound.
    for _ in 0..2_000 {
        a.on_sample(SLOW, false, 20);
    }
    assert_eq!(a.limit(), 200);
    // With the bound in use, they lower it.
    for _ in 0..5_000 {
        let n = a.limit();
        a.on_sample(SLOW, false, n);
    }
    let low = a.limit();
    assert!(low < 50, "{low}");
    // Idle: answers are fast, and it drifts back to where it started, not
    // higher: nobody needs more.
    for _ in 0..10_000 {
        a.on_sample(FAST, false, 1);
    }
    assert_eq!(a.limit(), 40);
    // Busy and fast: it climbs back.
    for _ in 0..10_000 {
        let n = a.limit();
        a.on_sample(FAST, false, n);
    }
    assert!(a.limit() > 80, "{} after {low}", a.limit());
}

#[test]
fn failures_count_as_congestion_and_teach_nothing() {
    let mut a = idle(25, 100, FAST);
    // Failures while the bound is in use lower it, once confirmed over a
    // round trip; their latency is not learned.
    for _ in 0..61 {
        assert_eq!(a.on_sample(Duration::from_micros(100), true, 60), 100);
    }
    assert_eq!(a.on_sample(Duration::from_micros(100), true, 60), 90);
    assert!(near(a.baseline(), FAST));
    // One with few in flight changes nothing.
    let mut b = idle(25, 100, FAST);
    assert_eq!(b.on_sample(FAST, true, 3), 100);
}

#[test]
fn one_fast_answer_does_not_pin_the_baseline() {
    let mut a = Aimd::new(16, 1000, 2.0);
    // A 0.1 ms answer (a 404, say), then a steady 20 ms endpoint.
    a.on_sample(Duration::from_micros(100), false, 0);
    for _ in 0..5_000 {
        let n = a.limit();
        a.on_sample(Duration::from_millis(20), false, n / 2);
    }
    assert!(a.limit() > 500, "stuck at {}", a.limit());
}

#[test]
fn a_mix_of_fast_and_slow_endpoints_is_no_congestion() {
    let mut a = Aimd::new(16, 1000, 2.0);
    for i in 0..20_000 {
        let l = if i % 4 == 0 { 40 } else { 2 };
        let n = a.limit();
        a.on_sample(Duration::from_millis(l), false, n / 2);
    }
    assert_eq!(a.limit(), 1000);
}

#[test]
fn tiny_latencies_within_the_slack_are_not_congestion() {
    let mut a = idle(25, 100, Duration::from_micros(50));
    for _ in 0..100 {
        assert_eq!(a.on_sample(Duration::from_micros(400), false, 60), 100);
    }
}

#[test]
fn an_overload_does_not_teach_the_baseline_but_a_lasting_change_does() {
    let mut a = grown(1, 100, 100);
    // 20,000 slow answers with the bound full (an overload): the lowest
    // free window is still the unloaded one.
    for _ in 0..20_000 {
        let n = a.limit();
        a.on_sample(Duration::from_millis(40), false, n);
    }
    assert!(near(a.baseline(), FAST));
    // A lasting change outlives every window that remembers 10 ms.
    for _ in 0..(WINDOW as usize * WINDOWS) {
        a.on_sample(Duration::from_millis(15), false, 5);
    }
    let b = a.baseline().unwrap();
    assert!(b > Duration::from_millis(14), "{b:?}");
    // And 25 ms is now no congestion.
    let before = a.limit();
    assert!(a.on_sample(Duration::from_millis(25), false, before) >= before);
}

#[test]
fn a_start_under_overload_probes_at_the_floor() {
    let mut a = Aimd::new(16, 1024, 1.2);
    assert_eq!(a.limit(), 64);
    // The first answer comes with the bound full: nothing known is
    // unloaded, so the bound drops to its floor and the 63 answers of
    // requests admitted before are not measured.
    assert_eq!(a.on_sample(Duration::from_millis(80), false, 64), 16);
    assert!(a.probing());
    for _ in 0..63 {
        a.on_sample(Duration::from_millis(80), false, 60);
    }
    assert_eq!(a.baseline(), None);
    // A window at the floor is the unloaded latency.
    for _ in 0..WINDOW {
        assert_eq!(a.on_sample(Duration::from_millis(5), false, 16), 16);
    }
    assert!(!a.probing());
    assert!(near(a.baseline(), Duration::from_millis(5)));
    // Then it grows from the floor while the latency holds.
    for _ in 0..16 {
        a.on_sample(Duration::from_millis(5), false, 16);
    }
    assert_eq!(a.limit(), 32);
}

#[test]
fn a_lasting_slowdown_under_load_is_learned_by_a_probe() {
    let mut a = grown(16, 1024, 64);
    // The upstream is 2.5 x slower for good and the bound stays in use:
    // no window is free, the bound is lowered to its floor, and once the
    // span has forgotten the old latency it probes at the floor.
    let slower = Duration::from_millis(25);
    let mut probed = false;
    for _ in 0..(WINDOW as usize * (WINDOWS + 2)) {
        let n = a.limit();
        a.on_sample(slower, false, n);
        probed |= a.probing();
    }
    assert!(probed);
    assert!(near(a.baseline(), slower));
    assert!(a.limit() > 64, "{}", a.limit());
}
