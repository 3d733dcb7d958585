-- fixed_window.lua: ALG['fw'], the fixed window.
--
-- Per-check ARGV: a = limit L, b = window W in µs, c = unused (0).
-- State (packed, see common.lua): (start, count) -- the epoch-aligned window start (µs) and
-- the cost admitted in it. Missing: nothing admitted.
-- Allowed iff cost <= L and count(current window) + cost <= L.

local function fw_current(st, t, w)
  local start = t - t % w
  if start > st[1] then
    return { start, 0 }
  end
  return st
end

ALG['fw'] = packed_fields(2, {
  fresh = function(t, prm)
    return { 0, 0 }
  end,
  allows = function(st, t, cost, prm)
    local win = fw_current(st, t, prm[2])
    return cost <= prm[1] and win[2] + cost <= prm[1]
  end,
  consume = function(st, t, cost, prm)
    local win = fw_current(st, t, prm[2])
    return { win[1], win[2] + cost }
  end,
  idle = function(st, t, prm)
    return math.max(0, st[1] + prm[2] - t)
  end,
  refund = function(st, t0, cost, prm)
    if st[1] == t0 - t0 % prm[2] then
      return { st[1], math.max(0, st[2] - cost) }
    end
    return st
  end,
})
