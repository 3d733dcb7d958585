//! `Error`: what can go wrong before a run starts.

/// What can go wrong before a run starts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad scenario or option.
    #[error("scenario: {0}")]
    Scenario(String),
    /// A bad policy file.
    #[error("policy: {0}")]
    Policy(String),
}
