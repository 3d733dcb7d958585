//! `Shared`: the connection set in use, swapped whole by the watcher, and
//! what the calls on it tell the watcher.

use std::sync::atomic::AtomicUsize;

use arc_swap::ArcSwap;

use super::open::Links;
use crate::placement::Placement;

/// What a connection set's users (`Conn`) and its watcher share.
pub(crate) struct Shared {
    pub(crate) links: ArcSwap<Links>,
    pub(crate) next: AtomicUsize,
    pub(crate) placement: Option<Placement>,
    pub(crate) cluster: bool,
    /// Sentinel: a call saw a sign that the primary moved (`READONLY`,
    /// a connection error); the watcher asks Sentinel at once.
    pub(crate) moved: tokio::sync::Notify,
    pub(crate) sentinel: bool,
}

impl Shared {
    /// Notes what failed call `e` says about where the primary is.
    pub(crate) fn saw(&self, e: &redis::RedisError) {
        if self.sentinel
            && (is_readonly(e)
                || e.is_io_error()
                || e.is_connection_refusal()
                || e.is_connection_dropped())
        {
            self.moved.notify_one();
        }
    }
}

/// The answer came from a replica.
pub(crate) fn is_readonly(e: &redis::RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
    )
}
