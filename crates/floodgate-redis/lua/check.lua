-- check.lua: `decide`, which decides every limit of one request (or of
-- one hash-slot group of it) atomically, dispatching to ALG[code] per
-- limit. eval.lua calls it for EVALSHA, function.lua registers it for
-- FCALL: same arguments, same reply.
--
-- KEYS[i]  state key of limit i: {prefix}{identity}:{limit_id}
-- ARGV[1]  mode: 'c' = check: decide all, consume only if all allow;
--                'p' = peek: decide all, consume nothing;
--                'r' = refund: undo a consume made at ARGV[2];
--                't' = take a slice of each limit, each on its own
--                      (see take_one);
--                'l' = release the concurrency slot of each limit's
--                      lease id; 'n' = renew it (see concurrency.lua)
-- ARGV[2]  time in µs since the epoch, or '' to use Redis' TIME
-- ARGV[3]  least TTL in ms for written keys (0 with Redis time; larger
--          with caller time, whose pace Redis' expiry cannot follow)
-- then for limit i, five values at ARGV[3 + 5(i-1) + 1 ..]:
--          code ('tb','lb','ls','fw','sl','sc','gc','cc'), a, b, c, cost
--          (a, b, c: the algorithm's parameters, see its file)
--
-- Returns { t, all_allowed, then per limit: allowed, present, n, f1..fn }
-- ({ t, then per limit: 1 held, 2 lease ended, 0 not held } to a release
-- or a renewal; { t, then per limit: taken, present, n, f1..fn } to a
-- take)
-- where f1..fn is the stored state (before this call) that the Rust side
-- rebuilds into floodgate-core's state to compute the full Decision, and
-- present = 0 means the key did not exist (the state is fresh at t).
--
-- One fixed-window limit checked goes to fw_check (fixed_window.lua).
-- The common request (one limit, or two on distinct keys, checked or
-- peeked) takes a fast path that keeps everything in locals; any other
-- (a key twice, three limits or more, a refund) takes the general path.
-- Both make the same decisions and the same reply.
--
-- A gathered call (several requests, concurrent on one connection and
-- hash slot, in one call) has ARGV[1] = 'g':
--
-- KEYS     every request's keys, one request after the other
-- ARGV[2]  least TTL in ms
-- ARGV[3]  the number of requests R
-- then per request: mode, time ('' = Redis TIME, read once per call),
--          number of limits n, and the 5·n values of its limits as above
--
-- (ARGV[1] = 'G' is the same call with each request packed in one
-- argument, see unpack_gathered; one made only of fixed-window checks
-- under Redis' time goes to decide_fw_checks.)
--
-- Returns { R, then per request: length L, then its reply (L values) as
-- a call of its own would return it }. The requests are decided in turn,
-- each on the state the earlier ones left and each atomically (all its
-- limits consumed or none), exactly as if they had come one call after
-- the other.


local function unknown(code)
  return 'floodgate: unknown algorithm ' .. tostring(code)
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

-- The limit whose five values start after argv[o]: its decision on its
-- stored state. Appends allowed, present, n, f1..fn to out and returns
-- ok, alg, a, b, c, cost, s1, s2, s3, present (a boolean).
local function decide_one(out, key, argv, o, t)
  local alg = ALG[argv[o + 1]]
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
  return ok, alg, a, b, c, cost, s1, s2, s3, present == 1
end

-- The TTL to write a limit's new state (n1, n2, n3) with, over the state
-- s1 its key held (present) before: nil (keep the key's TTL) when the
-- algorithm says the state still ends when it did and no least TTL is
-- asked (Redis time), else ttl_of.
local function write_ttl(alg, present, t, min_ttl, s1, n1, n2, n3, a, b, c)
  if present and min_ttl == 0 and alg.keeps_ttl and alg.keeps_ttl(s1, n1) then
    return nil
  end
  return ttl_of(alg, t, min_ttl, n1, n2, n3, a, b, c)
end

-- Writes the state after a limit consumed.
local function consume_one(key, t, min_ttl, alg, a, b, c, cost, s1, s2, s3, present)
  local n1, n2, n3 = alg.consume(s1, s2, s3, t, cost, a, b, c)
  alg.store(key, write_ttl(alg, present, t, min_ttl, s1, n1, n2, n3, a, b, c), n1, n2, n3)
end

-- A request's limits are keys[kb + i] and the five values after
-- argv[ab + 5(i - 1)], i = 1..n; its reply is appended to out.

-- One limit, or two on distinct keys, in locals. `at` is out's slot for
-- all_allowed.
local function decide_fast(out, at, keys, kb, n, argv, ab, mode, t, min_ttl)
  local ok1, alg1, a1, b1, c1, cost1, x1, y1, z1, p1 = decide_one(out, keys[kb + 1], argv, ab, t)
  if n == 1 then
    if ok1 and mode == 'c' then
      consume_one(keys[kb + 1], t, min_ttl, alg1, a1, b1, c1, cost1, x1, y1, z1, p1)
    else
      out[at] = 0
    end
    return
  end
  local ok2, alg2, a2, b2, c2, cost2, x2, y2, z2, p2 = decide_one(out, keys[kb + 2], argv, ab + 5, t)
  if ok1 and ok2 and mode == 'c' then
    consume_one(keys[kb + 1], t, min_ttl, alg1, a1, b1, c1, cost1, x1, y1, z1, p1)
    consume_one(keys[kb + 2], t, min_ttl, alg2, a2, b2, c2, cost2, x2, y2, z2, p2)
  else
    out[at] = 0
  end
end

-- The general path: each check is decided on its key's state as left by
-- the earlier checks of this request that allowed (the same key twice:
-- the second sees the first's cost); the states are written only if
-- every check allowed. States are kept as { s1, s2, s3 } per key.
local function decide_general(out, at, keys, kb, n, argv, ab, mode, t, min_ttl)
  local checks = {}
  local loaded = {}
  for i = 1, n do
    local o = ab + (i - 1) * 5
    local alg = ALG[argv[o + 1]]
    local c = {
      key = keys[kb + i],
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
    for i = 1, n do
      local c = checks[i]
      local st = work[c.key] or loaded[c.key]
      if st then
        work[c.key] = { c.alg.refund(st[1], st[2], st[3], t, c.cost, c.a, c.b, c.c) }
      end
    end
    for i = 1, n do
      local c = checks[i]
      local st = work[c.key]
      if st then
        c.alg.store(c.key, nil, st[1], st[2], st[3])
        work[c.key] = nil
      end
    end
    return
  end

  local all = true
  local order = {}
  for i = 1, n do
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
    out[at] = 0
    return
  end

  for i = 1, #order do
    local c = order[i]
    local st = work[c.key]
    local was = loaded[c.key]
    local ttl = write_ttl(c.alg, was ~= false, t, min_ttl, was and was[1], st[1], st[2], st[3], c.a, c.b, c.c)
    c.alg.store(c.key, ttl, st[1], st[2], st[3])
  end
end

-- Takes a slice of the limit whose five values start after argv[o]; its
-- fifth value is 'want:need:share' (share in millionths). Of the largest
-- cost `avail` the state allows now (at most the limit's size `a`), it
-- takes min(want, max(need, floor(avail * share / 1e6))), at least need,
-- or nothing when need does not fit; the state is consumed by what was
-- taken. floodgate-core's algorithm::slice::take does the same. Appends
-- taken, present, n, f1..fn (the state before) to out.
local function take_one(out, key, argv, o, t, min_ttl)
  local alg = ALG[argv[o + 1]]
  local a, b, c = tonumber(argv[o + 2]), tonumber(argv[o + 3]), tonumber(argv[o + 4])
  local w, nd, sh = string.match(argv[o + 5], '^(%d+):(%d+):(%d+)$')
  local want, need, share = tonumber(w), tonumber(nd), tonumber(sh)
  local s1, s2, s3 = alg.load(key, t, a, b, c)
  local present = 1
  if s1 == nil then
    present = 0
    s1, s2, s3 = alg.fresh(t, a, b, c)
  end
  local n = 0
  if alg.allows(s1, s2, s3, t, need, a, b, c) then
    -- Allowing is monotone in the cost: the largest allowed, by halves
    -- (at once when the whole size fits, as on a key far from its limit).
    local lo, hi = need, a
    if alg.allows(s1, s2, s3, t, a, a, b, c) then
      lo = a
    end
    while lo < hi do
      local mid = lo + math.ceil((hi - lo) / 2)
      if alg.allows(s1, s2, s3, t, mid, a, b, c) then
        lo = mid
      else
        hi = mid - 1
      end
    end
    local part = math.floor(lo * share / 1000000)
    n = math.max(need, math.min(want, math.max(need, part)))
  end
  local at = #out
  out[at + 1] = n
  out[at + 2] = present
  if present == 1 then
    alg.report(out, n > 0, s1, s2, s3, t, n > 0 and n or need, a, b, c)
  else
    out[at + 3] = 0
  end
  if n > 0 then
    consume_one(key, t, min_ttl, alg, a, b, c, n, s1, s2, s3, present == 1)
  end
end

-- The first unknown algorithm code among n limits, or nil.
local function unknown_code(argv, ab, n)
  for i = 1, n do
    local code = argv[ab + (i - 1) * 5 + 1]
    if not ALG[code] then
      return unknown(code)
    end
  end
  return nil
end

-- Decides one request and appends its reply ({ t } for a refund; else
-- t, all_allowed and the limits') to out.
local function decide_request(out, keys, kb, n, argv, ab, mode, t, min_ttl)
  out[#out + 1] = t
  if mode == 'l' or mode == 'n' then
    for i = 1, n do
      local o = ab + (i - 1) * 5
      local status = 0
      if argv[o + 1] == 'cc' then
        status = cc_lease(keys[kb + i], mode, t, tonumber(argv[o + 3]), tonumber(argv[o + 4]), min_ttl)
      end
      out[#out + 1] = status
    end
    return
  end
  if mode == 'r' then
    decide_general(out, 0, keys, kb, n, argv, ab, mode, t, min_ttl)
    return
  end
  if mode == 't' then
    for i = 1, n do
      take_one(out, keys[kb + i], argv, ab + (i - 1) * 5, t, min_ttl)
    end
    return
  end
  local at = #out + 1
  out[at] = 1
  if n == 1 and mode == 'c' and argv[ab + 1] == 'fw' then
    fw_check(out, at, keys[kb + 1], tonumber(argv[ab + 2]), tonumber(argv[ab + 3]), tonumber(argv[ab + 5]), t, min_ttl)
    return
  end
  if n == 1 or (n == 2 and keys[kb + 1] ~= keys[kb + 2]) then
    decide_fast(out, at, keys, kb, n, argv, ab, mode, t, min_ttl)
  else
    decide_general(out, at, keys, kb, n, argv, ab, mode, t, min_ttl)
  end
end

local function redis_time()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000000 + tonumber(now[2])
end

-- A gathered call (ARGV[1] = 'g', see above).
local function decide_gathered(keys, argv)
  local min_ttl = tonumber(argv[2])
  local r = tonumber(argv[3])
  -- Every code is checked before anything is written.
  local ab = 3
  for _ = 1, r do
    local n = tonumber(argv[ab + 3])
    local bad = unknown_code(argv, ab + 3, n)
    if bad then
      return redis.error_reply(bad)
    end
    ab = ab + 3 + 5 * n
  end
  local out = { r }
  local kb = 0
  local now
  ab = 3
  for _ = 1, r do
    local mode, time, n = argv[ab + 1], argv[ab + 2], tonumber(argv[ab + 3])
    local t
    if time == '' then
      now = now or redis_time()
      t = now
    else
      t = tonumber(time)
    end
    local len = #out + 1
    out[len] = 0
    decide_request(out, keys, kb, n, argv, ab + 3, mode, t, min_ttl)
    out[len] = #out - len
    kb = kb + n
    ab = ab + 3 + 5 * n
  end
  return out
end

-- The first bytes of a packed request that is one fixed-window limit
-- checked with Redis' time: mode 'c', n = 1, time flag 0, code 'fw'.
local FW_HEAD = 'c\1\0fw'

-- A packed gathered call (ARGV[1] = 'G') in the layout of 'g' (above):
-- each request is one argument, big-endian bytes: mode (1), the number
-- of limits n (1), a time flag (1: 0 for Redis' TIME, 1 for the caller's
-- µs in the 8 bytes after it), then per limit its code (2) and a, b, c
-- and cost (8 each). Fewer arguments for Redis to read and no decimal
-- numbers to parse; Rust packs a call so when no request takes slices.
local function unpack_gathered(argv)
  local r = tonumber(argv[3])
  local out = { 'g', argv[2], r }
  local k = 3
  for i = 1, r do
    local s = argv[3 + i]
    local mode, n, flag, pos = struct.unpack('>c1BB', s)
    local time = ''
    if flag == 1 then
      time, pos = struct.unpack('>I8', s, pos)
    end
    out[k + 1] = mode
    out[k + 2] = time
    out[k + 3] = n
    k = k + 3
    for _ = 1, n do
      local code, a, b, c, cost
      code, a, b, c, cost, pos = struct.unpack('>c2I8I8I8I8', s, pos)
      out[k + 1] = code
      out[k + 2] = a
      out[k + 3] = b
      out[k + 4] = c
      out[k + 5] = cost
      k = k + 5
    end
  end
  return out
end

-- Whether every request of a packed gathered call is one fixed-window
-- limit checked with Redis' time (mode 'c', n = 1, time flag 0, code
-- 'fw': its first five bytes), the call the store sends most under load.
local function all_fw_checks(argv, r)
  for i = 1, r do
    if string.sub(argv[3 + i], 1, 5) ~= FW_HEAD then
      return false
    end
  end
  return true
end

-- A packed gathered call of fixed-window checks only (all_fw_checks):
-- each request unpacked in one struct call and decided by fw_check, with
-- none of the general path's tables; the same decisions and reply as
-- decide_gathered(keys, unpack_gathered(argv)).
local function decide_fw_checks(keys, argv, r)
  local min_ttl = tonumber(argv[2])
  local t = redis_time()
  local out = { r }
  for i = 1, r do
    local a, w, _, cost = struct.unpack('>I8I8I8I8', argv[3 + i], 6)
    local len = #out + 1
    out[len] = 0
    out[len + 1] = t
    out[len + 2] = 1
    fw_check(out, len + 2, keys[i], a, w, cost, t, min_ttl)
    out[len] = #out - len
  end
  return out
end

local function decide(keys, argv)
  local mode = argv[1]
  if mode == 'g' then
    return decide_gathered(keys, argv)
  end
  if mode == 'G' then
    local r = tonumber(argv[3])
    if all_fw_checks(argv, r) then
      return decide_fw_checks(keys, argv, r)
    end
    return decide_gathered(keys, unpack_gathered(argv))
  end
  local n = #keys
  local bad = unknown_code(argv, 3, n)
  if bad then
    return redis.error_reply(bad)
  end
  local t
  if argv[2] == '' then
    t = redis_time()
  else
    t = tonumber(argv[2])
  end
  local out = {}
  decide_request(out, keys, 0, n, argv, 3, mode, t, tonumber(argv[3]))
  return out
end
