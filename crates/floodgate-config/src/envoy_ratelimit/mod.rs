//! The configuration of envoyproxy/ratelimit (the reference rate limit
//! service for Envoy) read into descriptor rules: one YAML file per
//! domain, nested descriptors with `key` and optional `value`, a
//! `rate_limit` (`unit`, `requests_per_unit`, `unlimited`, `name`,
//! `replaces`) and `shadow_mode`, `share_threshold`, `quota_mode`,
//! `detailed_metric`, `value_to_metric` on each. Each
//! descriptor path with a `rate_limit` (or none, and no children) becomes
//! one rule with the same matching semantics; errors name the file, line
//! and field.

use std::collections::HashSet;
use std::hash::Hasher;
use std::path::Path;

use floodgate_core::policy::check_name;
use floodgate_core::policy::MAX_NAME_LEN;

use crate::document::{EntryDocument, MatchDocument, RuleDocument};
use crate::error::{ConfigError, Source};
use crate::locate::Seg;

mod reference;
use reference::{RefDescriptor, RefFile};

/// What a file or directory held: the rules, and the domains seen.
#[derive(Debug, Default)]
pub struct Imported {
    /// One rule per descriptor path with a limit (or unlimited).
    pub rules: Vec<RuleDocument>,
    /// Fields accepted without the reference service's meaning (metric
    /// names, `quota_mode`), each named by file, line and field: to be
    /// shown to whoever loads the files.
    pub warnings: Vec<ConfigError>,
    domains: HashSet<String>,
    names: HashSet<String>,
}

/// Why a file or directory could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file or directory could not be read.
    // The reason is in the message and not a `source`, so that a chain
    // printed whole (`{:#}`) says it once.
    #[error("{path}: {error}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// A file is wrong; the error names the place.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// Reads `path`: one file, or every `.yaml` and `.yml` file of a
/// directory (not below it), in name order.
pub fn import_path(path: &Path) -> Result<Imported, ImportError> {
    let read_err = |error| ImportError::Read {
        path: path.display().to_string(),
        error,
    };
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(read_err)? {
            let p = entry.map_err(read_err)?.path();
            let yaml = p.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if yaml && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut out = Imported::default();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|error| ImportError::Read {
            path: f.display().to_string(),
            error,
        })?;
        out.add(&f.display().to_string(), &text)?;
    }
    Ok(out)
}

