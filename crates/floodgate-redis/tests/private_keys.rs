//! Bounded, private keys: long identities and API-key fingerprints are
//! stored under a keyed hash (the deployment secret in `{prefix}secret`),
//! short ones as they are; on a real redis-server and a cluster.

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{LimitCheck, Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisConfig, RedisStore, TimeSource};

const FINGERPRINT: &str = "5f1c0a9e33b2d471";

fn hourly(limit: u64) -> Quota {
    Quota::fixed_window(limit, Duration::from_secs(3_600)).unwrap()
}

fn bucket() -> Quota {
    Quota::token_bucket(1_000, Rate::new(10, Duration::from_secs(1)).unwrap()).unwrap()
}

/// A 60 KB user id, distinct per `n` in its first bytes.
fn huge_user(n: usize) -> String {
    let mut id = format!("u:{n:05}-");
    id.push_str(&"x".repeat(60 * 1024));
    id
}

fn scan(server: &RedisServer) -> Vec<String> {
    server
        .cli(&["--scan"])
        .lines()
        .map(str::to_owned)
        .filter(|k| !k.is_empty())
        .collect()
}

fn memory_usage(server: &RedisServer, key: &str) -> u64 {
    server
        .cli(&["MEMORY", "USAGE", key])
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no MEMORY USAGE for {key}"))
}

async fn decide(store: &RedisStore, c: &LimitCheck) -> bool {
    store
        .check(std::slice::from_ref(c), Timestamp::EPOCH)
        .await
        .unwrap()[0]
        .allowed
}

#[tokio::test]
async fn huge_identities_and_fingerprints_get_short_private_keys() {
    let server = RedisServer::start();
    let store = caller_store(&server).await;
    let users: Vec<String> = (0..200).map(huge_user).collect();
    for (i, user) in users.iter().enumerate() {
        let checks = [
            check("api/second/0000abcd", user, bucket(), 1),
            check("api/hour/0000beef", user, hourly(10), 1),
            check(
                "api/key/00000001",
                &format!("i:10.0.0.{}|k:{FINGERPRINT}", i % 4),
                bucket(),
                1,
            ),
            check("api/ip/00000002", "i:203.0.113.7", bucket(), 1),
        ];
        let decisions = store.check(&checks, Timestamp::EPOCH).await.unwrap();
        assert!(decisions.iter().all(|d| d.allowed), "{i}: {decisions:?}");
    }
    let keys = scan(&server);
    // 200 users × 2 limits, 4 combined API-key identities, 1 IP, the secret.
    assert_eq!(keys.len(), 400 + 4 + 1 + 1, "{keys:?}");
    assert!(keys.contains(&"fg:secret".to_owned()));
    assert!(keys.contains(&store.key("i:203.0.113.7", "api/ip/00000002")));
    assert!(store
        .key("i:203.0.113.7", "api/ip/00000002")
        .starts_with("fg:{i:203.0.113.7}:"));
    for key in &keys {
        assert!(key.len() <= 64, "{} bytes: {}…", key.len(), &key[..64]);
        assert!(!key.contains(FINGERPRINT), "{key}");
        assert!(!key.contains("xxxxxxxx") && !key.contains("u:"), "{key}");
        assert!(!key.contains("10.0.0."), "{key}");
    }
    for user in &users[..3] {
        let key = store.key(user, "api/second/0000abcd");
        assert!(key.starts_with("fg:{h:") && key.len() == 36, "{key}");
        assert!(keys.contains(&key));
        let bytes = memory_usage(&server, &key);
        assert!(bytes < 200, "{key}: {bytes} bytes");
    }
    // Nothing holds an identity in its value either.
    let value = server.cli(&["GET", &store.key(&users[0], "api/hour/0000beef")]);
    assert!(!value.contains("xxxx") && value.len() < 64, "{value}");
}

