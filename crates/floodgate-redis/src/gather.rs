//! Gathering: concurrent requests on one connection (and, on a cluster,
//! one hash slot) go to Redis as one call, each answered with its own
//! reply.
//!
//! Each connection has a lane, which keeps at most `in_flight` calls out.
//! A request that finds a free place is sent at once, alone, by its own
//! task (low load: no hand-over, no wait, so gathering adds no latency
//! there). When every place is taken (load), requests wait in the lane's
//! queue; its task takes the next place freed (waiters are served first)
//! and sends everything waiting, up to `max`, as one call. So the
//! gathering window is the time the lane's calls already out take: zero
//! when the connection is idle, one round trip at most under load. A full
//! call (`max` requests waiting) does not wait for a place: it goes at
//! once on one of [`SPARE_PLACES`] more, so that one place and a long
//! round trip do not cap a connection's throughput, and calls out stay
//! bounded (`in_flight` + [`SPARE_PLACES`]) when Redis stalls.
//!
//! A gathered call decides its requests in turn, each atomically, exactly
//! as if they had come one call after the other (see `lua/check.lua`), so
//! gathering changes no decision. `max` = 1 turns it off: every request
//! is a call of its own, sent at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floodgate_core::StoreError;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::calls::Calls;
use crate::conn::Conn;
use crate::keys::slot;
use crate::script::{self, Request};

/// Places a lane has, beyond `in_flight`, for full calls only.
pub(crate) const SPARE_PLACES: usize = 8;

/// What every lane shares.
struct Shared {
    conn: Arc<Conn>,
    calls: Calls,
    min_ttl_ms: u64,
    /// Calls sent, and requests they carried.
    calls_sent: AtomicU64,
    requests_sent: AtomicU64,
}

/// A request waiting in a lane, and where its reply goes.
struct Job {
    request: Request,
    reply: oneshot::Sender<Result<Vec<i64>, StoreError>>,
}

/// One connection's queue and places for calls out.
struct Lane {
    queue: mpsc::UnboundedSender<Job>,
    places: Arc<Semaphore>,
}

/// A lane's places: `in_flight` for any call, and the spare ones for
/// full calls.
struct Places {
    any: Arc<Semaphore>,
    spare: Arc<Semaphore>,
}

/// The lanes of a store's connections.
pub(crate) struct Gather {
    shared: Arc<Shared>,
    /// One per connection; empty when gathering is off.
    lanes: Vec<Lane>,
}

impl Gather {
    /// Starts a lane per connection of `conn` (none when `max` is 1).
    /// Must run inside a tokio runtime.
    pub(crate) fn start(
        conn: Arc<Conn>,
        calls: Calls,
        min_ttl_ms: u64,
        max: usize,
        in_flight: usize,
    ) -> Gather {
        let shared = Arc::new(Shared {
            conn,
            calls,
            min_ttl_ms,
            calls_sent: AtomicU64::new(0),
            requests_sent: AtomicU64::new(0),
        });
        let lanes = if max > 1 {
            (0..shared.conn.lanes())
                .map(|lane| {
                    let (queue, rx) = mpsc::unbounded_channel();
                    let places = Arc::new(Semaphore::new(in_flight));
                    let shared = Arc::clone(&shared);
                    let both = Places {
                        any: Arc::clone(&places),
                        spare: Arc::new(Semaphore::new(SPARE_PLACES)),
                    };
                    let run = run_lane(lane, rx, Arc::clone(&shared), max, both);
                    // A placed connection's lane runs on its thread.
                    match shared.conn.placement() {
                        Some(p) => drop(p.runtime(lane).spawn(run)),
                        None => drop(tokio::spawn(run)),
                    }
                    Lane { queue, places }
                })
                .collect()
        } else {
            Vec::new()
        };
        Gather { shared, lanes }
    }

    /// The calls made by `calls` (`FCALL` or `EVALSHA`).
    pub(crate) fn calls(&self) -> &Calls {
        &self.shared.calls
    }

    /// Calls sent and the requests they carried, since the start.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.shared.calls_sent.load(Ordering::Relaxed),
            self.shared.requests_sent.load(Ordering::Relaxed),
        )
    }

    /// Decides `request` on the next lane: at once if it has a free place
    /// (or gathering is off, or the lane has ended with its runtime),
    /// else gathered with the others waiting there.
    pub(crate) async fn call(&self, request: Request) -> Result<Vec<i64>, StoreError> {
        let lane = self.shared.conn.next_lane();
        if self.lanes.is_empty() {
            return alone(&self.shared, lane, &request).await;
        }
        let l = &self.lanes[lane % self.lanes.len()];
        if let Ok(place) = l.places.try_acquire() {
            let r = alone(&self.shared, lane, &request).await;
            drop(place);
            return r;
        }
        let (reply, answer) = oneshot::channel();
        match l.queue.send(Job { request, reply }) {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err(StoreError::transient("redis: the call was dropped"))),
            Err(mpsc::error::SendError(job)) => alone(&self.shared, lane, &job.request).await,
        }
    }
}

impl Gather {
    /// `requests` as one call per hash slot (one in all on a standalone
    /// server; a call of its own for a slot with one request), sent now,
    /// not queued: for batches the caller gathered itself (slices taken
    /// and given back). Replies in order.
    pub(crate) async fn call_batch(
        &self,
        requests: &[Request],
    ) -> Result<Vec<Vec<i64>>, StoreError> {
        let lane = self.shared.conn.next_lane();
        let cluster = self.shared.conn.is_cluster();
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for (i, r) in requests.iter().enumerate() {
            let s = if cluster { slot(r.first_key()) } else { 0 };
            match groups.iter_mut().find(|(g, _)| *g == s) {
                Some((_, v)) => v.push(i),
                None => groups.push((s, vec![i])),
            }
        }
        // The slots' calls go side by side (on a cluster, a batch's keys
        // are mostly in slots of their own).
        let calls = groups
            .iter()
            .map(|(_, group)| self.slot_call(lane, requests, group));
        let replies = futures_util::future::try_join_all(calls).await?;
        let mut out: Vec<Vec<i64>> = vec![Vec::new(); requests.len()];
        for ((_, group), parts) in groups.iter().zip(replies) {
            for (&i, part) in group.iter().zip(parts) {
                out[i] = part;
            }
        }
        Ok(out)
    }

