//! `store:`'s TLS, credentials and Sentinel fields: what each kind takes,
//! located errors, and never a password in an error.

use floodgate_config::{ConfigFile, StoreKind};

const POLICY: &str = "rules:\n  - name: api\n    limits: [{ name: m, algorithm: fixed_window, limit: 5, window: 1m }]\n";

fn parse(store: &str) -> Result<ConfigFile, floodgate_config::ConfigError> {
    ConfigFile::parse("f.yaml", &format!("{POLICY}store:\n{store}"))
}

/// The policy's lines before `store:`.
const BEFORE: usize = 3;

#[test]
fn tls_credentials_and_sentinel_are_read() {
    let f = parse(
        "  kind: redis\n  url: rediss://cache.example:6380\n  username: floodgate\n  password_file: /run/secrets/redis\n  tls:\n    ca_file: /etc/ca.pem\n    cert_file: /etc/c.pem\n    key_file: /etc/c.key\n",
    )
    .unwrap();
    let s = &f.document.server.store;
    assert_eq!(s.username.as_deref(), Some("floodgate"));
    let t = s.tls.as_ref().unwrap();
    assert_eq!(t.ca_file.as_deref(), Some("/etc/ca.pem"));
    assert!(!t.insecure_skip_verify);

    let f = parse(
        "  kind: redis_sentinel\n  master_name: mymaster\n  sentinels: [redis://s1:26379, redis://s2:26379]\n  sentinel_password_env: SENTINEL_PW\n  password_env: REDIS_PW\n  database: 2\n",
    )
    .unwrap();
    let s = &f.document.server.store;
    assert_eq!(s.kind, StoreKind::RedisSentinel);
    assert_eq!(s.sentinels.as_ref().unwrap().len(), 2);
    assert_eq!(s.database, Some(2));
}

#[test]
fn mistakes_are_located() {
    let cases = [
        (
            "  kind: redis\n  url: redis://h:6379\n  tls: { ca_file: /x }\n",
            3,
            "store.tls",
            "applies to rediss:// URLs",
        ),
        (
            "  kind: redis\n  url: rediss://h:6379\n  tls: { cert_file: /c }\n",
            3,
            "store.tls.key_file",
            "go together",
        ),
        (
            "  kind: redis\n  url: rediss://h\n  password_file: /p\n  password_env: P\n",
            4,
            "store.password_env",
            "not both",
        ),
        (
            "  kind: redis_cluster\n  nodes: [rediss://a:1, redis://b:2]\n",
            2,
            "store.nodes",
            "every URL is rediss:// (TLS) or none is",
        ),
        (
            "  kind: redis_sentinel\n  sentinels: [redis://s:26379]\n",
            1,
            "store.kind",
            "needs `master_name`",
        ),
        (
            "  kind: redis_sentinel\n  master_name: m\n",
            1,
            "store.kind",
            "needs `sentinels`",
        ),
        (
            "  kind: redis_sentinel\n  master_name: m\n  sentinels: [redis://s:1]\n  url: redis://x\n",
            4,
            "store.url",
            "not for kind: redis_sentinel",
        ),
        (
            "  kind: redis\n  url: redis://h\n  master_name: m\n",
            3,
            "store.master_name",
            "applies to kind redis_sentinel",
        ),
        (
            "  kind: memory\n  password_file: /p\n",
            2,
            "store.password_file",
            "applies to kind redis, redis_cluster or redis_sentinel",
        ),
        (
            "  kind: redis\n  url: redis://h\n  username: \"\"\n",
            3,
            "store.username",
            "must not be empty",
        ),
        (
            "  kind: redis_cluster\n  nodes: [rediss://a:1]\n  tls: { server_name: redis.internal }\n",
            3,
            "store.tls.server_name",
            "applies to kind redis and redis_sentinel",
        ),
        (
            "  kind: redis\n  url: rediss://10.0.0.5:6380\n  tls: { server_name: \"a b\" }\n",
            3,
            "store.tls.server_name",
            "must be a host name",
        ),
        (
            "  kind: redis\n  url: redis://h\n  tls: { ca_fil: /x }\n",
            3,
            "",
            "unknown field `ca_fil`",
        ),
    ];
    for (store, line, field, says) in cases {
        let e = match parse(store) {
            Err(e) => e,
            Ok(_) => panic!("{store}: accepted"),
        };
        assert_eq!(e.line, BEFORE + 1 + line, "{store}: {e}");
        if !field.is_empty() {
            assert_eq!(e.field, field, "{store}: {e}");
        }
        assert!(e.message.contains(says), "{store}: {e}");
    }
}

#[test]
fn a_password_in_a_bad_url_is_not_shown() {
    let Err(e) = parse("  kind: redis\n  url: redis://fg:hunter2@h:notaport\n") else {
        panic!("accepted");
    };
    assert!(e.message.contains("fg:***@h"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
