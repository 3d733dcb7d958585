//! The policy a replica starts with. Precedence: a kept policy (state
//! file or Redis) wins over the config file's policy part; with none
//! kept, the file's (already validated when the file was read) is the
//! one, and becomes version 1.

use std::sync::Arc;

use floodgate_config::PolicyDocument;
use floodgate_core::{Policy, Timestamp};

use super::{normalize, validate, LiveError, PolicyBackend};

/// The policy a replica starts with: the kept one, or the config file's.
pub struct Initial {
    pub(super) version: u64,
    pub(super) document: PolicyDocument,
    pub(super) policy: Arc<Policy>,
    pub(super) file_document: PolicyDocument,
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
        let mut file_normal = file.clone();
        normalize(&mut file_normal, now);
        let Some(kept) = kept else {
            return Ok(Initial {
                version: 0,
                document: file_normal,
                policy: file_policy,
                file_document: file,
            });
        };
        let policy = validate(&kept.document).map_err(|mut e| LiveError::KeptInvalid {
            version: kept.version,
            error: e.swap_remove(0),
        })?;
        if file_normal != kept.document {
            tracing::warn!(
                version = kept.version,
                "the config file's policy part differs from the kept live policy, which applies; \
                 `floodgate admin apply -f FILE` (or editing the file's policy part while running) applies the file's"
            );
        }
        tracing::info!(
            version = kept.version,
            backend = backend.describe(),
            "policy loaded"
        );
        let mut document = kept.document;
        normalize(&mut document, now);
        Ok(Initial {
            version: kept.version,
            document,
            policy: Arc::new(policy),
            file_document: file,
        })
    }

    /// The policy to decide with from the start.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }
}
