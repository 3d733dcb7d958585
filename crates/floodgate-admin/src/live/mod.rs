//! The live policy: the one the limiter decides with, its version and
//! history, and every change to it (admin API, config file, rollback),
//! validated exactly as the file is, kept by a backend and applied at once.
//!
//! # Layout
//!
//! - [`backend`]: where it is kept (memory, state file, Redis).
//! - [`clients`]: the known clients, kept apart from the document.
//! - [`diff`]: what a change does.
//! - [`error`]: why a change did not happen.
//! - [`initial`]: the policy a replica starts with.
//! - [`pending`]: changes the store did not confirm, which may land late.
//! - [`redis`]: the Redis backend and its watcher.
//! - `change`: a change made, kept and applied, or refused.
//! - `seed`: a store that holds nothing yet given the config file's
//!   policy and clients.
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
mod change;
pub mod clients;
pub mod diff;
pub mod error;
pub mod initial;
pub mod pending;
pub mod redis;
mod seed;
mod sync;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floodgate_config::{ConfigError, PolicyDocument, Source};
use floodgate_core::policy::{ClientBook, Policy};
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
    /// The digest of the config file's policy part last applied (kept
    /// with every version).
    file_digest: Option<String>,
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
    pending: pending::Unconfirmed,
    /// Clients to seed, not kept yet: a kept document's of an earlier
    /// release, and the config file's, which only a store holding no
    /// client takes.
    seed_clients: parking_lot::Mutex<Vec<clients::ClientRecord>>,
    seed_file_clients: parking_lot::Mutex<Vec<clients::ClientRecord>>,
    /// The known clients, read by every limiter of this replica.
    book: Arc<ClientBook>,
    /// Their sequence number (0: none ever changed).
    clients_seq: AtomicU64,
    /// Changes of the clients are made one at a time.
    clients_lock: tokio::sync::Mutex<()>,
    /// Client creations the store did not confirm, by hex digest.
    refused_clients: parking_lot::Mutex<Vec<String>>,
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

