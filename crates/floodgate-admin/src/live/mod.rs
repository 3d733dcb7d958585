//! The live policy: the one the limiter decides with, its version and
//! history, and every change to it (admin API, config file, rollback),
//! validated exactly as the file is, kept by a backend and applied at once.
//!
//! # Layout
//!
//! - [`backend`]: where it is kept (memory, state file, Redis).
//! - [`diff`]: what a change does.
//! - [`error`]: why a change did not happen.
//! - [`initial`]: the policy a replica starts with.
//! - [`pending`]: changes the store did not confirm, which may land late.
//! - [`redis`]: the Redis backend and its watcher.
//! - `sync`: seeding, applying another replica's version, restoring a
//!   store that lost the policy.
//!
//! Precedence at start: a kept policy (state file or Redis) wins over the
//! config file's policy part; with none kept, the file's seeds version 1.
//! Afterwards the file's policy part is applied again (as a new version,
//! actor `config file`) only when it changed since it was last read: a
//! reload with an untouched policy part leaves changes made through the
//! admin API in place.

pub mod backend;
pub mod diff;
pub mod error;
pub mod initial;
pub mod pending;
pub mod redis;
mod sync;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floodgate_config::{ConfigError, PolicyDocument, Source};
use floodgate_core::policy::{fingerprint_of, Policy};
use floodgate_core::{Clock, Limiter, Store, Timestamp};
use floodgate_tower::LimiterHandle;

pub use backend::{BackendError, Commit, HistoryEntry, PolicyBackend, Stored};
pub use diff::Diff;
pub use error::LiveError;
pub use initial::Initial;
pub use pending::Undo;

/// How many times a change sent without `If-Match` is made again when
/// another replica kept a change first.
pub const RETRIES: usize = 8;

/// A committed change.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Committed {
    /// The new version.
    pub version: u64,
    /// What changed.
    pub diff: Diff,
}

/// The live state, changed under the lock (its version is
/// [`LivePolicy::version`], written under the same lock).
struct Current {
    document: PolicyDocument,
    policy: Arc<Policy>,
    /// The config file's policy part as last read.
    file_document: PolicyDocument,
}

/// The live policy of this replica.
pub struct LivePolicy {
    current: tokio::sync::Mutex<Current>,
    /// The live version: read without the lock, written with it.
    version: AtomicU64,
    backend: Arc<dyn PolicyBackend>,
    handle: LimiterHandle,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Changes the store did not confirm.
    pending: parking_lot::Mutex<Vec<pending::Pending>>,
}

/// Validates a document as the file is validated, reporting every
/// error by its field's path in the policy document (a line of some
/// rendering of it would mean nothing to the caller).
pub fn validate(doc: &PolicyDocument) -> Result<Policy, Vec<ConfigError>> {
    doc.validate_all(&Source {
        name: "policy",
        text: "",
    })
}

/// The document as kept: clients by the digest of their keys only, and no
/// override that has expired by `now`.
pub fn normalize(doc: &mut PolicyDocument, now: Timestamp) {
    for c in &mut doc.clients {
        if let Some(k) = c.api_key.take() {
            let d = floodgate_core::policy::key_digest(&k);
            c.api_key_sha256 = Some(d.iter().map(|b| format!("{b:02x}")).collect());
        }
    }
    let now_s = now.as_micros() / 1_000_000;
    doc.overrides
        .retain(|o| o.expires_at.is_none_or(|e| e > now_s));
}

fn unix_secs(now: Timestamp) -> u64 {
    now.as_micros() / 1_000_000
}

