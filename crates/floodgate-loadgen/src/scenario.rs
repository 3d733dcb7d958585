//! Scenarios: the traffic model as a YAML file (see `scenarios/`), and the
//! presets built from the shipped files.

use std::net::Ipv4Addr;
use std::time::Duration;

use floodgate_config::units::parse_duration;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::keys::Pick;
use crate::schedule::{Arrivals, Peak, RateProfile};

/// The presets: name, YAML.
pub const PRESETS: &[(&str, &str)] = &[
    ("api-keys", include_str!("../scenarios/api-keys.yaml")),
    ("envoy-grpc", include_str!("../scenarios/envoy-grpc.yaml")),
];

/// What is called.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// An HTTP request to `url` (a floodgate gateway, or any API).
    #[default]
    Http,
    /// `POST url` with a decision API body (`url` is floodgate's
    /// `http://admin/v1/check`).
    Check,
    /// Envoy's `ShouldRateLimit` over gRPC (`url` is floodgate's gRPC
    /// listener, `http://host:port`): one descriptor per request,
    /// `[descriptor_key=<the client's key or address>]` in `domain`.
    Grpc,
    /// `POST url` with Limitador's `check_and_report` body (`url` is
    /// `http://host:port/check_and_report`): namespace `domain`, values
    /// `{descriptor_key: <the client's key or address>}`, delta 1; for
    /// benchmarks side by side with Limitador's HTTP API.
    Limitador,
}

/// How the server tells clients apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// An API key header per client (`api_key_header`, `key_prefix` + n).
    #[default]
    ApiKey,
    /// A source address per client: in `http` mode the socket is bound to
    /// `ip_base + n` (loopback: all of 127.0.0.0/8 is local on Linux); in
    /// `check` mode `attributes.ip`.
    Ip,
    /// `X-Forwarded-For: ip_base + n` from one socket (the server must
    /// trust the loadgen's address, e.g. `trusted_proxies: [127.0.0.1/32]`);
    /// in `check` mode same as `ip`.
    ForwardedFor,
}

/// A scenario as written.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A name for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// What is called.
    #[serde(default)]
    pub target: TargetFile,
    /// Who calls.
    #[serde(default)]
    pub clients: ClientsFile,
    /// How fast.
    #[serde(default)]
    pub rate: RateFile,
    /// Seed of the key picks and Poisson arrivals.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Per-request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<String>,
}

/// `target:`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// `http` (default) or `check`.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The URL called.
    #[serde(default)]
    pub url: Option<String>,
    /// HTTP method (http mode), or `attributes.method` (check mode).
    #[serde(default)]
    pub method: Option<String>,
    /// `attributes.path` in check mode (default `/api/v1/data`).
    #[serde(default)]
    pub path: Option<String>,
    /// gRPC mode: the request's `domain` (default `edge`).
    #[serde(default)]
    pub domain: Option<String>,
    /// gRPC mode: the key of the descriptor's one entry (default `api_key`
    /// for `api_key` clients, `remote_address` for the others).
    #[serde(default)]
    pub descriptor_key: Option<String>,
    /// gRPC mode: HTTP/2 connections the requests are spread over, in
    /// turn (default 2).
    #[serde(default)]
    pub connections: Option<usize>,
}

/// `clients:`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsFile {
    /// How many.
    #[serde(default)]
    pub count: Option<usize>,
    /// `api_key` (default), `ip` or `forwarded_for`.
    #[serde(default)]
    pub identity: Option<Identity>,
    /// Header carrying the API key (default `X-API-Key`).
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// API keys are `key_prefix` + client number (default `lg-`).
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// First client address (default 127.1.0.1).
    #[serde(default)]
    pub ip_base: Option<Ipv4Addr>,
    /// `zipf` (default), `uniform` or `round_robin`.
    #[serde(default)]
    pub pick: Option<Pick>,
    /// Zipf exponent (default 1.0).
    #[serde(default)]
    pub zipf_exponent: Option<f64>,
}

