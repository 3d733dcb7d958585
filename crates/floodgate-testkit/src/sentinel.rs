//! A real Sentinel setup for tests: a primary, a replica and three
//! Sentinels (quorum 2) on loopback ports, the Sentinels started from
//! config files of their own (`redis-server <file> --sentinel`, what
//! Debian's `redis-sentinel` runs). A down primary is noticed after
//! [`DOWN_AFTER`] and its replica promoted soon after.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis::{cli, free_port, raw_command, RedisServer};

/// `down-after-milliseconds` of the test Sentinels.
pub const DOWN_AFTER: Duration = Duration::from_millis(1_000);

/// The master name the Sentinels monitor.
pub const MASTER: &str = "floodgate-test";

/// A primary, a replica and three Sentinels.
pub struct SentinelSetup {
    primary: Option<RedisServer>,
    replica: Option<RedisServer>,
    sentinels: Vec<Sentinel>,
}

struct Sentinel {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SentinelSetup {
    /// Starts the servers and Sentinels, and waits until every Sentinel
    /// knows the primary, its replica and the other Sentinels.
    pub fn start() -> SentinelSetup {
        let primary = RedisServer::start_with(free_port(false), &[]);
        let replica_of = primary.port().to_string();
        let replica =
            RedisServer::start_with(free_port(false), &["--replicaof", "127.0.0.1", &replica_of]);
        let sentinels = (0..3).map(|_| Sentinel::start(primary.port())).collect();
        let setup = SentinelSetup {
            primary: Some(primary),
            replica: Some(replica),
            sentinels,
        };
        setup.wait_known();
        setup
    }

    fn wait_known(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.sentinels.iter().all(|s| {
                let info = cli(s.port, &["SENTINEL", "MASTER", MASTER]);
                field(&info, "num-slaves").is_some_and(|n| n >= 1)
                    && field(&info, "num-other-sentinels").is_some_and(|n| n >= 2)
            });
            let synced = self.replica.as_ref().is_some_and(|r| {
                r.cli(&["INFO", "replication"])
                    .contains("master_link_status:up")
            });
            if ready && synced {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Sentinels never knew the whole setup"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis://127.0.0.1:<port>` of each Sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect()
    }

    /// The primary at start (until killed).
    pub fn primary(&self) -> &RedisServer {
        self.primary.as_ref().expect("the primary was killed")
    }

    /// The replica at start.
    pub fn replica(&self) -> &RedisServer {
        self.replica.as_ref().expect("the replica is gone")
    }

    /// Kills the primary (SIGKILL).
    pub fn kill_primary(&mut self) {
        if let Some(mut p) = self.primary.take() {
            p.kill();
        }
    }

    /// The port the first Sentinel names the primary at now.
    pub fn primary_port(&self) -> Option<u16> {
        let out = cli(
            self.sentinels[0].port,
            &["SENTINEL", "get-master-addr-by-name", MASTER],
        );
        out.lines().nth(1)?.trim().parse().ok()
    }
}

/// The number after `name` in `SENTINEL MASTER`'s field/value lines.
fn field(info: &str, name: &str) -> Option<u64> {
    let mut lines = info.lines();
    while let Some(l) = lines.next() {
        if l.trim() == name {
            return lines.next()?.trim().parse().ok();
        }
    }
    None
}

impl Sentinel {
    fn start(primary_port: u16) -> Sentinel {
        let port = free_port(false);
        let dir =
            std::env::temp_dir().join(format!("floodgate-sentinel-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the Sentinel's dir");
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER} {down}\n\
                 sentinel failover-timeout {MASTER} 10000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir = dir.display(),
                down = DOWN_AFTER.as_millis()
            ),
        )
        .expect("write sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server --sentinel");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !raw_command(port, "PING").is_some_and(|r| r.starts_with("+PONG")) {
            assert!(
                Instant::now() < deadline,
                "Sentinel on {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Sentinel { port, dir, child }
    }
}
