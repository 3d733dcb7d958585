//! [`Outcome`]: a decision and what the gateway would answer with it:
//! the fields of `POST /v1/check` (`DecisionView`, API style), the
//! rate-limit headers of an allowed request, and the status, headers and
//! JSON body of a refused one (429, or 401 / 503), all from
//! `floodgate-tower`, so they are the gateway's byte for byte; and the
//! concurrency slots it holds ([`Slots`]).

use bytes::Bytes;
use floodgate_core::policy::{DecisionView, RetryView};
use floodgate_core::Timestamp;
use floodgate_tower::Decided;

use crate::error::AskError;
use crate::slots::Slots;

/// What a check gives: a decision, or why the request cannot be decided
/// as stated.
pub type Answer = Result<Outcome, AskError>;

/// A decided request.
pub struct Outcome {
    decided: Decided,
    slots: Option<Slots>,
}

/// When a refused request could be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// After this many whole seconds (rounded up, as `Retry-After`).
    After(u64),
    /// Never: the cost is above the limit.
    Never,
}

/// The response of a refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 429, 401 or 503.
    pub status: u16,
    /// Its headers, `content-type` and the rate-limit headers included.
    pub headers: Vec<(String, String)>,
    /// Its JSON body.
    pub body: Bytes,
}

impl Outcome {
    /// The outcome of `decided`, holding `slots` (taken out of
    /// `decided`: see [`crate::Engine`]).
    pub fn new(decided: Decided, slots: Option<Slots>) -> Outcome {
        Outcome { decided, slots }
    }

    /// The concurrency slots the request holds, handed over.
    pub fn take_slots(&mut self) -> Option<Slots> {
        self.slots.take()
    }

    /// Whether the request may go on.
    pub fn allowed(&self) -> bool {
        matches!(&self.decided.result, Ok(v) if v.allowed)
    }

    /// When it was decided.
    pub fn now(&self) -> Timestamp {
        self.decided.now
    }

    /// The decision as `POST /v1/check` reports it; `None` when no limit
    /// was decided (a missing or unknown API key, a store failure).
    pub fn view(&self) -> Option<DecisionView<'_>> {
        let v = self.decided.result.as_ref().ok()?;
        Some(DecisionView::api(v, self.decided.now))
    }

    /// When the same request could be allowed, for a denied one.
    pub fn retry(&self) -> Option<Retry> {
        match self.view()?.retry_after? {
            RetryView::Whole(n) => Some(Retry::After(n)),
            RetryView::Seconds(s) => Some(Retry::After(s.ceil() as u64)),
            RetryView::Never => Some(Retry::Never),
        }
    }

    /// The status the gateway would answer with: 200 when allowed.
    pub fn status(&self) -> u16 {
        self.refusal().map_or(200, |r| r.status)
    }

    /// How long to hold the request (a shaping limit), in seconds.
    pub fn delay(&self) -> f64 {
        self.decided.delay().as_secs_f64()
    }

    /// The headers to add to the response of an allowed request (none for
    /// a refused one: see [`Outcome::refusal`]).
    pub fn allowed_headers(&self) -> Vec<(String, String)> {
        let mut map = http::HeaderMap::new();
        if self.allowed() {
            self.decided.decorate(&mut map);
        }
        pairs(&map)
    }

    /// The response of a refused request; `None` when it may go on.
    pub fn refusal(&self) -> Option<Refusal> {
        let r = self.decided.rejection::<Bytes>()?;
        Some(Refusal {
            status: r.status().as_u16(),
            headers: pairs(r.headers()),
            body: r.into_body(),
        })
    }

    /// The headers of the response, whichever it is.
    pub fn headers(&self) -> Vec<(String, String)> {
        match self.refusal() {
            Some(r) => r.headers,
            None => self.allowed_headers(),
        }
    }
}

fn pairs(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