/// `rate:`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateFile {
    /// Requests per second outside peaks.
    #[serde(default)]
    pub steady: Option<f64>,
    /// Peaks.
    #[serde(default)]
    pub peaks: Vec<PeakFile>,
    /// Length of the run (e.g. `30s`).
    #[serde(default)]
    pub duration: Option<String>,
    /// `uniform` (default) or `poisson`.
    #[serde(default)]
    pub arrivals: Option<Arrivals>,
}

/// One peak.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeakFile {
    /// Start (e.g. `10s`).
    pub at: String,
    /// Length (e.g. `4s`).
    pub duration: String,
    /// Requests per second.
    pub rate: f64,
}

/// A resolved scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name for reports.
    pub name: String,
    /// What is called.
    pub mode: Mode,
    /// The URL.
    pub url: http::Uri,
    /// HTTP method or `attributes.method`.
    pub method: http::Method,
    /// `attributes.path` (check mode).
    pub path: String,
    /// The request's `domain` (gRPC mode).
    pub domain: String,
    /// The descriptor entry's key (gRPC mode).
    pub descriptor_key: String,
    /// HTTP/2 connections (gRPC mode).
    pub connections: usize,
    /// Number of clients.
    pub clients: usize,
    /// How clients are told apart.
    pub identity: Identity,
    /// API key header.
    pub api_key_header: http::HeaderName,
    /// API key prefix.
    pub key_prefix: String,
    /// First client address.
    pub ip_base: Ipv4Addr,
    /// Client choice.
    pub pick: Pick,
    /// Zipf exponent.
    pub zipf_exponent: f64,
    /// The rate profile.
    pub profile: RateProfile,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// Seed.
    pub seed: u64,
    /// Per-request timeout.
    pub timeout: Duration,
}

fn dur(what: &str, s: &str) -> Result<Duration, Error> {
    parse_duration(s).map_err(|e| Error::Scenario(format!("{what}: {e}")))
}

impl ScenarioFile {
    /// Parses YAML.
    pub fn parse(name: &str, yaml: &str) -> Result<ScenarioFile, Error> {
        serde_yaml_ng::from_str(yaml).map_err(|e| Error::Scenario(format!("{name}: {e}")))
    }

