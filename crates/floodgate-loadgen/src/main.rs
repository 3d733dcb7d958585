//! The `floodgate-loadgen` binary: `run` a scenario, serve a tiny
//! `upstream`, list `presets`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use floodgate_loadgen::keys::Pick;
use floodgate_loadgen::run::Load;
use floodgate_loadgen::scenario::{Identity, Mode, PeakFile, ScenarioFile, PRESETS};
use floodgate_loadgen::schedule::Arrivals;

#[derive(Parser)]
#[command(
    name = "floodgate-loadgen",
    version,
    about = "Open-loop load generator for Floodgate and any HTTP API (and Envoy's rate limit service over gRPC)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Runtime worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Sends load and reports latency, status counts and accuracy.
    Run(Box<RunArgs>),
    /// Serves 200 with a small JSON body on every path.
    Upstream {
        /// Address to listen on (port 0: any free port, printed).
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Play a slow service: each request takes this long (e.g. `5ms`)
        /// once it holds one of `--workers` slots.
        #[arg(long)]
        delay: Option<String>,
        /// With `--delay`: requests served at once (default 16); the
        /// others wait in line (capacity: workers / delay per second).
        #[arg(long, requires = "delay", value_parser = clap::value_parser!(u32).range(1..))]
        workers: Option<u32>,
    },
    /// Lists the presets, or prints one.
    Presets {
        /// Print this preset's YAML.
        name: Option<String>,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Scenario file (YAML, see crates/floodgate-loadgen/scenarios/).
    #[arg(long, conflicts_with = "preset")]
    scenario: Option<PathBuf>,
    /// A shipped scenario (`presets` lists them).
    #[arg(long)]
    preset: Option<String>,
    /// The floodgate config the target runs: replays the run through it
    /// and reports expected against measured allowed requests.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Closed loop with this many workers instead of the schedule.
    #[arg(long)]
    closed_loop: Option<usize>,
    /// Closed loop: stop after this many requests.
    #[arg(long)]
    requests: Option<u64>,

    /// Target URL.
    #[arg(long)]
    url: Option<String>,
    /// `http` (call the URL), `check` (POST decision API bodies to it),
    /// `grpc` (Envoy's ShouldRateLimit; the URL is the gRPC listener's) or
    /// `limitador` (POST Limitador `check_and_report` bodies to it).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// HTTP method (http) or attributes.method (check).
    #[arg(long)]
    method: Option<String>,
    /// attributes.path (check mode).
    #[arg(long)]
    path: Option<String>,
    /// The request's domain (grpc mode), or namespace (limitador mode);
    /// default `edge`.
    #[arg(long)]
    domain: Option<String>,
    /// The descriptor entry's key (grpc and limitador modes; default `api_key`, or
    /// `remote_address` for ip and forwarded_for clients).
    #[arg(long)]
    descriptor_key: Option<String>,
    /// HTTP/2 connections the requests are spread over (grpc mode;
    /// default 2).
    #[arg(long)]
    connections: Option<usize>,
    /// Steady rate, requests per second.
    #[arg(long)]
    rate: Option<f64>,
    /// A peak `AT,DURATION,RATE` (e.g. `10s,4s,1200`); repeat for more;
    /// replaces the scenario's peaks.
    #[arg(long = "peak")]
    peaks: Vec<String>,
    /// Drop the scenario's peaks.
    #[arg(long)]
    no_peaks: bool,
    /// Run length (e.g. `30s`); closed loop: the time limit.
    #[arg(long)]
    duration: Option<String>,
    /// Number of clients.
    #[arg(long)]
    clients: Option<usize>,
    /// How clients are told apart.
    #[arg(long, value_enum)]
    identity: Option<Identity>,
    /// How the client of each request is picked.
    #[arg(long, value_enum)]
    pick: Option<Pick>,
    /// Zipf exponent.
    #[arg(long)]
    zipf: Option<f64>,
    /// API keys are this prefix + client number.
    #[arg(long)]
    key_prefix: Option<String>,
    /// API key header.
    #[arg(long)]
    api_key_header: Option<String>,
    /// First client address (ip / forwarded_for).
    #[arg(long)]
    ip_base: Option<Ipv4Addr>,
    /// Arrival process.
    #[arg(long, value_enum)]
    arrivals: Option<Arrivals>,
    /// Seed of the key picks and Poisson arrivals.
    #[arg(long)]
    seed: Option<u64>,
    /// Per-request timeout (e.g. `10s`).
    #[arg(long)]
    timeout: Option<String>,
}

