//! Prints the decision code as the store sends it, for `redis-cli`,
//! `redis-benchmark` and the cost benchmark (`benches/cost.sh`):
//!
//! - `lua library`: the Functions library (`FUNCTION LOAD`);
//! - `lua name`: its name, which is also its function's (`FCALL <name>`);
//! - `lua script`: the script (`SCRIPT LOAD`, then `EVALSHA`);
//! - `lua sha`: the script's SHA1.

use floodgate_redis::RedisStore;

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "library" => print!("{}", RedisStore::library_source()),
        "name" => println!("{}", RedisStore::library_name()),
        "script" => print!("{}", RedisStore::script_source()),
        "sha" => println!("{}", RedisStore::script_sha()),
        _ => {
            eprintln!("usage: lua library|name|script|sha");
            std::process::exit(2);
        }
    }
}
