//! `get`, `apply`, `diff`, `history`, `rollback`: the whole policy.

use std::io::Read;
use std::path::Path;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::client::{Body, Client};
use super::error::CliError;
use super::output::{self, cell, diff_is_empty, diff_text, note, out, table, utc, Output};

/// `get --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// YAML, with the version as a comment header.
    Yaml,
    /// JSON, with the version on stderr.
    Json,
}

/// A policy file's text, and whether it is YAML: by extension, else by
/// content (JSON starts with `{`).
pub fn read_policy(file: &Path) -> Result<(String, bool), CliError> {
    let name = file.display();
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| CliError::Usage(format!("{name}: {e}")))?
    };
    if text.trim().is_empty() {
        return Err(CliError::Usage(format!("{name}: the file is empty")));
    }
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let yaml = match ext.as_deref() {
        Some("yaml" | "yml") => true,
        Some("json") => false,
        _ => !text.trim_start().starts_with('{'),
    };
    policy_part(&name.to_string(), text, yaml)
}

/// The policy part of `text`: the text itself when it holds only policy
/// sections, else (a whole config file, with `listen`, `store`, …) its
/// policy sections alone, as YAML, and the file's `# version: N` line
/// kept.
pub fn policy_part(name: &str, text: String, yaml: bool) -> Result<(String, bool), CliError> {
    let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&text) {
        Ok(v) => v,
        // Not even YAML: the server says what is wrong.
        Err(_) => return Ok((text, yaml)),
    };
    let Some(map) = value.as_mapping() else {
        return Ok((text, yaml));
    };
    let server = map
        .keys()
        .filter_map(|k| k.as_str())
        .any(|k| floodgate_config::file::SERVER_FIELDS.contains(&k));
    if !server {
        return Ok((text, yaml));
    }
    let file: floodgate_config::FileDocument = serde_yaml_ng::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{name}: not a config file: {e}")))?;
    let mut out = version_header(&text)
        .map(|v| format!("# version: {v}\n"))
        .unwrap_or_default();
    out.push_str(
        &serde_yaml_ng::to_string(&file.policy)
            .map_err(|e| CliError::Usage(format!("{name}: {e}")))?,
    );
    Ok((out, true))
}

/// `get`.
pub async fn get(c: &Client, format: Option<Format>, o: Output) -> Result<(), CliError> {
    let yaml = match format {
        Some(f) => f == Format::Yaml,
        None => o != Output::Json,
    };
    let a = c
        .get(if yaml {
            "/v1/policy?format=yaml"
        } else {
            "/v1/policy"
        })
        .await?;
    let version = a
        .version()
        .map_or_else(|| "unknown".into(), |v| v.to_string());
    if yaml {
        // A comment, so stdout stays a document `apply` takes back.
        out(&format!(
            "# version: {version}\n{}",
            String::from_utf8_lossy(&a.body)
        ));
    } else {
        note(&format!("version: {version}\n"));
        out(&output::document(&a.json()?, false)?);
    }
    Ok(())
}

async fn validate(c: &Client, text: &str, yaml: bool) -> Result<Value, CliError> {
    c.send(
        Method::POST,
        "/v1/policy/validate",
        Some(Body::document(text, yaml)),
        None,
    )
    .await?
    .json()
}

/// `diff -f FILE`.
pub async fn diff(c: &Client, file: &Path, o: Output) -> Result<(), CliError> {
    let (text, yaml) = read_policy(file)?;
    let v = validate(c, &text, yaml).await?;
    output::print(o, &v, || {
        format!(
            "against live version {}:\n{}",
            cell(&v["version"]),
            diff_text(&v["diff"])
        )
    })
}

fn changed_meanwhile(live: u64, now: Option<u64>) -> CliError {
    let now = now.map_or_else(|| "another".into(), |n| n.to_string());
    CliError::Refused(super::error::Refusal {
        status: StatusCode::CONFLICT,
        code: "version_mismatch".into(),
        message: format!(
            "the policy changed meanwhile (it is now at version {now}; this apply was checked against version {live}); nothing was applied: run it again to see the new diff"
        ),
        errors: Vec::new(),
        current_version: None,
    })
}