/// The digest of a config file's policy part (keys by their digest, every
/// override, whatever the time): what a start compares with the one kept
/// to tell whether the file changed since it was last applied.
pub fn file_digest(file: &PolicyDocument) -> String {
    let mut doc = file.clone();
    normalize(&mut doc, Timestamp::from_micros(0));
    let json = serde_json::to_string(&doc).expect("a policy document serialises");
    clients::hex_of(&floodgate_core::policy::key_digest(&json))
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
                file_digest: initial.file_digest,
            }),
            version: AtomicU64::new(version),
            backend,
            handle,
            store,
            clock,
            pending: Default::default(),
            book: initial.book,
            clients_seq: AtomicU64::new(initial.clients_seq),
            clients_lock: Default::default(),
            refused_clients: Default::default(),
            seed_clients: parking_lot::Mutex::new(initial.seed_clients),
            seed_file_clients: parking_lot::Mutex::new(initial.seed_file_clients),
        });
        if version == 0 {
            // Nothing kept yet: the file's policy becomes version 1.
            if let Err(e) = live.seed().await {
                tracing::warn!(error = %e, "the policy cannot be kept yet; it runs from the config file");
            }
        } else if let Some((doc, policy)) = initial.file_changed {
            // The file's policy part changed since it was last applied:
            // it wins over the kept one.
            let digest = file_digest(&doc);
            match live
                .commit_with("config file", None, doc, policy, None, Some(digest))
                .await
            {
                Ok(done) => tracing::info!(
                    version = done.version,
                    "the config file's policy part changed since it was last applied: it is the live policy now"
                ),
                // Another replica started with the same file first.
                Err(LiveError::Conflict { .. }) => {
                    live.sync().await;
                }
                Err(e) => tracing::error!(
                    error = %e,
                    "the config file's policy part changed since it was last applied, but cannot be applied; the kept policy stays"
                ),
            }
        }
        if let Err(e) = live.seed_clients().await {
            tracing::warn!(error = %e, "the config file's clients cannot be kept yet; they are known here meanwhile");
        }
        live
    }

    /// The known clients, read by every limiter of this replica.
    pub fn book(&self) -> &Arc<ClientBook> {
        &self.book
    }

    /// Validates `doc` as the live policy would be: its limiter reads this
    /// replica's clients, with those of `doc` (imported when it is kept)
    /// added for the diff; a tier some client is in must stay.
    pub(crate) fn validated(&self, doc: &PolicyDocument) -> Result<Policy, LiveError> {
        self.with_clients(validate(doc)?)
    }

    /// [`LivePolicy::validated`] for a policy already validated.
    pub(crate) fn with_clients(&self, mut policy: Policy) -> Result<Policy, LiveError> {
        let in_doc = policy.clients.snapshot();
        let known = self.book.snapshot();
        let mut gone: std::collections::BTreeMap<&str, usize> = Default::default();
        for c in known.values() {
            if !policy.tiers.contains(&c.tier) {
                *gone.entry(&c.tier).or_default() += 1;
            }
        }
        if !gone.is_empty() {
            let errors = gone
                .into_iter()
                .map(|(tier, n)| ConfigError {
                    file: "policy".into(),
                    line: 0,
                    column: 0,
                    field: "tiers".into(),
                    message: format!(
                        "tier `{tier}` is the tier of {n} client(s): move them to another tier (PATCH /v1/clients/{{fingerprint}}) or revoke them first"
                    ),
                })
                .collect();
            return Err(LiveError::Invalid(errors));
        }
        policy.clients = if in_doc.is_empty() {
            self.book.clone()
        } else {
            let mut map = floodgate_core::policy::ClientMap::clone(&known);
            map.extend(in_doc.iter().map(|(d, c)| (*d, c.clone())));
            Arc::new(ClientBook::new(map))
        };
        Ok(policy)
    }

    /// Reads again the token keys the live policy takes from outside its
    /// document (a JWKS file, the HS256 secret's variable) and applies
    /// them; counters stay. Nothing happens without `identity.jwt`.
    fn reread_keys(&self, c: &mut Current) -> Result<(), LiveError> {
        if c.document.identity.jwt.is_none() {
            return Ok(());
        }
        let policy = Arc::new(self.validated(&c.document)?);
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

    /// What `doc` would change, without changing anything (`new` is what
    /// `doc` validated into); refused as the change would be when it
    /// drops a tier some client is in.
    pub async fn dry_run(&self, doc: &PolicyDocument, new: &Policy) -> Result<Diff, LiveError> {
        // Compared as it would be kept: keys by their digest, clients
        // apart (imported, shown in the diff's `clients`).
        let mut doc = doc.clone();
        normalize(&mut doc, self.clock.now());
        clients::take_clients(&mut doc);
        let new = self.with_clients(new.clone())?;
        let c = self.current.lock().await;
        Ok(Diff::between((&c.policy, &c.document), (&new, &doc)))
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
        let Some(document) = history
            .into_iter()
            .find(|h| h.version == version && h.document.is_some())
            .and_then(|h| h.document)
        else {
            return Err(LiveError::NoSuchVersion(version));
        };
        let actor = format!("{actor} (rollback to {version})");
        self.commit_document(&actor, expected, document).await
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
        let previous = {
            let mut c = self.current.lock().await;
            if c.file_document == file {
                self.reread_keys(&mut c)?;
                return Ok(None);
            }
            c.file_document.clients.clone()
        };
        let digest = file_digest(&file);
        // Only the file's clients that changed since it was last read are
        // imported: one revoked through the admin API and left in the file
        // does not come back at every edit of the file.
        let mut changed = file.clone();
        changed.clients.retain(|c| !previous.contains(c));
        let done = self
            .commit_with(
                "config file",
                None,
                changed,
                policy.clone(),
                None,
                Some(digest),
            )
            .await?;
        self.current.lock().await.file_document = file;
        Ok(Some(done))
    }

    /// The live clients: fingerprint, tier, name, sorted.
    pub fn clients(&self) -> Vec<(String, String, Option<String>)> {
        let mut out: Vec<_> = self
            .book
            .snapshot()
            .iter()
            .map(|(d, cl)| {
                (
                    floodgate_core::policy::fingerprint_of(d),
                    cl.tier.to_string(),
                    cl.name.as_deref().map(str::to_string),
                )
            })
            .collect();
        out.sort();
        out
    }
}
