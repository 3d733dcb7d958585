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

-- String states, packed small (a token bucket's value takes 12 bytes or
-- less, which Redis keeps in a 32-byte embedded string): header bytes,
-- one per pair of fields, each 8·len(a) + len(b) with len the field's
-- length in bytes (0..7); then each field, big-endian, in that many bytes.
-- Fields are non-negative integers below 2^56.
local function pack_uint(x)
  local bytes = {}
  while x > 0 do
    local b = x % 256
    table.insert(bytes, 1, string.char(b))
    x = (x - b) / 256
  end
  return table.concat(bytes)
end

local function pack_fields(st)
  local header, body = {}, {}
  for i = 1, #st, 2 do
    local a = pack_uint(st[i])
    local b = ''
    if st[i + 1] then
      b = pack_uint(st[i + 1])
    end
    header[#header + 1] = string.char(8 * #a + #b)
    body[#body + 1] = a
    body[#body + 1] = b
  end
  return table.concat(header) .. table.concat(body)
end

-- nil when v is not a packed state of n fields.
local function unpack_fields(v, n)
  local st = {}
  local pos = math.floor((n + 1) / 2) + 1
  if #v < pos - 1 then
    return nil
  end
  for i = 1, n do
    local h = string.byte(v, math.floor((i + 1) / 2))
    local len
    if i % 2 == 1 then
      len = math.floor(h / 8)
    else
      len = h % 8
    end
    if pos + len - 1 > #v then
      return nil
    end
    local x = 0
    for j = pos, pos + len - 1 do
      x = x * 256 + string.byte(v, j)
    end
    st[i] = x
    pos = pos + len
  end
  if pos - 1 ~= #v then
    return nil
  end
  return st
end

-- A loader for states of n fields. A key holding something else (another
-- type, another shape) counts as missing, as floodgate-core replaces a
-- state that does not fit its quota by a fresh one; SET overwrites it.
local function fields_loader(n)
  return function(key)
    local v = redis.pcall('GET', key)
    if type(v) ~= 'string' then
      return nil
    end
    return unpack_fields(v, n)
  end
end

local function store_fields(key, st, ttl_ms)
  for i = 1, #st do
    if st[i] < 0 or st[i] >= 72057594037927936 then
      error('floodgate: state field out of range: ' .. fmt(st[i]))
    end
  end
  local v = pack_fields(st)
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
-- What every packed-integer algorithm shares: its state is `n` integers,
-- kept as one packed string (pack_fields); `alg` brings the rest.
local function packed_fields(n, alg)
  alg.fields = n
  alg.load = fields_loader(n)
  alg.store = store_fields
  alg.report = report_fields
  return alg
end

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
