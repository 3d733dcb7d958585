//! TLS to a real `redis-server --tls-port`, with certificates the test
//! makes (rcgen): the server verified against a CA file or directory,
//! mutual TLS, a wrong CA refused with a clear error, and certificates
//! rotated on disk (and on the server) without a restart.

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{Quota, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore, TlsSettings};
use floodgate_testkit::pki::Pki;

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);

fn config(server: &RedisServer, tls: TlsSettings) -> RedisConfig {
    RedisConfig {
        tls,
        connect_timeout: Duration::from_secs(3),
        ..caller_config(&server.tls_url().expect("a TLS server"))
    }
}

fn trusting(pki: &Pki) -> TlsSettings {
    TlsSettings {
        ca_file: Some(pki.ca()),
        ..TlsSettings::default()
    }
}

fn with_client_cert(pki: &Pki) -> TlsSettings {
    TlsSettings {
        cert_file: Some(pki.client_cert()),
        key_file: Some(pki.client_key()),
        ..trusting(pki)
    }
}

/// Three checks of a 2-per-hour limit: allowed, allowed, denied.
async fn decides(store: &RedisStore, who: &str) {
    let c = [check(
        "tls/hourly/0",
        who,
        Quota::fixed_window(2, Duration::from_secs(3_600)).unwrap(),
        1,
    )];
    let got: Vec<bool> = [
        store.check(&c, NOW).await.unwrap()[0].allowed,
        store.check(&c, NOW).await.unwrap()[0].allowed,
        store.check(&c, NOW).await.unwrap()[0].allowed,
    ]
    .to_vec();
    assert_eq!(got, [true, true, false], "{who}");
}

#[tokio::test]
async fn the_server_is_verified_against_a_ca_file_or_directory() {
    let pki = Pki::new("main");
    let server = RedisServer::start_tls(&pki, false);
    let store = RedisStore::connect(&config(&server, trusting(&pki)))
        .await
        .expect("connect over TLS");
    decides(&store, "by-file").await;
    // The count is on the server: the plain port sees it.
    let keys = server.cli(&["--scan", "--pattern", "fg:*"]);
    assert!(!keys.trim().is_empty(), "no key written: {keys:?}");

    let by_dir = TlsSettings {
        ca_dir: Some(pki.dir().to_path_buf()),
        ..TlsSettings::default()
    };
    // The directory holds the CA and the leaf certificates: all trusted,
    // the CA among them.
    let store = RedisStore::connect(&config(&server, by_dir))
        .await
        .expect("connect trusting a CA directory");
    decides(&store, "by-dir").await;
}

#[tokio::test]
async fn a_wrong_ca_is_refused_with_a_clear_error() {
    let pki = Pki::new("right");
    let other = Pki::new("other");
    let server = RedisServer::start_tls(&pki, false);
    let e = RedisStore::connect(&config(&server, trusting(&other)))
        .await
        .err()
        .expect("a server signed by another CA is refused")
        .to_string();
    assert!(
        e.contains("cannot connect to redis") && e.to_lowercase().contains("certificate"),
        "{e}"
    );

    // The same with insecure_skip_verify connects (tests only).
    let insecure = TlsSettings {
        insecure_skip_verify: true,
        ..trusting(&other)
    };
    let store = RedisStore::connect(&config(&server, insecure))
        .await
        .expect("insecure_skip_verify accepts any certificate");
    decides(&store, "insecure").await;

    // A plain-text client on the TLS port gets no answer it can use.
    let plain = format!("redis://localhost:{}", server.tls_port().unwrap());
    let c = RedisConfig {
        connect_timeout: Duration::from_millis(500),
        ..caller_config(&plain)
    };
    assert!(RedisStore::connect(&c).await.is_err());
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let pki = Pki::new("mtls");
    let server = RedisServer::start_tls(&pki, true);
    assert!(
        RedisStore::connect(&config(&server, trusting(&pki)))
            .await
            .is_err(),
        "no client certificate: refused"
    );
    let store = RedisStore::connect(&config(&server, with_client_cert(&pki)))
        .await
        .expect("connect with the client certificate");
    decides(&store, "mtls").await;

    // A certificate another CA signed is refused too.
    let other = Pki::new("mtls-other");
    let wrong_client = TlsSettings {
        cert_file: Some(other.client_cert()),
        key_file: Some(other.client_key()),
        ..trusting(&pki)
    };
    assert!(RedisStore::connect(&config(&server, wrong_client))
        .await
        .is_err());
}

