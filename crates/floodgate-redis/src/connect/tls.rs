//! `TlsSettings`: the files TLS connections to Redis verify and present,
//! read at every connect (and watched, so that rotated files are used
//! without a restart).
//!
//! TLS itself is asked for by the URL's scheme, `rediss://`; these
//! settings only say what to trust (a CA bundle, as a file or a
//! directory, instead of the system's roots) and which client certificate
//! to present (mutual TLS). Certificates are verified against the URL's
//! host name.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use redis::{ClientTlsConfig, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What TLS connections trust and present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// A PEM bundle of the CAs to trust (instead of the system's roots).
    pub ca_file: Option<PathBuf>,
    /// A directory of PEM files (`*.pem`, `*.crt`), each CAs to trust.
    pub ca_dir: Option<PathBuf>,
    /// The client certificate chain (PEM), for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate: for tests only, logged loudly at
    /// every connect.
    pub insecure_skip_verify: bool,
    /// The name the server's certificate must hold, when it is not the
    /// URL's host (a server reached by address); standalone and Sentinel's
    /// primary only.
    pub server_name: Option<String>,
}

/// A TLS file that cannot be used. The message names the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

impl TlsSettings {
    /// Whether any file is named.
    pub fn has_files(&self) -> bool {
        self.files().next().is_some() || self.ca_dir.is_some()
    }

    /// The named files (not the directory's).
    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.ca_file, &self.cert_file, &self.key_file]
            .into_iter()
            .flatten()
    }

    /// The settings as redis-rs takes them, every file read and parsed
    /// now; `None` when no file is named (the system's roots, no client
    /// certificate).
    pub fn certificates(&self) -> Result<Option<TlsCertificates>, TlsError> {
        if !self.has_files() {
            return Ok(None);
        }
        let mut roots = Vec::new();
        if let Some(f) = &self.ca_file {
            roots.extend(certs_of(f)?);
        }
        if let Some(d) = &self.ca_dir {
            let mut found = false;
            for f in ca_dir_files(d)? {
                roots.extend(certs_of(&f)?);
                found = true;
            }
            if !found {
                return Err(TlsError(format!(
                    "tls.ca_dir {}: no .pem or .crt file in it",
                    d.display()
                )));
            }
        }
        let client_tls = match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => {
                let cert = certs_of(c)?;
                let key = read(k)?;
                PrivateKeyDer::from_pem_slice(&key).map_err(|e| {
                    TlsError(format!("tls.key_file {}: no private key: {e}", k.display()))
                })?;
                Some(ClientTlsConfig {
                    client_cert: cert,
                    client_key: key,
                })
            }
            (None, None) => None,
            _ => {
                return Err(TlsError(
                    "tls.cert_file and tls.key_file go together".into(),
                ))
            }
        };
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert: (!roots.is_empty()).then_some(roots),
        }))
    }

    /// A digest of every named file's content (and of the directory's
    /// files): it changes when a file is rotated. Unreadable files count
    /// as their error.
    pub fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        let mut add = |p: &Path| {
            p.hash(&mut h);
            match std::fs::read(p) {
                Ok(bytes) => bytes.hash(&mut h),
                Err(e) => e.kind().hash(&mut h),
            }
        };
        for f in self.files() {
            add(f);
        }
        if let Some(d) = &self.ca_dir {
            if let Ok(files) = ca_dir_files(d) {
                for f in files {
                    add(&f);
                }
            }
        }
        h.finish()
    }
}

/// The `.pem` and `.crt` files of `dir`, in name order.
fn ca_dir_files(dir: &Path) -> Result<Vec<PathBuf>, TlsError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| TlsError(format!("tls.ca_dir {}: cannot read it: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("pem") || x.eq_ignore_ascii_case("crt"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read(p: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(p).map_err(|e| TlsError(format!("{}: cannot read it: {e}", p.display())))
}

/// `p`'s bytes, when they hold at least one PEM certificate and nothing
/// malformed.
fn certs_of(p: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = read(p)?;
    let mut n = 0;
    for c in CertificateDer::pem_slice_iter(&bytes) {
        c.map_err(|e| TlsError(format!("{}: not a PEM certificate: {e}", p.display())))?;
        n += 1;
    }
    if n == 0 {
        return Err(TlsError(format!(
            "{}: no PEM certificate in it",
            p.display()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn no_files_is_the_system_roots() {
        assert!(TlsSettings::default().certificates().unwrap().is_none());
    }

    #[test]
    fn bad_files_are_named() {
        let missing = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let e = missing.certificates().unwrap_err().0;
        assert!(e.starts_with("/nonexistent/ca.pem: cannot read it"), "{e}");
        let not_pem = TlsSettings {
            ca_file: Some(temp("junk.pem", "hello")),
            ..TlsSettings::default()
        };
        let e = not_pem.certificates().unwrap_err().0;
        assert!(e.contains("junk.pem: no PEM certificate"), "{e}");
        let half = TlsSettings {
            cert_file: Some(temp("c.pem", "x")),
            ..TlsSettings::default()
        };
        let e = half.certificates().unwrap_err().0;
        assert_eq!(e, "tls.cert_file and tls.key_file go together");
    }

    #[test]
    fn the_fingerprint_follows_the_content() {
        let p = temp("fp.pem", "one");
        let s = TlsSettings {
            ca_file: Some(p.clone()),
            ..TlsSettings::default()
        };
        let before = s.fingerprint();
        assert_eq!(before, s.fingerprint());
        std::fs::write(&p, "two").unwrap();
        assert_ne!(before, s.fingerprint());
    }
}
