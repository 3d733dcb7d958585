//! `floodgate import envoy-ratelimit PATH`: envoyproxy/ratelimit config
//! files (a file or a directory) as a Floodgate policy file, one
//! descriptor rule per limit, ready to be extended (other algorithms,
//! overrides) and served.

use std::path::Path;

use floodgate_config::envoy_ratelimit::{import_path, ImportError};
use floodgate_config::PolicyDocument;

/// What `import` gives: the policy file, and the warnings to show.
#[derive(Debug)]
pub struct Import {
    /// The policy file, as YAML; the warnings are comments at its top.
    pub text: String,
    /// What was accepted without its full meaning, each located.
    pub warnings: Vec<String>,
}

/// The policy file for the config files at `path`, as YAML.
pub fn envoy_ratelimit(path: &Path) -> Result<Import, ImportError> {
    let imported = import_path(path)?;
    let warnings: Vec<String> = imported.warnings.iter().map(|w| w.to_string()).collect();
    let doc = PolicyDocument {
        rules: imported.rules,
        ..PolicyDocument::default()
    };
    let yaml = serde_yaml_ng::to_string(&doc).expect("a policy document serialises");
    let mut head = String::new();
    for w in &warnings {
        head.push_str(&format!("# warning: {}\n", w.replace('\n', " ")));
    }
    let text = format!(
        "# Imported from envoyproxy/ratelimit configuration ({}).\n\
         # Serve it with `grpc.listen` set: see docs/envoy.md.\n{head}{yaml}",
        path.display()
    );
    Ok(Import { text, warnings })
}
