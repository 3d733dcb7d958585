//! Python exceptions for the crate's errors. A bad policy or store
//! section raises `PolicyError` (a `ValueError`) whose message starts with
//! `file:line:column:` and which carries `file`, `line`, `column`,
//! `field` and `reason`; a request that cannot be decided as stated
//! raises `ValueError`.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::{AskError, SetupError};

pyo3::create_exception!(
    floodgate,
    PolicyError,
    PyValueError,
    "A policy, store section or trusted proxy list that cannot work; the message names the file, line, column and field."
);

/// The Python exception for a setup error.
pub fn setup_error(py: Python<'_>, e: SetupError) -> PyErr {
    match e {
        SetupError::Config(c) => {
            let err = PolicyError::new_err(c.to_string());
            let v = err.value(py);
            let _ = v.setattr("file", c.file);
            let _ = v.setattr("line", c.line);
            let _ = v.setattr("column", c.column);
            let _ = v.setattr("field", c.field);
            let _ = v.setattr("reason", c.message);
            err
        }
        e @ SetupError::Read { .. } => PyOSError::new_err(e.to_string()),
        e @ SetupError::Runtime(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

/// The Python exception for a request that cannot be decided as stated.
pub fn ask_error(e: AskError) -> PyErr {
    PyValueError::new_err(e.to_string())
}
