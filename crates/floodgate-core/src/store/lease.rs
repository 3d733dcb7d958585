//! Leases: the ids under which requests in flight hold concurrency slots.

use std::fmt;
use std::str::FromStr;

pub use crate::algorithm::concurrency::LeaseStatus;

/// What to do with a lease's slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseOp {
    /// Give them back.
    Release,
    /// Extend them by their limit's lease, if still held.
    Renew,
}

/// The id a request holds its concurrency slots under: 53 random bits
/// (exact in the Redis scripts' doubles), never 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaseId(u64);

/// The largest lease id.
const MASK: u64 = (1 << 53) - 1;

impl LeaseId {
    /// A new random id: OS randomness, drawn 64 ids at a time per thread
    /// (one system call, not one per request).
    pub fn random() -> LeaseId {
        loop {
            let v = POOL.with(|p| p.borrow_mut().next()) & MASK;
            if v != 0 {
                return LeaseId(v);
            }
        }
    }

    /// The id `v`, if it is one (1 to 2^53 − 1).
    pub fn from_u64(v: u64) -> Option<LeaseId> {
        (v != 0 && v <= MASK).then_some(LeaseId(v))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Random words from the OS, handed out one by one.
struct Pool {
    words: [u64; 64],
    next: usize,
}

impl Pool {
    fn next(&mut self) -> u64 {
        if self.next == self.words.len() {
            let mut bytes = [0u8; 64 * 8];
            if getrandom::fill(&mut bytes).is_ok() {
                for (w, b) in self.words.iter_mut().zip(bytes.chunks_exact(8)) {
                    *w = u64::from_le_bytes(b.try_into().expect("8 bytes"));
                }
            } else {
                self.words.iter_mut().for_each(|w| *w = fallback());
            }
            self.next = 0;
        }
        self.next += 1;
        // Each word is handed out once, then forgotten.
        std::mem::take(&mut self.words[self.next - 1])
    }
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = const {
        std::cell::RefCell::new(Pool { words: [0; 64], next: 64 })
    };
}

/// Without an OS random source (never seen on the supported systems), ids
/// from a per-process random hasher and a counter stay distinct.
fn fallback() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::LazyLock<foldhash::quality::RandomState> =
        std::sync::LazyLock::new(Default::default);
    let mut h = SEED.build_hasher();
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Sixteen hex digits.
impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A lease id that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a lease id: expected 16 hex digits")]
pub struct BadLeaseId;

impl FromStr for LeaseId {
    type Err = BadLeaseId;

    fn from_str(s: &str) -> Result<LeaseId, BadLeaseId> {
        if s.len() != 16 {
            return Err(BadLeaseId);
        }
        u64::from_str_radix(s, 16)
            .ok()
            .and_then(LeaseId::from_u64)
            .ok_or(BadLeaseId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_round_trip() {
        let a = LeaseId::random();
        let b = LeaseId::random();
        assert_ne!(a, b);
        assert!(a.get() <= MASK && a.get() != 0);
        assert_eq!(a.to_string().parse::<LeaseId>(), Ok(a));
        assert!("0000000000000000".parse::<LeaseId>().is_err());
        assert!("ffffffffffffffff".parse::<LeaseId>().is_err());
        assert!("12".parse::<LeaseId>().is_err());
    }
}
