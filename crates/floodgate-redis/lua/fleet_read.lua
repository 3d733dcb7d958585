-- fleet_read.lua: every replica of the fleet view, most recently heard
-- from first, with its last report, and Redis' clock: one consistent read.
--
-- KEYS[1]  {prefix}{fleet}:seen     sorted set: replica -> report time, ms
-- KEYS[2]  {prefix}{fleet}:reports  hash: replica -> report
-- ARGV[1]  the most replicas read
--
-- Returns { Redis' TIME in Unix ms (decimal string),
--           { name, score, name, score, ... },
--           { report or nil, ... } in the same order }.

local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local seen = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local reports = {}
if #seen > 0 then
  local names = {}
  for i = 1, #seen, 2 do
    names[#names + 1] = seen[i]
  end
  reports = redis.call('HMGET', KEYS[2], unpack(names))
end
return { now, seen, reports }