impl RunArgs {
    fn scenario(&self) -> anyhow::Result<ScenarioFile> {
        let mut f = match (&self.scenario, &self.preset) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                ScenarioFile::parse(&path.display().to_string(), &text)?
            }
            (None, Some(name)) => ScenarioFile::preset(name)?,
            (None, None) => ScenarioFile::default(),
        };
        let t = &mut f.target;
        set(&mut t.url, &self.url);
        set(&mut t.mode, &self.mode);
        set(&mut t.method, &self.method);
        set(&mut t.path, &self.path);
        set(&mut t.domain, &self.domain);
        set(&mut t.descriptor_key, &self.descriptor_key);
        set(&mut t.connections, &self.connections);
        let c = &mut f.clients;
        set(&mut c.count, &self.clients);
        set(&mut c.identity, &self.identity);
        set(&mut c.pick, &self.pick);
        set(&mut c.zipf_exponent, &self.zipf);
        set(&mut c.key_prefix, &self.key_prefix);
        set(&mut c.api_key_header, &self.api_key_header);
        set(&mut c.ip_base, &self.ip_base);
        let r = &mut f.rate;
        set(&mut r.steady, &self.rate);
        set(&mut r.duration, &self.duration);
        set(&mut r.arrivals, &self.arrivals);
        if self.no_peaks {
            r.peaks.clear();
        }
        if !self.peaks.is_empty() {
            r.peaks = self
                .peaks
                .iter()
                .map(|p| parse_peak(p))
                .collect::<anyhow::Result<_>>()?;
        }
        set(&mut f.seed, &self.seed);
        set(&mut f.timeout, &self.timeout);
        Ok(f)
    }
}

fn set<T: Clone>(field: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        field.clone_from(value);
    }
}

fn parse_peak(text: &str) -> anyhow::Result<PeakFile> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [at, duration, rate] = parts[..] else {
        bail!("--peak `{text}`: expected AT,DURATION,RATE like 10s,4s,1200");
    };
    Ok(PeakFile {
        at: at.into(),
        duration: duration.into(),
        rate: rate
            .parse()
            .with_context(|| format!("--peak `{text}`: `{rate}` is not a rate"))?,
    })
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let scenario = args.scenario()?.resolve()?;
    let policy = match &args.policy {
        Some(p) => Some(floodgate_config::ConfigFile::load(p)?),
        None => None,
    };
    let load = match args.closed_loop {
        None => {
            if args.requests.is_some() {
                bail!("--requests goes with --closed-loop");
            }
            Load::Open
        }
        Some(concurrency) => Load::Closed {
            concurrency,
            requests: args.requests,
            duration: if args.duration.is_some() || args.requests.is_none() {
                scenario.profile.duration
            } else {
                Duration::MAX
            },
        },
    };
    if matches!(load, Load::Open) {
        eprintln!(
            "floodgate-loadgen: {} requests over {:?} to {} ({} clients)",
            scenario
                .profile
                .send_times(scenario.arrivals, scenario.seed)
                .len(),
            scenario.profile.duration,
            scenario.url,
            scenario.clients
        );
    }
    let report = floodgate_loadgen::run_and_report(&scenario, load, policy.as_ref()).await;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.save {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = cli.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.build()?;
    rt.block_on(async {
        match cli.command {
            Command::Run(args) => run(*args).await,
            Command::Upstream {
                listen,
                delay,
                workers,
            } => {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                println!("listening on {}", listener.local_addr()?);
                match delay {
                    None => floodgate_loadgen::upstream::serve(listener).await?,
                    Some(d) => {
                        let delay = floodgate_config::units::parse_duration(&d)
                            .map_err(|e| anyhow::anyhow!("--delay: {e}"))?;
                        let workers = workers.unwrap_or(16) as usize;
                        let slow = floodgate_loadgen::upstream::Slow { delay, workers };
                        floodgate_loadgen::upstream::serve_slow(listener, slow).await?
                    }
                }
                Ok(())
            }
            Command::Presets { name } => {
                match name {
                    None => {
                        for (n, _) in PRESETS {
                            println!("{n}");
                        }
                    }
                    Some(n) => match PRESETS.iter().find(|p| p.0 == n) {
                        Some((_, yaml)) => print!("{yaml}"),
                        None => bail!("no preset `{n}`"),
                    },
                }
                Ok(())
            }
        }
    })
}
