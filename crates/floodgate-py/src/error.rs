//! What can go wrong: setting a limiter up ([`SetupError`]) and asking it
//! ([`AskError`]). Being limited is not an error: it is an
//! [`Outcome`](crate::Outcome).

use floodgate_config::{ConfigError, LoadError};
use floodgate_core::policy::AttributeError;

/// A limiter that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The policy or the store section is wrong; the error names the file
    /// (or document), line, column and field.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The config file cannot be read.
    #[error("{file}: cannot read: {error}")]
    Read {
        /// The file as given.
        file: String,
        /// Why.
        error: std::io::Error,
    },
    /// The tokio runtime the store runs on cannot start.
    #[error("cannot start the limiter's runtime: {0}")]
    Runtime(std::io::Error),
}

impl From<LoadError> for SetupError {
    fn from(e: LoadError) -> SetupError {
        match e {
            LoadError::Read { file, error } => SetupError::Read { file, error },
            LoadError::Invalid(c) => SetupError::Config(c),
        }
    }
}

/// A request that cannot be decided as stated (a path without `/`, a
/// method that is not one, a cost of 0).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// The attributes or the cost.
    #[error(transparent)]
    Attributes(#[from] AttributeError),
}
