//! What commands print: the server's JSON as is (pretty), as YAML, or as
//! text (tables for lists), written so a closed pipe ends quietly.

use std::io::Write;

use serde_json::Value;

use super::error::CliError;

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Readable text; lists as tables.
    Text,
    /// The server's JSON, pretty-printed.
    Json,
    /// The server's JSON as YAML.
    Yaml,
}

/// Writes to stdout.
pub fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes()).and_then(|()| o.flush());
}

/// Writes to stderr.
pub fn note(s: &str) {
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// `v` as JSON (pretty) or YAML, ending in a newline.
pub fn document(v: &Value, yaml: bool) -> Result<String, CliError> {
    if yaml {
        serde_yaml_ng::to_string(v).map_err(|e| CliError::Usage(format!("as YAML: {e}")))
    } else {
        let mut s = serde_json::to_string_pretty(v)
            .map_err(|e| CliError::Usage(format!("as JSON: {e}")))?;
        s.push('\n');
        Ok(s)
    }
}

/// Prints `v` as `--output` says, or `text` for text.
pub fn print(output: Output, v: &Value, text: impl FnOnce() -> String) -> Result<(), CliError> {
    match output {
        Output::Text => out(&text()),
        Output::Json => out(&document(v, false)?),
        Output::Yaml => out(&document(v, true)?),
    }
    Ok(())
}

/// Columns padded to their widest cell; the last one is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i < last {
                let pad = widths[i] - c.chars().count() + 2;
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.push('\n');
        s
    };
    let mut s = line(header.to_vec());
    for r in rows {
        s.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    s
}

/// A JSON scalar as a cell: strings bare, null as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(secs: u64) -> String {
    // Days to a civil date (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(cell).collect())
        .unwrap_or_default()
}

/// A policy diff (`live::Diff` as JSON) as lines: `+` added, `-` removed,
/// `~` changed, per section, then the counters it restarts.
pub fn diff_text(diff: &Value) -> String {
    let mut s = String::new();
    for section in ["rules", "limits", "tiers", "clients", "overrides"] {
        let d = &diff[section];
        let mut lines = Vec::new();
        for (sign, key) in [("+", "added"), ("-", "removed"), ("~", "changed")] {
            lines.extend(
                names(&d[key])
                    .into_iter()
                    .map(|n| format!("  {sign} {n}\n")),
            );
        }
        if !lines.is_empty() {
            s.push_str(section);
            s.push('\n');
            s.extend(lines);
        }
    }
    if diff["settings_changed"].as_bool() == Some(true) {
        s.push_str("identity settings or default tier changed\n");
    }
    let other = names(&diff["other"]);
    if !other.is_empty() {
        s.push_str(&format!(
            "changed otherwise (order or other fields): {}\n",
            other.join(", ")
        ));
    }
    let restarted = names(&diff["counters_restarted"]);
    if !restarted.is_empty() {
        s.push_str("counters restarted\n");
        s.extend(restarted.iter().map(|n| format!("  {n}\n")));
    }
    let kept = names(&diff["counters_kept"]);
    if !kept.is_empty() {
        s.push_str("counters kept\n");
        s.extend(kept.iter().map(|n| format!("  {n}\n")));
    }
    if s.is_empty() {
        s.push_str("no change\n");
    }
    s
}

/// Whether a diff changes nothing.
pub fn diff_is_empty(diff: &Value) -> bool {
    diff_text(diff) == "no change\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_line_up() {
        let t = table(
            &["A", "BB"],
            &[
                vec!["long cell".into(), "x".into()],
                vec!["y".into(), "z".into()],
            ],
        );
        assert_eq!(t, "A          BB\nlong cell  x\ny          z\n");
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_764_028_800 + 3_723), "2025-11-25 01:02:03 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn a_diff_reads_as_signs() {
        let none = json!({"added": [], "removed": [], "changed": []});
        let d = json!({
            "rules": {"added": ["new"], "removed": [], "changed": ["api"]},
            "limits": {"added": [], "removed": [], "changed": ["api/api"]},
            "tiers": none, "clients": none, "overrides": none,
            "settings_changed": false,
            "counters_restarted": ["api/api"],
        });
        assert_eq!(
            diff_text(&d),
            "rules\n  + new\n  ~ api\nlimits\n  ~ api/api\ncounters restarted\n  api/api\n"
        );
        let empty = json!({"rules": none, "limits": none, "tiers": none, "clients": none, "overrides": none, "settings_changed": false, "counters_restarted": []});
        assert!(diff_is_empty(&empty));
        assert!(!diff_is_empty(&d));
    }
}
