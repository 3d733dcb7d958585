-- leaky_bucket.lua: ALG['lb'] (policing, a meter) and ALG['ls'] (shaping,
-- a queue).
--
-- Per-check ARGV for both: a = capacity C, b = k (per period, lowest
-- terms), c = P (period in µs).
--
-- 'lb' state (packed string): (level, last) -- level in units of 1/P
-- request, and the µs it was measured at. Missing: empty. Allowed iff
-- cost <= C and leaked level + cost·P <= C·P.
--
-- 'ls' state (packed string): (at, frac) -- the last departure, at +
-- frac/k µs. Missing: no departure yet (frac = -1 in memory), and the
-- first request leaves at once. This request departs at s = max(t, last +
-- cost·P/k); allowed iff cost <= C and (s - t)·k <= C·P. Idle (and
-- expired) from last + C·P/k on: only then would any request leave at
-- once.

local function lb_level(level, last, t, k)
  local elapsed = t - last
  if elapsed < 0 then
    elapsed = 0
  end
  if elapsed * k >= level then
    return 0
  end
  return level - elapsed * k
end

ALG['lb'] = packed_fields(2, {
  fresh = function(t, a, b, c)
    return 0, 0
  end,
  allows = function(s1, s2, s3, t, cost, a, b, c)
    return cost <= a and lb_level(s1, s2, t, b) + cost * c <= a * c
  end,
  consume = function(s1, s2, s3, t, cost, a, b, c)
    return lb_level(s1, s2, t, b) + cost * c, math.max(s2, t)
  end,
  idle = function(s1, s2, s3, t, a, b, c)
    return ceil_div(lb_level(s1, s2, t, b), b)
  end,
  refund = function(s1, s2, s3, t0, cost, a, b, c)
    return math.max(0, s1 - cost * c), s2
  end,
})

-- The departure (at, frac) of a request of `cost` after (s1, s2).
local function ls_departure(s1, s2, t, cost, k, p)
  if s2 < 0 then
    return t, 0
  end
  local at, frac = time_plus(s1, s2, cost * p, k)
  if at < t or (at == t and frac == 0) then
    return t, 0
  end
  return at, frac
end

-- A consume at t0 undone: exact for every t >= t0, as max(t, result) is
-- what it was before.
local function time_refund(s1, s2, cost, k, p)
  local at, frac = time_plus(s1, s2, -cost * p, k)
  if at < 0 then
    return 0, 0
  end
  return at, frac
end

ALG['ls'] = packed_fields(2, {
  fresh = function(t, a, b, c)
    return 0, -1
  end,
  allows = function(s1, s2, s3, t, cost, a, b, c)
    local at, frac = ls_departure(s1, s2, t, cost, b, c)
    return cost <= a and ahead(at, frac, t, b) <= a * c
  end,
  consume = function(s1, s2, s3, t, cost, a, b, c)
    return ls_departure(s1, s2, t, cost, b, c)
  end,
  idle = function(s1, s2, s3, t, a, b, c)
    if s2 < 0 then
      return 0
    end
    return math.max(0, s1 + ceil_div(s2 + a * c, b) - t)
  end,
  refund = function(s1, s2, s3, t0, cost, a, b, c)
    return time_refund(s1, s2, cost, b, c)
  end,
})
