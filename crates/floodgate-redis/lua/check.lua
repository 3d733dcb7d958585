-- check.lua: decides every limit of one request (or of one hash-slot group
-- of it) atomically, dispatching to ALG[code] per limit.
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

local mode = ARGV[1]
local t
if ARGV[2] == '' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) * 1000000 + tonumber(now[2])
else
  t = tonumber(ARGV[2])
end
local min_ttl = tonumber(ARGV[3])

local checks = {}
local loaded = {}
for i = 1, #KEYS do
  local o = 3 + (i - 1) * 5
  local alg = ALG[ARGV[o + 1]]
  if not alg then
    return redis.error_reply('floodgate: unknown algorithm ' .. tostring(ARGV[o + 1]))
  end
  local c = {
    key = KEYS[i],
    alg = alg,
    prm = { tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4]) },
    cost = tonumber(ARGV[o + 5]),
  }
  checks[i] = c
  if loaded[c.key] == nil then
    loaded[c.key] = alg.load(c.key, t, c.prm) or false
  end
end

if mode == 'r' then
  local work = {}
  for i = 1, #checks do
    local c = checks[i]
    local st = work[c.key] or loaded[c.key]
    if st then
      work[c.key] = c.alg.refund(st, t, c.cost, c.prm)
    end
  end
  for i = 1, #checks do
    local c = checks[i]
    if work[c.key] then
      c.alg.store(c.key, work[c.key], nil)
      work[c.key] = nil
    end
  end
  return { t }
end

-- Each check is decided on its key's state as left by the earlier checks
-- of this call that allowed (the same key twice: the second sees the
-- first's cost); the states are written only if every check allowed.
local out = { t, 1 }
local all = true
local work = {}
local order = {}
for i = 1, #checks do
  local c = checks[i]
  local st = work[c.key]
  local present = 1
  if not st then
    st = loaded[c.key]
    if not st then
      st = c.alg.fresh(t, c.prm)
      present = 0
    end
  end
  local ok = c.alg.allows(st, t, c.cost, c.prm)
  local rep = {}
  if present == 1 then
    rep = c.alg.report(st, t, c.cost, c.prm, ok)
  end
  out[#out + 1] = ok and 1 or 0
  out[#out + 1] = present
  out[#out + 1] = #rep
  for j = 1, #rep do
    out[#out + 1] = rep[j]
  end
  if ok then
    if not work[c.key] then
      order[#order + 1] = c
    end
    work[c.key] = c.alg.consume(st, t, c.cost, c.prm)
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
  local ttl = math.floor(c.alg.idle(st, t, c.prm) / 1000) + 2
  c.alg.store(c.key, st, math.max(ttl, min_ttl))
end
return out
