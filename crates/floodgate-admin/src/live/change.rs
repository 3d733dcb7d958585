//! A change to the live policy: made on the live version (again on a
//! newer one when another replica kept one first and no `If-Match` was
//! sent), validated, kept by the backend, applied, and written as an
//! audit line; or refused, with the reason.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use floodgate_config::PolicyDocument;
use floodgate_core::Policy;

use super::backend::{BackendError, Commit, HistoryEntry, Stored};
use super::clients::take_clients;
use super::clients::ClientRecord;
use super::pending::{self, Undo};
use super::{
    normalize, unix_secs, validate, Committed, Current, Diff, LiveError, LivePolicy, RETRIES,
};

impl LivePolicy {
    /// Changes the live document with `edit` (if the live version is
    /// `expected`, when given), validates, keeps and applies it. Without
    /// `expected`, a change another replica kept meanwhile is not a
    /// conflict: `edit` is made again on the newer version (up to
    /// [`RETRIES`] times).
    pub async fn change<E: From<LiveError>>(
        &self,
        actor: &str,
        expected: Option<u64>,
        edit: impl Fn(&mut PolicyDocument) -> Result<(), E>,
    ) -> Result<Committed, E> {
        self.change_with(actor, expected, edit, None).await
    }

    /// [`LivePolicy::change`], for a change that must never land late: if
    /// the store does not confirm it but keeps it once it answers again,
    /// `undo` is applied at once as a change of its own.
    pub async fn change_with<E: From<LiveError>>(
        &self,
        actor: &str,
        expected: Option<u64>,
        edit: impl Fn(&mut PolicyDocument) -> Result<(), E>,
        undo: Option<Undo>,
    ) -> Result<Committed, E> {
        let mut tries = 0;
        loop {
            // The document and the version it is, read together: the
            // change is kept only on top of that version.
            let (base, mut doc) = {
                let c = self.current.lock().await;
                (self.version(), c.document.clone())
            };
            edit(&mut doc)?;
            let policy = validate(&doc).map_err(LiveError::from)?;
            let policy = self.with_clients(policy)?;
            let on = Some(expected.unwrap_or(base));
            match self
                .commit_with(actor, on, doc, policy, undo.clone(), None)
                .await
            {
                Err(LiveError::Conflict { .. }) if expected.is_none() && tries < RETRIES => {
                    tries += 1;
                    // Boxed: a sync may undo a change, which is a change.
                    Box::pin(self.sync()).await;
                }
                done => return Ok(done?),
            }
        }
    }

    /// Replaces the live document with `doc`.
    pub async fn commit_document(
        &self,
        actor: &str,
        expected: Option<u64>,
        doc: PolicyDocument,
    ) -> Result<Committed, LiveError> {
        let policy = self.validated(&doc)?;
        self.commit(actor, expected, doc, policy).await
    }

    /// Replaces the live document with `doc`, already validated into
    /// `policy`.
    pub async fn commit(
        &self,
        actor: &str,
        expected: Option<u64>,
        doc: PolicyDocument,
        policy: Policy,
    ) -> Result<Committed, LiveError> {
        self.commit_with(actor, expected, doc, policy, None, None)
            .await
    }

    /// [`LivePolicy::commit`]; a change the store does not confirm and
    /// keeps later is undone with `undo`, when given. `file_digest` is
    /// given for a config file's policy part: kept with the version, and
    /// with every later one until another file's.
    pub(super) async fn commit_with(
        &self,
        actor: &str,
        expected: Option<u64>,
        mut doc: PolicyDocument,
        policy: Policy,
        undo: Option<Undo>,
        file_digest: Option<String>,
    ) -> Result<Committed, LiveError> {
        // Clients in the document (a whole document put, a config file's
        // `clients`) are imported once the document is kept: the live
        // document holds none.
        let policy = self.with_clients(policy)?;
        let mut c = self.current.lock().await;
        let live = self.version();
        if expected.is_some_and(|v| v != live) {
            return Err(LiveError::Conflict { current: live });
        }
        let now = self.clock.now();
        normalize(&mut doc, now);
        let imported = take_clients(&mut doc);
        let diff = Diff::between((&c.policy, &c.document), (&policy, &doc));
        if live > 0 && diff.is_empty() && doc == c.document {
            // Nothing to keep: no new version.
            drop(c);
            self.import_after(actor, imported).await?;
            return Ok(Committed {
                version: live,
                diff,
            });
        }
        let version = live + 1;
        let entry = HistoryEntry {
            version,
            time: unix_secs(now),
            actor: actor.to_string(),
            summary: if live == 0 {
                "initial policy".into()
            } else {
                diff.summary()
            },
            document: Some(doc.clone()),
        };
        let file_digest = file_digest.or_else(|| c.file_digest.clone());
        let stored = Stored {
            version,
            document: doc.clone(),
            file_digest: file_digest.clone(),
        };
        match self.keep(&c, live, &stored, &entry).await {
            Ok(Commit::Done) => {}
            Ok(Commit::Conflict { current }) => return Err(LiveError::Conflict { current }),
            Err(source) => {
                let pending = pending::Pending {
                    version,
                    document: doc,
                    actor: actor.to_string(),
                    summary: entry.summary,
                    undo,
                };
                return Err(self.refused(source, live, pending));
            }
        }
        let mut policy = policy;
        policy.clients = self.book.clone();
        let policy = Arc::new(policy);
        c.document = doc;
        c.policy = policy.clone();
        c.file_digest = file_digest;
        self.version.store(version, Ordering::Release);
        self.apply(policy);
        tracing::info!(
            target: "floodgate::audit",
            actor,
            version,
            summary = %entry.summary,
            "policy changed"
        );
        drop(c);
        self.import_after(actor, imported).await?;
        Ok(Committed { version, diff })
    }

    /// Imports the clients a kept document held.
    async fn import_after(&self, actor: &str, records: Vec<ClientRecord>) -> Result<(), LiveError> {
        if records.is_empty() {
            return Ok(());
        }
        self.import_clients(actor, records).await.map(|_| ())
    }

    /// Keeps `stored` with its history `entry` on top of version `live`;
    /// a store that lost the policy (Redis restarted empty) gets the live
    /// version back first, then this change on top of it.
    async fn keep(
        &self,
        c: &Current,
        live: u64,
        stored: &Stored,
        entry: &HistoryEntry,
    ) -> Result<Commit, BackendError> {
        let outcome = self.backend.commit(live, stored, entry).await;
        if let Ok(Commit::Conflict { current: 0 }) = outcome {
            if live > 0 && self.restore_locked(c).await {
                return self.backend.commit(live, stored, entry).await;
            }
        }
        outcome
    }

    /// A change the store did not confirm, logged where it was refused.
    /// A state file is written whole or not at all: nothing changed. A
    /// store that stopped answering midway may still keep the change when
    /// it answers again, and then every replica applies it like any
    /// other: it is remembered, for its audit line (or its undo) then.
    fn refused(&self, source: BackendError, live: u64, pending: pending::Pending) -> LiveError {
        tracing::warn!(
            target: "floodgate::audit",
            actor = %pending.actor,
            version = live,
            error = %source,
            "policy change refused: the policy store did not confirm it"
        );
        if !source.is_transient() || matches!(source, BackendError::File { .. }) {
            return LiveError::NotKept {
                version: live,
                source,
            };
        }
        self.pending.remember(pending);
        LiveError::NotConfirmed {
            version: live,
            source,
        }
    }
}