impl LivePolicy {
    /// Starts from `initial`, whose policy `handle` already decides with;
    /// with nothing kept yet, keeps it as version 1.
    pub async fn start(
        initial: Initial,
        backend: Arc<dyn PolicyBackend>,
        handle: LimiterHandle,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Arc<LivePolicy> {
        let version = initial.version;
        let live = Arc::new(LivePolicy {
            current: tokio::sync::Mutex::new(Current {
                document: initial.document,
                policy: initial.policy,
                file_document: initial.file_document,
            }),
            version: AtomicU64::new(version),
            backend,
            handle,
            store,
            clock,
            pending: parking_lot::Mutex::new(Vec::new()),
        });
        if version == 0 {
            // Nothing kept yet: the file's policy becomes version 1.
            if let Err(e) = live.seed().await {
                tracing::warn!(error = %e, "the policy cannot be kept yet; it runs from the config file");
            }
        }
        live
    }

    async fn seed(&self) -> Result<(), LiveError> {
        let doc = self.current.lock().await.document.clone();
        match self.commit_document("config file", Some(0), doc).await {
            Ok(_) => Ok(()),
            // Another replica seeded first: take its policy.
            Err(LiveError::Conflict { .. }) => {
                self.sync().await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Reads again the token keys the live policy takes from outside its
    /// document (a JWKS file, the HS256 secret's variable) and applies
    /// them; counters stay. Nothing happens without `identity.jwt`.
    fn reread_keys(&self, c: &mut Current) -> Result<(), LiveError> {
        if c.document.identity.jwt.is_none() {
            return Ok(());
        }
        let policy = Arc::new(validate(&c.document)?);
        self.apply(policy.clone());
        c.policy = policy;
        Ok(())
    }

    fn apply(&self, policy: Arc<Policy>) {
        self.handle
            .swap_limiter(Arc::new(Limiter::new(policy, self.store.clone())));
    }

    /// The live version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The live version and document (expired overrides left out).
    pub async fn snapshot(&self) -> (u64, PolicyDocument) {
        let c = self.current.lock().await;
        let mut doc = c.document.clone();
        normalize(&mut doc, self.clock.now());
        (self.version(), doc)
    }

    /// The validated live policy.
    pub async fn policy(&self) -> Arc<Policy> {
        self.current.lock().await.policy.clone()
    }

    /// What `doc` would change, without changing anything.
    /// (`new` is what `doc` validated into.)
    pub async fn dry_run(&self, doc: &PolicyDocument, new: &Policy) -> Diff {
        // Compared as it would be kept (keys by their digest).
        let mut doc = doc.clone();
        normalize(&mut doc, self.clock.now());
        let c = self.current.lock().await;
        Diff::between((&c.policy, &c.document), (new, &doc))
    }

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
            let on = Some(expected.unwrap_or(base));
            match self.commit_with(actor, on, doc, policy, undo.clone()).await {
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
        let policy = validate(&doc)?;
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
        self.commit_with(actor, expected, doc, policy, None).await
    }

    /// [`LivePolicy::commit`]; a change the store does not confirm and
    /// keeps later is undone with `undo`, when given.
    async fn commit_with(
        &self,
        actor: &str,
        expected: Option<u64>,
        mut doc: PolicyDocument,
        policy: Policy,
        undo: Option<Undo>,
    ) -> Result<Committed, LiveError> {
        let mut c = self.current.lock().await;
        let live = self.version();
        if expected.is_some_and(|v| v != live) {
            return Err(LiveError::Conflict { current: live });
        }
        let now = self.clock.now();
        normalize(&mut doc, now);
        let diff = Diff::between((&c.policy, &c.document), (&policy, &doc));
        if live > 0 && diff.is_empty() && doc == c.document {
            // Nothing to keep: no new version.
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
            document: doc.clone(),
        };
        let stored = Stored {
            version,
            document: doc.clone(),
        };
        let mut outcome = self.backend.commit(live, &stored, &entry).await;
        if let Ok(Commit::Conflict { current: 0 }) = outcome {
            // The store lost the policy (Redis restarted empty): keep the
            // live version there again, then this change on top of it.
            if live > 0 && self.restore_locked(&c).await {
                outcome = self.backend.commit(live, &stored, &entry).await;
            }
        }
        match outcome {
            Ok(Commit::Done) => {}
            Ok(Commit::Conflict { current }) => return Err(LiveError::Conflict { current }),
            // Not confirmed: with the store unreachable nothing changed;
            // with one that stopped answering midway, the change may still
            // be kept when it answers again, and then every replica
            // applies it like any other.
            Err(source) => {
                tracing::warn!(
                    target: "floodgate::audit",
                    actor,
                    version = live,
                    error = %source,
                    "policy change refused: the policy store did not confirm it"
                );
                if !source.is_transient() || matches!(source, BackendError::File { .. }) {
                    // A state file is written whole or not at all.
                    return Err(LiveError::NotKept {
                        version: live,
                        source,
                    });
                }
                self.remember(pending::Pending {
                    version,
                    document: doc,
                    actor: actor.to_string(),
                    summary: entry.summary,
                    undo,
                });
                return Err(LiveError::NotConfirmed {
                    version: live,
                    source,
                });
            }
        }
        let policy = Arc::new(policy);
        c.document = doc;
        c.policy = policy.clone();
        self.version.store(version, Ordering::Release);
        self.apply(policy);
        tracing::info!(
            target: "floodgate::audit",
            actor,
            version,
            summary = %entry.summary,
            "policy changed"
        );
        Ok(Committed { version, diff })
    }

    /// Past versions, newest first.
    pub async fn history(&self) -> Result<Vec<HistoryEntry>, LiveError> {
        self.backend.history().await.map_err(LiveError::History)
    }

    /// Makes the document of `version` live again, as a new version.
    pub async fn rollback(
        &self,
        actor: &str,
        version: u64,
        expected: Option<u64>,
    ) -> Result<Committed, LiveError> {
        let history = self.history().await?;
        let Some(entry) = history.into_iter().find(|h| h.version == version) else {
            return Err(LiveError::NoSuchVersion(version));
        };
        let actor = format!("{actor} (rollback to {version})");
        self.commit_document(&actor, expected, entry.document).await
    }

    /// The config file was read again: its policy part is applied when it
    /// changed since it was last read.
    /// On error nothing changed, and the next reload tries again.
    /// (`policy` is what `file` validated into.)
    pub async fn file_reloaded(
        &self,
        file: PolicyDocument,
        policy: &Policy,
    ) -> Result<Option<Committed>, LiveError> {
        {
            let mut c = self.current.lock().await;
            if c.file_document == file {
                self.reread_keys(&mut c)?;
                return Ok(None);
            }
        }
        let done = self
            .commit("config file", None, file.clone(), policy.clone())
            .await?;
        self.current.lock().await.file_document = file;
        Ok(Some(done))
    }

    /// The live clients: fingerprint, tier, name.
    pub async fn clients(&self) -> Vec<(String, String, Option<String>)> {
        let c = self.current.lock().await;
        let mut out: Vec<_> = c
            .policy
            .clients
            .iter()
            .map(|(d, cl)| {
                (
                    fingerprint_of(d),
                    cl.tier.to_string(),
                    cl.name.as_deref().map(str::to_string),
                )
            })
            .collect();
        out.sort();
        out
    }
}
