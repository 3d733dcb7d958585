//! `clients import FILE` and `clients export`: many clients at once, as
//! CSV (a header row naming `api_key` or `api_key_sha256`, `tier`, and
//! optionally `name`) or JSON (`{"clients": [...]}` or a list, each with
//! the same fields). An import is sent in parts of [`PART`] clients, each
//! idempotent: running it again changes nothing.

use http::Method;
use serde_json::{json, Value};

use super::client::{Body, Client};
use super::csv;
use super::error::CliError;
use super::output::{self, cell, Output};

/// Clients per request.
pub const PART: usize = 2_000;

/// The clients of `text` (from `file`), as the import route takes them.
pub fn read(file: &str, text: &str) -> Result<Vec<Value>, CliError> {
    let usage = |m: String| CliError::Usage(format!("{file}: {m}"));
    let json_like = text.trim_start().starts_with(['{', '[']) || file.ends_with(".json");
    if json_like {
        let v: Value = serde_json::from_str(text).map_err(|e| usage(format!("not JSON: {e}")))?;
        let list = match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("clients") {
                Some(Value::Array(a)) => a,
                _ => return Err(usage("a JSON object must hold a `clients` list".into())),
            },
            _ => return Err(usage("give a JSON list of clients".into())),
        };
        return Ok(list);
    }
    let rows = csv::parse(text).map_err(usage)?;
    let Some((header, rows)) = rows.split_first() else {
        return Err(usage(
            "empty: give a header row and a row per client".into(),
        ));
    };
    let known = ["api_key", "api_key_sha256", "tier", "name"];
    for h in header {
        if !known.contains(&h.trim()) {
            return Err(usage(format!(
                "unknown column `{h}` (columns: {})",
                known.join(", ")
            )));
        }
    }
    if !header.iter().any(|h| h.trim() == "tier") {
        return Err(usage("no `tier` column".into()));
    }
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        if row.len() == 1 && row[0].trim().is_empty() {
            continue;
        }
        if row.len() != header.len() {
            return Err(usage(format!(
                "line {}: {} fields where the header has {}",
                i + 2,
                row.len(),
                header.len()
            )));
        }
        let mut c = serde_json::Map::new();
        for (h, v) in header.iter().zip(row) {
            if !v.is_empty() {
                c.insert(h.trim().to_string(), json!(v));
            }
        }
        out.push(Value::Object(c));
    }
    Ok(out)
}

/// `clients import FILE`.
pub async fn import(c: &Client, file: &str, o: Output) -> Result<(), CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("{file}: cannot read: {e}")))?;
    let clients = read(file, &text)?;
    let (mut created, mut updated, mut unchanged, mut seq) = (0, 0, 0, 0);
    for part in clients.chunks(PART) {
        let v = c
            .send(
                Method::POST,
                "/v1/clients/import",
                Some(Body::json(&json!({ "clients": part }))),
                None,
            )
            .await?
            .json()?;
        created += v["created"].as_u64().unwrap_or(0);
        updated += v["updated"].as_u64().unwrap_or(0);
        unchanged += v["unchanged"].as_u64().unwrap_or(0);
        seq = v["seq"].as_u64().unwrap_or(seq);
    }
    let v = json!({
        "clients": clients.len(),
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "seq": seq,
    });
    output::print(o, &v, || {
        format!(
            "imported {} clients: {created} new, {updated} changed, {unchanged} as they were\n",
            clients.len()
        )
    })
}

/// `clients export`: every client, by the SHA-256 of its key (the server
/// keeps no key in clear), as CSV for text output.
pub async fn export(c: &Client, o: Output) -> Result<(), CliError> {
    let v = c.get("/v1/clients/export").await?.json()?;
    output::print(o, &v, || {
        let mut s = String::from("api_key_sha256,tier,name\n");
        for r in v["clients"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let name = r["name"].as_str().unwrap_or_default();
            s.push_str(&format!(
                "{},{},{}\n",
                csv::field(&cell(&r["api_key_sha256"])),
                csv::field(&cell(&r["tier"])),
                csv::field(name)
            ));
        }
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_give_the_same_clients() {
        let csv =
            "api_key,tier,name\nkey-number-one-000,free,\"Acme, Inc\"\nkey-number-two-000,pro,\n";
        let json = r#"{"clients":[{"api_key":"key-number-one-000","tier":"free","name":"Acme, Inc"},{"api_key":"key-number-two-000","tier":"pro"}]}"#;
        assert_eq!(read("c.csv", csv).unwrap(), read("c.json", json).unwrap());
        let list = r#"[{"api_key_sha256":"ab","tier":"free"}]"#;
        assert_eq!(read("c", list).unwrap().len(), 1);
    }

    #[test]
    fn a_bad_file_is_named_with_its_line() {
        let e = read("c.csv", "api_key,tier\nk,free,extra\n").unwrap_err();
        assert!(e.to_string().contains("c.csv: line 2"), "{e}");
        let e = read("c.csv", "key,tier\n").unwrap_err();
        assert!(e.to_string().contains("unknown column `key`"), "{e}");
        let e = read("c.csv", "api_key,name\n").unwrap_err();
        assert!(e.to_string().contains("no `tier` column"), "{e}");
        let e = read("c.json", r#"{"x":1}"#).unwrap_err();
        assert!(e.to_string().contains("`clients` list"), "{e}");
    }
}
