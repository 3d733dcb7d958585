-- common.lua: helpers shared by the per-algorithm files. Concatenated, in
-- this order, with token_bucket.lua, leaky_bucket.lua, fixed_window.lua,
-- sliding_log.lua, sliding_counter.lua, gcra.lua, concurrency.lua and
-- check.lua (which
-- defines `decide`, see there for its KEYS and ARGV), then either
-- eval.lua (one script for EVALSHA) or function.lua (a library for
-- FUNCTION LOAD and FCALL), so that all limits of a request are decided
-- in one atomic call by code written once.
--
-- Numbers: Lua numbers are doubles. Every quantity below is an integer
-- under 2^53 (µs, and levels scaled by the rate's period), exactly as in
-- floodgate-core, so the arithmetic is exact. Products that may pass 2^53
-- are only ever compared with smaller numbers, where rounding cannot flip
-- the result.
--
-- A state is up to three values s1, s2, s3, passed as Lua values (never
-- a table per call: a call allocates as little as it can). Each algorithm
-- registers ALG[code] = {
--   load(key, t, a, b, c)                 -> s1, s2, s3 (s1 nil: missing),
--   fresh(t, a, b, c)                     -> the idle state,
--   allows(s1, s2, s3, t, cost, a, b, c)  -> whether the request fits,
--   consume(s1, s2, s3, t, cost, a, b, c) -> the state after it,
--   idle(s1, s2, s3, t, a, b, c)          -> µs from t until idle again,
--   report(out, ok, s1, s2, s3, t, cost, a, b, c)
--                                         -> appends n, f1..fn to out: the
--                                            numbers Rust rebuilds the
--                                            state from,
--   refund(s1, s2, s3, t0, cost, a, b, c) -> the state with a consume at
--                                            t0 undone,
--   keeps_ttl(s1, n1)                     -> (optional) whether a state
--                                            whose s1 goes from s1 to n1
--                                            in a consume still ends when
--                                            it did, so that its key's
--                                            TTL can stay (KEEPTTL),
--   store(key, ttl_ms, s1, s2, s3)        -> writes it (ttl_ms nil: keep
--                                            the TTL),
-- }
-- where a, b, c are the three per-check parameters of ARGV. Only the
-- sliding log and the concurrency limit keep a table (their s1).

local ALG = {}

-- No library (math, string, struct) is named at the top level: a Redis
-- Functions library runs its top level in an environment without them.

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
local UINT = { '>I1', '>I2', '>I3', '>I4', '>I5', '>I6', '>I7' }

local function uint_len(x)
  if x < 256 then
    if x == 0 then
      return 0
    end
    return 1
  elseif x < 65536 then
    return 2
  elseif x < 16777216 then
    return 3
  elseif x < 4294967296 then
    return 4
  elseif x < 1099511627776 then
    return 5
  elseif x < 281474976710656 then
    return 6
  end
  return 7
end

local function uint_put(x, len)
  if len == 0 then
    return ''
  end
  return struct.pack(UINT[len], x)
end

-- The field of `len` bytes at `pos` of v, and the position after it.
local function uint_get(v, pos, len)
  if len == 0 then
    return 0, pos
  end
  return struct.unpack(UINT[len], v, pos)
end

local function check_range(x)
  if x < 0 or x >= 72057594037927936 then
    error('floodgate: state field out of range: ' .. fmt(x))
  end
end

-- The struct formats of two fields of l1 and l2 bytes: PACK2[8·l1 + l2]
-- with the header byte first, UNPACK2[8·l1 + l2] without it; a field of
-- 0 bytes has no format (and no value). Built with nothing but `..`, at
-- the top level.
local PACK2, UNPACK2 = {}, {}
do
  local field = { [0] = '', 'I1', 'I2', 'I3', 'I4', 'I5', 'I6', 'I7' }
  for l1 = 0, 7 do
    for l2 = 0, 7 do
      PACK2[8 * l1 + l2] = '>B' .. field[l1] .. field[l2]
      UNPACK2[8 * l1 + l2] = '>' .. field[l1] .. field[l2]
    end
  end
end

-- s1, s2 packed, with one struct.pack.
local function pack2(s1, s2)
  check_range(s1)
  check_range(s2)
  local l1, l2 = uint_len(s1), uint_len(s2)
  local h = 8 * l1 + l2
  if l1 > 0 then
    if l2 > 0 then
      return struct.pack(PACK2[h], h, s1, s2)
    end
    return struct.pack(PACK2[h], h, s1)
  end
  if l2 > 0 then
    return struct.pack(PACK2[h], h, s2)
  end
  return string.char(h)
end

-- The two fields of v, with one struct.unpack, or nil when v is not a
-- packed state of two fields.
local function unpack2(v)
  local len = #v
  if len < 1 then
    return nil
  end
  local h = string.byte(v, 1)
  local l1, l2 = math.floor(h / 8), h % 8
  if l1 > 7 or 1 + l1 + l2 ~= len then
    return nil
  end
  if l1 > 0 then
    if l2 > 0 then
      local s1, s2 = struct.unpack(UNPACK2[h], v, 2)
      return s1, s2
    end
    return (struct.unpack(UNPACK2[h], v, 2)), 0
  end
  if l2 > 0 then
    return 0, (struct.unpack(UNPACK2[h], v, 2))
  end
  return 0, 0
end

-- s1, s2 (and s3 when n = 3) packed.
local function pack_fields(n, s1, s2, s3)
  if n == 2 then
    return pack2(s1, s2)
  end
  check_range(s1)
  check_range(s2)
  check_range(s3)
  local l1, l2, l3 = uint_len(s1), uint_len(s2), uint_len(s3)
  return string.char(8 * l1 + l2, 8 * l3) .. uint_put(s1, l1) .. uint_put(s2, l2) .. uint_put(s3, l3)
end

-- s1, s2 (, s3): the n fields of v, or nil when v is not a packed state
-- of n fields.
local function unpack_fields(v, n)
  if n == 2 then
    return unpack2(v)
  end
  if #v < 2 then
    return nil
  end
  local h1 = string.byte(v, 1)
  local l1, l2 = math.floor(h1 / 8), h1 % 8
  local l3 = math.floor(string.byte(v, 2) / 8)
  if l1 > 7 or l3 > 7 or 2 + l1 + l2 + l3 ~= #v then
    return nil
  end
  local s1, pos = uint_get(v, 3, l1)
  local s2, s3
  s2, pos = uint_get(v, pos, l2)
  s3 = uint_get(v, pos, l3)
  return s1, s2, s3
end

-- What every packed-integer algorithm shares: its state is `n` integers,
-- kept as one packed string (pack_fields); `alg` brings the rest. A key
-- holding something else (another type, another shape) counts as
-- missing, as floodgate-core replaces a state that does not fit its
-- quota by a fresh one; SET overwrites it.
local function packed_fields(n, alg)
  alg.load = function(key)
    local v = redis.pcall('GET', key)
    if type(v) ~= 'string' then
      return nil
    end
    return unpack_fields(v, n)
  end
  alg.store = function(key, ttl_ms, s1, s2, s3)
    local v = pack_fields(n, s1, s2, s3)
    if ttl_ms then
      -- As an integer string: Redis formats a number argument with
      -- '%.17g', which costs more than the SET itself.
      redis.call('SET', key, v, 'PX', string.format('%d', ttl_ms))
    else
      redis.call('SET', key, v, 'KEEPTTL')
    end
  end
  -- The raw fields, as stored: Rust rebuilds the core state from them.
  alg.report = function(out, ok, s1, s2, s3)
    local i = #out
    out[i + 1] = n
    out[i + 2] = s1
    out[i + 3] = s2
    if n == 3 then
      out[i + 4] = s3
    end
  end
  return alg
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
