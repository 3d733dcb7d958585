//! Headless Chromium over WebDriver (chromedriver) for the dashboard's
//! browser tests. Needs `chromium` and `chromedriver` on the PATH (Debian:
//! `chromium`, `chromium-driver`; `.ci/run` installs them).

#![allow(dead_code)]

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use super::common::{send, wait_until};

/// chromedriver on a free port, killed on drop.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromedriver() -> Driver {
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver on the PATH (Debian: apt-get install chromium chromium-driver)");
    Driver { child, port }
}

pub async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,1800",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
        "goog:loggingPrefs": { "browser": "ALL" },
    });
    let caps = caps.as_object().unwrap().clone();
    let url = format!("http://127.0.0.1:{}", driver.port);
    // chromedriver takes a moment to listen: retry until a deadline.
    let end = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return c,
            Err(e) if std::time::Instant::now() >= end => {
                panic!("no WebDriver session from chromedriver: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The browser's console entries at level SEVERE (errors).
pub async fn console_errors(c: &Client, driver: &Driver) -> Vec<String> {
    let id = c.session_id().await.unwrap().expect("a session");
    let r = send(
        "POST",
        &format!("http://127.0.0.1:{}/session/{id}/se/log", driver.port),
        &[("content-type", "application/json")],
        r#"{"type":"browser"}"#,
    )
    .await;
    assert!(r.status.is_success(), "the browser log: {}", r.status);
    r.json()["value"]
        .as_array()
        .expect("log entries")
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].to_string())
        .collect()
}

/// The text of the element `css` finds, or empty when there is none
/// (yet: the page may be loading).
pub async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until the element `css` finds says `expected`.
pub async fn wait_text(c: &Client, css: &str, expected: &str) {
    let ok = wait_until(Duration::from_secs(15), || async {
        text(c, css).await == expected
    })
    .await;
    assert!(
        ok,
        "{css} says `{}`, not `{expected}`; at {:?}: {}",
        text(c, css).await,
        c.current_url().await.map(|u| u.to_string()),
        c.source().await.unwrap_or_default()
    );
}

/// Types `token` into the login form and submits it.
pub async fn log_in(c: &Client, token: &str) {
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}
