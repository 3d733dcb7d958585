//! `Secret`: a password, or where to read it. Read again at every connect
//! (so a rotated file or variable is used by the next connection), and
//! never printed: its `Debug` names where it comes from, not what it is.

use std::fmt;
use std::path::PathBuf;

/// A password, or where to read one.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The password itself (from a URL, or built in Rust).
    Value(String),
    /// A file whose content, without its trailing line break, is the
    /// password (`password_file`).
    File(PathBuf),
    /// An environment variable holding the password (`password_env`).
    Env(String),
}

/// A secret that cannot be read. The message names the source, never a
/// value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(pub String);

impl Secret {
    /// The password now.
    pub fn read(&self) -> Result<String, SecretError> {
        match self {
            Secret::Value(v) => Ok(v.clone()),
            Secret::File(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    SecretError(format!(
                        "password file {}: cannot read it: {e}",
                        p.display()
                    ))
                })?;
                let v = text.strip_suffix('\n').unwrap_or(&text);
                let v = v.strip_suffix('\r').unwrap_or(v);
                if v.is_empty() {
                    return Err(SecretError(format!(
                        "password file {}: it is empty",
                        p.display()
                    )));
                }
                Ok(v.to_string())
            }
            Secret::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(SecretError(format!(
                    "password environment variable {name} is empty"
                ))),
                Err(_) => Err(SecretError(format!(
                    "password environment variable {name} is not set"
                ))),
            },
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(<redacted>)"),
            Secret::File(p) => write!(f, "Secret(file {})", p.display()),
            Secret::Env(n) => write!(f, "Secret(env {n})"),
        }
    }
}

/// An ACL user and its password, or the legacy password alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The ACL user (Redis 6+); `None`: the URL's, else `default`.
    pub username: Option<String>,
    /// Its password; `None`: the URL's, if any.
    pub password: Option<Secret>,
}

impl Credentials {
    /// Whether neither is set (the URL's own apply).
    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.password.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let s = Secret::Value("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let c = Credentials {
            username: Some("fg".into()),
            password: Some(s),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_file_is_read_without_its_line_break() {
        let dir = std::env::temp_dir().join(format!("fg-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        assert_eq!(Secret::File(p.clone()).read().unwrap(), "s3cret");
        std::fs::write(&p, "").unwrap();
        let e = Secret::File(p.clone()).read().unwrap_err().0;
        assert!(e.contains("is empty") && e.contains("pw"), "{e}");
        let e = Secret::File(dir.join("none")).read().unwrap_err().0;
        assert!(e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_variable_is_named() {
        let e = Secret::Env("FLOODGATE_TEST_NO_SUCH_VAR".into())
            .read()
            .unwrap_err()
            .0;
        assert_eq!(
            e,
            "password environment variable FLOODGATE_TEST_NO_SUCH_VAR is not set"
        );
    }
}