impl Imported {
    /// Adds the rules of one file's `text`, naming `file` in errors.
    pub fn add(&mut self, file: &str, text: &str) -> Result<(), ConfigError> {
        crate::depth::check_depth(file, text)?;
        let doc: RefFile =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::from_yaml(file, &e))?;
        let src = Source { name: file, text };
        if doc.domain.is_empty() {
            return Err(src.error(&["domain".into()], "an empty domain"));
        }
        if !self.domains.insert(doc.domain.clone()) {
            return Err(src.error(
                &["domain".into()],
                format!("domain `{}` is in another file already", doc.domain),
            ));
        }
        let mut path = Vec::new();
        self.level(
            &src,
            &doc.domain,
            &doc.descriptors,
            &mut path,
            &["descriptors".into()],
        )
    }

    fn level(
        &mut self,
        src: &Source,
        domain: &str,
        list: &[RefDescriptor],
        path: &mut Vec<EntryDocument>,
        at: &[Seg],
    ) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, d) in list.iter().enumerate() {
            let dat: Vec<Seg> = at.iter().cloned().chain([Seg::Index(i)]).collect();
            let field = |f: &str| -> Vec<Seg> { dat.iter().cloned().chain([f.into()]).collect() };
            if d.key.is_empty() {
                return Err(src.error(&field("key"), "an empty key"));
            }
            if !seen.insert((d.key.clone(), d.value.clone())) {
                return Err(src.error(
                    &field("key"),
                    format!(
                        "descriptor `{}{}` is listed twice at this level",
                        d.key,
                        d.value
                            .as_deref()
                            .map(|v| format!("={v}"))
                            .unwrap_or_default()
                    ),
                ));
            }
            if d.value.as_deref() == Some("") {
                return Err(src.error(
                    &field("value"),
                    "an empty value: leave it out for any value",
                ));
            }
            if d.share_threshold && !d.value.as_deref().is_some_and(|v| v.contains('*')) {
                return Err(src.error(
                    &field("share_threshold"),
                    "share_threshold needs a value with `*` (a wildcard) beside it",
                ));
            }
            self.warnings.extend(reference::warnings(src, d, &dat));
            path.push(EntryDocument {
                key: d.key.clone(),
                value: d.value.clone(),
                share_threshold: d.share_threshold,
            });
            if d.rate_limit.is_some() || d.descriptors.is_empty() {
                let rule = self.rule(src, domain, d, path, &dat)?;
                self.rules.push(rule);
            }
            let children: Vec<Seg> = field("descriptors");
            self.level(src, domain, &d.descriptors, path, &children)?;
            path.pop();
        }
        Ok(())
    }

    fn rule(
        &mut self,
        src: &Source,
        domain: &str,
        d: &RefDescriptor,
        path: &[EntryDocument],
        at: &[Seg],
    ) -> Result<RuleDocument, ConfigError> {
        let lat: Vec<Seg> = at.iter().cloned().chain(["rate_limit".into()]).collect();
        let field = |f: &str| -> Vec<Seg> { lat.iter().cloned().chain([f.into()]).collect() };
        let given = d.rate_limit.as_ref().and_then(|l| l.name.clone());
        let name = match &given {
            Some(n) => {
                check_name(n).map_err(|m| src.error(&field("name"), m))?;
                if self.names.contains(n) || n == "global" {
                    return Err(src.error(
                        &field("name"),
                        format!("name `{n}` is reserved or used twice"),
                    ));
                }
                n.clone()
            }
            None => self.generated_name(domain, path),
        };
        self.names.insert(name.clone());
        let mut rule = RuleDocument {
            name,
            matcher: MatchDocument {
                domain: Some(domain.to_string()),
                descriptors: path.to_vec(),
                ..MatchDocument::default()
            },
            key: None,
            limits: Vec::new(),
            tiers: Default::default(),
            shadow: d.shadow_mode,
            on_store_failure: None,
            sync: None,
            scope: None,
            unlimited: false,
            replaces: Vec::new(),
            error: None,
        };
        if let Some(l) = &d.rate_limit {
            reference::check(src, l, &lat)?;
        }
        let Some(l) = &d.rate_limit else {
            // A leaf without a limit: it matches (so that a less specific
            // rule does not) and limits nothing, as in the reference.
            rule.unlimited = true;
            return Ok(rule);
        };
        for (j, r) in l.replaces.iter().enumerate() {
            let rat: Vec<Seg> = field("replaces")
                .into_iter()
                .chain([Seg::Index(j), "name".into()])
                .collect();
            check_name(&r.name).map_err(|m| src.error(&rat, m))?;
            rule.replaces.push(r.name.clone());
        }
        if l.unlimited {
            rule.unlimited = true;
            return Ok(rule);
        }
        rule.limits.push(reference::limit(src, l, &lat)?);
        Ok(rule)
    }

    /// A rule name from the domain and the descriptor path, in the allowed
    /// set, unique: `domain.key_value.key`, shortened with a hash when
    /// needed.
    fn generated_name(&self, domain: &str, path: &[EntryDocument]) -> String {
        let mut raw = domain.to_string();
        for e in path {
            raw.push('.');
            raw.push_str(&e.key);
            if let Some(v) = &e.value {
                raw.push('_');
                raw.push_str(v);
            }
        }
        let clean: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let clean = clean.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        // As written when nothing had to change, else shortened or
        // cleaned with a hash of the original, so two never meet.
        let fits = !clean.is_empty() && clean.len() <= MAX_NAME_LEN && clean == raw;
        if fits && !self.names.contains(clean) && clean != "global" {
            return clean.to_string();
        }
        let mut h = floodgate_core::hash::Fnv1a::default();
        h.write(raw.as_bytes());
        let tag = format!("{:08x}", h.finish() as u32);
        let keep = MAX_NAME_LEN - tag.len() - 1;
        let head: String = clean.chars().take(keep).collect();
        if head.is_empty() {
            format!("r-{tag}")
        } else {
            format!("{head}-{tag}")
        }
    }
}
