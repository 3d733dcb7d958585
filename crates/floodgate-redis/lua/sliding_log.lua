-- sliding_log.lua: ALG['sl'], the sliding window log.
--
-- Per-check ARGV: a = limit L, b = window W in µs, c = unused (0).
-- State (a Redis LIST): x1, c1, x2, c2, ... -- the time (µs) and cost of
-- each allowed request, oldest first. An entry counts while t < x + W.
-- Allowed iff cost <= L and the cost of the entries still in the window
-- + cost <= L.
--
-- In memory the state is { e = {x1, c1, ...} (unexpired only),
-- total = sum of costs, drop = expired pairs at the head of the stored
-- list, add = pairs to append }.

local function sl_last(st)
  local n = #st.e
  if n == 0 then
    return nil
  end
  return st.e[n - 1]
end

ALG['sl'] = {
  load = function(key, t, a, b, c)
    local raw = redis.pcall('LRANGE', key, 0, -1)
    if raw.err then
      -- Another type: replaced (see fields_loader in common.lua).
      redis.call('DEL', key)
      return nil
    end
    if #raw == 0 then
      return nil
    end
    local st = { e = {}, total = 0, drop = 0, add = {} }
    local w = b
    for i = 1, #raw - 1, 2 do
      local x, c = tonumber(raw[i]), tonumber(raw[i + 1])
      if #st.e == 0 and x + w <= t then
        st.drop = st.drop + 1
      else
        st.e[#st.e + 1] = x
        st.e[#st.e + 1] = c
        st.total = st.total + c
      end
    end
    return st
  end,
  fresh = function(t, a, b, c)
    return { e = {}, total = 0, drop = 0, add = {} }
  end,
  allows = function(st, s2, s3, t, cost, a, b, c)
    return cost <= a and st.total + cost <= a
  end,
  consume = function(st, s2, s3, t, cost, a, b, c)
    local last = sl_last(st)
    local at = t
    if last and last > t then
      at = last
    end
    local e, add = {}, {}
    for i = 1, #st.e do
      e[i] = st.e[i]
    end
    for i = 1, #st.add do
      add[i] = st.add[i]
    end
    e[#e + 1] = at
    e[#e + 1] = cost
    add[#add + 1] = at
    add[#add + 1] = cost
    return { e = e, total = st.total + cost, drop = st.drop, add = add }
  end,
  idle = function(st, s2, s3, t, a, b, c)
    local last = sl_last(st)
    if not last then
      return 0
    end
    return math.max(0, last + b - t)
  end,
  -- An equivalent log, small: when the request fits (or never can), the
  -- decision needs only the total and the newest entry; when it is denied,
  -- the retry time needs the entries up to the one whose expiry lets it
  -- fit. The rest is folded into one entry at the newest time.
  report = function(out, ok, st, s2, s3, t, cost, a, b, c)
    local n = #st.e
    local count = #out + 1
    out[count] = 0
    if n == 0 then
      return
    end
    local left = st.total
    local i = 1
    if not ok and cost <= a then
      while i < n do
        out[#out + 1] = st.e[i]
        out[#out + 1] = st.e[i + 1]
        left = left - st.e[i + 1]
        i = i + 2
        if left + cost <= a then
          break
        end
      end
    end
    if i < n then
      out[#out + 1] = st.e[n - 1]
      out[#out + 1] = left
    end
    out[count] = #out - count
  end,
  refund = function(st, s2, s3, t0, cost, a, b, c)
    local e = {}
    local found = false
    for i = #st.e - 1, 1, -2 do
      if not found and st.e[i] >= t0 and st.e[i + 1] == cost then
        found = true
      else
        table.insert(e, 1, st.e[i + 1])
        table.insert(e, 1, st.e[i])
      end
    end
    local total = 0
    for i = 2, #e, 2 do
      total = total + e[i]
    end
    return { e = e, total = total, drop = st.drop, add = {}, rewrite = true }
  end,
  store = function(key, ttl_ms, st)
    if st.rewrite then
      local pttl = redis.call('PTTL', key)
      redis.call('DEL', key)
      if #st.e > 0 then
        -- In chunks: unpack() is bounded by Lua's C stack.
        for from = 1, #st.e, 1000 do
          local args = {}
          for i = from, math.min(from + 999, #st.e) do
            args[#args + 1] = fmt(st.e[i])
          end
          redis.call('RPUSH', key, unpack(args))
        end
        if pttl > 0 then
          redis.call('PEXPIRE', key, pttl)
        end
      end
      return
    end
    if st.drop > 0 then
      redis.call('LTRIM', key, 2 * st.drop, -1)
    end
    if #st.add > 0 then
      local args = {}
      for i = 1, #st.add do
        args[i] = fmt(st.add[i])
      end
      redis.call('RPUSH', key, unpack(args))
    end
    if ttl_ms then
      redis.call('PEXPIRE', key, ttl_ms)
    end
  end,
}