    /// A preset by name.
    pub fn preset(name: &str) -> Result<ScenarioFile, Error> {
        let (_, yaml) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            Error::Scenario(format!(
                "no preset `{name}`; presets: {}",
                PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
            ))
        })?;
        ScenarioFile::parse(name, yaml)
    }

    /// Fills defaults and validates.
    pub fn resolve(&self) -> Result<Scenario, Error> {
        let bad = |m: String| Error::Scenario(m);
        let (mode, url, method, path) = self.target()?;
        let c = &self.clients;
        let clients = c.count.unwrap_or(100);
        if clients == 0 {
            return Err(bad("clients.count must be at least 1".into()));
        }
        let header_text = c
            .api_key_header
            .clone()
            .unwrap_or_else(|| "X-API-Key".into());
        let api_key_header = http::HeaderName::from_bytes(header_text.as_bytes())
            .map_err(|_| bad(format!("clients.api_key_header `{header_text}`")))?;
        let identity = c.identity.unwrap_or_default();
        let ip_base = c.ip_base.unwrap_or(Ipv4Addr::new(127, 1, 0, 1));
        check_addresses(ip_base, clients, identity, mode)?;
        let t = &self.target;
        let domain = t.domain.clone().unwrap_or_else(|| "edge".into());
        let descriptor_key = t.descriptor_key.clone().unwrap_or_else(|| {
            match identity {
                Identity::ApiKey => "api_key",
                Identity::Ip | Identity::ForwardedFor => "remote_address",
            }
            .into()
        });
        if domain.is_empty() || descriptor_key.is_empty() {
            return Err(bad(
                "target.domain and target.descriptor_key must not be empty".into(),
            ));
        }
        let connections = t.connections.unwrap_or(2);
        if connections == 0 {
            return Err(bad("target.connections must be at least 1".into()));
        }
        let zipf_exponent = c.zipf_exponent.unwrap_or(1.0);
        if !(zipf_exponent.is_finite() && zipf_exponent >= 0.0) {
            return Err(bad("clients.zipf_exponent must be ≥ 0".into()));
        }
        let profile = self.profile()?;
        Ok(Scenario {
            name: self.name.clone().unwrap_or_else(|| "custom".into()),
            mode,
            url,
            method,
            path,
            domain,
            descriptor_key,
            connections,
            clients,
            identity,
            api_key_header,
            key_prefix: c.key_prefix.clone().unwrap_or_else(|| "lg-".into()),
            ip_base,
            pick: c.pick.unwrap_or_default(),
            zipf_exponent,
            profile,
            arrivals: self.rate.arrivals.unwrap_or_default(),
            seed: self.seed.unwrap_or(1),
            timeout: dur("timeout", self.timeout.as_deref().unwrap_or("10s"))?,
        })
    }
    /// The target: mode, URL, method and path, with their defaults.
    fn target(&self) -> Result<(Mode, http::Uri, http::Method, String), Error> {
        let bad = |m: String| Error::Scenario(m);
        let mode = self.target.mode.unwrap_or_default();
        let url_text = self.target.url.clone().unwrap_or_else(|| match mode {
            Mode::Http => "http://127.0.0.1:8080/api/v1/data".into(),
            Mode::Check => "http://127.0.0.1:9090/v1/check".into(),
            Mode::Grpc => "http://127.0.0.1:8081".into(),
            Mode::Limitador => "http://127.0.0.1:8080/check_and_report".into(),
        });
        let url: http::Uri = url_text
            .parse()
            .map_err(|e| bad(format!("target.url `{url_text}`: {e}")))?;
        if url.scheme_str() != Some("http") || url.authority().is_none() {
            return Err(bad(format!(
                "target.url `{url_text}`: only http://host:port/... URLs"
            )));
        }
        let method_text = self.target.method.clone().unwrap_or_else(|| "GET".into());
        let method = http::Method::from_bytes(method_text.as_bytes())
            .map_err(|_| bad(format!("target.method `{method_text}` is not a method")))?;
        let path = self
            .target
            .path
            .clone()
            .unwrap_or_else(|| "/api/v1/data".into());
        if !path.starts_with('/') {
            return Err(bad(format!("target.path `{path}` must start with /")));
        }
        Ok((mode, url, method, path))
    }

    /// The rate profile, validated.
    fn profile(&self) -> Result<RateProfile, Error> {
        let r = &self.rate;
        let mut peaks = Vec::new();
        for p in &r.peaks {
            peaks.push(Peak {
                at: dur("rate.peaks.at", &p.at)?,
                duration: dur("rate.peaks.duration", &p.duration)?,
                rate: p.rate,
            });
        }
        let profile = RateProfile {
            steady: r.steady.unwrap_or(100.0),
            peaks,
            duration: dur("rate.duration", r.duration.as_deref().unwrap_or("10s"))?,
        };
        profile
            .validate()
            .map_err(|e| Error::Scenario(format!("rate: {e}")))?;
        Ok(profile)
    }
}

/// The clients' addresses fit in IPv4 and, when the loadgen binds sockets
/// to them (identity `ip` over HTTP), stay on the loopback network.
fn check_addresses(
    ip_base: Ipv4Addr,
    clients: usize,
    identity: Identity,
    mode: Mode,
) -> Result<(), Error> {
    let bad = |m: String| Error::Scenario(m);
    if crate::keys::client_ip(ip_base, clients - 1).is_none() {
        return Err(bad(format!(
            "clients: {clients} addresses from {ip_base} overflow IPv4"
        )));
    }
    if identity == Identity::Ip && mode == Mode::Http {
        let last = crate::keys::client_ip(ip_base, clients - 1);
        let loopback = |ip: Option<std::net::IpAddr>| ip.is_some_and(|i| i.is_loopback());
        if !loopback(Some(ip_base.into())) || !loopback(last) {
            return Err(bad(format!(
                "clients: identity ip binds sockets to {ip_base}..{}: they must stay inside 127.0.0.0/8",
                last.map(|l| l.to_string()).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
