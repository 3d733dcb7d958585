//! `override set|list|delete`: limits for one identity of a rule. Limits
//! are checked here first, so a typo is a usage error (exit 2) before
//! anything is sent.

use std::path::PathBuf;

use clap::{ArgGroup, Subcommand};
use floodgate_config::LimitDocument;
use http::Method;
use serde_json::{json, Map, Value};

use super::client::{path, Body, Client};
use super::error::CliError;
use super::output::{self, cell, table, utc, Output};

/// `override …`.
#[derive(Subcommand)]
pub enum OverrideCommand {
    /// Sets (creates or replaces) an identity's limits under a rule.
    #[command(group(ArgGroup::new("limits").required(true).args(["file", "limit"])))]
    Set {
        /// The rule.
        rule: String,
        /// The identity as the rule's key gives it (`u:alice`,
        /// `k:<fingerprint>`, `i:203.0.113.7`, parts joined by `|`).
        identity: String,
        /// A YAML or JSON file: a list of limits, or `{limits: [...]}`.
        #[arg(short = 'f', long = "file", conflicts_with = "limit")]
        file: Option<PathBuf>,
        /// One limit, e.g. `algorithm=fixed_window,limit=100,window=1h`;
        /// repeat for several.
        #[arg(long)]
        limit: Vec<String>,
        /// Stop applying after this long (e.g. 24h).
        #[arg(long, conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// Stop applying at this time (Unix seconds).
        #[arg(long)]
        expires_at: Option<u64>,
    },
    /// Lists overrides in force.
    List,
    /// Removes an override.
    Delete {
        /// The rule.
        rule: String,
        /// The identity.
        identity: String,
    },
}

/// Fields that are numbers; every other value is sent as a string.
const NUMBERS: [&str; 3] = ["limit", "capacity", "burst"];

/// `algorithm=fixed_window,limit=100,window=1h` as a limit.
pub fn parse_limit(spec: &str) -> Result<Value, CliError> {
    let bad = |why: String| CliError::Usage(format!("--limit `{spec}`: {why}"));
    let mut m = Map::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("`{part}` is not key=value")))?;
        let (k, v) = (k.trim(), v.trim());
        let value = if NUMBERS.contains(&k) {
            json!(v
                .parse::<u64>()
                .map_err(|_| bad(format!("{k}: `{v}` is not a whole number")))?)
        } else {
            json!(v)
        };
        if m.insert(k.to_string(), value).is_some() {
            return Err(bad(format!("{k} is given twice")));
        }
    }
    let v = Value::Object(m);
    check_limits(std::slice::from_ref(&v)).map_err(|e| bad(e.to_string()))?;
    Ok(v)
}

/// Limits from a file: a list, or a mapping with `limits`.
pub fn read_limits(file: &std::path::Path) -> Result<Vec<Value>, CliError> {
    let name = file.display();
    let text =
        std::fs::read_to_string(file).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
    // JSON is YAML too.
    let v: Value =
        serde_yaml_ng::from_str(&text).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
    let list = match v {
        Value::Array(a) => a,
        Value::Object(mut m) if m.len() == 1 && m.contains_key("limits") => {
            match m.remove("limits") {
                Some(Value::Array(a)) => a,
                _ => return Err(CliError::Usage(format!("{name}: `limits` is not a list"))),
            }
        }
        _ => {
            return Err(CliError::Usage(format!(
                "{name}: give a list of limits, or `limits:` and a list"
            )))
        }
    };
    check_limits(&list).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
    Ok(list)
}

/// Why a list of limits cannot be sent.
#[derive(Debug, thiserror::Error)]
enum BadLimits {
    #[error("no limits")]
    Empty,
    #[error("limit {0}: {1}")]
    Limit(usize, serde_json::Error),
}

/// Each limit as the server reads one (fields and their types; what they
/// mean together the server checks).
fn check_limits(list: &[Value]) -> Result<(), BadLimits> {
    if list.is_empty() {
        return Err(BadLimits::Empty);
    }
    for (i, l) in list.iter().enumerate() {
        serde_json::from_value::<LimitDocument>(l.clone())
            .map_err(|e| BadLimits::Limit(i + 1, e))?;
    }
    Ok(())
}