    /// The call of one slot's `group` of `requests`: each request's reply.
    async fn slot_call(
        &self,
        lane: usize,
        requests: &[Request],
        group: &[usize],
    ) -> Result<Vec<Vec<i64>>, StoreError> {
        if let [i] = group[..] {
            return Ok(vec![alone(&self.shared, lane, &requests[i]).await?]);
        }
        let mut cmd = self.shared.calls.head();
        let batch: Vec<&Request> = group.iter().map(|&i| &requests[i]).collect();
        script::push_gathered(&mut cmd, &batch, self.shared.min_ttl_ms);
        self.shared.calls_sent.fetch_add(1, Ordering::Relaxed);
        self.shared
            .requests_sent
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        let raw = self
            .shared
            .conn
            .call::<Vec<i64>>(&self.shared.calls, &cmd, lane)
            .await?;
        script::split_gathered(&raw, group.len())
    }
}

/// A lane: takes a request, waits for a free place, takes whatever else
/// waits (up to `max`) and sends them as one call, without waiting for it.
/// A full call (`max` requests waiting) takes a spare place if one is
/// free instead of waiting (see the module's documentation).
async fn run_lane(
    lane: usize,
    mut rx: mpsc::UnboundedReceiver<Job>,
    shared: Arc<Shared>,
    max: usize,
    places: Places,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut open = true;
        let place = loop {
            take_waiting(&mut rx, &mut jobs, max);
            if !open {
                // The store is gone: what is left goes out as it is.
                break None;
            }
            let full = jobs.len() >= max;
            if full {
                if let Ok(p) = Arc::clone(&places.spare).try_acquire_owned() {
                    break Some(p);
                }
            }
            tokio::select! {
                biased;
                p = Arc::clone(&places.any).acquire_owned() => match p {
                    Ok(p) => break Some(p),
                    Err(_) => return,
                },
                p = Arc::clone(&places.spare).acquire_owned(), if full => match p {
                    Ok(p) => break Some(p),
                    Err(_) => return,
                },
                job = rx.recv(), if !full => match job {
                    Some(job) => jobs.push(job),
                    None => open = false,
                },
            }
        };
        take_waiting(&mut rx, &mut jobs, max);
        // A caller that gave up (its store timeout passed while Redis was
        // slow) is not sent: its request would consume quota for nobody.
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            send(&shared, lane, jobs).await;
            drop(place);
        });
    }
}

/// Moves the requests already waiting into `jobs`, up to `max` in all.
fn take_waiting(rx: &mut mpsc::UnboundedReceiver<Job>, jobs: &mut Vec<Job>, max: usize) {
    while jobs.len() < max {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

/// Sends `jobs`: one call per hash slot (one in all on a standalone
/// server), the slots' calls side by side.
async fn send(shared: &Arc<Shared>, lane: usize, jobs: Vec<Job>) {
    if !shared.conn.is_cluster() {
        return send_group(shared, lane, jobs).await;
    }
    let mut groups: Vec<(u16, Vec<Job>)> = Vec::new();
    for job in jobs {
        let s = slot(job.request.first_key());
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, v)) => v.push(job),
            None => groups.push((s, vec![job])),
        }
    }
    let last = groups.pop();
    let mut others = Vec::with_capacity(groups.len());
    for (_, group) in groups {
        let shared = Arc::clone(shared);
        others.push(tokio::spawn(async move {
            send_group(&shared, lane, group).await
        }));
    }
    if let Some((_, group)) = last {
        send_group(shared, lane, group).await;
    }
    for t in others {
        let _ = t.await;
    }
}

/// One call for `jobs`, all of one hash slot: a call of its own for one
/// request, a gathered call for several; every job gets its reply.
async fn send_group(shared: &Shared, lane: usize, mut jobs: Vec<Job>) {
    if jobs.len() == 1 {
        let job = jobs.pop().expect("one job");
        let r = alone(shared, lane, &job.request).await;
        let _ = job.reply.send(r);
        return;
    }
    let mut cmd = shared.calls.head();
    let requests: Vec<&Request> = jobs.iter().map(|j| &j.request).collect();
    script::push_gathered(&mut cmd, &requests, shared.min_ttl_ms);
    shared.calls_sent.fetch_add(1, Ordering::Relaxed);
    shared
        .requests_sent
        .fetch_add(jobs.len() as u64, Ordering::Relaxed);
    let r = shared
        .conn
        .call::<Vec<i64>>(&shared.calls, &cmd, lane)
        .await
        .and_then(|raw| script::split_gathered(&raw, jobs.len()));
    match r {
        Ok(parts) => {
            for (job, part) in jobs.into_iter().zip(parts) {
                let _ = job.reply.send(Ok(part));
            }
        }
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

/// `request` as a call of its own.
async fn alone(shared: &Shared, lane: usize, request: &Request) -> Result<Vec<i64>, StoreError> {
    let mut cmd = shared.calls.head();
    request.push(&mut cmd, shared.min_ttl_ms);
    shared.calls_sent.fetch_add(1, Ordering::Relaxed);
    shared.requests_sent.fetch_add(1, Ordering::Relaxed);
    shared.conn.call(&shared.calls, &cmd, lane).await
}
