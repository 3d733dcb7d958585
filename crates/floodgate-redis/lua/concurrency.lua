-- concurrency.lua: ALG['cc'], the concurrency limit, and the release and
-- renewal of its slots.
--
-- Per-check ARGV: a = limit N, b = lease in µs, c = lease id (an integer
-- below 2^53; 0 for a check that takes no slot).
-- State (a Redis sorted set): member = lease id, score = lease end (µs).
-- A holder whose lease ended by t counts for nothing; the ended ones are
-- removed (and counted) when a slot is taken. The key expires one lease
-- after the last lease ends, so that ended members stay countable for that
-- long (a set whose holders all died and that nobody uses again expires
-- uncounted).
-- Allowed iff held + 1 <= N (a request holds one slot whatever its cost).
--
-- In memory the state is { held, first_end, last_end, ended } (the live
-- holders, the first and last lease end among them, and the holders whose
-- lease ended, still in the set), plus, once consumed, the member to add
-- and its score (fields 5 and 6) and t (field 7). Reported as these four
-- numbers; Rust decides with floodgate_core::algorithm::concurrency.

local function cc_after(t)
  return '(' .. fmt(t)
end

-- The first (or, with rev, the last) live lease end.
local function cc_end(key, t, rev)
  local r
  if rev then
    r = redis.call('ZREVRANGEBYSCORE', key, '+inf', cc_after(t), 'WITHSCORES', 'LIMIT', 0, 1)
  else
    r = redis.call('ZRANGEBYSCORE', key, cc_after(t), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  end
  return tonumber(r[2])
end

-- The key's TTL in ms: one lease of b µs after its last lease ends at
-- `last`.
local function cc_ttl(last, t, b, min_ttl)
  local ttl = math.floor((math.max(0, last - t) + b) / 1000) + 2
  if ttl < min_ttl then
    return min_ttl
  end
  return ttl
end

ALG['cc'] = {
  load = function(key, t, a, b, c)
    local total = redis.pcall('ZCARD', key)
    if type(total) ~= 'number' then
      -- Another type: replaced.
      redis.call('DEL', key)
      return nil
    end
    if total == 0 then
      return nil
    end
    local held = redis.call('ZCOUNT', key, cc_after(t), '+inf')
    if held == 0 then
      return { 0, 0, 0, total }
    end
    return { held, cc_end(key, t, false), cc_end(key, t, true), total - held }
  end,
  fresh = function(t, a, b, c)
    return { 0, 0, 0, 0 }
  end,
  allows = function(st, s2, s3, t, cost, a, b, c)
    return st[1] + 1 <= a
  end,
  consume = function(st, s2, s3, t, cost, a, b, c)
    if c == 0 then
      return st
    end
    local e = t + b
    local first = e
    if st[1] > 0 and st[2] < e then
      first = st[2]
    end
    return { st[1] + 1, first, math.max(st[3], e), st[4], c, e, t }
  end,
  idle = function(st, s2, s3, t, a, b, c)
    return math.max(0, st[3] - t) + b
  end,
  report = function(out, ok, st)
    local i = #out
    out[i + 1] = 4
    out[i + 2] = st[1]
    out[i + 3] = st[2]
    out[i + 4] = st[3]
    out[i + 5] = st[4]
  end,
  -- Slots are given back by release, never refunded.
  refund = function(st)
    return st
  end,
  store = function(key, ttl_ms, st)
    if ttl_ms == nil or st[5] == nil then
      return
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(st[7]))
    redis.call('ZADD', key, fmt(st[6]), fmt(st[5]))
    redis.call('PEXPIRE', key, ttl_ms)
  end,
}

-- Releases (mode 'l') or renews (mode 'n') the slot of lease id c on key
-- at t; b is the lease in µs. Returns 1: held (now released or renewed),
-- 2: its lease had ended (released: removed), 0: not held.
local function cc_lease(key, mode, t, b, c, min_ttl)
  local score = redis.pcall('ZSCORE', key, fmt(c))
  if type(score) ~= 'string' then
    return 0
  end
  score = tonumber(score)
  if mode == 'l' then
    redis.call('ZREM', key, fmt(c))
    if score <= t then
      return 2
    end
    return 1
  end
  if score <= t then
    return 2
  end
  local e = t + b
  if e > score then
    redis.call('ZADD', key, 'XX', fmt(e), fmt(c))
    redis.call('PEXPIRE', key, cc_ttl(cc_end(key, t, true), t, b, min_ttl))
  end
  return 1
end
