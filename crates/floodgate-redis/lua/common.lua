-- common.lua: helpers shared by the per-algorithm files. Concatenated, in
-- this order, with token_bucket.lua, leaky_bucket.lua, fixed_window.lua,
-- sliding_log.lua, sliding_counter.lua, gcra.lua and check.lua into ONE
-- script (see check.lua for its KEYS and ARGV), so that all limits of a
-- request are decided in one atomic call.
--
-- Numbers: Lua numbers are doubles. Every quantity below is an integer
-- under 2^53 (µs, and levels scaled by the rate's period), exactly as in
-- floodgate-core, so the arithmetic is exact. Products that may pass 2^53
-- are only ever compared with smaller numbers, where rounding cannot flip
-- the result.
--
-- Each algorithm registers ALG[code] = {
--   fields  = number of fields of its string state (nil: not a string),
--   load(key, t, prm)          -> state or nil when the key is missing,
--   fresh(t, prm)              -> the idle state,
--   allows(st, t, cost, prm)   -> whether the request fits (pure),
--   consume(st, t, cost, prm)  -> the state after it (pure),
--   idle(st, t, prm)           -> µs from t until the state is idle again,
--   report(st, t, cost, prm, ok) -> numbers Rust rebuilds the state from,
--   refund(st, t0, cost, prm)  -> the state with a consume at t0 undone,
--   store(key, st, ttl_ms)     -> writes it (ttl_ms nil: keep the TTL),
-- }
-- prm = { a, b, c } are the three per-check parameters of ARGV.

local ALG = {}

local function fmt(x)
  return string.format('%.0f', x)
end

-- Floor division and remainder of integers a (|a| < 2^53) by k >= 1, with
-- a fix-up step in case the double quotient rounded across an integer.
local function divmod(a, k)
  local q = math.floor(a / k)
  local r = a - q * k
  if r < 0 then
    q = q - 1
    r = r + k
  elseif r >= k then
    q = q + 1
    r = r - k
  end
  return q, r
end

local function ceil_div(a, k)
  local q, r = divmod(a, k)
  if r > 0 then
    return q + 1
  end
  return q
end

-- String states: fields joined by ':'.
local function load_fields(key)
  local v = redis.call('GET', key)
  if not v then
    return nil
  end
  local st = {}
  for f in string.gmatch(v, '[^:]+') do
    st[#st + 1] = tonumber(f)
  end
  return st
end

local function store_fields(key, st, ttl_ms)
  local parts = {}
  for i = 1, #st do
    parts[i] = fmt(st[i])
  end
  local v = table.concat(parts, ':')
  if ttl_ms then
    redis.call('SET', key, v, 'PX', ttl_ms)
  else
    redis.call('SET', key, v, 'KEEPTTL')
  end
end

-- The raw fields, as stored: Rust rebuilds the core state from them.
local function report_fields(st)
  return st
end

-- Whole-µs-plus-remainder times (shaping departure, GCRA's TAT): `at` µs
-- plus `frac`/k µs, 0 <= frac < k. Returns at + n/k µs.
local function time_plus(at, frac, n, k)
  local q, r = divmod(frac + n, k)
  return at + q, r
end

-- (at + frac/k - t)·k, floored at 0.
local function ahead(at, frac, t, k)
  if at >= t then
    return (at - t) * k + frac
  end
  return 0
end
