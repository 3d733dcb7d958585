//! The dashboard in a real browser: headless Chromium driven over
//! WebDriver (chromedriver), against the real server on port 0 under load
//! from the load generator and a hammering client.
//!
//! Needs `chromium` and `chromedriver` on the PATH (Debian: `chromium`,
//! `chromium-driver`; `.ci/run` installs them).

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{browser, chromedriver, console_errors, log_in, text, wait_text, Driver};
use common::{get, send, wait_until};
use fantoccini::Locator;
use floodgate_config::ConfigFile;
use floodgate_loadgen::run::Load;
use floodgate_loadgen::scenario::ScenarioFile;
use floodgate_server::config::Config;
use floodgate_server::{start as start_server, Listeners, Options};
use tokio::net::TcpListener;

const READ_TOKEN: &str = "read-secret-token";

fn config() -> String {
    // The SHA-256 of READ_TOKEN.
    r#"
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  tokens:
    - { name: viewer, role: read, sha256: 92e586fe7b75f854df552c2753e7987d8a9563b7da457f2ba3a17e629fa82f81 }
tiers: [free, pro]
default_tier: free
clients:
  - { api_key: hammer-key, tier: pro, name: hammer }
rules:
  - name: per-key
    key: api_key
    limits:
      - { algorithm: fixed_window, limit: 20, window: 1h }
"#
    .to_string()
}

