-- gcra.lua: ALG['gc'], the generic cell rate algorithm.
--
-- Per-check ARGV: a = burst B, b = k (per period, lowest terms), c = P
-- (period in µs); the emission interval is T = P/k µs.
-- State (packed, see common.lua): (at, frac) -- the theoretical arrival time, at + frac/k µs.
-- Missing: TAT in the past. tat' = max(tat, t) + cost·T; allowed iff
-- cost <= B and (tat' - t)·k <= B·P.

local function gc_advanced(st, t, cost, k, p)
  local at, frac = st[1], st[2]
  if at < t then
    at, frac = t, 0
  end
  local a, f = time_plus(at, frac, cost * p, k)
  return { a, f }
end

ALG['gc'] = packed_fields(2, {
  fresh = function(t, prm)
    return { 0, 0 }
  end,
  allows = function(st, t, cost, prm)
    local nxt = gc_advanced(st, t, cost, prm[2], prm[3])
    return cost <= prm[1] and ahead(nxt[1], nxt[2], t, prm[2]) <= prm[1] * prm[3]
  end,
  consume = function(st, t, cost, prm)
    return gc_advanced(st, t, cost, prm[2], prm[3])
  end,
  idle = function(st, t, prm)
    return ceil_div(ahead(st[1], st[2], t, prm[2]), prm[2])
  end,
  refund = function(st, t0, cost, prm)
    local at, frac = time_plus(st[1], st[2], -cost * prm[3], prm[2])
    -- Exact for every t >= t0: max(t, result) is what it was before.
    if at < 0 then
      return { 0, 0 }
    end
    return { at, frac }
  end,
})
