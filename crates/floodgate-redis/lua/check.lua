-- check.lua: `decide`, which decides every limit of one request (or of
-- one hash-slot group of it) atomically, dispatching to ALG[code] per
-- limit. eval.lua calls it for EVALSHA, function.lua registers it for
-- FCALL: same arguments, same reply.
--
-- KEYS[i]  state key of limit i: {prefix}{identity}:{limit_id}
-- ARGV[1]  mode: 'c' = check: decide all, consume only if all allow;
--                'p' = peek: decide all, consume nothing;
--                'r' = refund: undo a consume made at ARGV[2]
-- ARGV[2]  time in µs since the epoch, or '' to use Redis' TIME
-- ARGV[3]  least TTL in ms for written keys (0 with Redis time; larger
--          with caller time, whose pace Redis' expiry cannot follow)
-- then for limit i, five values at ARGV[3 + 5(i-1) + 1 ..]:
--          code ('tb','lb','ls','fw','sl','sc','gc'), a, b, c, cost
--          (a, b, c: the algorithm's parameters, see its file)
--
-- Returns { t, all_allowed, then per limit: allowed, present, n, f1..fn }
-- where f1..fn is the stored state (before this call) that the Rust side
-- rebuilds into floodgate-core's state to compute the full Decision, and
-- present = 0 means the key did not exist (the state is fresh at t).
--
-- The common request (one limit, or two on distinct keys, checked or
-- peeked) takes a fast path that keeps everything in locals; any other
-- (a key twice, three limits or more, a refund) takes the general path.
-- Both make the same decisions and the same reply.

local function unknown(code)
  return redis.error_reply('floodgate: unknown algorithm ' .. tostring(code))
end

-- TTL in ms of a state written at t: until it is idle, plus 1 ms after
-- rounding up, and at least min_ttl.
local function ttl_of(alg, t, min_ttl, s1, s2, s3, a, b, c)
  local ttl = math.floor(alg.idle(s1, s2, s3, t, a, b, c) / 1000) + 2
  if ttl < min_ttl then
    return min_ttl
  end
  return ttl
end

-- Limit i's decision on its stored state: appends allowed, present, n,
-- f1..fn to out and returns ok, alg, a, b, c, cost, s1, s2, s3 (nil alg:
-- an unknown code).
local function decide_one(out, key, argv, i, t)
  local o = 3 + (i - 1) * 5
  local alg = ALG[argv[o + 1]]
  if not alg then
    return false, nil
  end
  local a, b, c = tonumber(argv[o + 2]), tonumber(argv[o + 3]), tonumber(argv[o + 4])
  local cost = tonumber(argv[o + 5])
  local s1, s2, s3 = alg.load(key, t, a, b, c)
  local present = 1
  if s1 == nil then
    present = 0
    s1, s2, s3 = alg.fresh(t, a, b, c)
  end
  local ok = alg.allows(s1, s2, s3, t, cost, a, b, c)
  local n = #out
  out[n + 1] = ok and 1 or 0
  out[n + 2] = present
  if present == 1 then
    alg.report(out, ok, s1, s2, s3, t, cost, a, b, c)
  else
    out[n + 3] = 0
  end
  return ok, alg, a, b, c, cost, s1, s2, s3
end

-- Writes the state after limit i consumed.
local function consume_one(key, t, min_ttl, alg, a, b, c, cost, s1, s2, s3)
  s1, s2, s3 = alg.consume(s1, s2, s3, t, cost, a, b, c)
  alg.store(key, ttl_of(alg, t, min_ttl, s1, s2, s3, a, b, c), s1, s2, s3)
end

local function decide_fast(keys, argv, mode, t, min_ttl)
  local out = { t, 1 }
  local ok1, alg1, a1, b1, c1, cost1, x1, y1, z1 = decide_one(out, keys[1], argv, 1, t)
  if not alg1 then
    return unknown(argv[4])
  end
  if #keys == 1 then
    if ok1 and mode == 'c' then
      consume_one(keys[1], t, min_ttl, alg1, a1, b1, c1, cost1, x1, y1, z1)
    else
      out[2] = 0
    end
    return out
  end
  local ok2, alg2, a2, b2, c2, cost2, x2, y2, z2 = decide_one(out, keys[2], argv, 2, t)
  if not alg2 then
    return unknown(argv[9])
  end
  if ok1 and ok2 and mode == 'c' then
    consume_one(keys[1], t, min_ttl, alg1, a1, b1, c1, cost1, x1, y1, z1)
    consume_one(keys[2], t, min_ttl, alg2, a2, b2, c2, cost2, x2, y2, z2)
  else
    out[2] = 0
  end
  return out
end

-- The general path: each check is decided on its key's state as left by
-- the earlier checks of this call that allowed (the same key twice: the
-- second sees the first's cost); the states are written only if every
-- check allowed. States are kept as { s1, s2, s3 } per key.
local function decide_general(keys, argv, mode, t, min_ttl)
  local checks = {}
  local loaded = {}
  for i = 1, #keys do
    local o = 3 + (i - 1) * 5
    local alg = ALG[argv[o + 1]]
    if not alg then
      return unknown(argv[o + 1])
    end
    local c = {
      key = keys[i],
      alg = alg,
      a = tonumber(argv[o + 2]),
      b = tonumber(argv[o + 3]),
      c = tonumber(argv[o + 4]),
      cost = tonumber(argv[o + 5]),
    }
    checks[i] = c
    if loaded[c.key] == nil then
      local s1, s2, s3 = alg.load(c.key, t, c.a, c.b, c.c)
      loaded[c.key] = s1 ~= nil and { s1, s2, s3 } or false
    end
  end

  local work = {}
  if mode == 'r' then
    for i = 1, #checks do
      local c = checks[i]
      local st = work[c.key] or loaded[c.key]
      if st then
        work[c.key] = { c.alg.refund(st[1], st[2], st[3], t, c.cost, c.a, c.b, c.c) }
      end
    end
    for i = 1, #checks do
      local c = checks[i]
      local st = work[c.key]
      if st then
        c.alg.store(c.key, nil, st[1], st[2], st[3])
        work[c.key] = nil
      end
    end
    return { t }
  end

  local out = { t, 1 }
  local all = true
  local order = {}
  for i = 1, #checks do
    local c = checks[i]
    local st = work[c.key]
    local present = 1
    if not st then
      st = loaded[c.key]
      if not st then
        st = { c.alg.fresh(t, c.a, c.b, c.c) }
        present = 0
      end
    end
    local ok = c.alg.allows(st[1], st[2], st[3], t, c.cost, c.a, c.b, c.c)
    out[#out + 1] = ok and 1 or 0
    out[#out + 1] = present
    if present == 1 then
      c.alg.report(out, ok, st[1], st[2], st[3], t, c.cost, c.a, c.b, c.c)
    else
      out[#out + 1] = 0
    end
    if ok then
      if not work[c.key] then
        order[#order + 1] = c
      end
      work[c.key] = { c.alg.consume(st[1], st[2], st[3], t, c.cost, c.a, c.b, c.c) }
    else
      all = false
    end
  end

  if not all or mode == 'p' then
    out[2] = 0
    return out
  end

  for i = 1, #order do
    local c = order[i]
    local st = work[c.key]
    local ttl = ttl_of(c.alg, t, min_ttl, st[1], st[2], st[3], c.a, c.b, c.c)
    c.alg.store(c.key, ttl, st[1], st[2], st[3])
  end
  return out
end

local function decide(keys, argv)
  local mode = argv[1]
  local t
  if argv[2] == '' then
    local now = redis.call('TIME')
    t = tonumber(now[1]) * 1000000 + tonumber(now[2])
  else
    t = tonumber(argv[2])
  end
  local min_ttl = tonumber(argv[3])
  local n = #keys
  if mode ~= 'r' and (n == 1 or (n == 2 and keys[1] ~= keys[2])) then
    return decide_fast(keys, argv, mode, t, min_ttl)
  end
  return decide_general(keys, argv, mode, t, min_ttl)
end
