//! ACL users on a real `redis-server`: the user docs/redis.md describes
//! can do all the store needs (decisions, the policy store and its
//! announcements, the fleet view); a wrong password and a missing
//! permission are clear errors that never show the password; passwords
//! come from a file or an environment variable.

mod common;

use std::time::Duration;

use common::*;
use floodgate_core::{Quota, Store, Timestamp};
use floodgate_redis::{Credentials, RedisConfig, RedisFleet, RedisPolicyStore, RedisStore, Secret};

const NOW: Timestamp = Timestamp::from_micros(1_700_006_400_000_000);
const PASSWORD: &str = "s3cret-Pa55";

const DOCUMENTED: &[&str] = floodgate_testkit::redis::DOCUMENTED_ACL;

fn add_user(server: &RedisServer, name: &str, rules: &[&str]) {
    server.add_user(name, PASSWORD, rules);
}

fn as_user(server: &RedisServer, user: &str, password: Secret) -> RedisConfig {
    RedisConfig {
        credentials: Credentials {
            username: Some(user.into()),
            password: Some(password),
        },
        ..caller_config(&server.url())
    }
}

#[tokio::test]
async fn the_documented_user_can_do_everything_the_store_needs() {
    let server = RedisServer::start();
    add_user(&server, "floodgate", DOCUMENTED);
    let config = as_user(&server, "floodgate", Secret::Value(PASSWORD.into()));

    let store = RedisStore::connect(&config)
        .await
        .expect("connect as the ACL user");
    let c = [check(
        "acl/hourly/0",
        "a",
        Quota::fixed_window(1, Duration::from_secs(3_600)).unwrap(),
        1,
    )];
    assert!(store.check(&c, NOW).await.unwrap()[0].allowed);
    assert!(!store.check(&c, NOW).await.unwrap()[0].allowed);

    let policy = RedisPolicyStore::connect(&config)
        .await
        .expect("policy store");
    let other = RedisPolicyStore::connect(&config)
        .await
        .expect("policy store");
    let mut rx = other.watch(Duration::from_millis(50)).await;
    policy
        .commit(0, 1, r#"{"rules":[]}"#, r#"{"version":1}"#, 10)
        .await
        .expect("commit as the ACL user");
    // The borrow `wait_for` answers is dropped at once: held, it would
    // block the watcher's next send.
    let seen = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| *v == 1))
        .await
        .map(|r| r.is_ok());
    assert_eq!(seen, Ok(true), "the announcement arrived");

    let fleet = RedisFleet::connect(&config).await.expect("fleet view");
    let p = fleet
        .publish("r1", None, "{}", Duration::from_secs(60))
        .await
        .expect("publish as the ACL user");
    assert_eq!(p.replicas, 1);
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_without_the_password() {
    let server = RedisServer::start();
    add_user(&server, "floodgate", DOCUMENTED);
    let config = as_user(&server, "floodgate", Secret::Value("not-it-XYZ".into()));
    let e = RedisStore::connect(&config)
        .await
        .err()
        .expect("a wrong password is refused")
        .to_string();
    assert!(
        e.contains("cannot connect to redis") && e.contains("WRONGPASS"),
        "{e}"
    );
    assert!(!e.contains("not-it-XYZ") && !e.contains(PASSWORD), "{e}");

    // A URL with the password in it: still not shown.
    let url = format!("redis://floodgate:not-it-XYZ@127.0.0.1:{}", server.port());
    let e = RedisStore::connect(&caller_config(&url))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("WRONGPASS") && !e.contains("not-it-XYZ"), "{e}");
}

#[tokio::test]
async fn a_missing_permission_is_named() {
    let server = RedisServer::start();
    // Keys, but no scripting.
    add_user(
        &server,
        "noscript",
        &["~fg:*", "&fg:*", "+@read", "+@write", "+@connection"],
    );
    let config = as_user(&server, "noscript", Secret::Value(PASSWORD.into()));
    let e = RedisStore::connect(&config)
        .await
        .err()
        .expect("a user without scripting cannot decide")
        .to_string();
    assert!(
        e.contains("lacks a permission") && e.contains("has no permissions to run the"),
        "{e}"
    );
    assert!(e.contains("ACL users"), "points at the docs: {e}");

    // Another key prefix than the user's keys.
    add_user(&server, "other", DOCUMENTED);
    let config = RedisConfig {
        key_prefix: "elsewhere:".into(),
        ..as_user(&server, "other", Secret::Value(PASSWORD.into()))
    };
    let e = RedisStore::connect(&config)
        .await
        .err()
        .expect("keys outside ~fg:* are refused")
        .to_string();
    assert!(e.contains("lacks a permission") && e.contains("key"), "{e}");
}

#[tokio::test]
async fn passwords_come_from_a_file_or_a_variable() {
    let server = RedisServer::start();
    add_user(&server, "floodgate", DOCUMENTED);
    let dir = std::env::temp_dir().join(format!("fg-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("redis-password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let by_file = as_user(&server, "floodgate", Secret::File(file.clone()));
    RedisStore::connect(&by_file)
        .await
        .expect("password from a file (its line break dropped)");

    // A variable set by the test binary's parent is the only race-free
    // way to have one: PATH is always set, and is the wrong password.
    let by_env = as_user(&server, "floodgate", Secret::Env("PATH".into()));
    let e = RedisStore::connect(&by_env)
        .await
        .err()
        .expect("the variable's value is used, and it is wrong")
        .to_string();
    assert!(e.contains("WRONGPASS"), "{e}");
    let unset = as_user(
        &server,
        "floodgate",
        Secret::Env("FLOODGATE_TEST_UNSET_PASSWORD".into()),
    );
    let e = RedisStore::connect(&unset)
        .await
        .err()
        .expect("an unset variable is an error")
        .to_string();
    assert_eq!(
        e,
        "redis credentials: password environment variable FLOODGATE_TEST_UNSET_PASSWORD is not set"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
