//! The binary's way of running the server: until SIGINT or SIGTERM, with
//! SIGHUP reloading the config file.

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::error::ServerError;
use super::options::Options;
use super::{run, Listeners};
use floodgate_config::units::parse_duration;

use crate::config::Config;
use crate::observe::logs;

/// SIGHUP as a stream of reload requests. Each also makes the Redis
/// store read its TLS files (and ask Sentinel) at once.
struct Hangups(Signal);

impl Stream for Hangups {
    type Item = ();
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let next = self.0.poll_recv(cx);
        if let Poll::Ready(Some(())) = next {
            floodgate_redis::connect::recheck_now();
        }
        next
    }
}

/// `floodgate serve`: the config file at `path` (or the embedded
/// default), checked for changes every `watch` (`off`: on SIGHUP only),
/// served on a multi-threaded runtime until a signal stops it.
pub fn serve(path: Option<PathBuf>, watch: &str) -> Result<(), ServeError> {
    let watch = match watch {
        "off" => None,
        w => Some(parse_duration(w).map_err(|e| ServeError::Watch(e.to_string()))?),
    };
    let config = match &path {
        Some(p) => Config::load(p)?,
        None => Config::default_config(),
    };
    logs::init(config.log.format, &config.log.level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Io)?;
    rt.block_on(serve_until_signalled(config, path, watch))?;
    Ok(())
}

/// Why `floodgate serve` did not serve, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--watch` is not a duration.
    #[error("--watch: {0}")]
    Watch(String),
    /// The config file is not valid.
    #[error(transparent)]
    Config(#[from] floodgate_config::LoadError),
    /// The server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// Serves `config` (read from `path`, checked for changes every `watch`)
/// until SIGINT or SIGTERM; SIGHUP reloads the config file.
pub async fn serve_until_signalled(
    config: Config,
    path: Option<PathBuf>,
    watch: Option<Duration>,
) -> Result<(), ServerError> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let hangups = Hangups(signal(SignalKind::hangup())?);
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    let listeners = Listeners::bind(&config).await?;
    let opts = Options {
        config_path: path,
        watch_interval: watch.filter(|w| !w.is_zero()),
        ..Options::default()
    };
    run(config, listeners, shutdown, hangups, opts).await
}
