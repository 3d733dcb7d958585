//! `QuotaError`: a quota whose parameters cannot work.

/// A quota whose parameters cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QuotaError {
    field: &'static str,
    message: String,
}

impl QuotaError {
    pub(crate) fn new(field: &'static str, msg: impl Into<String>) -> Self {
        QuotaError {
            field,
            message: msg.into(),
        }
    }

    /// The parameter at fault: `capacity`, `burst`, `limit`, `window`,
    /// `rate` or `lease`.
    pub fn field(&self) -> &'static str {
        self.field
    }
}