/// `apply -f FILE [--dry-run]`: GET the live version, validate (the diff),
/// PUT with `If-Match` so a change made meanwhile is never overwritten.
pub async fn apply(
    c: &Client,
    file: &Path,
    dry_run: bool,
    if_match: Option<u64>,
    o: Output,
) -> Result<(), CliError> {
    let (text, yaml) = read_policy(file)?;
    let live = c.get("/v1/policy").await?.version().ok_or_else(|| {
        CliError::Unreachable("the admin API gave the policy without an ETag".into())
    })?;
    // The version the file was read at (`get` writes it at the top): a
    // change made since by someone else is not overwritten.
    if let Some(read_at) = if_match.or_else(|| version_header(&text)) {
        if read_at != live {
            return Err(changed_meanwhile(read_at, Some(live)));
        }
    }
    let checked = validate(c, &text, yaml).await?;
    let against = checked["version"].as_u64();
    if against != Some(live) {
        return Err(changed_meanwhile(live, against));
    }
    let diff = &checked["diff"];
    if o == Output::Text {
        out(&format!(
            "against live version {live}:\n{}",
            diff_text(diff)
        ));
    }
    if dry_run || diff_is_empty(diff) {
        if o == Output::Text {
            let why = if dry_run { "dry run" } else { "no change" };
            out(&format!("{why}: nothing applied (live version {live})\n"));
        }
        return output::print(o, &checked, String::new);
    }
    let done = c
        .send(
            Method::PUT,
            "/v1/policy",
            Some(Body::document(&text, yaml)),
            Some(live),
        )
        .await
        .map_err(|e| match e {
            CliError::Refused(r) if r.status == StatusCode::CONFLICT => {
                changed_meanwhile(live, r.current_version)
            }
            e => e,
        })?
        .json()?;
    output::print(o, &done, || {
        format!("applied: version {}\n", cell(&done["version"]))
    })
}

/// The `# version: N` line `get` writes at the top of a YAML document.
fn version_header(text: &str) -> Option<u64> {
    text.lines()
        .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
        .find_map(|l| l.trim_start().strip_prefix("# version:"))
        .and_then(|v| v.trim().parse().ok())
}

/// `history`.
pub async fn history(c: &Client, o: Output) -> Result<(), CliError> {
    let v = c.get("/v1/policy/history").await?.json()?;
    output::print(o, &v, || {
        let rows: Vec<Vec<String>> = v["history"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|h| {
                let live = if h["version"] == v["version"] {
                    "*"
                } else {
                    ""
                };
                // A change of the clients makes no version.
                let version = if h["kind"] == "clients" {
                    "-".to_string()
                } else {
                    format!("{}{live}", cell(&h["version"]))
                };
                vec![
                    version,
                    h["time"].as_u64().map_or_else(|| cell(&h["time"]), utc),
                    cell(&h["actor"]),
                    cell(&h["summary"]),
                ]
            })
            .collect();
        table(&["VERSION", "TIME", "ACTOR", "SUMMARY"], &rows)
    })
}

/// `rollback VERSION`.
pub async fn rollback(c: &Client, version: u64, o: Output) -> Result<(), CliError> {
    let done = c
        .send(
            Method::POST,
            "/v1/policy/rollback",
            Some(Body::json(&json!({ "version": version }))),
            None,
        )
        .await?
        .json()?;
    output::print(o, &done, || {
        if diff_is_empty(&done["diff"]) {
            // Version `version` is what runs already: no new version.
            return format!(
                "version {version} is the live policy already: no change (still version {})\n",
                cell(&done["version"])
            );
        }
        format!(
            "rolled back to version {version}: now version {}\n{}",
            cell(&done["version"]),
            diff_text(&done["diff"])
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_config_file_gives_its_policy_part() {
        let file = "# version: 3\nlisten: 127.0.0.1:8080\nstore: { kind: memory }\ntiers: [free]\nrules:\n  - name: api\n    limits: [{ algorithm: fixed_window, limit: 5, window: 1m }]\n";
        let (text, yaml) = policy_part("f.yaml", file.into(), true).unwrap();
        assert!(yaml);
        assert!(text.starts_with("# version: 3\n"), "{text}");
        assert!(
            !text.contains("listen") && !text.contains("store"),
            "{text}"
        );
        let doc: floodgate_config::PolicyDocument = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(doc.tiers, ["free"]);
        assert_eq!(doc.rules[0].name, "api");
        // A policy alone passes as it is.
        let policy = "tiers: [free]\n";
        assert_eq!(policy_part("p", policy.into(), true).unwrap().0, policy);
        // A config file with a mistake is named.
        let e = policy_part("f.yaml", "listen: 1\nrules: 7\n".into(), true).unwrap_err();
        assert!(
            e.to_string().starts_with("f.yaml: not a config file"),
            "{e}"
        );
    }

    #[test]
    fn the_format_comes_from_the_extension_else_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let is_yaml = |p: &Path| read_policy(p).unwrap().1;
        assert!(is_yaml(&write("a.yml", "{}")));
        assert!(!is_yaml(&write("a.json", "tiers: []")));
        assert!(!is_yaml(&write("a.policy", "  {\"tiers\": []}")));
        assert!(is_yaml(&write("b.policy", "tiers: []")));
        assert!(matches!(
            read_policy(&write("c.yaml", " \n")),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            read_policy(&dir.path().join("missing.yaml")),
            Err(CliError::Usage(_))
        ));
    }
}
