//! How a decision reaches the Lua code: a Redis Functions library and
//! `FCALL` (Redis 7 and later: the code is loaded once and a call runs only
//! the decision), or one script and `EVALSHA` (older servers: the script's
//! whole chunk runs on every call). Chosen when the store connects, as
//! [`Scripting`] says; `Auto` takes Functions when `FUNCTION LOAD` works.

use redis::{Cmd, RedisError};

use crate::config::Scripting;
use crate::script;

/// The way calls are made, and how to load the code they need.
#[derive(Clone, Debug)]
pub(crate) enum Calls {
    /// `FCALL name`, the library loaded with `FUNCTION LOAD`.
    Function { name: String, source: String },
    /// `EVALSHA sha`, the script loaded with `SCRIPT LOAD`.
    Eval { sha: String },
}

impl Calls {
    /// The library, for `FUNCTION LOAD`.
    pub(crate) fn function() -> Calls {
        let name = script::library_name();
        let source = script::library(&name);
        Calls::Function { name, source }
    }

    /// The script, for `SCRIPT LOAD` and `EVALSHA`.
    pub(crate) fn eval() -> Calls {
        Calls::Eval {
            sha: redis::Script::new(script::SOURCE).get_hash().to_string(),
        }
    }

    /// Which way `scripting` asks for first, and whether another may be
    /// tried when it cannot load.
    pub(crate) fn preferred(scripting: Scripting) -> (Calls, bool) {
        match scripting {
            Scripting::Auto => (Calls::function(), true),
            Scripting::Functions => (Calls::function(), false),
            Scripting::Eval => (Calls::eval(), false),
        }
    }

    /// The start of a call: `FCALL name` or `EVALSHA sha`; the caller adds
    /// the number of keys, the keys and the arguments.
    pub(crate) fn head(&self) -> Cmd {
        match self {
            Calls::Function { name, .. } => {
                let mut c = redis::cmd("FCALL");
                c.arg(name);
                c
            }
            Calls::Eval { sha } => {
                let mut c = redis::cmd("EVALSHA");
                c.arg(sha);
                c
            }
        }
    }

    /// The command that loads the code (on every primary of a cluster:
    /// redis-rs routes both to all of them). A library already there is
    /// not an error: its name says it holds this very code.
    pub(crate) fn load(&self) -> Cmd {
        match self {
            Calls::Function { source, .. } => {
                let mut c = redis::cmd("FUNCTION");
                c.arg("LOAD").arg(source);
                c
            }
            Calls::Eval { .. } => {
                let mut c = redis::cmd("SCRIPT");
                c.arg("LOAD").arg(script::SOURCE);
                c
            }
        }
    }

    /// Whether `e` says the code is missing (a restarted or flushed
    /// Redis, a new cluster node): load it and call again.
    pub(crate) fn is_missing(&self, e: &RedisError) -> bool {
        match self {
            Calls::Function { .. } => e.detail().is_some_and(|d| d.contains("Function not found")),
            Calls::Eval { .. } => {
                e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
            }
        }
    }

    /// Whether a failed load is only the library being there already.
    pub(crate) fn already_loaded(&self, e: &RedisError) -> bool {
        matches!(self, Calls::Function { .. })
            && e.detail().is_some_and(|d| d.contains("already exists"))
    }

    /// `FCALL` or `EVALSHA`, for logs and tests.
    pub(crate) fn command(&self) -> &'static str {
        match self {
            Calls::Function { .. } => "FCALL",
            Calls::Eval { .. } => "EVALSHA",
        }
    }
}
