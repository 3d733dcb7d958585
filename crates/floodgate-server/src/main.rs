//! The `floodgate` binary: parses arguments and calls the library.

/// jemalloc: the server allocates small, short-lived buffers on every
/// request from several threads, where glibc's malloc spent a fifth of the
/// CPU (arena locks included) under load.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use floodgate_server::app::signals::serve;
use floodgate_server::config::Config;
use floodgate_server::simulate;

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
    Admin(floodgate_cli::AdminArgs),
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
        Command::Serve { config, watch } => serve(config, &watch)?,
        Command::Simulate {
            config,
            trace,
            store,
        } => simulate::run_files(&config, &trace, &store)?,
        Command::CheckConfig { file } => out(&Config::load(&file)?.summary())?,
        Command::Admin(args) => return Ok(floodgate_cli::run(args)),
        Command::Import(Import::EnvoyRatelimit { path }) => {
            let import = floodgate_cli::import::envoy_ratelimit(&path)?;
            for w in &import.warnings {
                eprintln!("warning: {w}");
            }
            out(&import.text)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to stdout; a reader gone away (`… | head`) is no error.
fn out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => done,
    }
}