/// `floodgate_requests_total` of `rule` and `outcome` from `/metrics`.
async fn metric(admin: std::net::SocketAddr, rule: &str, outcome: &str) -> u64 {
    let auth = format!("Bearer {READ_TOKEN}");
    let r = get(
        &format!("http://{admin}/metrics"),
        &[("authorization", &auth)],
    )
    .await;
    let text = String::from_utf8_lossy(&r.body).to_string();
    let series = format!("floodgate_requests_total{{rule=\"{rule}\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Over plain HTTP, without a session: the login page and no data; a
/// wrong token refused; the read token opens a session, whose cookie the
/// page's data wants. The session cookie.
async fn login_over_http(dashboard: &str) -> String {
    // Without a session: the login page, and no data.
    let r = get(dashboard, &[]).await;
    let page = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 200);
    assert!(page.contains("id=\"login-form\"") && !page.contains("total-allowed"));
    assert_eq!(get(&format!("{dashboard}/data"), &[]).await.status, 401);
    // Over plain HTTP: a wrong token is refused, the right one opens a
    // session whose cookie the page's data wants.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let login = format!("{dashboard}/login");
    let r = send("POST", &login, &form, "token=wrong").await;
    assert_eq!(r.status, 401);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(String::from_utf8_lossy(&r.body).contains("That token is not valid."));
    let r = send("POST", &login, &form, format!("token={READ_TOKEN}")).await;
    assert_eq!(r.status, 303);
    let cookie = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(READ_TOKEN));
    let session = cookie.split(';').next().unwrap().to_string();
    let r = get(&format!("{dashboard}/data"), &[("cookie", &session)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["policy"]["version"], 1);
    session
}

/// Load: 12 clients by API key at 100/s for 2 s (each 16 or 17, under
/// the limit of 20), running; and a client hammering far past it, done.
async fn start_load(
    public: std::net::SocketAddr,
    file: ConfigFile,
) -> tokio::task::JoinHandle<floodgate_loadgen::report::Report> {
    // Load: 12 clients by API key at 100/s for 2 s (each 16 or 17, under
    // the limit of 20), and a client hammering far past it.
    let scenario = ScenarioFile::parse(
        "load",
        &format!(
            "target: {{ url: \"http://{}/api/v1/data\" }}\nclients: {{ count: 12, pick: round_robin, key_prefix: dash- }}\nrate: {{ steady: 100, duration: 2s }}\n",
            public
        ),
    )
    .unwrap()
    .resolve()
    .unwrap();
    let policy = file;
    let load = tokio::spawn(async move {
        floodgate_loadgen::run_and_report(&scenario, Load::Open, Some(&policy)).await
    });
    let data_url = format!("http://{}/api/v1/data", public);
    let mut hammered = 0;
    for _ in 0..150 {
        if get(&data_url, &[("x-api-key", "hammer-key")]).await.status == 429 {
            hammered += 1;
        }
    }
    assert_eq!(hammered, 130);
    load
}

/// `n` with a comma every three digits, as the page shows counts.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Once the load is over, the page shows what /metrics counts.
async fn page_shows_the_metrics(c: &fantoccini::Client, admin: std::net::SocketAddr) {
    let allowed = metric(admin, "per-key", "allowed").await;
    let limited = metric(admin, "per-key", "limited").await;
    assert!(allowed >= 20 + 200 && limited >= 130, "{allowed} {limited}");
    let shown = wait_until(Duration::from_secs(15), || async {
        text(c, "#total-allowed").await == thousands(allowed)
            && text(c, "#total-limited").await == thousands(limited)
    })
    .await;
    assert!(
        shown,
        "the page shows {} allowed, {} limited; /metrics {allowed}, {limited}",
        text(c, "#total-allowed").await,
        text(c, "#total-limited").await
    );
}

/// The browser without a session sees the login form, never data; a
/// wrong token is refused (its 401 the one error logged); the read token
/// opens the dashboard.
async fn log_in_and_out_of_reach(c: &fantoccini::Client, driver: &Driver, dashboard: &str) {
    // The browser without a session sees the login form, never data.
    c.goto(dashboard).await.unwrap();
    c.wait().for_element(Locator::Id("token")).await.unwrap();
    assert!(c.find(Locator::Id("total-allowed")).await.is_err());
    // A wrong token is refused.
    log_in(c, "not-a-token").await;
    wait_text(c, "#login-message", "That token is not valid.").await;
    // The refusal's 401 is the one error the browser logs so far (reading
    // the log empties it).
    let errors = console_errors(c, driver).await;
    assert!(
        errors.len() == 1 && errors[0].contains("/dashboard/login") && errors[0].contains("401"),
        "{errors:?}"
    );
    // The read token opens the dashboard.
    log_in(c, READ_TOKEN).await;
    c.wait()
        .for_element(Locator::Id("total-allowed"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_live_counts_and_the_hammering_client() {
    let file = ConfigFile::parse("test.yaml", &config()).expect("valid config");
    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: None,
    };
    let opts = Options {
        watch_interval: None,
        ..Options::default()
    };
    let server = start_server(Config::from_file(file.clone()).unwrap(), listeners, opts)
        .await
        .expect("server starts");
    let admin = server.admin_addr;
    let dashboard = format!("http://{admin}/dashboard");

    let _session = login_over_http(&dashboard).await;

    let load = start_load(server.public_addr, file.clone()).await;

    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    log_in_and_out_of_reach(&c, &driver, &dashboard).await;

    let report = load.await.unwrap();
    assert_eq!(report.counts.errors, 0, "{}", report.text());
    page_shows_the_metrics(&c, admin).await;
    // The hammering client tops the limited list, by its client name and
    // tier, never by its key.
    wait_text(&c, "#top-limited tbody tr:first-child td.client", "hammer").await;
    assert_eq!(
        text(&c, "#top-limited tbody tr:first-child td.tier").await,
        "pro"
    );
    let source = c.source().await.unwrap();
    assert!(!source.contains("hammer-key"));
    assert!(text(&c, "#store").await.contains("memory"));
    assert!(text(&c, "#policy-rules").await.contains("per-key"));

    let shot = c.screenshot().await.unwrap();
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &shot).unwrap();

    // The dashboard itself logged no error.
    let errors = console_errors(&c, &driver).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // Logging out ends the session: the login page again.
    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("token")).await.unwrap();
    assert!(c.find(Locator::Id("total-allowed")).await.is_err());

    c.close().await.unwrap();
    server.shutdown().await.unwrap();
}
