//! Helpers for end-to-end tests: start the real server on port 0 with a
//! manual clock, and speak HTTP to it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use floodgate_core::{ManualClock, Timestamp};
use floodgate_server::config::Config;
use floodgate_server::{start as start_server, Listeners, Options, Running};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

/// The config most server tests start from: demo endpoints, a per-IP
/// fixed window of 5 a minute on `/api/v1/data` (tiers free and pro).
pub const BASE: &str = r#"
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
tiers: [free, pro]
default_tier: free
clients:
  - { api_key: key-pro-1, tier: pro }
rules:
  - name: per-ip
    match: { path: /api/v1/data }
    key: ip
    limits:
      - { algorithm: fixed_window, limit: 5, window: 1m }
"#;

/// A day boundary, so windows start where tests expect.
pub const T0: u64 = 1_764_028_800_000_000;

pub struct Server {
    pub running: Running,
    pub clock: ManualClock,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub grpc: Option<SocketAddr>,
}

pub async fn start(yaml: &str) -> Server {
    start_with_path(yaml, None).await
}

pub async fn start_with_path(yaml: &str, path: Option<std::path::PathBuf>) -> Server {
    start_watching(yaml, path, None).await
}

pub async fn start_watching(
    yaml: &str,
    path: Option<std::path::PathBuf>,
    watch_interval: Option<std::time::Duration>,
) -> Server {
    let config = Config::parse("test.yaml", yaml).expect("valid test config");
    let clock = ManualClock::new(Timestamp::from_micros(T0));
    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        // With `grpc.listen` set, a gRPC listener on a port of its own.
        grpc: match config.grpc_listen {
            Some(_) => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            None => None,
        },
    };
    let opts = Options {
        clock: Arc::new(clock.clone()),
        monotonic: Arc::new(clock.clone()),
        config_path: path,
        watch_interval,
    };
    let running = start_server(config, listeners, opts)
        .await
        .expect("server starts");
    Server {
        public: running.public_addr,
        admin: running.admin_addr,
        grpc: running.grpc_addr,
        running,
        clock,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    send("GET", url, headers, Bytes::new()).await
}

/// A metric's value from the admin listener's `/metrics` (0 when the
/// series is absent).
pub async fn metric(s: &Server, series: &str) -> u64 {
    let text = get(&format!("http://{}/metrics", s.admin), &[]).await;
    let text = String::from_utf8_lossy(&text.body).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().expect("a number"))
}

/// A real upstream: echoes what it received as JSON; `/slow` answers after
/// two seconds.
pub async fn upstream() -> SocketAddr {
    let app = axum::Router::new().fallback(|req: Request<Body>| async move {
        let (parts, body) = req.into_parts();
        if parts.uri.path() == "/slow" {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        let body = body.collect().await.unwrap().to_bytes();
        let headers: HashMap<String, String> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let echo = serde_json::json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        http::Response::builder()
            .status(201)
            .header("content-type", "application/json")
            .header("x-upstream", "yes")
            .header("connection", "x-secret-hop")
            .header("x-secret-hop", "must not pass")
            .body(Body::from(echo.to_string()))
            .unwrap()
    });
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    addr
}

/// How long a process test waits for a log line.
pub const LOG_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Retries `f` with short pauses until it holds; false once `deadline`
/// has passed without it holding.
pub async fn wait_until<F, Fut>(deadline: std::time::Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + deadline;
    loop {
        if f().await {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A process's stderr, line by line, as it arrives.
#[derive(Clone, Default)]
pub struct Logs(pub Arc<std::sync::Mutex<Vec<String>>>);

impl Logs {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The JSON lines whose `message` is `message`.
    pub fn with_message(&self, message: &str) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// Waits until `n` lines carry `message`, and returns them.
    pub async fn wait_for(&self, message: &str, n: usize) -> Vec<serde_json::Value> {
        let found = wait_until(LOG_DEADLINE, || {
            let enough = self.with_message(message).len() >= n;
            async move { enough }
        })
        .await;
        assert!(
            found,
            "no {n} log lines `{message}` in time: {:#?}",
            self.lines()
        );
        self.with_message(message)
    }
}

/// Runs `promtool ARGS` in `dir` and asserts that it succeeds.
pub fn assert_promtool<S: AsRef<std::ffi::OsStr>>(dir: &std::path::Path, args: &[S]) {
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (Debian package prometheus) must be installed");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that `promtool check metrics` accepts `text` (an exposition).
pub fn assert_promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `series` (name and labels exactly as
/// written) in the exposition `text`.
pub fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// How a socket ended, polled until a deadline.
#[derive(Debug, PartialEq)]
pub enum Seen {
    /// The server closed it (read 0, or reset), after this long.
    Closed(std::time::Duration),
    /// Still open at the deadline.
    Open,
}

/// Reads (discarding) until the server closes `stream` or `within` passes.
pub async fn wait_closed(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> Seen {
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, tokio::io::AsyncReadExt::read(stream, &mut buf)).await {
            Err(_) => return Seen::Open,
            Ok(Ok(0)) | Ok(Err(_)) => return Seen::Closed(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A response read off a raw connection: status, head, body.
pub type RawResponse = (u16, String, String);

/// HTTP/1.1 responses read off one connection, in order; bytes past one
/// response are kept for the next (pipelining).
#[derive(Default)]
pub struct Responses {
    pub data: Vec<u8>,
}

impl Responses {
    pub fn new() -> Self {
        Responses::default()
    }

    /// The next response, within 5 s.
    pub async fn next(&mut self, stream: &mut tokio::net::TcpStream) -> RawResponse {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if let Some(r) = self.take() {
                return r;
            }
            let mut buf = [0u8; 4096];
            let n =
                tokio::time::timeout_at(deadline, tokio::io::AsyncReadExt::read(stream, &mut buf))
                    .await
                    .expect("a response in time")
                    .expect("read");
            assert!(n > 0, "closed before a whole response: {:?}", self.data);
            self.data.extend_from_slice(&buf[..n]);
        }
    }

    fn take(&mut self) -> Option<RawResponse> {
        let end = self.data.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&self.data[..end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if self.data.len() < end + 4 + len {
            return None;
        }
        let status = head[9..12].parse().expect("a status");
        let body = String::from_utf8_lossy(&self.data[end + 4..end + 4 + len]).to_string();
        self.data.drain(..end + 4 + len);
        Some((status, head, body))
    }
}

/// One HTTP/1.1 response read off `stream`: status, head, body.
pub async fn read_response(stream: &mut tokio::net::TcpStream) -> RawResponse {
    Responses::new().next(stream).await
}
