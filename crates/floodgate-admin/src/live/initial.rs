//! The policy a replica starts with. Precedence: with no kept policy
//! (state file or Redis), the config file's policy part (already validated
//! when the file was read) is the one, and becomes version 1. With one,
//! the file's wins when it changed since the policy part last applied
//! from a file (its digest is kept with every version): it becomes a new
//! version, actor `config file`; otherwise the kept one wins, with the
//! changes made through the admin API.
//!
//! The known clients are kept apart from the document: the kept ones are
//! read; with none kept yet, the config file's `clients` seed them. A kept
//! document of an earlier release, with its clients inside, has them moved
//! out (imported, so a replica that does it again changes nothing).

use std::sync::Arc;

use floodgate_config::PolicyDocument;
use floodgate_core::policy::ClientBook;
use floodgate_core::{Policy, Timestamp};

use super::clients::{map_of, take_clients, ClientRecord};
use super::{file_digest, normalize, validate, LiveError, PolicyBackend};

/// The policy a replica starts with: the kept one, or the config file's.
pub struct Initial {
    pub(super) version: u64,
    pub(super) document: PolicyDocument,
    pub(super) policy: Arc<Policy>,
    pub(super) file_document: PolicyDocument,
    pub(super) book: Arc<ClientBook>,
    pub(super) clients_seq: u64,
    /// Clients to keep at start: those of a kept document of an earlier
    /// release, and the file's when nothing is kept yet (only if the store
    /// then holds no client: see `LivePolicy::seed_clients`).
    pub(super) seed_clients: Vec<ClientRecord>,
    pub(super) seed_file_clients: Vec<ClientRecord>,
    /// The digest of the config file's policy part kept with the live
    /// version (for a first start: the file's).
    pub(super) file_digest: Option<String>,
    /// The file's policy part and policy, when it changed since it was
    /// last applied: to be applied at start.
    pub(super) file_changed: Option<(PolicyDocument, Policy)>,
}

impl Initial {
    /// Reads what `backend` keeps; without a kept policy (or one that
    /// cannot be read), the config file's policy part (`file`, already
    /// validated as `file_policy`) is the one.
    pub async fn load(
        file: PolicyDocument,
        file_policy: Arc<Policy>,
        backend: &dyn PolicyBackend,
        now: Timestamp,
    ) -> Result<Initial, LiveError> {
        let kept = match backend.load().await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, backend = backend.describe(), "the kept policy cannot be read: starting from the config file's");
                None
            }
        };
        let (clients_seq, kept_clients) = match backend.clients().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, backend = backend.describe(), "the kept clients cannot be read: starting from the config file's");
                (0, Vec::new())
            }
        };
        let mut file_normal = file.clone();
        normalize(&mut file_normal, now);
        let file_clients = take_clients(&mut file_normal);
        let digest = file_digest(&file);
        let kept_digest = kept.as_ref().and_then(|k| k.file_digest.clone());
        let (version, mut document, policy) = match kept {
            None => (0, file_normal.clone(), Policy::clone(&file_policy)),
            Some(kept) => {
                let policy = validate(&kept.document).map_err(|mut e| LiveError::KeptInvalid {
                    version: kept.version,
                    error: e.swap_remove(0),
                })?;
                let mut document = kept.document;
                normalize(&mut document, now);
                tracing::info!(
                    version = kept.version,
                    backend = backend.describe(),
                    "policy loaded"
                );
                (kept.version, document, policy)
            }
        };
        let moved_out = take_clients(&mut document);
        let file_changed = match &kept_digest {
            Some(d) if version > 0 && *d != digest => {
                Some((file.clone(), Policy::clone(&file_policy)))
            }
            _ => None,
        };
        if version > 0 && kept_digest.is_none() && file_normal != document {
            // Kept by an earlier release, which kept no digest: whether
            // the file changed since cannot be told.
            tracing::warn!(
                version,
                "the config file's policy part differs from the kept live policy, which applies \
                 (it was kept without the digest of the file last applied); \
                 `floodgate admin apply -f FILE` applies the file's"
            );
        }
        let seed_clients = moved_out;
        // The file's clients seed a store only when nothing is kept at all;
        // they are known here meanwhile.
        let seed_file_clients = if version == 0 && clients_seq == 0 && kept_clients.is_empty() {
            file_clients
        } else {
            Vec::new()
        };
        let mut map = map_of(&kept_clients);
        map.extend(map_of(&seed_clients));
        map.extend(map_of(&seed_file_clients));
        let book = Arc::new(ClientBook::new(map));
        let mut policy = policy;
        policy.clients = book.clone();
        Ok(Initial {
            version,
            document,
            policy: Arc::new(policy),
            file_document: file,
            book,
            clients_seq,
            seed_clients,
            seed_file_clients,
            file_digest: if version == 0 {
                Some(digest)
            } else {
                kept_digest
            },
            file_changed,
        })
    }

    /// The policy to decide with from the start.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }
}
