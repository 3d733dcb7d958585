//! Test certificates made by the test itself (rcgen): a CA, a server
//! certificate for `localhost` and `127.0.0.1`, and a client certificate
//! for mutual TLS, written as PEM files into a directory of their own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A CA and the certificates it signed, as files.
pub struct Pki {
    dir: PathBuf,
    owned: bool,
}

impl Pki {
    /// A new CA (named `name` in its subject) and its certificates, in a
    /// fresh temporary directory removed on drop.
    pub fn new(name: &str) -> Pki {
        Pki::for_server(name, &["localhost", "127.0.0.1"])
    }

    /// [`Pki::new`], the server certificate holding `server_names` only.
    pub fn for_server(name: &str, server_names: &[&str]) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "floodgate-pki-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let pki = Pki { dir, owned: true };
        pki.write_for(name, server_names);
        pki
    }

    /// A new CA and its certificates in `dir`, kept (for a CI step that
    /// makes them once for a whole test run).
    pub fn in_dir(dir: &Path, name: &str) -> Pki {
        let pki = Pki {
            dir: dir.to_path_buf(),
            owned: false,
        };
        pki.write_for(name, &["localhost", "127.0.0.1"]);
        pki
    }

    /// The certificates already in `dir` (made by [`Pki::in_dir`]).
    pub fn existing(dir: &Path) -> Pki {
        Pki {
            dir: dir.to_path_buf(),
            owned: false,
        }
    }

    fn write_for(&self, name: &str, server_names: &[&str]) {
        std::fs::create_dir_all(&self.dir).expect("create the certificates' directory");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("Floodgate test CA {name}"));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
        let leaf = |sans: Vec<String>, purpose: ExtendedKeyUsagePurpose, cn: &str| {
            let key = KeyPair::generate().expect("leaf key");
            let mut p = CertificateParams::new(sans).expect("leaf params");
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = vec![purpose];
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            let cert = p.signed_by(&key, &ca_cert, &ca_key).expect("sign the leaf");
            (cert.pem(), key.serialize_pem())
        };
        let (server, server_key) = leaf(
            server_names.iter().map(|n| n.to_string()).collect(),
            ExtendedKeyUsagePurpose::ServerAuth,
            "localhost",
        );
        let (client, client_key) =
            leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth, "floodgate");
        for (f, text) in [
            ("ca.pem", ca_cert.pem()),
            ("server.pem", server),
            ("server.key", server_key),
            ("client.pem", client),
            ("client.key", client_key),
        ] {
            std::fs::write(self.dir.join(f), text).expect("write a certificate file");
        }
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server certificate (for `localhost` and `127.0.0.1`).
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server certificate's key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The client certificate (mutual TLS).
    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.pem")
    }

    /// The client certificate's key.
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
