-- sliding_counter.lua: ALG['sc'], the sliding window counter.
--
-- Per-check ARGV: a = limit L, b = window W in µs, c = unused (0).
-- State (packed, see common.lua): (start, prev, curr) -- start of the
-- current window (µs), cost admitted in the previous and in the current
-- window.
-- Allowed iff cost <= L and prev·(W - e)/W + curr + cost <= L, e = t -
-- start, computed as doubles in exactly this order (as floodgate-core
-- does).

-- The state rolled to the window of t.
local function sc_roll(s1, s2, s3, t, w)
  local start = t - t % w
  if start <= s1 then
    return s1, s2, s3
  elseif start == s1 + w then
    return start, s3, 0
  end
  return start, 0, 0
end

local function sc_estimate(s1, s2, s3, t, w)
  local e = math.min(math.max(t - s1, 0), w)
  return s2 * (w - e) / w + s3
end

ALG['sc'] = packed_fields(3, {
  fresh = function(t, a, b, c)
    return 0, 0, 0
  end,
  allows = function(s1, s2, s3, t, cost, a, b, c)
    local r1, r2, r3 = sc_roll(s1, s2, s3, t, b)
    return cost <= a and sc_estimate(r1, r2, r3, t, b) + cost <= a
  end,
  consume = function(s1, s2, s3, t, cost, a, b, c)
    local r1, r2, r3 = sc_roll(s1, s2, s3, t, b)
    return r1, r2, r3 + cost
  end,
  idle = function(s1, s2, s3, t, a, b, c)
    if s3 > 0 then
      return math.max(0, s1 + 2 * b - t)
    elseif s2 > 0 then
      return math.max(0, s1 + b - t)
    end
    return 0
  end,
  refund = function(s1, s2, s3, t0, cost, a, b, c)
    local s0 = t0 - t0 % b
    if s1 == s0 then
      return s1, s2, math.max(0, s3 - cost)
    elseif s1 == s0 + b then
      return s1, math.max(0, s2 - cost), s3
    end
    return s1, s2, s3
  end,
})
