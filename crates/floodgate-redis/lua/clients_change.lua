-- clients_change.lua: one change to the known clients (API key digest ->
-- client), kept apart from the policy document: the change, its sequence
-- number, its entry in the change log replicas follow, its history entry
-- and its announcement, all in one script.
--
-- KEYS[1]  the clients hash:  {prefix}{policy}:clients, field = the key's
--          SHA-256 in hex, value = the client (opaque text)
-- KEYS[2]  the document hash: {prefix}{policy}:doc, field clients_seq
-- KEYS[3]  the change log:    {prefix}{policy}:clients_log, newest first
-- KEYS[4]  the clients' history: {prefix}{policy}:clients_history, newest
--          first (apart from the policy's, so that client changes never
--          push policy versions out of it)
--          (all four share the hash tag {policy}: one slot, one node)
-- ARGV[1]  'create' (refused when present), 'update' (refused when
--          absent), 'delete' (refused when absent), 'import' (every pair
--          written) or 'restore' (a store that lost its clients given a
--          replica's: refused unless it holds none and its sequence number
--          is below ARGV[8], which it takes)
-- ARGV[2]  the change as the log keeps it (opaque text, JSON)
-- ARGV[3]  the history entry ('' for none)
-- ARGV[4]  history entries to keep
-- ARGV[5]  history bytes to keep (0: no bound)
-- ARGV[6]  log entries to keep
-- ARGV[7]  channel to PUBLISH 'c<sequence number>' on
-- ARGV[8]  a restore's sequence number; for the other changes, the
--          caller's: a store below it lost its clients (restarted empty),
--          and the change is refused ('lost') so that the caller restores
--          them first
-- ARGV[9..] field, value pairs (create, update, import, restore), or
--          fields (delete)
--
-- Returns { 1, sequence number } when done, { 0, 'exists' },
-- { 0, 'missing' } or { 0, 'lost' } when refused (nothing written).

local op = ARGV[1]
local first = 9
local current = tonumber(redis.call('HGET', KEYS[2], 'clients_seq') or '0')
if op == 'restore' then
  if current >= tonumber(ARGV[8]) or redis.call('HLEN', KEYS[1]) > 0 then
    return { 0, 'exists' }
  end
elseif current < tonumber(ARGV[8]) then
  return { 0, 'lost' }
end
if op == 'create' then
  if redis.call('HSETNX', KEYS[1], ARGV[first], ARGV[first + 1]) == 0 then
    return { 0, 'exists' }
  end
elseif op == 'update' then
  if redis.call('HEXISTS', KEYS[1], ARGV[first]) == 0 then
    return { 0, 'missing' }
  end
  redis.call('HSET', KEYS[1], ARGV[first], ARGV[first + 1])
elseif op == 'delete' then
  if redis.call('HDEL', KEYS[1], ARGV[first]) == 0 then
    return { 0, 'missing' }
  end
elseif op == 'import' or op == 'restore' then
  for i = first, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
else
  return redis.error_reply('unknown clients change ' .. op)
end

local seq
if op == 'restore' then
  seq = tonumber(ARGV[8])
  redis.call('HSET', KEYS[2], 'clients_seq', seq)
else
  seq = redis.call('HINCRBY', KEYS[2], 'clients_seq', 1)
end

redis.call('LPUSH', KEYS[3], '{"seq":' .. seq .. ',"change":' .. ARGV[2] .. '}')
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)

if ARGV[3] ~= '' then
  redis.call('LPUSH', KEYS[4], ARGV[3])
  local keep = tonumber(ARGV[4])
  local max_bytes = tonumber(ARGV[5])
  redis.call('LTRIM', KEYS[4], 0, keep - 1)
  if max_bytes > 0 then
    local entries = redis.call('LRANGE', KEYS[4], 0, keep - 1)
    local total = 0
    for i, e in ipairs(entries) do
      total = total + #e
      if total > max_bytes and i > 1 then
        redis.call('LTRIM', KEYS[4], 0, i - 2)
        break
      end
    end
  end
end

redis.call('PUBLISH', ARGV[7], 'c' .. seq)
return { 1, seq }
