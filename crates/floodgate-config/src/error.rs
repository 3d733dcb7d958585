//! `ConfigError`: what is wrong, and where (file, line, column, field).

use std::fmt;

use crate::locate::{locate, render, Seg};

/// A config error, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (as given), or what the document is (`request body`).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The field, as `rules[1].limits[0].refill` (empty for the document).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error from the YAML parser (which knows the place).
    pub fn from_yaml(file: &str, err: &serde_yaml_ng::Error) -> ConfigError {
        let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = err.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        // serde_yaml_ng prefixes the path: split it off into `field`.
        let (field, message) = match message.split_once(": ") {
            Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
            _ => (String::new(), message),
        };
        ConfigError {
            file: file.to_string(),
            line,
            column,
            field,
            message,
        }
    }

    /// An error from the JSON parser, with the path it was at.
    pub fn from_json(
        file: &str,
        err: &serde_path_to_error::Error<serde_json::Error>,
    ) -> ConfigError {
        let inner = err.inner();
        let mut message = inner.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        let path = err.path().to_string();
        ConfigError {
            file: file.to_string(),
            line: inner.line(),
            column: inner.column(),
            field: if path == "." { String::new() } else { path },
            message,
        }
    }
}

/// A document's text and name, to locate errors found after parsing.
/// JSON is YAML too, so one locator serves both.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The file name (or `request body`).
    pub name: &'a str,
    /// The text.
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at `path`.
    pub fn error(&self, path: &[Seg], message: impl fmt::Display) -> ConfigError {
        let (line, column) = locate(self.text, path).unwrap_or((0, 0));
        ConfigError {
            file: self.name.to_string(),
            line,
            column,
            field: render(path),
            message: message.to_string(),
        }
    }
}

/// `parts` followed by `more`.
pub fn join(parts: &[Seg], more: &[Seg]) -> Vec<Seg> {
    parts.iter().chain(more).cloned().collect()
}
