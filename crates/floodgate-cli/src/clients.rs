//! `clients create|list|revoke|set|import|export`: API keys, kept by the
//! server only as digests; a created key is printed once.

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
    /// Lists clients: fingerprints, tiers, names (never keys), every page.
    List {
        /// Only this tier's.
        #[arg(long)]
        tier: Option<String>,
        /// Fingerprints starting with it, or names containing it.
        #[arg(long)]
        search: Option<String>,
    },
    /// Adds or changes many clients from a CSV or JSON file (idempotent).
    Import {
        /// The file: CSV with a header row (`api_key` or `api_key_sha256`,
        /// `tier`, `name`), or JSON (`{"clients": [...]}` or a list).
        file: String,
    },
    /// Prints every client by its key's SHA-256: CSV (text output) or the
    /// server's JSON (`-o json`).
    Export,
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
        ClientsCommand::Import { file } => super::bulk::import(c, &file, o).await,
        ClientsCommand::Export => super::bulk::export(c, o).await,
        ClientsCommand::List { tier, search } => {
            let v = list(c, tier.as_deref(), search.as_deref()).await?;
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
            output::print(o, &v, || format!("revoked client {fingerprint}\n"))
        }
        ClientsCommand::Set {
            fingerprint,
            tier,
            name,
        } => set(c, &fingerprint, tier, name, o).await,
    }
}

/// Every page of `GET /v1/clients`, as one answer.
async fn list(c: &Client, tier: Option<&str>, search: Option<&str>) -> Result<Value, CliError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    let total = loop {
        let mut q: Vec<(&str, &str)> = vec![("limit", "1000")];
        if let Some(t) = tier {
            q.push(("tier", t));
        }
        if let Some(s) = search {
            q.push(("q", s));
        }
        if let Some(a) = &after {
            q.push(("after", a));
        }
        let v = c
            .get(&format!("/v1/clients{}", super::client::query(&q)))
            .await?
            .json()?;
        all.extend(v["clients"].as_array().cloned().unwrap_or_default());
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break v["total"].clone(),
        }
    };
    Ok(json!({ "clients": all, "total": total }))
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
            "api key:      {}\nfingerprint:  {}\ntier:         {}\nname:         {}\n{SHOWN_ONCE}\n",
            cell(&v["api_key"]),
            cell(&v["fingerprint"]),
            cell(&v["tier"]),
            cell(&v["name"]),
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
            "changed client {fingerprint}: tier {}, name {}\n",
            cell(&v["tier"]),
            cell(&v["name"])
        )
    })
}
