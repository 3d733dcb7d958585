//! A region's pool of a global key's slice, kept in the region's Redis:
//! one hash per key (`<state key>:pool`) holding what is left of a slice
//! a replica of the region took from the global store, for the region's
//! other replicas to take from (see [`RegionPool`](crate::RegionPool)).
//! Each operation is one small script on one key.

use std::sync::LazyLock;

use floodgate_core::StoreError;
use redis::Script;

use super::RedisStore;
use crate::conn::bounded;

/// Takes up to `want` (at least `least`, else nothing) from a live pool.
/// Replies `{n, at, left, remaining, reset_at, born}` (strings), or `{0}`.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p = redis.call('HMGET', KEYS[1], 'n', 'at', 'ends', 'rem', 'reset', 'born')
if not p[1] then return {'0'} end
local n, ends = tonumber(p[1]), tonumber(p[3])
local now, want, least = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ends <= now or n < least or n == 0 then return {'0'} end
local t = math.min(want, n)
redis.call('HSET', KEYS[1], 'n', n - t)
return {tostring(t), p[2], tostring(n - t), p[4], p[5], p[6] or p[3]}
"#,
    )
});

/// Puts a slice's surplus in the pool unless a live one with units is
/// there. Replies `{1, old n, old at, old ends}` (what an ended pool held,
/// for the caller to give back) or `{0}`.
static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p = redis.call('HMGET', KEYS[1], 'n', 'at', 'ends')
if p[1] and tonumber(p[3]) > tonumber(ARGV[1]) and tonumber(p[1]) > 0 then return {'0'} end
redis.call('HSET', KEYS[1], 'n', ARGV[2], 'at', ARGV[3], 'ends', ARGV[4], 'rem', ARGV[5], 'reset', ARGV[6], 'born', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {'1', p[1] or '0', p[2] or '0', p[3] or '0'}
"#,
    )
});

/// Gives units back into the pool they came from, while it lives.
static RETURN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p = redis.call('HMGET', KEYS[1], 'at', 'ends')
if p[1] == ARGV[2] and tonumber(p[2]) > tonumber(ARGV[1]) then
  redis.call('HINCRBY', KEYS[1], 'n', ARGV[3])
  return 1
end
return 0
"#,
    )
});

/// Removes the pool its depositor made (same `at`), replying what it held.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p = redis.call('HMGET', KEYS[1], 'n', 'at')
if p[1] and p[2] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return p[1]
end
return '0'
"#,
    )
});

/// What a pool handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolTake {
    /// Units taken.
    pub n: u64,
    /// The global take the pool came from (its time, µs).
    pub at: u64,
    /// What the pool has left.
    pub left: u64,
    /// What the global store had left after the pool's take.
    pub remaining: u64,
    /// When the key's global state is back to idle (µs, local time).
    pub reset_at: u64,
    /// When the pool was put (µs, the putting replica's local time): the
    /// slice's lease and window count from then.
    pub born: u64,
}

/// What an ended pool held when a new one replaced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolReplaced {
    /// Units left in it.
    pub n: u64,
    /// Its generation (the global take's time, µs).
    pub at: u64,
    /// When it ended (µs, local time).
    pub ends: u64,
}

/// A slice's surplus for the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolDeposit {
    /// Units.
    pub n: u64,
    /// The global take's time (µs): the pool's generation.
    pub at: u64,
    /// When the pool ends (µs, local time).
    pub ends: u64,
    /// What the global store had left after the take.
    pub remaining: u64,
    /// When the key's global state is back to idle (µs, local time).
    pub reset_at: u64,
}

fn num(v: &str) -> u64 {
    v.parse().unwrap_or(0)
}

impl RedisStore {
    /// The pool's key of `identity` under `limit_id`.
    pub fn pool_key(&self, identity: &str, limit_id: &str) -> String {
        let mut k = self.key(identity, limit_id);
        k.push_str(":pool");
        k
    }

    async fn pool_call<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        key: &str,
        args: &[String],
    ) -> Result<T, StoreError> {
        let mut inv = script.key(key);
        for a in args {
            inv.arg(a);
        }
        self.failed(bounded(self.timeout, self.conn.invoke(&inv)).await)
    }

    /// Takes up to `want` (at least `least`) from `key`'s pool at `now`
    /// (µs); `None` when the pool is missing, ended or short.
    pub async fn pool_take(
        &self,
        key: &str,
        now: u64,
        want: u64,
        least: u64,
    ) -> Result<Option<PoolTake>, StoreError> {
        let r: Vec<String> = self
            .pool_call(
                &TAKE,
                key,
                &[now.to_string(), want.to_string(), least.max(1).to_string()],
            )
            .await?;
        Ok(match r.as_slice() {
            [n, at, left, rem, reset, born] if num(n) > 0 => Some(PoolTake {
                n: num(n),
                at: num(at),
                left: num(left),
                remaining: num(rem),
                reset_at: num(reset),
                born: num(born),
            }),
            _ => None,
        })
    }

    /// Puts `d` in `key`'s pool at `now` unless a live pool with units is
    /// there; `Ok(Some(replaced))` when it did (`replaced`: what an ended
    /// pool held then, to give back), `Ok(None)` when it did not. The
    /// pool's key expires `ttl_ms` later.
    pub async fn pool_put(
        &self,
        key: &str,
        now: u64,
        d: PoolDeposit,
        ttl_ms: u64,
    ) -> Result<Option<PoolReplaced>, StoreError> {
        let args = [
            now.to_string(),
            d.n.to_string(),
            d.at.to_string(),
            d.ends.to_string(),
            d.remaining.to_string(),
            d.reset_at.to_string(),
            ttl_ms.max(1).to_string(),
        ];
        let r: Vec<String> = self.pool_call(&PUT, key, &args).await?;
        Ok(match r.as_slice() {
            [ok, n, at, ends] if ok == "1" => Some(PoolReplaced {
                n: num(n),
                at: num(at),
                ends: num(ends),
            }),
            _ => None,
        })
    }

    /// Gives `n` units back into `key`'s pool of generation `at`, while it
    /// lives at `now`; whether it did.
    pub async fn pool_return(
        &self,
        key: &str,
        now: u64,
        at: u64,
        n: u64,
    ) -> Result<bool, StoreError> {
        let r: i64 = self
            .pool_call(
                &RETURN,
                key,
                &[now.to_string(), at.to_string(), n.to_string()],
            )
            .await?;
        Ok(r == 1)
    }

    /// Removes `key`'s pool of generation `at`, returning what it held (0
    /// when another generation is there, or none).
    pub async fn pool_claim(&self, key: &str, at: u64) -> Result<u64, StoreError> {
        let r: String = self.pool_call(&CLAIM, key, &[at.to_string()]).await?;
        Ok(num(&r))
    }

    /// Removes `key`'s pool (a counter reset).
    pub async fn pool_clear(&self, key: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        let _: i64 = self.failed(bounded(self.timeout, self.conn.query(&cmd)).await)?;
        Ok(())
    }
}
