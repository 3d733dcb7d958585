//! Why a change to the live policy did not happen.

use floodgate_config::ConfigError;

use super::backend::BackendError;

/// Why the live policy did not change (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The change was made against another version than the live one.
    #[error("the live policy is at version {current}")]
    Conflict {
        /// The live version.
        current: u64,
    },
    /// The changed policy is not valid.
    #[error("the policy is not valid")]
    Invalid(Vec<ConfigError>),
    /// A client creation named a key that is already a client.
    #[error("this API key is already a client")]
    ClientExists,
    /// A client change named a key that is no client.
    #[error("no such client")]
    NoSuchClient,
    /// A rollback named a version the history does not hold.
    #[error("no version {0} in the history")]
    NoSuchVersion(u64),
    /// The policy store did not confirm the change.
    #[error(
        "the policy store did not confirm the change ({source}); this replica keeps version {version}. \
         If the store took the change before failing, it is applied when the store answers: \
         GET /v1/policy/history tells"
    )]
    NotConfirmed {
        /// The version this replica keeps.
        version: u64,
        /// Why.
        source: BackendError,
    },
    /// The policy store refused the change outright (the state file could
    /// not be written): nothing changed.
    #[error(
        "the policy was not kept ({source}); nothing changed, this replica keeps version {version}"
    )]
    NotKept {
        /// The version this replica keeps.
        version: u64,
        /// Why.
        source: BackendError,
    },
    /// The history cannot be read.
    #[error("the history cannot be read: {0}")]
    History(#[source] BackendError),
    /// The kept policy (state file or Redis) is not valid.
    #[error("the kept policy (version {version}) is not valid: {error}")]
    KeptInvalid {
        /// Its version.
        version: u64,
        /// The first error.
        error: ConfigError,
    },
}

impl From<Vec<ConfigError>> for LiveError {
    fn from(errors: Vec<ConfigError>) -> Self {
        LiveError::Invalid(errors)
    }
}
