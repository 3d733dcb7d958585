//! `clients create|list|revoke|set`: API keys, kept by the server only as
//! digests; a created key is printed once.

use clap::Subcommand;
use http::Method;
use serde_json::{json, Map, Value};

use super::client::{path, Body, Client};
use super::error::CliError;
use super::output::{self, cell, note, table, Output};

/// What the server keeps of a key.
const SHOWN_ONCE: &str =
    "This key is shown only now: the server keeps only its digest. Store it safely.";

/// `clients …`.
#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Creates a client; prints its API key once.
    Create {
        /// Its tier.
        #[arg(long)]
        tier: String,
        /// A name, for people.
        #[arg(long)]
        name: Option<String>,
        /// The key (16 to 256 characters); without it one is generated.
        #[arg(long)]
        api_key: Option<String>,
    },
    /// Lists clients: fingerprints, tiers, names (never keys).
    List,
    /// Revokes a client: its key is unknown from then on.
    Revoke {
        /// The key's fingerprint (from `clients list`).
        fingerprint: String,
    },
    /// Changes a client's tier or name.
    Set {
        /// The key's fingerprint.
        fingerprint: String,
        /// The new tier.
        #[arg(long)]
        tier: Option<String>,
        /// The new name.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Runs a `clients` command.
pub async fn run(c: &Client, cmd: ClientsCommand, o: Output) -> Result<(), CliError> {
    match cmd {
        ClientsCommand::Create {
            tier,
            name,
            api_key,
        } => create(c, tier, name, api_key, o).await,
        ClientsCommand::List => {
            let v = c.get("/v1/clients").await?.json()?;
            output::print(o, &v, || {
                let rows: Vec<Vec<String>> = v["clients"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| vec![cell(&c["fingerprint"]), cell(&c["tier"]), cell(&c["name"])])
                    .collect();
                table(&["FINGERPRINT", "TIER", "NAME"], &rows)
            })
        }
        ClientsCommand::Revoke { fingerprint } => {
            let v = c
                .send(
                    Method::DELETE,
                    &path(&["v1", "clients", &fingerprint]),
                    None,
                    None,
                )
                .await?
                .json()?;
            output::print(o, &v, || {
                format!(
                    "revoked client {fingerprint}: now version {}\n",
                    cell(&v["version"])
                )
            })
        }
        ClientsCommand::Set {
            fingerprint,
            tier,
            name,
        } => set(c, &fingerprint, tier, name, o).await,
    }
}

/// `clients create`.
async fn create(
    c: &Client,
    tier: String,
    name: Option<String>,
    api_key: Option<String>,
    o: Output,
) -> Result<(), CliError> {
    let mut body = Map::new();
    body.insert("tier".into(), json!(tier));
    if let Some(n) = name {
        body.insert("name".into(), json!(n));
    }
    if let Some(k) = api_key {
        body.insert("api_key".into(), json!(k));
    }
    let v = c
        .send(
            Method::POST,
            "/v1/clients",
            Some(Body::json(&Value::Object(body))),
            None,
        )
        .await?
        .json()?;
    if o != Output::Text {
        // stdout stays one document.
        note(&format!("{SHOWN_ONCE}\n"));
    }
    output::print(o, &v, || {
        format!(
            "api key:      {}\nfingerprint:  {}\ntier:         {}\nname:         {}\nversion:      {}\n{SHOWN_ONCE}\n",
            cell(&v["api_key"]),
            cell(&v["fingerprint"]),
            cell(&v["tier"]),
            cell(&v["name"]),
            cell(&v["version"]),
        )
    })
}

/// `clients set`.
async fn set(
    c: &Client,
    fingerprint: &str,
    tier: Option<String>,
    name: Option<String>,
    o: Output,
) -> Result<(), CliError> {
    if tier.is_none() && name.is_none() {
        return Err(CliError::Usage(
            "clients set: give --tier, --name or both".into(),
        ));
    }
    let mut body = Map::new();
    if let Some(t) = tier {
        body.insert("tier".into(), json!(t));
    }
    if let Some(n) = name {
        body.insert("name".into(), json!(n));
    }
    let v = c
        .send(
            Method::PATCH,
            &path(&["v1", "clients", fingerprint]),
            Some(Body::json(&Value::Object(body))),
            None,
        )
        .await?
        .json()?;
    output::print(o, &v, || {
        format!(
            "changed client {fingerprint}: now version {}\n",
            cell(&v["version"])
        )
    })
}
