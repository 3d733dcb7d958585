-- token_bucket.lua: ALG['tb'], the token bucket.
--
-- Per-check ARGV: a = capacity C, b = k (tokens per period, lowest terms),
-- c = P (the period in µs).
-- State (packed, see common.lua): (level, last) -- tokens in units of 1/P
-- token, and the µs the level was measured at. A missing key is a full
-- bucket.
-- Allowed iff cost <= C and the refilled level >= cost·P.

local function tb_level(level, last, t, full, k)
  local elapsed = t - last
  if elapsed < 0 then
    elapsed = 0
  end
  local missing = full - level
  if missing < 0 then
    missing = 0
  end
  if elapsed * k >= missing then
    return full
  end
  return level + elapsed * k
end

ALG['tb'] = packed_fields(2, {
  fresh = function(t, a, b, c)
    return a * c, t
  end,
  allows = function(s1, s2, s3, t, cost, a, b, c)
    return cost <= a and tb_level(s1, s2, t, a * c, b) >= cost * c
  end,
  consume = function(s1, s2, s3, t, cost, a, b, c)
    local level = tb_level(s1, s2, t, a * c, b) - cost * c
    if level < 0 then
      level = 0
    end
    return level, math.max(s2, t)
  end,
  idle = function(s1, s2, s3, t, a, b, c)
    local full = a * c
    return ceil_div(full - tb_level(s1, s2, t, full, b), b)
  end,
  refund = function(s1, s2, s3, t0, cost, a, b, c)
    return math.min(a * c, s1 + cost * c), s2
  end,
})
