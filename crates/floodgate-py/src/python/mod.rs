//! The PyO3 bindings: the `floodgate._native` module. The Python package
//! (`python/floodgate/`) wraps it in the public API.
//!
//! - [`limiter`]: `NativeLimiter`, an [`Engine`](crate::Engine) to Python.
//! - [`completions`]: Redis answers queued for the event loop, woken
//!   through a socket pair it watches (no GIL on the runtime's thread).
//! - [`decision`]: `Decision`, an [`Outcome`](crate::Outcome) to Python.
//! - [`clock`]: `ManualClock`, time moved by hand (tests, replays).
//! - [`errors`]: `PolicyError` (file, line, column, field) and the
//!   mapping of the crate's errors to Python exceptions.

mod clock;
mod completions;
mod decision;
mod errors;
mod limiter;

use pyo3::prelude::*;

/// `floodgate._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<limiter::NativeLimiter>()?;
    m.add_class::<decision::Decision>()?;
    m.add_class::<decision::Done>()?;
    m.add_class::<clock::ManualClock>()?;
    m.add("PolicyError", m.py().get_type::<errors::PolicyError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
