//! One gRPC connection served on the `h2` crate directly: its streams are
//! futures of the connection's own task, not tasks of their own, so a
//! call costs no spawn, and its answer is written by the task that
//! finished it (hyper's HTTP/2 server spawns a task per stream, which
//! then wakes the connection's task to write). Every stream already read
//! is accepted before the calls run, so the answers of the calls that
//! arrived together go out in one write, not one write each.
//!
//! The settings are hyper's defaults, which bounded the listener before:
//! 200 concurrent streams, 1 MiB windows, 16 KiB frames, 400 KiB of send
//! buffer per stream, at most 20 streams reset before they are accepted
//! and 1024 reset for errors (the rapid-reset bounds); the header list is
//! bounded by `max_head`.
//!
//! Paths: `ShouldRateLimit` ([`unary`](super::unary)), gRPC health
//! checking (`Check`, `Watch`); any other answers HTTP 404, which gRPC
//! clients read as `UNIMPLEMENTED`.

use std::future::{poll_fn, Future as _};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use h2::server::{Connection, SendResponse};
use h2::RecvStream;
use http::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tonic::Status;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_prost::prost::Message;

use super::service::RateLimits;
use super::unary::{self, Answer};
use tokio::net::TcpStream;

use crate::net::{H2Service, InFlight, Requests, Watched};

/// The services of the gRPC listener.
pub struct Grpc {
    rls: RateLimits,
    max_message: usize,
}

/// The health-checked services that exist (and serve).
const SERVING: [&str; 2] = ["", unary::SERVICE];

const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const HEALTH_WATCH: &str = "/grpc.health.v1.Health/Watch";

impl H2Service for Grpc {
    fn serve(
        self: Arc<Self>,
        io: Watched<TcpStream>,
        max_head: u32,
        requests: Requests,
        stop: watch::Receiver<bool>,
    ) -> BoxFuture<'static, Result<(), h2::Error>> {
        self.serve_io(io, max_head, requests, stop)
    }
}

impl Grpc {
    /// `rls` behind the gRPC framing, refusing messages over
    /// `max_message` bytes.
    pub fn new(rls: RateLimits, max_message: usize) -> Arc<Grpc> {
        Arc::new(Grpc { rls, max_message })
    }

