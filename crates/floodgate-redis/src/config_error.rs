//! `ConfigError`: Redis store settings that cannot work together.

/// A config that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("redis store config: {0}")]
pub struct ConfigError(pub String);
