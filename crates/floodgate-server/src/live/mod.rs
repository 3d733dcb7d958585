//! The live policy: the one the limiter decides with, its version and
//! history, and every change to it (admin API, config file, rollback),
//! validated exactly as the file is, kept by a backend and applied at once.
//!
//! # Layout
//!
//! - [`backend`]: where it is kept (memory, state file, Redis).
//! - [`diff`]: what a change does.
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
pub mod redis;
mod sync;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floodgate_config::{ConfigError, PolicyDocument, Source};
use floodgate_core::policy::{fingerprint_of, Policy};
use floodgate_core::{Clock, Limiter, Store, Timestamp};
use floodgate_tower::LimiterHandle;

use crate::api::error::ApiError;
pub use backend::{Commit, HistoryEntry, PolicyBackend, Stored};
pub use diff::Diff;

/// A committed change.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Committed {
    /// The new version.
    pub version: u64,
    /// What changed.
    pub diff: Diff,
}

struct Current {
    version: u64,
    document: PolicyDocument,
    policy: Arc<Policy>,
    /// The config file's policy part as last read.
    file_document: PolicyDocument,
}

/// The live policy of this replica.
pub struct LivePolicy {
    current: tokio::sync::Mutex<Current>,
    version: AtomicU64,
    backend: Arc<dyn PolicyBackend>,
    handle: LimiterHandle,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// Validates a document as the file is validated (as JSON, so errors
/// carry its JSON paths), reporting every error.
pub fn validate(doc: &PolicyDocument) -> Result<Policy, Vec<ConfigError>> {
    let text = serde_json::to_string_pretty(doc).map_err(|e| {
        vec![ConfigError {
            file: "policy".into(),
            line: 0,
            column: 0,
            field: String::new(),
            message: e.to_string(),
        }]
    })?;
    PolicyDocument::from_json("policy", &text)
        .map_err(|e| vec![e])?
        .validate_all(&Source {
            name: "policy",
            text: &text,
        })
}

/// The document as kept: clients by the digest of their keys only, and no
/// override that has expired by `now`.
pub fn normalize(doc: &mut PolicyDocument, policy: &Policy, now: Timestamp) {
    for c in &mut doc.clients {
        if let Some(k) = c.api_key.take() {
            let d = floodgate_core::policy::key_digest(&k);
            c.api_key_sha256 = Some(d.iter().map(|b| format!("{b:02x}")).collect());
        }
    }
    let now_s = now.as_micros() / 1_000_000;
    doc.overrides
        .retain(|o| o.expires_at.is_none_or(|e| e > now_s));
    let _ = policy;
}

fn unix_secs(now: Timestamp) -> u64 {
    now.as_micros() / 1_000_000
}

impl LivePolicy {
    /// Starts from what `backend` keeps, or from the config file's policy
    /// part (`file`), and applies it to `handle`.
    pub async fn start(
        file: PolicyDocument,
        backend: Arc<dyn PolicyBackend>,
        handle: LimiterHandle,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<LivePolicy>, String> {
        let now = clock.now();
        let kept = match backend.load().await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, backend = backend.describe(), "the kept policy cannot be read: starting from the config file's");
                None
            }
        };
        let (version, document) = match kept {
            Some(s) => match validate(&s.document) {
                Ok(kept) => {
                    let mut from_file = file.clone();
                    if let Ok(p) = validate(&from_file) {
                        normalize(&mut from_file, &p, now);
                    }
                    if from_file != s.document {
                        tracing::warn!(
                            version = s.version,
                            "the config file's policy part differs from the kept live policy, which applies; \
                             `floodgate admin apply -f FILE` (or editing the file's policy part while running) applies the file's"
                        );
                    }
                    let _ = kept;
                    tracing::info!(
                        version = s.version,
                        backend = backend.describe(),
                        "policy loaded"
                    );
                    (s.version, s.document)
                }
                Err(e) => {
                    return Err(format!(
                        "the kept policy (version {}) is not valid: {}",
                        s.version, e[0]
                    ))
                }
            },
            None => (0, file.clone()),
        };
        let policy = Arc::new(validate(&document).map_err(|e| e[0].to_string())?);
        let mut document = document;
        normalize(&mut document, &policy, now);
        let live = Arc::new(LivePolicy {
            current: tokio::sync::Mutex::new(Current {
                version,
                document,
                policy: policy.clone(),
                file_document: file,
            }),
            version: AtomicU64::new(version),
            backend,
            handle,
            store,
            clock,
        });
        live.apply(policy);
        if version == 0 {
            // Nothing kept yet: the file's policy becomes version 1.
            if let Err(e) = live.seed().await {
                tracing::warn!(error = %e, "the policy cannot be kept yet; it runs from the config file");
            }
        }
        Ok(live)
    }

    async fn seed(&self) -> Result<(), ApiError> {
        let doc = self.current.lock().await.document.clone();
        match self.commit_document("config file", Some(0), doc).await {
            Ok(_) => Ok(()),
            // Another replica seeded first: take its policy.
            Err(ApiError::Conflict { .. }) => {
                self.sync().await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Reads again the token keys the live policy takes from outside its
    /// document (a JWKS file, the HS256 secret's variable) and applies
    /// them; counters stay. Nothing happens without `identity.jwt`.
    fn reread_keys(&self, c: &mut Current) -> Result<(), ApiError> {
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
        normalize(&mut doc, &c.policy, self.clock.now());
        (c.version, doc)
    }

    /// The validated live policy.
    pub async fn policy(&self) -> Arc<Policy> {
        self.current.lock().await.policy.clone()
    }

    /// What `doc` would change, without changing anything.
    pub async fn dry_run(&self, doc: &PolicyDocument) -> Result<Diff, ApiError> {
        let new = validate(doc)?;
        let c = self.current.lock().await;
        Ok(Diff::between((&c.policy, &c.document), (&new, doc)))
    }

    /// Changes the live document with `edit` (if the live version is
    /// `expected`, when given), validates, keeps and applies it.
    pub async fn change(
        &self,
        actor: &str,
        expected: Option<u64>,
        edit: impl FnOnce(&mut PolicyDocument) -> Result<(), ApiError>,
    ) -> Result<Committed, ApiError> {
        let mut doc = self.current.lock().await.document.clone();
        edit(&mut doc)?;
        self.commit_document(actor, expected, doc).await
    }

    /// Replaces the live document with `doc`.
    pub async fn commit_document(
        &self,
        actor: &str,
        expected: Option<u64>,
        mut doc: PolicyDocument,
    ) -> Result<Committed, ApiError> {
        let mut c = self.current.lock().await;
        if let Some(v) = expected {
            if v != c.version {
                return Err(ApiError::Conflict { current: c.version });
            }
        }
        let now = self.clock.now();
        // Errors name the field's path in the whole policy document; a
        // line of its rendering would mean nothing to the caller.
        let policy = validate(&doc).map_err(|mut errors| {
            for e in &mut errors {
                e.line = 0;
                e.column = 0;
            }
            errors
        })?;
        normalize(&mut doc, &policy, now);
        let diff = Diff::between((&c.policy, &c.document), (&policy, &doc));
        if c.version > 0 && diff.is_empty() && doc == c.document {
            // Nothing to keep: no new version.
            return Ok(Committed {
                version: c.version,
                diff,
            });
        }
        let version = c.version + 1;
        let entry = HistoryEntry {
            version,
            time: unix_secs(now),
            actor: actor.to_string(),
            summary: if c.version == 0 {
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
        let mut outcome = self.backend.commit(c.version, &stored, &entry).await;
        if let Ok(Commit::Conflict { current: 0 }) = outcome {
            // The store lost the policy (Redis restarted empty): keep the
            // live version there again, then this change on top of it.
            if c.version > 0 && self.restore_locked(&c).await {
                outcome = self.backend.commit(c.version, &stored, &entry).await;
            }
        }
        match outcome {
            Ok(Commit::Done) => {}
            Ok(Commit::Conflict { current }) => return Err(ApiError::Conflict { current }),
            // Not confirmed: with the store unreachable nothing changed;
            // with one that stopped answering midway, the change may still
            // be kept when it answers again, and then every replica
            // applies it like any other.
            Err(e) => {
                return Err(ApiError::Unavailable(format!(
                    "the policy store did not confirm the change ({e}); this replica keeps version {}. \
                     If the store took the change before failing, it is applied when the store answers: \
                     GET /v1/policy/history tells",
                    c.version
                )))
            }
        }
        let policy = Arc::new(policy);
        c.version = version;
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
    pub async fn history(&self) -> Result<Vec<HistoryEntry>, ApiError> {
        self.backend
            .history()
            .await
            .map_err(|e| ApiError::Unavailable(format!("the history cannot be read: {e}")))
    }

    /// Makes the document of `version` live again, as a new version.
    pub async fn rollback(
        &self,
        actor: &str,
        version: u64,
        expected: Option<u64>,
    ) -> Result<Committed, ApiError> {
        let history = self.history().await?;
        let Some(entry) = history.into_iter().find(|h| h.version == version) else {
            return Err(ApiError::NotFound(format!(
                "no version {version} in the history"
            )));
        };
        let actor = format!("{actor} (rollback to {version})");
        self.commit_document(&actor, expected, entry.document).await
    }

    /// The config file was read again: its policy part is applied when it
    /// changed since it was last read.
    /// On error nothing changed, and the next reload tries again.
    pub async fn file_reloaded(&self, file: PolicyDocument) -> Result<Option<Committed>, ApiError> {
        {
            let mut c = self.current.lock().await;
            if c.file_document == file {
                self.reread_keys(&mut c)?;
                return Ok(None);
            }
        }
        let done = self
            .commit_document("config file", None, file.clone())
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
