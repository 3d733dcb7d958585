//! `floodgate admin`: the admin API from the command line, for people and
//! for scripts (it never prompts; the exit code says what happened).
//!
//! # Layout
//!
//! - [`client`]: HTTP with the bearer token, a deadline and encoding.
//! - [`error`]: `CliError`, its exit codes and what stderr shows.
//! - [`output`]: JSON, YAML or text (tables) on stdout.
//! - [`policy`]: `get`, `apply`, `diff`, `history`, `rollback`.
//! - [`clients`]: `clients create|list|revoke|set|import|export`; the
//!   bulk ones in [`bulk`], with [`csv`].
//! - [`overrides`]: `override set|list|delete`.
//! - [`counters`]: `inspect`, `reset`.
//! - [`import`]: `floodgate import envoy-ratelimit`, reference
//!   configuration as a policy file.
//!
//! It imports nothing from the server: it speaks to one over HTTP.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bulk;
pub mod client;
pub mod clients;
pub mod counters;
pub mod csv;
pub mod error;
pub mod import;
pub mod output;
pub mod overrides;
pub mod policy;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use client::Client;
use error::CliError;
use output::Output;

/// The exit codes, for `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the server refused (4xx: unauthorized, not found, invalid policy,
     the policy changed meanwhile)
  2  usage or local error (bad flag, unreadable file, bad --limit)
  3  the server cannot be reached, does not answer in time, or fails (5xx)

Errors go to stderr as `error: <message>`; for an invalid policy, one
`  <field> (line L): <message>` line per error.";

/// `floodgate admin`: global flags and the command.
#[derive(Args)]
#[command(after_help = EXIT_CODES)]
pub struct AdminArgs {
    /// The admin listener.
    #[arg(
        long,
        global = true,
        env = "FLOODGATE_ADMIN_URL",
        hide_env_values = true,
        default_value = "http://127.0.0.1:9090"
    )]
    pub url: String,
    /// The admin token, sent as `Authorization: Bearer …`; prefer the
    /// environment variable, which process lists do not show.
    #[arg(
        long,
        global = true,
        env = "FLOODGATE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// How to print answers.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// How long a request may take, connecting and answering (e.g. 10s).
    #[arg(long, global = true, default_value = "10s")]
    pub timeout: String,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin commands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Prints the live policy: YAML with a `# version: N` header, or with
    /// `--output json` JSON with the version on stderr.
    Get {
        /// The same as `--output json|yaml`, kept for scripts written
        /// before `--output` (hidden from `--help`).
        #[arg(long, value_enum, hide = true)]
        format: Option<policy::Format>,
    },
    /// Replaces the live policy with a file: prints the diff, then applies
    /// it only if nobody changed the policy since it was read.
    Apply {
        /// The policy, YAML or JSON (by extension, else by content); `-`
        /// for stdin.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Print the diff and stop.
        #[arg(long)]
        dry_run: bool,
        /// Apply only if the live policy is at this version (default: the
        /// `# version: N` line that `get` writes at the top of a YAML
        /// file, when there is one; else the version read just before).
        #[arg(long)]
        if_match: Option<u64>,
    },
    /// Prints what applying a file would change.
    Diff {
        /// The policy, YAML or JSON; `-` for stdin.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Lists the policy's versions, newest first.
    History,
    /// Makes an earlier version live again (as a new version).
    Rollback {
        /// The version to return to.
        version: u64,
    },
    /// API keys and their tiers.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Limits for one identity of a rule.
    #[command(subcommand)]
    Override(overrides::OverrideCommand),
    /// Shows one identity's counters under a rule, without consuming.
    Inspect(counters::Which),
    /// Resets one identity's counters under a rule.
    Reset(counters::Which),
}

/// Runs a command; errors are reported on stderr and become the exit code.
pub fn run(args: AdminArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::note(&e.report());
            ExitCode::from(e.exit_code())
        }
    }
}

fn run_inner(args: AdminArgs) -> Result<(), CliError> {
    let timeout = floodgate_config::units::parse_duration(&args.timeout)
        .map_err(|e| CliError::Usage(format!("--timeout: {e}")))?;
    if timeout.is_zero() {
        return Err(CliError::Usage("--timeout: give more than 0".into()));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start: {e}")))?;
    rt.block_on(async {
        let c = Client::new(&args.url, args.token.as_deref(), timeout)?;
        let o = args.output;
        match args.command {
            AdminCommand::Get { format } => policy::get(&c, format, o).await,
            AdminCommand::Apply {
                file,
                dry_run,
                if_match,
            } => policy::apply(&c, &file, dry_run, if_match, o).await,
            AdminCommand::Diff { file } => policy::diff(&c, &file, o).await,
            AdminCommand::History => policy::history(&c, o).await,
            AdminCommand::Rollback { version } => policy::rollback(&c, version, o).await,
            AdminCommand::Clients(cmd) => clients::run(&c, cmd, o).await,
            AdminCommand::Override(cmd) => overrides::run(&c, cmd, o).await,
            AdminCommand::Inspect(w) => counters::inspect(&c, &w, o).await,
            AdminCommand::Reset(w) => counters::reset(&c, &w, o).await,
        }
    })
}
