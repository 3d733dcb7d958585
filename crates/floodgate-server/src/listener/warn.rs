//! A warning that is written at most once a second, saying how many were
//! suppressed before it: a flood of bad connections must not flood the log
//! too.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One line a second at most.
#[derive(Default)]
pub(crate) struct LogGate(Mutex<(Option<Instant>, u64)>);

impl LogGate {
    /// Whether a line may be written now, and how many were suppressed
    /// since the last one written.
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut g = self.0.lock();
        match g.0 {
            Some(last) if now.saturating_duration_since(last) < Duration::from_secs(1) => {
                g.1 += 1;
                None
            }
            _ => {
                g.0 = Some(now);
                Some(std::mem::take(&mut g.1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_with_the_count_suppressed() {
        let gate = LogGate::default();
        let t = Instant::now();
        assert_eq!(gate.admit_at(t), Some(0));
        assert_eq!(gate.admit_at(t + Duration::from_millis(10)), None);
        assert_eq!(gate.admit_at(t + Duration::from_millis(999)), None);
        assert_eq!(gate.admit_at(t + Duration::from_secs(1)), Some(2));
        assert_eq!(gate.admit_at(t + Duration::from_millis(1500)), None);
    }
}
