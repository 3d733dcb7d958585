-- token_bucket.lua: ALG['tb'], the token bucket.
--
-- Per-check ARGV: a = capacity C, b = k (tokens per period, lowest terms),
-- c = P (the period in µs).
-- State (packed, see common.lua): (level, last) -- tokens in units of 1/P token, and the µs
-- the level was measured at. A missing key is a full bucket.
-- Allowed iff cost <= C and the refilled level >= cost·P.

local function tb_level(st, t, full, k)
  local elapsed = t - st[2]
  if elapsed < 0 then
    elapsed = 0
  end
  local missing = full - st[1]
  if missing < 0 then
    missing = 0
  end
  if elapsed * k >= missing then
    return full
  end
  return st[1] + elapsed * k
end

ALG['tb'] = packed_fields(2, {
  fresh = function(t, prm)
    return { prm[1] * prm[3], t }
  end,
  allows = function(st, t, cost, prm)
    local level = tb_level(st, t, prm[1] * prm[3], prm[2])
    return cost <= prm[1] and level >= cost * prm[3]
  end,
  consume = function(st, t, cost, prm)
    local level = tb_level(st, t, prm[1] * prm[3], prm[2]) - cost * prm[3]
    if level < 0 then
      level = 0
    end
    return { level, math.max(st[2], t) }
  end,
  idle = function(st, t, prm)
    local full = prm[1] * prm[3]
    return ceil_div(full - tb_level(st, t, full, prm[2]), prm[2])
  end,
  refund = function(st, t0, cost, prm)
    return { math.min(prm[1] * prm[3], st[1] + cost * prm[3]), st[2] }
  end,
})
