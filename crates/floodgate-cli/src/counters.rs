//! `inspect` and `reset`: one identity's counters under a rule.

use clap::Args;
use http::Method;

use super::client::{query, Client};
use super::error::CliError;
use super::output::{self, cell, table, Output};

/// `--rule R --key K`.
#[derive(Args)]
pub struct Which {
    /// The rule (`global` for the global limits).
    #[arg(long)]
    pub rule: String,
    /// The identity as the rule's key gives it, e.g. `i:203.0.113.7`,
    /// `k:<key fingerprint>`, `u:alice`, parts joined by `|`.
    #[arg(long)]
    pub key: String,
}

fn url(w: &Which) -> String {
    format!(
        "/v1/counters{}",
        query(&[("rule", &w.rule), ("key", &w.key)])
    )
}

/// `inspect`.
pub async fn inspect(c: &Client, w: &Which, o: Output) -> Result<(), CliError> {
    let v = c.get(&url(w)).await?.json()?;
    output::print(o, &v, || {
        let rows: Vec<Vec<String>> = v["limits"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|l| {
                vec![
                    cell(&l["scope"]),
                    cell(&l["limit_name"]),
                    cell(&l["algorithm"]),
                    format!("{}/{}", cell(&l["remaining"]), cell(&l["limit"])),
                    if l["allowed"].as_bool() == Some(false) {
                        "no".into()
                    } else {
                        "yes".into()
                    },
                    l["reset_after"]
                        .as_f64()
                        .map_or_else(|| cell(&l["reset_after"]), |s| format!("{s:.1}s")),
                    cell(&l["retry_after"]),
                ]
            })
            .collect();
        table(
            &[
                "SCOPE",
                "LIMIT",
                "ALGORITHM",
                "REMAINING",
                "ALLOWED",
                "RESET_AFTER",
                "RETRY_AFTER",
            ],
            &rows,
        )
    })
}

/// `reset`.
pub async fn reset(c: &Client, w: &Which, o: Output) -> Result<(), CliError> {
    let v = c.send(Method::DELETE, &url(w), None, None).await?.json()?;
    output::print(o, &v, || {
        format!(
            "reset {} counter(s) of rule {} for {}\n",
            cell(&v["reset"]),
            w.rule,
            w.key
        )
    })
}
