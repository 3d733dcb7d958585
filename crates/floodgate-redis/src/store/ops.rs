//! The store's operations as script calls: checks (with the refunds of a
//! cross-slot request denied late), inspection, leases and resets, each
//! over the request's slot groups.

use std::sync::atomic::Ordering;

use floodgate_core::store::{GiveBack, SliceWant, Taken};
use floodgate_core::{Decision, LeaseStatus, LimitCheck, StoreError, Timestamp};

use super::RedisStore;
use crate::keys::slot;
use crate::script::{self, Mode, Reply, Request};

impl RedisStore {
    pub(super) async fn check_inner(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<Decision>, StoreError> {
        let time = self.time_arg(now);
        let keys = self.keys(checks);
        let groups = self.groups(&keys);
        let mut out: Vec<Option<Decision>> = vec![None; checks.len()];
        // Groups that consumed, with the time they did it at.
        let mut consumed: Vec<(&[usize], u64)> = Vec::new();
        let mut denied = false;
        for group in &groups {
            let gkeys: Vec<&str> = group.iter().map(|&i| keys[i].as_str()).collect();
            let gchecks: Vec<&LimitCheck> = group.iter().map(|&i| &checks[i]).collect();
            let mode = if denied { Mode::Peek } else { Mode::Check };
            let raw = self.call(mode, time, &gkeys, &gchecks).await?;
            let Reply {
                t,
                all_allowed,
                decisions,
                ended,
            } = script::decode(&raw, &gchecks)?;
            for (&i, d) in group.iter().zip(decisions) {
                out[i] = Some(d);
            }
            if mode == Mode::Check && all_allowed {
                self.leases_expired.fetch_add(ended, Ordering::Relaxed);
                consumed.push((group, t));
            } else {
                denied = true;
            }
        }
        if denied {
            for (group, t) in consumed {
                let gkeys: Vec<&str> = group.iter().map(|&i| keys[i].as_str()).collect();
                let gchecks: Vec<&LimitCheck> = group.iter().map(|&i| &checks[i]).collect();
                let mut undone = self.call(Mode::Refund, Some(t), &gkeys, &gchecks).await;
                if undone.is_ok() && gchecks.iter().any(|c| c.lease.is_some()) {
                    undone = self.call(Mode::Release, time, &gkeys, &gchecks).await;
                }
                if let Err(e) = undone {
                    self.refund_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "redis refund failed: a denied cross-slot request stays partly consumed");
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every group decided"))
            .collect())
    }

    pub(super) async fn inspect_inner(
        &self,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<Decision>, StoreError> {
        let time = self.time_arg(now);
        let keys = self.keys(checks);
        let mut out: Vec<Option<Decision>> = vec![None; checks.len()];
        for group in self.groups(&keys) {
            // The script decides the checks of one call in turn, each on
            // the state the earlier ones would leave; an inspection looks
            // at each check on its own, so a key goes into a call once.
            for call in distinct_keys(&group, &keys) {
                let gkeys: Vec<&str> = call.iter().map(|&i| keys[i].as_str()).collect();
                let gchecks: Vec<&LimitCheck> = call.iter().map(|&i| &checks[i]).collect();
                let raw = self.call(Mode::Peek, time, &gkeys, &gchecks).await?;
                let reply = script::decode(&raw, &gchecks)?;
                for (&i, d) in call.iter().zip(reply.decisions) {
                    out[i] = Some(d);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every check inspected"))
            .collect())
    }

    /// Releases (`Mode::Release`) or renews (`Mode::Renew`) the slot of
    /// each check's lease.
    pub(super) async fn leases_inner(
        &self,
        mode: Mode,
        checks: &[LimitCheck],
        now: Timestamp,
    ) -> Result<Vec<LeaseStatus>, StoreError> {
        let time = self.time_arg(now);
        let keys = self.keys(checks);
        let mut out = vec![LeaseStatus::Missing; checks.len()];
        for group in self.groups(&keys) {
            let group: Vec<usize> = group
                .into_iter()
                .filter(|&i| checks[i].lease.is_some() && checks[i].quota.is_concurrency())
                .collect();
            if group.is_empty() {
                continue;
            }
            let gkeys: Vec<&str> = group.iter().map(|&i| keys[i].as_str()).collect();
            let gchecks: Vec<&LimitCheck> = group.iter().map(|&i| &checks[i]).collect();
            let raw = self.call(mode, time, &gkeys, &gchecks).await?;
            let statuses = script::decode_leases(&raw, group.len())?;
            for (&i, st) in group.iter().zip(statuses) {
                if st == LeaseStatus::Expired && mode == Mode::Release {
                    self.leases_expired.fetch_add(1, Ordering::Relaxed);
                }
                out[i] = st;
            }
        }
        Ok(out)
    }

    /// Takes each slice, one request of the batch per slice (each on its
    /// own), one call per hash slot.
    pub(super) async fn take_inner(
        &self,
        wants: &[SliceWant],
        now: Timestamp,
    ) -> Result<Vec<Taken>, StoreError> {
        let time = self.time_arg(now);
        let keys: Vec<String> = wants
            .iter()
            .map(|w| self.key(&w.check.identity, &w.check.limit_id))
            .collect();
        let requests: Vec<Request> = wants
            .iter()
            .zip(&keys)
            .map(|(w, k)| Request::take(time, &[k.as_str()], &[w]))
            .collect();
        // One slice (the common case) goes through the lanes, gathered
        // with other requests' calls under load; several at once go as one
        // call per hash slot.
        let replies = if requests.len() == 1 {
            let one = requests.into_iter().next().expect("one request");
            vec![self.gather.call(one).await?]
        } else {
            self.gather.call_batch(&requests).await?
        };
        let mut out = Vec::with_capacity(wants.len());
        for (w, raw) in wants.iter().zip(replies) {
            out.extend(script::decode_take(&raw, &[w])?);
        }
        Ok(out)
    }

    /// Gives back what is left of each slice: a refund at the time it was
    /// taken, one request of the batch per slice, one call per hash slot.
    pub(super) async fn give_back_inner(&self, slices: &[GiveBack]) -> Result<(), StoreError> {
        let keys: Vec<String> = slices
            .iter()
            .map(|g| self.key(&g.check.identity, &g.check.limit_id))
            .collect();
        let requests: Vec<Request> = slices
            .iter()
            .zip(&keys)
            .map(|(g, k)| {
                Request::new(
                    Mode::Refund,
                    Some(g.taken_at.as_micros()),
                    &[k.as_str()],
                    &[&g.check],
                )
            })
            .collect();
        self.gather.call_batch(&requests).await?;
        Ok(())
    }

    pub(super) async fn reset_inner(&self, checks: &[LimitCheck]) -> Result<u64, StoreError> {
        let keys = self.keys(checks);
        let mut removed = 0;
        for group in self.groups(&keys) {
            // UNLINK counts the keys that existed (a key named twice
            // once); each group's keys share a slot, hence a node.
            let mut cmd = redis::cmd("UNLINK");
            for &i in &group {
                cmd.arg(&keys[i]);
            }
            removed += self.conn.query::<u64>(&cmd).await?;
        }
        Ok(removed)
    }

    /// Indices of the checks, grouped by hash slot in order of first
    /// appearance (one group on a standalone server).
    fn groups(&self, keys: &[String]) -> Vec<Vec<usize>> {
        match self.conn.is_cluster() {
            false => vec![(0..keys.len()).collect()],
            true => {
                let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
                for (i, k) in keys.iter().enumerate() {
                    let s = slot(k);
                    match groups.iter_mut().find(|(g, _)| *g == s) {
                        Some((_, v)) => v.push(i),
                        None => groups.push((s, vec![i])),
                    }
                }
                groups.into_iter().map(|(_, v)| v).collect()
            }
        }
    }
}

/// `group` split into calls in which no key appears twice, keeping the
/// order (almost always one call: a key is rarely checked twice).
fn distinct_keys(group: &[usize], keys: &[String]) -> Vec<Vec<usize>> {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    for &i in group {
        let free = calls
            .iter_mut()
            .find(|call| call.iter().all(|&j| keys[j] != keys[i]));
        match free {
            Some(call) => call.push(i),
            None => calls.push(vec![i]),
        }
    }
    calls
}
