//! Accuracy: the policy replay's verdicts against the responses.

use serde::Serialize;

use crate::expect::measured_allowed;
use crate::record::{Outcome, Record};

/// Expected against measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Accuracy {
    /// Requests replayed (those that got a response).
    pub replayed: u64,
    /// Allowed according to the policy replay.
    pub expected_allowed: u64,
    /// Allowed according to the responses (not 429 nor 401).
    pub measured_allowed: u64,
    /// `measured - expected`.
    pub difference: i64,
    /// `|difference| / expected`, percent.
    pub error_percent: f64,
    /// Requests the server allowed that the replay denied.
    pub allowed_not_expected: u64,
    /// Requests the server denied that the replay allowed.
    pub denied_not_expected: u64,
    /// Requests where server and replay agree, percent.
    pub agreement_percent: f64,
}

/// Compares the replay (`expected`, per record) with the responses.
pub fn accuracy(records: &[Record], expected: &[Option<bool>]) -> Accuracy {
    let mut a = Accuracy::default();
    let mut agree = 0u64;
    for (r, e) in records.iter().zip(expected) {
        let (Outcome::Status(status), Some(e)) = (&r.outcome, e) else {
            continue;
        };
        let m = measured_allowed(*status);
        a.replayed += 1;
        a.expected_allowed += u64::from(*e);
        a.measured_allowed += u64::from(m);
        match (m, *e) {
            (true, false) => a.allowed_not_expected += 1,
            (false, true) => a.denied_not_expected += 1,
            _ => agree += 1,
        }
    }
    a.difference = a.measured_allowed as i64 - a.expected_allowed as i64;
    a.error_percent = if a.expected_allowed == 0 {
        if a.measured_allowed == 0 {
            0.0
        } else {
            100.0
        }
    } else {
        100.0 * a.difference.unsigned_abs() as f64 / a.expected_allowed as f64
    };
    a.agreement_percent = if a.replayed == 0 {
        100.0
    } else {
        100.0 * agree as f64 / a.replayed as f64
    };
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::rec;

    #[test]
    fn accuracy_compares_each_request() {
        let records = vec![
            rec(0, 0, 0, 1, Outcome::Status(200)), // allowed, expected allowed
            rec(1, 0, 0, 1, Outcome::Status(200)), // allowed, expected denied
            rec(2, 0, 0, 1, Outcome::Status(429)), // denied, expected denied
            rec(3, 0, 0, 1, Outcome::Status(429)), // denied, expected allowed
            rec(4, 0, 0, 1, Outcome::Status(503)), // upstream error: passed
            rec(5, 0, 0, 1, Outcome::Status(401)), // refused: not allowed
            rec(6, 0, 0, 1, Outcome::Timeout),     // not replayed
        ];
        let expected = vec![
            Some(true),
            Some(false),
            Some(false),
            Some(true),
            Some(true),
            Some(false),
            None,
        ];
        let a = accuracy(&records, &expected);
        assert_eq!(a.replayed, 6);
        assert_eq!(a.expected_allowed, 3);
        assert_eq!(a.measured_allowed, 3);
        assert_eq!(a.difference, 0);
        assert_eq!(a.error_percent, 0.0);
        assert_eq!(a.allowed_not_expected, 1);
        assert_eq!(a.denied_not_expected, 1);
        assert!((a.agreement_percent - 400.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn accuracy_error_is_relative_to_expected() {
        let records: Vec<Record> = (0..10)
            .map(|i| rec(i, 0, 0, 1, Outcome::Status(if i < 9 { 200 } else { 429 })))
            .collect();
        let expected: Vec<Option<bool>> = (0..10).map(|i| Some(i < 8)).collect();
        let a = accuracy(&records, &expected);
        assert_eq!((a.measured_allowed, a.expected_allowed), (9, 8));
        assert_eq!(a.difference, 1);
        assert!((a.error_percent - 12.5).abs() < 1e-9);
        assert!((a.agreement_percent - 90.0).abs() < 1e-9);
    }
}
