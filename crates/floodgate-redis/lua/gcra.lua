-- gcra.lua: ALG['gc'], the generic cell rate algorithm.
--
-- Per-check ARGV: a = burst B, b = k (per period, lowest terms), c = P
-- (period in µs); the emission interval is T = P/k µs.
-- State (packed, see common.lua): (at, frac) -- the theoretical arrival
-- time, at + frac/k µs. Missing: TAT in the past. tat' = max(tat, t) +
-- cost·T; allowed iff cost <= B and (tat' - t)·k <= B·P.

local function gc_advanced(s1, s2, t, cost, k, p)
  if s1 < t then
    s1, s2 = t, 0
  end
  return time_plus(s1, s2, cost * p, k)
end

ALG['gc'] = packed_fields(2, {
  fresh = function(t, a, b, c)
    return 0, 0
  end,
  allows = function(s1, s2, s3, t, cost, a, b, c)
    local at, frac = gc_advanced(s1, s2, t, cost, b, c)
    return cost <= a and ahead(at, frac, t, b) <= a * c
  end,
  consume = function(s1, s2, s3, t, cost, a, b, c)
    return gc_advanced(s1, s2, t, cost, b, c)
  end,
  idle = function(s1, s2, s3, t, a, b, c)
    return ceil_div(ahead(s1, s2, t, b), b)
  end,
  refund = function(s1, s2, s3, t0, cost, a, b, c)
    return time_refund(s1, s2, cost, b, c)
  end,
})
