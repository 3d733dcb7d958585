//! Real `redis-server` processes for tests: a standalone server on a free
//! loopback port, and a 3-master Redis Cluster (with replicas: `cluster.rs`). No mocks.
//!
//! Each server runs in its own temporary directory with persistence off
//! and is killed when its handle is dropped. Fault helpers kill, restart
//! (same port), pause (`SIGSTOP`) and resume (`SIGCONT`) it.
//!
//! A server may also listen for TLS ([`RedisServer::start_tls`]), beside
//! its plain port (which `redis-cli` and the readiness check use). With
//! `FLOODGATE_TEST_REDIS_TLS` set to a directory of test certificates
//! (made by `floodgate-test-pki`; the CI exports `SSL_CERT_FILE` to its
//! CA), every [`RedisServer::start`] listens for TLS and its
//! [`url`](RedisServer::url) is `rediss://localhost:<tls port>`: the same
//! tests then run over TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::pki::Pki;

/// The variable that switches every [`RedisServer::start`] to TLS: a
/// directory of test certificates.
pub const TLS_SWITCH: &str = "FLOODGATE_TEST_REDIS_TLS";

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// Whether `redis-server` can be run here.
pub fn redis_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A loopback port nobody listens on (and, when `with_bus`, whose cluster
/// bus port, +10000, is free as well).
pub(crate) fn free_port(with_bus: bool) -> u16 {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = l.local_addr().expect("local addr").port();
        if !with_bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port found");
}

/// Sends one inline command and returns the raw reply (a sketch of RESP,
/// enough for PING and CLUSTER INFO).
pub(crate) fn raw_command(port: u16, cmd: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
    let mut buf = vec![0u8; 8192];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A `redis-server` process on a loopback port.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
    tls_port: Option<u16>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers PING
    /// (listening for TLS too when [`TLS_SWITCH`] is set).
    pub fn start() -> RedisServer {
        match std::env::var_os(TLS_SWITCH) {
            Some(dir) if !dir.is_empty() => {
                RedisServer::start_tls(&Pki::existing(std::path::Path::new(&dir)), false)
            }
            _ => RedisServer::start_with(free_port(false), &[]),
        }
    }

    /// Starts a server that also listens for TLS on a port of its own,
    /// with `pki`'s server certificate; with `auth_clients`, a client must
    /// present a certificate `pki`'s CA signed (mutual TLS).
    pub fn start_tls(pki: &Pki, auth_clients: bool) -> RedisServer {
        let path = |p: PathBuf| p.to_string_lossy().into_owned();
        // Two free ports, picked apart: either may be taken by another
        // test before the server binds it, so a server that exits at
        // start is started again on new ones.
        for _ in 0..5 {
            let tls_port = free_port(false);
            let port = loop {
                let p = free_port(false);
                if p != tls_port {
                    break p;
                }
            };
            let args = [
                "--tls-port".to_string(),
                tls_port.to_string(),
                "--tls-cert-file".to_string(),
                path(pki.server_cert()),
                "--tls-key-file".to_string(),
                path(pki.server_key()),
                "--tls-ca-cert-file".to_string(),
                path(pki.ca()),
                "--tls-auth-clients".to_string(),
                if auth_clients { "yes" } else { "no" }.to_string(),
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut s = RedisServer::unstarted(port, &args);
            if s.try_spawn() {
                s.tls_port = Some(tls_port);
                return s;
            }
        }
        panic!("no TLS redis-server could start (ports taken)");
    }

    /// The TLS port, when the server listens for TLS.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `rediss://localhost:<tls port>`, when the server listens for TLS.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port.map(|p| format!("rediss://localhost:{p}"))
    }

    pub(crate) fn start_with(port: u16, extra: &[&str]) -> RedisServer {
        let mut s = RedisServer::unstarted(port, extra);
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        assert!(
            self.try_spawn(),
            "redis-server on port {} exited at start (its port taken?)",
            self.port
        );
    }

    /// A server's handle before its process runs.
    fn unstarted(port: u16, extra: &[&str]) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "floodgate-redis-{}-{}-{}",
            std::process::id(),
            port,
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the server's temp dir");
        RedisServer {
            port,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            tls_port: None,
        }
    }

    /// Starts the process and waits until it answers PING: `false` when
    /// it exited first (a port it was given is taken).
    fn try_spawn(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server (is it installed?)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if raw_command(self.port, "PING").is_some_and(|r| r.starts_with("+PONG")) {
                self.child = Some(child);
                return true;
            }
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, or the TLS URL when [`TLS_SWITCH`]
    /// made this a TLS server.
    pub fn url(&self) -> String {
        match self.tls_url() {
            Some(u) if std::env::var_os(TLS_SWITCH).is_some_and(|d| !d.is_empty()) => u,
            _ => self.plain_url(),
        }
    }

    /// `redis://127.0.0.1:<port>`, the plain port, always.
    pub fn plain_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The OS process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let ok = Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "kill {sig} {pid} failed");
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Resumes a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Runs `redis-cli -p <port> <args>` and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A paused process must be resumed to die cleanly everywhere.
        self.resume();
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The ACL rules docs/redis.md ("ACL users") gives a Floodgate user, for
/// the key prefix `fg:`.
pub const DOCUMENTED_ACL: &[&str] = &[
    "resetkeys",
    "~fg:*",
    "resetchannels",
    "&fg:*",
    "-@all",
    "+@read",
    "+@write",
    "+@scripting",
    "+@pubsub",
    "+@transaction",
    "+@connection",
    "-@dangerous",
    "+role",
    "+time",
    "+cluster|slots",
    "+cluster|shards",
    "+info",
];

impl RedisServer {
    /// Adds (or resets) ACL user `name` with `password` and `rules`.
    pub fn add_user(&self, name: &str, password: &str, rules: &[&str]) {
        let pw = format!(">{password}");
        let mut args = vec!["ACL", "SETUSER", name, "reset", "on", &pw];
        args.extend_from_slice(rules);
        assert_eq!(self.cli(&args).trim(), "OK", "ACL SETUSER {name}");
    }
}

/// `redis-cli -p <port> <args>`'s stdout.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `redis-cli --cluster create` over `nodes`, with `replicas` replicas
/// per primary.
pub(crate) fn create_cluster(nodes: &[RedisServer], replicas: u8) {
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let replicas = replicas.to_string();
    let mut args: Vec<&str> = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.extend(["--cluster-replicas", &replicas, "--cluster-yes"]);
    let out = Command::new("redis-cli")
        .args(&args)
        .output()
        .expect("run redis-cli --cluster create");
    assert!(
        out.status.success(),
        "redis-cli --cluster create failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A 3-master Redis Cluster on loopback, no replicas.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, creates the cluster and waits
    /// until every node reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(
                    free_port(true),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
            })
            .collect();
        create_cluster(&nodes, 0);
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = cluster.nodes.iter().all(|n| {
                raw_command(n.port, "CLUSTER INFO").is_some_and(|r| r.contains("cluster_state:ok"))
            });
            if ok {
                return cluster;
            }
            assert!(Instant::now() < deadline, "cluster did not reach state ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:<port>` of each node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}
