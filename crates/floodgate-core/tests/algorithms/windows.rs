//! Fixed window, sliding log and sliding window counter.

use std::time::Duration;

use floodgate_core::Quota;

use super::{after, Key, BASE, SEC};

// ---------------------------------------------------------------- fixed window

#[test]
fn fixed_window_is_epoch_aligned() {
    // 7 s windows: BASE is a multiple of 86 400 s but not of 7 s.
    let w = 7 * SEC;
    let mut k = Key::new(Quota::fixed_window(2, Duration::from_secs(7)).unwrap());
    let start_offset = w - BASE % w; // the first window boundary after BASE
    let d = k.at(start_offset - 1, 2);
    assert!(d.allowed);
    assert_eq!(d.reset_after, Duration::from_micros(1));
    let d = k.at(start_offset - 1, 1);
    assert_eq!(d.retry_after, after(1));
    let d = k.at(start_offset, 2);
    assert!(d.allowed);
    assert_eq!(d.reset_after, Duration::from_secs(7));
}

#[test]
fn fixed_window_clock_stepping_back_stays_in_the_counted_window() {
    let mut k = Key::new(Quota::fixed_window(2, Duration::from_secs(10)).unwrap());
    assert_eq!(k.burst(15 * SEC, 2), 2);
    // Back to the previous window: it must not start a fresh count there.
    let d = k.at(5 * SEC, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, after(15 * SEC)); // until 20 s
    assert_eq!(k.burst(20 * SEC, 5), 2);
}

// ---------------------------------------------------------------- sliding log

#[test]
fn sliding_log_retry_waits_for_enough_entries_to_expire() {
    let mut k = Key::new(Quota::sliding_log(5, Duration::from_secs(10)).unwrap());
    assert!(k.at(0, 2).allowed);
    assert!(k.at(SEC, 1).allowed);
    assert!(k.at(2 * SEC, 2).allowed);
    // Cost 3 needs 3 free: the entries at 0 (2) and 1 s (1) must go: 11 s.
    let d = k.at(3 * SEC, 3);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    assert_eq!(d.retry_after, after(8 * SEC));
    assert_eq!(d.reset_after, Duration::from_secs(9)); // last entry at 2 s
    assert!(!k.at(11 * SEC - 1, 3).allowed);
    assert!(k.at(11 * SEC, 3).allowed);
}

#[test]
fn sliding_log_clock_stepping_back_keeps_entries_in_order() {
    let mut k = Key::new(Quota::sliding_log(2, Duration::from_secs(10)).unwrap());
    assert!(k.at(10 * SEC, 1).allowed);
    assert!(k.at(5 * SEC, 1).allowed); // recorded at 10 s, not 5 s
    assert!(
        !k.at(15 * SEC, 1).allowed,
        "the entry stepped back expired early"
    );
    assert_eq!(k.burst(20 * SEC, 5), 2);
}

// ---------------------------------------------------------------- sliding counter

#[test]
fn sliding_counter_weights_the_previous_window() {
    let mut k = Key::new(Quota::sliding_counter(100, Duration::from_secs(60)).unwrap());
    assert!(k.at(30 * SEC, 80).allowed);
    // 15 s into the next window: est = 80·45/60 + 0 = 60.
    let d = k.at(75 * SEC, 40);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0); // 60 + 40
    assert_eq!(d.reset_after, Duration::from_secs(105)); // end of the window after
                                                         // 30 s in: est = 80·30/60 + 40 = 80.
    let d = k.at(90 * SEC, 21);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 20);
    // 80·(60 − e)/60 + 40 + 21 ≤ 100 once e ≥ 30.75 s.
    assert_eq!(d.retry_after, after(750_000));
    let d = k.at(90 * SEC, 20);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
}