#[tokio::test]
async fn a_hashed_client_limited_stays_limited() {
    let server = RedisServer::start();
    let store = caller_store(&server).await;
    for identity in [
        huge_user(1),
        format!("k:{FINGERPRINT}"),
        format!("r:GET /a|k:{FINGERPRINT}"),
    ] {
        let c = check("api/hour/00000003", &identity, hourly(3), 1);
        for n in 0..3 {
            assert!(decide(&store, &c).await, "{identity:.20}: request {n}");
        }
        for _ in 0..3 {
            assert!(
                !decide(&store, &c).await,
                "{identity:.20} must stay limited"
            );
        }
        // Inspection and reset name the same key.
        let seen = store
            .inspect(std::slice::from_ref(&c), Timestamp::EPOCH)
            .await
            .unwrap();
        assert!(!seen[0].allowed);
        assert_eq!(store.reset(std::slice::from_ref(&c)).await.unwrap(), 1);
        assert!(decide(&store, &c).await, "{identity:.20}: reset");
    }
    // A hashed identity and a short one never share a counter, nor two
    // hashed ones.
    let a = check("api/hour/00000004", &huge_user(2), hourly(1), 1);
    let b = check("api/hour/00000004", &huge_user(3), hourly(1), 1);
    let forged = check(
        "api/hour/00000004",
        &store.key(&huge_user(2), "x")[4..28],
        hourly(1),
        1,
    );
    assert!(decide(&store, &a).await);
    assert!(decide(&store, &b).await);
    assert!(
        decide(&store, &forged).await,
        "an `h:` identity is hashed too"
    );
    assert!(!decide(&store, &a).await);
}

#[tokio::test]
async fn replicas_share_the_secret_and_prefixes_do_not() {
    let server = RedisServer::start();
    let one = caller_store(&server).await;
    let two = caller_store(&server).await;
    let secret = server.cli(&["GET", "fg:secret"]).trim().to_owned();
    assert_eq!(secret.len(), 64, "{secret}");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");
    assert_eq!(server.cli(&["PTTL", "fg:secret"]).trim(), "-1");
    let user = huge_user(7);
    assert_eq!(one.key(&user, "l"), two.key(&user, "l"));
    // Counters of a hashed identity are shared by both replicas.
    let c = check("api/hour/00000005", &user, hourly(4), 1);
    for store in [&one, &two, &one, &two] {
        assert!(decide(store, &c).await);
    }
    assert!(!decide(&one, &c).await);
    assert!(!decide(&two, &c).await);
    // A third replica later reads the same secret.
    drop(one);
    let three = caller_store(&server).await;
    assert!(!decide(&three, &c).await);
    assert_eq!(server.cli(&["GET", "fg:secret"]).trim(), secret);

    // Another prefix has its own secret, hence other hashes.
    let other = RedisStore::connect(&RedisConfig {
        key_prefix: "other:".into(),
        ..caller_config(&server.url())
    })
    .await
    .unwrap();
    let other_secret = server.cli(&["GET", "other:secret"]).trim().to_owned();
    assert_eq!(other_secret.len(), 64);
    assert_ne!(other_secret, secret);
    let (k2, ko) = (two.key(&user, "l"), other.key(&user, "l"));
    assert_ne!(k2["fg:".len()..], ko["other:".len()..]);
    // Short identities keep their names.
    assert_eq!(
        other.key("i:203.0.113.7", "l")[6..],
        two.key("i:203.0.113.7", "l")[3..]
    );
}

#[tokio::test]
async fn hashed_identities_on_a_cluster() {
    let cluster = RedisCluster::start();
    let one = cluster_store(&cluster, TimeSource::Caller).await;
    let two = cluster_store(&cluster, TimeSource::Caller).await;
    let user = huge_user(9);
    let fp = format!("i:10.0.0.1|k:{FINGERPRINT}");
    assert_eq!(one.key(&user, "l"), two.key(&user, "l"));
    assert_eq!(one.key(&fp, "l"), two.key(&fp, "l"));
    for identity in [&user, &fp] {
        // Two limits of one client, one slot: one atomic call.
        let checks = [
            check("api/hour/00000006", identity, hourly(2), 1),
            check("api/second/00000007", identity, bucket(), 1),
        ];
        assert_eq!(
            floodgate_redis::keys::slot(&one.key(identity, &checks[0].limit_id)),
            floodgate_redis::keys::slot(&one.key(identity, &checks[1].limit_id))
        );
        for store in [&one, &two] {
            let d = store.check(&checks, Timestamp::EPOCH).await.unwrap();
            assert!(d[0].allowed && d[1].allowed);
        }
        for store in [&one, &two] {
            let d = store.check(&checks, Timestamp::EPOCH).await.unwrap();
            assert!(!d[0].allowed, "limited on both replicas");
        }
    }
    // The secret lives on one node.
    let found: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| n.cli(&["GET", "fg:secret"]).trim().to_owned())
        .filter(|v| v.len() == 64)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
}
