//! A call's arguments: the mode, time, keys and limits of each request,
//! as `lua/check.lua` reads them, alone or gathered (packed, `G`, unless
//! a request takes slices); a gathered reply split per request.

use floodgate_core::store::SliceWant;
use floodgate_core::{LeakMode, LimitCheck, Quota, StoreError};

use super::bad;

/// What the script does with the checks it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Decide all; consume only if all allow.
    Check,
    /// Decide all; consume nothing.
    Peek,
    /// Undo a consume made at the given time.
    Refund,
    /// Take a slice of each limit, each on its own.
    Take,
    /// Release the concurrency slot of each check's lease.
    Release,
    /// Renew the concurrency slot of each check's lease.
    Renew,
}

impl Mode {
    fn code(self) -> &'static str {
        match self {
            Mode::Check => "c",
            Mode::Peek => "p",
            Mode::Refund => "r",
            Mode::Take => "t",
            Mode::Release => "l",
            Mode::Renew => "n",
        }
    }
}

/// The algorithm code and three parameters of `check`'s quota, as the
/// script reads them.
fn params(check: &LimitCheck) -> (&'static str, u64, u64, u64) {
    match check.quota {
        Quota::TokenBucket { capacity, refill } => {
            ("tb", capacity, refill.amount(), refill.period_us())
        }
        Quota::LeakyBucket {
            capacity,
            leak,
            mode,
        } => {
            let code = match mode {
                LeakMode::Policing => "lb",
                LeakMode::Shaping => "ls",
            };
            (code, capacity, leak.amount(), leak.period_us())
        }
        Quota::FixedWindow { limit, window_us } => ("fw", limit, window_us, 0),
        Quota::SlidingLog { limit, window_us } => ("sl", limit, window_us, 0),
        Quota::SlidingCounter { limit, window_us } => ("sc", limit, window_us, 0),
        Quota::Gcra { rate, burst } => ("gc", burst, rate.amount(), rate.period_us()),
        Quota::Concurrency { limit, lease_us } => {
            ("cc", limit, lease_us, check.lease.map_or(0, |l| l.get()))
        }
    }
}

/// One request's part of a call: its mode, time, keys and limits, as the
/// Lua code reads them (see `lua/check.lua`).
#[derive(Clone, Debug)]
pub(crate) struct Request {
    mode: Mode,
    time: Option<u64>,
    keys: Vec<String>,
    /// Per limit: algorithm code, a, b, c, cost.
    limits: Vec<(&'static str, u64, u64, u64, u64)>,
    /// A take's per-limit want and share (in millionths), beside its cost
    /// (the least to take); empty in the other modes.
    slices: Vec<(u64, u32)>,
}

impl Request {
    pub(crate) fn new(
        mode: Mode,
        time: Option<u64>,
        keys: &[&str],
        checks: &[&LimitCheck],
    ) -> Request {
        Request {
            mode,
            time,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            limits: checks
                .iter()
                .map(|c| {
                    let (code, a, b, p) = params(c);
                    (code, a, b, p, c.cost)
                })
                .collect(),
            slices: Vec::new(),
        }
    }

    /// A take of each slice in `wants` (keys in the same order).
    pub(crate) fn take(time: Option<u64>, keys: &[&str], wants: &[&SliceWant]) -> Request {
        let checks: Vec<&LimitCheck> = wants.iter().map(|w| &w.check).collect();
        let mut r = Request::new(Mode::Take, time, keys, &checks);
        r.slices = wants.iter().map(|w| (w.want, w.share_ppm)).collect();
        r
    }

    /// Whether the request can go packed in a `G` call: no slices (a
    /// take's fifth value is text), at most 255 limits, codes of 2 bytes.
    fn packs(&self) -> bool {
        self.slices.is_empty()
            && self.limits.len() <= usize::from(u8::MAX)
            && self.limits.iter().all(|l| l.0.len() == 2)
    }

    /// The request packed as `unpack_gathered` in `lua/check.lua` reads
    /// it: mode, n, time flag (and time), then per limit code, a, b, c,
    /// cost, big-endian.
    fn pack(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(self.mode.code().as_bytes());
        buf.push(self.limits.len() as u8);
        match self.time {
            Some(t) => {
                buf.push(1);
                buf.extend_from_slice(&t.to_be_bytes());
            }
            None => buf.push(0),
        }
        for &(code, a, b, p, cost) in &self.limits {
            buf.extend_from_slice(code.as_bytes());
            for v in [a, b, p, cost] {
                buf.extend_from_slice(&v.to_be_bytes());
            }
        }
    }

    /// The first key (a request's keys share one hash slot).
    pub(crate) fn first_key(&self) -> &str {
        &self.keys[0]
    }

