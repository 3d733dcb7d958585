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
