//! `Failure`: how a store failed a suite, said for a test's panic message.

use std::ops::Deref;

/// A store that does not behave as a case or suite expects: what differed
/// and where (the case, the step, the decision it got).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failure(String);

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure(message)
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> Self {
        f.0
    }
}

impl Deref for Failure {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}
