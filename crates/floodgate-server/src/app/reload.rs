//! Config reloads (SIGHUP, a changed file, or a call): every section that
//! can change at run time changes at once; a change that needs a restart
//! (listeners, upstream, the store's kind and connection, log output) is
//! reported by name, in the log and in the returned report.

use std::path::PathBuf;
use std::sync::Arc;

use floodgate_config::{ConfigFile, FileDocument, PolicyDocument};
use floodgate_core::Policy;
use floodgate_tower::LimiterHandle;
use parking_lot::Mutex;

use floodgate_admin::auth::Auth;
use floodgate_admin::live::LivePolicy;

use super::error::ReloadError;
use crate::config::{hot, Config};
use crate::observe::metrics::store::Resilient;

/// What a reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Rules in the live policy after the reload.
    pub rules: usize,
    /// The policy version the file's policy part became, when it changed
    /// since it was last read (an unchanged policy part leaves the live
    /// policy, and changes made through the admin API, in place).
    pub policy_version: Option<u64>,
    /// Why the file's policy part was not applied, when it changed but
    /// could not become the live policy (the policy store was away, for
    /// one): the server sections were applied all the same.
    pub policy_error: Option<String>,
    /// Fields that changed but take effect only at the next restart.
    pub needs_restart: Vec<&'static str>,
}

/// Applies reloads to a running server.
pub struct Reloader {
    pub(crate) path: Option<PathBuf>,
    pub(crate) handle: LimiterHandle,
    pub(crate) live: Arc<LivePolicy>,
    pub(crate) redis: Option<Arc<Resilient>>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) current: Mutex<Config>,
}

impl Reloader {
    /// Reloads the file. On error the running config stays.
    pub(crate) async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let (report, document, policy) = self.reload_server_sections()?;
        // The server sections are in force now; the policy part may still
        // be refused (invalid as a whole live policy, or its store away).
        let (policy_version, policy_error) = match self.live.file_reloaded(document, &policy).await
        {
            Ok(done) => (done.map(|c| c.version), None),
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "the config file's policy part was not applied (the server sections were); \
                     the live policy stays; reload again once this is resolved"
                );
                (None, Some(e.to_string()))
            }
        };
        let report = ReloadReport {
            rules: self.live.policy().await.rules.len(),
            policy_version,
            policy_error,
            ..report
        };
        tracing::info!(
            file = %self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            rules = report.rules,
            policy_version = report.policy_version,
            "config reloaded; counters of unchanged limits kept"
        );
        Ok(report)
    }

    /// Applies the server sections; returns the file's policy part.
    fn reload_server_sections(
        &self,
    ) -> Result<(ReloadReport, PolicyDocument, Arc<Policy>), ReloadError> {
        let Some(path) = &self.path else {
            return Err(ReloadError::NoFile);
        };
        let refused = |e: ReloadError| {
            tracing::error!(error = %e, "config reload refused; keeping the previous config");
            e
        };
        let new = Config::load(path).map_err(|e| refused(e.into()))?;
        let mut current = self.current.lock();
        let needs_restart = hot::needs_restart(&current.document.server, &new.document.server);
        // What runs from now on: the running sections with the fields a
        // reload changes taken from the file, so that the next reload
        // compares against what really runs.
        let mut server = current.document.server.clone();
        hot::carry(&new.document.server, &mut server);
        let running = Config::from_file(ConfigFile {
            file: new.file.clone(),
            text: String::new(),
            document: FileDocument {
                server,
                policy: new.document.policy.clone(),
            },
            policy: new.policy.clone(),
            memory: current.memory,
            warnings: new.warnings.clone(),
        })
        .map_err(|e| refused(ReloadError::Invalid(e.into())))?;
        for field in &needs_restart {
            tracing::warn!(
                field,
                "this change takes effect at the next restart; the running value stays"
            );
        }
        if let (Some(r), Some(rc)) = (&self.redis, &running.redis) {
            r.reconfigure(rc.failure);
        }
        self.auth.set_tokens(running.admin_tokens.clone());
        self.handle.swap_proxies(running.trusted_proxies.clone());
        self.handle
            .set_unavailable_status(running.fail_closed_status);
        let report = ReloadReport {
            needs_restart,
            ..ReloadReport::default()
        };
        let (document, policy) = (new.document.policy, new.policy);
        *current = running;
        Ok((report, document, policy))
    }
}
