-- sliding_counter.lua: ALG['sc'], the sliding window counter.
--
-- Per-check ARGV: a = limit L, b = window W in µs, c = unused (0).
-- State (packed, see common.lua): (start, prev, curr) -- start of the current window (µs),
-- cost admitted in the previous and in the current window.
-- Allowed iff cost <= L and prev·(W - e)/W + curr + cost <= L, e = t - start,
-- computed as doubles in exactly this order (as floodgate-core does).

local function sc_roll(st, t, w)
  local start = t - t % w
  if start <= st[1] then
    return st
  elseif start == st[1] + w then
    return { start, st[3], 0 }
  end
  return { start, 0, 0 }
end

local function sc_estimate(c, t, w)
  local e = math.min(math.max(t - c[1], 0), w)
  return c[2] * (w - e) / w + c[3]
end

ALG['sc'] = packed_fields(3, {
  fresh = function(t, prm)
    return { 0, 0, 0 }
  end,
  allows = function(st, t, cost, prm)
    local c = sc_roll(st, t, prm[2])
    return cost <= prm[1] and sc_estimate(c, t, prm[2]) + cost <= prm[1]
  end,
  consume = function(st, t, cost, prm)
    local c = sc_roll(st, t, prm[2])
    return { c[1], c[2], c[3] + cost }
  end,
  idle = function(st, t, prm)
    if st[3] > 0 then
      return math.max(0, st[1] + 2 * prm[2] - t)
    elseif st[2] > 0 then
      return math.max(0, st[1] + prm[2] - t)
    end
    return 0
  end,
  refund = function(st, t0, cost, prm)
    local s0 = t0 - t0 % prm[2]
    if st[1] == s0 then
      return { st[1], st[2], math.max(0, st[3] - cost) }
    elseif st[1] == s0 + prm[2] then
      return { st[1], math.max(0, st[2] - cost), st[3] }
    end
    return st
  end,
})
