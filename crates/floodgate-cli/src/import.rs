//! `floodgate import envoy-ratelimit PATH`: envoyproxy/ratelimit config
//! files (a file or a directory) as a Floodgate policy file, one
//! descriptor rule per limit, ready to be extended (other algorithms,
//! overrides) and served.

use std::path::Path;

use floodgate_config::envoy_ratelimit::{import_path, ImportError};
use floodgate_config::PolicyDocument;

/// The policy file for the config files at `path`, as YAML.
pub fn envoy_ratelimit(path: &Path) -> Result<String, ImportError> {
    let imported = import_path(path)?;
    let doc = PolicyDocument {
        rules: imported.rules,
        ..PolicyDocument::default()
    };
    let yaml = serde_yaml_ng::to_string(&doc).expect("a policy document serialises");
    Ok(format!(
        "# Imported from envoyproxy/ratelimit configuration ({}).\n\
         # Serve it with `grpc.listen` set: see docs/envoy.md.\n{yaml}",
        path.display()
    ))
}
