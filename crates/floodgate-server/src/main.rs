//! The `floodgate` binary: parses arguments and calls the library.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
    /// Replays a traffic trace through a policy on a manual clock.
    Simulate {
        /// The config file (policy).
        #[arg(long)]
        config: PathBuf,
        /// The trace: JSON lines of t, ip, method, path, headers, cost.
        #[arg(long)]
        trace: PathBuf,
    },
    /// Validates a config file and prints a summary.
    CheckConfig {
        /// The config file.
        file: PathBuf,
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
        Command::Simulate { config, trace } => {
            let config = Config::load(&config)?;
            let name = trace.display().to_string();
            let input =
                BufReader::new(File::open(&trace).with_context(|| format!("{name}: cannot open"))?);
            let store = simulate::memory_store(&config);
            let out = BufWriter::new(std::io::stdout().lock());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(simulate::run(&config, store, &name, input, out))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            print!("{}", config.summary());
            Ok(ExitCode::SUCCESS)
        }
    }
}
