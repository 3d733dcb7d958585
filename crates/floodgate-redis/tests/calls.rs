//! How decisions reach Redis: the Functions library or the script, chosen
//! at connect, and reloaded when Redis has lost it.

mod common;

use common::*;
use floodgate_core::{Quota, Rate, Store, Timestamp};
use floodgate_redis::{RedisStore, Scripting};

fn quota() -> Quota {
    Quota::token_bucket(2, Rate::per_second(1).unwrap()).unwrap()
}

/// Three requests at one instant: two allowed, the third denied.
async fn two_of_three(store: &RedisStore, id: &str) {
    let c = check(id, "client", quota(), 1);
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    let mut allowed = Vec::new();
    for _ in 0..3 {
        allowed.push(store.check(std::slice::from_ref(&c), now).await.unwrap()[0].allowed);
    }
    assert_eq!(allowed, [true, true, false], "{id}");
}

#[tokio::test]
async fn auto_takes_functions_on_redis_7_and_loads_the_library_once() {
    let server = RedisServer::start();
    let store = scripted_store(&server, Scripting::Auto, "FCALL").await;
    let name = RedisStore::library_name();
    assert!(server.cli(&["FUNCTION", "LIST"]).contains(&name));
    // A second store finds the library there: not an error.
    let again = scripted_store(&server, Scripting::Functions, "FCALL").await;
    two_of_three(&store, "auto/a").await;
    two_of_three(&again, "auto/b").await;
}

#[tokio::test]
async fn a_flushed_library_is_loaded_again() {
    let server = RedisServer::start();
    let store = scripted_store(&server, Scripting::Functions, "FCALL").await;
    two_of_three(&store, "fn/a").await;
    assert_eq!(server.cli(&["FUNCTION", "FLUSH"]).trim(), "OK");
    assert!(!server
        .cli(&["FUNCTION", "LIST"])
        .contains(&RedisStore::library_name()));
    two_of_three(&store, "fn/b").await;
    assert!(server
        .cli(&["FUNCTION", "LIST"])
        .contains(&RedisStore::library_name()));
}

#[tokio::test]
async fn a_flushed_script_is_loaded_again() {
    let server = RedisServer::start();
    let store = scripted_store(&server, Scripting::Eval, "EVALSHA").await;
    two_of_three(&store, "eval/a").await;
    assert_eq!(server.cli(&["SCRIPT", "FLUSH"]).trim(), "OK");
    two_of_three(&store, "eval/b").await;
    let sha = RedisStore::script_sha();
    assert_eq!(server.cli(&["SCRIPT", "EXISTS", &sha]).trim(), "1");
}

#[tokio::test]
async fn both_calls_share_keys_and_state() {
    // A rolling upgrade: an old replica (script) and a new one (library)
    // on the same keys count together.
    let server = RedisServer::start();
    let config = caller_config(&server.url());
    let functions = RedisStore::connect(&floodgate_redis::RedisConfig {
        scripting: Scripting::Functions,
        ..config.clone()
    })
    .await
    .unwrap();
    let eval = RedisStore::connect(&floodgate_redis::RedisConfig {
        scripting: Scripting::Eval,
        ..config
    })
    .await
    .unwrap();
    let c = check("mixed", "client", quota(), 1);
    let now = Timestamp::from_micros(1_700_006_400_000_000);
    let mut allowed = Vec::new();
    for store in [&functions, &eval, &functions] {
        allowed.push(store.check(std::slice::from_ref(&c), now).await.unwrap()[0].allowed);
    }
    assert_eq!(allowed, [true, true, false]);
}

#[tokio::test]
async fn auto_falls_back_to_the_script_where_function_load_is_refused() {
    // A server that refuses FUNCTION (here by ACL, as Redis 6 refuses an
    // unknown command): Auto decides by EVALSHA; Functions fails to connect.
    let server = RedisServer::start();
    let acl = [
        "ACL",
        "SETUSER",
        "old",
        "on",
        ">pw",
        "~*",
        "&*",
        "+@all",
        "-function",
    ];
    assert_eq!(server.cli(&acl).trim(), "OK");
    let url = format!("redis://old:pw@127.0.0.1:{}", server.port());
    let auto = RedisStore::connect(&floodgate_redis::RedisConfig {
        scripting: Scripting::Auto,
        ..caller_config(&url)
    })
    .await
    .unwrap();
    assert_eq!(auto.call_command(), "EVALSHA");
    two_of_three(&auto, "fallback").await;
    let strict = RedisStore::connect(&floodgate_redis::RedisConfig {
        scripting: Scripting::Functions,
        ..caller_config(&url)
    })
    .await;
    assert!(strict.is_err());
}
