//! The listener's own HTTP/1.1 lane for its fast route. A connection
//! starts here. Each plain request to the route is read, answered and
//! written by the lane: one parse of the head (`httparse`), the body read
//! into the same buffer, one write of the answer. Pipelined requests are
//! answered in order. The first request that is not plain hands the
//! connection, with every byte read so far, to hyper, which serves it from
//! that request to the end.
//!
//! Plain means: HTTP/1.1, the route's method and path (a query string
//! aside), one `Content-Length` within `max_body`, a head within
//! `max_head` of at most 32 lines, no `Transfer-Encoding`, `Expect` or
//! `Upgrade`, and no `Connection` other than `keep-alive`. Everything
//! else, malformed heads included, is hyper's, with its answers (400, 431,
//! the 413 and its drain, 100-continue, chunked bodies).
//!
//! Why: hyper's HTTP/1.1 server costs about 2.5 µs of CPU per request
//! more than this lane, a quarter of the decision API's whole cost (see
//! `docs/benchmarks.md`).
//!
//! The watchdog sees the lane as it sees hyper: bytes read begin a head,
//! a whole head puts a request in flight until its answer is written.
//! After the stop, a connection between requests closes at once, and one
//! within a request closes after its answer (`connection: close`).

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::SystemTime;

use axum::body::Body;
use bytes::BytesMut;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderValue, Response};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::fast::{FastRoute, Head};
use super::prefixed::Prefixed;
use super::shared::Shared;
use super::watchdog::Activity;

/// The most header lines of a request the lane answers.
const MAX_HEADERS: usize = 32;

/// What the lane reads at a time.
const READ_SIZE: usize = 4096;

/// The most buffer room the lane sets aside at once for a body, and
/// keeps between requests.
const MAX_KEPT: usize = 64 * 1024;

/// How the lane ended.
pub(super) enum Lane<I> {
    /// The connection is done: closed by the client, broken, or ended
    /// after the stop.
    Closed(io::Result<()>),
    /// A request the lane does not answer: the socket, with what was read
    /// of it, for hyper.
    Handoff(Prefixed<I>),
}

/// Serves `io`'s plain requests to `route` until the connection ends or
/// a request is not plain. `stopping` turns true when the listener stops.
pub(super) async fn serve<I>(
    mut io: I,
    route: &FastRoute,
    shared: &Arc<Shared>,
    activity: &Arc<Activity>,
    peer: SocketAddr,
    stopping: &AtomicBool,
) -> Lane<I>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let limits = shared.limits;
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut out = Vec::with_capacity(512);
    // How much of `buf` is known to hold no end of a head: a head that
    // comes in pieces is parsed once it is whole, not at every piece.
    let mut scanned = 0;
    loop {
        let parsed = match scanned > 0 && !head_ended(&buf, scanned) {
            // Not whole yet, and already past the bound: hyper's 431.
            true if buf.len() >= limits.max_head => Parsed::Other,
            true => Parsed::Partial,
            false => parse(&buf, route, limits.max_head, limits.max_body),
        };
        let (head, length, authorization) = match parsed {
            Parsed::Other => return Lane::Handoff(Prefixed::new(io, buf.freeze())),
            Parsed::Partial => {
                scanned = buf.len();
                match read(&mut io, &mut buf, stopping).await {
                    Ok(true) => continue,
                    Ok(false) => return Lane::Closed(Ok(())),
                    Err(e) => return Lane::Closed(Err(e)),
                }
            }
            Parsed::Plain {
                head,
                length,
                authorization,
            } => (head, length, authorization),
        };
        scanned = 0;
        let in_flight = activity.request();
        let whole = head + length;
        while buf.len() < whole {
            // Room for what arrives, not for what the head announces.
            buf.reserve((whole - buf.len()).min(MAX_KEPT));
            match io.read_buf(&mut buf).await {
                Ok(0) => {
                    // Answered as hyper answers a body cut short.
                    let answer = super::body::cut_short("the connection closed within the body");
                    return Lane::Closed(answer_last(&mut io, answer, &mut out).await);
                }
                Ok(_) => {}
                Err(e) => return Lane::Closed(Err(e)),
            }
        }
        let body = buf.split_to(whole).freeze().slice(head..);
        let answer = route
            .call_read(shared, Head { authorization }, body, peer)
            .await;
        if stopping.load(Ordering::Relaxed) {
            return Lane::Closed(answer_last(&mut io, answer, &mut out).await);
        }
        out.clear();
        if let Err(e) = encode(answer, false, &mut out).await {
            return Lane::Closed(Err(e));
        }
        if let Err(e) = io.write_all(&out).await {
            return Lane::Closed(Err(e));
        }
        drop(in_flight);
        if buf.is_empty() && buf.capacity() > MAX_KEPT {
            // A large body's room is not kept for the connection's life.
            buf = BytesMut::with_capacity(READ_SIZE);
        }
    }
}

