//! Outages charged back: what each key admitted on the local store while
//! the inner store was away, kept (bounded) and charged to the inner
//! store's state when it answers again, before that call is decided.
//!
//! A charge takes up to what is owed from the key's state, as a slice
//! would (`Store::take` with a share of 100 %): a client that spent its
//! quota locally finds it spent on the store. What no longer fits (the
//! key's state was spent meanwhile by other replicas) is counted as lost
//! over-admission. Only rate limits are charged (concurrency slots held
//! locally are released locally; a shaping queue delays, it does not
//! count).
//!
//! Each debt remembers the failure domain of its key (a bit, see
//! `domains.rs`): a call on some domains charges only their debts, so a
//! node still down keeps its debts without failing calls on the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use floodgate_core::algorithm::slice::{leasable, SHARE_UNIT};
use floodgate_core::store::SliceWant;
use floodgate_core::{LimitCheck, Store, StoreError, Timestamp};

/// Keys sampled for the smallest debt when the book is full.
const SAMPLE: usize = 16;

type Key = (Arc<str>, Arc<str>);

/// A key's debt: its check, the units owed, its domain's bit.
type Debt = (LimitCheck, u64, u64);

/// What keys owe, bounded.
pub(super) struct Owed {
    book: Mutex<HashMap<Key, Debt>>,
    max_keys: usize,
    /// Quick check on the hot path: the domains that may owe something.
    pending: AtomicU64,
    pub(super) charged: AtomicU64,
    pub(super) lost: AtomicU64,
    pub(super) dropped: AtomicU64,
}

impl Owed {
    pub(super) fn new(max_keys: usize) -> Owed {
        Owed {
            book: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
            pending: AtomicU64::new(0),
            charged: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Notes that `check` (its full quota, not the divided one), of the
    /// domain whose bit is `domain`, was admitted locally.
    pub(super) fn note(&self, check: &LimitCheck, domain: u64) {
        if check.lease.is_some() || !leasable(&check.quota) || check.cost == 0 {
            return;
        }
        let key = (check.limit_id.clone(), check.identity.clone());
        let mut book = self.lock();
        self.pending.fetch_or(domain, Ordering::AcqRel);
        if let Some(e) = book.get_mut(&key) {
            e.1 += check.cost;
            e.2 = domain;
            if e.0.quota != check.quota {
                e.0 = check.clone();
            }
            return;
        }
        if book.len() >= self.max_keys {
            let smallest = book
                .iter()
                .take(SAMPLE)
                .min_by_key(|(_, e)| e.1)
                .map(|(k, e)| (k.clone(), e.1));
            if let Some((k, units)) = smallest {
                book.remove(&k);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.lost.fetch_add(units, Ordering::Relaxed);
            }
        }
        book.insert(key, (check.clone(), check.cost, domain));
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Debt>> {
        // Plain counts, never left half-written: ignore poison.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether anything may be owed on the domains `mask`.
    pub(super) fn any(&self, mask: u64) -> bool {
        self.pending.load(Ordering::Acquire) & mask != 0
    }

    /// Keys that owe.
    pub(super) fn keys(&self) -> usize {
        self.lock().len()
    }

    /// Charges everything owed on the domains `mask` to `store` in one
    /// batch (one call per hash slot). On an error the debts are kept for
    /// the next try.
    pub(super) async fn charge<S: Store>(
        &self,
        store: &S,
        now: Timestamp,
        mask: u64,
    ) -> Result<(), StoreError> {
        let taken: Vec<Debt> = {
            let mut book = self.lock();
            let mut taken = Vec::new();
            let mut left = 0;
            book.retain(|_, d| {
                if d.2 & mask != 0 {
                    taken.push(d.clone());
                    false
                } else {
                    left |= d.2;
                    true
                }
            });
            self.pending.store(left, Ordering::Release);
            taken
        };
        if taken.is_empty() {
            return Ok(());
        }
        let wants: Vec<SliceWant> = taken
            .iter()
            .map(|(c, units, _)| {
                let mut check = c.clone();
                check.cost = 1;
                check.sync = None;
                SliceWant {
                    check,
                    want: *units,
                    share_ppm: SHARE_UNIT,
                }
            })
            .collect();
        match store.take(&wants, now).await {
            Ok(got) => {
                let charged: u64 = got.iter().map(|t| t.n).sum();
                let owed: u64 = taken.iter().map(|t| t.1).sum();
                self.charged.fetch_add(charged, Ordering::Relaxed);
                self.lost
                    .fetch_add(owed - charged.min(owed), Ordering::Relaxed);
                tracing::info!(
                    keys = taken.len(),
                    charged,
                    lost = owed - charged.min(owed),
                    "charged to the store what was admitted locally while it was away"
                );
                Ok(())
            }
            Err(e) => {
                for (mut c, units, domain) in taken {
                    c.cost = units;
                    self.note(&c, domain);
                }
                Err(e)
            }
        }
    }
}
