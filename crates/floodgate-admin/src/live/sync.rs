//! Keeping a replica in step with the kept policy: seeding a store that
//! holds none, applying a newer version another replica kept, and giving
//! a store that lost the policy the live version back.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::backend::{Commit, HistoryEntry, Stored};
use super::pending::Undo;
use super::{unix_secs, Current, LiveError, LivePolicy};

impl LivePolicy {
    /// Brings this replica in step with the backend: seeds it when it
    /// holds nothing yet (this replica started while it was away), else
    /// applies a newer kept version.
    pub async fn reconcile(&self) -> u64 {
        // Clients first: a version that drops a tier comes after its
        // clients moved.
        self.sync_clients().await;
        if self.version() == 0 {
            if let Err(e) = self.seed().await {
                tracing::debug!(error = %e, "the policy cannot be kept yet");
            }
        } else {
            self.sync().await;
        }
        if let Err(e) = self.seed_clients().await {
            tracing::debug!(error = %e, "the config file's clients cannot be kept yet");
        }
        self.version()
    }

    /// Loads a newer kept version (another replica's change) and applies
    /// it. Returns the version now live.
    pub async fn sync(&self) -> u64 {
        let kept = match self.backend.load().await {
            Ok(Some(k)) => k,
            // The store lost the policy (Redis restarted empty): keep the
            // live one there again, at its version.
            Ok(None) => {
                self.restore().await;
                return self.version();
            }
            Err(e) => {
                tracing::debug!(error = %e, "policy sync: the backend cannot be read");
                return self.version();
            }
        };
        let mut c = self.current.lock().await;
        if kept.version <= self.version() {
            return self.version();
        }
        let mut document = kept.document;
        // A document kept by a replica of an earlier release holds its
        // clients: they are imported at the end of this sync.
        let moved = super::clients::take_clients(&mut document);
        // Another replica kept it: applied even if a client here is still
        // in a tier it drops (that client then gets the rule's own limits).
        let policy = match super::validate(&document) {
            Ok(mut policy) => {
                policy.clients = self.book.clone();
                Arc::new(policy)
            }
            Err(e) => {
                tracing::error!(version = kept.version, error = %e[0], "a kept policy is not valid: not applied");
                return self.version();
            }
        };
        // This replica's own change, refused while the store was away and
        // kept by it since, gets its audit line here.
        let undo = self.pending.landed(kept.version, &document);
        if undo.is_none() {
            tracing::info!(
                version = kept.version,
                "policy changed on another replica: applied"
            );
        }
        c.document = document;
        c.file_digest = kept.file_digest;
        self.seed_clients.lock().extend(moved);
        c.policy = policy.clone();
        self.version.store(kept.version, Ordering::Release);
        self.apply(policy);
        drop(c);
        if let Some(undo) = undo {
            self.undo_late(kept.version, undo).await;
        }
        self.version()
    }

    /// Keeps the live version in a store that holds none (it lost it), so
    /// that changes work again and replicas started later load it.
    async fn restore(&self) {
        let c = self.current.lock().await;
        self.restore_locked(&c).await;
    }

    /// [`LivePolicy::restore`] with the lock held; whether it was kept.
    pub(super) async fn restore_locked(&self, c: &Current) -> bool {
        let version = self.version();
        if version == 0 {
            return false;
        }
        let stored = Stored {
            version,
            document: c.document.clone(),
            file_digest: c.file_digest.clone(),
        };
        let entry = HistoryEntry {
            version,
            time: unix_secs(self.clock.now()),
            actor: "replica".into(),
            summary: "kept again: the policy store had lost it".into(),
            document: Some(c.document.clone()),
        };
        match self.backend.commit(0, &stored, &entry).await {
            Ok(Commit::Done) => {
                tracing::warn!(
                    version,
                    backend = self.backend.describe(),
                    "the policy store had lost the policy: the live version is kept there again"
                );
                true
            }
            // Another replica restored it first: the next sync reads it.
            Ok(Commit::Conflict { .. }) => false,
            Err(e) => {
                tracing::debug!(error = %e, "the policy cannot be restored yet");
                false
            }
        }
    }

    /// Undoes a change that landed after it was refused.
    async fn undo_late(&self, version: u64, undo: Undo) {
        let done = self
            .change("replica", None, |doc| {
                undo(doc);
                Ok::<(), LiveError>(())
            })
            .await;
        match done {
            Ok(c) => tracing::warn!(
                landed = version,
                version = c.version,
                "a change refused while the policy store was away was kept by it later: undone"
            ),
            Err(e) => tracing::error!(
                landed = version,
                error = %e,
                "a change refused while the policy store was away was kept by it later, and cannot be undone yet"
            ),
        }
    }
}
