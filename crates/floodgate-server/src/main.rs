//! The `floodgate` binary: parses arguments and calls the library.

/// jemalloc: the server allocates small, short-lived buffers on every
/// request from several threads, where glibc's malloc spent a fifth of the
/// CPU (arena locks included) under load.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::pin::Pin;
use std::task::Poll;

use floodgate_server::config::Config;
use floodgate_server::{logs, server, simulate};
use futures_core::Stream;
use tokio::signal::unix::{signal, Signal, SignalKind};

#[derive(Parser)]
#[command(
    name = "floodgate",
    version,
    about = "A rate limiter: gateway, decision service and simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server: the public listener (gateway or demo endpoints) and
    /// the admin listener. Without --config, an embedded default: in-memory,
    /// 127.0.0.1:8080 and 127.0.0.1:9090, 100 tokens at 1/s per client IP.
    Serve {
        /// The config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// How often to check the config file for changes (e.g. 2s), or
        /// `off` to reload on SIGHUP only.
        #[arg(long, default_value = "2s")]
        watch: String,
    },
    /// Replays a traffic trace through a policy on a manual clock.
    Simulate {
        /// The config file (policy).
        #[arg(long)]
        config: PathBuf,
        /// The trace: JSON lines of t, ip, method, path, headers, cost.
        #[arg(long)]
        trace: PathBuf,
        /// Where state lives during the run: `memory` (default), a Redis
        /// URL (`redis://host:port/db`) or `redis-cluster://host:port,host:port`.
        /// Redis runs with the trace's time, under a key prefix of its own.
        #[arg(long, default_value = "memory")]
        store: String,
    },
    /// Validates a config file and prints a summary.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Talks to a running server's admin API: the live policy, clients,
    /// overrides and counters.
    Admin(floodgate_server::cli::AdminArgs),
    /// Converts another service's configuration into a policy file
    /// (printed on stdout).
    #[command(subcommand)]
    Import(Import),
}

#[derive(Subcommand)]
enum Import {
    /// envoyproxy/ratelimit config files: a file or a directory of them.
    EnvoyRatelimit {
        /// The file or directory.
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, watch } => {
            let watch = match watch.as_str() {
                "off" => None,
                w => Some(
                    floodgate_config::units::parse_duration(w)
                        .map_err(|e| anyhow::anyhow!("--watch: {e}"))?,
                ),
            };
            let cfg = match &config {
                Some(path) => Config::load(path)?,
                None => Config::default_config(),
            };
            logs::init(cfg.log.format, &cfg.log.level);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve_until_signalled(cfg, config, watch))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate {
            config,
            trace,
            store,
        } => {
            let config = Config::load(&config)?;
            let name = trace.display().to_string();
            let input =
                BufReader::new(File::open(&trace).with_context(|| format!("{name}: cannot open"))?);
            let out = BufWriter::new(std::io::stdout().lock());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let store = simulate::store_for(&config, &store).await?;
                simulate::run(&config, store, &name, input, out).await?;
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            print!("{}", config.summary());
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(args) => Ok(floodgate_server::cli::run(args)),
        Command::Import(Import::EnvoyRatelimit { path }) => {
            print!("{}", floodgate_server::import::envoy_ratelimit(&path)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// SIGHUP as a stream of reload requests.
struct Hangups(Signal);

impl Stream for Hangups {
    type Item = ();
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<()>> {
        self.0.poll_recv(cx)
    }
}

/// Serves until SIGINT or SIGTERM; SIGHUP reloads the config file.
async fn serve_until_signalled(
    cfg: Config,
    path: Option<PathBuf>,
    watch: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let hangups = Hangups(signal(SignalKind::hangup())?);
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    let listeners = server::Listeners::bind(&cfg).await?;
    let opts = server::Options {
        config_path: path,
        watch_interval: watch.filter(|w| !w.is_zero()),
        ..server::Options::default()
    };
    server::run(cfg, listeners, shutdown, hangups, opts).await?;
    Ok(())
}