#[tokio::test]
async fn unusable_files_are_named() {
    let pki = Pki::new("files");
    let server = RedisServer::start_tls(&pki, false);
    let missing = TlsSettings {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..TlsSettings::default()
    };
    let e = RedisStore::connect(&config(&server, missing))
        .await
        .err()
        .expect("a missing CA file is an error")
        .to_string();
    assert!(e.contains("/nonexistent/ca.pem: cannot read it"), "{e}");
    let key_as_ca = TlsSettings {
        ca_file: Some(pki.server_key()),
        ..TlsSettings::default()
    };
    let e = RedisStore::connect(&config(&server, key_as_ca))
        .await
        .err()
        .expect("a key is not a CA")
        .to_string();
    assert!(e.contains("server.key: no PEM certificate"), "{e}");
}

/// Rotation: the CA file and the server's certificate are replaced by
/// ones from a new CA, and every connection is cut. The store's watcher
/// sees the new file and opens connections that trust the new CA: it
/// decides on Redis again without a restart.
#[tokio::test]
async fn rotated_certificates_are_used_without_a_restart() {
    let old = Pki::new("old");
    let new = Pki::new("new");
    let server = RedisServer::start_tls(&old, true);
    let dir = std::env::temp_dir().join(format!("fg-rotate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (dir.join("ca.pem"), dir.join("c.pem"), dir.join("c.key"));
    let install = |p: &Pki| {
        std::fs::copy(p.ca(), &ca).unwrap();
        std::fs::copy(p.client_cert(), &cert).unwrap();
        std::fs::copy(p.client_key(), &key).unwrap();
    };
    install(&old);
    let tls = TlsSettings {
        ca_file: Some(ca.clone()),
        cert_file: Some(cert.clone()),
        key_file: Some(key.clone()),
        ..TlsSettings::default()
    };
    let store = RedisStore::connect(&config(&server, tls)).await.unwrap();
    decides(&store, "before").await;

    // The server moves to the new CA (for its certificate and for the
    // clients'), then drops every client.
    let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    let (c, k, a) = (s(new.server_cert()), s(new.server_key()), s(new.ca()));
    let set = [
        "CONFIG",
        "SET",
        "tls-cert-file",
        &c,
        "tls-key-file",
        &k,
        "tls-ca-cert-file",
        &a,
    ];
    assert_eq!(server.cli(&set).trim(), "OK");
    install(&new);
    server.cli(&["CLIENT", "KILL", "TYPE", "normal"]);

    let c = [check(
        "tls/hourly/0",
        "after",
        Quota::fixed_window(5, Duration::from_secs(3_600)).unwrap(),
        1,
    )];
    let deadline = Deadline::in_secs(15);
    loop {
        match store.check(&c, NOW).await {
            Ok(d) => {
                assert!(d[0].allowed);
                break;
            }
            Err(_) => {
                deadline
                    .poll("never decided on Redis after the rotation")
                    .await
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server reached by address whose certificate names another host:
/// refused, unless `server_name` says which name to check; then it
/// decides, and opens its connections again after they are cut.
#[tokio::test]
async fn the_name_checked_can_be_other_than_the_address() {
    let pki = Pki::for_server("named", &["redis.test.internal"]);
    let server = RedisServer::start_tls(&pki, false);
    let by_address = format!("rediss://127.0.0.1:{}", server.tls_port().unwrap());
    let config = |server_name: Option<&str>| RedisConfig {
        tls: TlsSettings {
            server_name: server_name.map(str::to_string),
            ..trusting(&pki)
        },
        connect_timeout: Duration::from_secs(3),
        ..caller_config(&by_address)
    };
    let e = RedisStore::connect(&config(None))
        .await
        .err()
        .expect("the address is not the certificate's name")
        .to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    assert!(RedisStore::connect(&config(Some("other.test.internal")))
        .await
        .is_err());

    let store = RedisStore::connect(&config(Some("redis.test.internal")))
        .await
        .expect("checked against the name given");
    decides(&store, "named").await;
    // Cut: the next calls open the connections again (one may fail).
    server.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
    let c = [check(
        "tls/hourly/0",
        "named-after",
        Quota::fixed_window(5, Duration::from_secs(3_600)).unwrap(),
        1,
    )];
    let deadline = Deadline::in_secs(10);
    loop {
        match store.check(&c, NOW).await {
            Ok(d) => {
                assert!(d[0].allowed);
                break;
            }
            Err(_) => deadline.poll("never reconnected").await,
        }
    }
}
