//! GCRA.

use floodgate_core::Quota;

use super::{after, ms, per_sec, Key, SEC};

// ---------------------------------------------------------------- GCRA

#[test]
fn gcra_spaces_requests_by_the_emission_interval() {
    // 10 per second (T = 100 ms), burst 2.
    let mut k = Key::new(Quota::gcra(per_sec(10), 2).unwrap());
    assert_eq!(k.burst(0, 5), 2);
    let d = k.at(0, 1);
    assert_eq!(d.retry_after, after(100_000));
    assert_eq!(d.reset_after, ms(200));
    // Steady state: one every 100 ms.
    for i in 1..=10 {
        assert!(k.at(i * 100_000, 1).allowed, "request {i}");
        assert!(!k.at(i * 100_000, 1).allowed, "request {i} twice");
    }
    // Idle after 200 ms: the full burst again.
    assert_eq!(k.burst(1_200_000, 5), 2);
}

#[test]
fn gcra_clock_stepping_back_keeps_the_theoretical_arrival_time() {
    let mut k = Key::new(Quota::gcra(per_sec(1), 2).unwrap());
    assert_eq!(k.burst(10 * SEC, 2), 2); // tat = 12 s
    let d = k.at(5 * SEC, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, after(6 * SEC)); // 12 + 1 − 2 = 11 s
    assert_eq!(k.burst(11 * SEC, 3), 1);
}