    fn push_time(&self, cmd: &mut redis::Cmd) {
        match self.time {
            Some(t) => cmd.arg(t),
            None => cmd.arg(""),
        };
    }

    fn push_limits(&self, cmd: &mut redis::Cmd) {
        for (i, &(code, a, b, p, cost)) in self.limits.iter().enumerate() {
            cmd.arg(code).arg(a).arg(b).arg(p);
            match self.slices.get(i) {
                Some((want, share)) => cmd.arg(format!("{want}:{cost}:{share}")),
                None => cmd.arg(cost),
            };
        }
    }

    /// Adds this request as a call of its own to `cmd` (an `EVALSHA sha`
    /// or `FCALL name`): the number of keys, the KEYS and the ARGV.
    pub(crate) fn push(&self, cmd: &mut redis::Cmd, min_ttl_ms: u64) {
        cmd.arg(self.keys.len());
        for key in &self.keys {
            cmd.arg(key);
        }
        cmd.arg(self.mode.code());
        self.push_time(cmd);
        cmd.arg(min_ttl_ms);
        self.push_limits(cmd);
    }
}

/// Adds `requests` as one gathered call to `cmd` (see `lua/check.lua`):
/// each request packed in one argument (`G`) unless one takes slices.
pub(crate) fn push_gathered(cmd: &mut redis::Cmd, requests: &[&Request], min_ttl_ms: u64) {
    cmd.arg(requests.iter().map(|r| r.keys.len()).sum::<usize>());
    for r in requests {
        for key in &r.keys {
            cmd.arg(key);
        }
    }
    if requests.iter().all(|r| r.packs()) {
        cmd.arg("G").arg(min_ttl_ms).arg(requests.len());
        let mut buf = Vec::with_capacity(64);
        for r in requests {
            buf.clear();
            r.pack(&mut buf);
            cmd.arg(&buf[..]);
        }
        return;
    }
    cmd.arg("g").arg(min_ttl_ms).arg(requests.len());
    for r in requests {
        cmd.arg(r.mode.code());
        r.push_time(cmd);
        cmd.arg(r.limits.len());
        r.push_limits(cmd);
    }
}

/// Splits the reply to a gathered call of `count` requests into each
/// request's reply, as a call of its own would have returned it.
pub(crate) fn split_gathered(raw: &[i64], count: usize) -> Result<Vec<Vec<i64>>, StoreError> {
    let mut rest = match raw.split_first() {
        Some((&n, rest)) if n == count as i64 => rest,
        _ => return Err(bad(format!("a gathered reply not for {count} requests"))),
    };
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (&len, tail) = rest
            .split_first()
            .ok_or_else(|| bad("gathered reply too short"))?;
        let len = usize::try_from(len).map_err(|_| bad("negative length"))?;
        if tail.len() < len {
            return Err(bad("gathered reply too short"));
        }
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    if !rest.is_empty() {
        return Err(bad("gathered reply too long"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use floodgate_core::store::SliceWant;

    use super::*;

    fn fixed(limit: u64, cost: u64) -> LimitCheck {
        let q = Quota::fixed_window(limit, Duration::from_secs(4)).unwrap();
        LimitCheck::new(Arc::from("l"), Arc::from("k"), q, cost)
    }

    #[test]
    fn a_packed_request_is_the_layout_check_lua_unpacks() {
        let c = fixed(40, 3);
        let r = Request::new(Mode::Check, Some(7), &["k"], &[&c]);
        assert!(r.packs());
        let mut buf = Vec::new();
        r.pack(&mut buf);
        let mut want = b"c\x01\x01".to_vec();
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(b"fw");
        for v in [40u64, 4_000_000, 0, 3] {
            want.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(buf, want);

        // Redis' time: the flag 0 and no time.
        let r = Request::new(Mode::Peek, None, &["k", "k2"], &[&c, &c]);
        buf.clear();
        r.pack(&mut buf);
        assert_eq!(&buf[..3], b"p\x02\x00");
        assert_eq!(buf.len(), 3 + 2 * 34);
    }

    #[test]
    fn a_take_is_not_packed() {
        let w = SliceWant {
            check: fixed(40, 1),
            want: 10,
            share_ppm: 100_000,
        };
        let r = Request::take(None, &["k"], &[&w]);
        assert!(!r.packs());
        let mut cmd = redis::cmd("FCALL");
        push_gathered(&mut cmd, &[&r, &r], 0);
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .filter_map(|a| match a {
                redis::Arg::Simple(b) => Some(b.to_vec()),
                _ => None,
            })
            .collect();
        // FCALL, 2 keys, the keys, then the unpacked layout's 'g'.
        assert_eq!(args[4], b"g".to_vec());
    }
}