/// Writes `answer` with `connection: close` and closes the connection.
async fn answer_last<I: AsyncWrite + Unpin>(
    io: &mut I,
    answer: Response<Body>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    out.clear();
    encode(answer, true, out).await?;
    io.write_all(out).await?;
    io.shutdown().await
}

/// Whether `buf`, known to hold no end of a head before `from`, holds one
/// now (an empty line: `\n\n` or `\n\r\n`, as httparse reads them).
fn head_ended(buf: &[u8], from: usize) -> bool {
    let tail = &buf[from.saturating_sub(2).min(buf.len())..];
    tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
}

/// A request head, as far as the lane is concerned.
#[derive(Debug, PartialEq)]
enum Parsed {
    /// Not whole yet.
    Partial,
    /// A plain request: the length of its head and of its body.
    Plain {
        head: usize,
        length: usize,
        authorization: Option<HeaderValue>,
    },
    /// Anything else: hyper's.
    Other,
}

/// What `buf` begins with (see the module docs for "plain").
fn parse(buf: &[u8], route: &FastRoute, max_head: usize, max_body: u64) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= max_head => n,
        Ok(httparse::Status::Partial) if buf.len() < max_head => return Parsed::Partial,
        _ => return Parsed::Other,
    };
    let target = req.path.unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // The query bytes httparse lets through and `http`'s URIs do not:
    // hyper answers those 400.
    if req.version != Some(1)
        || req.method != Some(route.method().as_str())
        || path != route.path()
        || query.bytes().any(|b| matches!(b, b'"' | b'<' | b'>'))
    {
        return Parsed::Other;
    }
    let mut length = None;
    let mut authorization = None;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            match (length, digits(h.value)) {
                (None, Some(n)) => length = Some(n),
                _ => return Parsed::Other,
            }
        } else if name.eq_ignore_ascii_case("authorization") {
            match (&authorization, HeaderValue::from_bytes(h.value)) {
                (None, Ok(v)) => authorization = Some(v),
                _ => return Parsed::Other,
            }
        } else if name.eq_ignore_ascii_case("connection") {
            if !h.value.eq_ignore_ascii_case(b"keep-alive") {
                return Parsed::Other;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Parsed::Other;
        }
    }
    match length {
        Some(n) if n <= max_body => Parsed::Plain {
            head,
            length: usize::try_from(n).unwrap_or(usize::MAX),
            authorization,
        },
        _ => Parsed::Other,
    }
}

/// For the fuzz target: what the lane makes of `buf` as a request to
/// `POST /v1/check` (with `max_head` and `max_body`): the lengths of the
/// head and body of a plain request, or none.
#[doc(hidden)]
pub fn plain_check(buf: &[u8], max_head: usize, max_body: u64) -> Option<(usize, usize)> {
    let handler: super::fast::Handler =
        Arc::new(|_, _, _| Box::pin(async { Response::new(Body::empty()) }));
    let route = FastRoute::new(http::Method::POST, "/v1/check", handler);
    match parse(buf, &route, max_head, max_body) {
        Parsed::Plain { head, length, .. } => Some((head, length)),
        Parsed::Partial | Parsed::Other => None,
    }
}

/// A `Content-Length` value: decimal digits only.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Reads more of the connection into `buf`: false at its end, or, between
/// requests, once `stopping` is true.
async fn read<I: AsyncRead + Unpin>(
    io: &mut I,
    buf: &mut BytesMut,
    stopping: &AtomicBool,
) -> io::Result<bool> {
    let between = buf.is_empty();
    if buf.capacity() - buf.len() < READ_SIZE / 4 {
        buf.reserve(READ_SIZE);
    }
    let mut read = pin!(io.read_buf(buf));
    poll_fn(|cx| {
        if between && stopping.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(false));
        }
        read.as_mut().poll(cx).map(|r| r.map(|n| n > 0))
    })
    .await
}

/// `answer` as HTTP/1.1 bytes into `out`, with `Content-Length`, `Date`,
/// and, when `close`, `Connection: close`.
async fn encode(answer: Response<Body>, close: bool, out: &mut Vec<u8>) -> io::Result<()> {
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    let status = parts.status;
    let reason = status.canonical_reason().unwrap_or("");
    write!(out, "HTTP/1.1 {} {reason}\r\n", status.as_str())?;
    for (name, value) in &parts.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION || name == DATE
        {
            continue;
        }
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    write!(out, "content-length: {}\r\n", body.len())?;
    DATE_CACHE.with(|d| header(out, b"date", d.borrow_mut().now().as_bytes()));
    if close {
        header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Ok(())
}

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The `Date` header's value, formatted once a second per thread.
struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}

thread_local! {
    static DATE_CACHE: RefCell<DateCache> = const {
        RefCell::new(DateCache { second: 0, text: String::new() })
    };
}

#[cfg(test)]
mod tests;