    /// Serves `io` until the peer closes it or, after `stop`, its calls
    /// in flight are answered; `requests` marks each call in flight.
    fn serve_io<T>(
        self: Arc<Self>,
        io: T,
        max_head: u32,
        requests: impl Fn() -> InFlight + Send + Sync + 'static,
        stop: watch::Receiver<bool>,
    ) -> BoxFuture<'static, Result<(), h2::Error>>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Box::pin(async move {
            let mut conn = h2::server::Builder::new()
                .max_header_list_size(max_head)
                .max_concurrent_streams(200)
                .initial_window_size(1024 * 1024)
                .initial_connection_window_size(1024 * 1024)
                .max_frame_size(16 * 1024)
                .max_send_buffer_size(400 * 1024)
                .max_pending_accept_reset_streams(20)
                .max_local_error_reset_streams(Some(1024))
                .handshake::<_, Bytes>(io)
                .await?;
            let mut calls = FuturesUnordered::new();
            let mut accepting = true;
            let mut draining = false;
            let mut stopping = stop.clone();
            let stopped = async move {
                let _ = stopping.wait_for(|s| *s).await;
            };
            let mut stopped = std::pin::pin!(stopped);
            poll_fn(|cx| {
                // On the stop: no new streams, the calls in flight finish.
                if !draining && stopped.as_mut().poll(cx).is_ready() {
                    draining = true;
                    conn.graceful_shutdown();
                }
                self.drive(&mut conn, &mut calls, &mut accepting, &requests, &stop, cx)
            })
            .await
        })
    }

    /// Accepts streams, runs their calls and writes what they answer,
    /// until the connection is closed.
    fn drive<'a, T>(
        self: &Arc<Self>,
        conn: &mut Connection<T, Bytes>,
        calls: &mut FuturesUnordered<BoxFuture<'a, ()>>,
        accepting: &mut bool,
        requests: &impl Fn() -> InFlight,
        stop: &watch::Receiver<bool>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), h2::Error>>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let mut progressed = false;
            // Every stream already read is accepted before any call runs:
            // `poll_accept` writes out what the connection has queued, so
            // accepting one stream per answered call would cost a write
            // per call; this way the answers of a batch go out together.
            while *accepting {
                match conn.poll_accept(cx) {
                    Poll::Ready(Some(Ok((req, respond)))) => {
                        let call = self.clone().call(req, respond, requests(), stop.clone());
                        calls.push(call.boxed());
                        progressed = true;
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    // No more streams: the calls in flight finish.
                    Poll::Ready(None) => *accepting = false,
                    Poll::Pending => break,
                }
            }
            if !*accepting {
                if let Poll::Ready(r) = conn.poll_closed(cx) {
                    return Poll::Ready(r);
                }
            }
            // A call that answered queued frames: loop, so that the
            // connection writes them now.
            while let Poll::Ready(Some(())) = calls.poll_next_unpin(cx) {
                progressed = true;
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }

    /// One call, answered on `respond`; in flight until answered.
    async fn call(
        self: Arc<Self>,
        req: Request<RecvStream>,
        mut respond: SendResponse<Bytes>,
        _in_flight: InFlight,
        stop: watch::Receiver<bool>,
    ) {
        let (parts, body) = req.into_parts();
        let answer = match parts.uri.path() {
            unary::SHOULD_RATE_LIMIT => {
                unary::should_rate_limit(&self.rls, body, self.max_message).await
            }
            HEALTH_CHECK => match self.health_request(body).await {
                Ok(service) if SERVING.contains(&service.as_str()) => {
                    Answer::ok(&health(ServingStatus::Serving))
                }
                Ok(_) => Answer::Error(Status::not_found("no such service")),
                Err(status) => Answer::Error(status),
            },
            HEALTH_WATCH => {
                let status = match self.health_request(body).await {
                    Ok(service) if SERVING.contains(&service.as_str()) => ServingStatus::Serving,
                    Ok(_) => ServingStatus::ServiceUnknown,
                    Err(status) => return send(&mut respond, Answer::Error(status)),
                };
                return watch(&mut respond, status, stop).await;
            }
            _ => {
                let mut r = Response::new(());
                *r.status_mut() = StatusCode::NOT_FOUND;
                let _ = respond.send_response(r, true);
                return;
            }
        };
        send(&mut respond, answer);
    }

    /// The service a health request names.
    async fn health_request(&self, body: RecvStream) -> Result<String, Status> {
        let bytes = unary::read_message(body, self.max_message).await?;
        HealthCheckRequest::decode(bytes)
            .map(|r| r.service)
            .map_err(|e| Status::invalid_argument(format!("malformed message: {e}")))
    }
}

fn health(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

/// Writes `answer` (a peer that reset the stream has gone: nothing to do).
fn send(respond: &mut SendResponse<Bytes>, answer: Answer) {
    match answer {
        Answer::Message(bytes) => {
            let Ok(mut stream) = respond.send_response(unary::headers(), false) else {
                return;
            };
            let _ = stream.send_data(bytes, false);
            let _ = stream.send_trailers(unary::status_trailers(None));
        }
        Answer::Error(status) => {
            let mut r = unary::headers();
            r.headers_mut()
                .extend(unary::status_trailers(Some(&status)));
            let _ = respond.send_response(r, true);
        }
    }
}

/// `Watch`: the status once (it does not change while the server runs),
/// then the stream stays open until the client leaves or the server stops.
async fn watch(
    respond: &mut SendResponse<Bytes>,
    status: ServingStatus,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(mut stream) = respond.send_response(unary::headers(), false) else {
        return;
    };
    if stream
        .send_data(unary::frame(&health(status)), false)
        .is_err()
    {
        return;
    }
    tokio::select! {
        _ = poll_fn(|cx| stream.poll_reset(cx)) => {}
        _ = stop.wait_for(|s| *s) => {
            let _ = stream.send_trailers(unary::status_trailers(Some(&Status::unavailable(
                "the server is shutting down",
            ))));
        }
    }
}
