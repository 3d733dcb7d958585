//! A packed gathered call of fixed-window checks under Redis' time (the
//! script's `decide_fw_checks` path) against the same requests as an
//! unpacked gathered call (the general path), straight through `FCALL`:
//! the same replies (but the time each call read) and the same keys
//! written, with their TTLs, for fresh keys, kept windows and denials.

mod common;

use common::*;
use floodgate_redis::{RedisStore, Scripting};

/// A 30-day window (epoch-aligned: no window ends during the test).
const WINDOW_US: u64 = 30 * 86_400 * 1_000_000;

/// The requests of one call: (key, limit), each one fixed-window check
/// of cost 1; the same key twice within a call sees the first's count.
const REQUESTS: [(&str, u64); 5] = [("a", 1), ("b", 2), ("a", 1), ("c", 40), ("b", 2)];

fn packed(limit: u64) -> Vec<u8> {
    let mut r = b"c\x01\x00fw".to_vec();
    for v in [limit, WINDOW_US, 0, 1] {
        r.extend_from_slice(&v.to_be_bytes());
    }
    r
}

/// `FCALL` of the library with `keys` and `args`: the reply.
async fn fcall(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &[String],
    args: Vec<Vec<u8>>,
) -> Vec<i64> {
    let mut cmd = redis::cmd("FCALL");
    cmd.arg(RedisStore::library_name()).arg(keys.len());
    for k in keys {
        cmd.arg(k);
    }
    for a in &args {
        cmd.arg(a.as_slice());
    }
    cmd.query_async(conn).await.expect("FCALL")
}

/// The reply with each request's time (Redis' clock at the call) zeroed:
/// `{ R, then per request: L, t, ... }`.
fn without_time(mut reply: Vec<i64>) -> Vec<i64> {
    let mut i = 1;
    while i < reply.len() {
        let len = reply[i] as usize;
        reply[i + 1] = 0;
        i += 1 + len;
    }
    reply
}

#[tokio::test]
async fn packed_fixed_window_checks_reply_and_write_as_the_general_path() {
    let server = RedisServer::start();
    // Connecting loads the library.
    let _store = scripted_store(&server, Scripting::Functions, "FCALL").await;
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys = |side: &str| -> Vec<String> {
        REQUESTS
            .iter()
            .map(|(k, _)| format!("{{pf}}{side}:{k}"))
            .collect()
    };
    let r = REQUESTS.len();
    let packed_args = || {
        let mut a: Vec<Vec<u8>> = vec![b"G".to_vec(), b"0".to_vec(), r.to_string().into_bytes()];
        a.extend(REQUESTS.iter().map(|(_, limit)| packed(*limit)));
        a
    };
    let general_args = || {
        let mut a: Vec<String> = vec!["g".into(), "0".into(), r.to_string()];
        for (_, limit) in REQUESTS {
            a.extend(["c", "", "1", "fw"].map(String::from));
            a.extend([limit, WINDOW_US, 0, 1].map(|v| v.to_string()));
        }
        a.into_iter().map(String::into_bytes).collect::<Vec<_>>()
    };
    // Three rounds on the same keys: fresh, then in the window they hold
    // (counts kept, TTL kept), then denied.
    for round in 0..3 {
        let fast = fcall(&mut conn, &keys("p"), packed_args()).await;
        let general = fcall(&mut conn, &keys("g"), general_args()).await;
        assert_eq!(
            without_time(fast.clone()),
            without_time(general),
            "round {round}"
        );
        // The allowed flags are what the limits say: a (1) once, b (2)
        // twice, c (40) every time.
        let allowed: Vec<i64> = {
            let (mut out, mut i) = (Vec::new(), 1);
            while i < fast.len() {
                out.push(fast[i + 3]);
                i += 1 + fast[i] as usize;
            }
            out
        };
        let want = match round {
            0 => vec![1, 1, 0, 1, 1],
            _ => vec![0, 0, 0, 1, 0],
        };
        assert_eq!(allowed, want, "round {round}");
        for (p, g) in keys("p").iter().zip(keys("g")) {
            assert_eq!(
                server.cli(&["GET", p]),
                server.cli(&["GET", &g]),
                "{p} round {round}"
            );
            let ttl = |k: &str| server.cli(&["PTTL", k]).trim().parse::<i64>().unwrap();
            let (tp, tg) = (ttl(p), ttl(&g));
            assert!(tp > 0 && tg > 0, "{p}: {tp} / {tg}");
            // Written at the same window's end, a few ms apart at most.
            assert!((tp - tg).abs() < 5_000, "{p}: {tp} / {tg}");
        }
    }
}
