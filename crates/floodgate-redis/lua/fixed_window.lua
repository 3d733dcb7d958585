-- fixed_window.lua: ALG['fw'], the fixed window.
--
-- Per-check ARGV: a = limit L, b = window W in µs, c = unused (0).
-- State (packed, see common.lua): (start, count) -- the epoch-aligned
-- window start (µs) and the cost admitted in it. Missing: nothing
-- admitted.
-- Allowed iff cost <= L and count(current window) + cost <= L.

-- The count in the window of t.
local function fw_count(s1, s2, t, w)
  if t - t % w > s1 then
    return 0
  end
  return s2
end

ALG['fw'] = packed_fields(2, {
  fresh = function(t, a, b, c)
    return 0, 0
  end,
  allows = function(s1, s2, s3, t, cost, a, b, c)
    return cost <= a and fw_count(s1, s2, t, b) + cost <= a
  end,
  consume = function(s1, s2, s3, t, cost, a, b, c)
    local start = t - t % b
    if start > s1 then
      return start, cost
    end
    return s1, s2 + cost
  end,
  idle = function(s1, s2, s3, t, a, b, c)
    return math.max(0, s1 + b - t)
  end,
  -- A consume in the window the key already holds ends when it did:
  -- its TTL, written by the first consume of the window, stays.
  keeps_ttl = function(before, after)
    return before == after
  end,
  refund = function(s1, s2, s3, t0, cost, a, b, c)
    if s1 == t0 - t0 % b then
      return s1, math.max(0, s2 - cost)
    end
    return s1, s2
  end,
})

-- fw_check: one request of one fixed-window limit, checked (mode 'c'),
-- without the generic dispatch of check.lua: the same decision, reply
-- and written state as decide_one then consume_one through ALG['fw']
-- (TTL kept as keeps_ttl says), for about a tenth less of Redis' time per
-- decision (bench/script_cost.py). Appends allowed, present, n, f1..fn to
-- out and clears out[at] (all_allowed) on a denial.
local function fw_check(out, at, key, a, w, cost, t, min_ttl)
  local s1, s2
  local v = redis.pcall('GET', key)
  if type(v) == 'string' then
    s1, s2 = unpack2(v)
  end
  local present = s1 ~= nil
  if not present then
    s1, s2 = 0, 0
  end
  local ok = cost <= a and fw_count(s1, s2, t, w) + cost <= a
  local i = #out
  out[i + 1] = ok and 1 or 0
  if present then
    out[i + 2] = 1
    out[i + 3] = 2
    out[i + 4] = s1
    out[i + 5] = s2
  else
    out[i + 2] = 0
    out[i + 3] = 0
  end
  if not ok then
    out[at] = 0
    return
  end
  local start = t - t % w
  if start > s1 then
    s1, s2 = start, 0
  elseif present and min_ttl == 0 then
    redis.call('SET', key, pack2(s1, s2 + cost), 'KEEPTTL')
    return
  end
  local ttl = math.floor(math.max(0, s1 + w - t) / 1000) + 2
  if ttl < min_ttl then
    ttl = min_ttl
  end
  redis.call('SET', key, pack2(s1, s2 + cost), 'PX', string.format('%d', ttl))
end