/// A limit in a few words: its fields as `k=v`, algorithm first.
fn limit_text(l: &Value) -> String {
    let Some(m) = l.as_object() else {
        return cell(l);
    };
    let mut parts = vec![cell(&l["algorithm"])];
    parts.extend(
        m.iter()
            .filter(|(k, _)| *k != "algorithm")
            .map(|(k, v)| format!("{k}={}", cell(v))),
    );
    parts.join(" ")
}

/// Runs an `override` command.
pub async fn run(c: &Client, cmd: OverrideCommand, o: Output) -> Result<(), CliError> {
    match cmd {
        OverrideCommand::Set {
            rule,
            identity,
            file,
            limit,
            expires_in,
            expires_at,
        } => {
            let limits = match file {
                Some(f) => read_limits(&f)?,
                None => limit
                    .iter()
                    .map(|s| parse_limit(s))
                    .collect::<Result<_, _>>()?,
            };
            set(c, &rule, &identity, limits, expires_in, expires_at, o).await
        }
        OverrideCommand::List => {
            let v = c.get("/v1/overrides").await?.json()?;
            output::print(o, &v, || {
                let rows: Vec<Vec<String>> = v["overrides"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|x| {
                        let limits: Vec<String> = x["limits"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default()
                            .iter()
                            .map(limit_text)
                            .collect();
                        vec![
                            cell(&x["rule"]),
                            cell(&x["identity"]),
                            x["expires_at"].as_u64().map_or_else(|| "never".into(), utc),
                            limits.join("; "),
                        ]
                    })
                    .collect();
                table(&["RULE", "IDENTITY", "EXPIRES", "LIMITS"], &rows)
            })
        }
        OverrideCommand::Delete { rule, identity } => {
            let v = c
                .send(
                    Method::DELETE,
                    &path(&["v1", "overrides", &rule, &identity]),
                    None,
                    None,
                )
                .await?
                .json()?;
            output::print(o, &v, || {
                format!(
                    "override of {rule} for {identity} deleted: now version {}\n",
                    cell(&v["version"])
                )
            })
        }
    }
}

/// `override set`.
async fn set(
    c: &Client,
    rule: &str,
    identity: &str,
    limits: Vec<Value>,
    expires_in: Option<String>,
    expires_at: Option<u64>,
    o: Output,
) -> Result<(), CliError> {
    let mut body = Map::new();
    body.insert("limits".into(), Value::Array(limits));
    if let Some(d) = expires_in {
        floodgate_config::units::parse_duration(&d)
            .map_err(|e| CliError::Usage(format!("--expires-in: {e}")))?;
        body.insert("expires_in".into(), json!(d));
    }
    if let Some(at) = expires_at {
        body.insert("expires_at".into(), json!(at));
    }
    let v = c
        .send(
            Method::PUT,
            &path(&["v1", "overrides", rule, identity]),
            Some(Body::json(&Value::Object(body))),
            None,
        )
        .await?
        .json()?;
    output::print(o, &v, || {
        format!(
            "override of {rule} for {identity} set: now version {}\n",
            cell(&v["version"])
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_flags_are_typed_and_checked() {
        assert_eq!(
            parse_limit("algorithm=fixed_window, limit=100,window=1h").unwrap(),
            json!({"algorithm": "fixed_window", "limit": 100, "window": "1h"})
        );
        assert_eq!(
            parse_limit("algorithm=gcra,rate=10/s,burst=5").unwrap(),
            json!({"algorithm": "gcra", "rate": "10/s", "burst": 5})
        );
        for bad in [
            "algorithm=fixed_window,limit=ten,window=1h",
            "algorithm=fixed_window,limt=1",
            "limit=1,window=1h",
            "algorithm",
            "algorithm=a,algorithm=b",
            "algorithm=fixed_window,window=10",
        ] {
            assert!(matches!(parse_limit(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn limits_files_are_a_list_or_a_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.yaml");
        std::fs::write(&p, "- {algorithm: fixed_window, limit: 3, window: 1m}\n").unwrap();
        assert_eq!(read_limits(&p).unwrap()[0]["limit"], 3);
        std::fs::write(&p, r#"{"limits": [{"algorithm": "gcra", "rate": "1/s"}]}"#).unwrap();
        assert_eq!(read_limits(&p).unwrap()[0]["rate"], "1/s");
        std::fs::write(&p, "limits: []\n").unwrap();
        assert!(read_limits(&p).is_err());
    }
}
