//! The server library's errors.

use std::net::SocketAddr;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what})")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A listener failed while serving.
    #[error("the {what} listener failed")]
    Serve {
        /// Which listener.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The threads that serve connections could not be started.
    #[error("cannot start the serving threads")]
    Threads(#[source] std::io::Error),
    /// A listener stopped on its own.
    #[error("the {0} listener stopped")]
    Stopped(&'static str),
    /// The server task panicked or was cancelled.
    #[error("the server task failed")]
    Task(#[from] tokio::task::JoinError),
    /// Redis refused this configuration (a wrong password, a missing
    /// permission, an unusable TLS file): starting cannot help.
    #[error("the Redis store refuses this configuration: {0}")]
    StoreRefused(#[source] floodgate_redis::ConnectError),
    /// The kept policy (state file or Redis) cannot be used.
    #[error(transparent)]
    Policy(#[from] floodgate_admin::live::LiveError),
    /// Another I/O error (a listener's address).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Why a reload was refused (the running config stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The server runs on the embedded default config.
    #[error("running on the embedded default config: nothing to reload")]
    NoFile,
    /// The file is not a valid config.
    #[error(transparent)]
    Invalid(#[from] floodgate_config::LoadError),
    /// The file's policy part could not become the live policy.
    #[error(transparent)]
    Policy(#[from] floodgate_admin::live::LiveError),
}
