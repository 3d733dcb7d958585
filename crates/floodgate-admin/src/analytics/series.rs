//! Per-rule time series in fixed ring buffers: one slot a second for
//! [`HISTORY_SECS`] seconds, each slot four counts (allowed, limited,
//! shadow-limited, near-limit). A slot remembers its second, so a slot
//! left from an older lap reads as zero.

/// Seconds of history kept (one hour at one second).
pub const HISTORY_SECS: usize = 3_600;

/// What a count is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every limit of the rule allowed the request.
    Allowed = 0,
    /// An enforced limit of the rule denied it.
    Limited = 1,
    /// A limit of a shadow rule would have denied it.
    ShadowLimited = 2,
    /// Allowed, with a limit of the rule used at or above the near-limit
    /// share (also counted as allowed).
    NearLimit = 3,
}

/// The four counts of one second, or of a total.
pub type Counts = [u64; 4];

/// Adds `b` into `a`.
pub fn add(a: &mut Counts, b: &Counts) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// A ring of `len` one-second slots of `T`.
pub struct Ring<T> {
    secs: Box<[u64]>,
    slots: Box<[T]>,
}

impl<T: Copy + Default> Ring<T> {
    /// An empty ring of `len` seconds.
    pub fn new(len: usize) -> Ring<T> {
        Ring {
            secs: vec![u64::MAX; len].into_boxed_slice(),
            slots: vec![T::default(); len].into_boxed_slice(),
        }
    }

    /// The slot of second `sec`, emptied if it held an older second;
    /// `None` when `sec` is older than the ring remembers.
    pub fn slot_mut(&mut self, sec: u64) -> Option<&mut T> {
        let i = (sec % self.secs.len() as u64) as usize;
        let held = self.secs[i];
        if held != u64::MAX && held > sec {
            return None;
        }
        if held != sec {
            self.secs[i] = sec;
            self.slots[i] = T::default();
        }
        Some(&mut self.slots[i])
    }

    /// Second `sec`'s slot, if the ring still holds it.
    pub fn get(&self, sec: u64) -> Option<&T> {
        let i = (sec % self.secs.len() as u64) as usize;
        (self.secs[i] == sec).then(|| &self.slots[i])
    }

    /// The heap bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.secs.len() * std::mem::size_of::<u64>() + self.slots.len() * std::mem::size_of::<T>()
    }
}

/// One rule's history and totals.
pub struct RuleSeries {
    /// The rule's name.
    pub rule: std::sync::Arc<str>,
    /// One slot a second.
    pub ring: Ring<Counts>,
    /// Since start.
    pub totals: Counts,
}

impl RuleSeries {
    /// An empty series for `rule`.
    pub fn new(rule: std::sync::Arc<str>) -> RuleSeries {
        RuleSeries {
            rule,
            ring: Ring::new(HISTORY_SECS),
            totals: Counts::default(),
        }
    }

    /// Adds `c` to second `sec` and to the totals.
    pub fn record(&mut self, sec: u64, c: &Counts) {
        add(&mut self.totals, c);
        if let Some(slot) = self.ring.slot_mut(sec) {
            add(slot, c);
        }
    }

    /// The counts of the `n` seconds up to and including `now`, oldest
    /// first, one vector per outcome.
    pub fn window(&self, now: u64, n: usize) -> [Vec<u64>; 4] {
        let mut out: [Vec<u64>; 4] = Default::default();
        for v in &mut out {
            v.reserve(n);
        }
        for k in 0..n as u64 {
            let Some(sec) = (now + 1).checked_sub(n as u64 - k) else {
                out.iter_mut().for_each(|v| v.push(0));
                continue;
            };
            let c = self.ring.get(sec).copied().unwrap_or_default();
            for (v, x) in out.iter_mut().zip(c) {
                v.push(x);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_from_an_older_lap_reads_as_zero() {
        let mut s = RuleSeries::new("r".into());
        s.record(10, &[1, 2, 3, 0]);
        s.record(10, &[1, 0, 0, 1]);
        s.record(11, &[5, 0, 0, 0]);
        let w = s.window(11, 3);
        assert_eq!(w[0], vec![0, 2, 5]);
        assert_eq!(w[1], vec![0, 2, 0]);
        assert_eq!(w[3], vec![0, 1, 0]);
        // One lap later second 10's slot belongs to 3610.
        s.record(10 + HISTORY_SECS as u64, &[7, 0, 0, 0]);
        assert_eq!(s.ring.get(10), None);
        assert_eq!(s.window(10 + HISTORY_SECS as u64, 1)[0], vec![7]);
        // Older than the ring remembers: counted in totals only.
        s.record(10, &[100, 0, 0, 0]);
        assert_eq!(s.totals[0], 2 + 5 + 7 + 100);
        assert_eq!(s.window(10 + HISTORY_SECS as u64, 1)[0], vec![7]);
    }
}
