-- leaky_bucket.lua: ALG['lb'] (policing, a meter) and ALG['ls'] (shaping,
-- a queue).
--
-- Per-check ARGV for both: a = capacity C, b = k (per period, lowest
-- terms), c = P (period in µs).
--
-- 'lb' state (packed string): (level, last) -- level in units of 1/P request, and
-- the µs it was measured at. Missing: empty. Allowed iff cost <= C and
-- leaked level + cost·P <= C·P.
--
-- 'ls' state (packed string): (at, frac) -- the last departure, at + frac/k µs.
-- Missing: no departure yet (frac = -1 in memory), and the first request
-- leaves at once. This request departs at s = max(t, last + cost·P/k);
-- allowed iff cost <= C and (s - t)·k <= C·P. Idle (and expired) from
-- last + C·P/k on: only then would any request leave at once.

local function lb_level(st, t, k)
  local elapsed = t - st[2]
  if elapsed < 0 then
    elapsed = 0
  end
  if elapsed * k >= st[1] then
    return 0
  end
  return st[1] - elapsed * k
end

ALG['lb'] = packed_fields(2, {
  fresh = function(t, prm)
    return { 0, 0 }
  end,
  allows = function(st, t, cost, prm)
    local level = lb_level(st, t, prm[2])
    return cost <= prm[1] and level + cost * prm[3] <= prm[1] * prm[3]
  end,
  consume = function(st, t, cost, prm)
    return { lb_level(st, t, prm[2]) + cost * prm[3], math.max(st[2], t) }
  end,
  idle = function(st, t, prm)
    return ceil_div(lb_level(st, t, prm[2]), prm[2])
  end,
  refund = function(st, t0, cost, prm)
    return { math.max(0, st[1] - cost * prm[3]), st[2] }
  end,
})

local function ls_departure(st, t, cost, k, p)
  if st[2] < 0 then
    return { t, 0 }
  end
  local at, frac = time_plus(st[1], st[2], cost * p, k)
  if at < t or (at == t and frac == 0) then
    return { t, 0 }
  end
  return { at, frac }
end

ALG['ls'] = packed_fields(2, {
  fresh = function(t, prm)
    return { 0, -1 }
  end,
  allows = function(st, t, cost, prm)
    local dep = ls_departure(st, t, cost, prm[2], prm[3])
    return cost <= prm[1] and ahead(dep[1], dep[2], t, prm[2]) <= prm[1] * prm[3]
  end,
  consume = function(st, t, cost, prm)
    return ls_departure(st, t, cost, prm[2], prm[3])
  end,
  idle = function(st, t, prm)
    if st[2] < 0 then
      return 0
    end
    return math.max(0, st[1] + ceil_div(st[2] + prm[1] * prm[3], prm[2]) - t)
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
